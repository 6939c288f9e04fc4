// bench/lib/equal-psnr.mjs: the cost of stripecast's constant-quantiser H.264 at a peer's PSNR.
import { it } from 'node:test'
import assert from 'node:assert/strict'

import { atPsnr } from '../bench/lib/equal-psnr.mjs'

const POINTS = [
  { qp: 26, psnr: 35.0, cpu: 4.0, bytes: 1e5 },
  { qp: 20, psnr: 37.0, cpu: 6.0, bytes: 4e5 },
  { qp: 23, psnr: 36.0, cpu: 5.0, bytes: 2e5 },
]

it('interpolates between the two points around the target, bytes on a log scale', () => {
  const r = atPsnr(POINTS, 36.5)
  assert.equal(r.how, 'interpolated')
  assert.equal(r.psnr, 36.5)
  assert.ok(Math.abs(r.qp - 21.5) < 1e-9, `qp ${r.qp}`)
  assert.ok(Math.abs(r.cpu - 5.5) < 1e-9, `cpu ${r.cpu}`)
  assert.ok(Math.abs(r.bytes - Math.sqrt(2e5 * 4e5)) < 1e-6, `bytes ${r.bytes}`)
  // On a point: that point.
  assert.deepEqual(atPsnr(POINTS, 36.0), { how: 'interpolated', qp: 23, psnr: 36, cpu: 5, bytes: 2e5 })
})

it('uses the coarsest point when every point is finer, and says nothing when every point is coarser', () => {
  assert.deepEqual(atPsnr(POINTS, 34.2), { how: 'coarsest point is finer', qp: 26, psnr: 35, cpu: 4, bytes: 1e5 })
  assert.deepEqual(atPsnr(POINTS, 37.01), { how: 'finest point is coarser' })
  assert.deepEqual(atPsnr([], 36), { how: 'no points' })
  // A failed run (no PSNR) is left out, not read as 0 dB.
  assert.equal(atPsnr([...POINTS, { qp: 29, psnr: null, cpu: 3, bytes: 5e4 }], 34.5).qp, 26)
})
