// Drives the xpaint scene player (tools/xpaint, `scene` command) for the benchmark.
//
//   const pl = await startPlayer(':93')
//   await pl.start('typing', 60)   // resolves once the scene's first picture is on screen
//   await pl.pause()               // freezes it (last frame fully drawn); start() resumes it
//   await pl.start('typing', 60, { restart: true })   // from its set-up picture again
//   await pl.dump(0, 0, 1920, 1080, '/tmp/x.bgrx')
//   pl.cpuSeconds()                // the player's own CPU (utime + stime) so far
//   await pl.close()
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import { ensureXpaint } from '../../tools/xpaint.mjs'

const TICK = 100 // USER_HZ on Linux

/** utime + stime of a live process, in seconds (from /proc/PID/stat). */
export function procCpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) / TICK
  } catch {
    return NaN
  }
}

export async function startPlayer(display) {
  const bin = ensureXpaint()
  const child = spawn(bin, ['--display', display], { stdio: ['pipe', 'pipe', 'pipe'] })
  const replies = [] // FIFO of {resolve, reject, cmd}
  const waiters = [] // stderr line waiters {re, resolve}
  let exited = null
  const log = []
  child.stdin.on('error', () => {})
  createInterface({ input: child.stdout }).on('line', (line) => {
    const p = replies.shift()
    if (!p) return
    if (line === 'ok') p.resolve()
    else p.reject(new Error(`xpaint '${p.cmd}': ${line}`))
  })
  createInterface({ input: child.stderr }).on('line', (line) => {
    log.push(line)
    if (log.length > 200) log.shift()
    for (let i = 0; i < waiters.length; i++) {
      const m = line.match(waiters[i].re)
      if (m) {
        waiters.splice(i, 1)[0].resolve(m)
        break
      }
    }
  })
  child.once('exit', (code, sig) => {
    exited = { code, sig }
    for (const p of replies.splice(0)) p.reject(new Error(`xpaint exited (${code ?? sig}) during '${p.cmd}': ${log.slice(-5).join(' | ')}`))
  })
  const send = (line) =>
    new Promise((resolve, reject) => {
      if (exited) return reject(new Error(`xpaint has exited: ${log.slice(-5).join(' | ')}`))
      replies.push({ resolve, reject, cmd: line })
      child.stdin.write(line + '\n')
    })
  const stderrLine = (re) => new Promise((resolve) => waiters.push({ re, resolve }))
  await send('sync')

  let running = null // promise of the running scene's reply
  let current = null // the scene set up last
  let lastStats = null
  return {
    pid: child.pid,
    log,
    /**
     * Starts (or resumes) a scene; resolves when its first picture is on screen. With
     * `restart`, a scene already set up starts again from its set-up picture and state (a scene
     * set up now starts there anyway), so that every run shows the same pictures.
     */
    async start(name, fps, { restart = false } = {}) {
      if (running) throw new Error('a scene is already running')
      if (restart && current === name) await send('scene-restart')
      const started = stderrLine(new RegExp(`^scene ${name} running setup_ms=(\\d+)`))
      const ended = stderrLine(new RegExp(`^scene ${name} frames=(\\d+) late=(\\d+)`))
      running = send(`scene ${name} ${fps} 0`)
      running.catch(() => {})
      const m = await Promise.race([started, running.then(() => null)])
      if (!m) throw new Error(`scene ${name} ended before it started: ${log.slice(-3).join(' | ')}`)
      current = name
      running.ended = ended
      return { setupMs: Number(m[1]) }
    },
    /** Freezes the running scene; resolves with its frame counts once the last frame is drawn. */
    async pause() {
      if (!running) return null
      const r = running
      running = null
      child.stdin.write('stop\n')
      await r
      const m = await r.ended
      lastStats = { frames: Number(m[1]), late: Number(m[2]) }
      return lastStats
    },
    dump: (x, y, w, h, path) => send(`dump ${x} ${y} ${w} ${h} ${path}`),
    /** Any other xpaint command (resolves on `ok`). */
    cmd: (line) => send(line),
    cpuSeconds: () => procCpuSeconds(child.pid),
    async close() {
      if (exited) return
      if (running) await this.pause().catch(() => {})
      child.stdin.end('quit\n')
      const t = setTimeout(() => child.kill('SIGKILL'), 3000)
      await new Promise((r) => (exited ? r() : child.once('exit', r)))
      clearTimeout(t)
    },
  }
}
