// Monitors (RandR 1.5): listing them, capturing one by index or name, and following it when it
// moves or changes size. Xvfb has one output; the painter defines monitors on it as
// `xrandr --setmonitor` would (they last while its connection does).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { useXvfb } from './helpers/setup.mjs'
import { loadAddon, sleep, waitFor } from './helpers/capture.mjs'
import { decodeSized, assertSolid } from './helpers/frames.mjs'

const W = 1920
const H = 1080
const { ScreenCapture } = loadAddon()
const COLOURS = ['c03020', '20a040', '3050d0'] // left, middle, right thirds

const env = useXvfb({
  width: W,
  height: H,
  base: { outputMode: 'jpeg', captureCursor: false, usePaintOverQuality: false, stripeHeight: 64 },
  setup: async (p) => {
    for (let i = 0; i < 3; i++) await p.fill(i * 640, 0, 640, H, COLOURS[i])
  },
})

const monitor = (name, geometry) => env.painter.cmd(`monitor ${name} ${geometry}`)

const solid = (img, rgb, label) => assertSolid(img, { x: 0, y: 0, w: img.width, h: img.height }, rgb, 8, label)

/** Every stripe of the first frame decodes to the solid colour `rgb`. */
async function firstFrameIs(c, rgb) {
  const first = await c.waitForFirstFrame()
  for (const s of first) solid(decodeSized(s), rgb, `stripe y=${s.stripeYStart}`)
}

test('monitors: two and three monitors are listed; each captures exactly its rectangle, by index or name', async () => {
  await monitor('left', '1280x1080+0+0')
  await monitor('right', '640x1080+1280+0')
  let list = ScreenCapture.monitors(env.xvfb.display)
  const named = (n) => list.find((m) => m.name === n)
  assert.deepEqual(
    { ...named('right') },
    { index: list.indexOf(named('right')), name: 'right', x: 1280, y: 0, width: 640, height: 1080, primary: false },
  )
  assert.ok(named('left'), `left listed: ${JSON.stringify(list)}`)

  const byName = env.collect({ monitor: 'right' })
  assert.deepEqual([byName.info.x, byName.info.y, byName.info.width, byName.info.height], [1280, 0, 640, 1080])
  await firstFrameIs(byName, COLOURS[2])
  byName.stop()

  // A third monitor in the middle third, and a region relative to it.
  await monitor('right', '640x1080+1280+0')
  await monitor('left', '640x1080+0+0')
  await monitor('middle', '640x1080+640+0')
  list = ScreenCapture.monitors(env.xvfb.display)
  const middle = named('middle')
  const byIndex = env.collect({ monitor: middle.index, captureX: 100, captureY: 200, captureWidth: 400, captureHeight: 300 })
  assert.deepEqual([byIndex.info.x, byIndex.info.y, byIndex.info.width, byIndex.info.height], [740, 200, 400, 300])
  await firstFrameIs(byIndex, COLOURS[1])
  // A region running past the monitor's edge is clamped to it, and said so.
  byIndex.stop()
  const past = env.collect({ monitor: 'left', captureX: 600 })
  assert.equal(past.info.width, 40)
  await firstFrameIs(past, COLOURS[0])
  for (const m of ['left', 'middle', 'right']) await env.painter.cmd(`monitor-delete ${m}`)
})

test('monitors: a monitor that does not exist is ERR_INVALID_SETTING naming those that do', async () => {
  await monitor('solo', '800x600+100+100')
  const cap = new ScreenCapture()
  for (const want of ['DP-9', 63]) {
    assert.throws(
      () => cap.start({ display: env.xvfb.display, monitor: want }, () => {}),
      (e) => e instanceof RangeError && e.code === 'ERR_INVALID_SETTING' && e.setting === 'monitor' &&
        /^monitor: monitor .* does not exist; monitors: .*'solo' 800x600\+100\+100/.test(e.message),
    )
  }
  assert.throws(() => cap.start({ display: env.xvfb.display, monitor: 64 }, () => {}), (e) => e.setting === 'monitor' && /0\.\.=63/.test(e.message))
  assert.throws(() => cap.start({ display: env.xvfb.display, monitor: '' }, () => {}), (e) => e.setting === 'monitor')
  assert.throws(() => cap.start({ display: env.xvfb.display, monitor: true }, () => {}), (e) => e instanceof TypeError && /monitor must be a number or a string/.test(e.message))
  assert.throws(() => ScreenCapture.fromFrames({ width: 64, height: 64 }).start({ monitor: 0 }, () => {}), (e) => e.setting === 'monitor' && /fromFrames/.test(e.message))
  assert.throws(() => ScreenCapture.monitors(':999'), (e) => e.code === 'ERR_DISPLAY')
  await env.painter.cmd('monitor-delete solo')
})

test('monitors: the capture follows its monitor when it moves or changes size, and ends when it is gone', async () => {
  await monitor('moving', '640x1080+0+0')
  const c = env.collect({ monitor: 'moving' })
  await firstFrameIs(c, COLOURS[0])
  // Moved onto the right third and made shorter: within about a second (monitors are
  // looked at once a second) the stripes are the right third's, 640x720.
  await monitor('moving', '640x720+1280+0')
  const n = c.stripes.length
  await waitFor(() => c.stripes.slice(n).some((s) => s.stripeYStart === 0 && s.width === 640), 5000, 'stripes after the move')
  await sleep(300)
  const after = c.stripes.slice(n)
  const ends = after.map((s) => s.stripeYStart + s.stripeHeight)
  assert.equal(Math.max(...ends), 720, `stripes end within the 720 rows: ${ends}`)
  assert.ok(after.every((s) => s.width === 640), 'every stripe 640 wide')
  for (const s of after.filter((s) => s.stripeYStart === 0)) solid(decodeSized(s), COLOURS[2], 'after the move')
  assert.equal(c.cap.isCapturing, true)
  // Gone: the capture ends with ERR_SCREEN_CHANGED (fatal), naming the monitor.
  await env.painter.cmd('monitor-delete moving')
  await waitFor(() => c.errors.length > 0, 5000, 'the error after the monitor went away')
  const e = c.errors[0]
  assert.equal(e.code, 'ERR_SCREEN_CHANGED')
  assert.equal(e.fatal, true)
  assert.match(e.message, /the captured monitor is gone: monitor 'moving' does not exist/)
  await waitFor(() => !c.cap.isCapturing, 2000, 'the capture to end')
})
