#!/usr/bin/env node
// Streams an X11 screen to browsers: one HTTP server serves the page and the client module,
// and a WebSocket at /ws on the same port carries the stripes of ONE shared ScreenCapture to
// every viewer.
//
//   node examples/screen-to-browser/server.mjs --codec h264 --fps 60 --port 8080
//   # then open the printed URL
//
// Options (flag, or environment variable):
//   --codec jpeg|h264     STRIPECAST_CODEC     default jpeg
//   --fps N               STRIPECAST_FPS       default 60
//   --quality N           STRIPECAST_QUALITY   JPEG quality, default 75
//   --crf N               STRIPECAST_CRF       H.264 CRF, default 23
//   --fullframe|--striped STRIPECAST_FULLFRAME H.264: one stream (default) or one per stripe
//   --fullcolor                                H.264 4:4:4
//   --region WxH+X+Y      STRIPECAST_REGION    default: the whole screen
//   --display :N          DISPLAY              default $DISPLAY
//   --no-cursor                                do not draw the mouse cursor
//   --no-tiles                                 JPEG: full-width bands only (pixelflux's wire
//                                              format; by default JPEG is sent as tiles, which
//                                              this page's client draws)
//   --no-scroll-copies                         JPEG: re-encode moved rows instead of sending
//                                              copies (copies are on unless --no-tiles)
//   --port N              PORT                 default 8080; 0 = a free port
//   --host ADDR           HOST                 default 127.0.0.1; anything else must be explicit
//   --token SECRET        STRIPECAST_TOKEN     required as ?token=SECRET on every request
//   --max-buffer BYTES                         per-viewer send queue bound, default 8 MiB
//   --transport ws|webrtc STRIPECAST_TRANSPORT what the page at / uses, default ws; webrtc:
//                                              H.264 over WebRTC (WHEP at /whep), full-frame
//   --max-bitrate BITS/S                       WebRTC pacing ceiling per viewer, default 50e6
//   --control             STRIPECAST_CONTROL   let a viewer control the screen (pointer, wheel,
//                                              keyboard, paste; one viewer at a time). Needs a
//                                              token: without --token one is generated and the
//                                              URL printed with it. Off by default.
//
// WHEP (POST /whep with an SDP offer, DELETE /whep/<id>) is served whatever --transport says.
// In a program: `const { url, close } = await startServer({ codec: 'h264', port: 0 })`.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { timingSafeEqual, createHash, randomBytes } from 'node:crypto'
import { createRequire } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { WebSocketServer } from 'ws'
import { createHub, captureSettings, loadAddon } from './viewers.mjs'
import { createWhep } from './whep.mjs'
import { optionsFromCli, checkOptions, exitWith, portError } from './cli.mjs'

export { optionsFromCli } from './cli.mjs'

const { createControl, MAX_MESSAGE_BYTES } = createRequire(import.meta.url)('stripecast/control')
/** Clipboard text a viewer may paste when none is configured (UTF-8 bytes). */
const CLIPBOARD_MAX_BYTES = 256 * 1024
/** The capture settings that say where input goes (the injector's region is the capture's). */
const INPUT_SETTINGS = ['display', 'monitor', 'captureX', 'captureY', 'captureWidth', 'captureHeight']

const here = dirname(fileURLToPath(import.meta.url))
const clientPath = join(here, '..', '..', 'client', 'stripecast-client.js')
const webrtcClientPath = join(here, '..', '..', 'client', 'stripecast-webrtc.js')

/** The only files this server ever reads: URL path -> [file, content type]. */
const ROUTES = new Map([
  ['/', [join(here, 'index.html'), 'text/html; charset=utf-8']],
  ['/index.html', [join(here, 'index.html'), 'text/html; charset=utf-8']],
  ['/stripecast-client.js', [clientPath, 'text/javascript; charset=utf-8']],
  ['/webrtc.html', [join(here, 'webrtc.html'), 'text/html; charset=utf-8']],
  ['/stripecast-webrtc.js', [webrtcClientPath, 'text/javascript; charset=utf-8']],
])

export const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '::1', '[::1]'])

export function isLoopback(host) {
  return host === 'localhost' || host === '::1' || /^127\./.test(host)
}

export function sameSecret(given, token) {
  if (typeof given !== 'string') return false
  // hash both so the comparison is constant-time whatever the lengths
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}

export function hostnameOf(hostHeader) {
  if (!hostHeader) return ''
  if (hostHeader.startsWith('[')) return hostHeader.slice(0, hostHeader.indexOf(']') + 1).toLowerCase()
  return hostHeader.replace(/:\d+$/, '').toLowerCase()
}

/**
 * Listens on `port` (0 = any free one) and returns the port and the page's URL (with the token,
 * when there is one). Shared with ../socketio.
 */
export async function listen(server, port, host, token) {
  await new Promise((resolve, reject) => {
    server.once('error', (e) => reject(portError(e, port, host)))
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = server.address().port
  const urlHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host
  return { port: bound, url: `http://${urlHost}:${bound}/${token ? `?token=${encodeURIComponent(token)}` : ''}` }
}

/**
 * Starts the server.
 * @param {object} [o]
 * @param {'jpeg'|'h264'} [o.codec='jpeg']
 * @param {number} [o.fps=60]
 * @param {number} [o.quality] JPEG quality (addon default 75)
 * @param {number} [o.crf] H.264 CRF (addon default 23)
 * @param {boolean} [o.fullframe=true] H.264: one stream (true) or one per stripe
 * @param {boolean} [o.fullcolor] H.264 4:4:4
 * @param {Function} [o.ScreenCapture] what `new ScreenCapture()` makes for the hub (default: the
 *   addon's, capturing X; examples/frames-from-js.mjs hands in a `fromFrames()` capture)
 * @param {string|object} [o.region] 'WxH+X+Y' or { captureWidth, captureHeight, captureX, captureY }
 * @param {string} [o.display] X display (default $DISPLAY)
 * @param {boolean} [o.cursor=true] draw the cursor
 * @param {boolean} [o.tiles=true] JPEG: send only the changed columns (`jpegTiles`); false
 *   keeps pixelflux's wire format
 * @param {boolean} [o.scrollCopies] JPEG: send moved rows as copies (`scrollCopies`); default
 *   true, false with `tiles: false` (pixelflux's wire format)
 * @param {object} [o.capture] extra CaptureSettings, e.g. { usePaintOverQuality: false }
 * @param {number} [o.port=8080] 0 = a free port
 * @param {string} [o.host='127.0.0.1']
 * @param {string} [o.token] required as ?token= on the page, the module and the WebSocket
 * @param {number} [o.maxBufferedBytes] per-viewer bound on queued bytes (default 8 MiB)
 * @param {number} [o.idleStopMs=5000] stop capturing this long after the last viewer left
 * @param {'ws'|'webrtc'} [o.transport='ws'] what the page at / uses (WHEP is served either way)
 * @param {number} [o.maxBitrate] WebRTC: pacing ceiling per viewer in bits/s (default 50e6)
 * @param {object} [o.webrtc] more createBroadcaster options (e.g. { keyframeMinIntervalMs })
 * @param {boolean} [o.control=false] accept input (pointer, wheel, keys, text, paste) from the
 *   viewer holding control (docs/api.md, "Control messages"); forces a token (generated when
 *   none is given) and opens an InputInjector (and a Clipboard) on the capture's display/region
 * @param {number} [o.clipboardMaxBytes] control: the largest paste in UTF-8 bytes (256 KiB)
 * @param {Function} [o.InputInjector] control: what makes the injector (default: the addon's)
 * @param {Function|null} [o.Clipboard] control: what makes the clipboard (default: the addon's;
 *   null: pasting sends no text, only the keys)
 * @param {(line: string) => void} [o.log] default: nothing
 * @returns {Promise<{url: string, port: number, host: string, token: string|null, hub: ReturnType<typeof createHub>, whep: ReturnType<typeof createWhep>, control: import('../../control').Control|null, readonly ignoredInput: number, close(): Promise<void>}>}
 */
export async function startServer(o = {}) {
  const settings = captureSettings({ ...o, fullframe: o.fullframe ?? true })
  const host = o.host ?? '127.0.0.1'
  // Control without a token would let anyone who reaches the port drive the desktop.
  const token = o.token ? String(o.token) : o.control ? randomBytes(18).toString('base64url') : null
  const log = o.log ?? (() => {})
  const hub = createHub({ settings, maxBufferedBytes: o.maxBufferedBytes, idleStopMs: o.idleStopMs ?? 5000, log, ScreenCapture: o.ScreenCapture })
  const transport = o.transport ?? 'ws'
  if (transport !== 'ws' && transport !== 'webrtc') throw new RangeError(`transport must be 'ws' or 'webrtc', got '${transport}'`)
  // WebRTC carries one full-frame H.264 stream: the codec options that apply are kept
  const whep = createWhep({
    settings: captureSettings({ ...o, codec: 'h264', fullframe: true, tiles: undefined }),
    // the ICE candidates follow the HTTP binding: loopback stays loopback
    bindAddress: isLoopback(host) ? '127.0.0.1' : undefined,
    maxBitrate: o.maxBitrate,
    idleStopMs: o.idleStopMs ?? 5000,
    log,
    ...o.webrtc,
  })
  // fail now, not when the first viewer arrives, on a display that cannot be opened
  const info = hub.probe()
  log(`display ${info.display}: ${info.width}x${info.height} (${info.encoder})`)
  const { control, injector, clipboard } = o.control ? openControl(o, settings, log) : {}
  let ignoredInput = 0 // input messages that arrived without --control

  /** null when the request may go on, else [status, message]. */
  function refuse(req, url) {
    const hostname = hostnameOf(req.headers.host)
    if (isLoopback(host) && !LOOPBACK_NAMES.has(hostname)) {
      // bound to loopback: a foreign Host header means DNS rebinding, not a local user
      return [403, 'forbidden host']
    }
    if (token && !sameSecret(url.searchParams.get('token'), token)) return [401, 'token required']
    return null
  }

  /** [403, why] when a browser's Origin is not this server (another site's page), else null. */
  function refuseOrigin(req) {
    const origin = req.headers.origin
    if (!origin) return null
    let originHost = ''
    try {
      originHost = new URL(origin).host.toLowerCase()
    } catch {}
    return originHost === String(req.headers.host ?? '').toLowerCase() ? null : [403, `forbidden origin ${origin}`]
  }

  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
        'Referrer-Policy': 'no-referrer',
      })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    try {
      const wherePath = (req.url ?? '').split('?')[0]
      if (wherePath === '/whep' || wherePath.startsWith('/whep/')) {
        const url = new URL(req.url ?? '/', 'http://localhost')
        const no = refuse(req, url) ?? refuseOrigin(req)
        if (no) return send(no[0], no[1] + '\n')
        return await whep.handle(req, res, url)
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n')
      // Route on the raw path, never a normalised one: '/x/../index.html' is not '/index.html'.
      const rawPath = (req.url ?? '').split('?')[0]
      let decoded
      try {
        decoded = decodeURIComponent(rawPath)
      } catch {
        return send(400, 'bad path\n')
      }
      if (decoded.includes('..') || decoded.includes('\\') || decoded.includes('\0')) return send(403, 'forbidden\n')
      const url = new URL(req.url ?? '/', 'http://localhost')
      const no = refuse(req, url)
      if (no) return send(no[0], no[1] + '\n')
      const route = ROUTES.get(transport === 'webrtc' && (rawPath === '/' || rawPath === '/index.html') ? '/webrtc.html' : rawPath)
      if (!route) return send(404, 'not found\n')
      const body = await readFile(route[0])
      send(200, body, route[1])
    } catch (e) {
      log(`http error: ${e.message}`)
      if (!res.headersSent) send(500, 'internal error\n')
      else res.destroy()
    }
  })

  // a paste is the largest message; without control nothing larger than a few bytes is expected
  const wss = new WebSocketServer({ noServer: true, maxPayload: control ? control.maxMessageBytes : MAX_MESSAGE_BYTES, perMessageDeflate: false })

  server.on('upgrade', (req, socket, head) => {
    const reject = (status, text) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    }
    const rawPath = (req.url ?? '').split('?')[0]
    if (rawPath !== '/ws') return reject(404, 'Not Found')
    const url = new URL(req.url, 'http://localhost')
    const no = refuse(req, url)
    if (no) return reject(no[0], no[0] === 401 ? 'Unauthorized' : 'Forbidden')
    // Browsers send Origin on WebSockets and do not apply the same-origin policy to them:
    // without this check any web page could open ws://127.0.0.1:8080/ws and watch the screen.
    if (refuseOrigin(req)) return reject(403, 'Forbidden')
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req))
  })

  wss.on('connection', (ws, req) => {
    const who = `${req.socket.remoteAddress}:${req.socket.remotePort}`
    let viewer
    try {
      viewer = hub.addViewer({
        send: (buf) => ws.send(buf, { binary: true }),
        sendText: (s) => ws.send(s),
        bufferedAmount: () => ws.bufferedAmount,
        close: () => ws.close(1001, 'server closing'),
      })
    } catch (e) {
      log(`cannot start the capture for ${who}: ${e.message}`)
      ws.send(JSON.stringify({ type: 'error', message: e.message, code: e.code }))
      ws.close(1011, 'capture failed')
      return
    }
    log(`viewer ${who} joined (${hub.viewerCount} watching)`)
    const session = control?.join(who, { send: (obj) => ws.readyState === ws.OPEN && ws.send(JSON.stringify(obj)) })
    // tells the page that control is on, and whether someone has it
    if (session) ws.send(JSON.stringify({ type: 'control', v: 1, granted: false, free: control.holder === null }))
    ws.isAlive = true
    ws.on('pong', () => (ws.isAlive = true))
    ws.on('message', (data, isBinary) => {
      if (isBinary) return
      if (data.length === 8 && data.toString() === 'keyframe') viewer.requestKeyframe()
      else if (data[0] === 0x7b /* { */) {
        if (session) session.handle(data)
        else ignoredInput++
      }
    })
    ws.on('close', () => {
      session?.leave()
      viewer.remove()
      log(`viewer ${who} left (${hub.viewerCount} watching, ${viewer.stats.dropped} stripes dropped for it)`)
    })
    ws.on('error', () => {})
  })

  // Drop viewers that vanished without closing (laptop lid, network gone).
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!ws.isAlive) {
        ws.terminate()
        continue
      }
      ws.isAlive = false
      ws.ping()
    }
  }, 30000)
  heartbeat.unref()

  let bound
  try {
    bound = await listen(server, o.port ?? 8080, host, token)
  } catch (e) {
    clearInterval(heartbeat)
    control?.close()
    injector?.close?.()
    clipboard?.close?.()
    throw e
  }
  const { port, url } = bound

  let closing = null
  return {
    url,
    port,
    host,
    token,
    hub,
    whep,
    control: control ?? null,
    get ignoredInput() {
      return ignoredInput
    },
    close() {
      closing ??= new Promise((resolve) => {
        clearInterval(heartbeat)
        if (control) {
          control.close() // releases whatever the controlling viewer held
          injector.close?.()
          clipboard?.close?.()
        }
        hub.close()
        whep.close()
        for (const ws of wss.clients) ws.terminate()
        wss.close()
        server.close(() => resolve())
        server.closeAllConnections()
      })
      return closing
    },
  }
}

/** The injector (and clipboard) on the capture's display and region, and the arbiter over them. */
function openControl(o, settings, log) {
  const addon = o.InputInjector && o.Clipboard !== undefined ? {} : loadAddon()
  const Injector = o.InputInjector ?? addon.InputInjector
  if (typeof Injector !== 'function') {
    throw Object.assign(new Error('--control: this build of the addon has no InputInjector'), { code: 'ERR_NO_INPUT' })
  }
  const where = {}
  for (const k of INPUT_SETTINGS) if (settings[k] !== undefined) where[k] = settings[k]
  const injector = new Injector(where)
  const maxBytes = o.clipboardMaxBytes ?? CLIPBOARD_MAX_BYTES
  const Clip = o.Clipboard === undefined ? addon.Clipboard : o.Clipboard
  let clipboard = null
  if (typeof Clip === 'function') {
    try {
      clipboard = new Clip({ display: settings.display, maxBytes })
    } catch (e) {
      log(`control: no clipboard (${e.message}): a paste sends only its keys`)
    }
  }
  const control = createControl({ injector, clipboard, maxClipboardBytes: maxBytes, log })
  const r = injector.region
  log(`control: on${r ? ` for ${r.width}x${r.height}+${r.x}+${r.y}` : ''}, one viewer at a time${clipboard ? '' : ', no clipboard'}`)
  return { control, injector, clipboard }
}

/** Prints the options (the comment at the top of this file). */
export async function printHelp() {
  const src = await readFile(fileURLToPath(import.meta.url), 'utf8')
  const lines = src.split('\n').slice(1)
  const end = lines.findIndex((l) => !l.startsWith('//'))
  console.log(lines.slice(0, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
}

/**
 * The command line shared by this example and ../socketio: options (see the top of this file),
 * `--help`, a warning when exposed without a token, start, and a clean shutdown on signals.
 */
export async function runCli(start, name = 'stripecast') {
  let opts
  try {
    opts = optionsFromCli()
    if (opts.help) return printHelp()
    checkOptions(opts)
  } catch (e) {
    exitWith(e, name)
  }
  if (!isLoopback(opts.host) && !opts.token && !opts.control) {
    console.warn(`warning: listening on ${opts.host} without --token: anyone who can reach this port sees the screen`)
  }
  let srv
  try {
    srv = await start({ ...opts, log: (l) => console.log(l) })
  } catch (e) {
    exitWith(e, name)
  }
  if (opts.control && !opts.token) console.log('control: on, with a generated token: whoever has this URL can view and control the screen')
  console.log(`open ${srv.url}`)
  const shutdown = () => {
    srv.close().then(() => process.exit(0))
    setTimeout(() => process.exit(0), 2000).unref()
  }
  process.once('SIGINT', shutdown)
  process.once('SIGTERM', shutdown)
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runCli(startServer)
