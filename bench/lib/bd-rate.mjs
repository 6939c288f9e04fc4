// Bjøntegaard delta rate (VCEG-M33, "Calculation of average PSNR differences between RD-curves"):
// how many percent fewer bytes the test curve spends than the reference at equal PSNR, on
// average over the PSNR range both curves cover. Each curve is fitted with a cubic polynomial of
// log10(bytes) against PSNR (least squares over all its points, as the reference spreadsheet and
// the usual bjontegaard scripts do); the mean of each fit over the overlapping PSNR range is
// taken, and BD-rate = 10^(mean_test - mean_ref) - 1, in percent. Negative: the test curve
// needs fewer bytes.
//
//   bdRate([{ bytes: 1e5, psnr: 30 }, ...], [{ bytes: 9e4, psnr: 30 }, ...])
//     -> { bdRate: -10.0, from: 30, to: 41.2 }   or { bdRate: null, why: '...' }
//   When the PSNR ranges do not overlap: { bdRate: null, side: 'below' | 'above', test: [lo, hi],
//   ref: [lo, hi] } (below: the test curve's best PSNR is under the reference's worst).

/** Solves the n x n system a x = b (Gaussian elimination with partial pivoting). */
function solve(a, b) {
  const n = b.length
  const m = a.map((row, i) => [...row, b[i]])
  for (let c = 0; c < n; c++) {
    let p = c
    for (let r = c + 1; r < n; r++) if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r
    ;[m[c], m[p]] = [m[p], m[c]]
    if (Math.abs(m[c][c]) < 1e-12) return null
    for (let r = 0; r < n; r++) {
      if (r === c) continue
      const f = m[r][c] / m[c][c]
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k]
    }
  }
  return m.map((row, i) => row[n] / row[i])
}

/**
 * Least-squares polynomial of degree `deg` through (x, y), in the variable t = (x - mid) / half
 * (for a well-conditioned system). Returns { coef, mid, half } with y ≈ Σ coef[k] t^k.
 */
export function polyfit(xs, ys, deg = 3) {
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  const mid = (lo + hi) / 2
  const half = (hi - lo) / 2 || 1
  const ts = xs.map((x) => (x - mid) / half)
  const n = deg + 1
  const a = Array.from({ length: n }, () => new Array(n).fill(0))
  const b = new Array(n).fill(0)
  for (let i = 0; i < ts.length; i++) {
    const pw = Array.from({ length: 2 * n - 1 }, (_, k) => ts[i] ** k)
    for (let r = 0; r < n; r++) {
      b[r] += pw[r] * ys[i]
      for (let c = 0; c < n; c++) a[r][c] += pw[r + c]
    }
  }
  const coef = solve(a, b)
  return coef ? { coef, mid, half } : null
}

/** Mean of the fitted polynomial over x in [from, to]. */
function meanOver(fit, from, to) {
  const { coef, mid, half } = fit
  const prim = (t) => coef.reduce((s, c, k) => s + (c * t ** (k + 1)) / (k + 1), 0)
  const t0 = (from - mid) / half
  const t1 = (to - mid) / half
  return (prim(t1) - prim(t0)) / (t1 - t0)
}

/**
 * @param {{bytes: number, psnr: number}[]} ref
 * @param {{bytes: number, psnr: number}[]} test
 * @returns {{bdRate: number|null, from?: number, to?: number, why?: string}}
 */
export function bdRate(ref, test) {
  const ok = (pts) => pts.filter((p) => p && p.bytes > 0 && Number.isFinite(p.psnr))
  const a = ok(ref)
  const b = ok(test)
  if (a.length < 4 || b.length < 4) return { bdRate: null, why: `needs 4 points per curve (have ${a.length} and ${b.length})` }
  if (new Set(a.map((p) => p.psnr)).size < 4 || new Set(b.map((p) => p.psnr)).size < 4) return { bdRate: null, why: 'fewer than 4 distinct PSNRs' }
  const from = Math.max(Math.min(...a.map((p) => p.psnr)), Math.min(...b.map((p) => p.psnr)))
  const to = Math.min(Math.max(...a.map((p) => p.psnr)), Math.max(...b.map((p) => p.psnr)))
  if (!(to > from)) {
    // No common PSNR: say which side the test curve lies on (below: it never reaches the
    // reference's quality at any of its points; above: it never falls to it).
    const side = Math.max(...b.map((p) => p.psnr)) <= Math.min(...a.map((p) => p.psnr)) ? 'below' : 'above'
    return { bdRate: null, why: 'the PSNR ranges do not overlap', side, test: [Math.min(...b.map((p) => p.psnr)), Math.max(...b.map((p) => p.psnr))], ref: [Math.min(...a.map((p) => p.psnr)), Math.max(...a.map((p) => p.psnr))] }
  }
  const fa = polyfit(a.map((p) => p.psnr), a.map((p) => Math.log10(p.bytes)))
  const fb = polyfit(b.map((p) => p.psnr), b.map((p) => Math.log10(p.bytes)))
  if (!fa || !fb) return { bdRate: null, why: 'fit failed' }
  const d = meanOver(fb, from, to) - meanOver(fa, from, to)
  return { bdRate: (10 ** d - 1) * 100, from, to }
}
