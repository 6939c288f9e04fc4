// Per-file test setup: a private Xvfb with one painter for the whole file, and the captures
// to stop after each test, whatever happened.
//
//   const env = useXvfb({ width: W, height: H, base: JPEG, setup: (p) => p.fill(0, 0, W, H, BG) })
//   const { collect, screen } = env
//   env.xvfb.display, env.painter, env.tmp (with tmpPrefix), env.live
//
// Call it at the top level of a test file: it registers before/afterEach/after hooks.
import { before, after, afterEach } from 'node:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { startXvfb } from './xvfb.mjs'
import { openPainter } from './xpaint.mjs'
import { startCollector } from './capture.mjs'
import { bgrxImage } from './frames.mjs'

/**
 * @param {object} o
 * @param {number} o.width screen width
 * @param {number} o.height screen height
 * @param {object} [o.base] settings every collect() starts from (after `display`)
 * @param {object} [o.collectOpts] startCollector options when collect() is given none
 * @param {string} [o.tmpPrefix] make env.tmp, a temporary folder removed after the file
 * @param {(painter, env) => Promise<void>} [o.setup] runs once the painter is open
 */
export function useXvfb({ width, height, base = {}, collectOpts, tmpPrefix, setup }) {
  const env = {
    xvfb: null,
    painter: null,
    tmp: null,
    /** things with stop() to stop after each test */
    live: [],
    track(c) {
      env.live.push(c)
      return c
    },
    /** startCollector on this display over `base`; stopped after the test. */
    collect(settings, opts = collectOpts) {
      return env.track(startCollector({ display: env.xvfb.display, ...base, ...settings }, opts))
    },
    /** The screen's pixels in x, y, w, h (default: all of it) as a 'bgrx' image. */
    async screen(x = 0, y = 0, w = width, h = height) {
      return bgrxImage(await env.painter.dump(x, y, w, h), w, h)
    },
  }

  before(async () => {
    if (tmpPrefix) env.tmp = mkdtempSync(join(tmpdir(), tmpPrefix))
    env.xvfb = await startXvfb({ width, height })
    env.painter = await openPainter(env.xvfb.display)
    if (setup) await setup(env.painter, env)
  })

  afterEach(async () => {
    for (const c of env.live.splice(0)) {
      try {
        await c.stop()
      } catch {}
    }
  })

  after(async () => {
    await env.painter?.close()
    await env.xvfb?.stop()
    if (env.tmp) rmSync(env.tmp, { recursive: true, force: true })
  })

  return env
}
