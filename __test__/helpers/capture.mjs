// Loads the addon and wraps a ScreenCapture that records every stripe it delivers.
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { repoRoot } from './xpaint.mjs'

const require = createRequire(import.meta.url)

/** The addon's exports (index.js at the repository root). */
export function loadAddon() {
  return require(join(repoRoot, 'index.js'))
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Now, in milliseconds on the clock of `captureTimeMs` (`process.hrtime`, CLOCK_MONOTONIC). */
export const nowMs = () => Number(process.hrtime.bigint()) / 1e6

/** Polls `pred` every 5 ms until it returns truthy; rejects after `timeoutMs` with `what`. */
export async function waitFor(pred, timeoutMs = 5000, what = 'condition') {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = pred()
    if (v) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(5)
  }
}

/**
 * Starts a capture and records its stripes.
 * @returns {{ cap, info, stripes: object[], errors: Error[], frames(): Map<number, object[]>,
 *   waitForStripes(n, ms), waitForFirstFrame(ms), since(i), stop() }}
 */
export function startCollector(settings, { onStripe } = {}) {
  const { ScreenCapture } = loadAddon()
  const cap = new ScreenCapture()
  const stripes = []
  const errors = []
  const c = {
    cap,
    stripes,
    errors,
    info: null,
    /** stripes grouped by frameId, in arrival order */
    frames() {
      const m = new Map()
      for (const s of stripes) {
        if (!m.has(s.frameId)) m.set(s.frameId, [])
        m.get(s.frameId).push(s)
      }
      return m
    },
    since(i) {
      return stripes.slice(i)
    },
    waitForStripes(n, ms = 5000) {
      return waitFor(() => stripes.length >= n, ms, `${n} stripes (have ${stripes.length})`)
    },
    /** Resolves with the stripes of the first frame once all stripeCount of them arrived. */
    async waitForFirstFrame(ms = 5000) {
      await waitFor(
        () => stripes.length > 0 && stripes.filter((s) => s.frameId === stripes[0].frameId).length >= c.info.stripeCount,
        ms,
        `the first frame's ${c.info.stripeCount} stripes (have ${stripes.length})`,
      )
      return stripes.filter((s) => s.frameId === stripes[0].frameId)
    },
    stop() {
      cap.stop()
    },
  }
  c.info = cap.start(
    settings,
    (s) => {
      stripes.push(s)
      if (onStripe) onStripe(s, c)
    },
    (e) => errors.push(e),
  )
  return c
}
