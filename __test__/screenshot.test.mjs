// ScreenCapture.screenshot(): one PNG or JPEG of a region, without a stream, checked on decoded
// pixels against what the X server holds (xpaint dump).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'

import { useXvfb } from './helpers/setup.mjs'
import { loadAddon } from './helpers/capture.mjs'
import { bgrxImage, decodeJpeg, psnr, mse, pixel } from './helpers/frames.mjs'
import { decodePng } from './helpers/png.mjs'

const W = 640
const H = 480
const { ScreenCapture } = loadAddon()

const env = useXvfb({
  width: W,
  height: H,
  base: { outputMode: 'jpeg', captureCursor: false },
  setup: async (p) => {
    await p.fill(0, 0, W, H, '204060')
    await p.noise(16, 16, 300, 200, 7)
    await p.fill(320, 0, 320, 240, 'e0c020')
    await p.text(340, 40, '101010', 'stripecast screenshot: known text 0123456789')
    await p.noise(0, 240, 640, 240, 11)
  },
})

const shot = (options) => ScreenCapture.screenshot({ display: env.xvfb.display, ...options })

/** The X server's pixels of a rectangle, as an image. */
const truth = async (x, y, w, h) => bgrxImage(await env.painter.dump(x, y, w, h), w, h)

function assertSame(got, want, label) {
  assert.equal(got.width, want.width, `${label}: width`)
  assert.equal(got.height, want.height, `${label}: height`)
  assert.equal(mse(got, want), 0, `${label}: pixels differ`)
}

/** The sampling factors of each component in a JPEG's SOF: 0x11 for all is 4:4:4. */
function samplingFactors(jpeg) {
  for (let i = 2; i < jpeg.length - 1; ) {
    assert.equal(jpeg[i], 0xff, 'JPEG marker')
    const marker = jpeg[i + 1]
    const len = jpeg.readUInt16BE(i + 2)
    if (marker >= 0xc0 && marker <= 0xc2) {
      const n = jpeg[i + 9]
      return Array.from({ length: n }, (_, c) => jpeg[i + 11 + c * 3])
    }
    i += 2 + len
  }
  throw new Error('no SOF marker')
}

test('screenshot: a PNG of a region with an offset holds exactly the X pixels', async () => {
  const png = await shot({ captureX: 37, captureY: 21, captureWidth: 401, captureHeight: 333 })
  assert.ok(Buffer.isBuffer(png))
  assertSame(decodePng(png), await truth(37, 21, 401, 333), 'region')
  // Default: the whole screen, PNG.
  assertSame(decodePng(await shot()), await truth(0, 0, W, H), 'whole screen')
  // A region running past the edge is clamped to it, as a capture's is.
  assertSame(decodePng(await shot({ captureX: 600, captureY: 470 })), await truth(600, 470, 40, 10), 'clamped')
})

test('screenshot: JPEG is 4:4:4 and decodes within 40 dB of the screen at quality 95', async () => {
  const region = { captureX: 300, captureY: 10, captureWidth: 320, captureHeight: 300 }
  const want = await truth(300, 10, 320, 300)
  const q95 = await shot({ ...region, format: 'jpeg', quality: 95 })
  assert.deepEqual([q95[0], q95[1]], [0xff, 0xd8])
  assert.deepEqual(samplingFactors(q95), [0x11, 0x11, 0x11])
  const img = decodeJpeg(q95)
  const db = psnr(img, want)
  assert.ok(db >= 40, `PSNR at quality 95: ${db.toFixed(2)} dB`)
  // Default quality (90): a smaller file, still the picture.
  const q90 = await shot({ ...region, format: 'jpeg' })
  assert.ok(q90.length < q95.length, `q90 ${q90.length} bytes < q95 ${q95.length}`)
  assert.ok(psnr(decodeJpeg(q90), want) >= 30)
  const q10 = await shot({ ...region, format: 'jpeg', quality: 10 })
  assert.ok(q10.length < q90.length / 2, `q10 ${q10.length} bytes vs q90 ${q90.length}`)
})

test('screenshot: monitor picks a monitor, and the region is relative to it', async () => {
  await env.painter.cmd('monitor shot-right 320x240+320+240')
  try {
    assertSame(decodePng(await shot({ monitor: 'shot-right' })), await truth(320, 240, 320, 240), 'monitor')
    const list = ScreenCapture.monitors(env.xvfb.display)
    const index = list.findIndex((m) => m.name === 'shot-right')
    assertSame(
      decodePng(await shot({ monitor: index, captureX: 10, captureY: 20, captureWidth: 100, captureHeight: 50 })),
      await truth(330, 260, 100, 50),
      'region of a monitor',
    )
    await assert.rejects(shot({ monitor: 'DP-9' }), (e) =>
      e instanceof RangeError && e.code === 'ERR_INVALID_SETTING' && e.setting === 'monitor' && /DP-9.*does not exist.*shot-right/.test(e.message))
  } finally {
    await env.painter.cmd('monitor-delete shot-right')
  }
})

test('screenshot: bad options throw naming the option and what is allowed', async () => {
  const bad = (options, check) => assert.throws(() => ScreenCapture.screenshot({ display: env.xvfb.display, ...options }), check)
  bad({ format: 'gif' }, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_SETTING' && e.setting === 'format' &&
    /format must be 'png' or 'jpeg', got "gif"/.test(e.message))
  bad({ format: 3 }, (e) => e instanceof TypeError && e.setting === 'format' && /got number 3/.test(e.message))
  bad({ format: 'jpeg', quality: 0 }, (e) => e instanceof RangeError && e.setting === 'quality' && /quality must be an integer 1\.\.=100, got 0/.test(e.message))
  bad({ format: 'jpeg', quality: 101 }, (e) => e instanceof RangeError && /got 101/.test(e.message))
  bad({ format: 'jpeg', quality: '90' }, (e) => e instanceof TypeError && /quality must be a number, got string "90"/.test(e.message))
  bad({ quality: 80 }, (e) => e instanceof TypeError && e.setting === 'quality' && /applies to format 'jpeg' only/.test(e.message))
  bad({ format: 'png', quality: 80 }, (e) => e instanceof TypeError && /applies to format 'jpeg' only/.test(e.message))
  bad({ qualty: 80 }, (e) => e instanceof TypeError && e.code === 'ERR_INVALID_SETTING' &&
    /unknown option "qualty" \(did you mean "quality"\?\); a screenshot takes display, monitor, captureX/.test(e.message))
  bad({ jpegQuality: 80 }, (e) => e instanceof TypeError && e.setting === 'jpegQuality' && /jpegQuality does not apply to a screenshot/.test(e.message))
  // The region settings are checked as start() checks them.
  bad({ captureX: -1 }, (e) => e instanceof RangeError && e.setting === 'captureX')
  bad({ captureWidth: 0 }, (e) => e instanceof RangeError && e.setting === 'captureWidth')
  bad({ captureCursor: 'yes' }, (e) => e instanceof TypeError && /captureCursor must be a boolean/.test(e.message))
  assert.throws(() => ScreenCapture.screenshot('png'), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG')
  // What only the display can tell rejects.
  await assert.rejects(shot({ captureX: W }), (e) => e instanceof RangeError && e.setting === 'captureX' && /0\.\.640/.test(e.message))
  await assert.rejects(ScreenCapture.screenshot({ display: ':9999' }), (e) => e.code === 'ERR_DISPLAY' && /:9999/.test(e.message))
})

test('screenshot: the cursor is drawn only with captureCursor: true', async () => {
  execFileSync('xdotool', ['mousemove', '100', '100'], { env: { ...process.env, DISPLAY: env.xvfb.display } })
  const region = { captureX: 80, captureY: 80, captureWidth: 40, captureHeight: 40 }
  const want = await truth(80, 80, 40, 40)
  assertSame(decodePng(await shot(region)), want, 'without cursor (the default)')
  assertSame(decodePng(await shot({ ...region, captureCursor: false })), want, 'captureCursor: false')
  const withCursor = decodePng(await shot({ ...region, captureCursor: true }))
  let changed = 0
  for (let y = 0; y < 40; y++) {
    for (let x = 0; x < 40; x++) {
      if (pixel(withCursor, x, y).join() !== pixel(want, x, y).join()) changed++
    }
  }
  // Xvfb's root cursor is the core "X" cursor (16x16) around the pointer.
  assert.ok(changed >= 40, `cursor pixels drawn: ${changed}`)
})

test('screenshot: works while a capture of the same display streams', async () => {
  const c = env.collect({ captureX: 0, captureY: 0, captureWidth: 320, captureHeight: 240 })
  await c.waitForFirstFrame()
  const shots = await Promise.all([
    shot({ captureX: 16, captureY: 16, captureWidth: 300, captureHeight: 200 }),
    shot({ captureX: 16, captureY: 16, captureWidth: 300, captureHeight: 200, format: 'jpeg', quality: 95 }),
  ])
  const want = await truth(16, 16, 300, 200)
  assertSame(decodePng(shots[0]), want, 'PNG beside a stream')
  assert.ok(psnr(decodeJpeg(shots[1]), want) >= 40)
  assert.ok(c.cap.isCapturing, 'the stream still runs')
  const before = c.stripes.length
  await env.painter.fill(20, 20, 50, 50, 'ff00ff')
  await c.waitForStripes(before + 1, 30000)
})
