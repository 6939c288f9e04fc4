// stripecast vs pixelflux, side by side: `npm run bench` (or `node bench/run.mjs`).
//
// Starts its own Xvfb (1920x1080x24) and the xpaint scene player, then for every scene
// (static, typing, scroll, video, window-video) and mode (JPEG q75, H.264 striped CRF 23,
// H.264 full-frame CRF 23) at 60 fps runs stripecast (bench/stripecast-child.mjs) and
// pixelflux 2.2.1 (bench/pixelflux-child.py, the measuring code of
// shared/reference/pixelflux_probe.py) one after the other in their own processes, on the same
// display and scene, with the same settings; striped runs are repeated with stripecast's damage
// blocking off, JPEG ones with jpegTiles, and H.264 on the changing scenes at constant
// quantisers (`h264RateControl: 'cqp'`, read at pixelflux's PSNR). Each child measures itself
// over --seconds after --warmup; the player's, Xvfb's and the rest of the machine's CPU over
// the same window are read from /proc. Then the scene is
// frozen and each peer's output is decoded and compared with a dump of the screen 0.6 s and
// 1.5 s later (PSNR of the final picture), and, for H.264 on the scroll, video and window-video
// scenes, pictures decoded from the measured window are compared with the picture the player
// had drawn when each was grabbed (PSNR in motion). Finally:
// N JPEG captures of the typing scene at 30 fps in one process, N = 1, 2, 4, 6, 8. Memory: each
// peer again on the static and video scenes, its callback dropping every payload, resident set
// size before the capture started and at its peak.
//
// Writes bench/results.json and bench/results.md, prints the Markdown.
//
// Options: --seconds S (8) --warmup S (2) --scenes a,b --modes jpeg,h264-striped,h264-full
//          --no-pixelflux --no-multi --no-variants (no damage-block-off, tiles or cqp reruns) --no-memory
//          --keep-work (leave the work folder: what each peer delivered, dumps, the player's log)
//          --repeat N (2: each peer measured N times per scene and mode, the peers taking turns;
//          the tables show the means, every run is listed)
//          --quick (3 s windows, 1 s warm-up, one run each)
// Env: PIXELFLUX_PYTHON=/path/to/python with pixelflux installed (else bench/.venv, then
//      /tmp/pfx, else bench/.venv is created with `pip install pixelflux==2.2.1`).
import { spawn, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, release, loadavg, setPriority } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { startXvfb } from '../tools/xvfb.mjs'
import { startPlayer, procCpuSeconds } from './lib/player.mjs'
import { snapshotPsnr, motionPsnr, replayMotionPsnr, loadScene, readSceneLog } from './lib/quality.mjs'
import { atPsnr } from './lib/equal-psnr.mjs'
import { findPython } from './lib/pixelflux.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.error('[bench]', ...a)

// ---------------------------------------------------------------- options
const opt = { seconds: 8, warmup: 2, scenes: null, modes: null, pixelflux: true, multi: true, variants: true, memory: true, keepWork: false, repeat: 2 }
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i]
  if (k === '--seconds') opt.seconds = Number(process.argv[++i])
  else if (k === '--warmup') opt.warmup = Number(process.argv[++i])
  else if (k === '--scenes') opt.scenes = process.argv[++i].split(',')
  else if (k === '--modes') opt.modes = process.argv[++i].split(',')
  else if (k === '--no-pixelflux') opt.pixelflux = false
  else if (k === '--no-multi') opt.multi = false
  else if (k === '--no-variants') opt.variants = false
  else if (k === '--no-memory') opt.memory = false
  else if (k === '--keep-work') opt.keepWork = true
  else if (k === '--repeat') opt.repeat = Math.max(1, Math.floor(Number(process.argv[++i])))
  else if (k === '--quick') Object.assign(opt, { seconds: 3, warmup: 1, repeat: 1 })
  else {
    console.error(`unknown option ${k}`)
    process.exit(2)
  }
}
const FPS = 60
const SCENES = opt.scenes ?? ['static', 'typing', 'scroll', 'scroll-window', 'scroll-lines', 'video', 'window-video']
const MODES = {
  jpeg: { label: 'JPEG q75', codec: 'jpeg', fullframe: false },
  'h264-striped': { label: 'H.264 striped crf23', codec: 'h264', fullframe: false },
  'h264-full': { label: 'H.264 full-frame crf23', codec: 'h264', fullframe: true },
}
const modeNames = opt.modes ?? Object.keys(MODES)
// Memory is measured on a still screen (what a capture holds idle) and on the video scene (every
// stripe encoded every frame: the most buffers in flight).
const MEMORY_SCENES = ['static', 'video']
// Scenes whose every picture the player can rebuild (xpaint `scene-parts`, `scene-log`): decoded
// H.264 pictures of the moving scene are compared with what was on screen when they were grabbed.
const MOTION_SCENES = ['scroll', 'scroll-window', 'scroll-lines', 'video', 'window-video']
// Scroll scenes: JPEG peers also run with --replay (every delivery kept, for JPEG PSNR in
// motion), and stripecast with scrollCopies.
const SCROLL_SCENES = ['scroll', 'scroll-window', 'scroll-lines']
// Quantisers at which stripecast's H.264 runs again with `h264RateControl: 'cqp'` on the changing
// scenes (one turn each), to read its cost at the other peer's PSNR (bench/lib/equal-psnr.mjs): in
// motion where the player can rebuild its pictures, else of the final picture (typing).
const CQP_QPS = [17, 20, 23, 26]
const CQP_PEER = 'stripecast-cqp'
const cqpPeer = (qp) => `${CQP_PEER}${qp}`
const cqpOf = (peer) => (peer.startsWith(CQP_PEER) ? Number(peer.slice(CQP_PEER.length)) : null)
const W = 1920
const H = 1080
// pixelflux's damage-block defaults (15 consecutive changed frames, then 30 frames), given to
// both peers so that they throttle continuously changing stripes by the same rule.
const DAMAGE = { threshold: 15, duration: 30 }

// ---------------------------------------------------------------- pixelflux

// ---------------------------------------------------------------- children
const NICE = process.getuid?.() === 0 ? -5 : 0

/** CPU seconds the whole machine spent busy (all cores, from /proc/stat). */
function busyCpuSeconds() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  // user nice system idle iowait irq softirq steal
  return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100
}
/** Spawns a measuring child; JSON events on stdout. */
function startChild(cmd, args, env, timeoutMs) {
  // Raised priority (as root) for every thread of the child, the same for both peers: the
  // machine may be shared, and other work should disturb the measurement as little as possible.
  const [c, a] = NICE ? ['nice', ['-n', String(NICE), cmd, ...args]] : [cmd, args]
  const child = spawn(c, a, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => {
    if (stderr.length < 16384) stderr += d
  })
  child.stdin.on('error', () => {})
  const handlers = {}
  const events = {}
  let exitErr = null
  const waitFor = (name) =>
    events[name] ??
    (events[name] = new Promise((res, rej) => {
      if (exitErr) return rej(exitErr)
      handlers[name] = res
      failers.push(rej)
    }))
  const failers = []
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev
    try {
      ev = JSON.parse(line)
    } catch {
      return
    }
    const key = ev.name ? `${ev.event}:${ev.name}` : ev.event
    const h = handlers[key]
    if (h) h(ev)
    else events[key] = Promise.resolve(ev)
  })
  const exited = new Promise((res) =>
    child.once('exit', (code, sig) => {
      const err = new Error(`${cmd} exited (${code ?? sig}) early: ${stderr.trim().split('\n').slice(-6).join(' | ')}`)
      exitErr = err
      for (const f of failers) f(err)
      res({ code, sig })
    }),
  )
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return {
    pid: child.pid,
    waitFor,
    send(line) {
      child.stdin.write(line + '\n')
    },
    async end() {
      await exited
      clearTimeout(timer)
    },
    stderr: () => stderr,
    kill: () => child.kill('SIGKILL'),
  }
}

function childCommand(peer, mode, out, extra = [], scene = null) {
  const m = MODES[mode]
  // (Only the peers compared on the scroll target: replaying a peer that re-encodes every moved
  // row decodes hundreds of full screens.)
  if (m.codec === 'jpeg' && SCROLL_SCENES.includes(scene) && ['pixelflux', 'stripecast-copies'].includes(peer)) extra = [...extra, '--replay']
  const common = ['--codec', m.codec, ...(m.fullframe ? ['--fullframe'] : []), '--seconds', String(opt.seconds),
    '--warmup', String(opt.warmup), '--fps', String(FPS), '--damage-threshold', String(DAMAGE.threshold),
    '--damage-duration', String(DAMAGE.duration), '--out', out, ...extra]
  if (peer === 'stripecast') return [process.execPath, [join(here, 'stripecast-child.mjs'), ...common]]
  if (peer === 'stripecast-nodmg') {
    // The same, with damage blocking out of reach (see README of bench: stripecast's damaged
    // stripes are not sent for a block, pixelflux's are sent every frame without hashing).
    return [process.execPath, [join(here, 'stripecast-child.mjs'), ...common, '--damage-threshold', '100000']]
  }
  if (peer === 'stripecast-copies') {
    // Scroll copies with tiles, as the example servers send (`scrollCopies`, `jpegTiles`).
    return [process.execPath, [join(here, 'stripecast-child.mjs'), ...common, '--tiles', '--scroll-copies']]
  }
  if (peer === 'stripecast-tiles') {
    // JPEG tiles (`jpegTiles`: only the changed 128-pixel columns, in stripecast's own header).
    return [process.execPath, [join(here, 'stripecast-child.mjs'), ...common, '--tiles']]
  }
  if (cqpOf(peer) != null) {
    // Constant quantiser (`h264RateControl: 'cqp'`, `h264Crf` = the quantiser of P pictures).
    return [process.execPath, [join(here, 'stripecast-child.mjs'), ...common, '--rate-control', 'cqp', '--crf', String(cqpOf(peer))]]
  }
  return [pf.python, [join(here, 'pixelflux-child.py'), ...common]]
}

/** One measured run of one peer on the running scene; leaves the scene frozen and dumped. */
async function measure(scene, mode, peer, rep, workdir) {
  // What the peer delivered (a folder), the screen dump and the player's log of this run.
  const out = join(workdir, `${scene}-${mode}-${peer}-${rep}`)
  const dump = `${out}.screen.bgrx`
  const drawLog = `${out}.log.jsonl`
  const [cmd, args] = childCommand(peer, mode, out, [], scene)
  await player.start(scene, FPS, { restart: true })
  const playing = performance.now()
  const c = startChild(cmd, args, { DISPLAY: xvfb.display }, (opt.warmup + opt.seconds + 60) * 1000)
  try {
    await c.waitFor('window-start')
    const p0 = player.cpuSeconds()
    const x0 = procCpuSeconds(xvfb.pid)
    const b0 = busyCpuSeconds()
    const t0 = performance.now()
    const m = await c.waitFor('measured')
    const dt = (performance.now() - t0) / 1000
    const playerCpu = (player.cpuSeconds() - p0) / dt
    const xvfbCpu = (procCpuSeconds(xvfb.pid) - x0) / dt
    const otherCpu = (busyCpuSeconds() - b0) / dt - playerCpu - xvfbCpu - m.cpu_cores
    const ps = await player.pause()
    const frozen = performance.now()
    // Every picture the player drew in this run, with when (H.264 in-motion quality).
    if (MOTION_SCENES.includes(scene)) await player.cmd(`scene-log ${drawLog}`)
    const playerFps = ps ? ps.frames / ((frozen - playing) / 1000) : null
    // What a viewer has 0.6 s after the scene stopped (a damage block of 30 frames is 0.5 s),
    // and 1.5 s after (past stripecast's once-a-second full check).
    await sleep(600)
    await player.dump(0, 0, W, H, dump)
    c.send('snap early')
    await c.waitFor('snap:early')
    await sleep(Math.max(0, 1500 - (performance.now() - frozen)))
    c.send('snap late')
    await c.waitFor('snap:late')
    c.send('finish')
    await c.waitFor('done')
    await c.end()
    return {
      ...m, scene, mode, peer, rep, event: undefined,
      player_cpu_cores: +playerCpu.toFixed(3), xvfb_cpu_cores: +xvfbCpu.toFixed(3),
      other_cpu_cores: +Math.max(0, otherCpu).toFixed(2),
      player_fps: playerFps != null ? +playerFps.toFixed(1) : null, player_late: ps?.late ?? null,
      out, dump, log: drawLog,
    }
  } catch (e) {
    c.kill()
    await c.end()
    await player.pause().catch(() => {})
    log(`${scene} ${mode} ${peer} failed: ${e.message}`)
    return { scene, mode, peer, rep, error: e.message }
  }
}

/** Memory pass: one peer on the running scene, every payload dropped in its callback. */
async function memoryRun(scene, mode, peer, workdir) {
  const [cmd, args] = childCommand(peer, mode, join(workdir, 'unused'), ['--keep', 'none', '--seconds', '4', '--warmup', '1'])
  await player.start(scene, FPS, { restart: true })
  const c = startChild(cmd, args, { DISPLAY: xvfb.display }, 60000)
  try {
    const m = await c.waitFor('measured')
    c.send('finish')
    await c.waitFor('done')
    await c.end()
    await player.pause()
    return {
      scene, mode, peer, frames_per_s: m.frames_per_s, rss_before_mb: m.rss_before_mb, rss_end_mb: m.rss_end_mb,
      rss_peak_mb: m.rss_peak_mb, capture_mb: r2(m.rss_peak_mb - m.rss_before_mb),
    }
  } catch (e) {
    c.kill()
    await c.end()
    await player.pause().catch(() => {})
    return { scene, mode, peer, error: e.message }
  }
}

async function multi(n, workdir) {
  const [cmd, args] = [process.execPath, [join(here, 'stripecast-child.mjs'), '--multi', String(n), '--fps', '30',
    '--seconds', String(Math.min(5, opt.seconds)), '--warmup', String(Math.min(1.5, opt.warmup)),
    // Damage blocking off: the typing stripe is then hashed every frame (the plain path).
    '--damage-threshold', '100000', '--damage-duration', String(DAMAGE.duration)]]
  const c = startChild(cmd, args, { DISPLAY: xvfb.display }, 60000)
  try {
    await c.waitFor('window-start')
    const p0 = player.cpuSeconds()
    const x0 = procCpuSeconds(xvfb.pid)
    const t0 = performance.now()
    const m = await c.waitFor('measured')
    const dt = (performance.now() - t0) / 1000
    await c.waitFor('done')
    await c.end()
    const fps = m.per_capture.map((p) => p.frames_per_s)
    const grabbed = m.per_capture.map((p) => p.captured_per_s)
    const p99 = m.per_capture.map((p) => p.latency_ms_p99 ?? 0)
    return {
      n, cpu_cores: m.cpu_cores, fps_min: Math.min(...fps), fps_mean: +(fps.reduce((s, v) => s + v, 0) / fps.length).toFixed(2),
      captured_min: Math.min(...grabbed),
      latency_ms_p99_max: Math.max(...p99), player_cpu_cores: +((player.cpuSeconds() - p0) / dt).toFixed(3),
      xvfb_cpu_cores: +((procCpuSeconds(xvfb.pid) - x0) / dt).toFixed(3), per_capture: m.per_capture,
    }
  } catch (e) {
    c.kill()
    await c.end()
    return { n, error: e.message }
  }
}

// ---------------------------------------------------------------- report
const r2 = (v) => (v == null || !Number.isFinite(v) ? null : +v.toFixed(2))
const ratio = (a, b) => (a == null || b == null || !(b > 0) ? null : r2(a / b))
const fmt = (v, d = 2) => (v == null ? '–' : typeof v === 'number' ? v.toFixed(d) : String(v))
const fx = (v) => (v == null ? '–' : `${v.toFixed(2)}x`)
const VARIANT = { stripecast: 'stripecast', 'stripecast-nodmg': 'stripecast, damage block off', 'stripecast-tiles': 'stripecast, JPEG tiles', 'stripecast-copies': 'stripecast, scroll copies + tiles' }
const VARIANT_LABEL = { stripecast: 'as configured', 'stripecast-nodmg': 'damage block off', 'stripecast-tiles': 'jpegTiles on', 'stripecast-copies': 'scrollCopies + jpegTiles on' }

/** Figures averaged over the repeated runs of each scene, mode and peer (errors win). */
function mergeRuns(runs) {
  const groups = new Map()
  for (const r of runs) {
    const key = `${r.scene}|${r.mode}|${r.peer}`
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(r)
  }
  const AVERAGED = ['frames_per_s', 'stripes_per_s', 'bytes_per_s', 'cpu_cores', 'cpu_ms_per_frame', 'latency_ms_p50',
    'latency_ms_p99', 'psnr_early', 'psnr', 'psnr_motion', 'player_cpu_cores', 'xvfb_cpu_cores', 'other_cpu_cores', 'player_fps']
  return [...groups.values()].map((g) => {
    const failed = g.find((r) => r.error)
    if (failed) return failed
    const m = { ...g[0], runs: g.length }
    delete m.rep
    for (const k of AVERAGED) {
      const v = g.map((r) => r[k]).filter((x) => x != null)
      m[k] = v.length ? +(v.reduce((a, b) => a + b, 0) / v.length).toFixed(k === 'bytes_per_s' ? 0 : 3) : null
    }
    const ms = g.map((r) => r.cpu_ms_per_frame).filter((x) => x != null)
    if (ms.length > 1) m.cpu_ms_per_frame_range = [Math.min(...ms), Math.max(...ms)]
    return m
  })
}

/** The PSNR a cell's quality is judged by: in motion for H.264 on a moving scene (a final H.264
 * picture flatters a peer that keeps refining a still one), else of the final picture (JPEG
 * pictures are independent; typing's pictures cannot be rebuilt for PSNR in motion). When that
 * one was not measured for a peer, the cell has no PSNR comparison rather than another basis. */
function psnrMetric(scene, mode) {
  return MOTION_SCENES.includes(scene) && (mode !== 'jpeg' || SCROLL_SCENES.includes(scene)) ? 'psnr_motion' : 'psnr'
}

function compare(runs) {
  const diff = (a, b) => (a != null && b != null ? r2(a - b) : null)
  const rows = []
  for (const scene of SCENES) {
    for (const mode of modeNames) {
      const p = runs.find((r) => r.scene === scene && r.mode === mode && r.peer === 'pixelflux')
      const metric = psnrMetric(scene, mode)
      for (const variant of Object.keys(VARIANT)) {
        const s = runs.find((r) => r.scene === scene && r.mode === mode && r.peer === variant)
        if (!s) continue
        rows.push({
          scene, mode, variant, sc: s, pf: p ?? null,
          fps: ratio(s.frames_per_s, p?.frames_per_s),
          cpu_cores: ratio(s.cpu_cores, p?.cpu_cores),
          cpu_ms_per_frame: ratio(s.cpu_ms_per_frame, p?.cpu_ms_per_frame),
          bytes_per_s: ratio(s.bytes_per_s, p?.bytes_per_s),
          latency_p99: ratio(s.latency_ms_p99, p?.latency_ms_p99),
          psnr_basis: metric === 'psnr_motion' ? 'motion' : 'final',
          psnr_diff_db: diff(s[metric], p?.[metric]),
        })
      }
    }
  }
  return rows
}

/** Per H.264 cell of a changing scene: stripecast's constant-quantiser runs read at the PSNR of
 * pixelflux (or of stripecast's CRF run when pixelflux did not run), by psnrMetric. */
function equalPsnr(summary) {
  const rows = []
  for (const scene of SCENES) {
    for (const mode of modeNames) {
      const metric = psnrMetric(scene, mode)
      const of = (peer) => summary.find((r) => r.scene === scene && r.mode === mode && r.peer === peer && !r.error)
      const points = CQP_QPS.map((qp) => ({ qp, r: of(cqpPeer(qp)) })).filter((p) => p.r)
        .map(({ qp, r }) => ({ qp, psnr: r[metric], cpu: r.cpu_ms_per_frame, bytes: r.bytes_per_s }))
      if (!points.length) continue
      const crf = of('stripecast')
      const p = of('pixelflux')
      const basis = p?.[metric] != null ? 'pixelflux' : 'stripecast crf'
      const target = basis === 'pixelflux' ? p[metric] : crf?.[metric]
      const at = atPsnr(points, target)
      rows.push({
        scene, mode, basis, metric: metric === 'psnr' ? 'final picture' : 'in motion', target_psnr: target ?? null, points, at,
        vs_pixelflux: p && at.cpu != null ? { cpu_ms_per_frame: ratio(at.cpu, p.cpu_ms_per_frame), bytes_per_s: ratio(at.bytes, p.bytes_per_s) } : null,
        vs_crf: crf && at.cpu != null ? { cpu_ms_per_frame: ratio(at.cpu, crf.cpu_ms_per_frame), bytes_per_s: ratio(at.bytes, crf.bytes_per_s) } : null,
      })
    }
  }
  return rows
}

function targets(rows, equal = []) {
  const t = []
  const add = (name, row, value, limit, pass, note = '') => t.push({ target: name, scene: row.scene, mode: row.mode, value, limit, pass, note })
  const frameMs = 1000 / FPS
  for (const row of rows) {
    const { scene, mode, sc, pf, variant } = row
    if (variant === 'stripecast-copies' && pf && !pf.error && !sc.error) {
      // Issue #21: a scroll costs almost nothing.
      add('scroll copies bytes/s <= 0.1x', row, row.bytes_per_s, 0.1, row.bytes_per_s != null && row.bytes_per_s <= 0.1)
      add('scroll copies CPU/frame <= 0.3x', row, row.cpu_ms_per_frame, 0.3, row.cpu_ms_per_frame != null && row.cpu_ms_per_frame <= 0.3)
      add('scroll copies fps >= 1.0x', row, row.fps, 1.0, row.fps != null && row.fps >= 1.0)
      add('scroll copies PSNR in motion >= pixelflux - 0.5 dB', row, row.psnr_diff_db, -0.5, row.psnr_diff_db != null && row.psnr_diff_db >= -0.5,
        `${fmt(sc.psnr_motion)} vs ${fmt(pf.psnr_motion)} dB`)
      const still = sc.psnr != null && pf.psnr != null ? r2(sc.psnr - pf.psnr) : null
      add('scroll copies PSNR after the stop >= pixelflux - 0.5 dB', row, still, -0.5, still != null && still >= -0.5, `${fmt(sc.psnr)} vs ${fmt(pf.psnr)} dB`)
    }
    if (variant !== 'stripecast') continue
    if (!sc.error && sc.latency_ms_p99 != null) {
      add('latency p99 <= one frame interval', row, sc.latency_ms_p99, +frameMs.toFixed(2), sc.latency_ms_p99 <= frameMs, 'ms (grab to callback)')
    }
    if (!pf || pf.error || sc.error) continue
    if (mode === 'jpeg' && (scene === 'video' || scene === 'scroll')) {
      add('JPEG CPU/frame <= 0.6x', row, row.cpu_ms_per_frame, 0.6, row.cpu_ms_per_frame != null && row.cpu_ms_per_frame <= 0.6)
      add('JPEG fps >= 1.0x', row, row.fps, 1.0, row.fps != null && row.fps >= 1.0)
    }
    if (mode === 'jpeg' && scene === 'typing') {
      add('typing bytes/s <= 0.1x', row, row.bytes_per_s, 0.1, row.bytes_per_s != null && row.bytes_per_s <= 0.1,
        `at ${fmt(sc.frames_per_s, 1)} vs ${fmt(pf.frames_per_s, 1)} fps`)
      add('typing CPU <= 0.5x', row, row.cpu_cores, 0.5, row.cpu_cores != null && row.cpu_cores <= 0.5, 'CPU cores')
    }
    if (scene === 'static') add('static CPU <= 0.2x', row, row.cpu_cores, 0.2, row.cpu_cores != null && row.cpu_cores <= 0.2, 'CPU cores')
    if (mode !== 'jpeg' && scene !== 'static') {
      add('H.264 CPU/frame <= 0.85x', row, row.cpu_ms_per_frame, 0.85, row.cpu_ms_per_frame != null && row.cpu_ms_per_frame <= 0.85)
      const psnrOk = row.psnr_diff_db != null && row.psnr_diff_db >= -0.5
      add('H.264 bytes/s <= 1.1x at equal PSNR', row, row.bytes_per_s, 1.1, row.bytes_per_s != null && row.bytes_per_s <= 1.1 && psnrOk,
        row.psnr_basis === 'motion'
          ? `PSNR in motion ${fmt(sc.psnr_motion)} vs ${fmt(pf.psnr_motion)} dB (${row.psnr_diff_db >= 0 ? '+' : ''}${fmt(row.psnr_diff_db)}); equal = within 0.5 dB or better`
          : `final-picture PSNR ${fmt(sc.psnr)} vs ${fmt(pf.psnr)} dB (${row.psnr_diff_db >= 0 ? '+' : ''}${fmt(row.psnr_diff_db)}); equal = within 0.5 dB or better; see note on H.264 final pictures`)
    }
  }
  for (const e of equal) {
    if (!e.vs_pixelflux) continue
    const row = { scene: e.scene, mode: e.mode }
    const note = `h264RateControl 'cqp' at QP ${fmt(e.at.qp, 1)}, ${e.at.how} at pixelflux's ${fmt(e.target_psnr)} dB (${e.metric})`
    add("H.264 CPU/frame <= 0.85x at equal PSNR (cqp)", row, e.vs_pixelflux.cpu_ms_per_frame, 0.85, e.vs_pixelflux.cpu_ms_per_frame <= 0.85, note)
    add("H.264 bytes/s <= 1.1x at equal PSNR (cqp)", row, e.vs_pixelflux.bytes_per_s, 1.1, e.vs_pixelflux.bytes_per_s <= 1.1, note)
  }
  return t
}

function markdown(res) {
  const L = []
  const m = res.machine
  L.push('# stripecast vs pixelflux, side by side', '')
  L.push(`${m.date} · ${m.cpuModel} · ${m.nproc} cores · ${m.memGiB} GiB · Linux ${m.kernel} · Node ${m.node} · ` +
    `pixelflux ${res.pixelflux.version ?? `unavailable (${res.pixelflux.error})`} · Xvfb ${W}x${H}x24 · target ${FPS} fps · ` +
    `${res.options.seconds} s measured after ${res.options.warmup} s warm-up · whole run ${res.wallSeconds} s`, '')
  L.push('Settings for both peers: cursor off, paint-over off, software encoders, damage block after 15 changed frames for 30 frames ' +
    "(pixelflux's defaults), JPEG quality 75 (each peer's own chroma subsampling, see below), H.264 CRF 23 (4:2:0, x264 " +
    'ultrafast/zerolatency in both). Each peer runs alone in its own process ' +
    '(pixelflux from Python), one after the other on the same running scene' +
    (res.options.repeat > 1 ? `, ${res.options.repeat} times each, taking turns; the tables show the means (each run is under *Every run*)` : '') +
    '. **CPU** = the whole capturing process ' +
    '(user + system, every thread); the scene player and Xvfb are measured separately and not included. **fps** = distinct ' +
    'frame ids delivered per second. **Latency** = frame grab to JS/Python callback. **PSNR** (R,G,B) = the picture a viewer ' +
    'would show (last JPEG of each stripe / last decoded H.264 picture of each stream) against a dump of the screen, ' +
    '0.6 s and 1.5 s after the scene player stopped. A final H.264 picture flatters a peer that keeps encoding the ' +
    'still picture after the scene stops (pixelflux re-sends a stripe for the rest of its damage block, and each ' +
    'further P frame refines it); **PSNR in motion** (H.264 on scroll, video and window-video) avoids that: at 8 grabs ' +
    'during the measured window, the whole screen as the streams showed it (each its last picture by then) against the ' +
    "picture the scene player had on screen at that grab (the peer's grab time against the player's log of when it drew " +
    'each picture, both CLOCK_MONOTONIC; the closest of the pictures drawn just before, at and after that time). JPEG ' +
    'pictures are independent, so their final PSNR is their quality in motion.', '')
  L.push('"damage block off" reruns stripecast with `damageBlockThreshold: 100000`: a damaged stripe is, in both peers, ' +
    'sent whenever drawn and not hashed until its block ends; this row shows the plain path, every stripe hashed every ' +
    'frame.', '')
  L.push('"jpegTiles on" reruns stripecast\'s JPEG with `jpegTiles: true`: only the changed 128-pixel columns of a band ' +
    "are sent, with an x offset in stripecast's own 10-byte header, which pixelflux's clients do not read (stripecast/client " +
    'does); off by default for that reason.', '')
  const sub = (peer) => [...new Set(res.runs.filter((r) => r.peer === peer && r.jpeg_subsampling).map((r) => r.jpeg_subsampling))].join(', ') || '–'
  L.push(`JPEG chroma subsampling found in the delivered JFIF: stripecast ${sub('stripecast')}, pixelflux ${sub('pixelflux')} ` +
    "(pixelflux 2.2.1 sets only the quality on libjpeg-turbo, whose default is 4:4:4, so its JPEG costs more CPU and bytes per " +
    'stripe than 4:2:0 and keeps more chroma).', '')
  const busy = res.runs.filter((r) => r.other_cpu_cores > 0.25)
  if (busy.length) {
    L.push(`**Note:** ${busy.length} of ${res.runs.length} runs shared the machine with other work (more than 0.25 cores busy ` +
      `outside this benchmark; worst ${Math.max(...busy.map((r) => r.other_cpu_cores)).toFixed(2)} cores): their fps and latency ` +
      'figures are less reliable than their CPU figures. See "other load" under *Every run*.', '')
  }
  L.push('## Side by side (stripecast / pixelflux; ratio = stripecast ÷ pixelflux)', '')
  L.push('| scene | mode | stripecast | fps | CPU cores | CPU ms/frame | MB/s | latency p50 ms | latency p99 ms | PSNR dB at 0.6 s | PSNR dB at 1.5 s | PSNR dB in motion |')
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of res.comparison) {
    const s = r.sc
    const p = r.pf ?? {}
    const label = VARIANT_LABEL[r.variant]
    if (s.error || p.error) {
      L.push(`| ${r.scene} | ${MODES[r.mode].label} | ${label} | ${s.error ? 'stripecast failed: ' + s.error : ''} ${p.error ? 'pixelflux failed: ' + p.error : ''} |||||||||`)
      continue
    }
    const two = (a, b, d = 2) => `${fmt(a, d)} / ${fmt(b, d)}`
    L.push(`| ${r.scene} | ${MODES[r.mode].label} | ${label} | ${two(s.frames_per_s, p.frames_per_s, 1)} (${fx(r.fps)}) | ` +
      `${two(s.cpu_cores, p.cpu_cores, 3)} (${fx(r.cpu_cores)}) | ${two(s.cpu_ms_per_frame, p.cpu_ms_per_frame)} (${fx(r.cpu_ms_per_frame)}) | ` +
      `${two(s.bytes_per_s / 1e6, p.bytes_per_s != null ? p.bytes_per_s / 1e6 : null, 3)} (${fx(r.bytes_per_s)}) | ` +
      `${two(s.latency_ms_p50, p.latency_ms_p50, 1)} | ${two(s.latency_ms_p99, p.latency_ms_p99, 1)} | ` +
      `${two(s.psnr_early, p.psnr_early, 1)} | ${two(s.psnr, p.psnr, 1)} | ${s.psnr_motion != null || p.psnr_motion != null ? two(s.psnr_motion, p.psnr_motion, 1) : ''} |`)
  }
  L.push('')
  if (res.equalPsnr?.length) {
    L.push("## H.264 at equal PSNR: `h264RateControl: 'cqp'`", '')
    L.push("In CRF mode (both peers' setting above) x264 measures every picture's complexity by a motion search on a " +
      "half-size copy of it; with a constant quantiser it makes no such copy. stripecast runs again with `h264RateControl: " +
      `'cqp'\` at QP ${CQP_QPS.join(', ')} (one turn each), and its CPU/frame and bytes/s are read at the other peer's ` +
      'PSNR (in motion; of the final picture on typing, whose pictures the player cannot rebuild): interpolated between ' +
      'the two quantisers whose PSNR brackets it (bytes on a log scale), or, when ' +
      'every quantiser is finer, taken from the coarsest (an upper bound). Ratios are against pixelflux and against ' +
      "stripecast's own CRF run (means of its turns).", '')
    L.push('| scene | mode | PSNR to match | cqp runs: QP (dB, CPU ms/frame, MB/s) | at that PSNR: QP, CPU ms/frame, MB/s | vs pixelflux (CPU/frame, bytes) | vs stripecast CRF (CPU/frame, bytes) |')
    L.push('|---|---|---|---|---|---|---|')
    for (const e of res.equalPsnr) {
      const pts = e.points.map((q) => `${q.qp} (${fmt(q.psnr)}, ${fmt(q.cpu)}, ${fmt(q.bytes / 1e6, 3)})`).join('; ')
      const at = e.at.cpu != null ? `${fmt(e.at.qp, 1)}, ${fmt(e.at.cpu)}, ${fmt(e.at.bytes / 1e6, 3)} (${e.at.how})` : e.at.how
      const vs = (v) => (v ? `${fx(v.cpu_ms_per_frame)}, ${fx(v.bytes_per_s)}` : '–')
      L.push(`| ${e.scene} | ${MODES[e.mode].label} | ${fmt(e.target_psnr)} dB (${e.basis}, ${e.metric}) | ${pts} | ${at} | ${vs(e.vs_pixelflux)} | ${vs(e.vs_crf)} |`)
    }
    L.push('')
  }
  L.push('## Targets (stripecast as configured; the cqp rows: at equal PSNR, see above)', '')
  L.push('| target | scene | mode | value | limit | result | note |')
  L.push('|---|---|---|---|---|---|---|')
  for (const t of res.targets) {
    L.push(`| ${t.target} | ${t.scene} | ${t.mode} | ${fmt(t.value)} | ${t.limit} | ${t.pass ? 'pass' : '**MISS**'} | ${t.note} |`)
  }
  L.push('')
  if (res.concurrency?.length) {
    L.push('## Concurrent captures in one process (typing scene, JPEG, 30 fps each, whole screen each)', '')
    L.push(`The machine has ${m.nproc} cores. Each ScreenCapture captures the whole 1920x1080 screen of the same display.`, '')
    L.push('Damage blocking is off here (`damageBlockThreshold: 100000`): every stripe is hashed every frame.', '')
    L.push('| N | delivered fps per capture (min / mean) | grabbed fps, slowest capture | CPU cores (whole process) | latency p99, worst capture, ms | Xvfb CPU cores |')
    L.push('|---|---|---|---|---|---|')
    for (const c of res.concurrency) {
      if (c.error) L.push(`| ${c.n} | failed: ${c.error} |||||`)
      else L.push(`| ${c.n} | ${fmt(c.fps_min, 1)} / ${fmt(c.fps_mean, 1)} | ${fmt(c.captured_min, 1)} | ${fmt(c.cpu_cores, 3)} | ${fmt(c.latency_ms_p99_max, 1)} | ${fmt(c.xvfb_cpu_cores, 3)} |`)
    }
    L.push('')
  }
  if (res.memory?.length) {
    L.push('## Memory (resident set size, MB)', '')
    L.push('Each peer runs again for 1 s + 4 s with a callback that drops every payload (nothing kept, nothing copied). ' +
      '**before** = the process just before its capture starts (the runtime: Node with the addon loaded, or Python with ' +
      'pixelflux imported); **peak** = VmHWM of the process at the end; **capture** = peak − before, what capturing adds.', '')
    L.push('| scene | mode | before (stripecast / pixelflux) | peak | capture | fps |')
    L.push('|---|---|---|---|---|---|')
    for (const scene of MEMORY_SCENES) {
      for (const mode of modeNames) {
        const s = res.memory.find((r) => r.scene === scene && r.mode === mode && r.peer === 'stripecast')
        const p = res.memory.find((r) => r.scene === scene && r.mode === mode && r.peer === 'pixelflux') ?? {}
        if (!s) continue
        if (s.error || p.error) {
          L.push(`| ${scene} | ${MODES[mode].label} | ${s.error ? 'stripecast failed: ' + s.error : ''} ${p.error ? 'pixelflux failed: ' + p.error : ''} ||||`)
          continue
        }
        const two = (a, b, d = 1) => `${fmt(a, d)} / ${fmt(b, d)}`
        L.push(`| ${scene} | ${MODES[mode].label} | ${two(s.rss_before_mb, p.rss_before_mb)} | ` +
          `${two(s.rss_peak_mb, p.rss_peak_mb)} (${fx(ratio(s.rss_peak_mb, p.rss_peak_mb))}) | ` +
          `${two(s.capture_mb, p.capture_mb)} (${fx(ratio(s.capture_mb, p.capture_mb))}) | ${two(s.frames_per_s, p.frames_per_s)} |`)
      }
    }
    L.push('')
  }
  L.push('## Every run', '')
  L.push('Player and Xvfb CPU are in cores over the same window (Xvfb also serves the capturer\'s XShmGetImage and XDamage). ' +
    '"other load" = cores the rest of the machine kept busy meanwhile (other processes not part of this benchmark): ' +
    'where it is high, fps and latency of that run are disturbed.', '')
  L.push('| scene | mode | peer | run | fps | stripes/s | MB/s | CPU cores | CPU ms/frame | p50 ms | p99 ms | PSNR 0.6 s | PSNR 1.5 s | PSNR in motion | player CPU | player fps | Xvfb CPU | other load |')
  L.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  for (const r of res.runs) {
    const run = (r.rep ?? 0) + 1
    if (r.error) {
      L.push(`| ${r.scene} | ${r.mode} | ${r.peer} | ${run} | failed: ${r.error} ||||||||||||||`)
      continue
    }
    L.push(`| ${r.scene} | ${r.mode} | ${r.peer} | ${run} | ${fmt(r.frames_per_s, 1)} | ${fmt(r.stripes_per_s, 1)} | ${fmt(r.bytes_per_s / 1e6, 3)} | ` +
      `${fmt(r.cpu_cores, 3)} | ${fmt(r.cpu_ms_per_frame)} | ${fmt(r.latency_ms_p50, 1)} | ${fmt(r.latency_ms_p99, 1)} | ` +
      `${fmt(r.psnr_early)} | ${fmt(r.psnr)} | ${r.psnr_motion != null ? fmt(r.psnr_motion) : ''} | ${fmt(r.player_cpu_cores, 3)} | ${fmt(r.player_fps, 1)} | ` +
      `${fmt(r.xvfb_cpu_cores, 3)} | ${fmt(r.other_cpu_cores)} |`)
  }
  L.push('')
  return L.join('\n')
}

// ---------------------------------------------------------------- main
const started = Date.now()
execFileSync('cargo', ['build', '--release', '-p', 'xpaint', '--quiet'], { cwd: root, stdio: 'inherit' })
const pf = opt.pixelflux ? findPython(log) : { error: 'disabled (--no-pixelflux)' }
if (pf.error) log(`pixelflux: ${pf.error}; stripecast figures only`)
/** Who runs on a scene and mode in turn `rep`: stripecast, pixelflux, stripecast without damage
 * blocking where that policy applies (striped output of a changing scene), with JPEG tiles, and
 * (first turn only) H.264 at constant quantisers on the changing scenes. */
function peersFor(scene, mode, rep) {
  const p = ['stripecast']
  if (pf.python) p.push('pixelflux')
  if (opt.variants && scene !== 'static' && mode !== 'h264-full') p.push('stripecast-nodmg')
  if (opt.variants && scene !== 'static' && mode === 'jpeg') p.push('stripecast-tiles')
  if (opt.variants && SCROLL_SCENES.includes(scene) && mode === 'jpeg') p.push('stripecast-copies')
  if (opt.variants && rep === 0 && mode !== 'jpeg' && scene !== 'static') p.push(...CQP_QPS.map(cqpPeer))
  return p
}

const xvfb = await startXvfb({ width: W, height: H, depth: 24 })
const player = await startPlayer(xvfb.display)
if (NICE) {
  for (const pid of [xvfb.pid, player.pid]) {
    try {
      setPriority(pid, NICE)
    } catch {}
  }
}
const workdir = mkdtempSync(join(tmpdir(), 'stripecast-bench-'))
log(`Xvfb ${xvfb.display}, work in ${workdir}`)
const runs = []
const concurrency = []
const memory = []
try {
  for (const scene of SCENES) {
    // Set up (each run then restarts it: every run sees the same pictures), and what the
    // scene's pictures are made of, to rebuild the one on screen at any grab.
    await player.start(scene, FPS)
    await player.pause()
    if (MOTION_SCENES.includes(scene)) await player.cmd(`scene-parts ${join(workdir, `${scene}-parts`)}`)
    for (const mode of modeNames) {
      // The peers take turns, so that a slower or faster spell of a shared machine falls on both.
      for (let rep = 0; rep < opt.repeat; rep++) for (const peer of peersFor(scene, mode, rep)) {
        const r = await measure(scene, mode, peer, rep, workdir)
        log(`${scene.padEnd(12)} ${mode.padEnd(12)} ${peer.padEnd(16)} ` + (r.error ? 'FAILED' :
          `fps ${fmt(r.frames_per_s, 1)}  cpu ${fmt(r.cpu_cores, 3)}  ms/frame ${fmt(r.cpu_ms_per_frame)}  MB/s ${fmt(r.bytes_per_s / 1e6, 3)}  ` +
          `p50/p99 ${fmt(r.latency_ms_p50, 1)}/${fmt(r.latency_ms_p99, 1)}  player ${fmt(r.player_cpu_cores, 3)}  xvfb ${fmt(r.xvfb_cpu_cores, 3)}`))
        runs.push(r)
      }
    }
    if (opt.memory && MEMORY_SCENES.includes(scene)) {
      for (const mode of modeNames) {
        for (const peer of ['stripecast', ...(pf.python ? ['pixelflux'] : [])]) {
          const r = await memoryRun(scene, mode, peer, workdir)
          log(`memory ${scene.padEnd(6)} ${mode.padEnd(12)} ${peer.padEnd(10)} ` + (r.error ? `FAILED ${r.error}` :
            `RSS before ${r.rss_before_mb} MB, peak ${r.rss_peak_mb} MB (+${r.capture_mb}), fps ${r.frames_per_s}`))
          memory.push(r)
        }
      }
    }
  }
  if (opt.multi) {
    await player.start('typing', FPS, { restart: true })
    for (const n of [1, 2, 4, 6, 8]) {
      const c = await multi(n, workdir)
      log(`concurrent ${n}: ` + (c.error ? `FAILED ${c.error}` : `fps min/mean ${c.fps_min}/${c.fps_mean}  cpu ${c.cpu_cores}`))
      concurrency.push(c)
    }
    await player.pause()
  }
} finally {
  await player.close().catch(() => {})
  await xvfb.stop().catch(() => {})
}

// Quality after everything was measured, so that decoding never overlaps a measurement.
const drawn = new Map() // scene -> its parts, loaded once
for (const r of runs) {
  if (r.error) continue
  const partsDir = join(workdir, `${r.scene}-parts`)
  if (r.codec === 'h264' && existsSync(r.log)) {
    try {
      if (!drawn.has(r.scene)) drawn.set(r.scene, loadScene(partsDir))
      const q = await motionPsnr(join(r.out, 'late'), drawn.get(r.scene), readSceneLog(r.log))
      if (q) {
        r.psnr_motion = q.psnr
        r.psnr_motion_pictures = q.pictures
        r.psnr_motion_worst = q.worst
        r.psnr_motion_matched = q.matched
        if (opt.keepWork) r.psnr_motion_each = q.each // per grab: with the work folder, for a closer look
      }
    } catch (e) {
      log(`motion quality ${r.scene} ${r.mode} ${r.peer}: ${e.message}`)
    }
  }
  if (r.codec === 'jpeg' && SCROLL_SCENES.includes(r.scene) && existsSync(r.log)) {
    try {
      if (!drawn.has(r.scene)) drawn.set(r.scene, loadScene(partsDir))
      const q = replayMotionPsnr(join(r.out, 'late'), drawn.get(r.scene), readSceneLog(r.log))
      if (q) {
        r.psnr_motion = q.psnr
        r.psnr_motion_pictures = q.pictures
        r.psnr_motion_worst = q.worst
        r.psnr_motion_matched = q.matched
      }
    } catch (e) {
      log(`motion quality ${r.scene} ${r.mode} ${r.peer}: ${e.message}`)
    }
  }
  try {
    const q = await snapshotPsnr(join(r.out, 'early'), join(r.out, 'late'), r.dump)
    r.psnr_early = q.early.psnr
    r.psnr = q.late.psnr
    if (q.subsampling) r.jpeg_subsampling = q.subsampling
    if (q.early.coveredRows !== H) r.psnr_early_rows_covered = q.early.coveredRows
    if (q.late.coveredRows !== H) r.psnr_rows_covered = q.late.coveredRows
  } catch (e) {
    r.psnr_early = r.psnr = null
    r.quality_error = e.message
    log(`quality ${r.scene} ${r.mode} ${r.peer}: ${e.message}`)
  }
  if (!opt.keepWork) {
    delete r.out
    delete r.dump
    delete r.log
  }
}
if (opt.keepWork) log(`work folder kept: ${workdir}`)
else rmSync(workdir, { recursive: true, force: true })

const summary = mergeRuns(runs)
const comparison = compare(summary)
const equal = equalPsnr(summary)
const res = {
  machine: {
    date: new Date().toISOString(),
    nproc: cpus().length,
    cpuModel: (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? cpus()[0]?.model,
    memGiB: Math.round(Number((readFileSync('/proc/meminfo', 'utf8').match(/MemTotal:\s*(\d+)/) ?? [0, 0])[1]) / 1048576),
    kernel: release(),
    node: process.version,
  },
  pixelflux: { version: pf.version ?? null, python: pf.python ?? null, error: pf.error ?? null },
  options: { seconds: opt.seconds, warmup: opt.warmup, repeat: opt.repeat, fps: FPS, width: W, height: H, damage: DAMAGE, scenes: SCENES, modes: modeNames },
  wallSeconds: Math.round((Date.now() - started) / 1000),
  runs,
  summary,
  comparison: comparison.map(({ sc, pf: p, ...rest }) => rest),
  equalPsnr: equal,
  targets: targets(comparison, equal),
  concurrency,
  memory,
}
const md = markdown({ ...res, comparison })
writeFileSync(join(here, 'results.json'), JSON.stringify(res, null, 2) + '\n')
writeFileSync(join(here, 'results.md'), md)
console.log(md)
log(`done in ${res.wallSeconds} s: bench/results.md, bench/results.json`)
