// Starts a private Xvfb for a test file.
//
//   const x = await startXvfb({ width: 1280, height: 720 })
//   x.display   // ':93'
//   await x.stop()
//
// `-noreset` keeps what was drawn when the last client leaves; `-nolisten tcp` keeps it local.
// Readiness: Xvfb writes the display number to `-displayfd` once it accepts connections, and
// we confirm with `xdpyinfo`. Every server started here is killed when the process exits.
import { spawn, execFile } from 'node:child_process'
import { existsSync } from 'node:fs'

const live = new Set()
let cleanupRegistered = false

function registerCleanup() {
  if (cleanupRegistered) return
  cleanupRegistered = true
  const killAll = () => {
    for (const child of live) {
      try {
        child.kill('SIGKILL')
      } catch {}
    }
    live.clear()
  }
  process.on('exit', killAll)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(sig, () => {
      killAll()
      process.kill(process.pid, sig)
    })
  }
}

function displayInUse(n) {
  return existsSync(`/tmp/.X11-unix/X${n}`) || existsSync(`/tmp/.X${n}-lock`)
}

function xdpyinfoOk(display) {
  return new Promise((resolve) => {
    execFile('xdpyinfo', ['-display', display], { timeout: 3000 }, (err) => resolve(!err))
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function tryStart(n, width, height, depth, timeoutMs) {
  const display = `:${n}`
  const child = spawn(
    'Xvfb',
    [display, '-screen', '0', `${width}x${height}x${depth}`, '-nolisten', 'tcp', '-noreset', '-displayfd', '3'],
    { stdio: ['ignore', 'ignore', 'pipe', 'pipe'] },
  )
  let stderr = ''
  child.stderr.on('data', (d) => {
    if (stderr.length < 8192) stderr += d
  })
  let exited = false
  const exitPromise = new Promise((resolve) => child.once('exit', (code, sig) => {
    exited = true
    live.delete(child)
    resolve({ code, sig })
  }))
  child.once('error', () => {})
  live.add(child)

  let announced = false
  child.stdio[3].on('data', () => {
    announced = true
  })
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (exited) return { ok: false, stderr }
    if (announced && (await xdpyinfoOk(display))) {
      const stop = async () => {
        if (exited) return
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exitPromise
        clearTimeout(t)
      }
      return { ok: true, server: { display, width, height, pid: child.pid, stop } }
    }
    await sleep(25)
  }
  child.kill('SIGKILL')
  await exitPromise
  return { ok: false, stderr: `timed out after ${timeoutMs} ms\n${stderr}` }
}

/**
 * @param {{width?: number, height?: number, depth?: number, timeoutMs?: number}} [opts]
 * @returns {Promise<{display: string, width: number, height: number, pid: number, stop: () => Promise<void>}>}
 */
export async function startXvfb({ width = 1280, height = 720, depth = 24, timeoutMs = 10000 } = {}) {
  registerCleanup()
  let lastErr = ''
  let n = 90 + Math.floor(Math.random() * 400)
  for (let attempt = 0; attempt < 20; attempt++, n++) {
    if (displayInUse(n)) continue
    const r = await tryStart(n, width, height, depth, timeoutMs)
    if (r.ok) return r.server
    lastErr = r.stderr
  }
  throw new Error(`could not start Xvfb: ${lastErr}`)
}
