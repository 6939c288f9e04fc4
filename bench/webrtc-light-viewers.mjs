#!/usr/bin/env node
// Viewers that cost almost nothing, for bench/webrtc.mjs's CPU runs: they receive the stream and
// drop it without decoding, in this process of their own, so that the server's CPU per viewer
// can be measured with 16 of them on a 2-core machine (16 decoding Chromium pages saturate it).
//
//   node bench/webrtc-light-viewers.mjs ws|whep|janus URL
//   IPC in:  { add: N } -> joins until N viewers, answers { added: N, errors: [...] }
//            'counts'   -> answers { counts: [{ messages, bytes, frames, firstPictureMs }] } per
//                          viewer (firstPictureMs: from its first request to the end of the
//                          first access unit with an IDR it received; firstPacketMs: to its
//                          first RTP packet, i.e. ICE + DTLS; WebRTC kinds only)
//   SIGTERM leaves (WHEP DELETE / subscription DELETE) and exits.
//
// ws: a WebSocket client of the example server's /ws (counts binary messages and bytes; with
// full-frame H.264 one message is one access unit). whep: a node-datachannel peer POSTs a
// recvonly H.264 offer to /whep. janus: POST /subscribe gets Janus's offer, a node-datachannel
// peer answers it (the example viewer page's flow). WebRTC peers run libdatachannel's
// RtcpReceivingSession (receiver reports back to the sender, as a browser would) and count RTP
// packets, payload bytes and frames (RTP marker bits: the last packet of each access unit).
import { createRequire } from 'node:module'
import WebSocket from 'ws'

const require = createRequire(import.meta.url)
const [kind, pageUrl] = process.argv.slice(2)
const base = new URL(pageUrl)
const viewers = []
const RECEIVER_REPORTS = process.env.LIGHT_RR === '1'

/** Does this RTP packet carry (the start of) an IDR slice or an SPS (RFC 6184 payloads)? */
function startsKeyframe(msg) {
  let off = 12 + 4 * (msg[0] & 0x0f)
  if (msg[0] & 0x10) off += 4 + 4 * msg.readUInt16BE(off + 2) // header extension (Janus adds mid)
  if (off >= msg.length) return false
  const type = msg[off] & 0x1f
  if (type === 5 || type === 7) return true
  if (type === 28) return (msg[off + 1] & 0x80) !== 0 && ((msg[off + 1] & 0x1f) === 5 || (msg[off + 1] & 0x1f) === 7) // FU-A start
  if (type === 24) return off + 3 < msg.length && ((msg[off + 3] & 0x1f) === 5 || (msg[off + 3] & 0x1f) === 7) // STAP-A's first NAL
  return false
}

function rtpCounter() {
  // firstPictureAt: the end (marker bit) of the first access unit with an IDR: when a decoder
  // could show its first picture
  const c = { messages: 0, bytes: 0, frames: 0, rtcp: 0, joinedAt: Date.now(), firstPacketAt: null, firstIdrAt: null, firstPictureAt: null }
  return {
    c,
    onMessage(msg) {
      const pt = msg[1] & 0x7f
      // RTCP shares the port (rtcp-mux): types 200-207 read as 72-79 with the marker bit masked
      if (msg.length >= 12 && (msg[1] < 200 || msg[1] > 207)) {
        c.messages++
        c.bytes += msg.length - 12
        c.firstPacketAt ??= Date.now()
        if (c.firstIdrAt == null && startsKeyframe(msg)) c.firstIdrAt = Date.now()
        if (msg[1] & 0x80) {
          c.frames++
          if (c.firstIdrAt != null && c.firstPictureAt == null) c.firstPictureAt = Date.now()
        }
      } else if (pt >= 72 && pt <= 79) c.rtcp++
    },
  }
}

function gathered(pc, ms = 5000) {
  return new Promise((resolve, reject) => {
    if (pc.gatheringState() === 'complete') return resolve()
    const t = setTimeout(() => reject(new Error(`ICE gathering took over ${ms} ms`)), ms)
    pc.onGatheringStateChange((s) => s === 'complete' && (clearTimeout(t), resolve()))
  })
}

async function joinWs() {
  const url = new URL('/ws', base)
  url.protocol = 'ws:'
  url.search = base.search
  const ws = new WebSocket(url)
  const c = { messages: 0, bytes: 0, frames: 0 }
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return
    c.messages++
    c.frames++
    c.bytes += data.length
  })
  await new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject)))
  return { c, leave: () => ws.close() }
}

async function joinWhep() {
  const ndc = require('node-datachannel')
  const pc = new ndc.PeerConnection(`light-${viewers.length}`, { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' })
  const t0 = Date.now()
  const states = []
  pc.onStateChange((s) => states.push(`${s}@${Date.now() - t0}`))
  pc.onIceStateChange((s) => states.push(`ice ${s}@${Date.now() - t0}`))
  const video = new ndc.Video('0', 'RecvOnly')
  video.addH264Codec(96, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f')
  const track = pc.addTrack(video)
  track.onClosed(() => {}) // node-datachannel frees a track's callbacks only from onClosed
  if (RECEIVER_REPORTS) track.setMediaHandler(new ndc.RtcpReceivingSession())
  const counter = rtpCounter()
  track.onMessage(counter.onMessage)
  const done = gathered(pc)
  pc.setLocalDescription('offer')
  await done
  // The offer goes without our candidates: the server then learns our address from our own
  // connectivity checks. With them, the server's checks reach us before its answer does, and
  // libjuice (node-datachannel's ICE) then fails the connection within ~20 ms about half the
  // time on this machine ('failed' before setRemoteDescription). Chromium is not affected.
  const offer = pc.localDescription().sdp.replace(/^a=candidate:.*\r?\n/gm, '')
  const res = await fetch(new URL('/whep' + base.search, base), { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer })
  const body = await res.text()
  if (res.status !== 201) throw new Error(`POST /whep: ${res.status} ${body.trim()}`)
  const location = new URL(res.headers.get('location'), base)
  try {
    pc.setRemoteDescription(body, 'answer')
  } catch (e) {
    // seen now and then on the loaded machine; the caller retries, this one is cleaned up
    await fetch(location, { method: 'DELETE' }).catch(() => {})
    pc.close()
    throw new Error(`${e.message} (peer ${pc.state()}, ICE ${pc.iceState()}, gathering ${pc.gatheringState()}, signalling ${pc.signalingState()}; ${states.join(' ')}; answer after ${Date.now() - t0} ms)`)
  }
  return {
    c: counter.c,
    async leave() {
      await fetch(location, { method: 'DELETE' }).catch(() => {})
      track.close()
      pc.close()
    },
  }
}

async function joinJanus() {
  const ndc = require('node-datachannel')
  const res = await fetch(new URL('/subscribe', base), { method: 'POST' })
  const offer = await res.text()
  if (res.status !== 201) throw new Error(`POST /subscribe: ${res.status} ${offer.trim()}`)
  const location = new URL(res.headers.get('location'), base)
  // Janus's candidates are never on loopback: no bindAddress
  const pc = new ndc.PeerConnection(`light-${viewers.length}`, { iceServers: [], disableAutoNegotiation: true })
  pc.onStateChange(() => {}) // node-datachannel frees a connection's callbacks only through it
  const counter = rtpCounter()
  const tracks = []
  pc.onTrack((track) => {
    tracks.push(track)
    track.onClosed(() => {})
    if (RECEIVER_REPORTS) track.setMediaHandler(new ndc.RtcpReceivingSession())
    track.onMessage(counter.onMessage)
  })
  pc.setRemoteDescription(offer, 'offer')
  const done = gathered(pc)
  pc.setLocalDescription('answer')
  await done
  const r2 = await fetch(location, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription().sdp })
  if (r2.status !== 204) throw new Error(`POST ${location.pathname}: ${r2.status} ${(await r2.text()).trim()}`)
  return {
    c: counter.c,
    async leave() {
      await fetch(location, { method: 'DELETE' }).catch(() => {})
      for (const t of tracks) t.close()
      pc.close()
    },
  }
}

const join = { ws: joinWs, whep: joinWhep, janus: joinJanus }[kind]
if (!join) throw new Error(`unknown viewer kind '${kind}' (ws, whep, janus)`)

process.on('message', async (m) => {
  if (m === 'counts') return process.send({ counts: viewers.map((v) => ({ ...v.c, firstPictureMs: v.c.firstPictureAt == null ? null : v.c.firstPictureAt - v.c.joinedAt, firstPacketMs: v.c.firstPacketAt == null ? null : v.c.firstPacketAt - v.c.joinedAt })) })
  if (m && typeof m.add === 'number') {
    const errors = []
    while (viewers.length < m.add) {
      try {
        const joinedAt = Date.now() // from the first request: what a late viewer waits for
        const v = await join()
        v.c.joinedAt = joinedAt
        viewers.push(v)
      } catch (e) {
        errors.push(e.message)
        if (errors.length > 3) break
      }
    }
    process.send({ added: viewers.length, errors })
  }
})

process.once('SIGTERM', async () => {
  setTimeout(() => process.exit(0), 3000).unref()
  for (const v of viewers) await v.leave()
  process.exit(0)
})
process.send({ ready: true })
