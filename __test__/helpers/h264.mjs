// H.264 stripes: per-stripe streams, decoding with ffmpeg, probing with ffprobe.
//
//   const streams = streamsByY(stripes)            // Map stripeY -> stripes in arrival order
//   const dec = await decodeH264(annexB(streams.get(0)), 1280, 64)
//   dec.count, dec.last                             // pictures decoded, last one as 'bgrx'
//   const info = await probeH264(annexB(stripes))  // ffprobe's stream fields
//
// Decoding goes through `ffmpeg -f h264 -i pipe: -f rawvideo -pix_fmt bgr0 pipe:` with
// passthrough timing, so every decoded picture comes out exactly once.
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseStripe } from './frames.mjs'

/** The Annex-B bytes of one delivered stripe (with or without the 10-byte wire header). */
export function h264Payload(stripe) {
  const data = stripe.data ?? stripe
  if (data[0] === 0x04) return parseStripe(data).payload
  return data
}

/** Concatenates the Annex-B payloads of `stripes` (one stream, in order). */
export function annexB(stripes) {
  return Buffer.concat(stripes.map(h264Payload))
}

/** Groups stripes by stripeYStart (one independent H.264 stream each), sorted by y. */
export function streamsByY(stripes) {
  const m = new Map()
  for (const s of stripes) {
    if (!m.has(s.stripeYStart)) m.set(s.stripeYStart, [])
    m.get(s.stripeYStart).push(s)
  }
  return new Map([...m.entries()].sort((a, b) => a[0] - b[0]))
}

/** NAL unit types in an Annex-B buffer, in order. */
export function nalTypes(buf) {
  const types = []
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      types.push(buf[i + 3] & 0x1f)
      i += 3
    }
  }
  return types
}

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] })
    const out = []
    let err = ''
    child.stdout.on('data', (d) => out.push(d))
    child.stderr.on('data', (d) => {
      if (err.length < 8192) err += d
    })
    child.once('error', (e) => reject(new Error(`${cmd}: ${e.message} (is ${cmd} installed?)`)))
    child.once('close', (code) => {
      if (code !== 0) reject(new Error(`${cmd} exited with ${code}: ${err.trim()}`))
      else resolve({ stdout: Buffer.concat(out), stderr: err })
    })
    child.stdin.on('error', () => {})
    child.stdin.end(input ?? null)
  })
}

/**
 * Decodes an Annex-B stream of width x height pictures.
 * @returns {Promise<{count: number, last: {width, height, format: 'bgrx', data: Buffer}|null,
 *   frames?: object[]}>} `frames` (every picture) only with `{ all: true }`.
 */
export async function decodeH264(stream, width, height, { all = false } = {}) {
  const { stdout } = await run(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-f', 'h264', '-i', 'pipe:', '-fps_mode', 'passthrough',
      '-f', 'rawvideo', '-pix_fmt', 'bgr0', 'pipe:'],
    stream,
  )
  const size = width * height * 4
  if (stdout.length % size !== 0) {
    throw new Error(`ffmpeg gave ${stdout.length} bytes, not a multiple of ${width}x${height}x4`)
  }
  const count = stdout.length / size
  const pic = (i) => ({ width, height, format: 'bgrx', data: stdout.subarray(i * size, (i + 1) * size) })
  const r = { count, last: count ? pic(count - 1) : null }
  if (all) r.frames = Array.from({ length: count }, (_, i) => pic(i))
  return r
}

/** ffprobe's fields for the video stream of an Annex-B buffer (codec_name, profile, pix_fmt, width, ...). */
export async function probeH264(stream) {
  const dir = mkdtempSync(join(tmpdir(), 'h264probe-'))
  const path = join(dir, 's.h264')
  try {
    writeFileSync(path, stream)
    const { stdout } = await run('ffprobe', ['-v', 'error', '-f', 'h264', '-show_streams', '-of', 'json', path])
    const s = JSON.parse(stdout.toString()).streams?.[0]
    if (!s) throw new Error('ffprobe found no stream')
    return s
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
