// WHIP out (RFC 9725): stripecast/webrtc publishes an X screen to a WHIP endpoint that this test
// runs itself with node-datachannel (POST offer -> 201 + answer + Location; DELETE leaves; a
// Bearer token). The endpoint depacketizes the RTP it receives (single NAL, STAP-A, FU-A) back
// into Annex-B access units; they must be byte for byte what the capture delivered, and ffmpeg's
// decoding of them must match the X screen. No third-party ingest (LiveKit, Cloudflare, ...)
// can be reached from here: only this endpoint is tested.
// Needs node-datachannel and ffmpeg; without them it FAILS.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { createServer } from 'node:http'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { bgrxImage, psnr } from './helpers/frames.mjs'
import { decodeH264 } from './helpers/h264.mjs'
import { waitFor, sleep } from './helpers/capture.mjs'
import { drawCard } from '../bench/lib/cards.mjs'
import { captureSettings } from '../examples/screen-to-browser/viewers.mjs'
import { requireNodeDatachannel } from './helpers/webrtc.mjs'

const require = createRequire(import.meta.url)
const W = 640
const H = 360
const TOKEN = 's3cret-whip'
const MIN_PSNR = 35

/** NAL units (without start codes) of an Annex-B buffer. */
function nals(buf) {
  const starts = []
  for (let i = 0; i + 2 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      starts.push(i + 3)
      i += 2
    }
  }
  return starts.map((s, k) => {
    let end = k + 1 < starts.length ? starts[k + 1] - 3 : buf.length
    if (k + 1 < starts.length && buf[end - 1] === 0) end-- // a 4-byte start code's leading zero
    return buf.subarray(s, end)
  })
}

/** RTP H.264 (RFC 6184) back to access units: arrays of NAL units, one per marker bit. */
function depacketizer() {
  const units = []
  let nalList = []
  let fu = null
  let lastSeq = null
  const seen = new Set()
  return {
    units,
    push(pkt) {
      if (pkt.length < 12 || (pkt[0] >> 6) !== 2) return
      if (pkt[1] >= 200 && pkt[1] <= 207) return // RTCP (rtcp-mux)
      const seq = pkt.readUInt16BE(2)
      // retransmissions (NACK, same SSRC) repeat a sequence number: the first copy counts
      let ext = seq
      if (lastSeq != null) ext = lastSeq + (((seq - (lastSeq & 0xffff) + 0x8000) & 0xffff) - 0x8000)
      if (seen.has(ext)) return
      seen.add(ext)
      lastSeq = Math.max(lastSeq ?? ext, ext)
      let off = 12 + 4 * (pkt[0] & 0x0f)
      if (pkt[0] & 0x10) off += 4 + 4 * pkt.readUInt16BE(off + 2)
      let end = pkt.length
      if (pkt[0] & 0x20) end -= pkt[pkt.length - 1]
      const p = pkt.subarray(off, end)
      const type = p[0] & 0x1f
      if (type >= 1 && type <= 23) nalList.push(Buffer.from(p))
      else if (type === 24) {
        for (let i = 1; i + 2 <= p.length; ) {
          const n = p.readUInt16BE(i)
          nalList.push(Buffer.from(p.subarray(i + 2, i + 2 + n)))
          i += 2 + n
        }
      } else if (type === 28) {
        if (p[1] & 0x80) fu = [Buffer.from([(p[0] & 0xe0) | (p[1] & 0x1f)])]
        if (fu) fu.push(Buffer.from(p.subarray(2)))
        if (p[1] & 0x40 && fu) {
          nalList.push(Buffer.concat(fu))
          fu = null
        }
      }
      if (pkt[1] & 0x80) {
        units.push(nalList)
        nalList = []
      }
    },
  }
}

/** A WHIP endpoint on 127.0.0.1 with node-datachannel: what one needs to see a publisher's media. */
async function startWhipEndpoint() {
  const ndc = require('node-datachannel')
  const resources = new Map()
  const requests = []
  let n = 0
  const server = createServer(async (req, res) => {
    const reply = (status, body, headers = {}) => {
      res.writeHead(status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), ...headers })
      res.end(body)
    }
    let body = ''
    for await (const c of req) body += c
    const path = req.url.split('?')[0]
    requests.push({ method: req.method, path, authorization: req.headers.authorization ?? null })
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return reply(401, 'token required\n')
    if (req.method === 'POST' && path.startsWith('/whip')) {
      if (req.headers['content-type'] !== 'application/sdp') return reply(415, 'application/sdp please\n')
      const id = `r${++n}`
      const pc = new ndc.PeerConnection(`whip-${id}`, { iceServers: [], bindAddress: '127.0.0.1', disableAutoNegotiation: true })
      const r = { pc, tracks: [], rtp: depacketizer(), packets: 0 }
      // node-datachannel lets go of a connection's callbacks (which hold the process) when it
      // reports 'closed', and only to a state handler
      pc.onStateChange(() => {})
      pc.onTrack((track) => {
        r.tracks.push(track)
        track.onClosed(() => {}) // likewise for a track

        track.setMediaHandler(new ndc.RtcpReceivingSession())
        track.onMessage((m) => {
          r.packets++
          r.rtp.push(m)
        })
      })
      pc.setRemoteDescription(body, 'offer')
      const gathered = new Promise((resolve) => pc.onGatheringStateChange((s) => s === 'complete' && resolve()))
      pc.setLocalDescription('answer')
      await gathered
      resources.set(id, r)
      if (path === '/whip/no-location') return reply(201, pc.localDescription().sdp, { 'Content-Type': 'application/sdp' })
      if (path === '/whip/ok-200') return reply(200, pc.localDescription().sdp, { 'Content-Type': 'application/sdp' })
      return reply(201, pc.localDescription().sdp, { 'Content-Type': 'application/sdp', Location: `/whip/resource/${id}` })
    }
    const m = /^\/whip\/resource\/(\w+)$/.exec(path)
    if (req.method === 'DELETE' && m) {
      const r = resources.get(m[1])
      if (!r || r.deleted) return reply(404, 'no such resource\n')
      r.deleted = true
      for (const t of r.tracks) t.close()
      r.pc.close()
      return reply(200, 'ended\n')
    }
    reply(405, 'no\n')
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    resources,
    requests,
    close() {
      for (const r of resources.values()) {
        if (r.deleted) continue
        for (const t of r.tracks) t.close()
        r.pc.close()
      }
      server.closeAllConnections()
      return new Promise((r) => server.close(r))
    },
  }
}

describe('WHIP out to an endpoint of our own (node-datachannel)', { timeout: 120000 }, () => {
  let xvfb
  let painter
  let endpoint
  let broadcaster
  const delivered = [] // every access unit the capture delivered, in order

  before(async () => {
    requireNodeDatachannel()
    xvfb = await startXvfb({ width: W, height: H })
    painter = await openPainter(xvfb.display)
    await drawCard(painter, 'photo', W, H)
    endpoint = await startWhipEndpoint()
    const { ScreenCapture } = require('stripecast')
    /** The real capture, with what it delivers noted. */
    class TappedCapture {
      constructor() {
        this.c = new ScreenCapture()
      }
      start(settings, onAu, onError) {
        return this.c.start(settings, (au) => (delivered.push(Buffer.from(au.data)), onAu(au)), onError)
      }
      get isCapturing() {
        return this.c.isCapturing
      }
      stop() {
        this.c.stop()
      }
      requestKeyframe() {
        this.c.requestKeyframe()
      }
      updateSettings(s) {
        this.c.updateSettings(s)
      }
      stats() {
        return this.c.stats()
      }
    }
    const { createBroadcaster } = require('stripecast/webrtc')
    broadcaster = createBroadcaster({
      settings: captureSettings({ codec: 'h264', fullframe: true, display: xvfb.display, fps: 30, crf: 20, cursor: false }),
      bindAddress: '127.0.0.1',
      idleStopMs: 0,
      ScreenCapture: TappedCapture,
    })
  })

  after(async () => {
    broadcaster?.close()
    await endpoint?.close()
    await painter?.close().catch(() => {})
    await xvfb?.stop()
  })

  it('refuses a bad URL, and reports what a refusing or broken endpoint did, releasing the peer', async () => {
    const { publishWhip } = require('stripecast/webrtc')
    await assert.rejects(broadcaster.publishWhip('ftp://example.org/whip'), { name: 'TypeError', code: 'ERR_INVALID_ARG', message: /url must be the http: or https: URL of a WHIP endpoint, got "ftp:\/\/example.org\/whip"/ })
    await assert.rejects(publishWhip('not a url'), { code: 'ERR_INVALID_ARG' })
    await assert.rejects(broadcaster.publishWhip(`${endpoint.url}/whip`, { token: 42 }), { code: 'ERR_INVALID_ARG', message: /token must be a non-empty string/ })
    await assert.rejects(broadcaster.publishWhip(`${endpoint.url}/whip`, { token: 'wrong' }), { name: 'WebRtcError', code: 'ERR_WHIP', status: 401, message: /answered 401 Unauthorized, expected 201 Created: token required/ })
    await assert.rejects(broadcaster.publishWhip(`${endpoint.url}/whip/ok-200`, { token: TOKEN }), { status: 200, message: /answered 200 OK, expected 201 Created/ })
    await assert.rejects(broadcaster.publishWhip(`${endpoint.url}/whip/no-location`, { token: TOKEN }), { status: 502, message: /no Location header/ })
    await assert.rejects(broadcaster.publishWhip('http://127.0.0.1:9/whip', { token: TOKEN }), { status: 502, message: /WHIP http:\/\/127.0.0.1:9\/whip: the POST failed/ })
    assert.equal(broadcaster.viewerCount, 0, 'no peer is left behind by a failed publish')
    const auth = endpoint.requests.filter((r) => r.method === 'POST').map((r) => r.authorization)
    assert.deepEqual(auth, ['Bearer wrong', `Bearer ${TOKEN}`, `Bearer ${TOKEN}`], 'the token goes as a Bearer token')
  })

  it('publishes: the endpoint receives the capture byte for byte, decodes to the screen (>= 35 dB), and DELETE ends it', async (t) => {
    const pub = await broadcaster.publishWhip(`${endpoint.url}/whip`, { token: TOKEN })
    assert.match(pub.resource, new RegExp(`^${endpoint.url}/whip/resource/r\\d+$`), 'Location resolved against the endpoint')
    const r = [...endpoint.resources.values()].at(-1)
    await waitFor(() => r.rtp.units.length >= 1, 10000, 'the first access unit at the endpoint')
    // motion, then a still screen: the last picture must be the screen as it is
    for (let i = 0; i < 8; i++) {
      await painter.fill(40 + i * 60, 60, 50, 50, i % 2 ? 'e02020' : '2040e0')
      await sleep(60)
    }
    await painter.text(50, 200, '000000', 'published over WHIP')
    await sleep(1500)
    const peer = broadcaster.stats().peers.find((p) => p.id === pub.id)
    assert.equal(peer.kind, 'publisher')
    assert.equal(peer.paced, false, 'a loopback endpoint is not paced')
    const status = await pub.close()
    assert.equal(status, 200, 'DELETE of the resource')
    assert.equal(broadcaster.viewerCount, 0)
    assert.deepEqual(endpoint.requests.at(-1), { method: 'DELETE', path: pub.resource.slice(endpoint.url.length), authorization: `Bearer ${TOKEN}` })

    // byte for byte: the units received are a run of the ones delivered, from an IDR on
    const got = r.rtp.units
    assert.ok(got.length >= 5, `only ${got.length} access units received`)
    const sent = delivered.map(nals)
    const same = (a, b) => a.length === b.length && a.every((x, i) => x.equals(b[i]))
    const at = sent.findIndex((s) => same(s, got[0]))
    assert.ok(at >= 0, `the first unit received (NAL types ${got[0].map((x) => x[0] & 0x1f)}) is none of the ${sent.length} delivered`)
    assert.ok(got[0].some((x) => (x[0] & 0x1f) === 5), 'it starts with an IDR')
    for (let i = 0; i < got.length; i++) assert.ok(same(got[i], sent[at + i]), `access unit ${i} differs from what the capture delivered`)

    const stream = Buffer.concat(got.flatMap((u) => u.flatMap((x) => [Buffer.from([0, 0, 0, 1]), x])))
    const decoded = await decodeH264(stream, W, H)
    assert.equal(decoded.count, got.length, 'every unit decodes to a picture')
    const screen = bgrxImage(await painter.dump(0, 0, W, H), W, H)
    const db = psnr(decoded.last, screen)
    assert.ok(db >= MIN_PSNR, `the endpoint's last picture is ${db.toFixed(2)} dB from the screen (< ${MIN_PSNR})`)
    t.diagnostic(`${got.length} access units (${r.packets} packets) received at the endpoint, identical to the capture's; last picture ${db.toFixed(2)} dB`)
  })
})
