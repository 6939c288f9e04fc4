'use strict'

/**
 * `stripecast/webrtc`: one capture's full-frame H.264 access units sent, without re-encoding,
 * to any number of WebRTC peers through node-datachannel (libdatachannel).
 *
 *   const { createBroadcaster } = require('stripecast/webrtc')
 *   const b = createBroadcaster({ settings: { targetFps: 60 } })
 *   const { id, sdp } = await b.answer(offerSdp)   // a WHEP POST: 201 with sdp, Location .../id
 *   b.remove(id)                                    // a WHEP DELETE
 *
 * Every peer gets its own RTP stream (SSRC, sequence numbers, SRTP) built from the same access
 * unit: packetised by libdatachannel's H264RtpPacketizer, with sender reports, a NACK
 * retransmission buffer and an optional pacer. RTCP from the peer is read here too: PLI/FIR
 * ask the capture for an IDR (at most one per `keyframeMinIntervalMs` for all peers together),
 * receiver reports give the loss that raises the CRF, REMB the receiver's estimate (reported).
 */

const { randomUUID, randomInt } = require('node:crypto')
const { isIP } = require('node:net')

const CLOCK_RATE = 90000
/** RTP header extension telling the receiver how long it may buffer (min and max, 10 ms units). */
const PLAYOUT_DELAY_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/playout-delay'

/** An error a signalling endpoint can answer with: `status` (HTTP) and a reason in `message`. */
class WebRtcError extends Error {
  constructor(status, message, code = 'ERR_WEBRTC') {
    super(message)
    this.name = 'WebRtcError'
    this.status = status
    this.code = code
  }
}

let ndc = null
/** node-datachannel, loaded on first use so that `stripecast` works without it. */
function datachannel() {
  if (ndc) return ndc
  try {
    ndc = require('node-datachannel')
  } catch (e) {
    throw new Error(`stripecast/webrtc needs the npm package node-datachannel (npm install node-datachannel@0.33): ${e.message}`)
  }
  return ndc
}

// ---------------------------------------------------------------------------------------------
// H.264 bitstream facts

/** Start offsets (just past the start code) of the NAL units in an Annex-B buffer. */
function nalUnits(buf) {
  const out = []
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      out.push(i + 3)
      i += 2
    }
  }
  return out
}

/**
 * `{ profileIdc, constraints, levelIdc, profileLevelId }` of the first SPS in an Annex-B access
 * unit (profile-level-id as SDP writes it, e.g. '42c02a'), or null.
 */
function spsInfo(au) {
  for (const at of nalUnits(au)) {
    if ((au[at] & 0x1f) === 7 && at + 3 < au.length) {
      const hex = (v) => v.toString(16).padStart(2, '0')
      return {
        profileIdc: au[at + 1],
        constraints: au[at + 2],
        levelIdc: au[at + 3],
        profileLevelId: hex(au[at + 1]) + hex(au[at + 2]) + hex(au[at + 3]),
      }
    }
  }
  return null
}

/**
 * The H.264 profile family a profile-level-id belongs to, as WebRTC matches them (RFC 6184 and
 * libwebrtc's table): constrained baseline is profile_idc 0x42 with constraint_set1 (0x40), or
 * 0x4d/0x58 with the constraint bits that make them baseline-compatible; the rest by profile_idc.
 */
function profileFamily(profileIdc, constraints) {
  if (profileIdc === 0x42) return constraints & 0x40 ? 'constrained-baseline' : 'baseline'
  if (profileIdc === 0x4d) return constraints & 0x80 ? 'constrained-baseline' : 'main'
  if (profileIdc === 0x64) return constraints & 0x0c ? 'constrained-high' : 'high'
  if (profileIdc === 0xf4) return 'high-444'
  return `profile-${profileIdc}`
}

// ---------------------------------------------------------------------------------------------
// SDP offers

/**
 * Reads what this module needs from an SDP offer: its video sections with their mid, direction
 * and H.264 formats. Throws WebRtcError 400 with the reason when it is not a usable offer.
 */
function parseOffer(sdp) {
  if (typeof sdp !== 'string' || !sdp.startsWith('v=0')) {
    throw new WebRtcError(400, 'the body is not an SDP offer (it must start with "v=0")', 'ERR_SDP')
  }
  const lines = sdp.split(/\r?\n/)
  const sections = []
  let cur = null
  let sessionFingerprint = false
  for (const line of lines) {
    if (line.startsWith('m=')) {
      const [kind, port, proto, ...fmts] = line.slice(2).split(' ')
      cur = { kind, port, proto, fmts, mid: null, direction: 'sendrecv', rtpmap: new Map(), fmtp: new Map(), fingerprint: false, iceUfrag: false, playoutDelayId: null }
      sections.push(cur)
      continue
    }
    if (line.startsWith('a=fingerprint:')) {
      if (cur) cur.fingerprint = true
      else sessionFingerprint = true
    }
    if (!cur) continue
    if (line.startsWith('a=mid:')) cur.mid = line.slice(6).trim()
    else if (/^a=(sendrecv|recvonly|sendonly|inactive)$/.test(line.trim())) cur.direction = line.trim().slice(2)
    else if (line.startsWith('a=rtpmap:')) {
      const m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)/.exec(line)
      if (m) cur.rtpmap.set(Number(m[1]), { codec: m[2].toUpperCase(), clock: Number(m[3]) })
    } else if (line.startsWith('a=fmtp:')) {
      const m = /^a=fmtp:(\d+) (.*)$/.exec(line.trim())
      if (m) cur.fmtp.set(Number(m[1]), m[2])
    } else if (line.startsWith('a=ice-ufrag:')) cur.iceUfrag = true
    else if (line.startsWith('a=extmap:')) {
      const m = /^a=extmap:(\d+)(?:\/\w+)? (\S+)/.exec(line.trim())
      if (m && m[2] === PLAYOUT_DELAY_URI) cur.playoutDelayId = Number(m[1])
    }
  }
  if (!sections.length) throw new WebRtcError(400, 'the SDP offer has no media section (m=)', 'ERR_SDP')
  const video = sections.find((s) => s.kind === 'video' && s.port !== '0')
  if (!video) {
    throw new WebRtcError(400, `the SDP offer has no video section (it offers: ${sections.map((s) => s.kind).join(', ')})`, 'ERR_SDP')
  }
  if (!video.mid) throw new WebRtcError(400, 'the SDP offer\'s video section has no a=mid', 'ERR_SDP')
  if (!/RTP\/S?AVPF?/.test(video.proto ?? '') || !(video.fingerprint || sessionFingerprint)) {
    throw new WebRtcError(400, `the SDP offer's video is not DTLS-SRTP (proto ${video.proto}, a=fingerprint ${video.fingerprint || sessionFingerprint ? 'present' : 'missing'})`, 'ERR_SDP')
  }
  if (video.direction !== 'recvonly' && video.direction !== 'sendrecv') {
    throw new WebRtcError(400, `the SDP offer's video is ${video.direction}: a viewer must offer recvonly (or sendrecv)`, 'ERR_SDP')
  }
  const h264 = []
  for (const [pt, map] of video.rtpmap) {
    if (map.codec !== 'H264' || map.clock !== CLOCK_RATE) continue
    const params = Object.fromEntries(
      (video.fmtp.get(pt) ?? '')
        .split(';')
        .map((kv) => kv.trim().split('='))
        .filter(([k]) => k)
        .map(([k, v]) => [k.toLowerCase(), v ?? '']),
    )
    const plid = /^[0-9a-f]{6}$/i.test(params['profile-level-id'] ?? '') ? params['profile-level-id'].toLowerCase() : '42001f'
    const profileIdc = parseInt(plid.slice(0, 2), 16)
    const constraints = parseInt(plid.slice(2, 4), 16)
    h264.push({
      pt,
      fmtp: video.fmtp.get(pt) ?? '',
      profileLevelId: plid,
      family: profileFamily(profileIdc, constraints),
      packetizationMode: Number(params['packetization-mode'] ?? 0),
    })
  }
  const offered = [...new Set([...video.rtpmap.values()].map((m) => m.codec))].filter((c) => !['RTX', 'RED', 'ULPFEC', 'FLEXFEC-03'].includes(c))
  return { mid: video.mid, h264, offered, playoutDelayId: video.playoutDelayId }
}

/**
 * The offered H.264 format to answer with for a stream of the given SPS (null: not known yet,
 * take constrained baseline, what x264 emits here): packetization-mode 1 (FU-A; mode 0 would
 * need every NAL unit to fit one packet) and the same profile family; the level may differ,
 * which level-asymmetry-allowed permits and decoders ignore in practice.
 */
function chooseFormat(h264, sps) {
  const want = sps ? profileFamily(sps.profileIdc, sps.constraints) : 'constrained-baseline'
  // a constrained-baseline stream is also valid baseline, main (0x4d) and high
  const accepts = want === 'constrained-baseline' ? ['constrained-baseline', 'baseline', 'main', 'high', 'constrained-high'] : [want]
  for (const family of accepts) {
    const f = h264.find((x) => x.packetizationMode === 1 && x.family === family)
    if (f) return f
  }
  return null
}

// ---------------------------------------------------------------------------------------------
// RTCP from a peer

/**
 * Reads a (compound) RTCP packet into counts: { pli, fir, nack, reports: [{ssrc, fractionLost,
 * cumulativeLost, jitter}], remb: bits/s | null }. Unknown packet types are skipped.
 */
function parseRtcp(buf) {
  const out = { pli: 0, fir: 0, nack: 0, reports: [], remb: null }
  let off = 0
  while (off + 4 <= buf.length) {
    const count = buf[off] & 0x1f
    const pt = buf[off + 1]
    const len = (buf.readUInt16BE(off + 2) + 1) * 4
    if ((buf[off] >> 6) !== 2 || off + len > buf.length) break
    if (pt === 200 || pt === 201) {
      // SR has 20 bytes of sender info after the sender's SSRC
      let at = off + (pt === 200 ? 28 : 8)
      for (let i = 0; i < count && at + 24 <= off + len; i++, at += 24) {
        out.reports.push({
          ssrc: buf.readUInt32BE(at),
          fractionLost: buf[at + 4] / 256,
          cumulativeLost: buf.readUIntBE(at + 5, 3),
          jitter: buf.readUInt32BE(at + 12),
        })
      }
    } else if (pt === 205 && count === 1) {
      out.nack += Math.max(0, len / 4 - 3) // each FCI word is a lost packet plus a bitmask of more
    } else if (pt === 206) {
      if (count === 1) out.pli++
      else if (count === 4) out.fir++
      else if (count === 15 && len >= 24 && buf.toString('latin1', off + 12, off + 16) === 'REMB') {
        const exp = buf[off + 17] >> 2
        const mantissa = ((buf[off + 17] & 3) << 16) | (buf[off + 18] << 8) | buf[off + 19]
        out.remb = mantissa * 2 ** exp
      }
    }
    off += len
  }
  return out
}

// ---------------------------------------------------------------------------------------------
// Pacing: where a burst can hurt

/**
 * Whether `address` (an IP literal) is on this host or the local link/LAN: loopback, RFC 1918
 * and IPv6 unique-local (fc00::/7) private ranges, link-local (169.254/16, fe80::/10). Anything
 * else, including CGNAT's 100.64/10 and names, is a path with a router queue to overflow.
 */
function isLocalAddress(address) {
  let a = String(address ?? '').toLowerCase()
  if (a.startsWith('[') && a.endsWith(']')) a = a.slice(1, -1)
  a = a.replace(/%.*$/, '') // an IPv6 zone (fe80::1%eth0)
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(a)
  if (mapped) a = mapped[1]
  const family = isIP(a)
  if (!family) return false
  if (family === 4) {
    const [b0, b1] = a.split('.').map(Number)
    return b0 === 127 || b0 === 10 || (b0 === 172 && b1 >= 16 && b1 <= 31) || (b0 === 192 && b1 === 168) || (b0 === 169 && b1 === 254)
  }
  if (a === '::1') return true
  const first = parseInt(a.split(':')[0] || '0', 16)
  return (first & 0xfe00) === 0xfc00 || (first & 0xffc0) === 0xfe80
}

const PACING_POLICIES = ['auto', 'always', 'off']

/**
 * Whether a peer's stream goes through the pacer: `{ paced, reason }`. `policy` 'always' and
 * 'off' decide alone; 'auto' paces unless the selected ICE candidate pair's remote end is local
 * (isLocalAddress) and not a TURN relay: on loopback or a LAN there is no bottleneck router
 * queue for an IDR's burst to overflow, and libdatachannel's pacer hands every packet to its
 * thread pool (measured: 6-8 ms more glass-to-glass at the median on the loaded build machine).
 * `pair` is node-datachannel's getSelectedCandidatePair() (null when unknown: paced).
 * Not local: this host's other addresses. A burst can overflow the receiving socket's buffer
 * too: unpaced 1080p IDRs into a Janus on this host's eth0 lost packets (bench/webrtc-results.md).
 */
function choosePacing(policy, pair) {
  if (policy === 'off') return { paced: false, reason: 'pacing off' }
  if (policy === 'always') return { paced: true, reason: 'pacing always' }
  const remote = pair?.remote
  if (!remote?.address) return { paced: true, reason: 'no selected candidate pair' }
  if (remote.type === 'relay' || pair.local?.type === 'relay') return { paced: true, reason: `relayed (${remote.address})` }
  if (isLocalAddress(remote.address)) return { paced: false, reason: `local peer ${remote.address}` }
  return { paced: true, reason: `remote peer ${remote.address}` }
}

// ---------------------------------------------------------------------------------------------
// The broadcaster

const FORCED = { outputMode: 'h264', h264Fullframe: true, omitStripeHeaders: true }

/** The capture settings a broadcaster runs with; a clear error for ones that cannot work. */
function broadcastSettings(settings = {}) {
  if (settings === null || typeof settings !== 'object') throw new TypeError(`settings must be an object, got ${settings === null ? 'null' : typeof settings}`)
  for (const [k, v] of Object.entries(FORCED)) {
    if (settings[k] === undefined) continue
    const same = k === 'outputMode' ? v === settings[k] || settings[k] === 1 : settings[k] === v
    if (!same) {
      throw new RangeError(`stripecast/webrtc sends one full-frame H.264 stream: ${k} must be ${JSON.stringify(v)} (or left out), got ${JSON.stringify(settings[k])}`)
    }
  }
  return { ...settings, ...FORCED }
}

function createBroadcaster(options = {}) {
  const {
    settings: userSettings = {},
    iceServers = [],
    bindAddress,
    portRange,
    maxBitrate = 50e6,
    pacing = 'auto',
    pacingIntervalMs = 5,
    keyframeMinIntervalMs = 500,
    adaptCrf = true,
    lowLatencyPlayout = true,
    idleStopMs = 5000,
    gatherTimeoutMs = 5000,
    log = () => {},
    ScreenCapture = require('../index.js').ScreenCapture,
  } = options
  const settings = broadcastSettings(userSettings)
  if (!(maxBitrate === 0 || (Number.isFinite(maxBitrate) && maxBitrate >= 100e3))) {
    throw new RangeError(`maxBitrate must be 0 (no pacing) or at least 100000 bits/s, got ${maxBitrate}`)
  }
  if (!PACING_POLICIES.includes(pacing)) {
    throw new RangeError(`pacing must be one of ${PACING_POLICIES.map((p) => `'${p}'`).join(', ')}, got ${JSON.stringify(pacing)}`)
  }
  const baseCrf = settings.h264Crf ?? 23
  const maxCrf = Math.min(51, (adaptCrf && adaptCrf.maxCrf) ?? baseCrf + 8)
  const { PeerConnection, Video, RtpPacketizationConfig, H264RtpPacketizer, RtcpSrReporter, RtcpNackResponder, PacingHandler } = datachannel()

  const peers = new Map() // id -> peer
  let capture = null
  let info = null
  let idleTimer = null
  let closed = false
  let sps = null // of the last IDR sent: what the answers match
  let firstIdr = null // { promise, resolve } while a started capture has sent none yet
  let lastKeyframe = -Infinity
  let keyframeTimer = null
  let crf = baseCrf
  let lastCrfChange = 0
  let quietSince = Date.now()
  const totals = { accessUnits: 0, bytes: 0, keyframeRequests: 0, pli: 0, fir: 0, nack: 0, crfChanges: 0, captureStarts: 0 }

  function requestKeyframe() {
    if (!capture) return
    const wait = lastKeyframe + keyframeMinIntervalMs - Date.now()
    if (wait > 0) {
      // merged into one request at the end of the interval: every asker still gets its IDR
      keyframeTimer ??= setTimeout(() => {
        keyframeTimer = null
        requestKeyframe()
      }, wait)
      return
    }
    lastKeyframe = Date.now()
    totals.keyframeRequests++
    capture.requestKeyframe()
  }

  function startCapture() {
    if (capture || closed) return
    const cap = new ScreenCapture()
    let resolveIdr
    firstIdr = { promise: new Promise((r) => (resolveIdr = r)), resolve: () => resolveIdr() }
    info = cap.start({ ...settings, h264Crf: crf }, onAccessUnit, (e) => {
      log(`capture error ${e.code ?? ''}: ${e.message}`)
      if (capture === cap && !cap.isCapturing) capture = null // fatal: the next peer restarts it
    })
    capture = cap
    lastKeyframe = Date.now() // the first picture is an IDR anyway
    totals.captureStarts++
    log(`capture started: ${info.width}x${info.height}, ${info.encoder}`)
  }

  function stopCapture() {
    clearTimeout(idleTimer)
    idleTimer = null
    if (!capture) return
    capture.stop()
    capture = null
    log('capture stopped')
  }

  function onAccessUnit(au) {
    totals.accessUnits++
    totals.bytes += au.data.length
    if (au.isKeyFrame) {
      sps = spsInfo(au.data) ?? sps
      if (firstIdr) {
        firstIdr.resolve()
        firstIdr = null
      }
    }
    for (const p of peers.values()) p.send(au)
  }

  /** Raises the CRF while peers report loss, lowers it back when they stop (at most every 2 s). */
  function adapt(fractionLost) {
    if (!adaptCrf || !capture) return
    const now = Date.now()
    if (fractionLost > 0.005) quietSince = now
    if (now - lastCrfChange < 2000) return
    let next = crf
    if (fractionLost > 0.02) next = Math.min(maxCrf, crf + 2)
    else if (now - quietSince > 10000 && crf > baseCrf) next = crf - 1
    if (next === crf) return
    try {
      capture.updateSettings({ h264Crf: next }) // the new encoder starts with an IDR
      log(`loss ${(fractionLost * 100).toFixed(1)}%: h264Crf ${crf} -> ${next}`)
      crf = next
      lastCrfChange = now
      totals.crfChanges++
    } catch (e) {
      log(`h264Crf ${next} refused: ${e.message}`)
    }
  }

  function scheduleIdleStop() {
    if (peers.size || closed) return
    clearTimeout(idleTimer)
    if (idleStopMs <= 0) return stopCapture()
    idleTimer = setTimeout(stopCapture, idleStopMs)
    idleTimer.unref?.()
  }

  /** A PeerConnection that resolves once ICE gathering is complete (no trickle). */
  function newPeerConnection(id) {
    const config = { iceServers, disableAutoNegotiation: true }
    if (bindAddress) config.bindAddress = bindAddress
    if (portRange) [config.portRangeBegin, config.portRangeEnd] = portRange
    const pc = new PeerConnection(id, config)
    // node-datachannel releases a connection's native callbacks (which keep the process alive)
    // when it reports 'closed', and only to a state handler: one from the start, so that a
    // connection closed before addPeer sets its own does not hold the process
    pc.onStateChange(() => {})
    const gathered = new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new WebRtcError(500, `ICE gathering did not complete within ${gatherTimeoutMs} ms`, 'ERR_ICE')), gatherTimeoutMs)
      pc.onGatheringStateChange((s) => {
        if (s === 'complete') {
          clearTimeout(t)
          resolve()
        }
      })
    })
    gathered.catch(() => {})
    return { pc, gathered }
  }

  /**
   * Adds a send-only H.264 track for `mid`/`pt` to pc and registers the peer; returns it.
   * `kind` is 'viewer' (answered a WHEP offer) or 'publisher' (offered to an SFU).
   */
  function addPeer(id, pc, { mid, pt, fmtp, kind, playoutDelayId }) {
    const ssrc = randomInt(1, 2 ** 31)
    const cname = `stripecast-${id.slice(0, 8)}`
    const video = new Video(mid, 'SendOnly')
    video.addH264Codec(pt, fmtp)
    video.addSSRC(ssrc, cname, 'stripecast', 'screen')
    if (maxBitrate) video.setBitrate(Math.round(maxBitrate / 1000)) // b=AS, kbit/s
    // playout delay 0/0: the receiver shows each frame once decoded instead of smoothing the
    // playout (about 5-12 ms less glass-to-glass in Chromium, bench/webrtc-results.md)
    const lowLatency = lowLatencyPlayout && playoutDelayId
    if (lowLatency) video.parseSdpLine(`a=extmap:${playoutDelayId} ${PLAYOUT_DELAY_URI}`)
    const track = pc.addTrack(video)
    const rtp = new RtpPacketizationConfig(ssrc, cname, pt, CLOCK_RATE)
    if (lowLatency) {
      rtp.playoutDelayId = playoutDelayId
      rtp.playoutDelayMin = 0
      rtp.playoutDelayMax = 0
    }
    // StartSequence: x264 writes 4-byte start codes before parameter sets and 3-byte ones
    // before further slices; this separator finds both.
    const packetizer = new H264RtpPacketizer('StartSequence', rtp)
    packetizer.addToChain(new RtcpSrReporter(rtp))
    packetizer.addToChain(new RtcpNackResponder())
    // the pacer, if any, is appended when the track opens: only then is the ICE pair known
    track.setMediaHandler(packetizer)

    const startTs = randomInt(0, 2 ** 32)
    let t0 = null
    const peer = {
      id,
      kind,
      pc,
      track,
      ssrc,
      createdAt: Date.now(),
      openedAt: null,
      firstIdrAt: null,
      ready: false, // the pacing is decided: media may flow
      paced: null,
      pacingReason: null,
      waitingForIdr: true,
      stats: { accessUnits: 0, bytes: 0, pli: 0, fir: 0, nack: 0, fractionLost: 0, cumulativeLost: 0, remb: null, skipped: 0 },
      send(au) {
        if (!peer.ready || !track.isOpen()) return
        // nothing before an IDR: a delta without its references only makes the peer ask again
        if (peer.waitingForIdr) {
          if (!au.isKeyFrame) {
            peer.stats.skipped++
            return
          }
          peer.waitingForIdr = false
          peer.firstIdrAt = Date.now()
        }
        t0 ??= au.captureTimeMs
        rtp.timestamp = (startTs + Math.round((au.captureTimeMs - t0) * (CLOCK_RATE / 1000))) >>> 0
        try {
          track.sendMessageBinary(au.data)
          peer.stats.accessUnits++
          peer.stats.bytes += au.data.length
        } catch (e) {
          log(`peer ${id}: send failed: ${e.message}`)
        }
      },
      close() {
        remove(id)
      },
    }
    // node-datachannel releases a track's native callbacks (which keep the process alive) only
    // from its onClosed event, and fires that only when a handler was set
    track.onClosed(() => {})
    track.onOpen(() => {
      peer.openedAt = Date.now()
      // decided once, before the first packet: a chain changed mid-stream could reorder packets
      // still queued in a pacer behind ones sent directly
      let pair = null
      try {
        pair = pc.getSelectedCandidatePair()
      } catch {}
      const d = maxBitrate && PacingHandler ? choosePacing(pacing, pair) : { paced: false, reason: 'maxBitrate 0' }
      if (d.paced) packetizer.addToChain(new PacingHandler(maxBitrate, pacingIntervalMs))
      peer.paced = d.paced
      peer.pacingReason = d.reason
      peer.remoteAddress = pair?.remote?.address ?? null
      peer.ready = true
      log(`${kind} ${id} connected (${peers.size} peers), ${d.paced ? 'paced' : 'not paced'}: ${d.reason}`)
      requestKeyframe() // a new peer gets a picture now, not at the next change
    })
    track.onMessage((msg) => {
      // RTCP addressed to this stream (libdatachannel hands control packets to the track)
      const r = parseRtcp(msg)
      const s = peer.stats
      if (r.pli || r.fir) {
        s.pli += r.pli
        s.fir += r.fir
        totals.pli += r.pli
        totals.fir += r.fir
        requestKeyframe()
      }
      s.nack += r.nack
      totals.nack += r.nack
      if (r.remb != null) s.remb = r.remb
      for (const rep of r.reports) {
        if (rep.ssrc !== ssrc) continue
        s.fractionLost = rep.fractionLost
        s.cumulativeLost = rep.cumulativeLost
        let worst = 0
        for (const p of peers.values()) worst = Math.max(worst, p.stats.fractionLost)
        adapt(worst)
      }
    })
    pc.onStateChange((state) => {
      if (state === 'failed' || state === 'closed') {
        log(`${kind} ${id}: ${state}`)
        remove(id)
      }
    })
    peers.set(id, peer)
    clearTimeout(idleTimer)
    idleTimer = null
    return peer
  }

  function remove(id) {
    const p = peers.get(id)
    if (!p) return false
    peers.delete(id)
    try {
      p.track.close()
    } catch {}
    try {
      p.pc.close()
    } catch {}
    log(`${p.kind} ${id} left (${peers.size} peers)`)
    scheduleIdleStop()
    return true
  }

  function ensureOpen() {
    if (closed) throw new WebRtcError(503, 'the broadcaster is closed', 'ERR_CLOSED')
    if (!capture) startCapture()
  }

  /** The SPS of the stream, waiting (bounded) for the first IDR of a capture that just started. */
  async function currentSps() {
    if (firstIdr) await Promise.race([firstIdr.promise, new Promise((r) => setTimeout(r, 2000).unref?.())])
    return sps
  }

  /**
   * Offers a send-only H.264 stream (for an SFU such as Janus's VideoRoom, or a WHIP endpoint).
   * Resolves { id, peer, sdp, setAnswer(sdp), close() }. `candidates: false` leaves our ICE
   * candidates out of the offer (see publishWhip).
   */
  async function offer({ profileLevelId = '42e01f', payloadType = 96, candidates = true } = {}) {
    ensureOpen()
    const id = randomUUID()
    const { pc, gathered } = newPeerConnection(id)
    const peer = addPeer(id, pc, {
      mid: 'video',
      pt: payloadType,
      fmtp: `profile-level-id=${profileLevelId};packetization-mode=1;level-asymmetry-allowed=1`,
      kind: 'publisher',
      playoutDelayId: 6, // ours to choose as the offerer (1-14)
    })
    pc.setLocalDescription('offer')
    try {
      await gathered
    } catch (e) {
      remove(id)
      throw e
    }
    const sdp = pc.localDescription().sdp
    return {
      id,
      peer,
      sdp: candidates ? sdp : sdp.replace(/^a=candidate:.*\r?\n/gm, ''),
      setAnswer(sdp) {
        pc.setRemoteDescription(sdp, 'answer')
      },
      close: () => remove(id),
    }
  }

  /**
   * Publishes the stream to a WHIP endpoint (RFC 9725): POSTs this broadcaster's offer (every
   * candidate in it, no trickle) with `Authorization: Bearer <token>` when a token is given,
   * expects `201 Created` with the SDP answer and a `Location`, and DELETEs that resource on
   * close(). Resolves { id, resource, peer, close() }; rejects with WebRtcError (code
   * 'ERR_WHIP', `status` the endpoint's or 502 when it could not be reached) naming what the
   * endpoint did, after releasing the peer.
   *
   * The offer carries no candidates of ours unless `sendCandidates`: a full-ICE endpoint starts
   * its checks as soon as it has them, and when they reach us before the 201 does, libdatachannel
   * 0.24 connects ICE, starts DTLS without the endpoint's fingerprint, fails the handshake and
   * closes the connection (seen here on loopback in about half the tries). Without them the
   * endpoint learns our address from our own checks, which start once its answer is set (RFC
   * 8445 peer-reflexive candidates); an ICE-lite endpoint never sends checks anyway.
   */
  async function publishWhip(url, { token, profileLevelId, timeoutMs = 10000, sendCandidates = false } = {}) {
    let endpoint = null
    try {
      endpoint = new URL(url)
    } catch {}
    if (!endpoint || (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:')) {
      throw Object.assign(new TypeError(`url must be the http: or https: URL of a WHIP endpoint, got ${JSON.stringify(url)}`), { code: 'ERR_INVALID_ARG' })
    }
    if (token !== undefined && (typeof token !== 'string' || !token)) {
      throw Object.assign(new TypeError(`token must be a non-empty string (sent as a Bearer token), got ${typeof token}`), { code: 'ERR_INVALID_ARG' })
    }
    const where = `${endpoint.origin}${endpoint.pathname}` // never the query: it may hold a secret
    const auth = token ? { Authorization: `Bearer ${token}` } : {}
    const o = await offer({ profileLevelId, candidates: sendCandidates })
    const fail = (status, why) => {
      o.close()
      return new WebRtcError(status, `WHIP ${where}: ${why}`, 'ERR_WHIP')
    }
    let res
    let body
    try {
      res = await fetch(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...auth }, body: o.sdp, signal: AbortSignal.timeout(timeoutMs) })
      body = await res.text()
    } catch (e) {
      throw fail(502, `the POST failed: ${e.cause?.message ?? e.message}`)
    }
    if (res.status !== 201) throw fail(res.status, `the endpoint answered ${res.status} ${res.statusText}, expected 201 Created: ${body.trim().slice(0, 300)}`)
    const location = res.headers.get('location')
    if (!location) throw fail(502, 'the 201 answer has no Location header (the resource to DELETE when leaving)')
    if (!body.startsWith('v=0')) throw fail(502, `the 201 answer is not SDP (it starts with ${JSON.stringify(body.slice(0, 20))})`)
    const resource = new URL(location, res.url || endpoint)
    let closing = null
    const close = () =>
      (closing ??= (async () => {
        remove(o.id)
        try {
          const r = await fetch(resource, { method: 'DELETE', headers: auth, signal: AbortSignal.timeout(timeoutMs) })
          await r.arrayBuffer()
          return r.status
        } catch (e) {
          log(`WHIP DELETE ${resource.origin}${resource.pathname} failed: ${e.message}`)
          return null
        }
      })())
    try {
      o.setAnswer(body)
    } catch (e) {
      await close()
      throw new WebRtcError(502, `WHIP ${where}: the answer was refused: ${e.message}`, 'ERR_WHIP')
    }
    log(`published to WHIP ${where} as ${resource.pathname}`)
    return { id: o.id, resource: resource.href, peer: o.peer, close }
  }

  return {
    /**
     * Answers a viewer's SDP offer (non-trickle: the answer carries every candidate).
     * Resolves { id, sdp, peer }; rejects with WebRtcError (status 400) for an offer that
     * cannot be served, naming why.
     */
    async answer(offer) {
      const parsed = parseOffer(offer)
      ensureOpen()
      const stream = await currentSps()
      const format = chooseFormat(parsed.h264, stream)
      if (!format) {
        const have = parsed.h264.length
          ? `H.264 offered: ${parsed.h264.map((f) => `${f.profileLevelId}/mode ${f.packetizationMode}`).join(', ')}`
          : `codecs offered: ${parsed.offered.join(', ') || 'none'}`
        const need = stream ? `${profileFamily(stream.profileIdc, stream.constraints)} (${stream.profileLevelId})` : 'constrained baseline'
        scheduleIdleStop()
        throw new WebRtcError(400, `the offer has no H.264 ${need} with packetization-mode=1 (${have})`, 'ERR_CODEC')
      }
      const id = randomUUID()
      const { pc, gathered } = newPeerConnection(id)
      let peer
      try {
        pc.setRemoteDescription(offer, 'offer')
        peer = addPeer(id, pc, { mid: parsed.mid, pt: format.pt, fmtp: format.fmtp, kind: 'viewer', playoutDelayId: parsed.playoutDelayId })
        pc.setLocalDescription('answer')
        await gathered
      } catch (e) {
        if (peer) remove(id)
        else {
          try {
            pc.close()
          } catch {}
          scheduleIdleStop()
        }
        if (e instanceof WebRtcError) throw e
        throw new WebRtcError(400, `the SDP offer was refused: ${e.message}`, 'ERR_SDP')
      }
      if (!peers.has(id)) throw new WebRtcError(500, 'the peer connection closed while answering', 'ERR_ICE')
      return { id, sdp: pc.localDescription().sdp, peer }
    },

    offer,
    publishWhip,

    /** Ends the peer `id` (a WHEP DELETE); false when there is no such peer. */
    remove,
    peer: (id) => peers.get(id),
    requestKeyframe,
    get viewerCount() {
      return peers.size
    },
    get capturing() {
      return !!capture
    },
    get info() {
      return info
    },
    get crf() {
      return crf
    },
    stats() {
      return {
        ...totals,
        crf,
        peers: [...peers.values()].map((p) => ({ id: p.id, kind: p.kind, open: p.track.isOpen(), paced: p.paced, pacingReason: p.pacingReason, remoteAddress: p.remoteAddress ?? null, ...p.stats, connectMs: p.openedAt && p.openedAt - p.createdAt, firstIdrMs: p.firstIdrAt && p.firstIdrAt - p.createdAt })),
        capture: capture ? capture.stats() : null,
      }
    },
    close() {
      closed = true
      clearTimeout(keyframeTimer)
      for (const id of [...peers.keys()]) remove(id)
      stopCapture()
    },
  }
}

/**
 * Publishes one capture to a WHIP endpoint with a broadcaster of its own (`options` are
 * createBroadcaster's, plus publishWhip's `token`, `profileLevelId`, `timeoutMs`, `sendCandidates`). Resolves { id, resource, broadcaster,
 * peer, close() }: close() DELETEs the resource and stops the capture.
 */
async function publishWhip(url, { token, profileLevelId, timeoutMs, sendCandidates, ...options } = {}) {
  const broadcaster = createBroadcaster({ idleStopMs: 0, ...options })
  try {
    const p = await broadcaster.publishWhip(url, { token, profileLevelId, timeoutMs, sendCandidates })
    return {
      ...p,
      broadcaster,
      async close() {
        const status = await p.close()
        broadcaster.close()
        return status
      },
    }
  } catch (e) {
    broadcaster.close()
    throw e
  }
}

module.exports = { createBroadcaster, publishWhip, WebRtcError, parseOffer, parseRtcp, spsInfo, chooseFormat, broadcastSettings, isLocalAddress, choosePacing }
