// Clipboard: the CLIPBOARD selection read and written as UTF-8 text, checked against xclip (the
// Debian package xclip) on a private Xvfb: both directions, INCR both ways, the size limit,
// losing the selection, timeouts and close().
import { test, before, after, afterEach } from 'node:test'
import assert from 'node:assert/strict'
import { spawn, execFile, execFileSync } from 'node:child_process'
import { join } from 'node:path'

import { startXvfb } from '../tools/xvfb.mjs'
import { loadAddon, sleep } from './helpers/capture.mjs'
import { repoRoot } from './helpers/xpaint.mjs'

const { Clipboard } = loadAddon()
const WORLD = 'héllo Wörld € 😀'

let xvfb
const children = new Set()
const clipboards = new Set()

/** A Clipboard on the test's display, closed after the test. */
function open(options = {}) {
  const c = new Clipboard({ display: xvfb.display, ...options })
  clipboards.add(c)
  return c
}

/** `xclip -o` of the CLIPBOARD (with `target`), as bytes. */
function xclipOut(target) {
  const args = ['-selection', 'clipboard', '-o', '-display', xvfb.display]
  if (target) args.push('-t', target)
  return new Promise((resolve, reject) => {
    execFile('xclip', args, { encoding: 'buffer', maxBuffer: 64 << 20, timeout: 60000 }, (err, out, errOut) => {
      if (err) reject(new Error(`xclip -o: ${err.message} ${errOut}`))
      else resolve(out)
    })
  })
}

/**
 * `xclip -i` in the foreground (`-quiet`: no fork, so the test can stop it) owning the
 * CLIPBOARD with `text`; resolves once a read through `reader` sees it there.
 */
async function xclipIn(text, reader) {
  const child = spawn('xclip', ['-quiet', '-selection', 'clipboard', '-i', '-display', xvfb.display], {
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  children.add(child)
  child.once('exit', () => children.delete(child))
  child.stdin.end(text)
  if (reader) {
    // xclip takes the selection some time after it read its input: wait until it has.
    const deadline = Date.now() + 60000
    let last
    for (;;) {
      last = await reader.read({ timeoutMs: 30000 }).catch((e) => e)
      if (last === text) break
      if (Date.now() > deadline) assert.fail(`xclip did not come to own the clipboard; last read: ${String(last).slice(0, 80)}`)
      await sleep(20)
    }
  }
  return child
}

before(async () => {
  try {
    execFileSync('which', ['xclip'])
  } catch {
    assert.fail('xclip is missing: install the Debian package xclip (scripts/setup.sh installs it)')
  }
  xvfb = await startXvfb({ width: 320, height: 240 })
})

afterEach(() => {
  for (const c of clipboards) c.close()
  clipboards.clear()
  for (const child of children) {
    child.kill('SIGCONT')
    child.kill('SIGKILL')
  }
})

after(async () => {
  await xvfb?.stop()
})

test('clipboard: null when nobody owns it; options are checked', async () => {
  const c = open()
  assert.equal(await c.read(), null)
  assert.equal(c.maxBytes, 1 << 20)
  assert.equal(open({ maxBytes: 16 << 20 }).maxBytes, 16 << 20)
  for (const bad of [0, 1.5, (16 << 20) + 1]) {
    assert.throws(() => new Clipboard({ display: xvfb.display, maxBytes: bad }),
      (e) => e instanceof RangeError && e.code === 'ERR_INVALID_ARG' && /maxBytes must be an integer 1\.\.=16777216/.test(e.message))
  }
  assert.throws(() => new Clipboard({ display: xvfb.display, maxByte: 10 }),
    (e) => e instanceof TypeError && /unknown option "maxByte".*did you mean "maxBytes"/.test(e.message))
  assert.throws(() => new Clipboard({ display: 7 }), (e) => e instanceof TypeError && /display must be a string/.test(e.message))
  assert.throws(() => new Clipboard({ display: ':9999' }), (e) => e.code === 'ERR_DISPLAY' && /:9999/.test(e.message))
  assert.throws(() => c.read({ timeoutMs: 0 }), (e) => e instanceof RangeError && /timeoutMs must be an integer 1\.\.=600000, got 0/.test(e.message))
  assert.throws(() => c.read({ timeout: 5 }), (e) => e instanceof TypeError && /unknown option "timeout"/.test(e.message))
  assert.throws(() => c.write(42), (e) => e instanceof TypeError && e.code === 'ERR_INVALID_ARG' && /text must be a string, got number 42/.test(e.message))
})

test('clipboard: write() is what xclip -o prints, as UTF-8, STRING (Latin-1) and TARGETS', async () => {
  const c = open()
  c.write(WORLD)
  assert.deepEqual(await xclipOut(), Buffer.from(WORLD))
  assert.deepEqual(await xclipOut('STRING'), Buffer.from('héllo Wörld ? ?', 'latin1'))
  assert.deepEqual(await xclipOut('TEXT'), Buffer.from(WORLD))
  const targets = (await xclipOut('TARGETS')).toString().trim().split('\n').sort()
  assert.deepEqual(targets, ['STRING', 'TARGETS', 'TEXT', 'TIMESTAMP', 'UTF8_STRING'])
  // Our own text comes back without asking X, and a new write replaces it.
  assert.equal(await c.read(), WORLD)
  c.write('second')
  assert.deepEqual(await xclipOut(), Buffer.from('second'))
  // Refused targets: xclip reports that it cannot convert.
  await assert.rejects(xclipOut('image/png'), /xclip -o/)
})

test('clipboard: read() returns what xclip -i holds, and what a new owner took from us', async () => {
  const c = open()
  const other = open()
  await xclipIn(WORLD, c)
  assert.equal(await c.read(), WORLD)
  // Another client of ours owns it: the reader converts through X.
  other.write('from another clipboard ✓')
  assert.equal(await c.read(), 'from another clipboard ✓')
  // We own it, then xclip takes it: SelectionClear drops our text, and read() asks X again.
  c.write('ours')
  assert.equal(await c.read(), 'ours')
  await xclipIn('taken by xclip', c)
  assert.equal(await c.read(), 'taken by xclip')
  assert.equal(await other.read(), 'taken by xclip')
})

test('clipboard: large texts both ways (INCR), exactly', async () => {
  const c = open({ maxBytes: 4 << 20 })
  // 600 KB: over our 256 KiB property, so we send it by INCR.
  const big = Array.from({ length: 60000 }, (_, i) => `${String(i).padStart(6, '0')}ü€\n`).join('').slice(0, 600_000)
  c.write(big)
  const out = await xclipOut()
  assert.equal(out.length, Buffer.byteLength(big))
  assert.ok(out.equals(Buffer.from(big)), 'xclip -o read our INCR transfer exactly')
  // 1.5 MiB from xclip, which sends what exceeds its request limit (about 1 MiB on Xvfb) by INCR.
  const reader = open({ maxBytes: 4 << 20 })
  const huge = big.repeat(3)
  await xclipIn(huge, reader)
  const back = await reader.read({ timeoutMs: 60000 })
  assert.equal(back.length, huge.length)
  assert.ok(back === huge, 'the INCR transfer from xclip read back exactly')
})

test('clipboard: over maxBytes is a RangeError naming maxBytes, both ways', async () => {
  const small = open({ maxBytes: 1000 })
  assert.throws(() => small.write('é'.repeat(501)),
    (e) => e instanceof RangeError && e.code === 'ERR_INVALID_ARG' && /1002 bytes of UTF-8, over maxBytes \(1000\)/.test(e.message))
  small.write('é'.repeat(500))
  assert.equal(await small.read(), 'é'.repeat(500))
  // One property over the limit.
  await xclipIn('x'.repeat(5000), open())
  await assert.rejects(open({ maxBytes: 1000 }).read(),
    (e) => e instanceof RangeError && e.code === 'ERR_CLIPBOARD_TOO_LARGE' && /more than maxBytes \(1000\)/.test(e.message))
  // An INCR transfer over the limit stops when it passes it.
  const big = 'y'.repeat(1_500_000)
  const reader = open({ maxBytes: 2 << 20 })
  await xclipIn(big, reader)
  await assert.rejects(open().read({ timeoutMs: 60000 }),
    (e) => e instanceof RangeError && e.code === 'ERR_CLIPBOARD_TOO_LARGE' && /maxBytes \(1048576\)/.test(e.message))
  // The clipboard still works after an aborted transfer.
  await xclipIn('after', open())
  assert.equal(await open().read(), 'after')
})

test('clipboard: an owner that does not answer times out; close() rejects waiting reads and ends the thread', async () => {
  const c = open()
  const owner = await xclipIn('stopped', c)
  owner.kill('SIGSTOP')
  await assert.rejects(c.read({ timeoutMs: 300 }), (e) => e.code === 'ERR_TIMEOUT' && /300 ms/.test(e.message))
  const waiting = c.read({ timeoutMs: 600000 })
  c.close()
  await assert.rejects(waiting, (e) => e.code === 'ERR_CLOSED')
  assert.throws(() => c.read(), (e) => e.code === 'ERR_CLOSED')
  assert.throws(() => c.write('x'), (e) => e.code === 'ERR_CLOSED')
  c.close()
  owner.kill('SIGCONT')
})

test('clipboard: close() leaves nothing running: the process exits by itself', async () => {
  const script = `
    const { Clipboard } = require(${JSON.stringify(join(repoRoot, 'index.js'))})
    const c = new Clipboard({ display: ${JSON.stringify(xvfb.display)} })
    c.write('bye')
    c.read().then((t) => { console.log(t); c.close(); try { c.write('x') } catch (e) { console.log(e.code) } })
  `
  const out = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['-e', script], { timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`the child did not exit cleanly (${err.signal ?? err.code}): ${stderr}`))
      else resolve(stdout)
    })
  })
  assert.equal(out, 'bye\nERR_CLOSED\n')
  // The selection was given up: nobody owns it now.
  assert.equal(await open().read(), null)
})
