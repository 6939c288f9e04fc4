// Starts a private Janus (Debian package `janus`) for the example and the tests: a generated
// configuration in a temporary directory, one plugin (the VideoRoom unless told) and the WebSockets
// transport (what janode speaks) bound to 127.0.0.1. Its ICE candidates are this machine's
// non-loopback addresses (libnice skips loopback), so a machine with no interface but lo
// cannot run it. Stopped with stop();
// killed when this process exits.
//
//   const janus = await startJanus()
//   janus.url    // 'ws://127.0.0.1:PORT'
//   await janus.stop()
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const JANUS_PATH = process.env.JANUS_PATH || '/usr/bin/janus'

/** The directory Janus was built to load its modules from (asked from pkg layout, Debian's by default). */
function moduleRoot() {
  for (const d of ['/usr/lib/x86_64-linux-gnu/janus', '/usr/lib/aarch64-linux-gnu/janus', '/usr/lib/janus', '/usr/local/lib/janus']) {
    if (existsSync(join(d, 'plugins'))) return d
  }
  throw new Error('Janus modules not found (looked in /usr/lib/<arch>/janus): install the Debian package janus')
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** Every module in `folder` except `keep`, for Janus's `disable` lists (it has no allow list). */
function allBut(folder, keep) {
  return readdirSync(folder)
    .filter((f) => f.endsWith('.so') && f !== keep)
    .join(',')
}

/**
 * `plugin` is the one plugin loaded (the bench's Streaming path uses 'libjanus_streaming.so'),
 * `pluginConfig` that plugin's jcfg text.
 * @param {{ log?: (line: string) => void, timeoutMs?: number, plugin?: string, pluginConfig?: string }} [o]
 * @returns {Promise<{ url: string, port: number, pid: number, dir: string, stop(): Promise<void> }>}
 */
export async function startJanus({ log = () => {}, timeoutMs = 15000, plugin = 'libjanus_videoroom.so', pluginConfig = 'general: { }\n' } = {}) {
  if (!existsSync(JANUS_PATH)) {
    throw new Error(`Janus not found at ${JANUS_PATH}: install the Debian package janus (apt-get install -y janus) or set JANUS_PATH`)
  }
  const root = moduleRoot()
  const dir = mkdtempSync(join(tmpdir(), 'stripecast-janus-'))
  const port = await freePort()
  const rtpBase = 20000 + Math.floor(Math.random() * 20000)
  writeFileSync(
    join(dir, 'janus.jcfg'),
    `general: {
  configs_folder = "${dir}"
  plugins_folder = "${root}/plugins"
  transports_folder = "${root}/transports"
  events_folder = "${root}/events"
  loggers_folder = "${root}/loggers"
  log_to_stdout = true
  debug_level = 4
  protected_folders = []
}
plugins: { disable = "${allBut(join(root, 'plugins'), plugin)}" }
transports: { disable = "${allBut(join(root, 'transports'), 'libjanus_websockets.so')}" }
events: { broadcast = false disable = "${allBut(join(root, 'events'), '')}" }
loggers: { disable = "${allBut(join(root, 'loggers'), '')}" }
media: { rtp_port_range = "${rtpBase}-${rtpBase + 2000}" }
nat: {
  # libnice never gathers on loopback, so Janus's candidates are this machine's other
  # addresses; the publisher and the viewers reach them locally. Chromium's .local names
  # are not resolved: its checks arrive as peer-reflexive candidates anyway.
  ignore_mdns = true
}
`,
  )
  // libjanus_<name>.so reads janus.plugin.<name>.jcfg
  writeFileSync(join(dir, `janus.plugin.${plugin.replace(/^libjanus_|\.so$/g, '')}.jcfg`), pluginConfig)
  writeFileSync(
    join(dir, 'janus.transport.websockets.jcfg'),
    `general: { json = "plain" ws = true ws_port = ${port} ws_ip = "127.0.0.1" wss = false }\nadmin: { admin_ws = false admin_wss = false }\n`,
  )

  const child = spawn(JANUS_PATH, ['-C', join(dir, 'janus.jcfg'), '-F', dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  const kill = () => child.kill('SIGKILL')
  process.on('exit', kill)
  let output = ''
  let ready = false
  let exited = null
  const onData = (d) => {
    const s = d.toString()
    if (output.length < 200000) output += s
    for (const line of s.split('\n')) if (line.trim()) log(line)
    if (/WebSockets transport plugin initialized/i.test(s)) ready = true
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  const exitPromise = new Promise((resolve) => child.once('exit', (code, sig) => resolve((exited = { code, sig }))))
  child.once('error', () => {})

  const deadline = Date.now() + timeoutMs
  while (!ready) {
    if (exited || Date.now() > deadline) {
      kill()
      rmSync(dir, { recursive: true, force: true })
      throw new Error(`Janus did not start (${exited ? `exit ${exited.code ?? exited.sig}` : `no WebSockets server after ${timeoutMs} ms`}): ${output.split('\n').slice(-15).join('\n')}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return {
    url: `ws://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    dir,
    get output() {
      return output
    },
    async stop() {
      if (!exited) {
        child.kill('SIGTERM')
        const t = setTimeout(kill, 3000)
        await exitPromise
        clearTimeout(t)
      }
      process.off('exit', kill)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** The Janus version string (`janus --version`), or null when it cannot run. */
export function janusVersion() {
  try {
    return execFileSync(JANUS_PATH, ['--version'], { encoding: 'utf8' }).trim().split('\n')[0]
  } catch {
    return null
  }
}
