// Cost at a given quality, from runs of one encoder at several quantisers: how stripecast's
// constant-quantiser H.264 compares with another peer "at equal PSNR".
//
//   atPsnr([{ qp: 20, psnr: 37.6, cpu: 5.1, bytes: 4e5 }, { qp: 23, psnr: 36.8, ... }], 37.0)
//     -> { how: 'interpolated', qp, psnr: 37.0, cpu, bytes }
//
// Between the two points whose PSNR brackets the target, CPU and QP are interpolated linearly
// in PSNR and bytes log-linearly (bytes fall about exponentially with QP). When every point is
// finer than the target, the coarsest point stands in (its PSNR is at or above the target, so
// its cost is an upper bound); when every point is coarser, nothing can be said.

/**
 * @param {{qp: number, psnr: number, cpu: number, bytes: number}[]} points
 * @param {number} target PSNR in dB
 * @returns {{how: 'interpolated'|'coarsest point is finer'|'finest point is coarser', qp?: number,
 *   psnr?: number, cpu?: number, bytes?: number}}
 */
export function atPsnr(points, target) {
  const ok = points.filter((p) => [p.qp, p.psnr, p.cpu, p.bytes].every(Number.isFinite) && p.bytes > 0)
  if (!ok.length || !Number.isFinite(target)) return { how: 'no points' }
  const byPsnr = [...ok].sort((a, b) => a.psnr - b.psnr)
  const coarsest = byPsnr[0]
  const finest = byPsnr[byPsnr.length - 1]
  if (target <= coarsest.psnr) return { how: 'coarsest point is finer', ...pick(coarsest) }
  if (target > finest.psnr) return { how: 'finest point is coarser' }
  for (let i = 1; i < byPsnr.length; i++) {
    const [a, b] = [byPsnr[i - 1], byPsnr[i]]
    if (target > b.psnr) continue
    if (target === b.psnr) return { how: 'interpolated', ...pick(b) }
    const w = b.psnr === a.psnr ? 0 : (target - a.psnr) / (b.psnr - a.psnr)
    const lin = (x, y) => x + w * (y - x)
    return {
      how: 'interpolated',
      qp: lin(a.qp, b.qp),
      psnr: target,
      cpu: lin(a.cpu, b.cpu),
      bytes: Math.exp(lin(Math.log(a.bytes), Math.log(b.bytes))),
    }
  }
  return { how: 'no points' } // not reached: target <= finest.psnr
}

const pick = ({ qp, psnr, cpu, bytes }) => ({ qp, psnr, cpu, bytes })
