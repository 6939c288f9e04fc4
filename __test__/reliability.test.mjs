// Issue 8, "Reliability and security": the table of bad inputs, lifecycle and fault cases.
// Every test name starts with its table section so a case is easy to find:
//   bad input: <case> → <error>          (thrown by start() before any thread starts)
//   lifecycle: <case>                    (start/stop cycles, dropped objects, process exit)
//   fault: <case>                        (throwing callback, slow consumer, X server killed,
//                                         screen resized)
// Cases that need a fresh process (gc, exit behaviour, leak counters) run
// __test__/fixtures/reliability-child.mjs.
import { describe, it, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { deflateSync } from 'node:zlib'

import { startXvfb } from './helpers/xvfb.mjs'
import { useXvfb } from './helpers/setup.mjs'
import { PNG_SIGNATURE, encodePng, pngChunk, pngIhdr } from './helpers/png.mjs'
import { openPainter, repoRoot } from './helpers/xpaint.mjs'
import { bgrxImage, canvasOfLatest, psnr, crop } from './helpers/frames.mjs'
import { loadAddon, startCollector, sleep, waitFor } from './helpers/capture.mjs'
import { streamsByY, annexB, decodeH264 } from './helpers/h264.mjs'

const { ScreenCapture } = loadAddon()
const W = 1280
const H = 720
const CHILD = join(repoRoot, '__test__', 'fixtures', 'reliability-child.mjs')
const QUIET = { captureCursor: false, usePaintOverQuality: false }

const env = useXvfb({
  width: W,
  height: H,
  tmpPrefix: 'stripecast-reliability-',
  setup: async (p) => {
    writeFileSync(join(env.tmp, 'good.png'), validPng())
    writeFileSync(join(env.tmp, 'not-a-png.png'), 'this is plain text, not an image\n')
    writeFileSync(join(env.tmp, 'truncated.png'), validPng(64, 64).subarray(0, 60))
    writeFileSync(join(env.tmp, 'huge.png'), hugePng())
    mkdirSync(join(env.tmp, 'a-directory.png'))
    await p.fill(0, 0, W, H, '203040')
  },
})
const { track } = env

const threadCount = () => readdirSync('/proc/self/task').length
/**
 * The thread count once it holds still: a thread joined a moment ago (the previous case's
 * capture, stopped by stop()) can linger in /proc/self/task for a little while after the join.
 */
async function steadyThreadCount() {
  let n = threadCount()
  for (let i = 0; i < 100; i++) {
    await sleep(2)
    const m = threadCount()
    if (m === n) return m
    n = m
  }
  return n
}
const fdCount = () => readdirSync('/proc/self/fd').length
const rssKb = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1])

// ---------------------------------------------------------------------------------------------
// PNG files for the watermark cases, written at run time (no binary fixtures).

/** A valid w x h RGBA PNG (a translucent red square). */
function validPng(w = 32, h = 32) {
  return encodePng(w, h, () => [220, 30, 30, 160])
}

/** Signature and an IHDR declaring 20000x20000, then a tiny IDAT: must be refused before decoding. */
function hugePng() {
  const row = Buffer.alloc(20000 * 4 + 1)
  return Buffer.concat([PNG_SIGNATURE, pngIhdr(20000, 20000), pngChunk('IDAT', deflateSync(row)), pngChunk('IEND', Buffer.alloc(0))])
}

// ---------------------------------------------------------------------------------------------
// Child processes.

/**
 * Runs the child fixture in MODE. Resolves with { results, code, signal, stderr, ms } once it
 * exits, or with { timedOut: true, ... } after timeoutMs (the child is killed then).
 * `onResult(obj, child)` sees every `result {json}` line as it comes.
 */
function runChild(mode, args = [], { display, timeoutMs = 10000, onResult } = {}) {
  return new Promise((resolve) => {
    const t0 = Date.now()
    const child = spawn(process.execPath, ['--expose-gc', CHILD, mode, ...args.map(String)], {
      env: { ...process.env, DISPLAY: display },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const results = []
    let out = ''
    let stderr = ''
    let timedOut = false
    child.stdout.on('data', (d) => {
      out += d
      let i
      while ((i = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, i)
        out = out.slice(i + 1)
        if (line.startsWith('result ')) {
          const r = JSON.parse(line.slice(7))
          results.push(r)
          onResult?.(r, child)
        }
      }
    })
    child.stderr.on('data', (d) => {
      if (stderr.length < 16384) stderr += d
    })
    const timer = setTimeout(() => {
      timedOut = true
      child.kill('SIGKILL')
    }, timeoutMs)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ results, code, signal, stderr, ms: Date.now() - t0, exitedAt: Date.now(), timedOut })
    })
  })
}

function assertCleanExit(r, what, code = 0) {
  assert.equal(r.timedOut, false, `${what}: still running after the timeout (stderr: ${r.stderr.trim()})`)
  assert.equal(r.signal, null, `${what}: killed by ${r.signal} (stderr: ${r.stderr.trim()})`)
  assert.equal(r.code, code, `${what}: exit code ${r.code} (stderr: ${r.stderr.trim()})`)
  assert.doesNotMatch(r.stderr, /panicked|Segmentation|Aborted|FATAL|core dumped/i, `${what}: stderr ${r.stderr}`)
}

// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// 1. Bad input. Each case: the class, `code`, and a message naming the field and the value; no
// thread started and no fd left open by the failed call; isCapturing false; the same object then
// starts fine.

const noop = () => {}
const BASE = () => ({ display: env.xvfb.display, outputMode: 0, ...QUIET })
const GOOD = () => ({ ...BASE(), captureWidth: 64, captureHeight: 64 })

/**
 * [name, settings (merged over BASE) or a function of the context returning start()'s args,
 *  error class, code, strings the message must contain]
 */
const BAD = [
  ['captureWidth 0', { captureWidth: 0 }, RangeError, 'ERR_INVALID_SETTING', ['captureWidth', '0', '16384']],
  ['captureWidth -5', { captureWidth: -5 }, RangeError, 'ERR_INVALID_SETTING', ['captureWidth', '-5']],
  ['captureWidth 16385', { captureWidth: 16385 }, RangeError, 'ERR_INVALID_SETTING', ['captureWidth', '16385', '16384']],
  ['captureWidth 1e20', { captureWidth: 1e20 }, RangeError, 'ERR_INVALID_SETTING', ['captureWidth', String(1e20)]],
  ['captureHeight 0', { captureHeight: 0 }, RangeError, 'ERR_INVALID_SETTING', ['captureHeight', '0']],
  ['captureHeight -1', { captureHeight: -1 }, RangeError, 'ERR_INVALID_SETTING', ['captureHeight', '-1']],
  ['captureHeight 20000', { captureHeight: 20000 }, RangeError, 'ERR_INVALID_SETTING', ['captureHeight', '20000', '16384']],
  ['captureX 5000 (off a 1280 screen)', { captureX: 5000, captureWidth: 100 }, RangeError, 'ERR_INVALID_SETTING', ['captureX', '5000', '1280']],
  ['captureY 720 (just off a 720 screen)', { captureY: 720 }, RangeError, 'ERR_INVALID_SETTING', ['captureY', '720']],
  ['captureX -1', { captureX: -1 }, RangeError, 'ERR_INVALID_SETTING', ['captureX', '-1']],
  ['captureY -10', { captureY: -10 }, RangeError, 'ERR_INVALID_SETTING', ['captureY', '-10']],
  ['H.264 captureWidth 1 (cannot round down)', { outputMode: 1, captureX: 1279, captureWidth: 1 }, RangeError, 'ERR_INVALID_SETTING', ['captureWidth', '1']],
  ['targetFps 0', { targetFps: 0 }, RangeError, 'ERR_INVALID_SETTING', ['targetFps', '0', '240']],
  ['targetFps -30', { targetFps: -30 }, RangeError, 'ERR_INVALID_SETTING', ['targetFps', '-30']],
  ['targetFps NaN', { targetFps: NaN }, RangeError, 'ERR_INVALID_SETTING', ['targetFps', 'NaN']],
  ['targetFps Infinity', { targetFps: Infinity }, RangeError, 'ERR_INVALID_SETTING', ['targetFps', 'Infinity']],
  ['targetFps 241', { targetFps: 241 }, RangeError, 'ERR_INVALID_SETTING', ['targetFps', '241', '240']],
  ['jpegQuality -1', { jpegQuality: -1 }, RangeError, 'ERR_INVALID_SETTING', ['jpegQuality', '-1', '0..=100']],
  ['jpegQuality 101', { jpegQuality: 101 }, RangeError, 'ERR_INVALID_SETTING', ['jpegQuality', '101', '0..=100']],
  ['jpegQuality 75.5 (not an integer)', { jpegQuality: 75.5 }, RangeError, 'ERR_INVALID_SETTING', ['jpegQuality', '75.5', 'integer']],
  ['paintOverJpegQuality 101', { paintOverJpegQuality: 101 }, RangeError, 'ERR_INVALID_SETTING', ['paintOverJpegQuality', '101']],
  ['h264Crf -1', { outputMode: 1, h264Crf: -1 }, RangeError, 'ERR_INVALID_SETTING', ['h264Crf', '-1', '0..=51']],
  ['h264Crf 52', { outputMode: 1, h264Crf: 52 }, RangeError, 'ERR_INVALID_SETTING', ['h264Crf', '52', '0..=51']],
  ['outputMode 7', { outputMode: 7 }, RangeError, 'ERR_INVALID_SETTING', ['outputMode', '7']],
  ["outputMode 'png'", { outputMode: 'png' }, TypeError, 'ERR_INVALID_SETTING', ['outputMode', 'png', "0 or 'jpeg'", "1 or 'h264'"]],
  ["outputMode 'jpg' (a near miss)", { outputMode: 'jpg' }, TypeError, 'ERR_INVALID_SETTING', ['outputMode', 'jpg', 'did you mean "jpeg"?']],
  ["jpegQualty (a misspelt name)", { jpegQualty: 80 }, TypeError, 'ERR_INVALID_SETTING', ['unknown setting "jpegQualty"', 'did you mean "jpegQuality"?']],
  ['bogus (an unknown name, nothing near)', { bogus: 1 }, TypeError, 'ERR_INVALID_SETTING', ['unknown setting "bogus"', 'CaptureSettings']],
  ["jpegSubsampling '422'", { jpegSubsampling: '422' }, TypeError, 'ERR_INVALID_SETTING', ['jpegSubsampling', '422']],
  ["h264RateControl 'vbr'", { h264RateControl: 'vbr' }, TypeError, 'ERR_INVALID_SETTING', ['h264RateControl', 'vbr']],
  ['stripeHeight 60 (not a multiple of 8)', { stripeHeight: 60 }, RangeError, 'ERR_INVALID_SETTING', ['stripeHeight', '60']],
  ['keyframeIntervalS -1', { outputMode: 1, keyframeIntervalS: -1 }, RangeError, 'ERR_INVALID_SETTING', ['keyframeIntervalS', '-1']],
  ['maxQueuedStripes 0', { maxQueuedStripes: 0 }, RangeError, 'ERR_INVALID_SETTING', ['maxQueuedStripes', '0']],
  ['watermarkLocationEnum 7', { watermarkLocationEnum: 7 }, RangeError, 'ERR_INVALID_SETTING', ['watermarkLocationEnum', '7', '0..=6']],
  ["watermarkLocationEnum 'sideways'", { watermarkLocationEnum: 'sideways' }, TypeError, 'ERR_INVALID_SETTING', ['watermarkLocationEnum', 'sideways']],
  ['vaapiRenderNodeIndex 99', { vaapiRenderNodeIndex: 99 }, RangeError, 'ERR_INVALID_SETTING', ['vaapiRenderNodeIndex', '99', '-1..=63']],
  // Watermark files: ERR_WATERMARK (an Error) naming the file and what is wrong with it.
  ['watermarkPath missing file', () => ({ watermarkPath: join(env.tmp, 'missing.png') }), Error, 'ERR_WATERMARK', ['watermarkPath: ', 'missing.png', 'not found']],
  ['watermarkPath a directory', () => ({ watermarkPath: join(env.tmp, 'a-directory.png') }), Error, 'ERR_WATERMARK', ['watermarkPath: ', 'a-directory.png', 'directory']],
  ['watermarkPath not a PNG', () => ({ watermarkPath: join(env.tmp, 'not-a-png.png') }), Error, 'ERR_WATERMARK', ['watermarkPath: ', 'not-a-png.png', 'PNG']],
  ['watermarkPath truncated PNG', () => ({ watermarkPath: join(env.tmp, 'truncated.png') }), Error, 'ERR_WATERMARK', ['watermarkPath: ', 'truncated.png']],
  ['watermarkPath PNG whose IHDR says 20000x20000', () => ({ watermarkPath: join(env.tmp, 'huge.png') }), Error, 'ERR_WATERMARK', ['watermarkPath: ', 'huge.png', '20000']],
  // Displays.
  ["display ':999' (no server)", { display: ':999' }, Error, 'ERR_DISPLAY', ['display', ':999']],
  ["display 'hello'", { display: 'hello' }, TypeError, 'ERR_INVALID_SETTING', ['display', 'hello']],
  ["display ':0; rm -rf /'", { display: ':0; rm -rf /' }, TypeError, 'ERR_INVALID_SETTING', ['display', ':0; rm -rf /']],
  ['display 42 (a number)', { display: 42 }, TypeError, 'ERR_INVALID_SETTING', ['display', '42']],
  // Wrong types.
  ["jpegQuality '75' (string for a number)", { jpegQuality: '75' }, TypeError, 'ERR_INVALID_SETTING', ['jpegQuality', '75', 'number']],
  ["targetFps '30' (string for a number)", { targetFps: '30' }, TypeError, 'ERR_INVALID_SETTING', ['targetFps', '30', 'number']],
  ['captureCursor {} (object for a boolean)', { captureCursor: {} }, TypeError, 'ERR_INVALID_SETTING', ['captureCursor', 'boolean']],
  ["captureCursor 'yes' (string for a boolean)", { captureCursor: 'yes' }, TypeError, 'ERR_INVALID_SETTING', ['captureCursor', 'yes', 'boolean']],
  ['jpegTiles 1 (number for a boolean)', { jpegTiles: 1 }, TypeError, 'ERR_INVALID_SETTING', ['jpegTiles', '1', 'boolean']],
  // Arguments.
  ['onStripe 42 (not a function)', () => [BASE(), 42], TypeError, 'ERR_INVALID_ARG', ['onStripe', 'function']],
  ['onStripe missing', () => [BASE()], TypeError, 'ERR_INVALID_ARG', ['onStripe', 'function']],
  ["onError 'oops' (not a function)", () => [BASE(), noop, 'oops'], TypeError, 'ERR_INVALID_ARG', ['onError', 'function']],
  ['settings null', () => [null, noop], TypeError, 'ERR_INVALID_ARG', ['settings', 'object']],
  ['settings 42 (not an object)', () => [42, noop], TypeError, 'ERR_INVALID_ARG', ['settings', 'object']],
  ["settings ':0' (a string)", () => [':0', noop], TypeError, 'ERR_INVALID_ARG', ['settings', 'object']],
]

function argsOf(spec) {
  if (typeof spec !== 'function') return [{ ...BASE(), ...spec }, noop, noop]
  const v = spec()
  return Array.isArray(v) ? v : [{ ...BASE(), ...v }, noop, noop]
}

/** Calls fn (expected to throw synchronously) and checks what it threw. */
function expectThrow(fn, cls, code, needles) {
  let thrown
  try {
    fn()
  } catch (e) {
    thrown = e
  }
  assert.ok(thrown, 'start() did not throw')
  const desc = `${thrown?.constructor?.name} code=${thrown?.code}: ${thrown?.message}`
  assert.ok(thrown instanceof Error, `not an Error: ${desc}`)
  assert.equal(thrown.constructor, cls, `class: ${desc}`)
  assert.equal(thrown.code, code, `code: ${desc}`)
  if (code === 'ERR_WATERMARK') assert.equal(thrown.setting, 'watermarkPath', `setting: ${desc}`)
  for (const n of needles) assert.ok(thrown.message.includes(n), `message lacks ${JSON.stringify(n)}: ${desc}`)
  return thrown
}

describe('bad input (start() throws before any thread starts; the object stays usable)', () => {
  for (const [name, spec, cls, code, needles] of BAD) {
    it(`bad input: ${name} → ${cls.name} ${code}`, async () => {
      const cap = track(new ScreenCapture())
      const args = argsOf(spec)
      const [threads0, fds0] = [await steadyThreadCount(), fdCount()]
      expectThrow(() => cap.start(...args), cls, code, needles)
      assert.equal(threadCount(), threads0, 'a thread was started (or left) by the failed start()')
      assert.equal(fdCount(), fds0, 'the failed start() left a file descriptor open')
      assert.equal(cap.isCapturing, false)
      // Still usable: a good start on the same object.
      const info = cap.start(GOOD(), noop)
      assert.equal(info.width, 64)
      assert.equal(cap.isCapturing, true)
      cap.stop()
      assert.equal(cap.isCapturing, false)
    })
  }

  it('bad input: checkSettings() throws what start() throws, names the setting, and opens nothing', async () => {
    const { checkSettings } = loadAddon()
    assert.equal(checkSettings({ outputMode: 'jpeg', jpegQuality: 80, display: ':99' }), undefined, 'no display is opened')
    for (const [name, spec, cls, , needles] of BAD) {
      if (typeof spec === 'function' || 'display' in spec || /off a |cannot round down/.test(name)) continue
      const [threads0, fds0] = [await steadyThreadCount(), fdCount()]
      const thrown = expectThrow(() => checkSettings({ ...BASE(), ...spec }), cls, 'ERR_INVALID_SETTING', needles)
      assert.equal(threadCount(), threads0, name)
      assert.equal(fdCount(), fds0, name)
      const key = Object.keys(spec).at(-1)
      if (key in QUIET || key === 'bogus' || key === 'jpegQualty') continue
      assert.equal(thrown.setting, key, `${name}: error.setting`)
    }
  })

  it('bad input: start() twice without stop() → Error ERR_ALREADY_STARTED, the first capture unharmed', async () => {
    const c = track(startCollector(GOOD()))
    await c.waitForFirstFrame()
    const threads0 = threadCount()
    expectThrow(() => c.cap.start(GOOD(), noop), Error, 'ERR_ALREADY_STARTED', ['already', 'stop()'])
    assert.equal(threadCount(), threads0)
    assert.equal(c.cap.isCapturing, true, 'the running capture goes on')
    const n = c.stripes.length
    c.cap.requestKeyframe()
    await c.waitForStripes(n + 1, 3000)
    c.stop()
    assert.equal(c.cap.isCapturing, false)
    // And after stop() it starts again.
    c.cap.start(GOOD(), noop)
    c.cap.stop()
  })

  it('bad input: H.264 odd captureWidth/captureHeight → rounded down, reported in CaptureInfo.notes', async () => {
    const c = track(startCollector({ ...BASE(), outputMode: 1, captureWidth: 641, captureHeight: 361 }))
    assert.equal(c.info.width, 640)
    assert.equal(c.info.height, 360)
    assert.ok(c.info.notes.some((n) => n.includes('captureWidth 641') && n.includes('640')), JSON.stringify(c.info.notes))
    assert.ok(c.info.notes.some((n) => n.includes('captureHeight 361') && n.includes('360')), JSON.stringify(c.info.notes))
    const [s] = await c.waitForFirstFrame()
    assert.equal(s.width, 640)
    assert.deepEqual(c.errors, [])
  })

  it('bad input: control — a valid watermark PNG and odd JPEG sizes are accepted as given', () => {
    const cap = track(new ScreenCapture())
    const info = cap.start({ ...BASE(), captureWidth: 641, captureHeight: 361, watermarkPath: join(env.tmp, 'good.png') }, noop)
    assert.equal(info.width, 641)
    assert.equal(info.height, 361)
    assert.deepEqual(info.notes, [])
    cap.stop()
  })
})

// ---------------------------------------------------------------------------------------------
// 2. Lifecycle.

describe('lifecycle', () => {
  it('lifecycle: 500 start/stop cycles (JPEG 320x240, each waits for its first stripe) leak no memory, fds, SysV shm or threads', async (t) => {
    const r = await runChild('cycles', [500, 50], { display: env.xvfb.display, timeoutMs: 60000 })
    assertCleanExit(r, 'cycles child')
    const [{ before, after, ms }] = r.results
    const grewKb = after.rssKb - before.rssKb
    t.diagnostic(
      `500 cycles in ${ms} ms; after 50 warm-up cycles → end: RSS ${before.rssKb} → ${after.rssKb} kB (${grewKb >= 0 ? '+' : ''}${grewKb} kB), ` +
        `fds ${before.fds} → ${after.fds}, threads ${before.threads} → ${after.threads}, ` +
        `SysV shm mapped ${before.shmMapped} → ${after.shmMapped}, segments owned ${before.shmOwned} → ${after.shmOwned}`,
    )
    assert.ok(grewKb < 10 * 1024, `RSS grew ${grewKb} kB over 450 cycles`)
    assert.equal(after.fds, before.fds, 'open fds')
    assert.equal(after.threads, before.threads, 'threads')
    assert.equal(after.shmMapped, 0, 'SysV segments still mapped')
    assert.equal(after.shmOwned, 0, 'SysV segments created by the child still exist')
  })

  /** Checks a `cycles`/`relayout` child's report: RSS after the warm-up, fds, threads, SysV. */
  function assertSteady(t, r, what) {
    assertCleanExit(r, `${what} child`)
    const [{ before, after, ms, cycles, warmup }] = r.results
    const grewKb = after.rssKb - before.rssKb
    const anonKb = after.rssAnonKb - before.rssAnonKb
    t.diagnostic(
      `${cycles} ${what} in ${ms} ms; after ${warmup} → end: RSS ${before.rssKb} → ${after.rssKb} kB (${grewKb >= 0 ? '+' : ''}${grewKb} kB), ` +
        `anonymous ${before.rssAnonKb} → ${after.rssAnonKb} kB (${anonKb >= 0 ? '+' : ''}${anonKb} kB), ` +
        `fds ${before.fds} → ${after.fds}, threads ${before.threads} → ${after.threads}, SysV shm mapped ${after.shmMapped}, owned ${after.shmOwned}`,
    )
    // The bound is on anonymous memory (what a leak or a fragmented heap holds); RSS also
    // counts pages of node's own binary that later cycles touch for the first time.
    assert.ok(anonKb < 10 * 1024, `anonymous memory grew ${anonKb} kB over ${cycles - warmup} ${what} after the first ${warmup}`)
    assert.equal(after.fds, before.fds, 'open fds')
    assert.equal(after.threads, before.threads, 'threads')
    assert.equal(after.shmMapped, before.shmMapped, 'SysV segments mapped')
    assert.ok(after.shmOwned <= 1, `SysV segments created by the child still exist: ${after.shmOwned}`)
  }

  const WHOLE_SCREEN_MODES = [
    ['jpeg', 'JPEG'],
    ['striped', 'H.264 striped'],
    ['full', 'H.264 full-frame'],
    ['full444', 'H.264 full-frame 4:4:4'],
  ]
  for (const [mode, label] of WHOLE_SCREEN_MODES) {
    it(`lifecycle: 1000 start/stop cycles of ${label} (whole screen, cursor, animated watermark): anonymous memory grows < 10 MB after the first 100, no fd, thread or SysV segment left`, async (t) => {
      const r = await runChild('cycles', [1000, 100, mode, join(env.tmp, 'good.png')], { display: env.xvfb.display, timeoutMs: 240000 })
      assertSteady(t, r, `${label} start/stop cycles`)
      const [{ after }] = r.results
      assert.equal(after.shmOwned, 0, 'every SysV segment is gone after the last stop()')
    })
  }

  it('lifecycle: 1000 updateSettings() that rebuild the streams (codec and region, in turn): anonymous memory grows < 10 MB after the first 100, no fd or thread left', async (t) => {
    const r = await runChild('relayout', [1000, 100, join(env.tmp, 'good.png')], { display: env.xvfb.display, timeoutMs: 240000 })
    assertSteady(t, r, 'rebuilding updates')
  })

  it('lifecycle: stop() from inside the callback, then stop() twice more: no callback after it, the script ends by itself', async () => {
    const r = await runChild('stop-in-callback', [], { display: env.xvfb.display, timeoutMs: 5000 })
    assertCleanExit(r, 'stop-in-callback child')
    const [res] = r.results
    assert.equal(res.n, 2)
    assert.equal(res.afterStop, 0, 'stripes delivered after stop() returned')
    assert.equal(res.capturing, false)
    assert.deepEqual(res.errors, [])
  })

  it('lifecycle: a running capture whose object is dropped (gc) keeps running', async () => {
    const r = await runChild('drop-running', [], { display: env.xvfb.display, timeoutMs: 10000 })
    assertCleanExit(r, 'drop-running child')
    const [res] = r.results
    assert.equal(res.alive, true, 'the running capture was garbage-collected')
    assert.equal(res.capturing, true)
    assert.ok(res.receivedAfter > res.receivedBefore, `no stripes in the 500 ms after gc (${JSON.stringify(res)})`)
  })

  it('lifecycle: stopped, unreferenced captures are collected and leave no threads', async (t) => {
    const r = await runChild('drop-stopped', [], { display: env.xvfb.display, timeoutMs: 10000 })
    assertCleanExit(r, 'drop-stopped child (must end by itself)')
    const [{ baseline, after, collected }] = r.results
    t.diagnostic(`collected ${collected}/20; threads ${baseline.threads} → ${after.threads}; fds ${baseline.fds} → ${after.fds}`)
    assert.equal(collected, 20, 'stopped captures collected by gc()')
    assert.equal(after.threads, baseline.threads, 'threads back to the baseline')
    assert.equal(after.fds, baseline.fds, 'fds back to the baseline')
    assert.equal(after.shmMapped, 0)
  })

  it('lifecycle: after unref() the script ends without stop()', async () => {
    const r = await runChild('unref', [], { display: env.xvfb.display, timeoutMs: 5000 })
    assertCleanExit(r, 'unref child')
    assert.equal(r.results[0].capturing, true)
  })

  it('lifecycle: process.exit(7) from a callback while two captures run exits with 7 within 2 s, no crash', async () => {
    let exitingAt = 0
    const r = await runChild('exit', [7], {
      display: env.xvfb.display,
      timeoutMs: 8000,
      onResult: (o) => {
        exitingAt = o.at
      },
    })
    assert.ok(exitingAt > 0, `the child never got a stripe (stderr: ${r.stderr})`)
    assertCleanExit(r, 'exit child', 7)
    assert.ok(r.exitedAt - exitingAt < 2000, `exit took ${r.exitedAt - exitingAt} ms`)
    assert.equal(r.stderr.trim(), '')
  })
})

// ---------------------------------------------------------------------------------------------
// 3. Faults.

/** Waits until no stripe arrived for quietMs (the capture settled). */
async function settle(c, quietMs = 400, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs
  let n = c.stripes.length
  let since = Date.now()
  while (Date.now() - since < quietMs) {
    if (Date.now() > deadline) throw new Error(`still receiving stripes after ${timeoutMs} ms`)
    await sleep(25)
    if (c.stripes.length !== n) {
      n = c.stripes.length
      since = Date.now()
    }
  }
}

/** ffmpeg decode of an Annex-B stream; resolves with { code, stderr }. */
function ffmpegCheck(stream) {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-v', 'error', '-f', 'h264', '-i', 'pipe:', '-f', 'null', '-'], {
      stdio: ['pipe', 'ignore', 'pipe'],
    })
    let stderr = ''
    child.stderr.on('data', (d) => {
      if (stderr.length < 8192) stderr += d
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code, stderr }))
    child.stdin.on('error', () => {})
    child.stdin.end(stream)
  })
}

/** Runs `xrandr --fb WxH` and checks the server took it (xrandr may exit 1 and still resize). */
async function setScreenSize(display, w, h) {
  await new Promise((resolve) => execFile('xrandr', ['--display', display, '--fb', `${w}x${h}`], () => resolve()))
  const out = await new Promise((resolve, reject) =>
    execFile('xdpyinfo', ['-display', display], (err, stdout) => (err ? reject(err) : resolve(stdout))),
  )
  const dims = /dimensions:\s+(\d+)x(\d+)/.exec(out)
  assert.deepEqual([Number(dims[1]), Number(dims[2])], [w, h], `xrandr --fb ${w}x${h} did not resize the screen`)
}

describe('faults', () => {
  it('fault: onStripe throws → onError gets the error, the capture goes on', async () => {
    const boom = new Error('boom from onStripe')
    const c = track(startCollector({ ...GOOD() }, { onStripe: () => { throw boom } }))
    await c.waitForFirstFrame()
    await waitFor(() => c.errors.length > 0, 2000, 'onError')
    assert.equal(c.errors[0], boom, 'onError receives the thrown value itself')
    assert.equal(c.cap.isCapturing, true)
    const n = c.stripes.length
    c.cap.requestKeyframe()
    await c.waitForStripes(n + 1, 3000)
    await env.painter.fill(10, 10, 20, 20, 'ff8000')
    await c.waitForStripes(n + 2, 3000)
    assert.equal(c.cap.isCapturing, true)
    assert.ok(c.errors.every((e) => e === boom), c.errors.map(String).join('; '))
    await env.painter.fill(10, 10, 20, 20, '203040')
  })

  // A callback that busy-waits 200 ms per stripe for ~5 s on a scene animated at 30 fps. The
  // timers of this file do not run meanwhile (the loop is busy), so the callback itself samples.
  // maxQueuedStripes 16 (default 256) so the skipping starts within the first second: the
  // bounce scene changes only a few stripes per frame.
  async function slowConsumer(settings, t) {
    const SLOW_MS = 5000
    const samples = []
    let slowUntil = 0
    const c = track(
      startCollector(
        { ...BASE(), captureWidth: 640, captureHeight: 384, targetFps: 30, maxQueuedStripes: 16, ...QUIET, ...settings },
        {
          onStripe: (s, col) => {
            if (Date.now() >= slowUntil) return
            const t0 = Date.now()
            while (Date.now() - t0 < 200) {}
            samples.push({ at: Date.now(), rssKb: rssKb(), skipped: col.cap.stats().framesSkipped })
          },
        },
      ),
    )
    await c.waitForFirstFrame()
    global.gc?.()
    const rss0 = rssKb()
    const played = env.painter.play(30, 'bounce', SLOW_MS / 1000)
    slowUntil = Date.now() + SLOW_MS
    await played // the scene has stopped; the consumer is fast again from here
    await sleep(Math.max(0, slowUntil - Date.now()))
    await settle(c)
    const st = c.cap.stats()
    const maxRss = Math.max(...samples.map((s) => s.rssKb), rssKb())
    t.diagnostic(
      `slow phase: ${samples.length} slow callbacks; framesSkipped ${samples[0]?.skipped} → ${samples.at(-1)?.skipped} (final ${st.framesSkipped}); ` +
        `RSS ${rss0} kB → max ${maxRss} kB (+${maxRss - rss0} kB); stripes ${c.stripes.length}, dropped ${st.stripesDropped}`,
    )
    assert.ok(maxRss - rss0 < 50 * 1024, `RSS grew ${maxRss - rss0} kB`)
    assert.ok(samples.length >= 10, `only ${samples.length} slow callbacks ran`)
    const skippedDuring = samples.at(-1).skipped - samples[0].skipped
    assert.ok(skippedDuring > 0, `framesSkipped did not grow during the slow phase (${samples[0].skipped} → ${samples.at(-1).skipped})`)
    assert.deepEqual(c.errors, [])
    return c
  }

  it('fault: slow consumer (200 ms/stripe), JPEG: memory bounded, frames skipped, latest content once it catches up', async (t) => {
    const c = await slowConsumer({ outputMode: 0, jpegQuality: 90 }, t)
    const { image, covered } = canvasOfLatest(c.stripes, 640, 384)
    assert.ok(covered.every((v) => v === 1))
    const truth = await env.screen(0, 0, 640, 384)
    const db = psnr(image, truth)
    t.diagnostic(`PSNR of the latest stripes against the screen: ${db.toFixed(2)} dB`)
    assert.ok(db >= 30, `latest stripes are stale: PSNR ${db.toFixed(2)} dB < 30`)
  })

  it('fault: slow consumer (200 ms/stripe), H.264 striped: every stripe stream decodes with ffmpeg, no missing references', async (t) => {
    const c = await slowConsumer({ outputMode: 1, h264Fullframe: false }, t)
    const truth = await env.screen(0, 0, 640, 384)
    for (const [y, list] of streamsByY(c.stripes)) {
      const stream = annexB(list)
      const { code, stderr } = await ffmpegCheck(stream)
      assert.equal(code, 0, `stripe y=${y}: ffmpeg exited ${code}: ${stderr}`)
      assert.doesNotMatch(stderr, /error while decoding|non-existing PPS|no frame|missing|concealing/i, `stripe y=${y}: ${stderr}`)
      const h = list[0].stripeHeight
      const dec = await decodeH264(stream, 640, h)
      assert.ok(dec.count >= 1, `stripe y=${y}: no picture decoded`)
      const db = psnr(dec.last, crop(truth, 0, y, 640, h))
      assert.ok(db >= 30, `stripe y=${y}: last decoded picture PSNR ${db.toFixed(2)} dB < 30 (stale or broken)`)
    }
  })

  it('fault: X server killed mid-capture → ERR_CAPTURE on onError within 1 s, isCapturing false, process ends by itself', async (t) => {
    const x = await startXvfb({ width: 640, height: 480 })
    let killedAt = 0
    const r = await runChild('xkill', [], {
      display: x.display,
      timeoutMs: 8000,
      onResult: (o) => {
        if (o.started) {
          killedAt = Date.now()
          process.kill(x.pid, 'SIGKILL')
        }
      },
    })
    await x.stop()
    assert.ok(killedAt > 0, `the child never started (stderr: ${r.stderr})`)
    assertCleanExit(r, 'xkill child (the failed capture must not hold the loop)')
    const res = r.results.find((o) => o.error)
    assert.ok(res, `no error reached onError (results: ${JSON.stringify(r.results)})`)
    t.diagnostic(`onError ${res.at - killedAt} ms after the kill: ${res.error.code}: ${res.error.message}; child exited ${r.exitedAt - killedAt} ms after the kill`)
    assert.equal(res.error.code, 'ERR_CAPTURE')
    assert.ok(res.at - killedAt < 1000, `onError after ${res.at - killedAt} ms`)
    assert.equal(res.capturing, false)
    assert.ok(r.exitedAt - killedAt < 3000, `the child took ${r.exitedAt - killedAt} ms to exit`)
  })

  it('fault: X server killed mid-capture (in this process) → this process survives, start() on a new Xvfb works', async () => {
    const a = await startXvfb({ width: 640, height: 480 })
    const c = track(startCollector({ ...QUIET, display: a.display, outputMode: 0 }))
    await c.waitForFirstFrame()
    const killedAt = Date.now()
    process.kill(a.pid, 'SIGKILL')
    await waitFor(() => c.errors.length > 0, 1000, 'ERR_CAPTURE on onError')
    assert.ok(Date.now() - killedAt < 1000)
    assert.equal(c.errors[0].code, 'ERR_CAPTURE')
    await waitFor(() => !c.cap.isCapturing, 1000, 'isCapturing false')
    await a.stop()
    const b = await startXvfb({ width: 320, height: 240 })
    try {
      const n = c.stripes.length
      const info = c.cap.start({ ...QUIET, display: b.display, outputMode: 0 }, (s) => c.stripes.push(s), (e) => c.errors.push(e))
      assert.equal(info.width, 320)
      await c.waitForStripes(n + Math.ceil(240 / info.stripeHeight), 5000) // the whole first frame
      assert.equal(c.errors.length, 1)
      c.stop()
    } finally {
      c.stop()
      await b.stop()
    }
  })

  /** Solid blocks on a background: easy for both encoders, so a low PSNR means wrong pixels. */
  async function drawBlocks(p, w, h, seed) {
    await p.fill(0, 0, w, h, '303030')
    let v = seed * 2654435761
    for (let y = 16; y + 48 <= h; y += 64) {
      for (let x = 16; x + 96 <= w; x += 128) {
        v = (v * 1103515245 + 12345) >>> 0
        await p.fill(x, y, 96, 48, (v >>> 8) & 0xffffff)
      }
    }
  }

  describe('screen resized with xrandr during capture', () => {
    let rx
    let rp
    before(async () => {
      rx = await startXvfb({ width: W, height: H })
      rp = await openPainter(rx.display)
      await drawBlocks(rp, W, H, 3)
    })
    afterEach(async () => {
      for (const c of env.live.splice(0)) c.stop()
      await setScreenSize(rx.display, W, H)
      await drawBlocks(rp, W, H, 3)
    })
    after(async () => {
      await rp?.close()
      await rx?.stop()
    })

    /**
     * Shrinks the screen to 1024x600 under a capture and returns what happened:
     * { kind: 'error', error } or { kind: 'followed', stripes (after the resize) }.
     * Never acceptable: ERR_CAPTURE / 'X connection lost', a crash, or no reaction at all.
     */
    async function shrink(c) {
      await c.waitForFirstFrame()
      const n = c.stripes.length
      await setScreenSize(rx.display, 1024, 600)
      // New content after the resize, so a follower has something to send.
      await drawBlocks(rp, 1024, 600, 11)
      await waitFor(() => c.errors.length > 0 || c.since(n).some((s) => s.width <= 1024), 3000, 'an error or stripes at the new size')
      await sleep(200)
      for (const e of c.errors) {
        assert.notEqual(e.code, 'ERR_CAPTURE', `misleading error: ${e.code}: ${e.message}`)
        assert.doesNotMatch(e.message, /connection lost/i)
      }
      if (c.errors.length) {
        const e = c.errors[0]
        assert.equal(e.code, 'ERR_SCREEN_CHANGED', `${e.code}: ${e.message}`)
        assert.equal(e.fatal, true, 'ERR_SCREEN_CHANGED ends the capture')
        assert.match(e.message, /1024x600/, 'the message gives the new size')
        await waitFor(() => !c.cap.isCapturing, 1000, 'isCapturing false after ERR_SCREEN_CHANGED')
        return { kind: 'error', error: e }
      }
      return { kind: 'followed', since: n }
    }

    /** After a follow: the full picture at the clamped size matches the screen. */
    async function checkFollowedJpeg(c, t, w, h) {
      await settle(c)
      const n = c.stripes.length
      c.cap.requestKeyframe()
      await waitFor(() => c.since(n).filter((s) => s.frameId === c.since(n)[0]?.frameId).length >= Math.ceil(h / c.info.stripeHeight), 3000, 'a full frame after requestKeyframe')
      await settle(c)
      const stripes = c.since(n)
      for (const s of stripes) assert.equal(s.width, w, 'stripe width after the resize')
      const { image, covered } = canvasOfLatest(stripes, w, h)
      assert.ok(covered.every((v) => v === 1), 'every row covered at the new size')
      const db = psnr(image, bgrxImage(await rp.dump(0, 0, w, h), w, h))
      t.diagnostic(`followed to ${w}x${h}: PSNR ${db.toFixed(2)} dB`)
      assert.ok(db >= 30, `garbage after the resize: PSNR ${db.toFixed(2)} dB`)
    }

    it('fault: screen shrinks 1280x720 → 1024x600 under a full-screen JPEG capture (autoResize) → follows with correct pixels', async (t) => {
      const c = track(startCollector({ ...QUIET, display: rx.display, outputMode: 0, jpegQuality: 90 }))
      const r = await shrink(c)
      assert.equal(r.kind, 'followed', `autoResize follows the screen: ${r.error?.message}`)
      await checkFollowedJpeg(c, t, 1024, 600)
    })

    it('fault: screen shrinks under a full-frame H.264 capture (autoResize) → an IDR at the new size that decodes cleanly', async (t) => {
      const c = track(startCollector({ ...QUIET, display: rx.display, outputMode: 1 }))
      const r = await shrink(c)
      assert.equal(r.kind, 'followed', `autoResize follows the screen: ${r.error?.message}`)
      await settle(c)
      const after = c.since(r.since).filter((s) => s.width === 1024)
      assert.ok(after.length > 0)
      assert.equal(after[0].isKeyFrame, true, 'the first picture at the new size is an IDR')
      assert.equal(after[0].stripeHeight, 600)
      const stream = annexB(after)
      const { code, stderr } = await ffmpegCheck(stream)
      assert.equal(code, 0, stderr)
      assert.doesNotMatch(stderr, /error while decoding|non-existing PPS/i, stderr)
      const dec = await decodeH264(stream, 1024, 600)
      const db = psnr(dec.last, bgrxImage(await rp.dump(0, 0, 1024, 600), 1024, 600))
      t.diagnostic(`followed to 1024x600: ${dec.count} pictures, last PSNR ${db.toFixed(2)} dB`)
      assert.ok(db >= 30, `garbage after the resize: PSNR ${db.toFixed(2)} dB`)
    })

    it('fault: screen shrinks so that the region (captureX 1100) is entirely off screen → ERR_SCREEN_CHANGED, not "X connection lost"', async (t) => {
      const c = track(startCollector({ ...QUIET, display: rx.display, outputMode: 0, captureX: 1100, captureWidth: 100, captureHeight: 100 }))
      const r = await shrink(c)
      t.diagnostic(`behaviour: ${r.kind}${r.error ? ` (${r.error.message})` : ''}`)
      assert.equal(r.kind, 'error', 'a region entirely off the new screen cannot be followed')
    })

    it('fault: screen shrinks under a capture with autoResize: false → ERR_SCREEN_CHANGED', async (t) => {
      const c = track(startCollector({ ...QUIET, display: rx.display, outputMode: 0, autoResize: false }))
      const r = await shrink(c)
      t.diagnostic(`behaviour: ${r.kind}${r.error ? ` (${r.error.message})` : ''}`)
      assert.equal(r.kind, 'error', 'without autoResize a region that no longer fits ends the capture')
    })

    it('fault: screen grows back 1024x600 → 1280x720 under a full-screen JPEG capture (autoResize) → follows with correct pixels', async (t) => {
      const c = track(startCollector({ ...QUIET, display: rx.display, outputMode: 0, jpegQuality: 90 }))
      const r = await shrink(c)
      assert.equal(r.kind, 'followed', `autoResize follows the screen: ${r.error?.message}`)
      await settle(c)
      const n = c.stripes.length
      await setScreenSize(rx.display, W, H)
      await drawBlocks(rp, W, H, 5)
      await waitFor(() => c.errors.length > 0 || c.since(n).some((s) => s.width === W), 3000, 'an error or stripes at 1280')
      assert.deepEqual(c.errors.map((e) => e.message), [], 'growing back is followed too')
      await checkFollowedJpeg(c, t, W, H)
    })
  })
})
