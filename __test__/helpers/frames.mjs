// Stripe wire format parsing, JPEG decoding, canvas assembly and image comparison.
//
// Images used here are plain objects `{ width, height, format, data }` where `format` is
// 'rgba' (R G B A per pixel, what jpeg-js decodes to) or 'bgrx' (B G R X per pixel, what the
// X server and `xpaint dump` give). Comparisons only look at R, G, B and pick the channel
// offsets from `format`, so the two can be compared directly.
import assert from 'node:assert/strict'
import jpeg from 'jpeg-js'

export const JPEG_HEADER_LEN = 6
const JPEG_TILE_HEADER_LEN = 10
export const H264_HEADER_LEN = 10

/**
 * Parses a stripe's wire header.
 * JPEG:  0x03 0x00, u16 BE frameId, u16 BE stripeY, then JFIF.
 * H.264: 0x04, kind (1 IDR / 0 other), u16 BE frameId, u16 BE stripeY, u16 BE width,
 *        u16 BE height, then Annex-B NAL units.
 * @param {Uint8Array} buf
 */
export function parseStripe(buf) {
  if (!buf || buf.length < 2) throw new Error(`stripe too short (${buf?.length} bytes)`)
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.length)
  if (b[0] === 0x03) {
    if (b.length < JPEG_HEADER_LEN) throw new Error(`JPEG stripe too short (${b.length} bytes)`)
    if (b[1] === 0x01) {
      // jpegTiles: 0x03 0x01, frame id, y, x, region width
      if (b.length < JPEG_TILE_HEADER_LEN) throw new Error(`JPEG tile too short (${b.length} bytes)`)
      return {
        kind: 'jpeg',
        type: 1,
        frameId: b.readUInt16BE(2),
        stripeY: b.readUInt16BE(4),
        x: b.readUInt16BE(6),
        regionWidth: b.readUInt16BE(8),
        headerLength: JPEG_TILE_HEADER_LEN,
        payload: b.subarray(JPEG_TILE_HEADER_LEN),
      }
    }
    if (b[1] !== 0x00) throw new Error(`JPEG stripe: second header byte is ${b[1]}, want 0 or 1`)
    return {
      kind: 'jpeg',
      type: 1,
      frameId: b.readUInt16BE(2),
      stripeY: b.readUInt16BE(4),
      x: 0,
      headerLength: JPEG_HEADER_LEN,
      payload: b.subarray(JPEG_HEADER_LEN),
    }
  }
  if (b[0] === 0x04) {
    if (b.length < H264_HEADER_LEN) throw new Error(`H.264 stripe too short (${b.length} bytes)`)
    if (b[1] !== 0 && b[1] !== 1) throw new Error(`H.264 stripe: frame kind byte is ${b[1]}, want 0 or 1`)
    return {
      kind: 'h264',
      type: 2,
      isIdr: b[1] === 1,
      frameId: b.readUInt16BE(2),
      stripeY: b.readUInt16BE(4),
      width: b.readUInt16BE(6),
      height: b.readUInt16BE(8),
      headerLength: H264_HEADER_LEN,
      payload: b.subarray(H264_HEADER_LEN),
    }
  }
  throw new Error(`unknown stripe type byte 0x${b[0].toString(16).padStart(2, '0')}`)
}

/** Decodes JFIF bytes to an 'rgba' image. */
export function decodeJpeg(jfif) {
  const img = jpeg.decode(jfif, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 })
  return { width: img.width, height: img.height, format: 'rgba', data: img.data }
}

/**
 * Decodes the JPEG payload of a StripeEncodeResult-like object ({ data, ... }), with or
 * without the wire header (detected from the first bytes).
 */
export function decodeStripe(stripe) {
  const data = stripe.data ?? stripe
  const jfif = data[0] === 0xff && data[1] === 0xd8 ? data : parseStripe(data).payload
  return decodeJpeg(jfif)
}

/** Decodes a JPEG stripe, asserting that the picture has the stripe's width and height. */
export function decodeSized(s) {
  const img = decodeStripe(s)
  assert.equal(img.width, s.width, `decoded width of stripe y=${s.stripeYStart}`)
  assert.equal(img.height, s.stripeHeight, `decoded height of stripe y=${s.stripeYStart}`)
  return img
}

/**
 * `kept` (JPEG deliveries in arrival order) after `s` arrives: without those `s` paints over
 * entirely, with `s` last. A JPEG may cover only the changed band (or tile) of its stripe, so
 * deliveries overlap.
 */
export function keepVisibleJpeg(kept, s) {
  const covered = (k) =>
    s.stripeYStart <= k.stripeYStart &&
    k.stripeYStart + k.stripeHeight <= s.stripeYStart + s.stripeHeight &&
    (s.x ?? 0) <= (k.x ?? 0) &&
    (k.x ?? 0) + k.width <= (s.x ?? 0) + s.width
  // A scroll copy (type 3) reads what came before it: it drops nothing, and nothing before the
  // last copy is dropped.
  if (s.type === COPY_TYPE) return [...kept, s]
  const lastCopy = kept.findLastIndex((k) => k.type === COPY_TYPE)
  return [...kept.filter((k, i) => i <= lastCopy || !covered(k)), s]
}

/** `type` of a scroll copy delivery (`scrollCopies`). */
export const COPY_TYPE = 3

/** The rectangle and destination of a copy message (`0x05 0x00` header). */
export function parseCopy(data) {
  const u16 = (i) => (data[i] << 8) | data[i + 1]
  if (data[0] !== 0x05) throw new Error(`not a copy message: starts ${data[0]}`)
  return { x: u16(4), y: u16(6), width: u16(8), height: u16(10), toX: u16(12), toY: u16(14) }
}

/**
 * The JPEG deliveries a viewer's picture depends on, in the order they arrived: all of them
 * but those painted over entirely by a later one.
 */
export function visibleJpegs(stripes) {
  return stripes.reduce(keepVisibleJpeg, [])
}

/** Canvas painted with JPEG `stripes` in order, as a viewer paints them, with the rows covered. */
export function canvasOfLatest(stripes, width, height) {
  return assemble(
    visibleJpegs(stripes).map((s) =>
      s.type === COPY_TYPE ? { copy: parseCopy(s.data) } : { x: s.x ?? 0, y: s.stripeYStart, image: decodeSized(s) },
    ),
    width,
    height,
  )
}

/** The distinct stripeYStart values among `stripes`, ascending. */
export const stripeYs = (stripes) => [...new Set(stripes.map((s) => s.stripeYStart))].sort((a, b) => a - b)

/** Wraps raw BGRX bytes (e.g. from `xpaint dump`) as an image. */
export function bgrxImage(data, width, height) {
  if (data.length !== width * height * 4) {
    throw new Error(`BGRX buffer is ${data.length} bytes, want ${width * height * 4} for ${width}x${height}`)
  }
  return { width, height, format: 'bgrx', data }
}

/** Byte offsets of R, G, B within a pixel. */
export function channelOffsets(format) {
  if (format === 'rgba' || format === 'rgbx') return [0, 1, 2]
  if (format === 'bgrx' || format === 'bgra') return [2, 1, 0]
  throw new Error(`unknown pixel format '${format}'`)
}

/** A blank canvas. */
export function makeImage(width, height, format = 'rgba') {
  return { width, height, format, data: new Uint8Array(width * height * 4) }
}

/**
 * Pastes decoded stripes into a canvas at their y.
 * @param {Array<{y: number, image: {width,height,format,data}}>} parts
 * @returns {{ image, covered: Uint8Array }} covered[row] = 1 for every row some stripe wrote
 */
export function assemble(parts, width, height, format = 'rgba') {
  const canvas = makeImage(width, height, format)
  const covered = new Uint8Array(height)
  for (const part of parts) paintPart(canvas, covered, part)
  return { image: canvas, covered }
}

/**
 * Paints one part onto `canvas` as a viewer does: a decoded stripe or tile at (x, y), or a
 * scroll copy (`{copy: {x, y, width, height, toX, toY}}`) of the canvas's own rows. Marks
 * `covered` rows that a full-width stripe wrote.
 */
export function paintPart(canvas, covered, { x = 0, y, image, copy }) {
  const { width, height } = canvas
  if (copy) {
    // Rows in the order that reads each before it is overwritten.
    const { width: w, height: h, toX, toY } = copy
    const rows = [...Array(h).keys()]
    if (toY > copy.y) rows.reverse()
    for (const r of rows) {
      const from = ((copy.y + r) * width + copy.x) * 4
      canvas.data.copyWithin(((toY + r) * width + toX) * 4, from, from + w * 4)
    }
    return
  }
  const [cr, cg, cb] = channelOffsets(canvas.format)
  const [sr, sg, sb] = channelOffsets(image.format)
  const w = Math.min(width - x, image.width)
  for (let row = 0; row < image.height && y + row < height; row++) {
    if (y + row < 0) continue
    if (x === 0) covered[y + row] = 1
    let s = row * image.width * 4
    let d = ((y + row) * width + x) * 4
    for (let x = 0; x < w; x++, s += 4, d += 4) {
      canvas.data[d + cr] = image.data[s + sr]
      canvas.data[d + cg] = image.data[s + sg]
      canvas.data[d + cb] = image.data[s + sb]
      canvas.data[d + 3] = 255
    }
  }
}

/** Copies a rectangle out of an image (same format). */
export function crop(img, x, y, w, h) {
  if (x < 0 || y < 0 || x + w > img.width || y + h > img.height) {
    throw new RangeError(`crop ${x},${y} ${w}x${h} outside ${img.width}x${img.height}`)
  }
  const out = makeImage(w, h, img.format)
  for (let row = 0; row < h; row++) {
    const s = ((y + row) * img.width + x) * 4
    out.data.set(img.data.subarray(s, s + w * 4), row * w * 4)
  }
  return out
}

/** [r, g, b] at x, y. */
export function pixel(img, x, y) {
  const [r, g, b] = channelOffsets(img.format)
  const i = (y * img.width + x) * 4
  return [img.data[i + r], img.data[i + g], img.data[i + b]]
}

function rectOf(a, rect) {
  return rect ?? { x: 0, y: 0, w: a.width, h: a.height }
}

/** Mean squared error over R, G, B in rect (default: whole image). Images must be the same size. */
export function mse(a, b, rect) {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`size mismatch: ${a.width}x${a.height} vs ${b.width}x${b.height}`)
  }
  const { x, y, w, h } = rectOf(a, rect)
  const ca = channelOffsets(a.format)
  const cb = channelOffsets(b.format)
  let sum = 0
  for (let row = y; row < y + h; row++) {
    let i = (row * a.width + x) * 4
    for (let col = 0; col < w; col++, i += 4) {
      for (let c = 0; c < 3; c++) {
        const d = a.data[i + ca[c]] - b.data[i + cb[c]]
        sum += d * d
      }
    }
  }
  return sum / (w * h * 3)
}

/** PSNR in dB over R, G, B (Infinity for identical images). */
export function psnr(a, b, rect) {
  const m = mse(a, b, rect)
  return m === 0 ? Infinity : 10 * Math.log10((255 * 255) / m)
}

function parseRgb(rgb) {
  const v = typeof rgb === 'number' ? rgb : parseInt(String(rgb).replace(/^#/, ''), 16)
  return [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff]
}

/**
 * How far the pixels of rect are from a solid colour: { max, mean } of |channel - expected|
 * over R, G, B, plus the worst pixel.
 */
export function solidDiff(img, rect, rgb) {
  const want = parseRgb(rgb)
  const c = channelOffsets(img.format)
  let max = 0
  let sum = 0
  let worst = null
  for (let row = rect.y; row < rect.y + rect.h; row++) {
    let i = (row * img.width + rect.x) * 4
    for (let col = rect.x; col < rect.x + rect.w; col++, i += 4) {
      for (let k = 0; k < 3; k++) {
        const d = Math.abs(img.data[i + c[k]] - want[k])
        sum += d
        if (d > max) {
          max = d
          worst = { x: col, y: row, rgb: [img.data[i + c[0]], img.data[i + c[1]], img.data[i + c[2]]] }
        }
      }
    }
  }
  return { max, mean: sum / (rect.w * rect.h * 3), worst }
}

/** Throws an AssertionError-like Error when rect is not within `tolerance` of the colour. */
export function assertSolid(img, rect, rgb, tolerance = 8, label = '') {
  const d = solidDiff(img, rect, rgb)
  if (d.max > tolerance) {
    const err = new Error(
      `${label ? label + ': ' : ''}area ${rect.x},${rect.y} ${rect.w}x${rect.h} is not ${String(rgb)}: ` +
        `max diff ${d.max} > ${tolerance} (mean ${d.mean.toFixed(2)}) at ${d.worst.x},${d.worst.y} = rgb(${d.worst.rgb})`,
    )
    err.name = 'AssertionError'
    throw err
  }
  return d
}
