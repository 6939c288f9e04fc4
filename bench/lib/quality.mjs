// Rebuilds the picture a viewer would show from what a peer delivered, and compares it with
// the screen.
//
// A child (bench/stripecast-child.mjs or bench/pixelflux-child.py) leaves one folder per
// snapshot with `meta.json` ({codec, width, height, parts: [{y, height, file, chunks?}]}) and
// one file per stripe: the last JFIF delivered for it (JPEG) or its whole Annex-B stream so far
// (H.264; one stripe at y=0 in full-frame mode). JPEG is decoded with jpeg-js, H.264 with
// ffmpeg. A later snapshot's H.264 stream starts with the earlier one's, so both pictures come
// from one decode of the later stream (access units counted in `chunks`).
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { assemble, bgrxImage, decodeJpeg, makeImage, mse, paintPart, psnr } from '../../__test__/helpers/frames.mjs'

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const out = []
    let err = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => {
      if (err.length < 4096) err += d
    })
    child.once('error', reject)
    child.once('close', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} exited ${code}: ${err.trim()}`))))
  })
}

/**
 * Decodes an Annex-B file and returns the pictures after `counts[i]` access units (the last
 * picture decoded from the first counts[i] units), as 'bgrx' images.
 */
async function h264Pictures(path, width, height, counts) {
  const want = [...new Set(counts.map((c) => Math.max(0, c - 1)))].sort((a, b) => a - b)
  const expr = want.map((n) => `eq(n\\,${n})`).join('+')
  const out = await run('ffmpeg', [
    '-hide_banner', '-loglevel', 'error', '-threads', '2', '-f', 'h264', '-i', path,
    '-vf', `select='${expr}'`, '-fps_mode', 'passthrough', '-f', 'rawvideo', '-pix_fmt', 'bgr0', 'pipe:',
  ])
  const size = width * height * 4
  const got = out.length / size
  if (!Number.isInteger(got) || got < 1) {
    throw new Error(`ffmpeg gave ${out.length} bytes for ${path}, not a multiple of ${width}x${height}x4`)
  }
  const pic = (i) => ({ width, height, format: 'bgrx', data: out.subarray(i * size, (i + 1) * size) })
  // Fewer pictures than asked for (a unit that decoded to nothing): the last one stands in.
  return counts.map((c) => pic(Math.min(got - 1, want.indexOf(Math.max(0, c - 1)))))
}

/** Runs `fn` over `items`, at most `n` at a time (ffmpeg decodes on a small machine). */
async function eachLimited(items, n, fn) {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, worker))
}

function compareWith(parts, width, height, screen) {
  const { image, covered } = assemble(parts, width, height, 'bgrx')
  const db = psnr(image, screen)
  return { psnr: Number.isFinite(db) ? +db.toFixed(2) : 99, coveredRows: covered.reduce((s, v) => s + v, 0) }
}

/** Chroma subsampling of a JFIF ('4:2:0', '4:2:2', '4:4:4', ...) from its SOF marker. */
export function jpegSubsampling(jfif) {
  for (let i = 2; i + 4 < jfif.length; ) {
    if (jfif[i] !== 0xff) return null
    const marker = jfif[i + 1]
    const len = (jfif[i + 2] << 8) | jfif[i + 3]
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      const n = jfif[i + 9]
      const f = []
      for (let c = 0; c < n; c++) f.push(jfif[i + 11 + c * 3])
      const [h0, v0] = [f[0] >> 4, f[0] & 15]
      const [h1, v1] = [f[1] >> 4, f[1] & 15]
      if (n === 1) return 'gray'
      if (h0 === h1 && v0 === v1) return '4:4:4'
      if (h0 === 2 * h1 && v0 === 2 * v1) return '4:2:0'
      if (h0 === 2 * h1 && v0 === v1) return '4:2:2'
      return `${h0}x${v0}/${h1}x${v1}`
    }
    i += 2 + len
  }
  return null
}

/** A JPEG part of a snapshot, decoded, or a scroll copy (`scrollCopies`), for `assemble`. */
function jpegPart(dir, p) {
  return p.copy ? { copy: p.copy } : { x: p.x ?? 0, y: p.y, image: decodeJpeg(readFileSync(join(dir, p.file))) }
}

/** PSNR (dB, R G B) of two snapshots of a peer's output against one raw BGRX screen dump. */
export async function snapshotPsnr(earlyDir, lateDir, dumpPath) {
  const early = JSON.parse(readFileSync(join(earlyDir, 'meta.json'), 'utf8'))
  const late = JSON.parse(readFileSync(join(lateDir, 'meta.json'), 'utf8'))
  const { width, height } = late
  const screen = bgrxImage(readFileSync(dumpPath), width, height)
  const ep = []
  const lp = []
  let subsampling = null
  if (late.codec === 'jpeg') {
    const first = late.parts.find((p) => p.file)
    if (first) subsampling = jpegSubsampling(readFileSync(join(lateDir, first.file)))
    for (const p of early.parts) ep.push(jpegPart(earlyDir, p))
    for (const p of late.parts) lp.push(jpegPart(lateDir, p))
  } else {
    await eachLimited(late.parts, 2, async (p) => {
      const e = early.parts.find((q) => q.y === p.y)
      const [a, b] = await h264Pictures(join(lateDir, p.file), width, p.height, [e?.chunks ?? p.chunks, p.chunks])
      if (e) ep.push({ y: p.y, image: a })
      lp.push({ y: p.y, image: b })
    })
  }
  return { early: compareWith(ep, width, height, screen), late: compareWith(lp, width, height, screen), subsampling }
}

/** What a scene's pictures are made of (xpaint `scene-parts DIR`). */
export function loadScene(dir) {
  const meta = JSON.parse(readFileSync(join(dir, 'scene.json'), 'utf8'))
  const read = (f) => readFileSync(join(dir, f))
  const many = (prefix) => Array.from({ length: meta.loop }, (_, k) => read(`${prefix}-${k}.bgrx`))
  const parts = meta.scene === 'video' ? { loop: many('loop') }
    : meta.scene === 'window-video' ? { desktop: read('desktop.bgrx'), window: many('window') }
      : meta.scene === 'scroll-window' ? { desktop: read('desktop.bgrx'), page: read('page.bgrx') }
        : meta.scene === 'scroll' || meta.scene === 'scroll-lines' ? { title: read('title.bgrx'), page: read('page.bgrx') }
          : null
  if (!parts) throw new Error(`no way to rebuild pictures of scene ${meta.scene}`)
  return { meta, parts }
}

/**
 * A run's drawing log (xpaint `scene-log PATH`): every picture drawn since the scene was set up
 * or restarted, with the CLOCK_MONOTONIC times before and after drawing it.
 */
export function readSceneLog(path) {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
}

/** Rows y0 .. y0+h of picture `d` (an entry of the scene's log), raw BGRX. */
export function pictureRows(scene, d, y0, h) {
  const { meta, parts } = scene
  const stride = meta.width * 4
  const out = Buffer.alloc(h * stride)
  if (meta.scene === 'video') {
    parts.loop[d.picture % meta.loop].copy(out, 0, y0 * stride, (y0 + h) * stride)
  } else if (meta.scene === 'window-video') {
    parts.desktop.copy(out, 0, y0 * stride, (y0 + h) * stride)
    const [ww, wh] = meta.window
    const win = parts.window[d.picture % meta.loop]
    // The set-up picture may put the window partly off a small screen.
    const visible = Math.min(ww, meta.width - d.x)
    for (let r = Math.max(y0, d.y); r < Math.min(y0 + h, d.y + wh); r++) {
      win.copy(out, (r - y0) * stride + d.x * 4, (r - d.y) * ww * 4, ((r - d.y) * ww + visible) * 4)
    }
  } else {
    // A scroll scene: rows d.y.. of the page in its area, over the title or the desktop.
    const [ax, ay, aw, ah] = meta.area ?? [0, meta.top, meta.width, meta.height - meta.top]
    for (let r = y0; r < y0 + h; r++) {
      const o = (r - y0) * stride
      if (parts.desktop) parts.desktop.copy(out, o, r * stride, (r + 1) * stride)
      else if (r < ay) parts.title.copy(out, o, r * stride, (r + 1) * stride)
      if (r >= ay && r < ay + ah) {
        const row = d.y + r - ay
        parts.page.copy(out, o + ax * 4, row * aw * 4, (row + 1) * aw * 4)
      }
    }
  }
  return out
}

/** The picture of `log` drawn last by `t` (ms), or the one before or after it, whichever
 * `err(i)` finds closest; returns [index, error]. */
function bestPicture(log, t, err) {
  let lo = 0
  let hi = log.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (log[mid].t1 <= t) lo = mid
    else hi = mid - 1
  }
  const tries = [lo - 1, lo, lo + 1].filter((i) => i >= 0 && i < log.length)
  const errs = tries.map(err)
  const k = errs.indexOf(Math.min(...errs))
  return [tries[k], errs[k], tries[k] - lo]
}

/**
 * PSNR of what a JPEG viewer saw while the scene was still moving, for a peer that left its
 * deliveries' history (`meta.history`, `--replay`: the viewer's picture at the window's start,
 * then every JPEG and copy of the window in order, each with its grab time). The history is
 * replayed as a viewer applies it; at `samples` grab times from the last 70% of the window the
 * picture so far is compared with the picture the player had drawn (as in motionPsnr). Returns
 * { psnr, pictures, worst, matched } or null.
 */
export function replayMotionPsnr(lateDir, scene, log, samples = 8) {
  const meta = JSON.parse(readFileSync(join(lateDir, 'meta.json'), 'utf8'))
  const hist = meta.history
  if (!hist?.length) return null
  const { width, height } = meta
  const grabs = [...new Set(hist.filter((p) => p.time > 0).map((p) => p.time))].sort((a, b) => a - b)
  if (grabs.length < 4) return null
  const times = [...new Set(Array.from({ length: samples }, (_, i) =>
    grabs[Math.floor(grabs.length * 0.3 + ((grabs.length * 0.7 - 1) * i) / Math.max(1, samples - 1))]))]
  const canvas = makeImage(width, height, 'bgrx')
  const covered = new Uint8Array(height)
  let next = 0
  let total = 0
  let worst = Infinity
  const matched = { before: 0, at: 0, after: 0 }
  // Between two samples, a JPEG painted over entirely by a later one (with no copy after it,
  // which might read it) need not be decoded.
  const wide = (p) => [p.x ?? 0, p.y, p.width ?? width - (p.x ?? 0), p.height]
  const covers = (a, b) => {
    const [ax, ay, aw, ah] = wide(a)
    const [bx, by, bw, bh] = wide(b)
    return ax <= bx && ay <= by && bx + bw <= ax + aw && by + bh <= ay + ah
  }
  for (const t of times) {
    let pending = []
    for (; next < hist.length && hist[next].time <= t; next++) {
      const p = hist[next]
      const lastCopy = pending.findLastIndex((k) => k.copy)
      pending = p.copy ? [...pending, p] : [...pending.filter((k, i) => i <= lastCopy || !covers(p, k)), p]
    }
    for (const p of pending) {
      paintPart(canvas, covered, p.copy ? { copy: p.copy } : { x: p.x ?? 0, y: p.y, image: decodeJpeg(readFileSync(join(lateDir, p.file))) })
    }
    const [, e, at] = bestPicture(log, t, (i) => mse(canvas, bgrxImage(pictureRows(scene, log[i], 0, height), width, height)))
    matched[['before', 'at', 'after'][at + 1]]++
    total += e
    worst = Math.min(worst, e === 0 ? 99 : 10 * Math.log10((255 * 255) / e))
  }
  const meanErr = total / times.length
  return { psnr: meanErr === 0 ? 99 : +(10 * Math.log10((255 * 255) / meanErr)).toFixed(2), pictures: times.length, worst: +worst.toFixed(2), matched }
}

/**
 * PSNR of what a viewer saw while the scene was still moving (H.264). `samples` grab times are
 * taken evenly from the last 70% of the frames delivered before the measured window closed; at
 * each, every stream shows the last picture it delivered up to then (a stream that sent nothing
 * since shows an older one, as a viewer would), and the whole screen so rebuilt is compared with
 * the picture the player had on screen at that grab (its stamp against the player's log: the
 * last picture finished drawing by then, or the one before or after it if closer, since a peer
 * may stamp a little before or after it reads the screen). Squared errors are added up over all
 * samples. Returns { psnr, pictures, worst, matched, each } (worst = lowest single-screen PSNR,
 * where a mismatch would show; matched = how many screens matched the picture drawn before, at
 * or after the stamp; each = {t, picture, psnr} per screen).
 */
export async function motionPsnr(lateDir, scene, log, samples = 8) {
  const meta = JSON.parse(readFileSync(join(lateDir, 'meta.json'), 'utf8'))
  const { width } = meta
  const parts = meta.parts.filter((p) => p.times?.length)
  // Grab times of the frames delivered during the window (a frame's stripes share one stamp).
  const grabs = [...new Set(parts.flatMap((p) => p.times.slice(0, p.motionChunks ?? 0)))].sort((a, b) => a - b)
  if (grabs.length < 4) return null
  const times = [...new Set(Array.from({ length: samples }, (_, i) =>
    grabs[Math.floor(grabs.length * 0.3 + ((grabs.length * 0.7 - 1) * i) / Math.max(1, samples - 1))]))]
  // Per stream, the access unit on show at each sample time (-1: none yet), and its picture.
  const shown = new Map()
  await eachLimited(parts, 2, async (p) => {
    const units = times.map((t) => p.times.findLastIndex((u) => u <= t))
    const have = units.filter((n) => n >= 0)
    const pics = have.length ? await h264Pictures(join(lateDir, p.file), width, p.height, have.map((n) => n + 1)) : []
    shown.set(p, units.map((n) => (n >= 0 ? pics[have.indexOf(n)] : null)))
  })
  let total = 0
  let count = 0
  let worst = Infinity
  const matched = { before: 0, at: 0, after: 0 }
  const each = []
  for (const [j, t] of times.entries()) {
    // The last picture finished drawing at t (binary search on t1).
    let lo = 0
    let hi = log.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (log[mid].t1 <= t) lo = mid
      else hi = mid - 1
    }
    const tries = [lo - 1, lo, lo + 1].filter((i) => i >= 0 && i < log.length)
    // Every pixel counts: two neighbouring pictures may differ in one row of the screen.
    const errs = tries.map((i) => {
      let e = 0
      for (const p of parts) {
        const pic = shown.get(p)[j]
        // Summed squared error over R, G, B (the helper's mean times the samples).
        if (pic) e += mse(pic, bgrxImage(pictureRows(scene, log[i], p.y, p.height), width, p.height)) * width * p.height * 3
      }
      return e
    })
    const k = errs.indexOf(Math.min(...errs))
    matched[['before', 'at', 'after'][tries[k] - lo + 1]]++
    const n = parts.reduce((sum, p) => sum + (shown.get(p)[j] ? p.height * width * 3 : 0), 0)
    total += errs[k]
    count += n
    const db = errs[k] === 0 ? 99 : 10 * Math.log10((255 * 255) / (errs[k] / n))
    worst = Math.min(worst, db)
    each.push({ t: +t.toFixed(1), picture: log[tries[k]].picture, psnr: +db.toFixed(2) })
  }
  if (!count) return null
  const meanErr = total / count
  return {
    psnr: meanErr === 0 ? 99 : +(10 * Math.log10((255 * 255) / meanErr)).toFixed(2), pictures: times.length, worst: +worst.toFixed(2), matched, each,
  }
}
