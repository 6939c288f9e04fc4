// The demo and the example servers as a new user starts them: a bad option or a busy port is one
// line on stderr naming the option, the value and what is allowed, exit status 2, and nothing
// started before it (no Xvfb, no capture). No X server is needed: the options are checked first.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { repoRoot } from './helpers/xpaint.mjs'

const DEMO = join(repoRoot, 'examples', 'demo.mjs')
const WS_SERVER = join(repoRoot, 'examples', 'screen-to-browser', 'server.mjs')
const SOCKETIO_SERVER = join(repoRoot, 'examples', 'socketio', 'server.mjs')

let tmp
let fakeBin
let xvfbLog

/** Runs `node script ...args` without DISPLAY; Xvfb on PATH is a stand-in that logs its start. */
function run(script, args, { env = {} } = {}) {
  return new Promise((resolve) => {
    const childEnv = { ...process.env, PATH: `${fakeBin}:${process.env.PATH}`, ...env }
    delete childEnv.DISPLAY
    const child = spawn(process.execPath, [script, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => child.kill('SIGKILL'), 15000)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
  })
}

/** One line on stderr containing every needle, no stack trace, exit 2, no Xvfb started. */
function assertUsageError(r, needles, label) {
  const lines = r.stderr.trim().split('\n')
  const desc = `${label}: exit ${r.code}, stderr ${JSON.stringify(r.stderr)}`
  assert.equal(r.code, 2, desc)
  assert.equal(lines.length, 1, `one line: ${desc}`)
  assert.doesNotMatch(r.stderr, /^\s+at /m, `no stack trace: ${desc}`)
  for (const n of needles) assert.ok(lines[0].includes(n), `says ${JSON.stringify(n)}: ${desc}`)
  assert.equal(existsSync(xvfbLog), false, `${label}: Xvfb was started before the options were checked`)
}

const BAD_OPTIONS = [
  ['--quality 500', ['--quality', 'jpegQuality', '0..=100', '500']],
  ['--codec png', ['codec', 'jpeg', 'h264', 'png']],
  ['--bogus', ['unknown option', '--bogus']],
  ['--qualty 80', ['unknown option', '--qualty', 'did you mean --quality?']],
  ['--fps 0', ['--fps', 'targetFps', '0']],
  ['--fps fast', ['--fps', 'number', 'fast']],
  ['--crf 60 --codec h264', ['--crf', 'h264Crf', '0..=51', '60']],
  ['--region 10x10+5', ['--region', 'WxH+X+Y', '10x10+5']],
  ['--region 0x10', ['--region', 'captureWidth', '0']],
  ['--port 70000', ['--port', '0..65535', '70000']],
  ['--port', ['--port', 'needs a value']],
  ['--display nonsense', ['--display', 'nonsense']],
  ['--fullframe --striped', ['--fullframe', '--striped']],
  ['--transport rtc', ['--transport', 'ws or webrtc', 'rtc']],
  ['--transprt webrtc', ['unknown option', '--transprt', 'did you mean --transport?']],
  ['--transport webrtc --codec jpeg', ['--transport webrtc', '--codec', 'h264', 'jpeg']],
  ['--transport webrtc --striped', ['--transport webrtc', '--striped']],
  ['--max-bitrate 5', ['--max-bitrate', '100000', '5']],
]

describe('command line: mistakes are one clear line and exit status 2', { timeout: 120000 }, () => {
  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'stripecast-cli-'))
    fakeBin = join(tmp, 'bin')
    xvfbLog = join(tmp, 'xvfb-started')
    // A stand-in Xvfb that only records that somebody started it.
    mkdirSync(fakeBin)
    writeFileSync(join(fakeBin, 'Xvfb'), `#!/bin/sh\necho "$@" > ${JSON.stringify(xvfbLog)}\nexit 1\n`)
    chmodSync(join(fakeBin, 'Xvfb'), 0o755)
  })

  after(() => rmSync(tmp, { recursive: true, force: true }))

  it('the demo checks every option before it starts Xvfb', async () => {
    for (const [args, needles] of BAD_OPTIONS) {
      const r = await run(DEMO, args.split(' '))
      assertUsageError(r, ['stripecast demo:', ...needles], `demo ${args}`)
    }
  })

  it('a busy port names who holds it and suggests --port 0, before anything starts', async () => {
    const holder = createServer()
    await new Promise((r) => holder.listen(0, '127.0.0.1', r))
    const { port } = holder.address()
    try {
      const r = await run(DEMO, ['--port', String(port)])
      assertUsageError(r, [`port ${port}`, 'in use', `pid ${process.pid}`, '--port 0'], 'demo on a busy port')
    } finally {
      holder.close()
    }
  })

  it('the example servers check their options the same way', async () => {
    for (const script of [WS_SERVER, SOCKETIO_SERVER]) {
      for (const [args, needles] of [BAD_OPTIONS[0], BAD_OPTIONS[2], BAD_OPTIONS[9]]) {
        const r = await run(script, args.split(' '))
        assertUsageError(r, ['stripecast:', ...needles], `${script} ${args}`)
      }
    }
  })

  it('--help prints the options and exits 0', async () => {
    const r = await run(DEMO, ['--help'])
    assert.equal(r.code, 0, r.stderr)
    assert.match(r.stdout, /--codec jpeg\|h264/)
    assert.match(r.stdout, /--port N/)
  })
})
