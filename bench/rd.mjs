// Rate-distortion of a still picture, stripecast vs pixelflux: `node bench/rd.mjs`.
//
// Starts its own Xvfb (1920x1080x24) and draws three still test cards on it with tools/xpaint
// (bench/lib/cards.mjs: `colour-ui`, `grey-text`, `photo`), reading each back with `dump` as the
// truth. On each card, for each mode and quality point, each peer captures the card once in its
// own process (bench/stripecast-child.mjs, bench/pixelflux-child.py: cursor off, paint-over off,
// software encoders, 60 fps, a short warm-up, then `snap` and `finish`), and the first full
// picture it delivered is kept: the first delivery of every stripe (JPEG) or the first access
// unit of every stream (H.264), its payload bytes counted without the wire headers.
//
// Modes: JPEG quality 30 40 50 60 70 75 80 90 95 (stripecast with its default subsampling,
// stripecast with `jpegSubsampling: '420'` as `stripecast-420`, pixelflux with its own);
// H.264 striped, full-frame and full-frame 4:4:4 (`h264Fullcolor` / `video_fullcolor`) at CRF
// 15 19 23 27 31 35.
//
// What a viewer shows: the picture's wire messages fed to stripecast/client's
// createStripeClient in one headless Chromium page (createImageBitmap for JPEG, WebCodecs for
// H.264), the canvas read back once every stripe is drawn. A second reading: H.264 decoded by
// ffmpeg (swscale to RGB with accurate rounding and full chroma interpolation), JPEG by
// libjpeg-turbo (bench/lib/jpeg-turbo-decode.c, built on first use; jpeg-js when no C compiler).
// PSNR against the truth over Y, R G B and Cb Cr (BT.601 full range, bench/lib/rd-metrics.mjs),
// and per card and mode the Bjøntegaard delta rate of stripecast against pixelflux on each
// (bench/lib/bd-rate.mjs; goal: <= -10%). pixelflux 2.2.1's H.264 kind byte (0x11 / 0x10),
// which stripecast/client rejects, is rewritten to 1 / 0 for the Chromium reading. Per stream,
// the SPS VUI (ffprobe), the VideoFrame's colour space, and how far Chromium's drawing of that
// frame is from an exact conversion of its own planes are reported too.
//
// Writes bench/rd-results.md and bench/rd-results.json, prints the summary.
//
// Options: --cards colour-ui,grey-text,photo   --modes jpeg,h264-striped,h264-full,h264-444
//          --quick (JPEG 40 60 75 90, CRF 19 23 27 31)   --no-pixelflux   --keep-work
//          --warmup S (0.5: seconds each capture runs before its first snap)
//          --report (measure nothing: rebuild the BD-rates and bench/rd-results.md from the JSON)
// Env: PIXELFLUX_PYTHON=/path/to/python with pixelflux (else bench/.venv, then /tmp/pfx, else
//      bench/.venv is created with `pip install pixelflux==2.2.1`), CHROMIUM_PATH.
import { spawn, execFileSync } from 'node:child_process'
import { createServer } from 'node:http'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir, release } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'
import { launchChromium, CHROMIUM_PATH } from '../__test__/helpers/browser.mjs'
import { assemble, bgrxImage, decodeJpeg } from '../__test__/helpers/frames.mjs'
import { jpegSubsampling } from './lib/quality.mjs'
import { CARD_NAMES, drawCard } from './lib/cards.mjs'
import { pictureMetrics } from './lib/rd-metrics.mjs'
import { bdRate } from './lib/bd-rate.mjs'
import { findPython } from './lib/pixelflux.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const root = resolve(here, '..')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const log = (...a) => console.error('[rd]', ...a)
const W = 1920
const H = 1080
const FPS = 60
const GOAL = -10 // BD-rate, %

// ---------------------------------------------------------------- options
const opt = { cards: null, modes: null, quick: false, pixelflux: true, keepWork: false, warmup: 0.5, report: false }
for (let i = 2; i < process.argv.length; i++) {
  const k = process.argv[i]
  if (k === '--cards') opt.cards = process.argv[++i].split(',')
  else if (k === '--modes') opt.modes = process.argv[++i].split(',')
  else if (k === '--quick') opt.quick = true
  else if (k === '--no-pixelflux') opt.pixelflux = false
  else if (k === '--keep-work') opt.keepWork = true
  else if (k === '--warmup') opt.warmup = Number(process.argv[++i])
  else if (k === '--report') opt.report = true
  else {
    console.error(`unknown option ${k}`)
    process.exit(2)
  }
}
const JPEG_QS = opt.quick ? [40, 60, 75, 90] : [30, 40, 50, 60, 70, 75, 80, 90, 95]
const CRFS = opt.quick ? [19, 23, 27, 31] : [15, 19, 23, 27, 31, 35]
const MODES = {
  jpeg: { label: 'JPEG', codec: 'jpeg', points: JPEG_QS, curves: ['stripecast', 'stripecast-420', 'pixelflux'], second: 'libjpeg-turbo' },
  'h264-striped': { label: 'H.264 striped', codec: 'h264', fullframe: false, points: CRFS, curves: ['stripecast', 'pixelflux'], second: 'ffmpeg' },
  'h264-full': { label: 'H.264 full-frame', codec: 'h264', fullframe: true, points: CRFS, curves: ['stripecast', 'pixelflux'], second: 'ffmpeg' },
  'h264-444': { label: 'H.264 full-frame 4:4:4', codec: 'h264', fullframe: true, fullcolor: true, points: CRFS, curves: ['stripecast', 'pixelflux'], second: 'ffmpeg' },
}
const cardNames = opt.cards ?? CARD_NAMES
const modeNames = opt.modes ?? Object.keys(MODES)
for (const c of cardNames) if (!CARD_NAMES.includes(c)) throw new Error(`unknown card ${c} (${CARD_NAMES.join(', ')})`)
for (const m of modeNames) if (!MODES[m]) throw new Error(`unknown mode ${m} (${Object.keys(MODES).join(', ')})`)
const peerOf = (curve) => (curve.startsWith('pixelflux') ? 'pixelflux' : 'stripecast')
const curvesOf = (mode) => MODES[mode].curves.filter((c) => opt.pixelflux || peerOf(c) !== 'pixelflux')

// ---------------------------------------------------------------- pixelflux

// ---------------------------------------------------------------- helpers
function run(cmd, args, { input } = {}) {
  return new Promise((res, rej) => {
    const child = spawn(cmd, args, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] })
    const out = []
    let err = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => {
      if (err.length < 4096) err += d
    })
    child.once('error', rej)
    child.once('close', (code) => (code === 0 ? res(Buffer.concat(out)) : rej(new Error(`${cmd} exited ${code}: ${err.trim()}`))))
    if (input) child.stdin.end(input)
  })
}

/** Length-prefixed messages (u32 BE length + bytes), as the children's wire.bin. */
function readWire(buf) {
  const msgs = []
  for (let i = 0; i + 4 <= buf.length; ) {
    const n = buf.readUInt32BE(i)
    msgs.push(buf.subarray(i + 4, i + 4 + n))
    i += 4 + n
  }
  return msgs
}
function writeWire(msgs) {
  const parts = []
  for (const m of msgs) {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(m.length)
    parts.push(len, m)
  }
  return Buffer.concat(parts)
}

/** Width and height from a JFIF's SOF marker. */
function jpegSize(jfif) {
  for (let i = 2; i + 9 < jfif.length; ) {
    if (jfif[i] !== 0xff) return null
    const marker = jfif[i + 1]
    const len = (jfif[i + 2] << 8) | jfif[i + 3]
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      return { height: (jfif[i + 5] << 8) | jfif[i + 6], width: (jfif[i + 7] << 8) | jfif[i + 8] }
    }
    i += 2 + len
  }
  return null
}

/** A wire message: its kind, where it goes and its payload (header removed). */
function parseMessage(m) {
  if (m[0] === 0x03) {
    const hl = m[1] === 1 ? 10 : 6
    const payload = m.subarray(hl)
    const size = jpegSize(payload)
    return { kind: 'jpeg', frameId: m.readUInt16BE(2), y: m.readUInt16BE(4), x: hl === 10 ? m.readUInt16BE(6) : 0, width: size?.width ?? 0, height: size?.height ?? 0, payload }
  }
  if (m[0] === 0x04) {
    // pixelflux 2.2.1 sets bit 4 of the kind byte (IDR 0x11, other 0x10); the low bits say IDR.
    return { kind: 'h264', key: (m[1] & 0x0f) === 1, kindByte: m[1], frameId: m.readUInt16BE(2), y: m.readUInt16BE(4), width: m.readUInt16BE(6), height: m.readUInt16BE(8), payload: m.subarray(10) }
  }
  throw new Error(`not a wire message (starts ${m[0]})`)
}

/**
 * The first full picture among messages in arrival order: JPEG, each delivery that paints rows
 * no earlier one did; H.264, the first access unit of each stream (stripe y). Complete when
 * every row of the screen is covered.
 */
function firstPicture(msgs) {
  const covered = new Uint8Array(H)
  const picked = []
  const streams = new Set()
  for (const raw of msgs) {
    const m = parseMessage(raw)
    if (m.kind === 'h264' && streams.has(m.y)) continue
    let news = false
    for (let r = m.y; r < Math.min(H, m.y + m.height); r++) if (!covered[r]) news = true
    if (!news || (m.kind === 'jpeg' && (m.x !== 0 || m.width < W))) continue
    for (let r = m.y; r < Math.min(H, m.y + m.height); r++) covered[r] = 1
    if (m.kind === 'h264') streams.add(m.y)
    picked.push({ raw, ...m })
    if (covered.every((v) => v)) break
  }
  const complete = covered.every((v) => v)
  return {
    complete,
    messages: picked,
    bytes: picked.reduce((s, m) => s + m.payload.length, 0),
    wireBytes: picked.reduce((s, m) => s + m.raw.length, 0),
    frameIds: [...new Set(picked.map((m) => m.frameId))],
    allKey: picked.every((m) => m.kind !== 'h264' || m.key),
    delivered: msgs.length,
  }
}

// ---------------------------------------------------------------- captures
function startChild(cmd, args, env, timeoutMs) {
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  let stderr = ''
  child.stderr.on('data', (d) => {
    if (stderr.length < 16384) stderr += d
  })
  child.stdin.on('error', () => {})
  const waiting = new Map()
  const seen = new Map()
  let exitErr = null
  createInterface({ input: child.stdout }).on('line', (line) => {
    let ev
    try {
      ev = JSON.parse(line)
    } catch {
      return
    }
    const key = ev.name ? `${ev.event}:${ev.name}` : ev.event
    const w = waiting.get(key)
    if (w) {
      waiting.delete(key)
      w.res(ev)
    } else seen.set(key, ev)
  })
  const exited = new Promise((res) =>
    child.once('exit', (code, sig) => {
      exitErr = new Error(`${cmd} exited (${code ?? sig}) early: ${stderr.trim().split('\n').slice(-6).join(' | ')}`)
      for (const w of waiting.values()) w.rej(exitErr)
      waiting.clear()
      res()
    }),
  )
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  return {
    waitFor(key) {
      if (seen.has(key)) return Promise.resolve(seen.get(key))
      if (exitErr) return Promise.reject(exitErr)
      return new Promise((res, rej) => waiting.set(key, { res, rej }))
    },
    send: (line) => child.stdin.write(line + '\n'),
    async end() {
      await exited
      clearTimeout(timer)
    },
    kill: () => child.kill('SIGKILL'),
  }
}

/** One capture of the still card by `curve` at quality point `q`; its first full picture. */
async function capture(curve, mode, q, out) {
  const m = MODES[mode]
  const args = ['--codec', m.codec, ...(m.fullframe ? ['--fullframe'] : []), ...(m.fullcolor ? ['--fullcolor'] : []),
    '--seconds', '0.1', '--warmup', String(opt.warmup), '--fps', String(FPS), '--damage-threshold', '15',
    '--damage-duration', '30', '--out', out, '--wire', ...(m.codec === 'jpeg' ? ['--jpeg-quality', String(q)] : ['--crf', String(q)])]
  const [cmd, full] = curve === 'pixelflux' ? [pf.python, [join(here, 'pixelflux-child.py'), ...args]]
    : [process.execPath, [join(here, 'stripecast-child.mjs'), ...args, ...(curve.startsWith('stripecast-') ? ['--subsampling', curve.slice('stripecast-'.length)] : [])]]
  const c = startChild(cmd, full, { DISPLAY: xvfb.display }, 60000)
  try {
    const measured = await c.waitFor('measured')
    let pic = null
    for (let k = 0; k < 40; k++) {
      c.send(`snap s${k}`)
      await c.waitFor(`snap:s${k}`)
      pic = firstPicture(readWire(readFileSync(join(out, `s${k}`, 'wire.bin'))))
      if (pic.complete) break
      await sleep(250)
    }
    c.send('finish')
    await c.waitFor('done')
    await c.end()
    if (!pic.complete) throw new Error(`no full picture after 10 s (${pic.delivered} deliveries)`)
    return { ...pic, encoder: measured.info?.encoder ?? null }
  } catch (e) {
    c.kill()
    await c.end()
    throw e
  }
}

// ---------------------------------------------------------------- readings
/** A page that decodes pictures with stripecast/client (served from 127.0.0.1: a secure context for WebCodecs). */
const PAGE = `<!doctype html><meta charset="utf-8"><title>rd</title><script type="module">
import { createStripeClient } from './stripecast-client.js'
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
async function wire(key) {
  const buf = new Uint8Array(await (await fetch('/wire/' + key)).arrayBuffer())
  const msgs = []
  for (let i = 0; i + 4 <= buf.length; ) {
    const n = ((buf[i] << 24) | (buf[i + 1] << 16) | (buf[i + 2] << 8) | buf[i + 3]) >>> 0
    msgs.push(buf.slice(i + 4, i + 4 + n))
    i += 4 + n
  }
  return msgs
}
window.decodeJob = async (key, w, h) => {
  const msgs = await wire(key)
  const canvas = document.createElement('canvas')
  const errors = []
  const client = createStripeClient({ canvas, autoResize: false, onError: (e) => errors.push(String(e?.message ?? e)) })
  client.setSize(w, h)
  const t0 = performance.now()
  for (const m of msgs) client.handleMessage(m)
  while (client.stats.stripesDrawn < msgs.length && !errors.length && performance.now() - t0 < 20000) await sleep(5)
  const data = canvas.getContext('2d').getImageData(0, 0, w, h).data
  await fetch('/result/' + key, { method: 'POST', body: data })
  const st = { ...client.stats }
  client.close()
  return { messages: msgs.length, drawn: st.stripesDrawn, decodeErrors: st.decodeErrors, codec: st.codec, errors, ms: Math.round(performance.now() - t0) }
}
// What WebCodecs makes of the first H.264 message: the VideoFrame's colour space and format.
window.probeH264 = async (key) => {
  const [m] = await wire(key)
  const payload = m.subarray(10)
  let codec = null
  for (let i = 0; i + 3 < payload.length; i++) {
    if (payload[i] === 0 && payload[i + 1] === 0 && payload[i + 2] === 1 && (payload[i + 3] & 0x1f) === 7) {
      codec = 'avc1.' + [1, 2, 3].map((k) => payload[i + 3 + k].toString(16).padStart(2, '0').toUpperCase()).join('')
      break
    }
  }
  const support = await VideoDecoder.isConfigSupported({ codec }).catch((e) => ({ supported: false, error: String(e) }))
  let frame = null
  let vf = null
  let error = null
  const dec = new VideoDecoder({
    output: (f) => {
      frame = { format: f.format, colorSpace: f.colorSpace.toJSON(), codedWidth: f.codedWidth, codedHeight: f.codedHeight, displayWidth: f.displayWidth, displayHeight: f.displayHeight }
      vf = f
    },
    error: (e) => (error = String(e?.message ?? e)),
  })
  try {
    dec.configure({ codec, optimizeForLatency: true })
    dec.decode(new EncodedVideoChunk({ type: 'key', timestamp: 0, data: payload }))
    await dec.flush()
    if (vf) frame.drawVsExact = await drawVsExact(vf)
  } catch (e) {
    error = error ?? String(e?.message ?? e)
  }
  vf?.close()
  if (dec.state !== 'closed') dec.close()
  return { codec, supported: support.supported, frame, error }
}
// How far Chromium's own drawing of a VideoFrame (drawImage on a 2D canvas, as the client does)
// is from an exact floating-point conversion of the same decoded planes by the colour space the
// frame carries (chroma repeated for I420): PSNR per channel and over R G B, dB.
async function drawVsExact(f) {
  const w = f.displayWidth
  const h = f.displayHeight
  const c = new OffscreenCanvas(w, h)
  const ctx = c.getContext('2d')
  ctx.drawImage(f, 0, 0)
  const drawn = ctx.getImageData(0, 0, w, h).data
  const rect = { x: 0, y: 0, width: w, height: h }
  const planes = new Uint8Array(f.allocationSize({ rect }))
  const layout = await f.copyTo(planes, { rect })
  const cs = f.colorSpace
  const [kr, kb] = cs.matrix === 'bt709' ? [0.2126, 0.0722] : cs.matrix === 'bt2020-ncl' ? [0.2627, 0.0593] : [0.299, 0.114]
  const kg = 1 - kr - kb
  const sub = f.format === 'I420' ? 2 : 1
  const err = [0, 0, 0]
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const Y = planes[layout[0].offset + y * layout[0].stride + x]
      const U = planes[layout[1].offset + ((y / sub) | 0) * layout[1].stride + ((x / sub) | 0)]
      const V = planes[layout[2].offset + ((y / sub) | 0) * layout[2].stride + ((x / sub) | 0)]
      const [yy, u, v] = cs.fullRange ? [Y / 255, (U - 128) / 255, (V - 128) / 255] : [(Y - 16) / 219, (U - 128) / 224, (V - 128) / 224]
      const r = yy + 2 * (1 - kr) * v
      const b = yy + 2 * (1 - kb) * u
      const g = (yy - kr * r - kb * b) / kg
      const i = (y * w + x) * 4
      const exact = [r, g, b].map((q) => Math.min(255, Math.max(0, Math.round(q * 255))))
      for (let k = 0; k < 3; k++) err[k] += (drawn[i + k] - exact[k]) ** 2
    }
  }
  const db = (e) => (e > 0 ? +(10 * Math.log10((255 * 255 * w * h) / e)).toFixed(2) : 99)
  return { r: db(err[0]), g: db(err[1]), b: db(err[2]), rgb: db((err[0] + err[1] + err[2]) / 3) }
}
window.ready = true
</script>`

async function startPageServer() {
  const client = readFileSync(join(root, 'client', 'stripecast-client.js'))
  const wires = new Map()
  const results = new Map()
  const server = createServer((req, res) => {
    const url = req.url ?? '/'
    if (req.method === 'GET' && (url === '/' || url === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
    } else if (req.method === 'GET' && url === '/stripecast-client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' }).end(client)
    } else if (req.method === 'GET' && url.startsWith('/wire/') && wires.has(url.slice(6))) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(wires.get(url.slice(6)))
    } else if (req.method === 'POST' && url.startsWith('/result/')) {
      const key = url.slice(8)
      const body = []
      req.on('data', (d) => body.push(d))
      req.on('end', () => {
        results.get(key)?.(Buffer.concat(body))
        res.writeHead(204).end()
      })
    } else res.writeHead(404).end()
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${server.address().port}/`
  return { url, wires, results, close: () => new Promise((r) => server.close(r)) }
}

/**
 * The message as stripecast/client takes it: pixelflux 2.2.1's H.264 kind byte (0x11 IDR, 0x10
 * other) becomes 1 / 0, which the client wants (it rejects any other value).
 */
function clientMessage(m) {
  if (m.raw[0] !== 0x04 || m.raw[1] <= 1) return m.raw
  const copy = Buffer.from(m.raw)
  copy[1] = m.key ? 1 : 0
  return copy
}

let jobSeq = 0
/** The picture as stripecast/client in Chromium shows it. */
async function chromiumReading(messages) {
  const key = `j${jobSeq++}`
  srv.wires.set(key, writeWire(messages.map(clientMessage)))
  const pixels = new Promise((r) => srv.results.set(key, r))
  try {
    const info = await page.evaluate(([k, w, h]) => window.decodeJob(k, w, h), [key, W, H])
    const data = await pixels
    if (data.length !== W * H * 4) throw new Error(`canvas read back ${data.length} bytes`)
    return { image: { width: W, height: H, format: 'rgba', data }, info }
  } finally {
    srv.wires.delete(key)
    srv.results.delete(key)
  }
}

async function chromiumProbe(messages) {
  const key = `p${jobSeq++}`
  srv.wires.set(key, writeWire([clientMessage(messages[0])]))
  try {
    return await page.evaluate((k) => window.probeH264(k), key)
  } catch (e) {
    return { error: e.message }
  } finally {
    srv.wires.delete(key)
  }
}

const SWS_FLAGS = 'accurate_rnd+full_chroma_int+bitexact'
/** H.264 as ffmpeg shows it: each stream's first access unit, converted to RGB by swscale. */
async function ffmpegReading(messages, dir) {
  const parts = []
  for (const m of messages) {
    const file = join(dir, `h264-${m.y}.264`)
    writeFileSync(file, m.payload)
    const out = await run('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-threads', '2', '-f', 'h264', '-i', file,
      '-frames:v', '1', '-sws_flags', SWS_FLAGS, '-f', 'rawvideo', '-pix_fmt', 'bgr0', 'pipe:'])
    const h = out.length / (m.width * 4)
    if (!Number.isInteger(h) || h < 1) throw new Error(`ffmpeg gave ${out.length} bytes for stream y=${m.y}`)
    parts.push({ y: m.y, image: { width: m.width, height: h, format: 'bgrx', data: out } })
  }
  return assemble(parts, W, H, 'bgrx').image
}

/** ffprobe's view of the first stream of a picture: profile, pixel format, VUI colour fields. */
async function ffprobeStream(m, dir) {
  const file = join(dir, `probe-${m.y}.264`)
  writeFileSync(file, m.payload)
  try {
    const j = JSON.parse((await run('ffprobe', ['-v', 'error', '-f', 'h264', '-show_streams', '-of', 'json', file])).toString())
    const s = j.streams?.[0] ?? {}
    const pick = ['profile', 'level', 'pix_fmt', 'width', 'height', 'coded_width', 'coded_height', 'color_range', 'color_space', 'color_transfer', 'color_primaries', 'chroma_location']
    return Object.fromEntries(pick.map((k) => [k, s[k] ?? null]))
  } catch (e) {
    return { error: e.message }
  }
}

let turboBin = null
/** Builds bench/lib/jpeg-turbo-decode.c into the temp folder (once); null when that fails. */
function jpegTurbo() {
  if (turboBin !== null) return turboBin || null
  const src = join(here, 'lib', 'jpeg-turbo-decode.c')
  const bin = join(tmpdir(), `stripecast-rd-jpeg-turbo-decode-${Math.floor(statSync(src).mtimeMs)}`)
  try {
    if (!existsSync(bin)) execFileSync('cc', ['-O2', '-o', bin, src, '-ljpeg'], { stdio: ['ignore', 'ignore', 'pipe'] })
    turboBin = bin
  } catch (e) {
    log(`could not build the libjpeg-turbo reader (${e.message.split('\n')[0]}): the second JPEG reading uses jpeg-js`)
    turboBin = false
  }
  return turboBin || null
}

/** JPEG as libjpeg-turbo (or jpeg-js) shows it: every picked delivery pasted in order. */
async function jpegReading(messages, dir) {
  const bin = jpegTurbo()
  const parts = []
  if (bin) {
    const files = messages.map((m, i) => {
      const f = join(dir, `jpeg-${i}.jpg`)
      writeFileSync(f, m.payload)
      return f
    })
    const out = await run(bin, files)
    let o = 0
    for (const m of messages) {
      const w = out.readUInt32BE(o)
      const h = out.readUInt32BE(o + 4)
      o += 8
      const data = Buffer.alloc(w * h * 4)
      for (let p = 0; p < w * h; p++) {
        data[p * 4] = out[o + p * 3]
        data[p * 4 + 1] = out[o + p * 3 + 1]
        data[p * 4 + 2] = out[o + p * 3 + 2]
      }
      o += w * h * 3
      parts.push({ x: m.x, y: m.y, image: { width: w, height: h, format: 'rgbx', data } })
    }
  } else {
    for (const m of messages) parts.push({ x: m.x, y: m.y, image: decodeJpeg(m.payload) })
  }
  return { image: assemble(parts, W, H, 'rgba').image, decoder: bin ? 'libjpeg-turbo' : 'jpeg-js' }
}

// ---------------------------------------------------------------- report
const fmt = (v, d = 2) => (v == null || !Number.isFinite(v) ? '–' : v.toFixed(d))
const pct = (v) => (v == null ? '–' : `${v >= 0 ? '+' : ''}${v.toFixed(1)}%`)
const verdict = (v) => (v == null ? '' : v <= GOAL ? ' pass' : ' miss')
/** A summary cell: BD-rate and verdict, or why there is none (no overlap: below = miss). */
function bdCell(row, metric) {
  const v = row[metric]
  if (v != null) {
    const [lo, hi] = row[`${metric}_range`]
    return `${pct(v)}${verdict(v)}${hi - lo < 1 ? ` (over ${fmt(hi - lo)} dB only)` : ''}`
  }
  const s = row[`${metric}_side`]
  if (s?.side === 'below') return `none: stripecast ≤ ${fmt(s.test[1])} dB < pixelflux ≥ ${fmt(s.ref[0])} dB, miss`
  if (s?.side === 'above') return `none: stripecast ≥ ${fmt(s.test[0])} dB > pixelflux ≤ ${fmt(s.ref[1])} dB, pass`
  return `– (${row[`${metric}_range`]})`
}

/** BD-rates of `test` against pixelflux for one card and mode, per reading and metric. */
function bdRows(points, card, mode) {
  const rows = []
  const curveOf = (curve, reading, metric) =>
    points.filter((p) => p.card === card && p.mode === mode && p.curve === curve && p[reading])
      .map((p) => ({ bytes: p.bytes, psnr: p[reading][metric] }))
  const readings = ['chromium', 'second']
  for (const test of curvesOf(mode).filter((c) => c !== 'pixelflux')) {
    if (!opt.pixelflux) continue
    for (const reading of readings) {
      const row = { card, mode, curve: test, reference: 'pixelflux', reading: reading === 'chromium' ? 'Chromium' : MODES[mode].second }
      for (const metric of ['rgb', 'y', 'cbcr']) {
        const [ref, tst] = [curveOf('pixelflux', reading, metric), curveOf(test, reading, metric)]
        if ([...ref, ...tst].every((p) => p.psnr >= 99)) {
          // e.g. chroma of the grey card: neither peer makes any error
          row[metric] = null
          row[`${metric}_range`] = 'no error in either (99 dB)'
          continue
        }
        const r = bdRate(ref, tst)
        row[metric] = r.bdRate == null ? null : +r.bdRate.toFixed(2)
        row[`${metric}_range`] = r.bdRate == null ? r.why : [+r.from.toFixed(2), +r.to.toFixed(2)]
        // No overlap: the test curve entirely below the reference misses the goal whatever its
        // bytes (it never reaches pixelflux's quality); entirely above, it passes.
        if (r.side) row[`${metric}_side`] = { side: r.side, test: r.test.map((v) => +v.toFixed(2)), ref: r.ref.map((v) => +v.toFixed(2)) }
      }
      if (row.rgb == null && row.y == null && row.cbcr == null && reading === 'second' && !points.some((p) => p.card === card && p.mode === mode && p.second)) continue
      rows.push(row)
    }
  }
  return rows
}

function summaryTable(bd) {
  const L = []
  L.push(`| card | mode | curve (vs pixelflux) | reading | BD-rate RGB | BD-rate Y | BD-rate CbCr | RGB PSNR range compared |`)
  L.push('|---|---|---|---|---|---|---|---|')
  for (const r of bd) {
    const range = Array.isArray(r.rgb_range) ? `${fmt(r.rgb_range[0])}–${fmt(r.rgb_range[1])} dB` : ''
    L.push(`| ${r.card} | ${MODES[r.mode].label} | ${r.curve} | ${r.reading} | ${bdCell(r, 'rgb')} | ${bdCell(r, 'y')} | ${bdCell(r, 'cbcr')} | ${range} |`)
  }
  return L
}

function markdown(res) {
  const L = []
  const m = res.machine
  L.push('# stripecast vs pixelflux: rate-distortion of a still picture', '')
  L.push(`${m.date} · ${m.cpuModel} · ${m.nproc} cores · Linux ${m.kernel} · Node ${m.node} · ` +
    `pixelflux ${res.pixelflux.version ?? `unavailable (${res.pixelflux.error})`} · Chromium ${res.chromium ?? '?'} · ` +
    `Xvfb ${W}x${H}x24 · whole run ${res.wallSeconds} s${res.options.quick ? ' · --quick' : ''}`, '')
  L.push('Each point is one capture of a still test card (bench/lib/cards.mjs) by one peer in its own process: cursor off, ' +
    `paint-over off, software encoders, ${FPS} fps, damage block 15/30 (pixelflux's defaults), ${res.options.warmup} s warm-up. ` +
    'Its **first full picture** is kept: the first delivery of every stripe (JPEG) or the first access unit (an IDR) of ' +
    'every stream (H.264). **bytes** = payload bytes of that picture, wire headers excluded. **PSNR** (dB) of what a ' +
    'viewer shows against a dump of the screen: **Y** = BT.601 luma, **RGB** = R, G and B together, **CbCr** = BT.601 ' +
    'Cb and Cr together, all full range, in floating point. **Chromium**: the messages fed to stripecast/client in ' +
    'headless Chromium (createImageBitmap for JPEG, WebCodecs VideoDecoder drawn on a 2D canvas for H.264), the canvas ' +
    `read back. **ffmpeg** (H.264): each stream's first access unit decoded and converted to RGB by swscale ` +
    `(\`${SWS_FLAGS}\`, the matrix and range the stream signals, BT.601 limited range when it signals none). ` +
    `**${res.jpegDecoder}** (JPEG): default settings (accurate integer IDCT, fancy upsampling).`, '')
  L.push('**BD-rate** (Bjøntegaard delta rate): the mean difference of log10(bytes) between two cubic fits of ' +
    'log10(bytes) against PSNR, over the PSNR range both curves cover, as a percentage of bytes: negative = ' +
    `stripecast needs fewer bytes than pixelflux at equal PSNR. Goal: BD-rate <= ${GOAL}% (pass / miss).`, '')
  L.push('## Summary: BD-rate against pixelflux', '')
  L.push(...summaryTable(res.bdRates), '')
  L.push('"over X dB only": the curves share less than 1 dB of PSNR (flat curves, e.g. 4:2:0 on saturated colour, whose ' +
    'RGB PSNR hardly rises with quality): such a BD-rate rests on a sliver of both fits. "none": no PSNR in common; a ' +
    "stripecast curve entirely below pixelflux's never reaches its quality at any byte count (a miss).", '')
  const rewritten = res.points.some((p) => p.kindBytes?.some((b) => b > 1))
  if (rewritten) {
    L.push("**pixelflux's H.264 kind byte**: pixelflux " + (res.pixelflux.version ?? '') + ' sends 0x11 (IDR) and 0x10 (other) in ' +
      'the second header byte, which stripecast/client rejects ("not a stripe message"); for the Chromium reading its messages ' +
      'are fed with that byte rewritten to 1 / 0 (nothing else changed).', '')
  }
  const key = res.points.filter((p) => !p.error && (p.q === 75 || (MODES[p.mode].codec === 'h264' && p.q === 23)))
  if (key.length) {
    L.push('## At JPEG q75 and CRF 23', '')
    L.push('| card | mode | curve | bytes | Chromium Y / RGB / CbCr | second reading Y / RGB / CbCr |')
    L.push('|---|---|---|---|---|---|')
    for (const p of key) {
      if (MODES[p.mode].codec === 'jpeg' ? p.q !== 75 : p.q !== 23) continue
      L.push(`| ${p.card} | ${MODES[p.mode].label} ${MODES[p.mode].codec === 'jpeg' ? 'q75' : 'CRF 23'} | ${p.curve} | ${p.bytes} | ` +
        `${fmt(p.chromium.y)} / ${fmt(p.chromium.rgb)} / ${fmt(p.chromium.cbcr)} | ` +
        `${fmt(p.second.y)} / ${fmt(p.second.rgb)} / ${fmt(p.second.cbcr)} (${MODES[p.mode].codec === 'jpeg' ? res.jpegDecoder : 'ffmpeg'}) |`)
    }
    L.push('')
  }
  // Formats found in the streams.
  L.push('## What the streams are', '')
  L.push('**Chromium draw vs exact** (H.264): PSNR between Chromium\'s drawing of the first picture\'s VideoFrame on a ' +
    '2D canvas (what the client does) and an exact floating-point conversion of the same decoded planes by the colour space ' +
    'the frame carries (chroma repeated for 4:2:0), R / G / B dB: how much Chromium\'s own YUV to RGB step costs.', '')
  L.push('| card | mode | curve | JPEG subsampling / H.264 profile, pixel format | VUI (ffprobe: range, matrix, transfer, primaries) | WebCodecs VideoFrame (format, colour space) | Chromium draw vs exact R / G / B |')
  L.push('|---|---|---|---|---|---|---|')
  for (const s of res.streams) {
    const p = s.ffprobe ?? {}
    const f = s.webcodecs?.frame
    const vui = s.ffprobe ? `${p.color_range ?? 'unspecified'}, ${p.color_space ?? 'unspecified'}, ${p.color_transfer ?? 'unspecified'}, ${p.color_primaries ?? 'unspecified'}` : ''
    const wc = s.webcodecs ? (f ? `${f.format}, ${JSON.stringify(f.colorSpace)}` : `${s.webcodecs.codec ?? ''} not decoded: ${s.webcodecs.error ?? 'unsupported'}`) : ''
    const what = s.subsampling ?? (s.ffprobe ? `${p.profile} ${p.pix_fmt} (${s.webcodecs?.codec ?? ''}), IDR kind byte 0x${(s.kindByte ?? 0).toString(16).padStart(2, '0')}` : '')
    const dve = f?.drawVsExact ? `${fmt(f.drawVsExact.r)} / ${fmt(f.drawVsExact.g)} / ${fmt(f.drawVsExact.b)}` : ''
    L.push(`| ${s.card} | ${MODES[s.mode].label} | ${s.curve} | ${what} | ${vui} | ${wc.replace(/\|/g, '/')} | ${dve} |`)
  }
  L.push('')
  if (res.readingGaps.length) {
    L.push('## H.264 points where the Chromium and ffmpeg readings differ by more than 1 dB (RGB PSNR)', '')
    L.push('| card | mode | curve | CRF | Chromium Y / RGB / CbCr | ffmpeg Y / RGB / CbCr |')
    L.push('|---|---|---|---|---|---|')
    for (const p of res.readingGaps) {
      L.push(`| ${p.card} | ${MODES[p.mode].label} | ${p.curve} | ${p.q} | ${fmt(p.chromium.y)} / ${fmt(p.chromium.rgb)} / ${fmt(p.chromium.cbcr)} | ` +
        `${fmt(p.second.y)} / ${fmt(p.second.rgb)} / ${fmt(p.second.cbcr)} |`)
    }
    L.push('')
  }
  L.push('## Every point', '')
  for (const card of res.options.cards) {
    for (const mode of res.options.modes) {
      const pts = res.points.filter((p) => p.card === card && p.mode === mode)
      if (!pts.length) continue
      const isJpeg = MODES[mode].codec === 'jpeg'
      const second = MODES[mode].second === 'ffmpeg' ? 'ffmpeg' : res.jpegDecoder
      L.push(`### ${card} · ${MODES[mode].label}`, '')
      L.push(`| ${isJpeg ? 'quality' : 'CRF'} | curve | bytes | Chromium Y | Chromium RGB | Chromium CbCr | ${second} Y | ${second} RGB | ${second} CbCr |`)
      L.push('|---|---|---|---|---|---|---|---|---|')
      for (const q of isJpeg ? res.options.jpegQualities : res.options.crfs) {
        for (const curve of curvesOf(mode)) {
          const p = pts.find((x) => x.q === q && x.curve === curve)
          if (!p) continue
          if (p.error) {
            L.push(`| ${q} | ${curve} | failed: ${p.error.replace(/\|/g, '/')} |||||||`)
            continue
          }
          const c = p.chromium ?? {}
          const s = p.second ?? {}
          L.push(`| ${q} | ${curve} | ${p.bytes} | ${fmt(c.y)} | ${fmt(c.rgb)} | ${fmt(c.cbcr)} | ${fmt(s.y)} | ${fmt(s.rgb)} | ${fmt(s.cbcr)} |`)
        }
      }
      L.push('')
    }
  }
  const failed = res.points.filter((p) => p.chromiumInfo && (p.chromiumInfo.errors?.length || p.chromiumInfo.drawn < p.chromiumInfo.messages))
  if (failed.length) {
    L.push('## Chromium decoding problems', '')
    for (const p of failed) L.push(`- ${p.card} ${MODES[p.mode].label} ${p.curve} ${p.q}: drew ${p.chromiumInfo.drawn} of ${p.chromiumInfo.messages} messages; ${p.chromiumInfo.errors.slice(0, 2).join('; ')}`)
    L.push('')
  }
  return L.join('\n')
}

// ---------------------------------------------------------------- main
let pf = null
let xvfb = null
let srv = null
let page = null

/** Every capture and reading: { points, streams, jpegDecoder, chromium }. */
async function measureAll() {
  const work = mkdtempSync(join(tmpdir(), 'stripecast-rd-'))
  xvfb = await startXvfb({ width: W, height: H, depth: 24 })
  log(`Xvfb ${xvfb.display}, work folder ${work}`)
  const painter = await openPainter(xvfb.display)
  const browser = await launchChromium()
  srv = await startPageServer()
  page = await browser.open(srv.url)
  await page.waitForFunction(() => window.ready === true, null, { timeout: 15000 })
  let chromiumVersion = null
  try {
    chromiumVersion = execFileSync(CHROMIUM_PATH, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim().replace(/^Chromium\s+/, '')
  } catch {}

  const points = []
  const streams = []
  let jpegDecoder = 'jpeg-js'
  try {
    for (const card of cardNames) {
      await drawCard(painter, card, W, H)
      await sleep(200)
      const truth = bgrxImage(await painter.dump(0, 0, W, H), W, H)
      log(`card ${card} drawn`)
      for (const mode of modeNames) {
        const M = MODES[mode]
        for (const q of M.points) {
          for (const curve of curvesOf(mode)) {
            const dir = join(work, `${card}-${mode}-${curve}-${q}`)
            mkdirSync(dir, { recursive: true })
            const pt = { card, mode, curve, q }
            try {
              const pic = await capture(curve, mode, q, dir)
              if (M.codec === 'h264') pt.kindBytes = [...new Set(pic.messages.map((m) => m.kindByte))]
              Object.assign(pt, { bytes: pic.bytes, wireBytes: pic.wireBytes, messages: pic.messages.length, frameIds: pic.frameIds, allKey: pic.allKey, encoder: pic.encoder })
              const ch = await chromiumReading(pic.messages)
              pt.chromiumInfo = ch.info
              pt.chromium = pictureMetrics(ch.image, truth)
              if (opt.keepWork) {
                writeFileSync(join(dir, 'chromium.rgba'), ch.image.data)
                if (!existsSync(join(work, `${card}.bgrx`))) writeFileSync(join(work, `${card}.bgrx`), truth.data)
              }
              if (M.codec === 'jpeg') {
                const jr = await jpegReading(pic.messages, dir)
                jpegDecoder = jr.decoder
                pt.second = pictureMetrics(jr.image, truth)
                pt.subsampling = jpegSubsampling(pic.messages[0].payload)
              } else {
                pt.second = pictureMetrics(await ffmpegReading(pic.messages, dir), truth)
              }
              if (!streams.some((s) => s.card === card && s.mode === mode && s.curve === curve)) {
                const s = { card, mode, curve }
                if (M.codec === 'jpeg') s.subsampling = pt.subsampling
                else {
                  s.kindByte = pic.messages[0].kindByte
                  s.ffprobe = await ffprobeStream(pic.messages[0], dir)
                  s.webcodecs = await chromiumProbe(pic.messages)
                }
                streams.push(s)
              }
              log(`${card} ${mode} ${curve} ${M.codec === 'jpeg' ? 'q' : 'crf'}${q}: ${pt.bytes} B in ${pt.messages} msgs, ` +
                `Chromium Y ${fmt(pt.chromium.y)} RGB ${fmt(pt.chromium.rgb)} CbCr ${fmt(pt.chromium.cbcr)}; ` +
                `${M.second} Y ${fmt(pt.second.y)} RGB ${fmt(pt.second.rgb)} CbCr ${fmt(pt.second.cbcr)}` +
                (pt.chromiumInfo.drawn < pt.chromiumInfo.messages ? ` (Chromium drew ${pt.chromiumInfo.drawn}/${pt.chromiumInfo.messages})` : ''))
            } catch (e) {
              pt.error = e.message.split('\n')[0]
              log(`${card} ${mode} ${curve} ${q} failed: ${pt.error}`)
            }
            points.push(pt)
            if (!opt.keepWork) rmSync(dir, { recursive: true, force: true })
          }
        }
      }
    }
  } finally {
    await browser.close().catch(() => {})
    await srv.close()
    await painter.close().catch(() => {})
    await xvfb.stop()
    if (!opt.keepWork) rmSync(work, { recursive: true, force: true })
    else log(`work left in ${work}`)
  }
  return { points, streams, jpegDecoder, chromium: chromiumVersion }
}

const t0 = performance.now()
let res
if (opt.report) {
  res = JSON.parse(readFileSync(join(here, 'rd-results.json'), 'utf8'))
  opt.pixelflux = res.pixelflux.version != null
} else {
  pf = opt.pixelflux ? findPython(log) : { error: 'skipped (--no-pixelflux)' }
  if (opt.pixelflux && pf.error) {
    log(`pixelflux unavailable: ${pf.error}; stripecast alone`)
    opt.pixelflux = false
  }
  const m = await measureAll()
  res = {
    machine: {
      date: new Date().toISOString(), cpuModel: cpus()[0]?.model ?? '?', nproc: cpus().length, kernel: release(), node: process.version,
    },
    pixelflux: { version: pf.version ?? null, error: pf.error ?? null },
    chromium: m.chromium,
    jpegDecoder: m.jpegDecoder,
    options: { cards: cardNames, modes: modeNames, quick: opt.quick, warmup: opt.warmup, fps: FPS, jpegQualities: JPEG_QS, crfs: CRFS, goalBdRate: GOAL },
    wallSeconds: Math.round((performance.now() - t0) / 1000),
    streams: m.streams,
    points: m.points,
  }
}
const bd = []
for (const card of res.options.cards) for (const mode of res.options.modes) bd.push(...bdRows(res.points, card, mode))
const gaps = res.points.filter((p) => MODES[p.mode].codec === 'h264' && p.chromium && p.second && Math.abs(p.chromium.rgb - p.second.rgb) > 1)
const { points: allPoints, ...head } = res
res = {
  ...head,
  bdRates: bd,
  readingGaps: gaps.map(({ card, mode, curve, q, chromium, second }) => ({ card, mode, curve, q, chromium, second })),
  points: allPoints,
}
writeFileSync(join(here, 'rd-results.json'), JSON.stringify(res, null, 1) + '\n')
writeFileSync(join(here, 'rd-results.md'), markdown(res) + '\n')
console.log(`BD-rate of stripecast against pixelflux (negative: fewer bytes at equal PSNR; goal <= ${GOAL}%), whole run ${res.wallSeconds} s\n`)
console.log(summaryTable(bd).join('\n'))
console.log('\nbench/rd-results.md, bench/rd-results.json written')
process.exit(0)
