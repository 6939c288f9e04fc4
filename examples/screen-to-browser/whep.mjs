// WHEP (WebRTC-HTTP Egress Protocol) for the example server: a viewer POSTs its SDP offer to
// /whep and gets `201 Created` with the SDP answer and `Location: /whep/<id>`; DELETE on that
// location leaves. Non-trickle: the answer carries all of the server's candidates, so PATCH
// (trickle ICE) is refused with 405 as the draft allows. The server checks Host, token and
// Origin before calling handle(). The broadcaster (stripecast/webrtc, node-datachannel) is
// created on the first offer, so a server that never sees one never loads node-datachannel.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const MAX_SDP_BYTES = 64 * 1024 // an offer is a few KB; more is not an offer

function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = []
    let size = 0
    req.on('data', (c) => {
      size += c.length
      if (size > limit) {
        // answer now and discard the rest (destroying the socket would lose the answer)
        reject(Object.assign(new Error(`the offer is larger than ${limit} bytes`), { status: 413 }))
        req.removeAllListeners('data')
        req.resume()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    req.on('error', reject)
  })
}

/**
 * @param {object} o createBroadcaster options (settings, bindAddress, maxBitrate, log, ...)
 */
export function createWhep(o) {
  let broadcaster = null
  const log = o.log ?? (() => {})
  const get = () => (broadcaster ??= require('stripecast/webrtc').createBroadcaster(o))

  function reply(res, status, body, headers = {}) {
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Content-Type-Options': 'nosniff',
      'Content-Length': Buffer.byteLength(body),
      ...headers,
    })
    res.end(body)
  }

  /** Handles a request on /whep or /whep/<id>; `url` is parsed (with the token, if any). */
  async function handle(req, res, url) {
    const path = url.pathname
    if (path === '/whep') {
      if (req.method === 'OPTIONS') return reply(res, 204, '', { Allow: 'OPTIONS, POST', 'Accept-Post': 'application/sdp' })
      if (req.method !== 'POST') return reply(res, 405, `${req.method} is not allowed on /whep: POST an SDP offer\n`, { Allow: 'OPTIONS, POST' })
      const type = String(req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase()
      if (type !== 'application/sdp') {
        return reply(res, 415, `Content-Type must be application/sdp, got '${type || 'none'}'\n`, { 'Accept-Post': 'application/sdp' })
      }
      let offer
      try {
        offer = await readBody(req, MAX_SDP_BYTES)
      } catch (e) {
        return reply(res, e.status ?? 400, `${e.message}\n`, { Connection: 'close' })
      }
      let answer
      try {
        answer = await get().answer(offer)
      } catch (e) {
        log(`whep: offer refused: ${e.message}`)
        return reply(res, e.status ?? 500, `${e.message}\n`)
      }
      const token = url.searchParams.get('token')
      const location = `/whep/${answer.id}${token ? `?token=${encodeURIComponent(token)}` : ''}`
      log(`whep: viewer ${answer.id} answered`)
      return reply(res, 201, answer.sdp, { 'Content-Type': 'application/sdp', Location: location })
    }
    const id = path.slice('/whep/'.length)
    if (req.method === 'OPTIONS') return reply(res, 204, '', { Allow: 'OPTIONS, DELETE' })
    if (req.method === 'PATCH') {
      return reply(res, 405, 'trickle ICE is not supported: send the offer with its candidates (wait for gathering to complete)\n', { Allow: 'OPTIONS, DELETE' })
    }
    if (req.method !== 'DELETE') return reply(res, 405, `${req.method} is not allowed on a WHEP session: DELETE it to leave\n`, { Allow: 'OPTIONS, DELETE' })
    if (!broadcaster || !broadcaster.remove(id)) return reply(res, 404, `no WHEP session '${id}'\n`)
    return reply(res, 200, 'left\n')
  }

  return {
    handle,
    /** The broadcaster, once a viewer asked for one (null before). */
    get broadcaster() {
      return broadcaster
    },
    close() {
      broadcaster?.close()
    },
  }
}
