// Wayland (wlroots) capture through wlr-screencopy, under a headless sway whose background is a
// known picture (swaybg draws it 1:1). Needs Debian's sway and swaybg; without them it FAILS.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync, rmSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startSway } from '../tools/sway.mjs'
import { encodePng, decodePng } from './helpers/png.mjs'
import { loadAddon, sleep, waitFor, nowMs } from './helpers/capture.mjs'
import { decodeSized, decodeJpeg, assemble, psnr, assertSolid, crop, mse } from './helpers/frames.mjs'
import { annexB, decodeH264 } from './helpers/h264.mjs'

const { ScreenCapture } = loadAddon()
const W = 640
const H = 480
/** The background: colour ramps with a grid of lighter squares (detail to lose if wrong). */
const rgbAt = (x, y) => {
  const square = (x >> 5) % 2 === (y >> 5) % 2
  return [(x * 255) / W, (y * 255) / H, square ? 200 : 60]
}
const truth = () => {
  const data = Buffer.alloc(W * H * 4)
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [r, g, b] = rgbAt(x, y).map(Math.round)
      data.set([r, g, b, 255], (y * W + x) * 4)
    }
  }
  return { width: W, height: H, format: 'rgba', data }
}

let sway
let dir
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'stripecast-wl-test-'))
  chmodSync(dir, 0o755) // swaybg may run as nobody: it must reach the picture
  const png = join(dir, 'bg.png')
  writeFileSync(png, encodePng(W, H, (x, y) => [...rgbAt(x, y).map(Math.round), 255]))
  sway = await startSway({ width: W, height: H, background: png })
})
after(async () => {
  await sway?.stop()
  if (dir) rmSync(dir, { recursive: true, force: true })
})

function collect(settings) {
  const cap = new ScreenCapture()
  const stripes = []
  const errors = []
  const info = cap.start({ display: sway.socket, usePaintOverQuality: false, ...settings }, (s) => stripes.push(s), (e) => errors.push(e))
  return { cap, stripes, errors, info }
}

test('wayland: JPEG and H.264 of the compositor\'s output decode to the known picture', async (t) => {
  // swaybg draws a moment after sway starts: wait until a capture shows the picture.
  const jpeg = collect({ outputMode: 'jpeg', jpegQuality: 90, stripeHeight: 64 })
  try {
    assert.equal(jpeg.cap.streamInfo().capture, 'wlr-screencopy')
    assert.deepEqual([jpeg.info.width, jpeg.info.height, jpeg.info.display], [W, H, sway.socket])
    let p = 0
    await waitFor(() => {
      if (jpeg.stripes.length < H / 64) return false
      p = psnr(assemble(jpeg.stripes.map((s) => ({ y: s.stripeYStart, image: decodeSized(s) })), W, H).image, truth())
      return p >= 35
    }, 10000, 'the JPEG picture to match the background')
    t.diagnostic(`JPEG: ${p.toFixed(2)} dB`)
  } finally {
    jpeg.cap.stop()
  }
  const h264 = collect({ outputMode: 'h264', h264Fullframe: true, h264Crf: 18 })
  try {
    await waitFor(() => h264.stripes.length >= 1, 5000, 'an H.264 access unit')
    await sleep(300)
    const { count, last } = await decodeH264(annexB(h264.stripes), W, H)
    const p = psnr(last, truth())
    t.diagnostic(`H.264: ${count} pictures, last ${p.toFixed(2)} dB`)
    assert.ok(p >= 35, `H.264 at ${p.toFixed(2)} dB`)
  } finally {
    h264.cap.stop()
  }
})

test('wayland: ScreenCapture.screenshot() of a region of the output is its pixels', async () => {
  const region = { display: sway.socket, captureX: 100, captureY: 50, captureWidth: 200, captureHeight: 120 }
  const want = crop(truth(), 100, 50, 200, 120)
  // swaybg draws a moment after sway starts: one screenshot after another until it has.
  const deadline = Date.now() + 20000
  for (let got; !(got && mse(got, want) === 0); await sleep(20)) {
    if (Date.now() > deadline) assert.fail(`no PNG screenshot equal to the background (last MSE ${got && mse(got, want)})`)
    got = decodePng(await ScreenCapture.screenshot(region))
  }
  const jpeg = await ScreenCapture.screenshot({ ...region, format: 'jpeg', quality: 95 })
  const db = psnr(decodeJpeg(jpeg), want)
  assert.ok(db >= 40, `JPEG screenshot at ${db.toFixed(2)} dB`)
})

test('wayland: a still output sends nothing; a change reaches JavaScript quickly and only its rows go out', async (t) => {
  const c = collect({ outputMode: 'jpeg', stripeHeight: 64, targetFps: 60 })
  try {
    await waitFor(() => c.stripes.length >= H / 64, 5000, 'the first picture')
    await sleep(500)
    const still = c.stripes.length
    const cpu0 = process.cpuUsage()
    await sleep(2000)
    const cpu = process.cpuUsage(cpu0)
    t.diagnostic(`still output: ${c.stripes.length - still} stripes in 2 s; this process used ${((cpu.user + cpu.system) / 1000 / 2).toFixed(1)} ms of CPU a second`)
    assert.equal(c.stripes.length - still, 0, 'nothing goes out while the output is still')
    // A solid background: every row changes; the time from the request to the first stripe.
    const asked = nowMs()
    sway.swaymsg('output * bg #2060c0 solid_color')
    await waitFor(() => c.stripes.length > still, 5000, 'stripes after the background changed')
    t.diagnostic(`change → first stripe in JS: ${(c.stripes[still].captureTimeMs - asked).toFixed(1)} ms after swaymsg (grab), ${(nowMs() - asked).toFixed(1)} ms to the callback`)
    await waitFor(() => {
      const s = c.stripes.filter((s) => s.stripeYStart === 0).at(-1)
      if (!s) return false
      try {
        assertSolid(decodeSized(s), { x: 0, y: 0, w: W, h: s.stripeHeight }, '2060c0', 8)
        return true
      } catch {
        return false
      }
    }, 5000, 'the new background in the stripes')
    assert.deepEqual(c.errors, [])
  } finally {
    c.cap.stop()
  }
})

test('wayland: bad sockets are ERR_DISPLAY; the compositor going away is ERR_CAPTURE', async () => {
  const cap = new ScreenCapture()
  assert.throws(() => cap.start({ display: join(dir, 'no-such-socket') }, () => {}), (e) => e.code === 'ERR_DISPLAY' && /no-such-socket/.test(e.message))
  assert.throws(() => cap.start({ display: 'wayland-' }, () => {}), (e) => e.code === 'ERR_INVALID_SETTING' && e.setting === 'display')
  const c = collect({ outputMode: 'jpeg' })
  await waitFor(() => c.stripes.length > 0, 5000, 'a first stripe')
  await sway.stop()
  sway = null
  await waitFor(() => c.errors.length > 0, 5000, 'the error after sway went away')
  assert.equal(c.errors[0].code, 'ERR_CAPTURE')
  assert.equal(c.errors[0].fatal, true)
  await waitFor(() => !c.cap.isCapturing, 2000, 'the capture to end')
})
