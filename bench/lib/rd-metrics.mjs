// Picture quality figures of bench/rd.mjs: PSNR of a shown picture against the screen's truth
// over luma, R G B and chroma, all in BT.601 full range (JFIF's own matrix):
//
//   Y  = 0.299 R + 0.587 G + 0.114 B
//   Cb = -0.168736 R - 0.331264 G + 0.5 B        (+128)
//   Cr = 0.5 R - 0.418688 G - 0.081312 B         (+128)
//
// computed in floating point from the 8-bit R, G, B of both pictures (no rounding of Y, Cb, Cr),
// peak 255, at most 99 dB. `rgb` is the PSNR of the mean squared error over R, G and B together,
// `cbcr` over Cb and Cr together.
import { channelOffsets } from '../../__test__/helpers/frames.mjs'

// 99 dB stands for "no error": identical pictures, or rounding noise of the float sums (a grey
// picture's chroma error is 0 up to about 1e-30).
const db = (mse) => Math.min(99, mse > 0 ? 10 * Math.log10((255 * 255) / mse) : 99)
const r3 = (v) => +v.toFixed(3)

/**
 * @param {{width, height, format, data}} shown what a viewer shows ('rgba', 'rgbx' or 'bgrx')
 * @param {{width, height, format, data}} truth the screen
 * @returns {{y: number, rgb: number, r: number, g: number, b: number, cbcr: number, cb: number, cr: number}} dB
 */
export function pictureMetrics(shown, truth) {
  if (shown.width !== truth.width || shown.height !== truth.height) {
    throw new Error(`size mismatch: ${shown.width}x${shown.height} vs ${truth.width}x${truth.height}`)
  }
  const [ar, ag, ab] = channelOffsets(shown.format)
  const [tr, tg, tb] = channelOffsets(truth.format)
  const a = shown.data
  const t = truth.data
  let sr = 0
  let sg = 0
  let sb = 0
  let sy = 0
  let scb = 0
  let scr = 0
  const n = shown.width * shown.height
  for (let i = 0, p = 0; p < n; p++, i += 4) {
    const dr = a[i + ar] - t[i + tr]
    const dg = a[i + ag] - t[i + tg]
    const dbb = a[i + ab] - t[i + tb]
    sr += dr * dr
    sg += dg * dg
    sb += dbb * dbb
    const dy = 0.299 * dr + 0.587 * dg + 0.114 * dbb
    const dcb = -0.168736 * dr - 0.331264 * dg + 0.5 * dbb
    const dcr = 0.5 * dr - 0.418688 * dg - 0.081312 * dbb
    sy += dy * dy
    scb += dcb * dcb
    scr += dcr * dcr
  }
  return {
    y: r3(db(sy / n)),
    rgb: r3(db((sr + sg + sb) / (3 * n))),
    r: r3(db(sr / n)),
    g: r3(db(sg / n)),
    b: r3(db(sb / n)),
    cbcr: r3(db((scb + scr) / (2 * n))),
    cb: r3(db(scb / n)),
    cr: r3(db(scr / n)),
  }
}
