// End to end in a real browser: X screen -> stripecast -> examples/screen-to-browser (ws) ->
// headless Chromium running client/stripecast-client.js -> canvas pixels, compared with what
// the X server holds. Needs the Debian package `chromium` (/usr/bin/chromium) and
// playwright-core; without them these tests FAIL (they do not skip).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { request } from 'node:http'
import { readFileSync } from 'node:fs'
import WebSocket from 'ws'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { bgrxImage, psnr } from './helpers/frames.mjs'
import { requireChromium, launchChromium, waitForPicture, readCanvas, waitForPixel, pageState } from './helpers/browser.mjs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { createHub } from '../examples/screen-to-browser/viewers.mjs'
import { startSocketIoServer } from '../examples/socketio/server.mjs'
import { parseStripeHeader, avcCodecFromAnnexB, connect, createStripeClient } from '../client/stripecast-client.js'

const W = 640
const H = 360
const MIN_PSNR = 35

let xvfb
let painter
let browser
const servers = []

/** A smooth gradient (BGRX), like a photo or a UI shadow rather than noise. */
function gradient(w, h) {
  const b = Buffer.alloc(w * h * 4)
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4
      b[i] = (x * 255) / w
      b[i + 1] = (y * 255) / h
      b[i + 2] = 128 + 100 * Math.sin((x + y) / 40)
    }
  }
  return b
}

async function drawScene(p) {
  await p.fill(0, 0, W, H, 'e8e8ec') // a light desktop
  await p.fill(0, 0, W, 24, '304060') // a title bar
  await p.text(8, 6, 'ffffff', 'stripecast browser test - title bar')
  await p.image(360, 60, 240, 160, gradient(240, 160))
  await p.fill(40, 60, 280, 150, 'ffffff') // a document
  for (let i = 0; i < 8; i++) await p.text(48, 70 + i * 16, '202020', `${i}: The quick brown fox jumps over the dog`)
  await p.fill(40, 240, 120, 80, 'd03030')
  await p.fill(180, 240, 120, 80, '30a050')
  await p.fill(320, 240, 120, 80, '3050d0')
}

async function screen() {
  return bgrxImage(await painter.dump(0, 0, W, H), W, H)
}

async function serve(opts) {
  const srv = await startServer({
    display: xvfb.display,
    port: 0,
    cursor: false, // xpaint dump (core GetImage) has no cursor in it
    capture: { usePaintOverQuality: false }, // measure the stated quality, not the paint-over
    idleStopMs: 0,
    ...opts,
  })
  servers.push(srv)
  return srv
}

async function assertMatches(page, label) {
  await waitForPicture(page, { width: W, height: H })
  const [shown, truth] = [await readCanvas(page), await screen()]
  const db = psnr(shown, truth)
  const state = await pageState(page)
  assert.equal(state.stats.decodeErrors, 0, `${label}: decode errors: ${JSON.stringify(state)}`)
  assert.ok(db >= MIN_PSNR, `${label}: canvas vs screen PSNR ${db.toFixed(2)} dB < ${MIN_PSNR} dB (${JSON.stringify(state)})`)
  return db
}

/** Picture, a change on the X screen, a late second viewer: all must match the screen. */
/**
 * Feeds every message the page receives to a second client on a canvas of its own, which
 * gets no size hint (it must size itself from the stripes), asks for a key frame and checks
 * that the two canvases end up identical.
 */
async function checkShadowClient(page, label) {
  await page.evaluate(async () => {
    const { createStripeClient } = await import('./stripecast-client.js')
    const sc = window.stripecast
    const shadow = createStripeClient({ canvas: document.createElement('canvas'), onNeedKeyframe: () => sc.client.requestKeyframe() })
    const feed = sc.client.handleMessage
    sc.client.handleMessage = (d) => (feed(d), shadow.handleMessage(d))
    window.shadow = shadow
    sc.client.requestKeyframe()
  })
  await page.waitForFunction(
    ({ w, h }) => {
      const c = window.shadow.canvas
      return c.width === w && c.height === h && performance.now() - window.shadow.stats.lastDrawTime > 300
    },
    { w: W, h: H },
    { timeout: 10000, polling: 50 },
  )
  const diff = await page.evaluate(() => {
    const a = window.stripecast.client.canvas
    const b = window.shadow.canvas
    const da = a.getContext('2d').getImageData(0, 0, a.width, a.height).data
    const db = b.getContext('2d').getImageData(0, 0, b.width, b.height).data
    let n = 0
    for (let i = 0; i < da.length; i++) if (Math.abs(da[i] - db[i]) > 2) n++
    return { n, errors: window.shadow.stats.decodeErrors }
  })
  assert.deepEqual(diff, { n: 0, errors: 0 }, `${label}: a client sizing itself from the stripes shows the same picture`)
}

async function endToEnd(opts, label, { decoders = 0, codec = /^$/, start = serve, shadow = false, tiles = false } = {}) {
  await drawScene(painter)
  const srv = await start(opts)
  const page = await browser.open(srv.url)
  try {
    const first = await assertMatches(page, `${label} first picture`)
    const st = await pageState(page)
    assert.equal(st.stats.decoders, decoders, `${label}: H.264 decoders in the page`)
    assert.match(st.stats.codec, codec, `${label}: H.264 codec configured`)
    if (shadow) await checkShadowClient(page, label)

    // change a region: the canvas follows
    await painter.fill(200, 100, 160, 90, '90b8e0') // a selection-blue box
    await painter.text(210, 140, '000000', 'changed!')
    await waitForPixel(page, 205, 105, '90b8e0', { timeoutMs: 5000 }).catch(async (e) => {
      throw new Error(`${label}: the canvas did not follow a change on screen: ${e.message} ${JSON.stringify(await pageState(page))}`)
    })
    const changed = await assertMatches(page, `${label} after a change`)
    const { stats } = await pageState(page)
    assert.equal(stats.jpegTiles > 0, tiles, `${label}: ${stats.jpegTiles} of ${stats.jpegStripes} JPEG stripes were tiles`)

    // a second viewer joining late gets the whole picture at once
    const late = await browser.open(srv.url)
    try {
      const lateDb = await assertMatches(late, `${label} late viewer`)
      assert.equal(srv.hub.stats().captureStarts, 1, 'one shared capture for all viewers')
      assert.deepEqual(page.errors.concat(late.errors), [], `${label}: page errors`)
      return { first, changed, late: lateDb }
    } finally {
      await late.close()
    }
  } finally {
    await page.close()
    await srv.close()
  }
}

/** GET with a raw, unnormalised path (fetch() would resolve '..' and '%2e%2e' first). */
function rawGet(port, path, headers = {}) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (body += d))
      res.on('end', () => resolve({ status: res.statusCode, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** Resolves with the HTTP status the WebSocket upgrade got (101 when it opened). */
function wsStatus(url, headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers })
    ws.on('open', () => {
      ws.close()
      resolve(101)
    })
    ws.on('unexpected-response', (_req, res) => {
      resolve(res.statusCode)
      res.resume()
      ws.terminate()
    })
    ws.on('error', () => resolve(-1))
  })
}

describe('browser end-to-end (headless Chromium)', { timeout: 90000 }, () => {
  before(async () => {
    await requireChromium() // a clear failure when the Debian package `chromium` is missing
    xvfb = await startXvfb({ width: W, height: H })
    painter = await openPainter(xvfb.display)
    browser = await launchChromium()
  })

  after(async () => {
    for (const s of servers) await s.close().catch(() => {})
    await browser?.close().catch(() => {})
    await painter?.close().catch(() => {})
    await xvfb?.stop()
  })

  it('JPEG q75 (tiles): the canvas shows the screen, follows changes, a late viewer gets it all', async (t) => {
    const r = await endToEnd({ codec: 'jpeg', quality: 75, fps: 60 }, 'JPEG q75', { shadow: true, tiles: true })
    t.diagnostic(`PSNR dB: first ${r.first.toFixed(1)}, after change ${r.changed.toFixed(1)}, late viewer ${r.late.toFixed(1)}`)
  })

  it("JPEG q75 without tiles (pixelflux's wire format): same", async (t) => {
    const r = await endToEnd({ codec: 'jpeg', quality: 75, fps: 60, tiles: false }, 'JPEG q75 no tiles')
    t.diagnostic(`PSNR dB: first ${r.first.toFixed(1)}, after change ${r.changed.toFixed(1)}, late viewer ${r.late.toFixed(1)}`)
  })

  it('H.264 crf 23 striped (one decoder per stripe): same', async (t) => {
    // 128-row stripes: three streams at this height (the default would make it one).
    const capture = { usePaintOverQuality: false, stripeHeight: 128 }
    const r = await endToEnd({ codec: 'h264', crf: 23, fullframe: false, fps: 60, capture }, 'H.264 striped', { decoders: Math.ceil(H / 128), codec: /^avc1\.42/, shadow: true })
    t.diagnostic(`PSNR dB: first ${r.first.toFixed(1)}, after change ${r.changed.toFixed(1)}, late viewer ${r.late.toFixed(1)}`)
  })

  it('H.264 crf 23 full-frame: same', async (t) => {
    const r = await endToEnd({ codec: 'h264', crf: 23, fullframe: true, fps: 60 }, 'H.264 full-frame', { decoders: 1, codec: /^avc1\.42/ })
    t.diagnostic(`PSNR dB: first ${r.first.toFixed(1)}, after change ${r.changed.toFixed(1)}, late viewer ${r.late.toFixed(1)}`)
  })

  it('socket.io example (H.264 4:4:4 full-frame over binary events): same', async (t) => {
    const r = await endToEnd({ codec: 'h264', crf: 23, fps: 60, fullcolor: true }, 'socket.io 4:4:4', {
      decoders: 1,
      codec: /^avc1\.F4/, // High 4:4:4 Predictive
      start: async (opts) => {
        const srv = await startSocketIoServer({ display: xvfb.display, port: 0, cursor: false, capture: { usePaintOverQuality: false }, idleStopMs: 0, ...opts })
        servers.push(srv)
        return srv
      },
    })
    t.diagnostic(`PSNR dB: first ${r.first.toFixed(1)}, after change ${r.changed.toFixed(1)}, late viewer ${r.late.toFixed(1)}`)
  })

  it('the client asks for a key frame when a delta comes first, and reports garbage', async () => {
    const srv = await serve({ codec: 'jpeg' })
    const page = await browser.open(srv.url)
    try {
      const r = await page.evaluate(async () => {
        const { createStripeClient } = await import('./stripecast-client.js')
        const errors = []
        let asked = 0
        const c = createStripeClient({ canvas: new OffscreenCanvas(1, 1), onError: (e) => errors.push(e.message), onNeedKeyframe: () => asked++ })
        // an H.264 delta (kind 0) for stripe y=64 of a 640x64 stream, before any IDR
        c.handleMessage(new Uint8Array([4, 0, 0, 7, 0, 64, 2, 128, 0, 64, 0, 0, 0, 1, 0x41, 0x9a]).buffer)
        c.handleMessage(new Uint8Array([9, 9, 9]).buffer)
        c.handleMessage(new Uint8Array([3, 0, 0, 1, 0, 0, 1, 2, 3]).buffer) // a broken JPEG
        await new Promise((r) => setTimeout(r, 200))
        return { asked, errors, stats: c.stats }
      })
      assert.equal(r.asked, 1, 'one key frame request')
      assert.equal(r.stats.droppedDeltas, 1)
      assert.equal(r.errors.length, 2, `garbage and the broken JPEG are reported: ${r.errors}`)
      assert.match(r.errors[0], /not a stripe message/)
      assert.match(r.errors[1], /JPEG stripe at y=0/)
    } finally {
      await page.close()
    }
  })

  it('a token, when set, is required on the page, the module and the WebSocket', async () => {
    await drawScene(painter)
    const token = 'open sesame/42'
    const srv = await serve({ codec: 'jpeg', token })
    const q = `?token=${encodeURIComponent(token)}`
    const ws = `ws://127.0.0.1:${srv.port}/ws`
    assert.equal((await rawGet(srv.port, '/')).status, 401)
    assert.equal((await rawGet(srv.port, '/?token=wrong')).status, 401)
    assert.equal((await rawGet(srv.port, '/stripecast-client.js')).status, 401)
    assert.equal((await rawGet(srv.port, `/stripecast-client.js${q}`)).status, 200)
    assert.equal(await wsStatus(ws), 401)
    assert.equal(await wsStatus(`${ws}?token=nope`), 401)
    assert.equal(await wsStatus(`${ws}${q}`), 101)
    // a page on another origin must not be able to watch (cross-site WebSocket hijacking)
    assert.equal(await wsStatus(`${ws}${q}`, { Origin: 'http://evil.example' }), 403)
    assert.ok(srv.url.endsWith(q), `printed URL carries the token: ${srv.url}`)
    const page = await browser.open(srv.url)
    try {
      await assertMatches(page, 'with token')
    } finally {
      await page.close()
    }
  })

  it('serves only its own files: traversal and foreign Host headers are refused', async () => {
    const srv = await serve({ codec: 'jpeg' })
    const attempts = [
      '/..%2fpackage.json',
      '/..%2f..%2fpackage.json',
      '/%2e%2e/package.json',
      '/%2e%2e%2fpackage.json',
      '/../package.json',
      '/../../package.json',
      '/stripecast-client.js/..%2f..%2f..%2fpackage.json',
      '/client/../package.json',
      '/..%5cpackage.json',
      '/%252e%252e%252fpackage.json',
      '/index.html%00.js',
      '/package.json',
      '/server.mjs',
      '/viewers.mjs',
      '/etc/passwd',
      '//etc/passwd',
    ]
    for (const path of attempts) {
      const r = await rawGet(srv.port, path)
      assert.ok([400, 403, 404].includes(r.status), `${path}: status ${r.status}`)
      assert.ok(!/"name"|root:|import /.test(r.body), `${path}: leaked ${r.body.slice(0, 80)}`)
    }
    assert.equal((await rawGet(srv.port, '/')).status, 200)
    assert.equal((await rawGet(srv.port, '/stripecast-client.js')).status, 200)
    // bound to loopback, a foreign Host header is DNS rebinding
    assert.equal((await rawGet(srv.port, '/', { Host: `evil.example:${srv.port}` })).status, 403)
    assert.equal(await wsStatus(`ws://127.0.0.1:${srv.port}/ws`, { Host: 'evil.example' }), 403)
    assert.equal(await wsStatus(`ws://127.0.0.1:${srv.port}/other`), 404)
  })
})

describe('client module in Node (no browser)', () => {
  it('a copy before any picture, or reaching outside the canvas, is ignored, counted, and asks for a key frame', async () => {
    const drawn = []
    const ctx = { drawImage: (...a) => drawn.push(a) }
    const canvas = { width: 640, height: 480, getContext: () => ctx }
    const errors = []
    let keyframes = 0
    const client = createStripeClient({ canvas, onError: (e) => errors.push(e.message), onNeedKeyframe: () => keyframes++ })
    const copy = (x, y, w, h, toX, toY) => new Uint8Array([5, 0, 0, 9, ...[x, y, w, h, toX, toY].flatMap((v) => [v >> 8, v & 255])])
    client.handleMessage(copy(0, 8, 640, 400, 0, 0))
    await new Promise((r) => setTimeout(r, 20))
    assert.equal(client.stats.badCopies, 1)
    assert.match(errors[0], /no picture yet/)
    assert.equal(keyframes, 1)
    // With a picture drawn (as far as the client knows): outside the canvas is refused, inside applied.
    client.stats.stripesDrawn = 1
    client.handleMessage(copy(0, 100, 640, 400, 0, 0))
    client.handleMessage(copy(0, 8, 640, 400, 0, 0))
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(client.stats.badCopies, 2)
    assert.match(errors[1], /outside the 640x480 canvas/)
    assert.deepEqual(drawn, [[canvas, 0, 8, 640, 400, 0, 0, 640, 400]])
    assert.equal(client.stats.copies, 1)
    client.close()
  })

  it('parses every header the Rust writer writes (fixture written and checked by crates/core/src/wire.rs)', () => {
    const cases = JSON.parse(readFileSync(new URL('./fixtures/wire-headers.json', import.meta.url), 'utf8'))
    assert.ok(cases.length >= 5, `${cases.length} cases`)
    for (const { bytes, header } of cases) {
      const parsed = parseStripeHeader(new Uint8Array([...bytes, 0xff, 0xd8]))
      assert.deepEqual([...parsed.payload], [0xff, 0xd8], `payload after ${JSON.stringify(bytes)}`)
      delete parsed.payload
      assert.deepEqual(parsed, header, `header ${JSON.stringify(bytes)}`)
    }
  })

  it('parses the three headers and derives the avc1 codec from the SPS', () => {
    const j = parseStripeHeader(new Uint8Array([3, 0, 0x12, 0x34, 0x01, 0x40, 0xff, 0xd8]))
    assert.deepEqual({ ...j, payload: [...j.payload] }, { kind: 'jpeg', frameId: 0x1234, x: 0, y: 320, regionWidth: null, payload: [0xff, 0xd8] })
    const t = parseStripeHeader(new Uint8Array([3, 1, 0x12, 0x34, 0x01, 0x40, 0x07, 0x00, 0x07, 0x80, 0xff, 0xd8]))
    assert.deepEqual({ ...t, payload: [...t.payload] }, { kind: 'jpeg', frameId: 0x1234, x: 1792, y: 320, regionWidth: 1920, payload: [0xff, 0xd8] })
    assert.throws(() => parseStripeHeader(new Uint8Array([3, 1, 0, 0, 0, 0, 0, 0, 0])), /not a stripe message/)
    const h = parseStripeHeader(new Uint8Array([4, 1, 0, 5, 0, 64, 2, 128, 0, 40, 0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f]))
    assert.equal(h.kind, 'h264')
    assert.equal(h.key, true)
    assert.deepEqual([h.frameId, h.y, h.width, h.height], [5, 64, 640, 40])
    assert.equal(avcCodecFromAnnexB(h.payload), 'avc1.42C01F')
    // 4:4:4 (High 4:4:4 Predictive), SPS after an AUD with a 3-byte start code
    assert.equal(avcCodecFromAnnexB(new Uint8Array([0, 0, 1, 9, 0xf0, 0, 0, 0, 1, 0x67, 0xf4, 0x00, 0x28, 0x91])), 'avc1.F40028')
    assert.equal(avcCodecFromAnnexB(new Uint8Array([0, 0, 0, 1, 0x41, 0x9a])), null)
    assert.throws(() => parseStripeHeader(new Uint8Array([4, 7, 0])), /not a stripe message/)
  })

  it('connect() feeds binary messages, sends keyframe requests and reconnects with backoff', async () => {
    const { WebSocketServer } = await import('ws')
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
    await new Promise((r) => wss.once('listening', r))
    const got = []
    const texts = []
    const closes = []
    let resets = 0
    let keyframeListener = null
    const fakeClient = {
      handleMessage: (d) => got.push(d),
      reset: () => resets++,
      onNeedKeyframe: (fn) => ((keyframeListener = fn), () => (keyframeListener = null)),
    }
    const received = []
    let conns = 0
    wss.on('connection', (ws) => {
      conns++
      ws.on('message', (m, bin) => received.push(bin ? 'binary' : m.toString()))
      ws.send(Buffer.from([3, 0, 0, conns, 0, 0]))
      ws.send(`hello ${conns}`)
      if (conns === 1) setTimeout(() => ws.terminate(), 50) // the first connection drops
    })
    const link = connect(`ws://127.0.0.1:${wss.address().port}/`, fakeClient, {
      WebSocket,
      backoff: { initialMs: 50, maxMs: 200 },
      onText: (t) => texts.push(t),
      onClose: (_ev, retry) => closes.push(retry),
    })
    try {
      const deadline = Date.now() + 5000
      while (conns < 2 || texts.length < 2) {
        if (Date.now() > deadline) throw new Error(`no reconnect: conns ${conns}, texts ${texts}`)
        await new Promise((r) => setTimeout(r, 10))
      }
      assert.deepEqual(texts, ['hello 1', 'hello 2'])
      assert.equal(got.length, 2)
      assert.ok(got[0] instanceof ArrayBuffer, 'binary messages arrive as ArrayBuffers')
      assert.equal(new Uint8Array(got[1])[3], 2)
      assert.deepEqual(closes, [50], 'retried after initialMs')
      assert.equal(resets, 2, 'the client forgets its decoders on every (re)connect')
      keyframeListener()
      const d2 = Date.now() + 2000
      while (!received.includes('keyframe') && Date.now() < d2) await new Promise((r) => setTimeout(r, 10))
      assert.deepEqual(received, ['keyframe'])
      assert.equal(link.attempts, 2)
    } finally {
      link.close()
      wss.close()
    }
    assert.equal(keyframeListener, null, 'close() unsubscribes')
  })
})

describe('viewer fan-out (no browser)', () => {
  /** A ScreenCapture stand-in: test code pushes stripes by hand. */
  class FakeCapture {
    static last = null
    keyframes = 0
    isCapturing = false
    start(settings, onStripe) {
      FakeCapture.last = this
      this.onStripe = onStripe
      this.isCapturing = true
      return { display: ':0', x: 0, y: 0, width: 64, height: 128, stripeHeight: 64, stripeCount: 2, encoder: 'x264', notes: [] }
    }
    stop() {
      this.isCapturing = false
    }
    requestKeyframe() {
      this.keyframes++
    }
    stats() {
      return {}
    }
    emit(y, key) {
      this.onStripe({ stripeYStart: y, isKeyFrame: key, data: Buffer.alloc(1000, key ? 1 : 0) })
    }
  }

  function transport() {
    const t = { sent: [], queued: 0, send: (b) => (t.sent.push(b), (t.queued += b.length)), sendText() {}, bufferedAmount: () => t.queued }
    return t
  }

  it('a slow viewer is cut off until it drains, resumes on key frames only, and never stalls the others', async () => {
    const hub = createHub({ settings: {}, ScreenCapture: FakeCapture, maxBufferedBytes: 3000, lowWaterBytes: 1000, idleStopMs: 0 })
    try {
      const fast = transport()
      const slow = transport()
      const vf = hub.addViewer(fast)
      hub.addViewer(slow)
      const cap = FakeCapture.last
      fast.bufferedAmount = () => 0 // the fast one drains at once
      for (let i = 0; i < 4; i++) cap.emit(0, true), cap.emit(64, true)
      assert.equal(fast.sent.length, 8, 'the fast viewer got everything')
      assert.ok(slow.sent.length <= 4, `the slow viewer stopped at its bound (${slow.sent.length} sent)`)
      const before = slow.sent.length
      const keyframesBefore = cap.keyframes
      for (let i = 0; i < 10; i++) cap.emit(0, false), cap.emit(64, false)
      assert.equal(slow.sent.length, before, 'nothing more while congested')
      assert.equal(fast.sent.length, 28)

      slow.queued = 0 // it drained
      await new Promise((r) => setTimeout(r, 120)) // the hub polls congested viewers
      assert.ok(cap.keyframes > keyframesBefore, 'a key frame was requested for the drained viewer')
      cap.emit(0, false) // a delta before the key frame: useless to it
      assert.equal(slow.sent.length, before)
      cap.emit(0, true) // stripe 0 restarts
      cap.emit(0, false)
      cap.emit(64, false) // stripe 64 has not restarted yet
      assert.equal(slow.sent.length, before + 2)
      cap.emit(64, true)
      cap.emit(64, false)
      assert.equal(slow.sent.length, before + 4, 'back in sync on every stripe')
      vf.remove()
      assert.equal(hub.viewerCount, 1)
    } finally {
      hub.close()
    }
  })
})
