// Hardware H.264 selection on a host without a GPU (issue 7): the addon loads without libva or
// NVIDIA libraries, reports what the host offers, and every hardware request falls back to
// x264 with the reason named, while still delivering a decodable stream.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter, repoRoot } from './helpers/xpaint.mjs'
import { loadAddon, startCollector, waitFor } from './helpers/capture.mjs'
import { annexB, decodeH264 } from './helpers/h264.mjs'
import { bgrxImage, psnr } from './helpers/frames.mjs'

const W = 320
const H = 240
let xvfb
let painter
let truth

before(async () => {
  xvfb = await startXvfb({ width: W, height: H })
  painter = await openPainter(xvfb.display)
  await painter.fill(0, 0, W, H, '204060')
  await painter.fill(40, 30, 120, 80, 'e0c020')
  truth = bgrxImage(await painter.dump(0, 0, W, H), W, H)
})

after(async () => {
  painter?.close()
  await xvfb?.stop()
})

const base = () => ({ display: xvfb.display, outputMode: 'h264', captureCursor: false, usePaintOverQuality: false })

async function firstPicture(c) {
  await waitFor(() => c.cap.streamInfo()?.encoder && c.stripes.length > 0, 5000, 'the first H.264 frame')
  const decoded = await decodeH264(annexB(c.stripes), W, H)
  assert.ok(decoded.count >= 1, 'the stream decodes')
  return decoded.last
}

test('the addon links no GPU library: libva and NVIDIA libraries are loaded at run time only', () => {
  const addon = join(repoRoot, 'stripecast.linux-x64-gnu.node')
  assert.ok(existsSync(addon), addon)
  const deps = execFileSync('ldd', [addon], { encoding: 'utf8' })
  for (const lib of ['libva', 'libnvidia', 'libcuda', 'libdrm']) {
    assert.ok(!deps.includes(lib), `${lib} must not be a link-time dependency:\n${deps}`)
  }
})

test('hardwareEncoders() reports what this host lacks, without starting a capture', () => {
  const { ScreenCapture } = loadAddon()
  const hw = ScreenCapture.hardwareEncoders()
  assert.equal(typeof hw.nvencAvailable, 'boolean')
  if (!hw.nvencAvailable) assert.ok(hw.reasons.some((r) => r.startsWith('nvenc: ')), hw.reasons.join('; '))
  if (!existsSync('/dev/dri')) {
    assert.equal(hw.vaapiAvailable, false)
    assert.deepEqual(hw.vaapiNodes, [])
    assert.ok(hw.reasons.some((r) => r.startsWith('vaapi: ')), hw.reasons.join('; '))
  }
  if (!hw.nvencAvailable && !hw.vaapiAvailable) assert.equal(hw.defaultEncoder, 'x264')
})

test('VA-API on a render node that does not exist starts in x264 and says why', { skip: existsSync('/dev/dri/renderD191') }, async () => {
  const c = startCollector({ ...base(), vaapiRenderNodeIndex: 63 })
  try {
    assert.equal(c.info.encoder, 'vaapi', 'the plan asks for VA-API')
    const pic = await firstPicture(c)
    const info = c.cap.streamInfo()
    assert.equal(info.encoder, 'x264')
    assert.equal(info.hardware, false)
    assert.ok(info.declined.some((d) => d.includes('renderD191')), info.declined.join('; '))
    assert.ok(c.stripes[0].isKeyFrame)
    assert.ok(psnr(pic, truth) >= 35, `PSNR ${psnr(pic, truth)}`)
    // The fallback is also an event: onError hears it once, and the capture goes on.
    await waitFor(() => c.errors.length > 0, 2000, 'the fallback event')
    assert.equal(c.errors.length, 1)
    assert.equal(c.errors[0].code, 'ERR_ENCODER_FALLBACK')
    assert.equal(c.errors[0].fatal, false, 'a fallback does not end the capture')
    assert.match(c.errors[0].message, /renderD191/)
    assert.ok(c.cap.isCapturing)
  } finally {
    c.stop()
  }
})

test('hardware encoding is full-frame: a striped request with a render node becomes one stream, and says so', async () => {
  const c = startCollector({ ...base(), vaapiRenderNodeIndex: 63, h264Fullframe: false })
  try {
    assert.equal(c.info.stripeCount, 1)
    assert.ok(c.info.notes.some((n) => n.includes('h264Fullframe false ignored')), c.info.notes.join('; '))
    await firstPicture(c)
    assert.ok(c.stripes.every((s) => s.stripeYStart === 0 && s.stripeHeight === H))
  } finally {
    c.stop()
  }
})

test('NVENC without the driver starts in x264 with the reason', async (t) => {
  const { ScreenCapture } = loadAddon()
  if (ScreenCapture.hardwareEncoders().nvencAvailable) return t.skip('this host has NVENC')
  const c = startCollector({ ...base(), vaapiRenderNodeIndex: -1 })
  try {
    await firstPicture(c)
    const info = c.cap.streamInfo()
    assert.equal(info.encoder, 'x264')
    assert.ok(info.declined.some((d) => d.startsWith('nvenc: ')), info.declined.join('; '))
    assert.equal(info.capture, 'xshm+xdamage')
  } finally {
    c.stop()
  }
})

test('useCpu never touches hardware: nothing is declined', async () => {
  const c = startCollector({ ...base(), useCpu: true, vaapiRenderNodeIndex: 0 })
  try {
    assert.equal(c.info.encoder, 'x264')
    await firstPicture(c)
    const info = c.cap.streamInfo()
    assert.equal(info.encoder, 'x264')
    assert.deepEqual(info.declined, [])
    assert.deepEqual(c.errors, [], 'nothing was declined, nothing to report')
  } finally {
    c.stop()
  }
})

test('streamInfo() names the JPEG encoder and is null before any start', async () => {
  const { ScreenCapture } = loadAddon()
  assert.equal(new ScreenCapture().streamInfo(), null)
  const c = startCollector({ ...base(), outputMode: 'jpeg' })
  try {
    await c.waitForStripes(1)
    assert.deepEqual(
      { encoder: c.cap.streamInfo().encoder, hardware: c.cap.streamInfo().hardware },
      { encoder: 'jpeg', hardware: false },
    )
  } finally {
    c.stop()
  }
})

test('on a host with a GPU the default settings encode on it and the stream decodes', async (t) => {
  const { ScreenCapture } = loadAddon()
  const hw = ScreenCapture.hardwareEncoders()
  if (hw.defaultEncoder === 'x264') return t.skip(`no hardware encoder here: ${hw.reasons.join('; ')}`)
  const c = startCollector({ ...base() })
  try {
    const pic = await firstPicture(c)
    const info = c.cap.streamInfo()
    assert.equal(info.encoder, hw.defaultEncoder, info.declined.join('; '))
    assert.equal(info.hardware, true)
    assert.ok(psnr(pic, truth) >= 30, `PSNR ${psnr(pic, truth)}`)
  } finally {
    c.stop()
  }
})
