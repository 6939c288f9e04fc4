// A tiny PNG encoder (8-bit RGBA, no filtering), for watermark files written at run time, and a
// decoder of the 8-bit RGB/RGBA PNGs `ScreenCapture.screenshot()` writes (every filter type).
import { deflateSync, inflateSync } from 'node:zlib'

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** One PNG chunk: length, type, data, CRC. */
export function pngChunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/** The IHDR chunk of an 8-bit RGBA width x height image. */
export function pngIhdr(width, height) {
  const d = Buffer.alloc(13)
  d.writeUInt32BE(width, 0)
  d.writeUInt32BE(height, 4)
  d.set([8, 6, 0, 0, 0], 8) // 8-bit, RGBA, deflate, no filter method, no interlace
  return pngChunk('IHDR', d)
}

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])

/** A PNG of width x height straight-alpha RGBA pixels from `rgbaAt(x, y) -> [r, g, b, a]`. */
export function encodePng(width, height, rgbaAt) {
  const raw = Buffer.alloc(height * (1 + width * 4))
  for (let y = 0; y < height; y++) {
    const row = y * (1 + width * 4)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) raw.set(rgbaAt(x, y), row + 1 + x * 4)
  }
  return Buffer.concat([PNG_SIGNATURE, pngIhdr(width, height), pngChunk('IDAT', deflateSync(raw)), pngChunk('IEND', Buffer.alloc(0))])
}

/** The Paeth predictor of PNG filter type 4. */
function paeth(a, b, c) {
  const p = a + b - c
  const pa = Math.abs(p - a)
  const pb = Math.abs(p - b)
  const pc = Math.abs(p - c)
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c
}

/**
 * Decodes an 8-bit, non-interlaced RGB or RGBA PNG to an 'rgba' image; throws on anything else
 * (and on a bad signature or CRC-less truncation), so a test sees what it did not expect.
 */
export function decodePng(buf) {
  if (!buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('not a PNG (signature)')
  let at = 8
  let ihdr
  const idat = []
  for (;;) {
    if (at + 8 > buf.length) throw new Error('PNG ends before IEND')
    const len = buf.readUInt32BE(at)
    const type = buf.toString('ascii', at + 4, at + 8)
    const data = buf.subarray(at + 8, at + 8 + len)
    if (type === 'IHDR') ihdr = data
    else if (type === 'IDAT') idat.push(data)
    else if (type === 'IEND') break
    at += 12 + len
  }
  const width = ihdr.readUInt32BE(0)
  const height = ihdr.readUInt32BE(4)
  const [depth, colour, , , interlace] = ihdr.subarray(8)
  if (depth !== 8 || (colour !== 2 && colour !== 6) || interlace !== 0) {
    throw new Error(`unsupported PNG: depth ${depth}, colour type ${colour}, interlace ${interlace}`)
  }
  const bpp = colour === 2 ? 3 : 4
  const raw = inflateSync(Buffer.concat(idat))
  const rowLen = width * bpp
  if (raw.length !== height * (1 + rowLen)) throw new Error(`PNG data is ${raw.length} bytes, want ${height * (1 + rowLen)}`)
  const rows = Buffer.alloc(height * rowLen)
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (1 + rowLen)]
    const src = raw.subarray(y * (1 + rowLen) + 1, (y + 1) * (1 + rowLen))
    const cur = rows.subarray(y * rowLen, (y + 1) * rowLen)
    const prev = y > 0 ? rows.subarray((y - 1) * rowLen, y * rowLen) : null
    for (let i = 0; i < rowLen; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0
      const b = prev ? prev[i] : 0
      const c = prev && i >= bpp ? prev[i - bpp] : 0
      let pred
      if (filter === 0) pred = 0
      else if (filter === 1) pred = a
      else if (filter === 2) pred = b
      else if (filter === 3) pred = (a + b) >> 1
      else if (filter === 4) pred = paeth(a, b, c)
      else throw new Error(`PNG row ${y}: unknown filter type ${filter}`)
      cur[i] = (src[i] + pred) & 0xff
    }
  }
  const data = new Uint8Array(width * height * 4)
  for (let p = 0; p < width * height; p++) {
    data[p * 4] = rows[p * bpp]
    data[p * 4 + 1] = rows[p * bpp + 1]
    data[p * 4 + 2] = rows[p * bpp + 2]
    data[p * 4 + 3] = bpp === 4 ? rows[p * bpp + 3] : 255
  }
  return { width, height, format: 'rgba', data }
}
