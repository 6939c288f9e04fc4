// stripecast side of bench/run.mjs: one process, measured the way bench/pixelflux-child.py
// (and shared/reference/pixelflux_probe.py) measures pixelflux.
//
//   node bench/stripecast-child.mjs --display :N --codec jpeg|h264 [--fullframe] --out DIR
//   node bench/stripecast-child.mjs --display :N --multi 4 --fps 30     (concurrency test)
//   ... --keep none     (memory pass: every Buffer dropped in the callback, nothing written)
//   ... --jpeg-quality Q --crf N --subsampling 420|444|auto --fullcolor   (bench/rd.mjs's sweeps)
//   ... --tiles --scroll-copies   (jpegTiles, scrollCopies)
//   ... --replay        (JPEG: snaps also hold the window's deliveries, for PSNR in motion)
//   ... --wire          (every snap also writes wire.bin: each delivered Buffer, wire header
//                        included, in arrival order, as u32 BE length + bytes; bench/rd.mjs)
//
// Figures over the measured window (after --warmup): delivered frames/s (distinct frameIds),
// stripes/s, bytes/s (whole delivered Buffers, wire header included, as the probe counts
// len(frame)), CPU of the whole process (process.cpuUsage: every thread, native ones included)
// per second and per delivered frame, and capture-to-callback latency (captureTimeMs against
// process.hrtime). Every callback keeps its Buffer (the latest per stripe for JPEG, the whole
// stream per stripe for H.264) so that the parent can decode what a viewer would see; after
// the window the capture goes on until the parent writes `finish` on stdin, then the payloads
// go to --out. Events are JSON lines on stdout. Memory: resident set size before the capture
// starts, at the end of the window, and the process's peak (VmRSS / VmHWM of /proc/self/status).
import { createRequire } from 'node:module'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

import { COPY_TYPE, keepVisibleJpeg, parseCopy } from '../__test__/helpers/frames.mjs'
import { nowMs } from '../__test__/helpers/capture.mjs'

const require = createRequire(import.meta.url)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const { ScreenCapture } = require(join(root, 'index.js'))

function args(argv) {
  const a = {
    codec: 'jpeg', fullframe: false, seconds: 8, warmup: 2, fps: 60, jpegQuality: 75, crf: 23,
    damageThreshold: 15, damageDuration: 30, multi: 0, out: null, display: process.env.DISPLAY,
    keep: 'all',
  }
  for (let i = 2; i < argv.length; i++) {
    const k = argv[i]
    const v = () => argv[++i]
    if (k === '--codec') a.codec = v()
    else if (k === '--fullframe') a.fullframe = true
    else if (k === '--seconds') a.seconds = Number(v())
    else if (k === '--warmup') a.warmup = Number(v())
    else if (k === '--fps') a.fps = Number(v())
    else if (k === '--jpeg-quality') a.jpegQuality = Number(v())
    else if (k === '--crf') a.crf = Number(v())
    else if (k === '--damage-threshold') a.damageThreshold = Number(v())
    else if (k === '--damage-duration') a.damageDuration = Number(v())
    else if (k === '--multi') a.multi = Number(v())
    else if (k === '--tiles') a.tiles = true
    else if (k === '--scroll-copies') a.scrollCopies = true
    else if (k === '--replay') a.replay = true
    else if (k === '--subsampling') a.subsampling = v()
    else if (k === '--fullcolor') a.fullcolor = true
    else if (k === '--wire') a.wire = true
    else if (k === '--rate-control') a.rateControl = v()
    else if (k === '--out') a.out = v()
    else if (k === '--keep') a.keep = v()
    else if (k === '--display') a.display = v()
    else throw new Error(`unknown argument ${k}`)
  }
  return a
}

const a = args(process.argv)
const emit = (o) => process.stdout.write(JSON.stringify(o) + '\n')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const cpuS = () => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1e6
}
/** Resident set size now and at its peak, MB (kB figures of /proc/self/status). */
const rssMb = () => {
  const st = readFileSync('/proc/self/status', 'utf8')
  const kb = (k) => Number((st.match(new RegExp(`^${k}:\\s*(\\d+)`, 'm')) ?? [0, NaN])[1])
  return { now: +(kb('VmRSS') / 1024).toFixed(1), peak: +(kb('VmHWM') / 1024).toFixed(1) }
}
const pick = (sorted, q) => (sorted.length ? +sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2) : null)

function settings(extra = {}) {
  return {
    display: a.display,
    outputMode: a.codec === 'jpeg' ? 0 : 1,
    jpegQuality: a.jpegQuality,
    paintOverJpegQuality: 90,
    h264Crf: a.crf,
    h264Fullframe: a.fullframe,
    h264Fullcolor: !!a.fullcolor,
    targetFps: a.fps,
    captureCursor: false,
    usePaintOverQuality: false,
    useCpu: true,
    damageBlockThreshold: a.damageThreshold,
    damageBlockDuration: a.damageDuration,
    ...(a.tiles ? { jpegTiles: true } : {}),
    ...(a.scrollCopies ? { scrollCopies: true } : {}),
    ...(a.rateControl ? { h264RateControl: a.rateControl } : {}),
    ...(a.subsampling ? { jpegSubsampling: a.subsampling } : {}),
    ...extra,
  }
}

function onError(e) {
  process.stderr.write(`stripecast error ${e.code ?? ''}: ${e.message}\n`)
}

async function single() {
  const st = { on: false, stripes: 0, bytes: 0, frames: new Set(), lat: [] }
  // JPEG: what a viewer's picture depends on, in the order it arrived (a JPEG may cover only the
  // changed band, or tile, of its stripe: deliveries overlap, and those painted over entirely
  // are dropped).
  let last = []
  const streams = new Map() // H.264: y -> stripes
  // --wire: every delivery in arrival order (wire header included), up to 256 MB.
  const wire = []
  let wireBytes = 0
  const keep = a.keep !== 'none'
  // --replay (JPEG): the viewer's picture at the window's start, then every delivery of the
  // window in order, for the PSNR of what a viewer saw in motion.
  let history = null
  const cap = new ScreenCapture()
  const rssBefore = rssMb().now
  const info = cap.start(
    settings(),
    (s) => {
      const now = nowMs()
      if (a.wire && wireBytes < 256e6) {
        wire.push(Buffer.from(s.data))
        wireBytes += s.data.length
      }
      if (keep && a.codec === 'jpeg') {
        last = keepVisibleJpeg(last, s)
      } else if (keep) {
        let l = streams.get(s.stripeYStart)
        if (!l) streams.set(s.stripeYStart, (l = []))
        l.push(s)
      }
      if (!st.on) return
      if (history) history.push(s)
      st.stripes++
      st.bytes += s.size
      st.frames.add(s.frameId)
      st.lat.push(now - s.captureTimeMs)
    },
    onError,
  )
  await sleep(a.warmup * 1000)
  const c0 = cpuS()
  const t0 = nowMs()
  const s0 = cap.stats()
  if (a.replay && keep && a.codec === 'jpeg') history = last.map((s) => ({ ...s, start: true }))
  st.on = true
  emit({ event: 'window-start' })
  await sleep(a.seconds * 1000)
  st.on = false
  const replay = history
  history = null
  const c1 = cpuS()
  const t1 = nowMs()
  const s1 = cap.stats()
  const rss = rssMb()
  // Access units per H.264 stream when the window closed (the scene still moving): the parent
  // samples pictures of the moving scene among these.
  const motionChunks = new Map([...streams.entries()].map(([y, l]) => [y, l.length]))
  const dt = (t1 - t0) / 1000
  const cpu = c1 - c0
  const frames = st.frames.size
  const lat = st.lat.sort((x, y) => x - y)
  emit({
    event: 'measured', peer: 'stripecast', codec: a.codec, fullframe: a.fullframe,
    seconds: +dt.toFixed(3), frames, stripes: st.stripes, bytes: st.bytes,
    frames_per_s: +(frames / dt).toFixed(2), stripes_per_s: +(st.stripes / dt).toFixed(2),
    bytes_per_s: Math.round(st.bytes / dt), cpu_s: +cpu.toFixed(4), cpu_cores: +(cpu / dt).toFixed(3),
    cpu_ms_per_frame: frames ? +((1000 * cpu) / frames).toFixed(2) : null,
    latency_ms_p50: pick(lat, 0.5), latency_ms_p99: pick(lat, 0.99), latency_count: lat.length,
    rss_before_mb: rssBefore, rss_end_mb: rss.now, rss_peak_mb: rss.peak,
    info: { stripeHeight: info.stripeHeight, stripeCount: info.stripeCount, encoder: info.encoder },
    stats: {
      framesCaptured: s1.framesCaptured - s0.framesCaptured,
      framesWithChanges: s1.framesWithChanges - s0.framesWithChanges,
      framesSkipped: s1.framesSkipped - s0.framesSkipped,
      captureMs: +(s1.captureMs - s0.captureMs).toFixed(1),
      encodeMs: +(s1.encodeMs - s0.encodeMs).toFixed(1),
    },
  })

  // After the window: `snap NAME` writes what a viewer has now to --out/NAME (the parent
  // freezes the scene first), `finish` stops the capture.
  const payload = (b) => (b[0] === 0x03 ? b.subarray(b[1] === 1 ? 10 : 6) : b[0] === 0x04 ? b.subarray(10) : b)
  /** A JPEG delivery written to `dir` as `name`, or a copy, as a part of meta.json. */
  const part = (dir, name, s) => {
    if (s.type === COPY_TYPE) return { copy: parseCopy(s.data), frameId: s.frameId }
    writeFileSync(join(dir, name), payload(s.data))
    return { x: s.x, y: s.stripeYStart, width: s.width, height: s.stripeHeight, file: name, frameId: s.frameId }
  }
  const writeOut = (dir) => {
    mkdirSync(dir, { recursive: true })
    const parts = []
    let replayed
    if (a.codec === 'jpeg') {
      for (const [i, s] of last.entries()) parts.push(part(dir, `jpeg-${i}-${s.stripeYStart}.bin`, s))
      // Grab times (the player's clock), 0 for the picture at the window's start.
      // (The last snap, 'late', only: the history is the same in each.)
      if (dir.endsWith('late')) replayed = replay?.map((s, i) => ({ ...part(dir, `h-${i}.bin`, s), time: s.start ? 0 : s.captureTimeMs }))
    } else {
      for (const [y, l] of [...streams.entries()].sort((p, q) => p[0] - q[0])) {
        const file = `h264-${y}.bin`
        writeFileSync(join(dir, file), Buffer.concat(l.map((s) => payload(s.data))))
        parts.push({
          y, height: l[0].stripeHeight, file, chunks: l.length, motionChunks: motionChunks.get(y) ?? 0,
          // When each access unit's picture was grabbed (CLOCK_MONOTONIC ms, the player's clock).
          times: l.map((s) => s.captureTimeMs),
        })
      }
    }
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({ codec: a.codec, width: info.width, height: info.height, parts, history: replayed }))
    if (a.wire) {
      const chunks = []
      for (const m of wire) {
        const len = Buffer.alloc(4)
        len.writeUInt32BE(m.length)
        chunks.push(len, m)
      }
      writeFileSync(join(dir, 'wire.bin'), Buffer.concat(chunks))
    }
  }
  const rl = createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, name] = line.trim().split(/\s+/)
    if (cmd === 'snap') {
      writeOut(join(a.out, name))
      emit({ event: 'snap', name })
    } else if (cmd === 'finish') break
  }
  rl.close()
  cap.stop()
  emit({ event: 'done' })
}

// N captures of the whole screen in this one process, JPEG, no payload kept.
async function multi() {
  const caps = []
  for (let i = 0; i < a.multi; i++) {
    const st = { on: false, frames: new Set(), stripes: 0, bytes: 0, lat: [] }
    const cap = new ScreenCapture()
    cap.start(
      settings({ outputMode: 0 }),
      (s) => {
        if (!st.on) return
        st.frames.add(s.frameId)
        st.stripes++
        st.bytes += s.size
        st.lat.push(nowMs() - s.captureTimeMs)
      },
      onError,
    )
    caps.push({ cap, st })
  }
  await sleep(a.warmup * 1000)
  const c0 = cpuS()
  const t0 = nowMs()
  const g0 = caps.map((c) => c.cap.stats().framesCaptured)
  for (const c of caps) c.st.on = true
  emit({ event: 'window-start' })
  await sleep(a.seconds * 1000)
  for (const c of caps) c.st.on = false
  const dt = (nowMs() - t0) / 1000
  const cpu = cpuS() - c0
  const g1 = caps.map((c) => c.cap.stats().framesCaptured)
  const per = caps.map(({ st }, i) => {
    const lat = st.lat.sort((x, y) => x - y)
    return {
      frames_per_s: +(st.frames.size / dt).toFixed(2),
      captured_per_s: +((g1[i] - g0[i]) / dt).toFixed(2),
      bytes_per_s: Math.round(st.bytes / dt),
      latency_ms_p50: pick(lat, 0.5),
      latency_ms_p99: pick(lat, 0.99),
    }
  })
  for (const c of caps) c.cap.stop()
  emit({
    event: 'measured', peer: 'stripecast', multi: a.multi, fps: a.fps, seconds: +dt.toFixed(3),
    cpu_cores: +(cpu / dt).toFixed(3), per_capture: per,
  })
  emit({ event: 'done' })
}

await (a.multi > 0 ? multi() : single())
process.exit(0)
