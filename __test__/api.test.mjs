// The JavaScript API around a running capture under a private Xvfb: updateSettings(), stats(),
// the async iterator, back-pressure from async callbacks, and errors from native threads.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { useXvfb } from './helpers/setup.mjs'
import { parseStripe, canvasOfLatest, stripeYs as ys, psnr, assertSolid } from './helpers/frames.mjs'
import { loadAddon, nowMs, sleep, waitFor } from './helpers/capture.mjs'

const W = 640
const H = 480 // 8 stripes of 64 rows: 7 full ones and the last of 32 rows
const SH = 64
const STRIPES = Math.ceil(H / SH)
const BG = '304860'

// Paint-over and damage throttling off: every change is sent once, at once.
const BASE = {
  outputMode: 0,
  jpegQuality: 60,
  captureCursor: false,
  usePaintOverQuality: false,
  damageBlockThreshold: 100000,
  targetFps: 30,
  stripeHeight: SH,
}

const { ScreenCapture } = loadAddon()

const env = useXvfb({ width: W, height: H, base: BASE, setup: (p) => p.fill(0, 0, W, H, BG) })
const { collect, track, screen } = env

const canvasOf = (stripes, width = W, height = H) => canvasOfLatest(stripes, width, height)
const allYs = (height = H) => Array.from({ length: Math.ceil(height / SH) }, (_, i) => i * SH)
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]

/** A second painter running xpaint's `bounce` animation (rectangles + a clock line, every frame). */
async function animate(fps = 60) {
  const p = await openPainter(env.xvfb.display)
  const playing = p.play(fps, 'bounce', 0)
  return {
    async stop() {
      p.stopPlay()
      await playing.catch(() => {})
      await p.close()
    },
  }
}

/** Draws fresh noise (a new seed each time) over rows y..y+h as fast as ~100/s until stop(). */
function churn(y, h) {
  let running = true
  let seed = 100
  const done = (async () => {
    while (running) {
      await env.painter.noise(0, y, W, h, seed++)
      await sleep(10)
    }
  })()
  return {
    async stop() {
      running = false
      await done
    },
  }
}

/** Polls stats() every 10 ms for `ms`; returns the samples. */
async function sampleStats(cap, ms) {
  const samples = []
  const end = performance.now() + ms
  while (performance.now() < end) {
    samples.push(cap.stats())
    await sleep(10)
  }
  return samples
}

/** The error `start()` throws for `settings` (on a fresh object), for comparison. */
function startError(settings) {
  const cap = new ScreenCapture()
  try {
    cap.start({ display: env.xvfb.display, ...BASE, ...settings }, () => {})
  } catch (e) {
    return e
  } finally {
    cap.stop()
  }
  assert.fail(`start(${JSON.stringify(settings)}) did not throw`)
}

describe('updateSettings()', () => {
  it('throws ERR_NOT_STARTED before start() and after stop()', () => {
    const cap = new ScreenCapture()
    const notStarted = (e) => {
      assert.ok(e instanceof Error)
      assert.equal(e.code, 'ERR_NOT_STARTED')
      assert.match(e.message, /start/)
      return true
    }
    assert.throws(() => cap.updateSettings({ jpegQuality: 50 }), notStarted)
    cap.start({ display: env.xvfb.display, ...BASE }, () => {})
    assert.equal(cap.updateSettings({ jpegQuality: 50 }).width, W)
    cap.stop()
    assert.throws(() => cap.updateSettings({ jpegQuality: 50 }), notStarted)
  })

  it('jpegQuality 20 -> 95: larger stripes, higher PSNR, from the second frame after the call', async (t) => {
    await env.painter.noise(0, 0, W, H, 21)
    // a) static screen: the refresh after the update is at the new quality
    const c = collect({ jpegQuality: 20 })
    const first = await c.waitForFirstFrame()
    const info = c.cap.updateSettings({ jpegQuality: 95 })
    assert.equal(info.width, W)
    assert.equal(info.stripeCount, STRIPES)
    await sleep(200)
    assert.equal(c.stripes.length, STRIPES, 'a quality change alone re-sends nothing')
    c.cap.requestKeyframe()
    await c.waitForStripes(2 * STRIPES, 3000)
    const again = c.since(STRIPES)
    assert.deepEqual(ys(again), allYs())
    const truth = await screen()
    for (const s of again) {
      const old = first.find((o) => o.stripeYStart === s.stripeYStart)
      assert.ok(s.size > old.size * 2, `y=${s.stripeYStart}: ${old.size} B at q20, ${s.size} B at q95`)
    }
    const db20 = psnr(canvasOf(first).image, truth)
    const db95 = psnr(canvasOf(again).image, truth)
    t.diagnostic(`static: q20 ${db20.toFixed(2)} dB, q95 ${db95.toFixed(2)} dB`)
    assert.ok(db95 > db20 + 8, `q95 ${db95.toFixed(2)} dB vs q20 ${db20.toFixed(2)} dB`)
    c.stop()

    // b) a stripe changing every frame: every frame from the second after the call is at q95
    const d = collect({ jpegQuality: 20 })
    await d.waitForFirstFrame()
    const ch = churn(128, 64)
    let F
    try {
      await sleep(600)
      F = d.cap.stats().framesCaptured // the frame being encoded now, at the latest, is old
      d.cap.updateSettings({ jpegQuality: 95 })
      await sleep(600)
    } finally {
      await ch.stop()
    }
    await sleep(200)
    const churned = d.stripes.filter((s) => s.stripeYStart === 128 && s.frameId > d.stripes[0].frameId)
    const old = churned.filter((s) => s.frameId <= F)
    const neu = churned.filter((s) => s.frameId >= F + 2)
    assert.ok(old.length >= 5 && neu.length >= 5, `${old.length} stripes before, ${neu.length} after frame ${F}`)
    const maxOld = Math.max(...old.map((s) => s.size))
    const minNew = Math.min(...neu.map((s) => s.size))
    t.diagnostic(`changing stripe: q20 up to ${maxOld} B (frames <= ${F}), q95 from ${minNew} B (frames >= ${F + 2})`)
    assert.ok(minNew > maxOld * 2, `q95 stripes from ${minNew} B, q20 stripes up to ${maxOld} B`)
    assert.deepEqual(d.errors, [])
  })

  it('targetFps 10 -> 30 changes the delivered frame rate', async (t) => {
    const anim = await animate(60)
    try {
      const c = collect({ targetFps: 10 })
      await c.waitForStripes(1, 3000)
      const rate = async () => {
        await sleep(300)
        const n = c.stripes.length
        const t0 = performance.now()
        await sleep(1500)
        const list = c.since(n)
        const frames = [...new Set(list.map((s) => s.frameId))]
        const times = frames.map((id) => list.find((s) => s.frameId === id).captureTimeMs)
        const intervals = times.slice(1).map((v, k) => v - times[k])
        return { fps: (frames.length * 1000) / (performance.now() - t0), interval: median(intervals), frames }
      }
      const slow = await rate()
      const F = c.cap.stats().framesCaptured
      c.cap.updateSettings({ targetFps: 30 })
      const fast = await rate()
      t.diagnostic(`10 fps: ${slow.fps.toFixed(1)} frames/s, median ${slow.interval.toFixed(1)} ms; 30 fps: ${fast.fps.toFixed(1)} frames/s, median ${fast.interval.toFixed(1)} ms`)
      assert.ok(slow.fps >= 7 && slow.fps <= 11.5, `at targetFps 10: ${slow.fps.toFixed(1)} frames/s`)
      assert.ok(Math.abs(slow.interval - 100) <= 15, `at targetFps 10: median interval ${slow.interval} ms`)
      assert.ok(fast.fps >= 21 && fast.fps <= 32, `at targetFps 30: ${fast.fps.toFixed(1)} frames/s`)
      assert.ok(Math.abs(fast.interval - 33.3) <= 8, `at targetFps 30: median interval ${fast.interval} ms`)
      // Within two frames of the call the frames come 33 ms apart.
      const early = c.stripes.filter((s) => s.frameId >= F + 2 && s.frameId <= F + 8)
      const ids = [...new Set(early.map((s) => s.frameId))]
      const times = ids.map((id) => early.find((s) => s.frameId === id).captureTimeMs)
      const gaps = times.slice(1).map((v, k) => (v - times[k]) / (ids[k + 1] - ids[k]))
      assert.ok(gaps.length >= 3, `frames ${ids}`)
      assert.ok(median(gaps) < 50, `frame intervals right after the update: ${gaps.map((g) => g.toFixed(0))} ms`)
      assert.deepEqual(c.errors, [])
    } finally {
      await anim.stop()
    }
    await env.painter.fill(0, 0, W, H, BG)
  })

  it('on a still screen a drawing is captured when XDamage reports it, and frames stay an interval apart', async (t) => {
    // 1 fps: on fixed ticks a drawing made 1.3 s after the last change would wait ~700 ms for
    // the next one.
    const c = collect({ targetFps: 1 })
    await c.waitForFirstFrame()
    const delays = []
    for (let k = 0; k < 3; k++) {
      await sleep(1300) // past the next tick, which finds nothing changed
      const n = c.stripes.length
      const drawn = nowMs()
      await env.painter.fill(40 + 60 * k, 100, 40, 40, ['e03030', '30e030', '3030e0'][k])
      await c.waitForStripes(n + 1, 3000)
      delays.push(c.stripes[n].captureTimeMs - drawn)
    }
    // Two drawings 100 ms apart on a still screen: the first at once, the second one interval
    // after it.
    await sleep(1300)
    const n = c.stripes.length
    await env.painter.fill(300, 200, 40, 40, 'f0f0f0') // stripe 192 only
    await sleep(100)
    await env.painter.fill(400, 200, 40, 40, 'f0f0f0')
    await c.waitForStripes(n + 2, 3000)
    const [first, second] = c.since(n)
    t.diagnostic(`drawing -> grab: ${delays.map((d) => d.toFixed(1))} ms; two drawings: grabs ${(second.captureTimeMs - first.captureTimeMs).toFixed(0)} ms apart`)
    for (const d of delays) assert.ok(d >= 0 && d < 300, `drawing -> grab ${d.toFixed(1)} ms`)
    assert.ok(second.frameId > first.frameId)
    assert.ok(second.captureTimeMs - first.captureTimeMs >= 990, `grabs ${second.captureTimeMs - first.captureTimeMs} ms apart at 1 fps`)
    assert.deepEqual(c.errors, [])
    await env.painter.fill(0, 0, W, H, BG)
  })

  it('a still capture sleeps between ticks (about once a second at 1 fps) and stops at once', async (t) => {
    const captureThreads = () =>
      new Set(readdirSync('/proc/self/task').filter((id) => {
        try {
          return readFileSync(`/proc/self/task/${id}/comm`, 'utf8').startsWith('stripecast-capt')
        } catch {
          return false // the thread ended meanwhile
        }
      }))
    const before = captureThreads()
    const c = collect({ targetFps: 1 })
    await c.waitForFirstFrame()
    const [tid] = [...captureThreads()].filter((id) => !before.has(id))
    assert.ok(tid, 'the capture thread is found')
    const switches = () => Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${tid}/status`, 'utf8'))[1])
    await sleep(1200)
    const s0 = switches()
    await sleep(3000)
    const perSecond = (switches() - s0) / 3
    const t0 = performance.now()
    c.cap.stop()
    const stopMs = performance.now() - t0
    t.diagnostic(`${perSecond.toFixed(1)} wake-ups a second; stop() took ${stopMs.toFixed(1)} ms`)
    // A tick, and the wait for XDamage after it, which sleeps until the next tick or stop().
    assert.ok(perSecond <= 4, `${perSecond} wake-ups a second at targetFps 1`)
    assert.ok(stopMs < 200, `stop() took ${stopMs} ms`)
  })

  it('drawing outside the captured region does not wake the capture; identical redraws at most once per tick', async (t) => {
    const c = collect({ targetFps: 10, captureX: 0, captureY: 0, captureWidth: 320, captureHeight: 192 })
    await c.waitForFirstFrame()
    const n = c.stripes.length
    const drawing = churn(300, 40) // ~100 drawings a second below the region
    const f0 = c.cap.stats().framesCaptured
    const t0 = performance.now()
    await sleep(1500)
    const frames = c.cap.stats().framesCaptured - f0
    const secs = (performance.now() - t0) / 1000
    await drawing.stop()
    t.diagnostic(`${frames} frames in ${secs.toFixed(2)} s at targetFps 10 with drawing outside the region`)
    // Only the ticks: XDamage's rectangles are checked against the region before waking.
    assert.ok(frames <= 10 * secs + 2, `${frames} frames in ${secs.toFixed(2)} s`)
    assert.equal(c.stripes.length, n, 'nothing inside the region changed')

    // The same pixels redrawn ~100 times a second inside the region: a tick that finds them
    // unchanged may wake once for the next redraw, never more.
    const redraw = (async () => {
      const end = performance.now() + 1500
      while (performance.now() < end) {
        await env.painter.fill(0, 0, 40, 40, BG)
        await sleep(10)
      }
    })()
    const f1 = c.cap.stats().framesCaptured
    const t1 = performance.now()
    await redraw
    const again = c.cap.stats().framesCaptured - f1
    const secs1 = (performance.now() - t1) / 1000
    t.diagnostic(`${again} frames in ${secs1.toFixed(2)} s at targetFps 10 with identical redraws in the region`)
    assert.ok(again <= 2 * 10 * secs1 + 3, `${again} frames in ${secs1.toFixed(2)} s`)
    assert.equal(c.stripes.length, n, 'identical redraws are not sent')
    assert.deepEqual(c.errors, [])
    await env.painter.fill(0, 0, W, H, BG)
  })

  it('a new region: the next frame has the new width and the new region\'s content, in full', async () => {
    await env.painter.noise(0, 0, W, H, 4)
    await env.painter.fill(100, 100, 200, 120, 'e03030')
    const c = collect({ jpegQuality: 90 })
    await c.waitForFirstFrame()
    await sleep(200)
    const n = c.stripes.length
    const R = { x: 96, y: 64, w: 320, h: 200 }
    const info = c.cap.updateSettings({ captureX: R.x, captureY: R.y, captureWidth: R.w, captureHeight: R.h })
    assert.deepEqual(
      [info.x, info.y, info.width, info.height, info.stripeCount],
      [R.x, R.y, R.w, R.h, 4],
    )
    await c.waitForStripes(n + 4, 3000)
    await sleep(300)
    const next = c.since(n)
    assert.equal(next.length, 4, 'one full frame of the new region, nothing else')
    assert.equal(new Set(next.map((s) => s.frameId)).size, 1)
    assert.deepEqual(ys(next), [0, 64, 128, 192])
    for (const s of next) {
      assert.equal(s.width, R.w)
      assert.equal(s.stripeHeight, s.stripeYStart === 192 ? 8 : 64)
    }
    const { image, covered } = canvasOf(next, R.w, R.h)
    assert.ok(covered.every((v) => v === 1))
    const db = psnr(image, await screen(R.x, R.y, R.w, R.h))
    assert.ok(db >= 30, `new region PSNR ${db.toFixed(2)} dB`)
    // The red rectangle at screen 100,100 is at 4,36 in the region.
    // (16 px in from its edges: 4:2:0 chroma of the noise around it bleeds a little.)
    assertSolid(image, { x: 20, y: 52, w: 164, h: 88 }, 'e03030', 8, 'red fill in region coordinates')
    assert.deepEqual(c.errors, [])
  })

  it('invalid updates throw what start() throws and leave the capture as it was', async () => {
    await env.painter.noise(0, 0, W, H, 6)
    const c = collect({ jpegQuality: 50 })
    const first = await c.waitForFirstFrame()
    for (const bad of [{ jpegQuality: 500 }, { captureWidth: 0 }, { outputMode: 'png' }, { targetFps: 0 }, { stripeHeight: 60 }]) {
      const want = startError(bad)
      assert.equal(want.code, 'ERR_INVALID_SETTING')
      assert.throws(
        () => c.cap.updateSettings(bad),
        (e) => {
          assert.equal(e.constructor, want.constructor, `${JSON.stringify(bad)}: ${e.constructor.name} vs start()'s ${want.constructor.name}`)
          assert.equal(e.code, want.code)
          assert.equal(e.message, want.message)
          return true
        },
        JSON.stringify(bad),
      )
      assert.equal(c.cap.isCapturing, true)
    }
    assert.throws(
      () => c.cap.updateSettings({ display: ':4321' }),
      (e) => {
        assert.ok(e instanceof Error)
        assert.equal(e.code, 'ERR_INVALID_SETTING')
        assert.match(e.message, /display/)
        return true
      },
    )
    // A valid field next to an invalid one is not applied either.
    assert.throws(() => c.cap.updateSettings({ jpegQuality: 95, captureWidth: 0 }), RangeError)
    // The same display is not a change.
    assert.equal(c.cap.updateSettings({ display: env.xvfb.display }).width, W)
    assert.equal(c.cap.isCapturing, true)
    await sleep(200)
    assert.equal(c.stripes.length, STRIPES, 'nothing re-sent by the failed updates')

    // Same geometry and quality as before: the refresh is byte-for-byte the first frame.
    c.cap.requestKeyframe()
    await c.waitForStripes(2 * STRIPES, 3000)
    const again = c.since(STRIPES)
    assert.deepEqual(ys(again), allYs())
    for (const s of again) {
      const old = first.find((o) => o.stripeYStart === s.stripeYStart)
      assert.equal(s.width, W)
      assert.equal(s.stripeHeight, old.stripeHeight)
      assert.equal(s.size, old.size, `y=${s.stripeYStart}: ${s.size} B now, ${old.size} B before`)
      assert.ok(parseStripe(s.data).payload.equals(parseStripe(old.data).payload), `y=${s.stripeYStart}: same JPEG`)
    }
    assert.deepEqual(c.errors, [])
  })
})

describe('stats()', () => {
  it('counters match what the callback saw; rates and latency are sane; readable after stop()', async () => {
    await env.painter.fill(0, 0, W, H, BG)
    const t0 = performance.now()
    const latencies = []
    const c = collect({}, { onStripe: (s) => latencies.push(nowMs() - s.captureTimeMs) })
    await c.waitForFirstFrame()
    for (const [y, rgb] of [
      [10, 'ff0000'],
      [200, '00ff00'],
      [300, '0000ff'],
      [420, 'ffff00'],
    ]) {
      await env.painter.fill(50, y, 100, 30, rgb)
      await sleep(120)
    }
    const anim = await animate(60)
    await sleep(1200)
    const busy = c.cap.stats()
    await anim.stop()
    await sleep(1300)
    const st = c.cap.stats()
    const elapsed = performance.now() - t0
    const frames = new Set(c.stripes.map((s) => s.frameId))

    for (const k of ['framesCaptured', 'framesWithChanges', 'stripesDelivered', 'bytesDelivered', 'stripesDropped',
      'framesSkipped', 'queuedStripes', 'captureMs', 'encodeMs', 'latencyP50Ms', 'latencyP99Ms', 'fps']) {
      assert.equal(typeof st[k], 'number', `stats().${k}`)
      assert.ok(Number.isFinite(st[k]) && st[k] >= 0, `stats().${k} = ${st[k]}`)
    }
    assert.equal(st.stripesDelivered, c.stripes.length)
    assert.equal(st.bytesDelivered, c.stripes.reduce((a, s) => a + s.size, 0))
    assert.equal(st.framesWithChanges, frames.size)
    assert.equal(st.stripesDropped, 0)
    assert.equal(st.framesSkipped, 0)
    assert.equal(st.queuedStripes, 0)
    const expected = (elapsed / 1000) * 30
    assert.ok(st.framesCaptured >= expected * 0.6 && st.framesCaptured <= expected * 1.1, `framesCaptured ${st.framesCaptured}, ~${expected.toFixed(0)} expected`)
    assert.ok(st.framesCaptured >= st.framesWithChanges)
    assert.ok(st.captureMs > 0 && st.captureMs < elapsed, `captureMs ${st.captureMs}`)
    assert.ok(st.encodeMs > 0 && st.encodeMs < elapsed, `encodeMs ${st.encodeMs}`)
    assert.ok(st.latencyP50Ms <= st.latencyP99Ms, `p50 ${st.latencyP50Ms} > p99 ${st.latencyP99Ms}`)
    assert.ok(st.latencyP99Ms < 500, `p99 latency ${st.latencyP99Ms} ms`)
    const observed = median(latencies)
    assert.ok(Math.abs(st.latencyP50Ms - observed) < 25, `p50 ${st.latencyP50Ms} ms, the callback measured ${observed.toFixed(1)} ms`)
    assert.ok(busy.fps >= 18 && busy.fps <= 31, `fps during the animation: ${busy.fps}`)
    assert.equal(st.fps, 0, 'fps of a still screen, a second after the last change')

    c.stop()
    const stopped = c.cap.stats()
    assert.equal(c.cap.isCapturing, false)
    assert.equal(stopped.stripesDelivered, c.stripes.length)
    assert.equal(stopped.bytesDelivered, st.bytesDelivered)
    assert.equal(stopped.framesWithChanges, st.framesWithChanges)
    assert.ok(stopped.framesCaptured >= st.framesCaptured)
    assert.equal(stopped.queuedStripes, 0)
    await sleep(200)
    assert.deepEqual(c.cap.stats().framesCaptured, stopped.framesCaptured, 'counters stand still after stop()')
    await env.painter.fill(0, 0, W, H, BG)
  })
})

/** Pulls from an async iterator with a deadline: resolves to the result, or null on timeout (the pull stays pending and is reused). */
function puller(iter) {
  let pending = null
  return async (ms) => {
    pending ??= iter.next()
    const r = await Promise.race([pending, sleep(ms).then(() => null)])
    if (r) pending = null
    return r
  }
}

describe('stripes() async iterator', () => {
  it('delivers what the callback path delivers; break stops the capture', async () => {
    await env.painter.noise(0, 0, W, H, 8)
    const c = collect({})
    await c.waitForFirstFrame() // before anything is drawn, so that both see the change
    const cap = track(new ScreenCapture())
    const got = []
    let changed = false
    for await (const s of cap.stripes({ display: env.xvfb.display, ...BASE })) {
      got.push(s)
      if (got.length === STRIPES && !changed) {
        changed = true
        await env.painter.fill(20, 200, 60, 20, 'ffffff') // rows 200..219 of stripe 192: band 192..223 (16-row MCUs)
      }
      if (got.length > STRIPES) break
    }
    assert.equal(cap.isCapturing, false, 'break stopped the capture')
    await c.waitForStripes(STRIPES + 1, 3000)
    await sleep(300)
    const firstIter = got.slice(0, STRIPES)
    assert.equal(new Set(firstIter.map((s) => s.frameId)).size, 1)
    assert.deepEqual(ys(firstIter), allYs())
    assert.deepEqual(ys(firstIter), ys(c.stripes.slice(0, STRIPES)))
    assert.deepEqual(got.slice(STRIPES).map((s) => [s.stripeYStart, s.stripeHeight]), [[192, 32]])
    assert.deepEqual(c.since(STRIPES).map((s) => [s.stripeYStart, s.stripeHeight]), [[192, 32]])
    // Same content both ways.
    for (const s of firstIter) {
      const o = c.stripes.find((x) => x.stripeYStart === s.stripeYStart)
      assert.equal(s.width, o.width)
      assert.equal(s.stripeHeight, o.stripeHeight)
      assert.ok(parseStripe(s.data).payload.equals(parseStripe(o.data).payload), `y=${s.stripeYStart}: same JPEG`)
    }
    assert.ok(parseStripe(got[STRIPES].data).payload.equals(parseStripe(c.stripes[STRIPES].data).payload))
    await sleep(200)
    assert.equal(cap.stats().queuedStripes, 0)
    await env.painter.fill(0, 0, W, H, BG)
  })

  it('not pulling bounds the queue and skips frames; pulling again delivers the current screen', async (t) => {
    const cap = track(new ScreenCapture())
    const iter = cap.stripes({ display: env.xvfb.display, ...BASE, maxQueuedStripes: 20 })
    const pull = puller(iter)
    const got = []
    const first = await pull(3000)
    assert.ok(first && !first.done, 'a first stripe')
    got.push(first.value)
    const anim = await animate(60)
    let samples
    try {
      samples = await sampleStats(cap, 1500)
    } finally {
      await anim.stop()
    }
    const maxQueued = Math.max(...samples.map((s) => s.queuedStripes))
    const skipped = samples.map((s) => s.framesSkipped)
    t.diagnostic(`queued up to ${maxQueued}, frames skipped ${skipped[0]} -> ${skipped.at(-1)}`)
    assert.ok(maxQueued >= 15, `the queue filled up (${maxQueued})`)
    assert.ok(maxQueued <= 20 + STRIPES, `queuedStripes reached ${maxQueued} with maxQueuedStripes 20`)
    assert.ok(skipped.at(-1) - skipped[0] >= 10, `framesSkipped ${skipped[0]} -> ${skipped.at(-1)}`)
    const rss = process.memoryUsage().rss

    // Something new while nobody pulls, then pull until the stream goes quiet.
    await env.painter.fill(200, 300, 120, 50, 'ff8000')
    await sleep(300)
    for (;;) {
      const r = await pull(700)
      if (!r) break
      assert.equal(r.done, false)
      got.push(r.value)
      assert.ok(got.length < 5000, 'the stream never went quiet')
    }
    assert.ok(cap.isCapturing)
    assert.ok(process.memoryUsage().rss - rss < 200 * 1024 * 1024)
    const { image, covered } = canvasOf(got)
    assert.ok(covered.every((v) => v === 1), 'every row delivered')
    const db = psnr(image, await screen())
    t.diagnostic(`${got.length} stripes pulled; canvas vs screen ${db.toFixed(2)} dB`)
    assert.ok(db >= 30, `the pulled stripes show the current screen: ${db.toFixed(2)} dB`)
    assertSolid(image, { x: 208, y: 308, w: 104, h: 34 }, 'ff8000', 24, 'the fill drawn while not pulling')
    const r = await iter.return()
    assert.equal(r.done, true)
    assert.equal(cap.isCapturing, false)
    await env.painter.fill(0, 0, W, H, BG)
  })
})

describe('async callbacks', () => {
  it('a callback whose promise takes 200 ms keeps queuedStripes within maxQueuedStripes (+ one frame)', async (t) => {
    // (startCollector's callback returns nothing, so this one is started directly.)
    let settled = 0
    const cap = track(new ScreenCapture())
    let n = 0
    cap.start(
      { display: env.xvfb.display, ...BASE, maxQueuedStripes: 10 },
      () => {
        n++
        return new Promise((r) => setTimeout(() => r(settled++), 200))
      },
    )
    const anim = await animate(60)
    let samples
    try {
      samples = await sampleStats(cap, 2000)
    } finally {
      await anim.stop()
    }
    const maxQueued = Math.max(...samples.map((s) => s.queuedStripes))
    const st = samples.at(-1)
    t.diagnostic(`${n} stripes, queued up to ${maxQueued}, ${st.framesSkipped} frames skipped`)
    assert.ok(maxQueued >= 8, `the queue filled up (${maxQueued})`)
    assert.ok(maxQueued <= 10 + STRIPES, `queuedStripes reached ${maxQueued} with maxQueuedStripes 10`)
    assert.ok(st.framesSkipped > 10, `framesSkipped ${st.framesSkipped}`)
    assert.ok(n >= 20, `stripes kept coming (${n})`)
    await sleep(400)
    assert.equal(cap.stats().queuedStripes, 0, 'settled promises release their stripes')
    cap.stop()
    await env.painter.fill(0, 0, W, H, BG)
  })
})

describe('errors from native threads', () => {
  it('losing the X server: onError gets ERR_CAPTURE within 1 s and the capture ends', async () => {
    const x2 = await startXvfb({ width: 320, height: 240 })
    const cap = track(new ScreenCapture())
    const errors = []
    let n = 0
    try {
      cap.start({ display: x2.display, ...BASE }, () => n++, (e) => errors.push({ e, at: performance.now() }))
      await waitFor(() => n >= 4, 3000, 'the first frame')
      assert.equal(cap.isCapturing, true)
      const t0 = performance.now()
      await x2.stop()
      await waitFor(() => errors.length > 0, 2000, 'onError')
      const { e, at } = errors[0]
      assert.ok(at - t0 <= 1000, `ERR_CAPTURE after ${(at - t0).toFixed(0)} ms`)
      assert.ok(e instanceof Error)
      assert.equal(e.code, 'ERR_CAPTURE')
      assert.equal(e.fatal, true, 'the capture ended')
      assert.ok(e.message.length > 0)
      await waitFor(() => !cap.isCapturing, 1000, 'isCapturing false')
      await sleep(200)
      assert.equal(errors.length, 1, `errors: ${errors.map((x) => x.e.code)}`)
      cap.stop()
    } finally {
      await x2.stop()
    }
  })

  it('losing the X server ends a for-await loop with ERR_CAPTURE', async () => {
    const x2 = await startXvfb({ width: 320, height: 240 })
    const cap = track(new ScreenCapture())
    let n = 0
    try {
      await assert.rejects(
        (async () => {
          for await (const s of cap.stripes({ display: x2.display, ...BASE })) {
            assert.ok(s.data.length > 0)
            if (++n === 4) x2.stop()
          }
        })(),
        (e) => {
          assert.equal(e.code, 'ERR_CAPTURE')
          return true
        },
      )
      assert.equal(cap.isCapturing, false)
    } finally {
      await x2.stop()
    }
  })

  it('a throwing callback: onError receives that very Error and the capture goes on', async () => {
    await env.painter.fill(0, 0, W, H, BG)
    const boom = new Error('boom from onStripe')
    const cap = track(new ScreenCapture())
    const errors = []
    let n = 0
    cap.start(
      { display: env.xvfb.display, ...BASE },
      () => {
        n++
        if (n === 1) throw boom
      },
      (e) => errors.push(e),
    )
    await waitFor(() => n >= STRIPES && errors.length >= 1, 3000, 'the first frame and the error')
    assert.equal(errors.length, 1)
    assert.equal(errors[0], boom, 'the thrown object itself')
    await env.painter.fill(10, 300, 50, 50, 'ffffff')
    await waitFor(() => n > STRIPES, 3000, 'more stripes after the throw')
    assert.equal(cap.isCapturing, true)
    assert.equal(errors.length, 1)
    cap.stop()
    await env.painter.fill(0, 0, W, H, BG)
  })

  it('a rejected promise from an async callback reaches onError', async () => {
    await env.painter.fill(0, 0, W, H, BG)
    const reason = new Error('rejected in onStripe')
    const cap = track(new ScreenCapture())
    const errors = []
    let n = 0
    cap.start(
      { display: env.xvfb.display, ...BASE },
      async () => {
        const k = ++n
        await sleep(5)
        if (k === 2) throw reason
      },
      (e) => errors.push(e),
    )
    await waitFor(() => errors.length >= 1, 3000, 'the rejection in onError')
    assert.equal(errors[0], reason, 'the rejection reason itself')
    await env.painter.fill(10, 300, 50, 50, 'ffffff')
    await waitFor(() => n > STRIPES, 3000, 'more stripes after the rejection')
    assert.equal(cap.isCapturing, true)
    assert.equal(errors.length, 1)
    await sleep(100)
    assert.equal(cap.stats().queuedStripes, 0, 'the rejected stripe is no longer queued')
    cap.stop()
    await env.painter.fill(0, 0, W, H, BG)
  })
})
