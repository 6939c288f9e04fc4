// The command line of the example servers and the demo: options from argv and the environment,
// checked in full before anything starts, and one clear line (exit status 2) for what is wrong.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { createServer } from 'node:net'
import { captureSettings, loadAddon } from './viewers.mjs'

/** A mistake in how the program was started: printed as one line, exit status 2. */
export class UsageError extends Error {
  constructor(message) {
    super(message)
    this.name = 'UsageError'
  }
}

const OPTIONS = {
  codec: { type: 'string' },
  fps: { type: 'string' },
  quality: { type: 'string' },
  crf: { type: 'string' },
  fullframe: { type: 'boolean' },
  striped: { type: 'boolean' },
  fullcolor: { type: 'boolean' },
  region: { type: 'string' },
  display: { type: 'string' },
  'no-cursor': { type: 'boolean' },
  'no-tiles': { type: 'boolean' },
  'no-scroll-copies': { type: 'boolean' },
  port: { type: 'string' },
  host: { type: 'string' },
  token: { type: 'string' },
  'max-buffer': { type: 'string' },
  transport: { type: 'string' },
  'max-bitrate': { type: 'string' },
  control: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
}

/** The option each capture setting comes from, to name it when the addon refuses a value. */
const OPTION_OF_SETTING = {
  outputMode: '--codec',
  targetFps: '--fps',
  jpegQuality: '--quality',
  h264Crf: '--crf',
  captureWidth: '--region',
  captureHeight: '--region',
  captureX: '--region',
  captureY: '--region',
  display: '--display',
}

/** Edits (insert, delete, substitute, swap neighbours) between two strings. */
function distance(a, b) {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)])
  for (let j = 1; j <= b.length; j++) d[0][j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1)
    }
  }
  return d[a.length][b.length]
}

/** ` (did you mean --x?)` for an option name one or two edits away, else ''. */
function didYouMean(name) {
  const limit = Math.max(1, Math.floor(name.length / 4))
  const best = Object.keys(OPTIONS)
    .map((o) => [distance(name, o), o])
    .filter(([d]) => d <= limit)
    .sort((a, b) => a[0] - b[0])[0]
  return best ? ` (did you mean --${best[1]}?)` : ''
}

function envBool(v) {
  if (v == null || v === '') return undefined
  return !/^(0|false|no|off)$/i.test(v)
}

function integer(option, v, lo, hi) {
  if (v == null || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < lo || n > hi) throw new UsageError(`${option} must be an integer in ${lo}..${hi}, got '${v}'`)
  return n
}

function number(option, v) {
  if (v == null || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n)) throw new UsageError(`${option} must be a number, got '${v}'`)
  return n
}

/** Options for startServer from argv and the environment; a UsageError for a bad one. */
export function optionsFromCli(argv = process.argv.slice(2), env = process.env) {
  let values
  try {
    ;({ values } = parseArgs({ args: argv, options: OPTIONS, strict: true }))
  } catch (e) {
    const arg = /'(-[^']*)'/.exec(e.message)?.[1] ?? ''
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(`unknown option ${arg}${didYouMean(arg.replace(/^-+/, '').split('=')[0])}`)
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(`${arg.split(' ')[0] || 'an option'} needs a value`)
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError(`unexpected argument ${arg || argv.find((a) => !a.startsWith('-'))}: every option starts with --`)
    throw new UsageError(e.message.split('.')[0])
  }
  if (values.help) return { help: true }
  if (values.fullframe && values.striped) throw new UsageError('--fullframe and --striped exclude each other')
  const transport = values.transport ?? env.STRIPECAST_TRANSPORT ?? 'ws'
  if (transport !== 'ws' && transport !== 'webrtc') throw new UsageError(`--transport must be ws or webrtc, got '${transport}'`)
  const codec = values.codec ?? env.STRIPECAST_CODEC ?? (transport === 'webrtc' ? 'h264' : 'jpeg')
  if (transport === 'webrtc') {
    // WebRTC carries one full-frame H.264 stream, nothing else
    if (String(codec).toLowerCase() !== 'h264') throw new UsageError(`--transport webrtc sends H.264: --codec must be h264 (or left out), got '${codec}'`)
    if (values.striped) throw new UsageError('--transport webrtc sends one full-frame stream: --striped is not possible')
  }
  const control = values.control ?? envBool(env.STRIPECAST_CONTROL) ?? false
  // the WebRTC page has no input path (it would be a data channel); control rides on the ws page
  if (control && transport === 'webrtc') throw new UsageError('--control works with --transport ws (the WebSocket page), not webrtc')
  const maxBitrate = number('--max-bitrate', values['max-bitrate'])
  if (maxBitrate !== undefined && maxBitrate !== 0 && !(maxBitrate >= 100e3)) {
    throw new UsageError(`--max-bitrate must be 0 (no pacing) or at least 100000 bits/s, got '${values['max-bitrate']}'`)
  }
  return {
    transport,
    control,
    maxBitrate,
    codec,
    fps: number('--fps', values.fps ?? env.STRIPECAST_FPS),
    quality: number('--quality', values.quality ?? env.STRIPECAST_QUALITY),
    crf: number('--crf', values.crf ?? env.STRIPECAST_CRF),
    fullframe: values.striped ? false : values.fullframe ? true : envBool(env.STRIPECAST_FULLFRAME),
    fullcolor: values.fullcolor,
    region: values.region ?? env.STRIPECAST_REGION,
    display: values.display,
    cursor: values['no-cursor'] ? false : undefined,
    tiles: values['no-tiles'] ? false : undefined,
    scrollCopies: values['no-scroll-copies'] ? false : undefined,
    port: integer('--port', values.port ?? env.PORT, 0, 65535) ?? 8080,
    host: values.host ?? env.HOST ?? '127.0.0.1',
    token: values.token ?? env.STRIPECAST_TOKEN,
    maxBufferedBytes: integer('--max-buffer', values['max-buffer'], 1, Number.MAX_SAFE_INTEGER),
  }
}

/**
 * Checks the capture settings the options make, as the addon will when the capture starts
 * (without opening the display): a UsageError naming the option, the value and what is allowed.
 */
export function checkOptions(opts) {
  let settings
  try {
    settings = captureSettings({ ...opts, fullframe: opts.fullframe ?? true })
  } catch (e) {
    throw new UsageError(e.message)
  }
  try {
    loadAddon().checkSettings(settings)
  } catch (e) {
    if (e.code !== 'ERR_INVALID_SETTING') throw e
    throw usageOfSetting(e)
  }
  return settings
}

/** A refused setting as a UsageError naming the option it came from. */
function usageOfSetting(e) {
  const option = OPTION_OF_SETTING[e.setting]
  return new UsageError(option ? `${option}: ${e.message}` : e.message)
}

/** 'pid N (command line)' of the process listening on TCP `port`, or null (Linux /proc). */
export function portHolder(port) {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes = new Set()
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = ''
    try {
      text = readFileSync(table, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/)
      // local address ends in :PORT, state 0A is LISTEN, field 9 the socket's inode
      if (f.length > 9 && f[1].endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9])
    }
  }
  if (!inodes.size) return null
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let fds = []
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch {
      continue // another user's process, or gone
    }
    for (const fd of fds) {
      let target = ''
      try {
        target = readlinkSync(`/proc/${pid}/fd/${fd}`)
      } catch {
        continue
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode && inodes.has(inode)) {
        let cmd = ''
        try {
          cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ')
        } catch {}
        return `pid ${pid}${cmd ? ` (${cmd.length > 60 ? cmd.slice(0, 57) + '...' : cmd})` : ''}`
      }
    }
  }
  return null
}

/** The UsageError for a port that could not be bound (EADDRINUSE, EACCES), else `e` itself. */
export function portError(e, port, host) {
  if (e?.code === 'EADDRINUSE') {
    const holder = portHolder(port)
    return new UsageError(
      `port ${port} on ${host} is in use${holder ? ` by ${holder}` : ''}: choose another with --port N, or --port 0 for a free one`,
    )
  }
  if (e?.code === 'EACCES') return new UsageError(`port ${port} on ${host} needs privileges: choose one above 1023 with --port N, or --port 0 for a free one`)
  if (e?.code === 'EADDRNOTAVAIL') return new UsageError(`--host ${host} is not an address of this machine`)
  return e
}

/** Resolves when `port` on `host` can be listened on now; rejects with portError's UsageError. */
export async function checkPort(port, host) {
  if (port === 0) return
  await new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', (e) => reject(portError(e, port, host)))
    probe.listen(port, host, () => probe.close(resolve))
  })
}

/**
 * Ends the program over an error in one line: a UsageError or a setting the addon refused
 * (`ERR_INVALID_SETTING`, e.g. a region off the screen) with status 2, another error with a
 * `code` (`ERR_DISPLAY`, `ERR_WATERMARK`, ...) with status 1. Anything else is a bug: rethrown.
 */
export function exitWith(e, prefix) {
  if (e?.code === 'ERR_INVALID_SETTING') e = usageOfSetting(e)
  if (e instanceof UsageError) {
    console.error(`${prefix}: ${e.message} (see --help)`)
    process.exit(2)
  }
  if (e?.code) {
    console.error(`${prefix}: ${e.code}: ${e.message}`)
    process.exit(1)
  }
  throw e
}
