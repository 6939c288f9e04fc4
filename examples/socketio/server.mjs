#!/usr/bin/env node
// The screen-to-browser example over socket.io: stripes travel as binary 'stripe' events, the
// page asks for a key frame with a 'keyframe' event. Same options as
// ../screen-to-browser/server.mjs (--codec, --fps, --quality, --crf, --fullframe/--striped,
// --region, --display, --port, --host, --token, --max-buffer).
//
//   node examples/socketio/server.mjs --codec h264 --port 8081
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { dirname, join } from 'node:path'
import { Server } from 'socket.io'
import { createHub, captureSettings } from '../screen-to-browser/viewers.mjs'
import { UsageError } from '../screen-to-browser/cli.mjs'
import { LOOPBACK_NAMES, hostnameOf, isLoopback, listen, runCli, sameSecret } from '../screen-to-browser/server.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ROUTES = new Map([
  ['/', [join(here, 'index.html'), 'text/html; charset=utf-8']],
  ['/index.html', [join(here, 'index.html'), 'text/html; charset=utf-8']],
  ['/stripecast-client.js', [join(here, '..', '..', 'client', 'stripecast-client.js'), 'text/javascript; charset=utf-8']],
])
/** Bytes a socket.io socket still has to write: engine.io's buffer plus the WebSocket's. */
function bufferedAmount(socket) {
  const conn = socket.conn
  let n = conn.transport?.socket?.bufferedAmount ?? 0
  for (const p of conn.writeBuffer ?? []) {
    const d = p.data
    n += d?.byteLength ?? (typeof d === 'string' ? d.length : 0)
  }
  return n
}

/** Same options as startServer in ../screen-to-browser/server.mjs. */
export async function startSocketIoServer(o = {}) {
  // input is wired into the WebSocket server only: refuse rather than run without it silently
  if (o.control) throw new UsageError('--control is served by examples/screen-to-browser (and the demo), not the socket.io example')
  const settings = captureSettings({ ...o, fullframe: o.fullframe ?? true })
  const host = o.host ?? '127.0.0.1'
  const token = o.token ? String(o.token) : null
  const log = o.log ?? (() => {})
  const hub = createHub({ settings, maxBufferedBytes: o.maxBufferedBytes, idleStopMs: o.idleStopMs ?? 5000, log })
  const info = hub.probe() // a display that cannot be opened fails here, not at the first viewer
  log(`display ${info.display}: ${info.width}x${info.height} (${info.encoder})`)

  function allowed(req, url) {
    if (isLoopback(host) && !LOOPBACK_NAMES.has(hostnameOf(req.headers.host))) return 403
    if (token && !sameSecret(url.searchParams.get('token'), token)) return 401
    return 0
  }

  const server = createServer(async (req, res) => {
    const send = (status, body, type = 'text/plain; charset=utf-8') => {
      res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' })
      res.end(req.method === 'HEAD' ? undefined : body)
    }
    const rawPath = (req.url ?? '').split('?')[0]
    if (rawPath.startsWith('/socket.io/')) return // socket.io answers these itself
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n')
      let decoded
      try {
        decoded = decodeURIComponent(rawPath)
      } catch {
        return send(400, 'bad path\n')
      }
      if (decoded.includes('..') || decoded.includes('\\') || decoded.includes('\0')) return send(403, 'forbidden\n')
      const status = allowed(req, new URL(req.url, 'http://localhost'))
      if (status) return send(status, status === 401 ? 'token required\n' : 'forbidden host\n')
      const route = ROUTES.get(rawPath)
      if (!route) return send(404, 'not found\n')
      send(200, await readFile(route[0]), route[1])
    } catch (e) {
      if (!res.headersSent) send(500, 'internal error\n')
    }
  })

  const io = new Server(server, {
    maxHttpBufferSize: 4096, // viewers only send 'keyframe'
    perMessageDeflate: false,
    // Checked on every engine.io request (polling and the WebSocket upgrade): foreign Host
    // (DNS rebinding), foreign Origin (cross-site WebSocket hijacking) and the token.
    allowRequest: (req, cb) => {
      const url = new URL(req.url, 'http://localhost')
      if (allowed(req, url)) return cb('forbidden', false)
      const origin = req.headers.origin
      if (origin) {
        let oh = ''
        try {
          oh = new URL(origin).host.toLowerCase()
        } catch {}
        if (oh !== String(req.headers.host ?? '').toLowerCase()) return cb('forbidden origin', false)
      }
      cb(null, true)
    },
  })

  io.on('connection', (socket) => {
    let viewer
    try {
      viewer = hub.addViewer({
        send: (buf) => socket.emit('stripe', buf),
        sendText: (s) => socket.emit('message', JSON.parse(s)),
        bufferedAmount: () => bufferedAmount(socket),
        close: () => socket.disconnect(true),
      })
    } catch (e) {
      socket.emit('message', { type: 'error', message: e.message, code: e.code })
      socket.disconnect(true)
      return
    }
    log(`viewer ${socket.id} joined (${hub.viewerCount} watching)`)
    socket.on('keyframe', () => viewer.requestKeyframe())
    socket.on('disconnect', () => {
      viewer.remove()
      log(`viewer ${socket.id} left (${hub.viewerCount} watching)`)
    })
  })

  const { port, url } = await listen(server, o.port ?? 8080, host, token)
  let closing = null
  return {
    url,
    port,
    host,
    hub,
    close() {
      closing ??= new Promise((resolve) => {
        hub.close()
        io.close(() => resolve()) // closes the HTTP server too
        server.closeAllConnections()
      })
      return closing
    },
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) runCli(startSocketIoServer)
