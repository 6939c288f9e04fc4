#!/usr/bin/env node
// One path's server for bench/webrtc.mjs, in a process of its own so that its CPU is its own:
// the example servers' code (startServer, startSfuServer) with their command lines' settings,
// plus the capture's counters on request over IPC (the CPU figures are per encoded frame too).
//
//   node bench/webrtc-server-child.mjs ws|whep|janus DISPLAY FPS CRF [MAX_BITRATE] [PACING_MS]
//   -> IPC { url, janusPid }, then { stats } for each 'stats' message; SIGTERM ends it
import { readFileSync } from 'node:fs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { startSfuServer } from '../examples/sfu-janus/server.mjs'

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
if (path === 'janus') {
  srv = await startSfuServer(common)
  captureStats = () => srv.broadcaster.stats().capture
} else if (path === 'ws' || path === 'whep') {
  srv = await startServer({ ...common, codec: 'h264', fullframe: true, transport: path === 'whep' ? 'webrtc' : 'ws', maxBitrate: maxBitrate ? Number(maxBitrate) : undefined, webrtc: pacingMs ? { pacingIntervalMs: Number(pacingMs) } : undefined })
  captureStats = () => (path === 'ws' ? srv.hub.stats().capture : srv.whep.broadcaster?.stats().capture) ?? null
} else {
  throw new Error(`unknown path '${path}' (ws, whep, janus)`)
}
const janusPid = path === 'janus' ? childPids(process.pid).find((c) => /janus/.test(readFileSync(`/proc/${c}/cmdline`, 'utf8'))) ?? null : null
process.send({ url: srv.url, janusPid })
process.on('message', (m) => {
  if (m === 'stats') process.send({ stats: captureStats() })
})
process.once('SIGTERM', () => {
  srv.close().then(() => process.exit(0))
  setTimeout(() => process.exit(0), 3000).unref()
})
