// A headless sway (wlroots) for tests: one virtual output of the given size, its background an
// image or a colour (drawn by swaybg), in a private runtime directory.
//
// sway refuses to run as root, so when we are root it runs as `nobody` (setpriv); the socket
// it makes is then reachable by root. Needs Debian's `sway` and `swaybg`; without them
// startSway() throws saying what to install.
import { spawn, spawnSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const which = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0

/**
 * @param {object} o
 * @param {number} o.width
 * @param {number} o.height
 * @param {string} [o.background] a path to a PNG of the output's size (drawn 1:1), or `#rrggbb`
 * @returns {Promise<{ socket: string, dir: string, swaymsg(cmd: string): string, stop(): Promise<void>, pid: number }>}
 */
export async function startSway({ width, height, background = '#303030', timeoutMs = 10000 }) {
  const missing = ['sway', 'swaybg', 'swaymsg'].filter((c) => !which(c))
  if (missing.length) throw new Error(`headless sway needs ${missing.join(', ')}: apt-get install sway swaybg`)
  const dir = mkdtempSync(join(tmpdir(), 'stripecast-sway-'))
  const bg = background.startsWith('#') ? `${background} solid_color` : `${background} center`
  writeFileSync(join(dir, 'config'), `output HEADLESS-1 resolution ${width}x${height} position 0 0\noutput * bg ${bg}\n`)
  const root = process.getuid?.() === 0
  const env = {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_RUNTIME_DIR: dir,
    WLR_BACKENDS: 'headless',
    WLR_LIBINPUT_NO_DEVICES: '1',
    WLR_RENDERER: 'pixman',
  }
  let cmd = 'sway'
  let args = ['-c', join(dir, 'config')]
  if (root) {
    // nobody:nogroup (65534) owns the runtime directory sway insists on.
    chownSync(dir, 65534, 65534)
    chownSync(join(dir, 'config'), 65534, 65534)
    if (background && !background.startsWith('#')) chmodSync(background, 0o644)
    args = ['--reuid=65534', '--regid=65534', '--clear-groups', 'sway', ...args]
    cmd = 'setpriv'
  }
  chmodSync(dir, 0o700)
  let log = ''
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout.on('data', (d) => (log += d))
  child.stderr.on('data', (d) => (log = (log + d).slice(-8000)))
  const socket = join(dir, 'wayland-1')
  const deadline = Date.now() + timeoutMs
  // The socket appears first; swaybg draws a moment later.
  while (!existsSync(socket) || !ipcSocket(dir)) {
    if (child.exitCode !== null) throw new Error(`sway exited (${child.exitCode}): ${log.trim()}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`sway did not start within ${timeoutMs} ms: ${log.trim()}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  const swaymsg = (command) => {
    const r = spawnSync('swaymsg', ['-s', ipcSocket(dir), command], { encoding: 'utf8' })
    if (r.status !== 0) throw new Error(`swaymsg ${command}: ${r.stdout}${r.stderr}`)
    return r.stdout
  }
  return {
    socket,
    dir,
    pid: child.pid,
    swaymsg,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r))
        child.kill('SIGTERM')
        await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))])
        if (child.exitCode === null) child.kill('SIGKILL')
      }
      // swaybg, sway's client, ends with its connection.
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** sway's IPC socket in `dir` (named after its pid), or null. */
function ipcSocket(dir) {
  const r = spawnSync('sh', ['-c', `ls ${dir}/sway-ipc.*.sock 2>/dev/null | head -1`], { encoding: 'utf8' })
  return r.stdout.trim() || null
}
