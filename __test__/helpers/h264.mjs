// H.264 stripes: per-stripe streams, decoding with ffmpeg, probing with ffprobe.
//
//   const streams = streamsByY(stripes)            // Map stripeY -> stripes in arrival order
//   const dec = await decodeH264(annexB(streams.get(0)), 1280, 64)
//   dec.count, dec.last                             // pictures decoded, last one as 'bgrx'
//   const info = await probeH264(annexB(stripes))  // ffprobe's stream fields
//   sliceQps(annexB(stripes))                       // [{ nalType, firstMb, qp }] of every slice
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

/** Reads bits most significant first from an RBSP (emulation prevention bytes removed). */
class Bits {
  constructor(nal) {
    this.b = Bits.unescape(nal)
    this.pos = 0
  }
  static unescape(nal) {
    const out = []
    let zeros = 0
    for (const byte of nal) {
      if (zeros >= 2 && byte === 3) {
        zeros = 0
        continue
      }
      zeros = byte === 0 ? zeros + 1 : 0
      out.push(byte)
    }
    return out
  }
  u(n) {
    let v = 0
    for (let i = 0; i < n; i++, this.pos++) v = v * 2 + ((this.b[this.pos >> 3] >> (7 - (this.pos & 7))) & 1)
    return v
  }
  ue() {
    let zeros = 0
    while (this.u(1) === 0) zeros++
    return 2 ** zeros - 1 + this.u(zeros)
  }
  se() {
    const k = this.ue()
    return k % 2 ? (k + 1) / 2 : -k / 2
  }
}

/**
 * The quantiser of every slice in an Annex-B stream: `[{ nalType, firstMb, qp }]` (qp = 26 +
 * pic_init_qp_minus26 + slice_qp_delta; a picture starts with the slice whose firstMb is 0),
 * from the SPS and PPS that precede the slices. Covers what x264 writes for progressive frames
 * without weighted prediction (its ultrafast settings).
 */
export function sliceQps(buf) {
  const starts = []
  for (let i = 0; i + 3 < buf.length; i++) {
    if (buf[i] === 0 && buf[i + 1] === 0 && buf[i + 2] === 1) {
      starts.push(i + 3)
      i += 2
    }
  }
  let sps = null
  let pps = null
  const out = []
  starts.forEach((s, k) => {
    const end = k + 1 < starts.length ? starts[k + 1] - 3 : buf.length
    const nal = buf.subarray(s, end)
    const nalType = nal[0] & 0x1f
    const refIdc = (nal[0] >> 5) & 3
    const r = new Bits(nal.subarray(1))
    if (nalType === 7) {
      const profile = r.u(8)
      r.u(16) // constraint flags, level
      r.ue() // seq_parameter_set_id
      if ([100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135].includes(profile)) {
        if (r.ue() === 3) r.u(1) // chroma_format_idc, separate_colour_plane_flag
        r.ue() // bit_depth_luma_minus8
        r.ue() // bit_depth_chroma_minus8
        r.u(1) // qpprime_y_zero_transform_bypass_flag
        if (r.u(1)) throw new Error('SPS scaling matrices are not parsed')
      }
      const log2MaxFrameNum = r.ue() + 4
      const pocType = r.ue()
      const log2MaxPocLsb = pocType === 0 ? r.ue() + 4 : 0
      if (pocType === 1) throw new Error('pic_order_cnt_type 1 is not parsed')
      r.ue() // max_num_ref_frames
      r.u(1) // gaps_in_frame_num_value_allowed_flag
      r.ue()
      r.ue() // picture size in macroblocks
      if (!r.u(1)) throw new Error('interlaced SPS is not parsed')
      sps = { log2MaxFrameNum, pocType, log2MaxPocLsb }
    } else if (nalType === 8) {
      r.ue() // pic_parameter_set_id
      r.ue() // seq_parameter_set_id
      const cabac = r.u(1)
      const pocPresent = r.u(1)
      if (r.ue() !== 0) throw new Error('slice groups are not parsed')
      r.ue()
      r.ue() // num_ref_idx_l0/l1_default_active_minus1
      const weighted = r.u(1)
      r.u(2) // weighted_bipred_idc
      pps = { cabac, pocPresent, weighted, initQp: 26 + r.se() }
    } else if (nalType === 1 || nalType === 5) {
      if (!sps || !pps) throw new Error('a slice before its SPS / PPS')
      const firstMb = r.ue()
      const sliceType = r.ue() % 5 // 0 P, 1 B, 2 I
      r.ue() // pic_parameter_set_id
      r.u(sps.log2MaxFrameNum) // frame_num
      if (nalType === 5) r.ue() // idr_pic_id
      if (sps.pocType === 0) {
        r.u(sps.log2MaxPocLsb)
        if (pps.pocPresent) r.se()
      }
      if (sliceType === 1) throw new Error('B slices are not parsed')
      if (sliceType === 0) {
        if (r.u(1)) r.ue() // num_ref_idx_active_override_flag
        if (r.u(1)) throw new Error('reference list modification is not parsed')
        if (pps.weighted) throw new Error('weighted prediction is not parsed')
      }
      if (refIdc !== 0) {
        if (nalType === 5) r.u(2) // no_output_of_prior_pics_flag, long_term_reference_flag
        else if (r.u(1)) throw new Error('adaptive reference marking is not parsed')
      }
      if (pps.cabac && sliceType !== 2) r.ue() // cabac_init_idc
      out.push({ nalType, firstMb, qp: pps.initQp + r.se() })
    }
  })
  return out
}
