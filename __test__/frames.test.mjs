// Captures fed by the application (ScreenCapture.fromFrames + pushFrame): no X server at all.
// The pushed pictures are known, so what the stripes decode to is compared with them.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { loadAddon, sleep, waitFor } from './helpers/capture.mjs'
import { decodeSized, decodeJpeg, assemble, psnr, parseStripe } from './helpers/frames.mjs'
import { annexB, decodeH264 } from './helpers/h264.mjs'

const { ScreenCapture } = loadAddon()
const W = 320
const H = 240

/** A BGRA frame: smooth colour ramps, with a square of `square` colour (BGR) at (sx, sy). */
function picture({ square = [40, 200, 90], sx = 100, sy = 96, stride = W * 4 } = {}) {
  const data = Buffer.alloc(stride * H)
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = y * stride + x * 4
      const inSquare = x >= sx && x < sx + 40 && y >= sy && y < sy + 40
      const [b, g, r] = inSquare ? square : [(x * 255) / W, (y * 255) / H, 128]
      data[i] = b
      data[i + 1] = g
      data[i + 2] = r
      data[i + 3] = 255
    }
  }
  return data
}

const asImage = (bgra) => ({ width: W, height: H, format: 'bgrx', data: bgra })

/** Starts a frames capture that records its stripes, after pushing `first` (the capture's
 * first picture is the latest frame pushed: black without one). */
function collect(settings, first) {
  const cap = ScreenCapture.fromFrames({ width: W, height: H })
  if (first) assert.equal(cap.pushFrame(first), true, 'a push before start() is taken')
  const stripes = []
  const errors = []
  const info = cap.start({ captureCursor: false, ...settings }, (s) => stripes.push(s), (e) => errors.push(e))
  return { cap, stripes, errors, info }
}

/** The viewer's canvas after every JPEG stripe so far, painted in order. */
function canvas(stripes) {
  return assemble(stripes.map((s) => ({ x: s.x ?? 0, y: s.stripeYStart, image: decodeSized(s) })), W, H).image
}

test('frames from JS: JPEG stripes decode to the pushed picture; a small change sends only its stripe', async () => {
  const first = picture()
  const c = collect({ outputMode: 'jpeg', jpegQuality: 90, stripeHeight: 48, usePaintOverQuality: false }, first)
  try {
    assert.equal(c.info.display, 'frames')
    assert.equal(c.cap.streamInfo().capture, 'frames')
    await waitFor(() => new Set(c.stripes.map((s) => s.stripeYStart)).size === 5, 5000, 'the five stripes of the first frame')
    const p1 = psnr(canvas(c.stripes), asImage(first))
    assert.ok(p1 >= 35, `first picture at ${p1.toFixed(2)} dB`)

    // The square moves down 4 rows inside stripe 2 (rows 96..144): with and without dirty rects.
    for (const dirty of [[{ x: 100, y: 96, width: 40, height: 44 }], undefined]) {
      await sleep(100)
      const before = c.stripes.length
      const sy = dirty ? 100 : 96
      const next = picture({ sy, square: dirty ? [200, 40, 40] : [40, 200, 90] })
      assert.equal(c.cap.pushFrame(next, { dirty }), true)
      await waitFor(() => c.stripes.length > before, 5000, 'the changed stripe')
      await sleep(150)
      const sent = c.stripes.slice(before)
      for (const s of sent) {
        assert.ok(s.stripeYStart >= 96 && s.stripeYStart + s.stripeHeight <= 144, `only rows 96..144 go out, got ${s.stripeYStart}+${s.stripeHeight}`)
      }
      const p = psnr(canvas(c.stripes), asImage(next))
      assert.ok(p >= 35, `after the change: ${p.toFixed(2)} dB`)
    }
    assert.deepEqual(c.errors, [])
    const st = c.cap.stats()
    assert.equal(st.framesPushed, 3)
    assert.equal(st.pushesRefused, 0)
  } finally {
    c.cap.stop()
  }
})

test('frames from JS: H.264 full-frame decodes to the pushed pictures (RGBA ImageData and padded BGRA)', async () => {
  // A canvas ImageData: RGBA in a Uint8ClampedArray, pushed before start().
  const bgra = picture()
  const rgba = new Uint8ClampedArray(bgra.length)
  for (let i = 0; i < bgra.length; i += 4) {
    rgba[i] = bgra[i + 2]
    rgba[i + 1] = bgra[i + 1]
    rgba[i + 2] = bgra[i]
    rgba[i + 3] = 255
  }
  const cap = ScreenCapture.fromFrames({ width: W, height: H })
  assert.equal(cap.pushFrame(rgba, { format: 'rgba' }), true)
  const c = { cap, stripes: [] }
  cap.start({ outputMode: 'h264', h264Fullframe: true, h264Crf: 18, usePaintOverQuality: false, captureCursor: false }, (s) => c.stripes.push(s))
  try {
    await waitFor(() => c.stripes.length >= 1, 5000, 'the first access unit')
    await sleep(200)
    // Electron's bitmaps may have padded rows.
    const stride = W * 4 + 64
    const moved = picture({ sx: 180, stride })
    assert.equal(c.cap.pushFrame(moved, { stride }), true)
    await waitFor(() => c.stripes.length >= 2, 5000, 'the second access unit')
    await sleep(200)
    const { count, frames } = await decodeH264(annexB(c.stripes), W, H, { all: true })
    assert.ok(count >= 2, `decoded ${count} pictures`)
    const p0 = psnr(frames[0], asImage(bgra))
    const unpadded = picture({ sx: 180 })
    const p1 = psnr(frames[count - 1], asImage(unpadded))
    assert.ok(p0 >= 35 && p1 >= 35, `first ${p0.toFixed(2)} dB, last ${p1.toFixed(2)} dB`)
    assert.equal(parseStripe(c.stripes[0].data).isIdr, true)
  } finally {
    c.cap.stop()
  }
})

test('frames from JS: a bad frame throws a RangeError naming what was expected, and the capture goes on', async () => {
  const c = collect({ outputMode: 'jpeg', stripeHeight: 48 })
  try {
    const good = picture()
    const bad = [
      [() => c.cap.pushFrame(good.subarray(0, 1000)), /pushFrame: data has 1000 bytes; a 320x240 frame with stride 1280 needs 307200/],
      [() => c.cap.pushFrame(good, { stride: 100 }), /pushFrame: stride 100 is less than width x 4 = 1280 bytes/],
      [() => c.cap.pushFrame(good, { format: 'argb' }), /pushFrame: format must be 'bgra', 'bgrx' or 'rgba', got 'argb'/],
      [() => c.cap.pushFrame(good, { dirty: [{ x: 300, y: 0, width: 40, height: 10 }] }), /pushFrame: dirty rectangle 300,0 40x10 does not lie within the 320x240 frame/],
    ]
    for (const [push, message] of bad) {
      assert.throws(push, (e) => e instanceof RangeError && e.code === 'ERR_INVALID_ARG' && message.test(e.message))
    }
    assert.throws(() => c.cap.pushFrame('not bytes'), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG' && /pushFrame: data must be a Buffer, Uint8Array or Uint8ClampedArray, got string "not bytes"/.test(e.message))
    assert.equal(c.cap.stats().framesPushed, 0)
    assert.equal(c.cap.pushFrame(good), true)
    await waitFor(() => c.stripes.length >= 5, 5000, 'stripes after the bad frames')
    assert.ok(c.cap.isCapturing)
  } finally {
    c.cap.stop()
  }
  // Wrong kinds of capture and settings.
  assert.throws(() => new ScreenCapture().pushFrame(picture()), (e) => e.code === 'ERR_NOT_FRAMES')
  for (const size of [{ width: 0, height: 10 }, { width: 10, height: 20000 }]) {
    assert.throws(() => ScreenCapture.fromFrames(size), (e) => e instanceof RangeError && /fromFrames: (width|height) must be 1..=16384/.test(e.message))
  }
  const f = ScreenCapture.fromFrames({ width: W, height: H })
  assert.throws(() => f.start({ display: ':0' }, () => {}), (e) => e.code === 'ERR_INVALID_SETTING' && e.setting === 'display')
  assert.throws(() => f.start({ captureX: 400 }, () => {}), (e) => e.code === 'ERR_INVALID_SETTING' && e.setting === 'captureX')
})

test('frames from JS: while the consumer is behind, pushes return false and are not copied; what they changed goes out later', async () => {
  const cap = ScreenCapture.fromFrames({ width: W, height: H })
  assert.equal(cap.pushFrame(picture()), true)
  const stripes = []
  let release = null
  cap.start({ outputMode: 'jpeg', stripeHeight: 240, maxQueuedStripes: 1, usePaintOverQuality: false, captureCursor: false }, (s) => {
    stripes.push(s)
    // The first stripe's callback does not settle until released: one stripe queued.
    if (stripes.length === 1) return new Promise((r) => (release = r))
  })
  try {
    await waitFor(() => release, 5000, 'the first stripe')
    const results = []
    for (let i = 0; i < 20; i++) {
      results.push(cap.pushFrame(picture({ sy: 20 + i }), { dirty: [{ x: 100, y: 20, width: 40, height: 180 }] }))
      await sleep(5)
    }
    assert.ok(results.every((r) => r === false), `pushes while behind: ${results}`)
    assert.equal(cap.stats().pushesRefused, 20)
    release()
    await sleep(50)
    // The next accepted frame changed only its own rows, but the refused frames' rows go with it.
    const last = picture({ sy: 150 })
    assert.equal(cap.pushFrame(last, { dirty: [{ x: 100, y: 150, width: 40, height: 40 }] }), true)
    await waitFor(() => stripes.length >= 2, 5000, 'the stripe after the release')
    await sleep(150)
    const p = psnr(canvas(stripes), asImage(last))
    assert.ok(p >= 35, `after catching up: ${p.toFixed(2)} dB`)
  } finally {
    cap.stop()
  }
})

test('frames from JS: examples/frames-from-js.mjs serves what it renders to a WebSocket viewer', async () => {
  const { startFramesDemo, render, WIDTH, HEIGHT } = await import('../examples/frames-from-js.mjs')
  const { default: WebSocket } = await import('ws')
  const demo = await startFramesDemo({ port: 0, fps: 30 })
  const ws = new WebSocket(demo.url.replace(/^http/, 'ws').replace(/\/(\?|$)/, '/ws$1'))
  const messages = []
  try {
    ws.on('message', (data, binary) => binary && messages.push(Buffer.from(data)))
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject))
    await waitFor(() => messages.length >= 10, 10000, 'stripes from the example')
    await sleep(300)
    // Paint every JPEG (tiles carry their x) in arrival order, as the page does.
    const parts = messages
      .map(parseStripe)
      .filter((m) => m.kind === 'jpeg')
      .map((m) => ({ x: m.x, y: m.stripeY, image: decodeJpeg(m.payload) }))
    assert.ok(parts.length >= 10, `${parts.length} JPEG messages`)
    const shown = assemble(parts, WIDTH, HEIGHT).image
    // Above the moving block the picture is still: it must match the first rendered picture.
    const truth = Buffer.alloc(WIDTH * HEIGHT * 4)
    render(truth, 0)
    const p = psnr(shown, { width: WIDTH, height: HEIGHT, format: 'bgrx', data: truth }, { x: 0, y: 0, w: WIDTH, h: 290 })
    assert.ok(p >= 35, `still part of the served picture: ${p.toFixed(2)} dB`)
  } finally {
    ws.close()
    await demo.close()
  }
})
