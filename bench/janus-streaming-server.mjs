// The Janus Streaming-plugin alternative to examples/sfu-janus (a VideoRoom publisher), for
// bench/webrtc.mjs's `janus-streaming` path (issue 20: "publish into a VideoRoom or feed a
// Streaming-plugin RTP mountpoint; choose by measurement"). Not an example: the bench only.
//
// The capture's full-frame Annex-B access units are cut into RTP (RFC 6184: single NAL units and
// FU-A, the marker bit on an access unit's last packet, 90 kHz timestamps from captureTimeMs)
// and sent as plain RTP over UDP to an `rtp` mountpoint of a private Janus on 127.0.0.1: no ICE,
// DTLS or SRTP on our side. The mountpoint keeps the last keyframe (`videobufferkf`) for late
// viewers and has a `videortcpport`: we send it a sender report now and then so that it knows
// where we are, and a PLI/FIR that Janus sends there becomes requestKeyframe() (at most one per
// 500 ms). Each subscriber is configured for playout delay 0/0 (`lowLatencyPlayout`), as the
// VideoRoom publisher's own packets say (lib/webrtc.js): without it Chromium smooths the
// playout, about 5 ms more glass-to-glass here. The viewer page and the light viewers use the same HTTP API as examples/sfu-janus
// (POST /subscribe -> Janus's offer, POST /subscribe/<id> the answer, DELETE to leave).
//
//   const srv = await startStreamingServer({ display: ':1', port: 0, fps: 60, crf: 23 })
import { createSocket } from 'node:dgram'
import { createRequire } from 'node:module'
import { randomInt } from 'node:crypto'
import Janode from 'janode'
import StreamingPlugin from 'janode/plugins/streaming'
import { startJanus } from '../examples/sfu-janus/janus.mjs'
import { captureSettings } from '../examples/screen-to-browser/viewers.mjs'
import { serveSubscriptions } from '../examples/sfu-janus/subscriptions.mjs'

Janode.Logger.setLevel(process.env.JANODE_LOG ?? 'none')
const require = createRequire(import.meta.url)
const MOUNTPOINT = 1
const PT = 96
const CLOCK_RATE = 90000
// RTP payload per packet: 1200 bytes keeps a packet within any path's MTU once SRTP and the
// IP/UDP headers are added on Janus's side
const MAX_PAYLOAD = 1200

/** The NAL units of an Annex-B access unit (start codes 00 00 01 or 00 00 00 01 removed). */
export function splitAnnexB(buf) {
  const nals = []
  let start = -1
  let i = 0
  while (i + 2 < buf.length) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      if (start >= 0) {
        // a 4-byte start code's leading zero belongs to the start code, not to the NAL
        let end = i
        if (end > start && buf[end - 1] === 0) end--
        nals.push(buf.subarray(start, end))
      }
      i += 3
      start = i
    } else i++
  }
  if (start >= 0 && start < buf.length) nals.push(buf.subarray(start))
  return nals
}

/**
 * An RFC 6184 packetizer (packetization-mode 1, used without STAP-A): `packetize(au, ts)`
 * returns the RTP packets of one access unit.
 */
export function createH264Packetizer({ ssrc = randomInt(1, 2 ** 32), pt = PT, maxPayload = MAX_PAYLOAD } = {}) {
  let seq = randomInt(0, 65536)
  function header(ts, marker) {
    const h = Buffer.allocUnsafe(12)
    h[0] = 0x80 // V=2, no padding, extension or CSRC
    h[1] = (marker ? 0x80 : 0) | pt
    h.writeUInt16BE(seq, 2)
    seq = (seq + 1) & 0xffff
    h.writeUInt32BE(ts >>> 0, 4)
    h.writeUInt32BE(ssrc >>> 0, 8)
    return h
  }
  return {
    ssrc,
    packetize(au, ts) {
      const nals = splitAnnexB(au).filter((n) => n.length > 0)
      const packets = []
      nals.forEach((nal, n) => {
        const lastNal = n === nals.length - 1
        if (nal.length <= maxPayload) {
          packets.push(Buffer.concat([header(ts, lastNal), nal]))
          return
        }
        // FU-A: the NAL header's F and NRI bits in the indicator, its type in the FU header
        const indicator = (nal[0] & 0xe0) | 28
        const type = nal[0] & 0x1f
        for (let off = 1; off < nal.length; off += maxPayload - 2) {
          const end = Math.min(nal.length, off + maxPayload - 2)
          const fuHeader = (off === 1 ? 0x80 : 0) | (end === nal.length ? 0x40 : 0) | type
          packets.push(Buffer.concat([header(ts, lastNal && end === nal.length), Buffer.from([indicator, fuHeader]), nal.subarray(off, end)]))
        }
      })
      return packets
    },
  }
}

function freeUdpPort() {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4')
    s.once('error', reject)
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

/** RTCP PLI (PT 206 FMT 1) or FIR (PT 206 FMT 4) in a compound packet? */
function keyframeRequestIn(buf) {
  for (let off = 0; off + 4 <= buf.length; ) {
    const fmt = buf[off] & 0x1f
    const pt = buf[off + 1]
    if (pt === 206 && (fmt === 1 || fmt === 4)) return fmt === 1 ? 'pli' : 'fir'
    off += (buf.readUInt16BE(off + 2) + 1) * 4
  }
  return null
}

/**
 * Starts a Janus with one H.264 RTP mountpoint, the capture feeding it over UDP, and the
 * sfu-janus viewer page's HTTP API on 127.0.0.1.
 * @param {{ display?: string, port?: number, fps?: number, crf?: number, cursor?: boolean, bufferKeyframe?: boolean, lowLatencyPlayout?: boolean, rtcp?: boolean, burst?: number, log?: (l: string) => void }} [o]
 */
export async function startStreamingServer(o = {}) {
  const log = o.log ?? (() => {})
  const { ScreenCapture } = require('../index.js')
  const videoPort = await freeUdpPort()
  const rtcpPort = await freeUdpPort()
  const useRtcp = o.rtcp ?? true
  const janus = await startJanus({
    plugin: 'libjanus_streaming.so',
    pluginConfig: `general: { }
stripecast: {
  type = "rtp"
  id = ${MOUNTPOINT}
  description = "stripecast"
  audio = false
  video = true
  videoport = ${videoPort}
  ${useRtcp ? `videortcpport = ${rtcpPort}` : ''}
  videoiface = "127.0.0.1"
  videopt = ${PT}
  videocodec = "h264"
  videofmtp = "profile-level-id=42e01f;packetization-mode=1"
  videobufferkf = ${o.bufferKeyframe ?? true}
  playoutdelay_ext = ${!!o.lowLatencyPlayout}
}
`,
    log: o.janusLog,
  })
  const cleanups = []
  const close = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {})
    await janus.stop()
  }
  try {
    const rtpSock = createSocket('udp4')
    await new Promise((r) => rtpSock.bind(0, '127.0.0.1', r))
    cleanups.push(() => rtpSock.close())
    const packetizer = createH264Packetizer()
    const totals = { accessUnits: 0, bytes: 0, packets: 0, pli: 0, fir: 0, nack: 0, rtcpIn: 0, rtcpTypes: {}, keyframeRequests: 0 }
    const capture = new ScreenCapture()
    let lastKeyframe = Date.now()
    let keyframeTimer = null
    function requestKeyframe() {
      const wait = lastKeyframe + 500 - Date.now()
      if (wait > 0) {
        keyframeTimer ??= setTimeout(() => ((keyframeTimer = null), requestKeyframe()), wait)
        return
      }
      lastKeyframe = Date.now()
      totals.keyframeRequests++
      capture.requestKeyframe()
    }
    cleanups.push(() => clearTimeout(keyframeTimer))

    // RTCP: a sender report every second from the socket Janus should answer to (it learns our
    // address from it), PLI/FIR from Janus become keyframe requests
    let lastRtpTs = 0
    let t0 = null
    const startTs = randomInt(0, 2 ** 32)
    if (useRtcp) {
      const rtcpSock = createSocket('udp4')
      await new Promise((r) => rtcpSock.bind(0, '127.0.0.1', r))
      rtcpSock.on('message', (m) => {
        totals.rtcpIn++
        // every packet of the compound counted by type, to see what Janus sends a source: RTPFB
        // (205) FMT 1 is a generic NACK (we do not resend: plain RTP keeps no history)
        for (let off = 0; off + 4 <= m.length; off += (m.readUInt16BE(off + 2) + 1) * 4) {
          const key = `${m[off + 1]}/${m[off] & 0x1f}`
          totals.rtcpTypes[key] = (totals.rtcpTypes[key] ?? 0) + 1
          if (m[off + 1] === 205 && (m[off] & 0x1f) === 1) totals.nack++
        }
        const kind = keyframeRequestIn(m)
        if (!kind) return
        totals[kind]++
        requestKeyframe()
      })
      const sendSr = () => {
        const sr = Buffer.alloc(28)
        sr[0] = 0x80
        sr[1] = 200
        sr.writeUInt16BE(6, 2)
        sr.writeUInt32BE(packetizer.ssrc >>> 0, 4)
        const ms = Date.now() + 2208988800000 // NTP epoch 1900
        sr.writeUInt32BE(Math.floor(ms / 1000) >>> 0, 8)
        sr.writeUInt32BE(Math.floor(((ms % 1000) / 1000) * 2 ** 32) >>> 0, 12)
        sr.writeUInt32BE(lastRtpTs >>> 0, 16)
        sr.writeUInt32BE(totals.packets >>> 0, 20)
        sr.writeUInt32BE(totals.bytes >>> 0, 24)
        rtcpSock.send(sr, rtcpPort, '127.0.0.1')
      }
      sendSr()
      const srTimer = setInterval(sendSr, 1000)
      cleanups.push(() => (clearInterval(srTimer), rtcpSock.close()))
    }

    // Paced by default: a 1080p IDR is ~100 packets, and sent at once it overflows Janus's
    // socket buffer (net.core.rmem_default) while its thread waits for the CPU; then no picture
    // until the viewer's PLI comes back. `burst` packets per millisecond at most (0: unpaced).
    const burst = o.burst ?? 16
    const queue = []
    let pacer = null
    function flush() {
      if (pacer) return
      const n = burst > 0 ? Math.min(burst, queue.length) : queue.length
      for (const p of queue.splice(0, n)) rtpSock.send(p, videoPort, '127.0.0.1')
      if (queue.length) pacer = setTimeout(() => ((pacer = null), flush()), 1)
    }
    cleanups.push(() => clearTimeout(pacer))

    const info = capture.start(
      captureSettings({ codec: 'h264', fullframe: true, display: o.display, fps: o.fps, crf: o.crf, cursor: o.cursor, capture: { omitStripeHeaders: true, h264Fullframe: true } }),
      (au) => {
        t0 ??= au.captureTimeMs
        lastRtpTs = (startTs + Math.round((au.captureTimeMs - t0) * (CLOCK_RATE / 1000))) >>> 0
        if (au.isKeyFrame) lastKeyframe = Math.max(lastKeyframe, Date.now())
        const packets = packetizer.packetize(au.data, lastRtpTs)
        totals.accessUnits++
        totals.bytes += au.data.length
        totals.packets += packets.length
        queue.push(...packets)
        flush()
      },
      (e) => log(`capture error ${e.code ?? ''}: ${e.message}`),
    )
    cleanups.push(() => capture.stop())
    log(`capture ${info.width}x${info.height} -> RTP 127.0.0.1:${videoPort} (RTCP ${useRtcp ? rtcpPort : 'none'})`)

    const connection = await Janode.connect({ is_admin: false, address: { url: janus.url } })
    connection.on('error', () => {})
    cleanups.push(() => connection.close())
    const session = await connection.create()

    const subs = await serveSubscriptions({
      attach: async () => {
        const handle = await session.attach(StreamingPlugin)
        const r = await handle.watch({ id: MOUNTPOINT })
        if (o.lowLatencyPlayout) {
          // playout delay 0/0 as the VideoRoom publisher's packets carry it (lib/webrtc.js
          // lowLatencyPlayout): here Janus adds the extension, per subscriber, when asked
          const mid = /^a=mid:(\S+)/m.exec(r.jsep.sdp)?.[1]
          await handle.message({ request: 'configure', min_delay: 0, max_delay: 0, streams: mid ? [{ mid, min_delay: 0, max_delay: 0 }] : undefined })
        }
        return { handle, sdp: r.jsep.sdp }
      },
      port: o.port ?? 0,
      log,
    })
    cleanups.push(() => subs.close())
    const { port, url } = subs
    return {
      url,
      port,
      janusPid: janus.pid,
      janusOutput: () => janus.output,
      stats: () => ({ capture: capture.stats(), ...totals, subscribers: subs.count() }),
      close,
    }
  } catch (e) {
    await close()
    throw e
  }
}
