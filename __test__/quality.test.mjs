// Dynamic quality and overlays under a private Xvfb: paint-over, damage throttling, the XFixes
// cursor and the PNG watermark, checked on decoded pixels against `xpaint dump`.
import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import { useXvfb } from './helpers/setup.mjs'
import { PNG_SIGNATURE, encodePng, pngChunk, pngIhdr } from './helpers/png.mjs'
import { parseStripe, canvasOfLatest, decodeSized as decode, stripeYs as ys, psnr, assertSolid, crop, pixel } from './helpers/frames.mjs'
import { loadAddon, nowMs, sleep, waitFor } from './helpers/capture.mjs'
import { annexB, decodeH264, h264Payload, nalTypes } from './helpers/h264.mjs'

const W = 640
const H = 480 // 8 stripes of 64 rows: 7 full ones and the last of 32 rows
const SH = 64
const STRIPES = Math.ceil(H / SH)
const BG = '304860'
const FPS = 30

const BASE = { outputMode: 0, captureCursor: false, usePaintOverQuality: false, targetFps: FPS, stripeHeight: SH }

const env = useXvfb({
  width: W,
  height: H,
  base: BASE,
  tmpPrefix: 'stripecast-quality-',
  setup: (p) => p.fill(0, 0, W, H, BG),
})
const { collect, screen } = env

/** The screen rows of a stripe. */
async function stripeTruth(s) {
  return screen(0, s.stripeYStart, s.width, s.stripeHeight)
}

const canvasOf = (stripes, width = W, height = H) => canvasOfLatest(stripes, width, height)
const allYs = () => Array.from({ length: STRIPES }, (_, i) => i * SH)
/** The stripe a delivery belongs to (a JPEG may cover only the changed band of its stripe). */
const stripeOf = (s) => Math.floor(s.stripeYStart / SH) * SH
const stripesOf = (deliveries) => [...new Set(deliveries.map(stripeOf))].sort((a, b) => a - b)

function xdotool(...args) {
  return execFileSync('xdotool', args, { env: { ...process.env, DISPLAY: env.xvfb.display }, encoding: 'utf8' })
}

function movePointer(x, y) {
  xdotool('mousemove', String(x), String(y))
  const loc = xdotool('getmouselocation')
  assert.match(loc, new RegExp(`x:${x} y:${y} `), `pointer after mousemove: ${loc}`)
}

/** `box` ({ x0, y0, x1, y1 } or null) grown to take in x, y. */
function growBox(box, x, y) {
  if (!box) return { x0: x, y0: y, x1: x, y1: y }
  box.x0 = Math.min(box.x0, x)
  box.x1 = Math.max(box.x1, x)
  box.y0 = Math.min(box.y0, y)
  box.y1 = Math.max(box.y1, y)
  return box
}

/** Pixels of `a` that differ from `b` by more than `tol` (sum over R, G, B): count and bounding box. */
function diffBox(a, b, tol = 45) {
  const [ar, ag, ab] = a.format === 'rgba' ? [0, 1, 2] : [2, 1, 0]
  const [br, bg, bb] = b.format === 'rgba' ? [0, 1, 2] : [2, 1, 0]
  let n = 0
  let box = null
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      const i = (y * a.width + x) * 4
      const d =
        Math.abs(a.data[i + ar] - b.data[i + br]) +
        Math.abs(a.data[i + ag] - b.data[i + bg]) +
        Math.abs(a.data[i + ab] - b.data[i + bb])
      if (d > tol) {
        n++
        box = growBox(box, x, y)
      }
    }
  }
  return { n, box }
}

/** Largest per-channel difference between `a` and `b` outside the rectangle `hole`. */
function maxDiffOutside(a, b, hole) {
  const [ar, ag, ab] = a.format === 'rgba' ? [0, 1, 2] : [2, 1, 0]
  const [br, bg, bb] = b.format === 'rgba' ? [0, 1, 2] : [2, 1, 0]
  let max = 0
  let at = null
  for (let y = 0; y < a.height; y++) {
    for (let x = 0; x < a.width; x++) {
      if (hole && x >= hole.x && x < hole.x + hole.w && y >= hole.y && y < hole.y + hole.h) continue
      const i = (y * a.width + x) * 4
      const d = Math.max(
        Math.abs(a.data[i + ar] - b.data[i + br]),
        Math.abs(a.data[i + ag] - b.data[i + bg]),
        Math.abs(a.data[i + ab] - b.data[i + bb]),
      )
      if (d > max) {
        max = d
        at = [x, y]
      }
    }
  }
  return { max, at }
}

// The watermark: 60x40, a 4-px fully transparent border (green, so that ignoring alpha would
// show) around an opaque magenta 52x32 box.
const WM = { w: 60, h: 40, border: 4 }
const MAGENTA = 'ff00ff'
function watermarkPng() {
  return encodePng(WM.w, WM.h, (x, y) => {
    const inside = x >= WM.border && x < WM.w - WM.border && y >= WM.border && y < WM.h - WM.border
    return inside ? [255, 0, 255, 255] : [0, 255, 0, 0]
  })
}

/** Bounding box and count of clearly magenta pixels. */
function magentaBox(img) {
  let n = 0
  let box = null
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const [r, g, b] = pixel(img, x, y)
      if (r > 180 && g < 90 && b > 180) {
        n++
        box = growBox(box, x, y)
      }
    }
  }
  return { n, box }
}

function greenCount(img) {
  let n = 0
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < img.width; x++) {
      const [r, g, b] = pixel(img, x, y)
      if (g > 160 && r < 100 && b < 100) n++
    }
  }
  return n
}

/** Top-left of the watermark in a W x H region (corner margin 10 px; middle centred, rounded down). */
function expectedWatermarkAt(loc) {
  const m = 10
  switch (loc) {
    case 1:
    case 'top-left':
      return [m, m]
    case 2:
    case 'top-right':
      return [W - WM.w - m, m]
    case 3:
    case 'bottom-left':
      return [m, H - WM.h - m]
    case 4:
    case 'bottom-right':
      return [W - WM.w - m, H - WM.h - m]
    case 5:
    case 'middle':
      return [Math.floor((W - WM.w) / 2), Math.floor((H - WM.h) / 2)]
  }
  throw new Error(`no static position for ${loc}`)
}

describe('paint-over', () => {
  const PO = { usePaintOverQuality: true, paintOverTriggerFrames: 5, jpegQuality: 30, paintOverJpegQuality: 95 }

  it('first frame: every stripe is sent at jpegQuality, then painted over once, 5 frames later', async (t) => {
    // StripeState: the first frame is a change for every stripe (nothing was sent yet), so every
    // stripe is due a paint-over once it has been still for paintOverTriggerFrames frames.
    await env.painter.noise(0, 0, W, H, 3)
    const c = collect(PO)
    const first = await c.waitForFirstFrame()
    const f0 = first[0].frameId
    assert.deepEqual(ys(first), allYs())
    for (const s of first) assert.equal(s.isPaintOver, false, `first frame stripe y=${s.stripeYStart}`)
    await c.waitForStripes(2 * STRIPES, 3000)
    await sleep(500)
    assert.equal(c.stripes.length, 2 * STRIPES, `a still screen: one frame, one paint-over, nothing else`)
    const po = c.since(STRIPES)
    assert.deepEqual(ys(po), allYs())
    for (const s of po) {
      assert.equal(s.isPaintOver, true, `stripe y=${s.stripeYStart}`)
      assert.equal(s.isKeyFrame, true)
      assert.equal(s.frameId, f0 + 5, `paint-over of y=${s.stripeYStart} in frame ${s.frameId}, first frame ${f0}`)
      const orig = first.find((o) => o.stripeYStart === s.stripeYStart)
      assert.ok(s.size > orig.size * 1.5, `y=${s.stripeYStart}: paint-over ${s.size} B, original ${orig.size} B`)
      const truth = await stripeTruth(s)
      const before = psnr(decode(orig), truth)
      const after = psnr(decode(s), truth)
      assert.ok(after > before + 5, `y=${s.stripeYStart}: paint-over PSNR ${after.toFixed(2)} dB, original ${before.toFixed(2)} dB`)
    }
    const whole = psnr(canvasOf(c.stripes).image, await screen())
    t.diagnostic(`after the paint-over: ${whole.toFixed(2)} dB over the screen`)
    assert.ok(whole > 30, `paint-over canvas PSNR ${whole.toFixed(2)}`)
    assert.deepEqual(c.errors, [])
  })

  /** A capture of a noise screen, once its first frame and that frame's paint-over arrived. */
  async function afterFirstPaintOver(settings, seed) {
    await env.painter.noise(0, 0, W, H, seed)
    const c = collect(settings)
    await c.waitForFirstFrame()
    await c.waitForStripes(2 * STRIPES, 3000)
    await sleep(300)
    return c
  }

  it('a small change is painted over as the band that changed, not its whole stripe', async () => {
    const c = await afterFirstPaintOver(PO, 4)
    const n = c.stripes.length
    // Rows 300..309 of stripe 256 (256..319): the 4:2:0 band is rows 288..319.
    await env.painter.fill(600, 300, 40, 10, 'f0f0f0')
    await waitFor(() => c.since(n).some((s) => s.isPaintOver), 3000, 'the paint-over')
    await sleep(300)
    const after = c.since(n)
    assert.deepEqual(
      after.map((s) => [s.stripeYStart, s.stripeHeight, s.isPaintOver]),
      [
        [288, 32, false],
        [288, 32, true],
      ],
    )
    assert.equal(after[1].frameId - after[0].frameId, 5)
    const truth = await stripeTruth(after[1])
    assert.ok(psnr(decode(after[1]), truth) > psnr(decode(after[0]), truth) + 5, 'the paint-over is sharper')
    const whole = psnr(canvasOf(c.stripes).image, await screen())
    assert.ok(whole > 30, `canvas PSNR ${whole.toFixed(2)}`)
    assert.deepEqual(c.errors, [])
  })

  it('with jpegTiles, the paint-over is the tile that changed', async () => {
    const c = await afterFirstPaintOver({ ...PO, jpegTiles: true }, 6)
    const n = c.stripes.length
    // Columns 600..639 (cell 4: 512..639), rows 300..309 (band 288..319).
    await env.painter.fill(600, 300, 40, 10, 'f0f0f0')
    await waitFor(() => c.since(n).some((s) => s.isPaintOver), 3000, 'the paint-over')
    await sleep(300)
    assert.deepEqual(
      c.since(n).map((s) => [s.x, s.width, s.stripeYStart, s.stripeHeight, s.isPaintOver]),
      [
        [512, 128, 288, 32, false],
        [512, 128, 288, 32, true],
      ],
    )
    const whole = psnr(canvasOf(c.stripes).image, await screen())
    assert.ok(whole > 30, `canvas PSNR ${whole.toFixed(2)}`)
    assert.deepEqual(c.errors, [])
  })

  it('a change that stops: only the changed stripes are painted over, larger and sharper, once', async (t) => {
    const c = await afterFirstPaintOver(PO, 3)
    const n = c.stripes.length
    assert.equal(n, 2 * STRIPES)

    // New noise over rows 140..249: stripes 128 and 192 only.
    await env.painter.noise(0, 140, W, 110, 11)
    await waitFor(() => c.since(n).filter((s) => s.isPaintOver).length >= 2, 3000, 'two paint-over stripes')
    const tPaint = performance.now()
    await sleep(500)
    const after = c.since(n)
    const sends = after.filter((s) => !s.isPaintOver)
    const paints = after.filter((s) => s.isPaintOver)
    // 4:2:0 bands are whole 16-row MCUs: rows 128..191 and 192..255.
    assert.deepEqual(ys(sends), [128, 192], 'the change re-sends the two stripes it touches')
    assert.deepEqual(ys(paints), [128, 192], 'paint-over (whole stripes) only for the changed stripes')
    assert.ok(paints.every((p) => p.stripeHeight === SH))
    assert.equal(paints.length, 2, `paint-over fires once per stripe: ${paints.map((s) => `y${s.stripeYStart}@${s.frameId}`)}`)
    const last = after[after.length - 1]
    assert.ok(paints.includes(last), 'nothing arrives after the paint-over')
    assert.ok(performance.now() - tPaint >= 500)

    for (const p of paints) {
      const orig = sends.filter((s) => stripeOf(s) === p.stripeYStart).at(-1)
      assert.equal(p.frameId - orig.frameId, 5, `paint-over ${p.frameId - orig.frameId} frames after the change`)
      assert.ok(p.size > orig.size * 1.5, `y=${p.stripeYStart}: paint-over ${p.size} B, original ${orig.size} B`)
      const dbOrig = psnr(decode(orig), await stripeTruth(orig))
      const dbPaint = psnr(decode(p), await stripeTruth(p))
      t.diagnostic(`y=${p.stripeYStart}: q30 ${orig.size} B ${dbOrig.toFixed(2)} dB -> q95 ${p.size} B ${dbPaint.toFixed(2)} dB`)
      assert.ok(dbPaint > dbOrig + 5, `y=${p.stripeYStart}: paint-over ${dbPaint.toFixed(2)} dB vs original ${dbOrig.toFixed(2)} dB`)
    }
    // The unchanged stripes never got a second paint-over.
    const po = c.stripes.filter((s) => s.isPaintOver)
    for (const y of allYs()) {
      const want = y === 128 || y === 192 ? 2 : 1
      assert.equal(po.filter((s) => s.stripeYStart === y).length, want, `paint-overs of y=${y}`)
    }
    assert.deepEqual(c.errors, [])
  })

  it('H.264 per-stripe streams: the paint-over is an IDR', async (t) => {
    await env.painter.noise(0, 0, W, H, 5)
    const c = collect({
      outputMode: 1,
      h264Fullframe: false,
      stripeHeight: 64,
      h264Crf: 42,
      h264PaintOverCrf: 12,
      usePaintOverQuality: true,
      paintOverTriggerFrames: 5,
    })
    assert.equal(c.info.encoder, 'x264')
    assert.equal(c.info.stripeCount, STRIPES)
    const first = await c.waitForFirstFrame()
    for (const s of first) assert.equal(s.isKeyFrame, true)
    await c.waitForStripes(2 * STRIPES, 3000)
    await sleep(300)
    const n = c.stripes.length
    assert.equal(n, 2 * STRIPES)

    await env.painter.noise(0, 140, W, 40, 9) // stripe 128 only
    await waitFor(() => c.since(n).some((s) => s.isPaintOver), 3000, 'a paint-over')
    await sleep(500)
    const after = c.since(n)
    assert.deepEqual(ys(after), [128])
    const change = after.filter((s) => !s.isPaintOver)
    const paints = after.filter((s) => s.isPaintOver)
    assert.ok(change.length >= 1)
    assert.equal(paints.length, 1)
    const p = paints[0]
    assert.equal(p.isKeyFrame, true, 'paint-over is a key frame')
    assert.equal(parseStripe(p.data).isIdr, true, 'wire header marks it IDR')
    assert.ok(nalTypes(h264Payload(p)).includes(5), `NAL types ${nalTypes(h264Payload(p))}`)
    assert.equal(p.frameId - change.at(-1).frameId, 5)
    for (const s of change) assert.equal(s.isKeyFrame, false, 'the change itself is a P frame')

    // Decode the stripe's stream: the last picture (paint-over) beats the one before it.
    const stream = c.stripes.filter((s) => s.stripeYStart === 128)
    const dec = await decodeH264(annexB(stream), W, SH, { all: true })
    assert.equal(dec.count, stream.length)
    const truth = await screen(0, 128, W, SH)
    const dbChange = psnr(dec.frames[dec.count - 2], truth)
    const dbPaint = psnr(dec.frames[dec.count - 1], truth)
    t.diagnostic(`crf 42 ${change.at(-1).size} B ${dbChange.toFixed(2)} dB -> paint-over ${p.size} B ${dbPaint.toFixed(2)} dB`)
    assert.ok(dbPaint > dbChange + 5, `paint-over ${dbPaint.toFixed(2)} dB vs change ${dbChange.toFixed(2)} dB`)
    assert.ok(p.size > change.at(-1).size)
    assert.deepEqual(c.errors, [])
  })
})

describe('damage throttling', () => {
  it('a damaged stripe is sent whenever drawn without hashing, then hashed again and left when still', async (t) => {
    await env.painter.fill(0, 0, W, H, BG)
    const c = collect({ damageBlockThreshold: 3, damageBlockDuration: 20, jpegQuality: 90 })
    await c.waitForFirstFrame()
    await sleep(300)
    const n = c.stripes.length
    assert.equal(n, STRIPES)
    const AREA = { x: 100, y: 200, w: 200, h: 40 } // rows 200..239: stripe 192

    // Control: redrawing identical content on a normal stripe sends nothing (the hash says so).
    for (let k = 0; k < 20; k++) {
      await env.painter.fill(0, 0, 40, 40, BG)
      await sleep(8)
    }
    await sleep(200)
    assert.equal(c.stripes.length, n, 'identical redraws of a normal stripe are not sent')

    // Phase 1: new content about 80 times a second, faster than the 30 fps capture: every
    // frame is sent (damage throttling skips hashing, not sending).
    const f1 = c.cap.stats().framesCaptured
    let i = 0
    let colour = ''
    const t0 = performance.now()
    while (performance.now() - t0 < 1200) {
      i++
      colour = ((i * 0x2b1f3 + 0x401020) & 0xffffff).toString(16).padStart(6, '0')
      await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, colour)
      await sleep(8)
    }
    const changing = c.since(n)
    const frames1 = c.cap.stats().framesCaptured - f1
    t.diagnostic(`${changing.length} deliveries over ${frames1} frames while the content changed`)
    assert.ok(changing.length >= frames1 * 0.8, `${changing.length} sends over ${frames1} frames: not throttled`)

    // Phase 2: the same colour redrawn 80 times a second. Inside the damaged block these
    // draws are sent unhashed; at the end of a block the stripe is hashed, found unchanged
    // (at most one more block later) and leaves the state: the redraws then send nothing.
    const m = c.stripes.length
    const lastChangeFrame = c.stripes.at(-1).frameId
    const t1 = performance.now()
    while (performance.now() - t1 < 2500) {
      await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, colour)
      await sleep(8)
    }
    const redraws = c.since(m)
    const ids = redraws.map((s) => s.frameId)
    t.diagnostic(`${redraws.length} deliveries of identical redraws, frames ${ids}`)
    assert.ok(redraws.length >= 1, 'identical redraws inside the damaged block are sent (not hashed)')
    assert.ok(
      ids.every((id) => id - lastChangeFrame <= 2 * 20 + 3),
      `redraws sent only within two blocks of the last change (${lastChangeFrame}): ${ids}`,
    )
    const all = c.since(n)
    assert.deepEqual(stripesOf(all), [192], 'only the drawn stripe is sent')
    for (const s of all) {
      // The drawn rows (XDamage), or the whole stripe on the once-a-second full check.
      // Rows 200..239 widen to 16-row MCUs: 192..239.
      const band = [s.stripeYStart, s.stripeHeight].join()
      assert.ok(band === '192,48' || band === '192,64', `band ${band}`)
    }

    // The last delivery shows the final content.
    const last = all.at(-1)
    const img = decode(last)
    const top = last.stripeYStart
    const truth = await stripeTruth(last)
    assertSolid(truth, { x: AREA.x, y: AREA.y - top, w: AREA.w, h: AREA.h }, colour, 0, 'screen has the last colour')
    assertSolid(img, { x: AREA.x + 8, y: AREA.y - top + 8, w: AREA.w - 16, h: AREA.h - 24 }, colour, 12, 'last delivery')
    const db = psnr(img, truth)
    assert.ok(db >= 35, `last delivery PSNR ${db.toFixed(2)} dB`)
    assert.deepEqual(c.errors, [])
  })
  it('a damaged block ends with the picture the viewer must have, even when it is the one sent before the block', async (t) => {
    // Inside a damaged block stripes are sent unhashed, so the hashes of what was last sent
    // predate the block. Here the block's last (hashed) frame shows the content sent just before
    // the block: it must still go out, since the viewer was sent something else in between.
    await env.painter.fill(0, 0, W, H, BG)
    const AREA = { x: 100, y: 200, w: 200, h: 40 } // stripe 192
    const [A, B] = ['c03030', '30c040']
    await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, A)
    // 2 fps: a block of two 500 ms frames after every change.
    const c = collect({ targetFps: 2, damageBlockThreshold: 1, damageBlockDuration: 2 })
    await c.waitForFirstFrame()
    await sleep(2500) // the first frame's block is over
    const n = c.stripes.length
    await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, B)
    await waitFor(() => c.stripes.length > n, 3000, 'B delivered')
    // B was hashed and sent, and starts a block: A goes out unhashed on its first frame, B is
    // drawn again before its last one, 500 ms later.
    await sleep(100)
    await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, A)
    await sleep(500)
    await env.painter.fill(AREA.x, AREA.y, AREA.w, AREA.h, B)
    await sleep(1800)
    const sent = c.since(n).map((s) => [s.frameId, s.stripeYStart, pixel(decode(s), AREA.x + 50, AREA.y - s.stripeYStart + 20)])
    t.diagnostic(`deliveries after B: ${JSON.stringify(sent)}`)
    const { image } = canvasOf(c.stripes)
    assertSolid(image, { x: AREA.x + 8, y: AREA.y + 8, w: AREA.w - 16, h: AREA.h - 16 }, B, 16, 'viewer shows the last drawing')
    assert.deepEqual(c.errors, [])
  })
})

describe('cursor', () => {
  it('the XFixes cursor is drawn at the pointer, and only there; moving it re-sends old and new stripes', async () => {
    await env.painter.fill(0, 0, W, H, BG)
    movePointer(300, 200)
    const c = collect({ captureCursor: true, jpegQuality: 95, jpegSubsampling: '444' })
    const first = await c.waitForFirstFrame()
    await sleep(300)
    const n = c.stripes.length
    assert.equal(n, STRIPES, 'a still pointer on a still screen: one frame')
    const { image } = canvasOf(first)
    const truth = await screen()
    const d = diffBox(image, truth)
    // Xvfb's root cursor is the core "X" cursor: 16x16, hot spot near its centre.
    assert.ok(d.n >= 40, `cursor pixels in the decoded frame: ${d.n}`)
    assert.ok(
      d.box.x0 >= 300 - 12 && d.box.x1 <= 300 + 12 && d.box.y0 >= 200 - 12 && d.box.y1 <= 200 + 12,
      `cursor drawn at ${JSON.stringify(d.box)}, pointer at 300,200`,
    )
    assert.ok(d.box.x0 < 300 && d.box.x1 > 300 && d.box.y0 < 200 && d.box.y1 > 200, `cursor box ${JSON.stringify(d.box)} around the hot spot`)
    // Black and white cursor pixels, nothing like the background.
    let dark = 0
    let light = 0
    for (let y = d.box.y0; y <= d.box.y1; y++) {
      for (let x = d.box.x0; x <= d.box.x1; x++) {
        const [r, g, b] = pixel(image, x, y)
        if (r < 50 && g < 50 && b < 50) dark++
        if (r > 200 && g > 200 && b > 200) light++
      }
    }
    assert.ok(dark >= 10 && light >= 10, `cursor colours: ${dark} black, ${light} white pixels`)
    const elsewhere = maxDiffOutside(image, truth, { x: 300 - 24, y: 200 - 24, w: 48, h: 48 })
    assert.ok(elsewhere.max <= 10, `difference ${elsewhere.max} away from the cursor at ${elsewhere.at}`)

    // Stripe 192 (rows 193..208) -> stripe 384 (rows 393..408).
    movePointer(500, 400)
    await waitFor(() => ys(c.since(n)).length >= 2, 3000, 'the old and new cursor stripes')
    await sleep(300)
    const moved = c.since(n)
    assert.deepEqual(stripesOf(moved), [192, 384])
    const oldBand = moved.filter((s) => stripeOf(s) === 192).at(-1)
    assert.ok(oldBand.stripeYStart <= 193 && oldBand.stripeYStart + oldBand.stripeHeight >= 208, 'the band covers the old cursor')
    assertSolid(decode(oldBand), { x: 0, y: 0, w: W, h: oldBand.stripeHeight }, BG, 6, 'old cursor area is clean again')
    const newBand = moved.filter((s) => stripeOf(s) === 384).at(-1)
    const d2 = diffBox(decode(newBand), await stripeTruth(newBand))
    assert.ok(d2.n >= 40, `cursor pixels in the new band: ${d2.n}`)
    const cy = 400 - newBand.stripeYStart
    assert.ok(
      d2.box.x0 >= 500 - 12 && d2.box.x1 <= 500 + 12 && d2.box.y0 >= cy - 12 && d2.box.y1 <= cy + 12,
      `cursor in the band at ${newBand.stripeYStart} at ${JSON.stringify(d2.box)}, want around 500,${cy}`,
    )
    // And a viewer's picture is the screen, cursor included.
    const moved2 = canvasOf(c.stripes).image
    const left = maxDiffOutside(moved2, await screen(), { x: 500 - 24, y: 400 - 24, w: 48, h: 48 })
    assert.ok(left.max <= 10, `difference ${left.max} away from the cursor at ${left.at}`)
    assert.deepEqual(c.errors, [])
  })

  it('on a still screen a moving cursor is captured when XInput reports the motion, not at the next tick', async (t) => {
    // A cursor is not drawn into the framebuffer, so XDamage does not see it move. At 1 fps a
    // move made 1.3 s after the last change would wait ~700 ms for the next tick.
    await env.painter.fill(0, 0, W, H, BG)
    movePointer(300, 200)
    const c = collect({ captureCursor: true, targetFps: 1 })
    await c.waitForFirstFrame()
    const delays = []
    // A relative move (XTest: raw device motion) and an absolute one (a warp: motion on the root).
    for (const move of [['mousemove_relative', '--', '200', '200'], ['mousemove', '100', '100']]) {
      await sleep(1300)
      const n = c.stripes.length
      const t0 = nowMs()
      xdotool(...move)
      await c.waitForStripes(n + 1, 3000)
      delays.push(c.stripes[n].captureTimeMs - t0)
    }
    t.diagnostic(`pointer move -> grab: ${delays.map((d) => d.toFixed(1))} ms`)
    for (const d of delays) assert.ok(d >= 0 && d < 300, `pointer move -> grab ${d.toFixed(1)} ms`)
    // The last move left stripe 384 for stripe 64: both are re-sent.
    await sleep(300)
    assert.ok(ys(c.stripes.slice(-4)).some((y) => stripeOf({ stripeYStart: y }) === 64), 'the new cursor stripe was sent')
    assert.deepEqual(c.errors, [])
  })

  it('captureCursor false draws no cursor', async () => {
    await env.painter.fill(0, 0, W, H, BG)
    movePointer(300, 200)
    const c = collect({ captureCursor: false, jpegQuality: 95, jpegSubsampling: '444' })
    const first = await c.waitForFirstFrame()
    const { image } = canvasOf(first)
    const d = maxDiffOutside(image, await screen(), null)
    assert.ok(d.max <= 6, `difference ${d.max} at ${d.at} without a cursor`)
  })
})

describe('watermark', () => {
  let pngPath
  before(() => {
    pngPath = join(env.tmp, 'mark.png')
    writeFileSync(pngPath, watermarkPng())
  })

  for (const loc of [1, 2, 3, 4, 5, 'top-right']) {
    it(`location ${JSON.stringify(loc)}: magenta at the expected place, nowhere else`, async () => {
      await env.painter.fill(0, 0, W, H, BG)
      const c = collect({ watermarkPath: pngPath, watermarkLocationEnum: loc, jpegQuality: 95, jpegSubsampling: '444' })
      const first = await c.waitForFirstFrame()
      await sleep(200)
      assert.equal(c.stripes.length, STRIPES, 'a static watermark on a static screen: one frame')
      const { image } = canvasOf(first)
      const [x, y] = expectedWatermarkAt(loc)
      const inner = { x: x + WM.border, y: y + WM.border, w: WM.w - 2 * WM.border, h: WM.h - 2 * WM.border }
      const m = magentaBox(image)
      assert.ok(m.box, 'no magenta in the picture')
      const want = { x0: inner.x, y0: inner.y, x1: inner.x + inner.w - 1, y1: inner.y + inner.h - 1 }
      for (const k of ['x0', 'y0', 'x1', 'y1']) {
        assert.ok(Math.abs(m.box[k] - want[k]) <= 1, `magenta box ${JSON.stringify(m.box)}, want ${JSON.stringify(want)}`)
      }
      assert.ok(Math.abs(m.n - inner.w * inner.h) <= inner.w * inner.h * 0.1, `${m.n} magenta pixels, want ~${inner.w * inner.h}`)
      assertSolid(image, { x: inner.x + 3, y: inner.y + 3, w: inner.w - 6, h: inner.h - 6 }, MAGENTA, 12, 'watermark')
      assert.equal(greenCount(image), 0, 'the transparent border is not drawn')
      // Everything else is the untouched screen.
      const truth = await screen()
      const outside = maxDiffOutside(image, truth, { x: inner.x - 8, y: inner.y - 8, w: inner.w + 16, h: inner.h + 16 })
      assert.ok(outside.max <= 8, `difference ${outside.max} at ${outside.at} away from the watermark`)
      assert.deepEqual(c.errors, [])
    })
  }

  it('location 6 (animated): the watermark moves at 120 px/s while the screen is still', async (t) => {
    await env.painter.fill(0, 0, W, H, BG)
    const t0 = nowMs()
    const c = collect({
      watermarkPath: pngPath,
      watermarkLocationEnum: 6,
      jpegQuality: 95,
      jpegSubsampling: '444',
      damageBlockThreshold: 100000, // keep every moved stripe flowing
    })
    await c.waitForFirstFrame()
    await sleep(1500)
    const frames = [...c.frames().entries()]
    assert.ok(frames.length >= 15, `only ${frames.length} frames delivered in 1.5 s of animation`)
    const at = (ms) => {
      const f = frames.find(([, list]) => list[0].captureTimeMs >= t0 + ms)
      assert.ok(f, `no frame captured ${ms} ms after start(): ${frames.map(([id, l]) => `${id}@${(l[0].captureTimeMs - t0).toFixed(0)}`)}`)
      return f
    }
    const [idA, listA] = at(300)
    const [idB, listB] = at(1100)
    const boxAt = (id) => {
      const upTo = c.stripes.filter((s) => s.frameId <= id)
      const m = magentaBox(canvasOf(upTo).image)
      assert.ok(m.box, `no watermark in frame ${id}`)
      return m
    }
    const a = boxAt(idA)
    const b = boxAt(idB)
    const tA = listA[0].captureTimeMs - t0
    const tB = listB[0].captureTimeMs - t0
    t.diagnostic(`frame ${idA} at ${tA.toFixed(0)} ms: ${JSON.stringify(a.box)}; frame ${idB} at ${tB.toFixed(0)} ms: ${JSON.stringify(b.box)}`)
    for (const [m, ms] of [
      [a, tA],
      [b, tB],
    ]) {
      // Starts at the top-left corner, moves diagonally at 120 px/s on both axes. (The clock
      // starts on the capture thread, a little after t0; a loaded machine adds some slack.)
      const want = (120 * ms) / 1000 + WM.border
      assert.ok(Math.abs(m.box.x0 - want) <= 20 && Math.abs(m.box.y0 - want) <= 20, `watermark at ${m.box.x0},${m.box.y0} after ${ms.toFixed(0)} ms, want ~${want.toFixed(0)}`)
      assert.ok(Math.abs(m.n - 52 * 32) <= 52 * 32 * 0.1, `${m.n} magenta pixels: one whole watermark`)
    }
    const dx = b.box.x0 - a.box.x0
    const dy = b.box.y0 - a.box.y0
    const want = (120 * (tB - tA)) / 1000
    assert.ok(Math.abs(dx - dy) <= 2, `diagonal: moved ${dx},${dy}`)
    assert.ok(Math.abs(dx - want) <= 16, `moved ${dx},${dy} px in ${(tB - tA).toFixed(0)} ms, want ~${want.toFixed(0)}`)
    assert.deepEqual(c.errors, [])
  })

  it('a missing file, a directory, a non-PNG and an oversized PNG throw ERR_WATERMARK at start()', async () => {
    const { ScreenCapture } = loadAddon()
    const dir = join(env.tmp, 'a-directory')
    mkdirSync(dir, { recursive: true })
    const text = join(env.tmp, 'not-a.png')
    writeFileSync(text, 'hello, I am not a PNG file\n')
    const huge = join(env.tmp, 'huge.png')
    writeFileSync(huge, Buffer.concat([PNG_SIGNATURE, pngIhdr(20000, 20000), pngChunk('IEND', Buffer.alloc(0))]))
    for (const path of [join(env.tmp, 'missing.png'), dir, text, huge]) {
      const cap = new ScreenCapture()
      let calls = 0
      const t0 = performance.now()
      assert.throws(
        () => cap.start({ display: env.xvfb.display, ...BASE, watermarkPath: path, watermarkLocationEnum: 4 }, () => calls++),
        (e) => {
          assert.ok(e instanceof Error)
          assert.equal(e.code, 'ERR_WATERMARK', `${path}: ${e.code} ${e.message}`)
          assert.ok(e.message.includes(path), `message names the path: ${e.message}`)
          return true
        },
        path,
      )
      assert.ok(performance.now() - t0 < 1000, 'refused at once')
      assert.equal(cap.isCapturing, false)
      await sleep(50)
      assert.equal(calls, 0)
    }
  })
})
