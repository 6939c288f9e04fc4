// Drives tools/xpaint (a small X11 client) to draw known content on a display's root window.
//
//   const p = await openPainter(':93')
//   await p.fill(0, 0, 1280, 720, '203040')
//   const bgrx = await p.dump(0, 0, 1280, 720)   // Buffer, width*height*4 bytes, B G R X
//   await p.close()
//
// Every command resolves when xpaint printed `ok` (the X server has processed it by then) and
// rejects on `error: ...`.
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..')
export const xpaintPath = join(repoRoot, 'target', 'release', 'xpaint')

/** Builds target/release/xpaint with cargo when it is missing; returns its path. */
export function ensureXpaint() {
  if (!existsSync(xpaintPath)) {
    execFileSync('cargo', ['build', '--release', '-p', 'xpaint', '--quiet'], {
      cwd: repoRoot,
      stdio: ['ignore', 'inherit', 'inherit'],
    })
  }
  return xpaintPath
}

function hex(rgb) {
  if (typeof rgb === 'number') return rgb.toString(16).padStart(6, '0')
  const s = String(rgb).replace(/^#/, '')
  if (!/^[0-9a-fA-F]{6}$/.test(s)) throw new TypeError(`colour must be RRGGBB, got ${rgb}`)
  return s
}

function int(v, what) {
  if (!Number.isInteger(v)) throw new TypeError(`${what} must be an integer, got ${v}`)
  return v
}

/**
 * The lines of an xpaint input log (see `input-log` in tools/xpaint/src/main.rs), parsed:
 * `{ev:'key', down, keycode, state, keysym, text}`, `{ev:'button', down, button, x, y}`,
 * `{ev:'motion', x, y}`, `{ev:'state', keys, buttons}`. Reads what is in the file now: call
 * `await painter.sync()` first (or use `painter.readInputLog(path)`) so that xpaint has logged
 * every event the server sent it.
 * @param {string} path
 * @returns {object[]}
 */
export function readInputLog(path) {
  if (!existsSync(path)) return []
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l))
}

/**
 * @param {string} display e.g. ':93'
 */
export async function openPainter(display) {
  const bin = ensureXpaint()
  const child = spawn(bin, ['--display', display], { stdio: ['pipe', 'pipe', 'pipe'] })
  const tmp = mkdtempSync(join(tmpdir(), 'xpaint-'))
  let seq = 0
  const pending = [] // FIFO of {resolve, reject, cmd}
  let stderr = ''
  let exitInfo = null
  child.stderr.on('data', (d) => {
    if (stderr.length < 8192) stderr += d
  })
  child.stdin.on('error', () => {})
  const rl = createInterface({ input: child.stdout })
  rl.on('line', (line) => {
    const p = pending.shift()
    if (!p) return
    if (line === 'ok') p.resolve()
    else p.reject(new Error(`xpaint '${p.cmd}': ${line}`))
  })
  const exited = new Promise((res) =>
    child.once('exit', (code, sig) => {
      exitInfo = { code, sig }
      for (const p of pending.splice(0)) {
        p.reject(new Error(`xpaint exited (${code ?? sig}) during '${p.cmd}': ${stderr.trim()}`))
      }
      res(exitInfo)
    }),
  )
  child.once('error', (e) => {
    for (const p of pending.splice(0)) p.reject(e)
  })

  function cmd(line) {
    if (line.includes('\n')) throw new Error('command must be one line')
    return new Promise((res, rej) => {
      if (exitInfo) {
        rej(new Error(`xpaint has exited (${exitInfo.code ?? exitInfo.sig}): ${stderr.trim()}`))
        return
      }
      pending.push({ resolve: res, reject: rej, cmd: line.length > 80 ? line.slice(0, 80) + '…' : line })
      child.stdin.write(line + '\n')
    })
  }

  // Wait for the connection: a round trip proves the display opened.
  await cmd('sync')

  return {
    display,
    pid: child.pid,
    /** Raw command line, resolves on `ok`. */
    cmd,
    sync: () => cmd('sync'),
    fill: (x, y, w, h, rgb) => cmd(`fill ${int(x, 'x')} ${int(y, 'y')} ${int(w, 'w')} ${int(h, 'h')} ${hex(rgb)}`),
    noise: (x, y, w, h, seed = 1) =>
      cmd(`noise ${int(x, 'x')} ${int(y, 'y')} ${int(w, 'w')} ${int(h, 'h')} ${int(seed, 'seed')}`),
    /** Text in the core font "fixed" (6x13); y is the top of the line. */
    text: (x, y, rgb, text) => cmd(`text ${int(x, 'x')} ${int(y, 'y')} ${hex(rgb)} ${String(text).replace(/[\r\n]/g, ' ')}`),
    /** Puts raw BGRX pixels (a Buffer of w*h*4 bytes, or a path to such a file). */
    async image(x, y, w, h, bgrx) {
      let path = bgrx
      if (typeof bgrx !== 'string') {
        path = join(tmp, `img-${seq++}.bgrx`)
        writeFileSync(path, bgrx)
      }
      try {
        await cmd(`image ${int(x, 'x')} ${int(y, 'y')} ${int(w, 'w')} ${int(h, 'h')} ${path}`)
      } finally {
        if (path !== bgrx) rmSync(path, { force: true })
      }
    },
    /** Reads pixels back with a core GetImage (not SHM): Buffer of w*h*4 bytes, B G R X. */
    async dump(x, y, w, h) {
      const path = join(tmp, `dump-${seq++}.bgrx`)
      try {
        await cmd(`dump ${int(x, 'x')} ${int(y, 'y')} ${int(w, 'w')} ${int(h, 'h')} ${path}`)
        return readFileSync(path)
      } finally {
        rmSync(path, { force: true })
      }
    },
    /**
     * Animates SCENE at fps for seconds (0 = until stopPlay()/close()). Resolves when it ends.
     * Other commands sent meanwhile wait until it ends.
     */
    play: (fps, scene = 'bounce', seconds = 0) => cmd(`play ${fps} ${scene} ${seconds}`),
    /**
     * Creates (or re-creates at a new place and size) xpaint's input window: override-redirect,
     * at root x,y, w x h, of background colour rgb, with the input focus. Its key, button and
     * motion events go to the log named by inputLog(); button presses draw 9x9 squares
     * (ff0000 / 00ff00 / 0000ff for buttons 1-3), typed characters 6x12 ffff00 blocks in 8x16
     * cells from the window's (10,10).
     */
    inputWindow: (x, y, w, h, rgb) =>
      cmd(`input-window ${int(x, 'x')} ${int(y, 'y')} ${int(w, 'w')} ${int(h, 'h')} ${hex(rgb)}`),
    /** Appends one JSON line per input event to path from now on (see readInputLog). */
    inputLog: (path) => cmd(`input-log ${path}`),
    /** Appends `{ev:'state', keys:[keycodes down], buttons: mask}` to the log. */
    inputState: () => cmd('input-state'),
    /** Every event logged so far: waits until xpaint has logged all it received, then reads. */
    async readInputLog(path) {
      await cmd('sync')
      return readInputLog(path)
    },
    /** Ends a running `play` early. */
    stopPlay() {
      if (!exitInfo) child.stdin.write('stop\n')
    },
    async close() {
      if (!exitInfo) {
        child.stdin.write('stop\n')
        child.stdin.end('quit\n')
        const t = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(t)
      }
      rmSync(tmp, { recursive: true, force: true })
    },
  }
}
