// The JPEG path of the addon under a private Xvfb: known content in, decoded pixels out.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { join } from 'node:path'

import { useXvfb } from './helpers/setup.mjs'
import { openPainter, repoRoot } from './helpers/xpaint.mjs'
import { parseStripe, decodeStripe, decodeSized, assemble, canvasOfLatest, psnr, assertSolid, crop, pixel } from './helpers/frames.mjs'
import { loadAddon, nowMs, sleep, waitFor } from './helpers/capture.mjs'

const W = 1280
const H = 720
const BG = '203040'
// Solid areas of the scene (x, y, w, h, colour).
const SOLIDS = [
  { x: 40, y: 40, w: 300, h: 150, rgb: 'd02020' },
  { x: 400, y: 300, w: 200, h: 200, rgb: '20b040' },
  { x: 900, y: 96, w: 300, h: 120, rgb: 'f0f0f0' },
  { x: 720, y: 560, w: 200, h: 100, rgb: '2040e0' },
]
const NOISE = { x: 640, y: 392, w: 320, h: 160, seed: 7 }
const TEXT = { x: 48, y: 620, rgb: 'ffff40', text: 'stripecast JPEG test 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz' }

const JPEG = { outputMode: 0, jpegQuality: 90, captureCursor: false, usePaintOverQuality: false }

const env = useXvfb({ width: W, height: H, base: JPEG, setup: drawScene })
const { collect, screen } = env

async function drawScene(p) {
  await p.fill(0, 0, W, H, BG)
  for (const s of SOLIDS) await p.fill(s.x, s.y, s.w, s.h, s.rgb)
  await p.noise(NOISE.x, NOISE.y, NOISE.w, NOISE.h, NOISE.seed)
  await p.text(TEXT.x, TEXT.y, TEXT.rgb, TEXT.text)
}

/** Decodes stripes and pastes them into a width x height canvas. */
function assembleStripes(stripes, width, height) {
  return assemble(
    stripes.map((s) => ({ y: s.stripeYStart, image: decodeSized(s) })),
    width,
    height,
  )
}

function expectedStripes(height, stripeHeight = 128) {
  const ys = []
  const hs = []
  for (let y = 0; y < height; y += stripeHeight) {
    ys.push(y)
    hs.push(Math.min(stripeHeight, height - y))
  }
  return { ys, hs }
}

function sortedGeometry(stripes) {
  const s = [...stripes].sort((a, b) => a.stripeYStart - b.stripeYStart)
  return { ys: s.map((x) => x.stripeYStart), hs: s.map((x) => x.stripeHeight) }
}

describe('JPEG stripes', () => {
  it('1. first frame: exact stripe geometry, decoded content matches the screen', async (t) => {
    const c = collect({})
    const info = c.info
    assert.equal(info.x, 0)
    assert.equal(info.y, 0)
    assert.equal(info.width, W)
    assert.equal(info.height, H)
    assert.equal(info.screenWidth, W)
    assert.equal(info.screenHeight, H)
    assert.equal(info.stripeHeight, 128, 'the default JPEG stripe height')
    assert.equal(info.stripeCount, 6)
    assert.equal(info.encoder, 'jpeg')
    assert.deepEqual(info.notes, [])

    const first = await c.waitForFirstFrame()
    assert.equal(first.length, 6, 'one stripe per stripe index')
    const exp = expectedStripes(H)
    assert.deepEqual(sortedGeometry(first), exp)
    for (const s of first) {
      assert.equal(s.type, 1)
      assert.equal(s.width, W)
      assert.equal(s.isKeyFrame, true)
      assert.equal(s.isPaintOver, false)
    }

    const { image, covered } = assembleStripes(first, W, H)
    assert.ok(covered.every((v) => v === 1), 'every row covered')
    const truth = await screen()
    const db = psnr(image, truth)
    const dbNoise = psnr(image, truth, NOISE)
    t.diagnostic(`PSNR full ${db.toFixed(2)} dB, noise block ${dbNoise.toFixed(2)} dB`)
    assert.ok(db >= 35, `PSNR ${db.toFixed(2)} dB < 35`)
    assert.ok(dbNoise >= 25, `noise block PSNR ${dbNoise.toFixed(2)} dB < 25`)
    // Solid areas, away from the edges (8x8 DCT blocks straddling an edge ring a little).
    for (const s of SOLIDS) {
      assertSolid(image, { x: s.x + 8, y: s.y + 8, w: s.w - 16, h: s.h - 16 }, s.rgb, 6, `fill ${s.rgb}`)
    }
    assertSolid(image, { x: 8, y: 8, w: 24, h: 24 }, BG, 6, 'background')
    // The text line is there: bright glyph pixels in the text row, none above it. (4:2:0
    // smears the yellow's chroma over the dark background, so only luma is reliable.)
    const yellow = (img, y0, y1) => {
      let n = 0
      for (let y = y0; y < y1; y++) {
        for (let x = TEXT.x; x < TEXT.x + 6 * TEXT.text.length; x++) {
          const [r, g] = pixel(img, x, y)
          if (r > 160 && g > 160) n++
        }
      }
      return n
    }
    const lit = yellow(truth, TEXT.y, TEXT.y + 13)
    assert.ok(lit > 500, `xpaint drew the text (${lit} pixels)`)
    const got = yellow(image, TEXT.y, TEXT.y + 13)
    assert.ok(Math.abs(got - lit) < lit * 0.1, `text: ${got} bright pixels decoded, ${lit} on screen`)
    assert.equal(yellow(image, TEXT.y - 20, TEXT.y - 6), 0)
    assert.deepEqual(c.errors, [])
  })

  it('2. a small change re-sends the MCU rows that changed, cut at stripe boundaries', async () => {
    const c = collect({})
    await c.waitForFirstFrame()
    const n = c.stripes.length
    const firstId = c.stripes[0].frameId
    // Rows 200..209, inside stripe 1 (128..255): 4:2:0 bands are whole 16-row MCUs of the
    // stripe, so rows 192..223.
    await env.painter.fill(100, 200, 20, 10, 'e0c020')
    await c.waitForStripes(n + 1, 3000)
    await sleep(300)
    const next = c.since(n)
    assert.ok(next.length >= 1)
    for (const s of next) {
      assert.equal(s.stripeYStart, 192, `unexpected band y=${s.stripeYStart}`)
      assert.equal(s.stripeHeight, 32)
      assert.ok(s.frameId > firstId)
    }
    const img = decodeSized(next[next.length - 1])
    assert.equal(img.width, W)
    // A small saturated rectangle: 4:2:0 chroma bleeds a little even inside it.
    const d = assertSolid(img, { x: 104, y: 10, w: 12, h: 6 }, 'e0c020', 24, 'new rectangle')
    assert.ok(d.mean < 8, `new rectangle mean diff ${d.mean}`)
    assertSolid(img, { x: 160, y: 8, w: 100, h: 20 }, BG, 6, 'background beside it')
    assertSolid(img, { x: 40, y: 0, w: 40, h: 32 }, BG, 6, 'background left of it')

    // Rows 251..268 straddle stripes 1 and 2: one band in each, each ending at the boundary.
    const m = c.stripes.length
    await env.painter.fill(300, 251, 40, 18, '20c0e0')
    await c.waitForStripes(m + 2, 3000)
    await sleep(300)
    const bands = c.since(m).map((s) => [s.stripeYStart, s.stripeHeight])
    assert.deepEqual([...new Set(bands.map(String))].sort(), ['240,16', '256,16'])
    // What a viewer paints (every delivery in order) equals the screen.
    const { image } = canvasOfLatest(c.stripes, W, H)
    const truth = await screen(0, 0, W, H)
    const db = psnr(image, truth)
    assert.ok(db >= 35, `assembled picture PSNR ${db.toFixed(2)} dB < 35`)
    assert.deepEqual(c.errors, [])
    await env.painter.fill(100, 200, 20, 10, BG)
    await env.painter.fill(300, 251, 40, 18, BG)
  })

  it('2b. jpegTiles: a small change sends only its 128-pixel cells, at their x, with a 10-byte header', async () => {
    const c = collect({ jpegTiles: true })
    const first = await c.waitForFirstFrame()
    for (const s of first) {
      assert.equal(s.x, 0)
      assert.equal(s.width, W)
      const h = parseStripe(s.data)
      assert.deepEqual([s.data[0], s.data[1], h.x, h.regionWidth, h.stripeY, h.headerLength], [0x03, 0x01, 0, W, s.stripeYStart, 10])
    }
    const n = c.stripes.length
    // Columns 300..339, rows 200..209: cell 2 (256..383); rows 192..223 (16-row MCUs).
    await env.painter.fill(300, 200, 40, 10, 'e0c020')
    await c.waitForStripes(n + 1, 3000)
    await sleep(300)
    const tile = c.since(n)
    assert.deepEqual(
      tile.map((s) => [s.x, s.width, s.stripeYStart, s.stripeHeight]),
      [[256, 128, 192, 32]],
    )
    const h = parseStripe(tile[0].data)
    assert.deepEqual([h.x, h.regionWidth, h.stripeY], [256, W, 192])
    const img = decodeSized(tile[0])
    assertSolid(img, { x: 48, y: 10, w: 36, h: 6 }, 'e0c020', 24, 'the rectangle inside the tile')

    // A change across a cell boundary and the right edge (W = 1280 = 10 cells): cells 8 and 9.
    const m = c.stripes.length
    await env.painter.fill(1100, 420, 180, 4, '20c0e0')
    await c.waitForStripes(m + 1, 3000)
    await sleep(300)
    assert.deepEqual(
      c.since(m).map((s) => [s.x, s.width, s.stripeYStart, s.stripeHeight]),
      [[1024, 256, 416, 16]],
    )
    // What a viewer paints (every tile at its x, in order) equals the screen.
    const { image } = canvasOfLatest(c.stripes, W, H)
    const db = psnr(image, await screen())
    assert.ok(db >= 35, `assembled picture PSNR ${db.toFixed(2)} dB < 35`)
    assert.deepEqual(c.errors, [])
    await env.painter.fill(300, 200, 40, 10, BG)
    await env.painter.fill(1100, 420, 180, 4, BG)
  })

  it('3. a static screen delivers nothing after the first frame', async () => {
    const c = collect({ targetFps: 60 })
    await c.waitForFirstFrame()
    const n = c.stripes.length
    assert.equal(n, 6)
    await sleep(500)
    assert.equal(c.stripes.length, n, `got ${c.stripes.length - n} stripes from a static screen`)
    const st = c.cap.stats()
    assert.ok(st.framesCaptured >= 10, `framesCaptured ${st.framesCaptured} in ~500 ms at 60 fps`)
    assert.equal(st.stripesDelivered, n)
    assert.equal(st.framesWithChanges, 1)
    assert.equal(st.bytesDelivered, c.stripes.reduce((a, s) => a + s.size, 0))
    assert.equal(st.stripesDropped, 0)
  })

  it('4. frame ids increase; headers match the result fields; omitStripeHeaders gives bare JFIF', async () => {
    const t0 = nowMs()
    const c = collect({})
    await c.waitForFirstFrame()
    let n = c.stripes.length
    await env.painter.fill(10, 70, 30, 30, '80ff80') // rows 70..99 of stripe 0
    await c.waitForStripes(n + 1, 3000)
    await sleep(100)
    n = c.stripes.length
    await env.painter.fill(10, 330, 30, 30, 'ff80ff') // rows 330..359 of stripe 2
    await c.waitForStripes(n + 1, 3000)
    await sleep(100)
    const t1 = nowMs()

    const ids = [...c.frames().keys()]
    assert.ok(ids.length >= 3, `frames: ${ids}`)
    for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `frame ids not increasing: ${ids}`)
    const byFrame = [...c.frames().values()]
    // Bands of whole 16-row MCUs of the stripe: rows 64..111 and 320..367.
    assert.deepEqual(sortedGeometry(byFrame[1]), { ys: [64], hs: [48] })
    assert.deepEqual(sortedGeometry(byFrame[byFrame.length - 1]), { ys: [320], hs: [48] })

    for (const s of c.stripes) {
      assert.ok(Buffer.isBuffer(s.data))
      assert.equal(s.size, s.data.length)
      const h = parseStripe(s.data)
      assert.equal(s.data[0], 0x03)
      assert.equal(s.data[1], 0x00)
      assert.equal(h.kind, 'jpeg')
      assert.equal(s.type, 1)
      assert.equal(h.frameId, s.frameId & 0xffff)
      assert.equal(h.stripeY, s.stripeYStart)
      assert.equal(h.payload[0], 0xff)
      assert.equal(h.payload[1], 0xd8)
      assert.equal(h.payload[h.payload.length - 2], 0xff)
      assert.equal(h.payload[h.payload.length - 1], 0xd9)
      assert.ok(s.captureTimeMs >= t0 - 1 && s.captureTimeMs <= t1, `captureTimeMs ${s.captureTimeMs} not in [${t0}, ${t1}]`)
    }
    c.stop()

    const bare = collect({ omitStripeHeaders: true })
    const first = await bare.waitForFirstFrame()
    assert.deepEqual(sortedGeometry(first), expectedStripes(H))
    for (const s of first) {
      assert.equal(s.data[0], 0xff)
      assert.equal(s.data[1], 0xd8)
      assert.equal(s.size, s.data.length)
      const img = decodeStripe(s)
      assert.equal(img.height, s.stripeHeight)
    }
    await env.painter.fill(10, 70, 30, 30, BG)
    await env.painter.fill(10, 330, 30, 30, BG)
  })

  it('5. region capture: sub-rectangle content; oversize region clamped with a note', async () => {
    const R = { x: 96, y: 40, w: 500, h: 300 }
    const c = collect({ captureX: R.x, captureY: R.y, captureWidth: R.w, captureHeight: R.h })
    assert.equal(c.info.x, R.x)
    assert.equal(c.info.y, R.y)
    assert.equal(c.info.width, R.w)
    assert.equal(c.info.height, R.h)
    assert.equal(c.info.stripeCount, 3)
    assert.deepEqual(c.info.notes, [])
    const first = await c.waitForFirstFrame()
    assert.deepEqual(sortedGeometry(first), expectedStripes(R.h))
    for (const s of first) assert.equal(s.width, R.w)
    const { image } = assembleStripes(first, R.w, R.h)
    const truth = await screen(R.x, R.y, R.w, R.h)
    const db = psnr(image, truth)
    assert.ok(db >= 35, `region PSNR ${db.toFixed(2)} dB < 35`)
    // The red fill starts at screen (40,40) = region (-56, 0): region x 0..243 is red.
    assertSolid(image, { x: 8, y: 8, w: 220, h: 130 }, 'd02020', 6, 'red fill in region coordinates')
    c.stop()

    // Runs past the right and bottom edges: clamped to 280x120.
    const K = { x: 1000, y: 600, w: 600, h: 400 }
    const k = collect({ captureX: K.x, captureY: K.y, captureWidth: K.w, captureHeight: K.h })
    assert.equal(k.info.x, K.x)
    assert.equal(k.info.y, K.y)
    assert.equal(k.info.width, W - K.x)
    assert.equal(k.info.height, H - K.y)
    assert.equal(k.info.stripeCount, 1)
    assert.ok(k.info.notes.length >= 1, 'a note about the clamp')
    assert.match(k.info.notes.join('\n'), /clamp/i)
    const kf = await k.waitForFirstFrame()
    assert.deepEqual(sortedGeometry(kf), expectedStripes(H - K.y))
    const kimg = assembleStripes(kf, W - K.x, H - K.y).image
    const ktruth = await screen(K.x, K.y, W - K.x, H - K.y)
    const kdb = psnr(kimg, ktruth)
    assert.ok(kdb >= 35, `clamped region PSNR ${kdb.toFixed(2)} dB < 35`)
  })

  it('6. bad settings throw before anything starts', async () => {
    const { ScreenCapture } = loadAddon()
    let calls = 0
    const cb = () => calls++
    const cases = [
      [{ display: env.xvfb.display, outputMode: 0, jpegQuality: 140 }, RangeError, /jpegQuality/],
      [{ display: env.xvfb.display, outputMode: 7 }, RangeError, /outputMode/],
      [{ display: env.xvfb.display, outputMode: 0, stripeHeight: 60 }, RangeError, /stripeHeight/],
      [{ display: env.xvfb.display, outputMode: 0, captureWidth: 0 }, RangeError, /captureWidth/],
      [{ display: env.xvfb.display, outputMode: 0, targetFps: 0 }, RangeError, /targetFps/],
      [{ display: ':999', outputMode: 0 }, Error, /:999/],
    ]
    for (const [settings, type, re] of cases) {
      const cap = new ScreenCapture()
      assert.throws(
        () => cap.start(settings, cb),
        (e) => {
          assert.ok(e instanceof type, `${JSON.stringify(settings)}: ${e?.constructor?.name} is not ${type.name}`)
          assert.match(e.message, re)
          return true
        },
        JSON.stringify(settings),
      )
      assert.equal(cap.isCapturing, false)
      cap.stop() // harmless on a capture that never started
    }
    // The message names the value and the range.
    assert.throws(
      () => new ScreenCapture().start({ display: env.xvfb.display, outputMode: 0, jpegQuality: 140 }, cb),
      /140/,
    )
    // A start that failed leaves the object usable.
    const cap = new ScreenCapture()
    assert.throws(() => cap.start({ display: env.xvfb.display, outputMode: 0, jpegQuality: 140 }, cb), RangeError)
    const info = cap.start({ display: env.xvfb.display, ...JPEG, captureHeight: 64 }, cb)
    env.live.push({ stop: () => cap.stop() })
    assert.equal(info.stripeCount, 1)
    assert.equal(cap.isCapturing, true)
    await waitFor(() => calls >= 1, 3000, 'a stripe from the valid start')
    cap.stop()
    assert.equal(cap.isCapturing, false)
    assert.equal(calls, 1)
  })

  it('7. stop(): prompt, from inside the callback, twice; nothing after it returns', async () => {
    const anim = await openPainter(env.xvfb.display)
    const playing = anim.play(60, 'bounce', 0)
    try {
      // a) while stripes are flowing
      const c = collect({ targetFps: 60 })
      await c.waitForStripes(40, 5000)
      assert.equal(c.cap.isCapturing, true)
      const t0 = performance.now()
      c.cap.stop()
      const dt = performance.now() - t0
      assert.ok(dt < 500, `stop() took ${dt.toFixed(0)} ms`)
      assert.equal(c.cap.isCapturing, false)
      const n = c.stripes.length
      await sleep(300)
      assert.equal(c.stripes.length, n, 'callbacks after stop() returned')
      c.cap.stop()
      assert.equal(c.cap.isCapturing, false)

      // b) from inside the callback, with more stripes of the same frame still queued
      let nAtStop = -1
      let stopErr = null
      const d = collect(
        { targetFps: 60 },
        {
          onStripe: (s, col) => {
            if (col.stripes.length === 3) {
              try {
                col.cap.stop()
              } catch (e) {
                stopErr = e
              }
              nAtStop = col.stripes.length
            }
          },
        },
      )
      await waitFor(() => nAtStop >= 0, 5000, 'stop() from the callback')
      assert.equal(stopErr, null)
      assert.equal(d.cap.isCapturing, false)
      await sleep(300)
      assert.equal(d.stripes.length, nAtStop, 'callbacks after stop() returned inside the callback')
      d.cap.stop()

      // c) stop() on a capture that never started
      const { ScreenCapture } = loadAddon()
      const e = new ScreenCapture()
      e.stop()
      e.stop()
      assert.equal(e.isCapturing, false)
    } finally {
      anim.stopPlay()
      await playing.catch(() => {})
      await anim.close()
      await drawScene(env.painter)
    }
  })

  it('8. lifetime: stop() lets the process exit, unref() too, a running capture keeps it alive', async () => {
    const fixture = join(repoRoot, '__test__', 'fixtures', 'lifetime.mjs')
    const run = (mode) => {
      const child = spawn(process.execPath, [fixture, mode], {
        env: { ...process.env, DISPLAY: env.xvfb.display },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const r = { child, mode, out: '', err: '', exit: null, t0: performance.now() }
      child.stdout.on('data', (b) => (r.out += b))
      child.stderr.on('data', (b) => (r.err += b))
      r.exited = new Promise((res) =>
        child.once('exit', (code, signal) => {
          r.exit = { code, signal, ms: performance.now() - r.t0 }
          res(r.exit)
        }),
      )
      return r
    }
    const kids = ['stop-after-stripes', 'unref', 'running', 'unref-ref'].map(run)
    try {
      const [stopper, unref, running, reref] = kids
      const within = (r, ms) =>
        Promise.race([r.exited, sleep(ms).then(() => null)]).then((e) => {
          assert.ok(e, `'${r.mode}' child still running after ${ms} ms; stdout: ${r.out} stderr: ${r.err}`)
          return e
        })
      const e1 = await within(stopper, 8000)
      assert.equal(e1.code, 0, `stderr: ${stopper.err}`)
      assert.match(stopper.out, /stripes 3/)
      const e2 = await within(unref, 8000)
      assert.equal(e2.code, 0, `stderr: ${unref.err}`)
      assert.match(unref.out, /started/)

      const wait = 1500 - (performance.now() - running.t0)
      if (wait > 0) await sleep(wait)
      assert.equal(running.exit, null, `capture without stop/unref exited: ${JSON.stringify(running.exit)} ${running.err}`)
      assert.match(running.out, /started/)
      assert.equal(reref.exit, null, `capture after unref()+ref() exited: ${JSON.stringify(reref.exit)} ${reref.err}`)
    } finally {
      for (const r of kids) {
        if (r.exit === null) r.child.kill('SIGKILL')
      }
      await Promise.all(kids.map((r) => r.exited))
    }
  })

  it('9. two captures of two regions at once both deliver correct content', async () => {
    const A = { x: 0, y: 0, w: 640, h: 360 }
    const B = { x: 640, y: 360, w: 640, h: 360 }
    const a = collect({ captureX: A.x, captureY: A.y, captureWidth: A.w, captureHeight: A.h })
    const b = collect({ captureX: B.x, captureY: B.y, captureWidth: B.w, captureHeight: B.h })
    const [fa, fb] = await Promise.all([a.waitForFirstFrame(), b.waitForFirstFrame()])
    for (const [f, R, name] of [
      [fa, A, 'A'],
      [fb, B, 'B'],
    ]) {
      assert.deepEqual(sortedGeometry(f), expectedStripes(R.h), name)
      const { image } = assembleStripes(f, R.w, R.h)
      const truth = await screen(R.x, R.y, R.w, R.h)
      const db = psnr(image, truth)
      assert.ok(db >= 35, `region ${name} PSNR ${db.toFixed(2)} dB < 35`)
    }
    // A change inside A only reaches A.
    const na = a.stripes.length
    const nb = b.stripes.length
    await env.painter.fill(200, 100, 30, 20, '00ffff') // rows 100..119 of A's stripe 0 (0..127)
    await a.waitForStripes(na + 1, 3000)
    await sleep(300)
    assert.deepEqual([...new Set(a.since(na).map((s) => s.stripeYStart))], [96])
    assert.equal(b.stripes.length, nb, 'B saw a change outside its region')
    const img = decodeStripe(a.stripes[a.stripes.length - 1])
    assertSolid(img, { x: 204, y: 8, w: 22, h: 12 }, '00ffff', 24, 'change in A')
    await env.painter.fill(200, 100, 30, 20, 'd02020')
  })

  it('10. requestKeyframe() on a static screen re-sends every stripe', async () => {
    const c = collect({})
    const first = await c.waitForFirstFrame()
    await sleep(300)
    const n = c.stripes.length
    assert.equal(n, first.length, 'static screen sent more stripes')
    c.cap.requestKeyframe()
    await c.waitForStripes(n + c.info.stripeCount, 3000)
    await sleep(200)
    const again = c.since(n)
    assert.equal(again.length, c.info.stripeCount)
    assert.equal(new Set(again.map((s) => s.frameId)).size, 1, 'one frame')
    assert.ok(again[0].frameId > first[0].frameId)
    assert.deepEqual(sortedGeometry(again), expectedStripes(H))
    for (const s of again) assert.equal(s.isKeyFrame, true)
    const { image } = assembleStripes(again, W, H)
    const truth = await screen()
    const db = psnr(image, truth)
    assert.ok(db >= 35, `refresh PSNR ${db.toFixed(2)} dB < 35`)
  })
})
