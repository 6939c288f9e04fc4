// The viewer side of a Janus fan-out: the page (viewer.html), and subscriptions that Janus
// offers and the page answers. Shared by examples/sfu-janus (VideoRoom) and the benchmark's
// Streaming-plugin server (bench/janus-streaming-server.mjs); they differ only in how a
// subscriber handle is attached.
import { createServer } from 'node:http'
import { readFile } from 'node:fs/promises'
import { randomUUID } from 'node:crypto'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { LOOPBACK_NAMES, hostnameOf, listen } from '../screen-to-browser/server.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const ROUTES = new Map([
  ['/', [join(here, 'viewer.html'), 'text/html; charset=utf-8']],
  ['/stripecast-webrtc.js', [join(here, '..', '..', 'client', 'stripecast-webrtc.js'), 'text/javascript; charset=utf-8']],
])
const MAX_ANSWER_BYTES = 65536

/**
 * Serves the viewer page and `POST /subscribe` (201 + Janus's SDP offer + Location),
 * `POST /subscribe/<id>` (the page's SDP answer) and `DELETE /subscribe/<id>`, on 127.0.0.1
 * only (a foreign Host is DNS rebinding, a foreign Origin another site's page).
 * @param {object} o
 * @param {() => Promise<{handle: {start(o: object): Promise<unknown>, detach(): Promise<unknown>}, sdp: string}>} o.attach
 *   attaches a janode subscriber handle and returns it with Janus's offer
 * @param {number} [o.port=0]
 * @param {(line: string) => void} [o.log]
 * @returns {Promise<{url: string, port: number, count(): number, close(): Promise<void>}>}
 */
export async function serveSubscriptions({ attach, port = 0, log = () => {} }) {
  const subscribers = new Map() // id -> janode handle
  async function unsubscribe(id) {
    const h = subscribers.get(id)
    if (!h) return false
    subscribers.delete(id)
    await h.detach().catch(() => {})
    return true
  }

  const server = createServer(async (req, res) => {
    const reply = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(body), ...headers })
      res.end(body)
    }
    try {
      if (!LOOPBACK_NAMES.has(hostnameOf(req.headers.host))) return reply(403, 'forbidden host\n')
      if (req.headers.origin) {
        let host = ''
        try {
          host = new URL(req.headers.origin).host
        } catch {}
        if (host !== req.headers.host) return reply(403, `forbidden origin ${req.headers.origin}\n`)
      }
      const path = (req.url ?? '').split('?')[0]
      if (path === '/subscribe' && req.method === 'POST') {
        const { handle, sdp } = await attach()
        const id = randomUUID()
        subscribers.set(id, handle)
        return reply(201, sdp, { 'Content-Type': 'application/sdp', Location: `/subscribe/${id}` })
      }
      if (path.startsWith('/subscribe/')) {
        const id = path.slice('/subscribe/'.length)
        const handle = subscribers.get(id)
        if (!handle) return reply(404, `no subscription '${id}'\n`)
        if (req.method === 'DELETE') return (await unsubscribe(id), reply(200, 'left\n'))
        if (req.method !== 'POST') return reply(405, 'POST the SDP answer, or DELETE to leave\n')
        if (!/^application\/sdp/.test(req.headers['content-type'] ?? '')) return reply(415, 'Content-Type must be application/sdp\n')
        let body = ''
        for await (const c of req) {
          body += c
          if (body.length > MAX_ANSWER_BYTES) return reply(413, `the answer is larger than ${MAX_ANSWER_BYTES} bytes\n`)
        }
        await handle.start({ jsep: { type: 'answer', sdp: body } })
        return reply(204, '')
      }
      if (req.method !== 'GET') return reply(405, 'method not allowed\n')
      const route = ROUTES.get(path)
      if (!route) return reply(404, 'not found\n')
      reply(200, await readFile(route[0]), { 'Content-Type': route[1] })
    } catch (e) {
      log(`http error: ${e.message}`)
      if (!res.headersSent) reply(500, `${e.message}\n`)
    }
  })
  const bound = await listen(server, port, '127.0.0.1', null)
  return {
    url: bound.url,
    port: bound.port,
    count: () => subscribers.size,
    async close() {
      for (const id of [...subscribers.keys()]) await unsubscribe(id)
      await new Promise((r) => (server.closeAllConnections(), server.close(r)))
    },
  }
}
