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
import { assemble, bgrxImage, decodeJpeg, psnr } from '../../__test__/helpers/frames.mjs'

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
    if (late.parts.length) subsampling = jpegSubsampling(readFileSync(join(lateDir, late.parts[0].file)))
    for (const p of early.parts) ep.push({ x: p.x ?? 0, y: p.y, image: decodeJpeg(readFileSync(join(earlyDir, p.file))) })
    for (const p of late.parts) lp.push({ x: p.x ?? 0, y: p.y, image: decodeJpeg(readFileSync(join(lateDir, p.file))) })
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

/**
 * PSNR of H.264 pictures decoded while the scene was still moving, for scenes whose every
 * picture is one of a known set (`refs`: raw BGRX screens, the `video` loop). Up to `samples`
 * pictures per stream are taken evenly from the last 70% of the access units delivered before
 * the measured window closed; each is matched with the reference it is closest to (on a coarse
 * grid first) and its squared error against that reference is added up over all streams.
 * Returns { psnr, pictures, worst } (worst = lowest single-picture PSNR, a mismatch shows there).
 */
export async function motionPsnr(lateDir, refs, samples = 8) {
  const meta = JSON.parse(readFileSync(join(lateDir, 'meta.json'), 'utf8'))
  const { width } = meta
  let sse = 0
  let count = 0
  let pictures = 0
  let worst = Infinity
  await eachLimited(meta.parts, 2, async (p) => {
    const m = p.motionChunks ?? 0
    if (m < 4) return
    const idx = [...new Set(Array.from({ length: samples }, (_, i) => Math.floor(m * 0.3 + ((m * 0.7 - 1) * i) / Math.max(1, samples - 1))))]
      .filter((n) => n >= 0 && n < m)
    const pics = await h264Pictures(join(lateDir, p.file), width, p.height, idx.map((n) => n + 1))
    for (const pic of pics) {
      const d = pic.data
      let best = null
      let bestErr = Infinity
      for (const ref of refs) {
        let e = 0
        for (let row = 0; row < p.height; row += 4) {
          const o = (p.y + row) * width * 4
          const po = row * width * 4
          for (let x = 0; x < width * 4; x += 32) {
            const a = d[po + x] - ref[o + x]
            const b = d[po + x + 1] - ref[o + x + 1]
            const c = d[po + x + 2] - ref[o + x + 2]
            e += a * a + b * b + c * c
          }
        }
        if (e < bestErr) {
          bestErr = e
          best = ref
        }
      }
      let e = 0
      const base = p.y * width * 4
      for (let i = 0; i < p.height * width * 4; i += 4) {
        const a = d[i] - best[base + i]
        const b = d[i + 1] - best[base + i + 1]
        const c = d[i + 2] - best[base + i + 2]
        e += a * a + b * b + c * c
      }
      const n = p.height * width * 3
      sse += e
      count += n
      pictures++
      worst = Math.min(worst, e === 0 ? 99 : 10 * Math.log10((255 * 255) / (e / n)))
    }
  })
  if (!count) return null
  const mse = sse / count
  return { psnr: mse === 0 ? 99 : +(10 * Math.log10((255 * 255) / mse)).toFixed(2), pictures, worst: +worst.toFixed(2) }
}
