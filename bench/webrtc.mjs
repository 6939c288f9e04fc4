#!/usr/bin/env node
// WebRTC against the WebSocket path: glass-to-glass latency and the capturing process's CPU
// per viewer count.
//
//   node bench/webrtc.mjs [--samples 120] [--rounds 3] [--size 1920x1080] [--fps 60] [--crf 23]
//                         [--paths ws,whep,janus,janus-streaming] [--cpu-paths ws,whep,janus,janus-streaming] [--viewers 1,4,16]
//                         [--viewer-kind light|page] [--cpu-seconds 8] [--no-latency] [--no-cpu]
//                         [--out bench/webrtc-results.md]
//                         [--max-bitrate BITS] [--pacing-ms MS]   (WHEP's pacer: ceiling, 0 = none; tick)
//
// Each path's server runs in a child process (webrtc-server-child.mjs: the example servers'
// code and settings, so that its CPU is its own): `ws` examples/screen-to-browser/server.mjs (full-frame H.264 over the WebSocket, the
// page's WebCodecs client), `whep` the same server with --transport webrtc (WHEP, <video>;
// pacing 'auto', i.e. no pacer on loopback), `whep-paced` the same with `pacing: 'always'`
// (libdatachannel's pacer even on loopback: the A/B of the pacer in one run), `janus-unpaced`
// Janus with its publisher not paced (the example paces it), `janus` examples/sfu-janus/server.mjs (one publisher into a private Janus VideoRoom, the
// pages subscribe through it), `janus-streaming` bench/janus-streaming-server.mjs (plain RTP
// over UDP into a Janus Streaming-plugin mountpoint with its keyframe buffer, the same viewer
// page and API; its RTP paced, 16 packets per ms; each subscriber configured for playout delay
// 0/0, as the VideoRoom publisher's packets say), `janus-streaming-unpaced` not paced,
// `janus-streaming-nokf` without the keyframe buffer, `janus-streaming-smooth` without the
// playout-delay 0/0. All on loopback,
// one headless Chromium.
//
// Join: with light viewers, each WebRTC viewer's wait from its first request (POST /whep or
// /subscribe) to the end of the first access unit with an IDR it received (its first picture),
// for the viewers that joined at each step (1, then 3 more, then 12 more).
//
// Latency: a 64x64 marker on the X screen flips colour (xpaint fill, timed just before the
// command); the page reads that pixel of what it displays (the ws canvas; the <video> drawn
// 1x1 into a canvas) on every animation frame and notes when it turns. Page clock mapped to
// ours by a round-trip calibration. The rAF poll quantises to 60 Hz (8 ms on average), the
// same for every path. The paths take turns over --rounds rounds (the machine may be shared).
//
// CPU: the scene player's `window-video` (a 640x360 video window moving over a still page) at
// the capture's fps; with 1, 4, 16 viewers watching, the server process's utime + stime over
// --cpu-seconds (and Janus's own), the frames the capture encoded meanwhile (so CPU per frame
// too: the capture slows down when the viewers take the machine), each viewer's frame rate,
// and the whole machine's load. Viewers (--viewer-kind): `light` (default) receive and drop
// the stream without decoding, in one child process (webrtc-light-viewers.mjs: ws clients,
// node-datachannel WHEP peers, node-datachannel Janus subscribers), each one's packets, bytes
// and frames counted, so that 16 fit on 2 cores with the capture at 60 fps; `page` are
// headless Chromium pages that decode and show it (16 of them saturate 2 cores).
// Needs Xvfb, Chromium, playwright-core, node-datachannel, janode and Janus (Debian `janus`).
import { parseArgs } from 'node:util'
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'
import { launchChromium, CHROMIUM_PATH } from '../__test__/helpers/browser.mjs'
import { startPlayer, procCpuSeconds } from './lib/player.mjs'
import { now, percentile, calibratePageClock } from '../__test__/helpers/page-clock.mjs'
import { watchMarker, markerRect, MARKER_COLOURS, drawMarkerScene } from '../__test__/helpers/marker.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '120' },
    rounds: { type: 'string', default: '3' },
    size: { type: 'string', default: '1920x1080' },
    fps: { type: 'string', default: '60' },
    crf: { type: 'string', default: '23' },
    'max-bitrate': { type: 'string' },
    'pacing-ms': { type: 'string' },
    paths: { type: 'string', default: 'ws,whep,janus,janus-streaming' },
    'cpu-paths': { type: 'string', default: 'ws,whep,janus,janus-streaming' },
    viewers: { type: 'string', default: '1,4,16' },
    'viewer-kind': { type: 'string', default: 'light' },
    'cpu-seconds': { type: 'string', default: '8' },
    'no-latency': { type: 'boolean' },
    'no-cpu': { type: 'boolean' },
    out: { type: 'string', default: join(root, 'bench', 'webrtc-results.md') },
  },
})
const SAMPLES = Number(args.samples)
const ROUNDS = Math.max(1, Number(args.rounds))
const [W, H] = args.size.split('x').map(Number)
const FPS = Number(args.fps)
const CRF = Number(args.crf)
const VIEWERS = args.viewers.split(',').map(Number)
const CPU_SECONDS = Number(args['cpu-seconds'])
const VIEWER_KIND = args['viewer-kind']
if (VIEWER_KIND !== 'light' && VIEWER_KIND !== 'page') throw new Error(`--viewer-kind must be light or page, got ${VIEWER_KIND}`)
const MARK = markerRect(W, H)
const COLOURS = MARKER_COLOURS // the marker alternates between these
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const PATHS = {
  ws: { label: 'ws (WebSocket, full-frame H.264, WebCodecs)', script: 'examples/screen-to-browser/server.mjs', argv: ['--codec', 'h264', '--fullframe'], webrtc: false },
  whep: { label: 'WebRTC direct (WHEP), pacing auto (none on loopback)', script: 'examples/screen-to-browser/server.mjs', argv: ['--transport', 'webrtc'], webrtc: true },
  'whep-paced': { label: 'WebRTC direct (WHEP), paced (50 Mbit/s, 5 ms tick)', script: 'examples/screen-to-browser/server.mjs', argv: ['--transport', 'webrtc'], webrtc: true },
  janus: { label: 'WebRTC through Janus (VideoRoom), publisher paced (the example\'s default)', script: 'examples/sfu-janus/server.mjs', argv: [], webrtc: true },
  'janus-unpaced': { label: 'WebRTC through Janus (VideoRoom), publisher not paced', script: 'examples/sfu-janus/server.mjs', argv: [], webrtc: true },
  'janus-streaming': { label: 'WebRTC through Janus (Streaming, plain RTP in, keyframe buffer)', script: 'bench/janus-streaming-server.mjs', argv: [], webrtc: true },
  'janus-streaming-unpaced': { label: 'WebRTC through Janus (Streaming, plain RTP in, keyframe buffer), RTP not paced', script: 'bench/janus-streaming-server.mjs', argv: [], webrtc: true },
  'janus-streaming-smooth': { label: 'WebRTC through Janus (Streaming, plain RTP in, keyframe buffer), no playout-delay 0/0', script: 'bench/janus-streaming-server.mjs', argv: [], webrtc: true },
  'janus-streaming-nokf': { label: 'WebRTC through Janus (Streaming, plain RTP in, no keyframe buffer)', script: 'bench/janus-streaming-server.mjs', argv: [], webrtc: true },
}

/** UDP datagrams dropped for a full receive buffer so far (this network namespace, all processes). */
function udpRcvbufErrors() {
  const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp:'))
  const names = lines[0].split(/\s+/)
  return Number(lines[1].split(/\s+/)[names.indexOf('RcvbufErrors')])
}

/** Whole-machine busy CPU seconds so far (all cores), from /proc/stat. */
function machineBusySeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100 // user nice system irq softirq steal
}

/** Starts a path's server in a child process (webrtc-server-child.mjs); resolves { url, pid, janusPid, captureStats(), stop() }. */
/** Ends a child process: SIGTERM, then SIGKILL if it is still there after 5 s. */
async function stopChild(child) {
  if (child.exitCode != null) return
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), 5000)
  await new Promise((r) => child.once('exit', r))
  clearTimeout(t)
}

async function startPathServer(name, display) {
  const child = spawn(process.execPath, [join(root, 'bench', 'webrtc-server-child.mjs'), name, display, String(FPS), String(CRF), args['max-bitrate'] ?? '', args['pacing-ms'] ?? ''], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const first = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${name} server did not start within 30 s: ${out}`)), 30000)
    child.once('message', (m) => (clearTimeout(t), resolve(m)))
    child.once('exit', (code) => (clearTimeout(t), reject(new Error(`${name} server exited (${code}): ${out}`))))
  })
  return {
    url: first.url,
    pid: child.pid,
    janusPid: first.janusPid,
    /** The capture's counters (CaptureStats), or null while none runs. */
    captureStats: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m.stats))
        child.send('stats')
      }),
    /** The broadcaster's peers: pacing decision, remote address, bytes (WebRTC paths). */
    peers: () =>
      new Promise((resolve) => {
        child.once('message', (m) => resolve(m.peers))
        child.send('peers')
      }),
    stop: () => stopChild(child),
  }
}

/** Waits until the page shows a W x H picture. */
async function waitForPicture(page, webrtc, timeoutMs = 30000) {
  await page.waitForFunction(
    ({ W, H, webrtc }) => {
      const sc = window.stripecast
      if (!sc) return false
      if (webrtc) return sc.link.video.videoWidth === W && sc.link.stats.framesDrawn > 0
      return sc.client.canvas.width === W && sc.client.canvas.height === H && sc.client.stats.stripesDrawn > 0
    },
    { W, H, webrtc },
    { timeout: timeoutMs, polling: 100 },
  )
}

/**
 * Pictures the page decoded so far: the ws client's stripes drawn (full frame: frames; it draws
 * from the decoder's output, in a background tab too), WebRTC's inbound-rtp framesDecoded (a
 * background tab's <video> decodes but is not presented, so requestVideoFrameCallback counts
 * only the front tab's frames).
 */
function framesShown(page, webrtc) {
  return page.evaluate(async (webrtc) => {
    if (!webrtc) return window.stripecast?.client.stats.stripesDrawn ?? 0
    const pc = window.stripecast?.link.pc
    if (!pc) return 0
    for (const s of (await pc.getStats()).values()) if (s.type === 'inbound-rtp' && s.kind === 'video') return s.framesDecoded ?? 0
    return 0
  }, webrtc)
}

async function waitForFrames(page, webrtc, timeoutMs) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    if ((await framesShown(page, webrtc).catch(() => 0)) > 0) return
    await sleep(250)
  }
  throw new Error(`no picture decoded within ${timeoutMs} ms`)
}

async function latencyRun(name, browser, painter, display, samples) {
  const { webrtc } = PATHS[name]
  const srv = await startPathServer(name, display)
  const page = await browser.open(srv.url)
  try {
    await waitForPicture(page, webrtc)
    await sleep(500)
    const cal = await calibratePageClock(page)
    const marker = await watchMarker(page, { x: MARK.x + MARK.w / 2, y: MARK.y + MARK.h / 2, colours: COLOURS, video: webrtc })
    await sleep(200)
    const drops0 = udpRcvbufErrors()
    const glass = []
    let timeouts = 0
    for (let i = 0; i < samples; i++) {
      const colour = i % 2
      const seen = marker.next(colour)
      const tPaint = now()
      await painter.fill(MARK.x, MARK.y, MARK.w, MARK.h, COLOURS[colour])
      const tSeen = await seen
      if (tSeen == null) timeouts++
      else glass.push(tSeen + cal.offset - tPaint)
      await sleep(10 + Math.random() * 40) // de-phase from the capture clock
    }
    // leave the marker as the scene has it for the next path
    const udpDrops = udpRcvbufErrors() - drops0
    if (samples % 2) await painter.fill(MARK.x, MARK.y, MARK.w, MARK.h, COLOURS[1])
    const peers = webrtc ? await srv.peers() : []
    const pacing = peers.map((p) => `${p.kind} ${p.paced ? 'paced' : 'not paced'} (${p.pacingReason})`).join('; ')
    const auBytes = peers.length && peers[0].accessUnits ? peers[0].bytes / peers[0].accessUnits : NaN
    return { name, glass, timeouts, rtt: cal.rtt, pacing, auBytes, udpDrops }
  } finally {
    await page.close()
    await srv.stop()
  }
}

/** Light viewers of a path in a child process (webrtc-light-viewers.mjs). */
async function startLightViewers(name, url) {
  const kind = name.startsWith('janus') ? 'janus' : name === 'ws' ? 'ws' : 'whep'
  const child = spawn(process.execPath, [join(root, 'bench', 'webrtc-light-viewers.mjs'), kind, url], { cwd: root, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let out = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (out += d))
  const ask = (msg, key, ms = 60000) =>
    new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`light viewers did not answer ${JSON.stringify(msg)} within ${ms} ms: ${out}`)), ms)
      const on = (m) => {
        if (m && m[key] !== undefined) {
          clearTimeout(t)
          child.off('message', on)
          resolve(m)
        }
      }
      child.on('message', on)
      child.send(msg)
    })
  await new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('exit', (code) => reject(new Error(`light viewers exited (${code}): ${out}`)))
  })
  return {
    pid: child.pid,
    add: (n) => ask({ add: n }, 'added'),
    counts: async () => (await ask('counts', 'counts')).counts,
    stop: () => stopChild(child),
  }
}

async function cpuRun(name, browser, display) {
  const { webrtc } = PATHS[name]
  const srv = await startPathServer(name, display)
  const light = VIEWER_KIND === 'light' ? await startLightViewers(name, srv.url) : null
  const pages = []
  const rows = []
  try {
    for (const n of VIEWERS) {
      const joinErrors = []
      let perViewer // () => per-viewer counters { frames, bytes, messages }
      let joinMs = [] // the new viewers' waits for a first picture, sorted
      let packetMs = [] // ... for a first RTP packet (ICE + DTLS done)
      if (light) {
        const before = (await light.counts()).length
        const r = await light.add(n)
        joinErrors.push(...r.errors)
        const end = Date.now() + 30000
        // every viewer has received pictures before the window opens
        while (Date.now() < end && (await light.counts()).some((c) => c.frames === 0 || (webrtc && c.firstPictureMs == null))) await sleep(250)
        const joined = (await light.counts()).slice(before)
        joinMs = joined.map((c) => c.firstPictureMs).filter((v) => v != null).sort((a, b) => a - b)
        packetMs = joined.map((c) => c.firstPacketMs).filter((v) => v != null).sort((a, b) => a - b)
        const silent = (await light.counts()).filter((c) => c.frames === 0).length
        if (silent) joinErrors.push(`${silent} viewers received nothing in 30 s`)
        perViewer = () => light.counts()
      } else {
        while (pages.length < n) {
          const page = await browser.open(srv.url)
          pages.push(page)
        }
        for (const [i, page] of pages.entries()) {
          await waitForFrames(page, webrtc, 30000).catch((e) => joinErrors.push(`page ${i}: ${e.message}`))
        }
        perViewer = async () => (await Promise.all(pages.map((p) => framesShown(p, webrtc).catch(() => NaN)))).map((frames) => ({ frames, bytes: NaN, messages: NaN }))
      }
      await sleep(2000) // joining costs (IDRs, ICE, DTLS) out of the window
      const f0 = await perViewer()
      const s0 = await srv.captureStats()
      const c0 = procCpuSeconds(srv.pid)
      const j0 = srv.janusPid ? procCpuSeconds(srv.janusPid) : NaN
      const v0 = light ? procCpuSeconds(light.pid) : NaN
      const m0 = machineBusySeconds()
      const t0 = now()
      await sleep(CPU_SECONDS * 1000)
      const secs = (now() - t0) / 1000
      const node = (procCpuSeconds(srv.pid) - c0) / secs
      const janus = srv.janusPid ? (procCpuSeconds(srv.janusPid) - j0) / secs : NaN
      const viewersCpu = light ? (procCpuSeconds(light.pid) - v0) / secs : NaN
      const machine = (machineBusySeconds() - m0) / secs
      const s1 = await srv.captureStats()
      // frames the capture encoded and sent: what the process's CPU bought
      const captureFps = s0 && s1 ? (s1.framesWithChanges - s0.framesWithChanges) / secs : NaN
      const f1 = await perViewer()
      const fps = f1.map((f, i) => (f.frames - f0[i].frames) / secs).sort((a, b) => a - b)
      const mbps = f1.map((f, i) => ((f.bytes - f0[i].bytes) * 8) / secs / 1e6).sort((a, b) => a - b)
      const pkts = f1.map((f, i) => (f.messages - f0[i].messages) / secs).sort((a, b) => a - b)
      const peers = webrtc ? await srv.peers() : []
      const paced = peers.filter((p) => p.paced).length
      const row = {
        name,
        viewers: n,
        node,
        janus,
        viewersCpu,
        machine,
        captureFps,
        msPerFrame: (node * 1000) / captureFps,
        fpsMin: fps[0],
        fpsMedian: percentile(fps, 50),
        mbpsMin: mbps[0],
        mbpsMedian: percentile(mbps, 50),
        pktsMin: pkts[0],
        pktsMedian: percentile(pkts, 50),
        totals: f1.map((f) => `${f.messages}/${f.bytes}`),
        pacing: webrtc ? `${peers.length} peers, ${paced} paced` : '',
        joinMs,
        packetMs,
        joinErrors,
      }
      rows.push(row)
      process.stderr.write(
        `  ${name} ${n} viewers: node ${(node * 100).toFixed(1)}% at ${captureFps.toFixed(1)} fps (${row.msPerFrame.toFixed(2)} ms/frame), janus ${(janus * 100).toFixed(1)}%, viewers' process ${(viewersCpu * 100).toFixed(1)}%, ` +
          `join->first packet ${packetMs.length ? `median ${percentile(packetMs, 50)} max ${packetMs.at(-1)} ms` : '-'}, first picture ${joinMs.length ? `median ${percentile(joinMs, 50)} max ${joinMs.at(-1)} ms` : '-'}, viewer fps min ${fps[0].toFixed(1)} median ${row.fpsMedian.toFixed(1)}, Mbit/s min ${mbps[0].toFixed(2)} median ${row.mbpsMedian.toFixed(2)}, packets/s min ${pkts[0].toFixed(0)}; ${row.pacing}` +
          `${light ? `\n    per viewer, total packets/bytes received: ${row.totals.join(' ')}` : ''}${joinErrors.length ? `\n    ${joinErrors.join('; ')}` : ''}\n`,
      )
    }
    return rows
  } finally {
    for (const p of pages) await p.close().catch(() => {})
    await light?.stop()
    await srv.stop()
  }
}

function version(cmd, argv, re) {
  // janus --version exits with 1 after printing it: read the output either way
  const r = spawnSync(cmd, argv, { encoding: 'utf8' })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  return (re.exec(out)?.[1] ?? (out.split('\n')[0] || '?')).trim()
}

function pkgVersion(name) {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version
  } catch {
    return '?'
  }
}

async function main() {
  const xvfb = await startXvfb({ width: W, height: H })
  const painter = await openPainter(xvfb.display)
  // light viewers need no browser: none runs beside them unless the latency part needs it
  const browser = !args['no-latency'] || VIEWER_KIND === 'page' ? await launchChromium() : null
  const latency = []
  let cpu = []
  const load0 = loadavg()
  try {
    if (!args['no-latency']) {
      await drawMarkerScene(painter, W, H, 'stripecast webrtc latency bench')
      const names = args.paths.split(',')
      for (const name of names) if (!PATHS[name]) throw new Error(`unknown path ${name} (${Object.keys(PATHS)})`)
      const byPath = new Map(names.map((n) => [n, { name: n, glass: [], timeouts: 0, rtt: 0 }]))
      // the paths take turns, so that the shared machine's load changes hit them alike
      for (let round = 0; round < ROUNDS; round++) {
        for (const name of names) {
          const n = Math.round(SAMPLES / ROUNDS)
          process.stderr.write(`latency ${name}, round ${round + 1}/${ROUNDS}: ${n} samples... `)
          const r = await latencyRun(name, browser, painter, xvfb.display, n)
          const acc = byPath.get(name)
          acc.glass.push(...r.glass)
          acc.timeouts += r.timeouts
          acc.udpDrops = (acc.udpDrops ?? 0) + r.udpDrops
          acc.rtt = Math.max(acc.rtt, r.rtt)
          acc.rounds = [...(acc.rounds ?? []), percentile([...r.glass].sort((a, b) => a - b), 50)]
          if (r.pacing) acc.pacing = r.pacing
          if (Number.isFinite(r.auBytes)) acc.auBytes = [...(acc.auBytes ?? []), r.auBytes]
          process.stderr.write(`p50 ${acc.rounds.at(-1).toFixed(1)} ms, ${r.timeouts} timeouts, ${r.udpDrops} UDP drops${r.pacing ? ` (${r.pacing}, ${r.auBytes.toFixed(0)} B per access unit)` : ''}\n`)
        }
      }
      for (const acc of byPath.values()) latency.push({ ...acc, glass: acc.glass.sort((a, b) => a - b) })
    }
    if (!args['no-cpu']) {
      const player = await startPlayer(xvfb.display)
      try {
        await player.start('window-video', FPS)
        for (const name of args['cpu-paths'].split(',')) {
          if (!PATHS[name]) throw new Error(`unknown path ${name} (${Object.keys(PATHS)})`)
          process.stderr.write(`cpu ${name}:\n`)
          cpu = cpu.concat(await cpuRun(name, browser, xvfb.display))
        }
      } finally {
        await player.close()
      }
    }
  } finally {
    await browser?.close()
    await painter.close()
    await xvfb.stop()
  }
  report({ latency, cpu, load0 })
}

function report({ latency, cpu, load0 }) {
  const f = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-')
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  const machine = `${cpus()[0]?.model ?? '?'}, ${cpus().length} cores, Linux ${release()}, Node ${process.version}`
  const chromium = version(CHROMIUM_PATH, ['--version'], /Chromium ([\d.]+)/)
  const janus = existsSync('/usr/bin/janus') ? version('/usr/bin/janus', ['--version'], /Janus version:.*\((\S+)\)/) : '?'
  const lines = []
  lines.push(`# WebRTC vs WebSocket: latency and CPU per viewer (bench/webrtc.mjs)`)
  lines.push('')
  lines.push(`Run ${date} on ${machine}; Chromium ${chromium} (headless, software decoding), node-datachannel ${pkgVersion('node-datachannel')}, janode ${pkgVersion('janode')}, Janus ${janus}. ` +
    `Load average at the start ${load0.map((v) => v.toFixed(2)).join(' ')} (the machine is shared). ${W}x${H} Xvfb, ${FPS} fps capture, H.264 CRF ${CRF}, full frame, x264, cursor off; everything on loopback.`)
  lines.push('')
  lines.push(`Command: \`node bench/webrtc.mjs ${process.argv.slice(2).join(' ')}\``.replace(/ `$/, '`'))
  if (latency.length) {
    lines.push('')
    lines.push(`## Glass-to-glass latency (marker drawn on X -> pixel in the page), ms`)
    lines.push('')
    lines.push(`| path | samples | p50 | p99 | max | timeouts (> 2 s) | p50 of each of the ${ROUNDS} rounds | pacing (the broadcaster's decision) | mean bytes per access unit sent (its first IDR included) | UDP datagrams dropped, receive buffer full (machine) |`)
    lines.push('|---|---|---|---|---|---|---|---|---|---|')
    for (const r of latency) {
      const au = r.auBytes?.length ? f(r.auBytes.reduce((a, b) => a + b, 0) / r.auBytes.length, 0) : '-'
      lines.push(`| ${PATHS[r.name].label} | ${r.glass.length} | ${f(percentile(r.glass, 50))} | ${f(percentile(r.glass, 99))} | ${f(r.glass.at(-1))} | ${r.timeouts} | ${r.rounds.map((v) => f(v)).join(', ')} | ${r.pacing ?? '-'} | ${au} | ${r.udpDrops ?? '-'} |`)
    }
    lines.push('')
    lines.push(`Page clock calibrated to ±${f(Math.max(...latency.map((r) => r.rtt)) / 2, 2)} ms. The rAF poll adds 0-16.7 ms (8 on average) to every path alike.`)
    const ws = latency.find((r) => r.name === 'ws')
    for (const name of ['whep', 'whep-paced']) {
      const whep = latency.find((r) => r.name === name)
      if (!ws || !whep) continue
      const d = percentile(whep.glass, 50) - percentile(ws.glass, 50)
      const perRound = whep.rounds.map((v, i) => f(v - ws.rounds[i])).join(', ')
      lines.push('')
      lines.push(
        `Target "WebRTC direct p50 within 5 ms of the ws path on loopback", ${name === 'whep' ? 'the default (pacing auto)' : "pacing 'always' (for comparison)"}: ` +
          `p50 − ws p50 = ${f(d)} ms (per round: ${perRound}): **${d <= 5 ? 'met' : 'missed'}**.`,
      )
    }
  }
  if (cpu.length) {
    lines.push('')
    lines.push(`## CPU of the capturing Node process per viewer count (\`window-video\` scene at ${FPS} fps), % of one core`)
    lines.push('')
    if (VIEWER_KIND === 'light') {
      lines.push(
        `utime + stime over ${CPU_SECONDS} s after 2 s of settling. Viewers: **light** (bench/webrtc-light-viewers.mjs, all in one child process: ws clients; node-datachannel peers that receive the RTP, send receiver reports and drop it, no decoding). ` +
          `"viewer fps" is access units each viewer received per second (RTP marker bits; ws: binary messages), "Mbit/s" and "packets/s" what each received (min / median over the viewers); ` +
          `"viewers' process" is that child's CPU; "machine" is the whole machine's busy CPU (all processes, ${cpus().length} cores = ${cpus().length * 100}%).`,
      )
    } else {
      lines.push(`utime + stime over ${CPU_SECONDS} s after 2 s of settling, all pages in one headless Chromium. "viewer fps" is pictures each page decoded per second (min / median over the pages); "machine" is the whole machine's busy CPU (all processes, ${cpus().length} cores = ${cpus().length * 100}%).`)
    }
    lines.push('')
    lines.push("| path | viewers | Node process | capture fps (frames encoded) | Node CPU ms per frame | Janus process | viewers' process | viewer fps min / median | viewer Mbit/s min / median | viewer packets/s min / median | machine | join -> first RTP packet, ms, median / max | join -> first picture (end of the first IDR), ms, median / max (viewers that joined) | pacing | notes |")
    lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
    for (const r of cpu) {
      lines.push(
        `| ${r.name} | ${r.viewers} | ${f(r.node * 100)} | ${f(r.captureFps)} | ${f(r.msPerFrame, 2)} | ${r.name.startsWith('janus') ? f(r.janus * 100) : '-'} | ${f(r.viewersCpu * 100)} | ${f(r.fpsMin)} / ${f(r.fpsMedian)} | ${f(r.mbpsMin, 2)} / ${f(r.mbpsMedian, 2)} | ${f(r.pktsMin, 0)} / ${f(r.pktsMedian, 0)} | ${f(r.machine * 100, 0)} | ${r.packetMs?.length ? `${percentile(r.packetMs, 50)} / ${r.packetMs.at(-1)}` : '-'} | ${r.joinMs?.length ? `${percentile(r.joinMs, 50)} / ${r.joinMs.at(-1)} (${r.joinMs.length})` : '-'} | ${r.pacing || '-'} | ${r.joinErrors.join('; ')} |`,
      )
    }
    for (const name of ['ws', 'whep', 'whep-paced', 'janus-streaming', 'janus-streaming-nokf']) {
      const rs = cpu.filter((r) => r.name === name)
      if (rs.length < 2) continue
      lines.push('')
      lines.push(`${name}, Node CPU per encoded frame, ${rs.map((r) => r.viewers).join(' -> ')} viewers: ${rs.map((r) => f(r.msPerFrame, 2)).join(' -> ')} ms (${f((rs.at(-1).msPerFrame / rs[0].msPerFrame - 1) * 100, 0)}% from ${rs[0].viewers} to ${rs.at(-1).viewers}).`)
    }
    const jan = cpu.filter((r) => r.name === 'janus')
    if (jan.length >= 2) {
      const a = jan[0]
      const b = jan.at(-1)
      // "flat": the most viewers cost at most 10% (relative) or 1 point of a core more than one
      // per encoded frame, as the capture's frame rate falls when the pages take the CPU
      const flat = b.msPerFrame - a.msPerFrame <= 0.1 * a.msPerFrame
      lines.push('')
      lines.push(
        `Target "through Janus, Node CPU flat from 1 to ${b.viewers} viewers" (per encoded frame, at most 10% more): ${f(a.msPerFrame, 2)} -> ${f(b.msPerFrame, 2)} ms/frame ` +
          `(${f(a.node * 100)}% at ${f(a.captureFps)} fps -> ${f(b.node * 100)}% at ${f(b.captureFps)} fps): **${flat ? 'met' : 'missed'}**.`,
      )
    }
  }
  const md = lines.join('\n') + '\n'
  process.stdout.write('\n' + md)
  if (args.out && args.out !== '-') {
    writeFileSync(args.out, md)
    process.stderr.write(`written to ${args.out}\n`)
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
