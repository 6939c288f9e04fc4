// WebRTC end to end: X screen -> stripecast/webrtc (node-datachannel) -> WHEP in the example
// server -> headless Chromium's RTCPeerConnection -> <video> -> canvas, compared with what the
// X server holds. Then everything the WHEP endpoint must refuse, while a viewer watches.
// Needs Chromium (Debian `chromium`), playwright-core and node-datachannel; without them these
// tests FAIL (they do not skip).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import { request } from 'node:http'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { bgrxImage, psnr } from './helpers/frames.mjs'
import { requireChromium, launchChromium, readCanvas, waitForPixel } from './helpers/browser.mjs'
import { drawCard } from '../bench/lib/cards.mjs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { requireNodeDatachannel } from './helpers/webrtc.mjs'

const require = createRequire(import.meta.url)
const W = 1280
const H = 720
const MIN_PSNR = 35
/** A late viewer's first picture, from its connection being up (brief #20: within 1 s). */
const LATE_JOIN_MS = 1000

let xvfb
let painter
let browser
let srv
const pages = []

async function screen() {
  return bgrxImage(await painter.dump(0, 0, W, H), W, H)
}

/** The page's WebRTC link state, for failure messages. */
async function linkState(page) {
  return page
    .evaluate(() => {
      const l = window.stripecast?.link
      return l ? { stats: l.stats, resource: l.resource, pc: l.pc?.connectionState } : { loaded: false }
    })
    .catch((e) => ({ evaluateFailed: e.message }))
}

/** Waits until the page drew a W x H frame and then none for quietMs (a still screen). */
async function waitForStill(page, { quietMs = 600, timeoutMs = 15000 } = {}) {
  try {
    await page.waitForFunction(
      ({ W, H, quietMs }) => {
        const s = window.stripecast?.link.stats
        const c = window.stripecast?.link.canvas
        return s && c && c.width === W && c.height === H && s.framesDrawn > 0 && performance.now() - s.lastDrawTime > quietMs
      },
      { W, H, quietMs },
      { timeout: timeoutMs, polling: 50 },
    )
  } catch {
    throw new Error(`no still ${W}x${H} picture within ${timeoutMs} ms: ${JSON.stringify(await linkState(page))} ${JSON.stringify(page.errors)}`)
  }
}

async function assertMatches(page, label) {
  await waitForStill(page)
  const db = psnr(await readCanvas(page), await screen())
  assert.ok(db >= MIN_PSNR, `${label}: canvas vs screen PSNR ${db.toFixed(2)} dB < ${MIN_PSNR} dB (${JSON.stringify(await linkState(page))})`)
  return db
}

async function openViewer() {
  const page = await browser.open(srv.url.replace(/\/(\?|$)/, '/?canvas&$1').replace(/&$/, ''))
  pages.push(page)
  return page
}

/** POST /whep with `body` (an offer, or not) and headers; resolves { status, text, headers }. */
async function post(path, body, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${srv.port}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp', ...headers }, body })
  return { status: res.status, text: await res.text(), headers: res.headers }
}

/** A request with a raw Host header (fetch() sets its own); resolves { status, text }. */
function rawRequest(method, path, headers, body = '') {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: srv.port, path, method, headers }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d) => (text += d))
      res.on('end', () => resolve({ status: res.statusCode, text }))
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** An SDP offer made by Chromium, restricted to `mimeTypes` (e.g. ['video/VP8']). */
async function chromiumOffer(page, mimeTypes) {
  return page.evaluate(async (mimeTypes) => {
    const pc = new RTCPeerConnection()
    const tr = pc.addTransceiver('video', { direction: 'recvonly' })
    if (mimeTypes) tr.setCodecPreferences(RTCRtpReceiver.getCapabilities('video').codecs.filter((c) => mimeTypes.includes(c.mimeType)))
    await pc.setLocalDescription(await pc.createOffer())
    const sdp = pc.localDescription.sdp
    pc.close()
    return sdp
  }, mimeTypes)
}

describe('WebRTC (WHEP) in headless Chromium', { timeout: 120000 }, () => {
  before(async () => {
    await requireChromium()
    requireNodeDatachannel()
    xvfb = await startXvfb({ width: W, height: H })
    painter = await openPainter(xvfb.display)
    await drawCard(painter, 'photo', W, H)
    browser = await launchChromium()
    srv = await startServer({ display: xvfb.display, port: 0, transport: 'webrtc', cursor: false, fps: 60, crf: 20, idleStopMs: 0 })
  })

  after(async () => {
    for (const p of pages) await p.close().catch(() => {})
    await browser?.close().catch(() => {})
    await srv?.close().catch(() => {})
    await painter?.close().catch(() => {})
    await xvfb?.stop()
  })

  it('a viewer sees the screen (>= 35 dB), follows a change, and a late viewer gets a full picture within 1 s', async (t) => {
    const page = await openViewer()
    const first = await assertMatches(page, 'first picture')
    // what was negotiated: H.264, packetization-mode 1, the profile the encoder emits
    const answer = await page.evaluate(() => window.stripecast.link.pc.remoteDescription.sdp)
    const pt = /^m=video \d+ \S+ (\d+)/m.exec(answer)?.[1]
    assert.match(answer, new RegExp(`a=rtpmap:${pt} H264/90000`), 'the answer sends H.264')
    const fmtp = new RegExp(`a=fmtp:${pt} (.*)`).exec(answer)?.[1] ?? ''
    assert.match(fmtp, /packetization-mode=1/)
    assert.match(fmtp, /profile-level-id=42[4-9a-f]/i, 'a constrained-baseline format, as x264 emits here')
    t.diagnostic(`first picture ${first.toFixed(2)} dB; answered fmtp: ${fmtp}`)

    await painter.fill(300, 200, 320, 180, '90b8e0')
    await painter.text(320, 260, '000000', 'changed over WebRTC')
    await waitForPixel(page, 310, 210, '90b8e0', { timeoutMs: 5000 }).catch(async (e) => {
      throw new Error(`the canvas did not follow a change: ${e.message} ${JSON.stringify(await linkState(page))}`)
    })
    const changed = await assertMatches(page, 'after a change')

    // a late viewer: time from its connection being up to its first (full) picture
    const late = await browser.open('about:blank')
    pages.push(late)
    await late.goto(srv.url.replace(/\/(\?|$)/, '/?canvas&$1').replace(/&$/, ''))
    await late.waitForFunction(() => window.stripecast?.link.stats.framesDrawn > 0, null, { timeout: 10000, polling: 'raf' })
    const firstFrame = await late.evaluate(async () => {
      // the moment the peer connection came up, from the WebRTC stats of the transport
      const l = window.stripecast.link
      return { drawnAt: l.stats.firstDrawTime, connectedAt: l.stats.connectedTime }
    })
    const lateMs = firstFrame.drawnAt - firstFrame.connectedAt
    const lateFirst = psnr(await readCanvas(late), await screen())
    assert.ok(lateMs <= LATE_JOIN_MS, `late viewer: first picture ${lateMs.toFixed(0)} ms after connecting (> ${LATE_JOIN_MS} ms)`)
    assert.ok(lateFirst >= MIN_PSNR, `late viewer: its first picture is ${lateFirst.toFixed(2)} dB < ${MIN_PSNR} dB`)
    const bs = srv.whep.broadcaster.stats()
    assert.equal(bs.captureStarts, 1, 'one shared capture for all viewers')
    // loopback viewers: no pacer (pacing 'auto')
    assert.deepEqual(bs.peers.map((p) => [p.paced, p.remoteAddress]), bs.peers.map(() => [false, '127.0.0.1']), 'loopback peers are not paced')
    assert.deepEqual(page.errors.concat(late.errors), [], 'page errors')
    t.diagnostic(`after a change ${changed.toFixed(2)} dB; late viewer: first picture ${lateMs.toFixed(0)} ms after connecting, ${lateFirst.toFixed(2)} dB`)
  })

  it('refuses bad requests with a 4xx and a reason; the capture and the viewers go on', async () => {
    const viewer = pages[0]
    const offer = await chromiumOffer(viewer)
    const vp8 = await chromiumOffer(viewer, ['video/VP8'])
    const audioOnly = offer.replace(/m=video[\s\S]*/, '') + 'm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=recvonly\r\na=rtpmap:111 opus/48000/2\r\n'
    const cases = [
      ['garbage SDP', () => post('/whep', 'hello, I am not SDP'), 400, /not an SDP offer/],
      ['SDP without media', () => post('/whep', 'v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n'), 400, /no media section/],
      ['an offer without video', () => post('/whep', audioOnly), 400, /no video section/],
      ['an offer without H.264 (VP8 only)', () => post('/whep', vp8), 400, /no H\.264 .*codecs offered: VP8/],
      ['wrong Content-Type', () => post('/whep', offer, { 'Content-Type': 'text/plain' }), 415, /application\/sdp/],
      ['an offer of 100 KB', () => post('/whep', 'v=0\r\n' + 'a=x\r\n'.repeat(20000)), 413, /larger than/],
      ['another site\'s page (Origin)', () => post('/whep', offer, { Origin: 'http://evil.example' }), 403, /forbidden origin/],
      ['DNS rebinding (Host)', () => rawRequest('POST', '/whep', { Host: 'evil.example', 'Content-Type': 'application/sdp' }, offer), 403, /forbidden host/],
      ['GET /whep', () => fetch(`http://127.0.0.1:${srv.port}/whep`), 405, /POST an SDP offer/],
      ['DELETE of an unknown session', () => fetch(`http://127.0.0.1:${srv.port}/whep/no-such-id`, { method: 'DELETE' }), 404, /no WHEP session 'no-such-id'/],
      ['PATCH (trickle ICE)', () => fetch(`http://127.0.0.1:${srv.port}/whep/x`, { method: 'PATCH', body: 'a=candidate' }), 405, /trickle ICE is not supported/],
    ]
    const before = srv.whep.broadcaster.stats()
    for (const [label, run, status, reason] of cases) {
      const r = await run()
      const text = typeof r.text === 'string' ? r.text : await r.text()
      assert.equal(r.status, status, `${label}: status (body: ${text.trim()})`)
      assert.match(text, reason, `${label}: reason`)
    }
    const opts = await fetch(`http://127.0.0.1:${srv.port}/whep`, { method: 'OPTIONS' })
    assert.equal(opts.status, 204)
    assert.equal(opts.headers.get('accept-post'), 'application/sdp')

    // a token, when set, is required (a second server: nothing starts before the check)
    const guarded = await startServer({ display: xvfb.display, port: 0, transport: 'webrtc', token: 's3cret', idleStopMs: 0 })
    try {
      for (const [q, status] of [['', 401], ['?token=wrong', 401]]) {
        const res = await fetch(`http://127.0.0.1:${guarded.port}/whep${q}`, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: offer })
        assert.equal(res.status, status, `token '${q}'`)
        assert.match(await res.text(), /token required/)
      }
      assert.equal(guarded.whep.broadcaster, null, 'nothing started for a refused request')
    } finally {
      await guarded.close()
    }

    // nothing of that touched the capture or the viewers: they still follow the screen
    const after = srv.whep.broadcaster.stats()
    assert.equal(after.captureStarts, before.captureStarts, 'the capture was not restarted')
    assert.equal(after.peers.length, before.peers.length, 'no viewer was added or lost')
    await painter.fill(700, 420, 200, 120, 'e0a040')
    for (const p of pages) await waitForPixel(p, 710, 430, 'e0a040', { timeoutMs: 5000 })
    for (const [i, p] of pages.entries()) await assertMatches(p, `viewer ${i} after the bad requests`)

    // a viewer that leaves is DELETEd on the server
    const n = srv.whep.broadcaster.viewerCount
    await pages[1].evaluate(() => window.stripecast.link.close())
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(srv.whep.broadcaster.viewerCount, n - 1, 'DELETE removed the session')
  })
})

describe('stripecast/webrtc pieces (no browser)', () => {
  const { parseRtcp, parseOffer, chooseFormat, spsInfo, broadcastSettings, createBroadcaster, isLocalAddress, choosePacing } = require('stripecast/webrtc')

  it('reads RTCP from a viewer: receiver report, PLI, FIR, NACK and REMB in one compound packet', () => {
    const ssrc = 0x11223344
    const rr = Buffer.alloc(32)
    rr.writeUInt8(0x81, 0) // V=2, one report block
    rr.writeUInt8(201, 1)
    rr.writeUInt16BE(7, 2)
    rr.writeUInt32BE(0xaaaa, 4)
    rr.writeUInt32BE(ssrc, 8)
    rr.writeUInt8(64, 12) // fraction lost 64/256
    rr.writeUIntBE(1234, 13, 3)
    rr.writeUInt32BE(90, 20) // jitter
    const pli = Buffer.from([0x81, 206, 0, 2, 0, 0, 0xaa, 0xaa, 0x11, 0x22, 0x33, 0x44])
    const fir = Buffer.from([0x84, 206, 0, 4, 0, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0x11, 0x22, 0x33, 0x44, 1, 0, 0, 0])
    const nack = Buffer.from([0x81, 205, 0, 4, 0, 0, 0xaa, 0xaa, 0x11, 0x22, 0x33, 0x44, 0, 10, 0, 3, 0, 40, 0, 0])
    // REMB: 0x3d090 (250000) as mantissa 250000 >> 2 = 62500, exponent 2
    const remb = Buffer.from([0x8f, 206, 0, 5, 0, 0, 0xaa, 0xaa, 0, 0, 0, 0, 0x52, 0x45, 0x4d, 0x42, 1, (2 << 2) | (62500 >> 16), (62500 >> 8) & 255, 62500 & 255, 0x11, 0x22, 0x33, 0x44])
    const r = parseRtcp(Buffer.concat([rr, pli, fir, nack, remb]))
    assert.deepEqual(r.reports, [{ ssrc, fractionLost: 0.25, cumulativeLost: 1234, jitter: 90 }])
    assert.equal(r.pli, 1)
    assert.equal(r.fir, 1)
    assert.equal(r.nack, 2)
    assert.equal(r.remb, 250000)
    assert.deepEqual(parseRtcp(Buffer.from([1, 2, 3])), { pli: 0, fir: 0, nack: 0, reports: [], remb: null }, 'garbage: nothing')
  })

  it('answers with the offered H.264 format that matches the SPS (profile, packetization-mode 1)', () => {
    const offer = [
      'v=0', 'o=- 1 2 IN IP4 127.0.0.1', 's=-', 't=0 0', 'a=fingerprint:sha-256 AA:BB',
      'm=video 9 UDP/TLS/RTP/SAVPF 96 102 103 104 106', 'a=mid:0', 'a=recvonly',
      'a=rtpmap:96 VP8/90000', 'a=rtpmap:102 H264/90000', 'a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42e01f',
      'a=rtpmap:103 H264/90000', 'a=fmtp:103 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f',
      'a=rtpmap:104 H264/90000', 'a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f',
      'a=rtpmap:106 H264/90000', 'a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=f4001f', '',
    ].join('\r\n')
    const { h264, mid } = parseOffer(offer)
    assert.equal(mid, '0')
    const sps = (plid) => spsInfo(Buffer.from([0, 0, 0, 1, 0x67, ...Buffer.from(plid, 'hex'), 0, 0, 0, 1, 0x68, 0]))
    assert.equal(sps('42c01f').profileLevelId, '42c01f')
    assert.equal(chooseFormat(h264, sps('42c01f')).pt, 103, 'constrained baseline (x264 here): the mode-1 CB format')
    assert.equal(chooseFormat(h264, null).pt, 103, 'before the first IDR: constrained baseline')
    assert.equal(chooseFormat(h264, sps('640028')).pt, 104, 'High')
    assert.equal(chooseFormat(h264, sps('f4001f')).pt, 106, 'High 4:4:4 only where offered')
    assert.equal(chooseFormat(h264.filter((f) => f.pt !== 106), sps('f4001f')), null)
    assert.throws(() => parseOffer(offer.replace('a=recvonly', 'a=sendonly')), /sendonly: a viewer must offer recvonly/)
    assert.throws(() => parseOffer(offer.replace('a=fingerprint:sha-256 AA:BB\r\n', '')), /not DTLS-SRTP/)
  })

  it('refuses settings that cannot be one full-frame H.264 stream, and a bad bitrate ceiling, naming them', () => {
    assert.throws(() => broadcastSettings({ outputMode: 'jpeg' }), /outputMode must be "h264" \(or left out\), got "jpeg"/)
    assert.throws(() => broadcastSettings({ h264Fullframe: false }), /h264Fullframe must be true \(or left out\), got false/)
    assert.deepEqual(broadcastSettings({ outputMode: 1, targetFps: 30 }), { outputMode: 'h264', targetFps: 30, h264Fullframe: true, omitStripeHeaders: true })
    assert.throws(() => createBroadcaster({ maxBitrate: 5 }), /maxBitrate must be 0 \(no pacing\) or at least 100000 bits\/s, got 5/)
    assert.throws(() => createBroadcaster({ pacing: 'sometimes' }), /pacing must be one of 'auto', 'always', 'off', got "sometimes"/)
  })

  it('paces a peer only where a burst can meet a router queue: not on loopback or a LAN', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.20', '169.254.3.4', 'fe80::1', 'fe80::1%eth0', 'fd00::2', 'fc12::1', '::ffff:192.168.0.5', '[::1]']) {
      assert.equal(isLocalAddress(a), true, a)
    }
    for (const a of ['8.8.8.8', '172.15.0.1', '172.32.0.1', '192.169.0.1', '100.64.0.1', '2001:db8::1', '192.0.2.2', '', 'localhost', null]) {
      assert.equal(isLocalAddress(a), false, String(a))
    }
    const pair = (remote, type = 'host', localType = 'host') => ({ local: { address: '127.0.0.1', type: localType }, remote: { address: remote, type } })
    assert.deepEqual(choosePacing('auto', pair('127.0.0.1')), { paced: false, reason: 'local peer 127.0.0.1' })
    assert.deepEqual(choosePacing('auto', pair('203.0.113.7', 'srflx')), { paced: true, reason: 'remote peer 203.0.113.7' })
    assert.equal(choosePacing('auto', pair('10.0.0.9', 'relay')).paced, true, 'a TURN relay is paced whatever its address')
    assert.equal(choosePacing('auto', pair('10.0.0.9', 'host', 'relay')).paced, true, 'relayed on our side')
    assert.equal(choosePacing('auto', null).paced, true, 'unknown pair: paced')
    assert.equal(choosePacing('always', pair('127.0.0.1')).paced, true)
    assert.equal(choosePacing('off', pair('203.0.113.7')).paced, false)
  })
})
