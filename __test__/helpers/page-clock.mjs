// Times in a page and in this process on one clock (ms since the Unix epoch, sub-ms), for the
// latency benchmarks and tests that time an event in Node against a pixel seen in a page.
import { performance } from 'node:perf_hooks'

/** This process's clock, comparable with a page's `performance.timeOrigin + performance.now()`. */
export const now = () => performance.timeOrigin + performance.now()

/**
 * The page clock's offset from ours (`ours = page + offset`), from the fastest of `tries` round
 * trips; `rtt` bounds its error (± rtt / 2).
 * @returns {Promise<{rtt: number, offset: number}>}
 */
export async function calibratePageClock(page, tries = 30) {
  let best = { rtt: Infinity, offset: 0 }
  for (let i = 0; i < tries; i++) {
    const t0 = now()
    const tp = await page.evaluate(() => performance.timeOrigin + performance.now())
    const t1 = now()
    if (t1 - t0 < best.rtt) best = { rtt: t1 - t0, offset: (t0 + t1) / 2 - tp }
  }
  return best
}

/** The p-th percentile (nearest rank) of an ascending array; NaN when it is empty. */
export function percentile(sorted, p) {
  if (!sorted.length) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]
}
