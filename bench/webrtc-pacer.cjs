#!/usr/bin/env node
// The pacer's own delay, without X, a browser or a capture: a broadcaster (stripecast/webrtc,
// a fake capture) sends access units of 1, 4, 20 and 100 KB to a node-datachannel receiver in
// this process over loopback; the time from the send to the arrival of the unit's last RTP
// packet (marker bit), 39 units per size, with `pacing: 'off'` and `'always'` (50 Mbit/s, 5 ms
// tick) in turns, two rounds.
//
//   node bench/webrtc-pacer.cjs
const ndc = require('node-datachannel')
const { createBroadcaster } = require('../lib/webrtc.js')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
let emit
/** Delivers what the bench hands it, when it hands it. */
class FakeCapture { start(s, cb) { emit = cb; this.isCapturing = true; return { width: 64, height: 64, encoder: 'fake' } } stop() {} requestKeyframe() {} stats() { return {} } updateSettings() {} }
/** An Annex-B access unit of `size` bytes: an IDR with SPS/PPS, or a P slice. */
function au(size, key) {
  const nal = Buffer.alloc(size, 0x55); nal[0] = 0; nal[1] = 0; nal[2] = 0; nal[3] = 1; nal[4] = key ? 0x65 : 0x41
  if (!key) return nal
  return Buffer.concat([Buffer.from([0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 1, 0x68, 0xce]), nal])
}
async function run(pacing, sizes) {
  const b = createBroadcaster({ ScreenCapture: FakeCapture, bindAddress: '127.0.0.1', idleStopMs: 0, pacing })
  const pc = new ndc.PeerConnection('rx', { iceServers: [], disableAutoNegotiation: true, bindAddress: '127.0.0.1' })
  const video = new ndc.Video('0', 'RecvOnly'); video.addH264Codec(96, 'level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f')
  const track = pc.addTrack(video)
  track.setMediaHandler(new ndc.RtcpReceivingSession())
  let waiter = null
  track.onMessage((m) => { if ((m[1] < 200 || m[1] > 207) && (m[1] & 0x80) && waiter) { waiter(performance.now()); waiter = null } })
  const g = new Promise((r) => pc.onGatheringStateChange((s) => s === 'complete' && r())); pc.setLocalDescription('offer'); await g
  const a = await b.answer(pc.localDescription().sdp); pc.setRemoteDescription(a.sdp, 'answer')
  while (!a.peer.ready) await sleep(20)
  let t = 0
  const out = {}
  for (const size of sizes) {
    const d = []
    for (let i = 0; i < 40; i++) {
      const p = new Promise((r) => (waiter = r)); const t0 = performance.now()
      emit({ data: au(size, i === 0 && size === sizes[0]), isKeyFrame: i === 0 && size === sizes[0], captureTimeMs: (t += 16) })
      const t1 = await Promise.race([p, sleep(500).then(() => NaN)])
      if (i > 0) d.push(t1 - t0)
      await sleep(30)
    }
    d.sort((x, y) => x - y)
    out[size] = `p50 ${d[d.length >> 1].toFixed(2)} p90 ${d[Math.floor(d.length * 0.9)].toFixed(2)} ms`
  }
  b.close(); pc.close()
  return out
}
;(async () => {
  const sizes = [1000, 4000, 20000, 100000]
  for (let r = 0; r < 2; r++) for (const p of ['off', 'always']) console.log(`round ${r + 1}, pacing ${p}:`, Object.entries(await run(p, sizes)).map(([k, v]) => `${k / 1000} KB ${v}`).join(', '))
  process.exit(0)
})()
