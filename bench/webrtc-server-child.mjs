#!/usr/bin/env node
// One path's server for bench/webrtc.mjs, in a process of its own so that its CPU is its own:
// the example servers' code (startServer, startSfuServer) with their command lines' settings,
// plus the capture's counters on request over IPC (the CPU figures are per encoded frame too).
//
//   node bench/webrtc-server-child.mjs ws|whep|whep-paced|janus|janus-unpaced|janus-streaming|janus-streaming-nokf|janus-streaming-unpaced|janus-streaming-smooth DISPLAY FPS CRF [MAX_BITRATE] [PACING_MS]
//   -> IPC { url, janusPid }, then { stats } for each 'stats' message, { peers } (the
//   broadcaster's per-peer stats: pacing decision, bytes) for each 'peers'; SIGTERM ends it.
//   whep-paced: WHEP with `pacing: 'always'` (the pacer even on loopback); janus-unpaced: the
//   Janus publisher with `pacing: 'off'` (the example paces it always): A/B runs.
import { readFileSync } from 'node:fs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { startSfuServer } from '../examples/sfu-janus/server.mjs'
import { startStreamingServer } from './janus-streaming-server.mjs'

const [path, display, fps, crf, maxBitrate, pacingMs] = process.argv.slice(2)
const common = { display, port: 0, fps: Number(fps), crf: Number(crf), cursor: false }

function childPids(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

let srv
let captureStats
let broadcaster = () => null
if (path === 'janus' || path === 'janus-unpaced') {
  srv = await startSfuServer({ ...common, webrtc: path === 'janus-unpaced' ? { pacing: 'off' } : undefined })
  broadcaster = () => srv.broadcaster
  captureStats = () => srv.broadcaster.stats().capture
} else if (path === 'janus-streaming' || path === 'janus-streaming-nokf' || path === 'janus-streaming-unpaced' || path === 'janus-streaming-smooth') {
  // plain RTP into a Streaming-plugin mountpoint (bench/janus-streaming-server.mjs); -nokf:
  // without the mountpoint's keyframe buffer (a late viewer waits for a PLI's IDR); -unpaced:
  // every access unit's packets sent at once; -smooth: without the playout-delay 0/0 that the
  // others ask Janus for (the VideoRoom publisher's packets carry it, lib/webrtc.js)
  srv = await startStreamingServer({ ...common, bufferKeyframe: path !== 'janus-streaming-nokf', burst: path === 'janus-streaming-unpaced' ? 0 : undefined, lowLatencyPlayout: path !== 'janus-streaming-smooth' })
  broadcaster = () => ({
    stats: () => {
      const s = srv.stats()
      return { peers: [{ kind: 'rtp', paced: path !== 'janus-streaming-unpaced', pacingReason: `plain RTP to Janus, ${path === 'janus-streaming-unpaced' ? 'unpaced' : 'paced 16 packets/ms'}; ${s.rtcpIn} RTCP in: ${s.pli} PLI, ${s.fir} FIR, ${s.nack} NACK (PT/FMT ${JSON.stringify(s.rtcpTypes)}); ${s.keyframeRequests} IDRs asked`, remoteAddress: '127.0.0.1', accessUnits: s.accessUnits, bytes: s.bytes }] }
    },
  })
  captureStats = () => srv.stats().capture
} else if (path === 'ws' || path === 'whep' || path === 'whep-paced') {
  const webrtc = {}
  if (pacingMs) webrtc.pacingIntervalMs = Number(pacingMs)
  if (path === 'whep-paced') webrtc.pacing = 'always'
  srv = await startServer({ ...common, codec: 'h264', fullframe: true, transport: path === 'ws' ? 'ws' : 'webrtc', maxBitrate: maxBitrate ? Number(maxBitrate) : undefined, webrtc })
  broadcaster = () => srv.whep.broadcaster
  captureStats = () => (path === 'ws' ? srv.hub.stats().capture : srv.whep.broadcaster?.stats().capture) ?? null
} else {
  throw new Error(`unknown path '${path}' (ws, whep, whep-paced, janus, janus-unpaced, janus-streaming, janus-streaming-nokf, janus-streaming-unpaced, janus-streaming-smooth)`)
}
const janusPid = srv.janusPid ?? (path.startsWith('janus') ? childPids(process.pid).find((c) => /janus/.test(readFileSync(`/proc/${c}/cmdline`, 'utf8'))) ?? null : null)
process.send({ url: srv.url, janusPid })
process.on('message', (m) => {
  if (m === 'stats') process.send({ stats: captureStats() })
  if (m === 'peers') process.send({ peers: (broadcaster()?.stats().peers ?? []).map(({ kind, paced, pacingReason, remoteAddress, accessUnits, bytes }) => ({ kind, paced, pacingReason, remoteAddress, accessUnits, bytes })) })
})
process.once('SIGTERM', () => {
  srv.close().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 3000).unref()
})
