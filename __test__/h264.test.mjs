// The H.264 path of the addon under a private Xvfb: known content in, ffmpeg-decoded pixels out.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'

import { useXvfb } from './helpers/setup.mjs'
import { parseStripe, assemble, psnr, assertSolid, crop } from './helpers/frames.mjs'
import { sleep, waitFor } from './helpers/capture.mjs'
import { annexB, streamsByY, decodeH264, probeH264, h264Payload, nalTypes, sliceQps } from './helpers/h264.mjs'

const W = 1280
const H = 720
const BG = '203040'
// Solid areas of the scene (x, y, w, h, colour); edges on 16-pixel boundaries.
const SOLIDS = [
  { x: 48, y: 48, w: 288, h: 144, rgb: 'd02020' },
  { x: 400, y: 288, w: 208, h: 208, rgb: '20b040' },
  { x: 896, y: 96, w: 304, h: 128, rgb: 'f0f0f0' },
  { x: 720, y: 560, w: 208, h: 96, rgb: '2040e0' },
]
const NOISE = { x: 640, y: 400, w: 160, h: 96, seed: 7 }
const TEXT = { x: 48, y: 620, rgb: 'ffff40', text: 'stripecast H.264 test 0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz' }

const H264 = { outputMode: 1, h264Crf: 23, captureCursor: false, usePaintOverQuality: false, targetFps: 30, stripeHeight: 64 }

const env = useXvfb({
  width: W,
  height: H,
  base: H264,
  collectOpts: { onStripe: (s) => (s.arrivedMs = performance.now()) },
  setup: drawScene,
})
const { collect, screen } = env

async function drawScene(p) {
  await p.fill(0, 0, W, H, BG)
  for (const s of SOLIDS) await p.fill(s.x, s.y, s.w, s.h, s.rgb)
  await p.noise(NOISE.x, NOISE.y, NOISE.w, NOISE.h, NOISE.seed)
  await p.text(TEXT.x, TEXT.y, TEXT.rgb, TEXT.text)
}

/** Checks a stripe's wire header against its result fields; returns the parsed header. */
function checkHeader(s) {
  assert.equal(s.type, 2)
  assert.ok(Buffer.isBuffer(s.data))
  assert.equal(s.size, s.data.length)
  const h = parseStripe(s.data)
  assert.equal(h.kind, 'h264')
  assert.equal(h.frameId, s.frameId & 0xffff)
  assert.equal(h.stripeY, s.stripeYStart)
  assert.equal(h.width, s.width)
  assert.equal(h.height, s.stripeHeight)
  assert.equal(h.isIdr, s.isKeyFrame, `header kind byte vs isKeyFrame at y=${s.stripeYStart}`)
  assert.ok(h.payload[0] === 0 && h.payload[1] === 0 && (h.payload[2] === 1 || (h.payload[2] === 0 && h.payload[3] === 1)))
  return h
}

/** Solid fills, 16 px in from their edges, within `tol` per channel. */
function checkSolids(img, tol, label, ox = 0, oy = 0) {
  let worst = 0
  for (const s of SOLIDS) {
    const r = { x: s.x + 16 - ox, y: s.y + 16 - oy, w: s.w - 32, h: s.h - 32 }
    if (r.x < 0 || r.y < 0 || r.x + r.w > img.width || r.y + r.h > img.height) continue
    worst = Math.max(worst, assertSolid(img, r, s.rgb, tol, `${label} fill ${s.rgb}`).max)
  }
  return worst
}

/** Decodes every stripe stream, pastes each stream's last picture at its y. */
async function decodeStriped(stripes, width, height) {
  const parts = []
  const counts = {}
  for (const [y, list] of streamsByY(stripes)) {
    const dec = await decodeH264(annexB(list), width, list[0].stripeHeight)
    assert.equal(dec.count, list.length, `stream y=${y}: ${dec.count} pictures from ${list.length} stripes`)
    counts[y] = dec.count
    parts.push({ y, image: dec.last })
  }
  return { ...assemble(parts, width, height, 'bgrx'), counts }
}

/** 'I31', 'P34', ... per picture of a stream (x264's sliced threads may cut a picture into
 * slices: their distinct values joined by '/'). */
function pictureQps(stream) {
  const pictures = []
  for (const s of sliceQps(stream)) {
    const q = `${s.nalType === 5 ? 'I' : 'P'}${s.qp}`
    if (s.firstMb === 0) pictures.push(q)
    else if (!pictures.at(-1).split('/').includes(q)) pictures[pictures.length - 1] += `/${q}`
  }
  return pictures
}

function expectedYs(height, stripeHeight = 64) {
  const ys = []
  for (let y = 0; y < height; y += stripeHeight) ys.push(y)
  return ys
}

/**
 * x264 codes full range, whose code values are 255/219 finer than limited range's: it is given
 * quantisers one above the settings' so that a setting keeps its bytes and RGB error
 * (crates/core/src/encode/h264/x264.rs, FULL_RANGE_QP). The bitstream shows x264's.
 */
const FULL_RANGE_QP = 1
const coded = (type, qp) => `${type}${qp + FULL_RANGE_QP}`

describe('H.264', () => {
  it('a. full frame 4:2:0 crf 23: PSNR, exact solid colours, yuvj420p (BT.709 full range)', async (t) => {
    const c = collect({})
    assert.equal(c.info.encoder, 'x264')
    assert.equal(c.info.stripeCount, 1)
    assert.equal(c.info.stripeHeight, H)
    assert.deepEqual(c.info.notes, [])
    await c.waitForFirstFrame()
    await sleep(300)
    assert.equal(c.stripes.length, 1, 'a static screen sends one frame')
    const first = c.stripes[0]
    assert.equal(first.isKeyFrame, true)
    assert.equal(first.isPaintOver, false)
    assert.equal(first.stripeYStart, 0)
    assert.equal(first.width, W)
    assert.equal(first.stripeHeight, H)
    for (const s of c.stripes) checkHeader(s)
    const types = nalTypes(h264Payload(first))
    for (const nt of [7, 8, 5]) assert.ok(types.includes(nt), `NAL ${nt} in the first frame: ${types}`)

    const stream = annexB(c.stripes)
    const dec = await decodeH264(stream, W, H)
    assert.equal(dec.count, c.stripes.length)
    const truth = await screen()
    const db = psnr(dec.last, truth)
    const dbNoise = psnr(dec.last, truth, NOISE)
    const worst = checkSolids(dec.last, 3, '4:2:0')
    assertSolid(dec.last, { x: 8, y: 8, w: 24, h: 24 }, BG, 3, 'background')
    const info = await probeH264(stream)
    t.diagnostic(
      `4:2:0 crf 23: ${first.size} B IDR, PSNR ${db.toFixed(2)} dB (noise block ${dbNoise.toFixed(2)} dB), ` +
        `worst solid deviation ${worst}, profile ${info.profile}`,
    )
    assert.ok(db >= 35, `PSNR ${db.toFixed(2)} dB < 35`)
    assert.equal(info.codec_name, 'h264')
    assert.equal(info.pix_fmt, 'yuvj420p')
    assert.equal(info.color_range, 'pc')
    assert.equal(info.color_space, 'bt709')
    assert.equal(info.width, W)
    assert.equal(info.height, H)
    assert.deepEqual(c.errors, [])
  })

  it('b. full frame 4:4:4 (h264Fullcolor): PSNR >= 40, High 4:4:4 Predictive, yuvj444p', async (t) => {
    const c = collect({ h264Fullcolor: true })
    await c.waitForFirstFrame()
    await sleep(300)
    for (const s of c.stripes) checkHeader(s)
    const stream = annexB(c.stripes)
    const dec = await decodeH264(stream, W, H)
    const truth = await screen()
    const db = psnr(dec.last, truth)
    const dbNoise = psnr(dec.last, truth, NOISE)
    const worst = checkSolids(dec.last, 3, '4:4:4')
    const info = await probeH264(stream)
    t.diagnostic(
      `4:4:4 crf 23: ${c.stripes[0].size} B IDR, PSNR ${db.toFixed(2)} dB (noise block ${dbNoise.toFixed(2)} dB), worst solid deviation ${worst}`,
    )
    assert.ok(db >= 40, `PSNR ${db.toFixed(2)} dB < 40`)
    assert.equal(info.profile, 'High 4:4:4 Predictive')
    assert.equal(info.pix_fmt, 'yuvj444p')
    assert.equal(info.color_range, 'pc')
    assert.deepEqual(c.errors, [])
  })

  it('c. striped: one stream per stripe, reassembled picture matches; a small change re-sends only its stripe', async (t) => {
    const c = collect({ h264Fullframe: false })
    assert.equal(c.info.stripeCount, 12)
    assert.equal(c.info.stripeHeight, 64)
    const first = await c.waitForFirstFrame()
    await sleep(300)
    assert.equal(c.stripes.length, 12, 'a static screen sent more than the first frame')
    assert.deepEqual(first.map((s) => s.stripeYStart).sort((a, b) => a - b), expectedYs(H))
    for (const s of first) {
      checkHeader(s)
      assert.equal(s.isKeyFrame, true)
      assert.equal(s.width, W)
      assert.equal(s.stripeHeight, Math.min(64, H - s.stripeYStart))
    }
    const { image, covered, counts } = await decodeStriped(c.stripes, W, H)
    assert.ok(covered.every((v) => v === 1), 'every row covered')
    const truth = await screen()
    const db = psnr(image, truth)
    checkSolids(image, 3, 'striped')
    t.diagnostic(`striped 4:2:0 crf 23: ${c.stripes.reduce((a, s) => a + s.size, 0)} B in 12 IDRs, PSNR ${db.toFixed(2)} dB`)
    assert.ok(db >= 35, `striped PSNR ${db.toFixed(2)} dB < 35`)
    assert.ok(Object.values(counts).every((n) => n === 1))

    const n = c.stripes.length
    await env.painter.fill(100, 200, 20, 10, 'e0c020') // rows 200..209: stripe 3 (192..255)
    await c.waitForStripes(n + 1, 3000)
    await sleep(300)
    const next = c.since(n)
    for (const s of next) {
      checkHeader(s)
      assert.equal(s.stripeYStart, 192, `unexpected stripe y=${s.stripeYStart}`)
      assert.equal(s.isKeyFrame, false, 'a change is a P frame')
    }
    const stream = streamsByY(c.stripes).get(192)
    const dec = await decodeH264(annexB(stream), W, 64)
    assert.equal(dec.count, stream.length)
    const truth3 = await screen(0, 192, W, 64)
    const db3 = psnr(dec.last, truth3)
    t.diagnostic(`after the change: ${next.length} P frame(s) of ${next.map((s) => s.size).join(', ')} B, stripe PSNR ${db3.toFixed(2)} dB`)
    assert.ok(db3 >= 35, `changed stripe PSNR ${db3.toFixed(2)} dB < 35`)
    const d = assertSolid(dec.last, { x: 104, y: 10, w: 12, h: 4 }, 'e0c020', 24, 'new rectangle')
    assert.ok(d.mean < 8, `new rectangle mean diff ${d.mean}`)
    assertSolid(dec.last, { x: 160, y: 8, w: 100, h: 40 }, BG, 3, 'background beside it')
    assert.deepEqual(c.errors, [])
    await env.painter.fill(100, 200, 20, 10, BG)
  })

  it('c2. striped, default stripeHeight: equal stripes of about 256 rows in whole macroblock rows (720: 3 x 240; 540: 272 + 268)', async (t) => {
    for (const [height, rows, ys] of [[720, 240, [0, 240, 480]], [540, 272, [0, 272]]]) {
      const c = collect({ h264Fullframe: false, stripeHeight: undefined, captureX: 0, captureY: 0, captureWidth: W, captureHeight: height })
      assert.equal(c.info.stripeHeight, rows, `${height}: info.stripeHeight`)
      assert.equal(c.info.stripeCount, ys.length, `${height}: info.stripeCount`)
      const first = await c.waitForFirstFrame()
      assert.deepEqual(first.map((s) => [s.stripeYStart, s.stripeHeight]).sort((a, b) => a[0] - b[0]),
        ys.map((y) => [y, Math.min(rows, height - y)]), `${height}: stripes`)
      for (const s of first) checkHeader(s)
      const { image, covered } = await decodeStriped(first, W, height)
      assert.ok(covered.every((v) => v === 1), 'every row covered')
      const db = psnr(image, await screen(0, 0, W, height))
      t.diagnostic(`${height} rows: ${ys.length} stripes of ${rows}, PSNR ${db.toFixed(2)} dB`)
      assert.ok(db >= 35, `${height} rows: PSNR ${db.toFixed(2)} dB < 35`)
      c.stop()
    }
  })

  it('d. static screen: nothing after the first frame; requestKeyframe() gives IDRs that decode on their own', async (t) => {
    const c = collect({ h264Fullframe: false })
    await c.waitForFirstFrame()
    await sleep(300)
    const n = c.stripes.length
    await sleep(400)
    assert.equal(c.stripes.length, n, `static screen: ${c.stripes.length - n} more stripes`)
    assert.equal(n, 12)

    const t0 = performance.now()
    c.cap.requestKeyframe()
    await c.waitForStripes(n + 12, 3000)
    const idrs = c.since(n)
    const dt = Math.max(...idrs.map((s) => s.arrivedMs)) - t0
    t.diagnostic(`requestKeyframe(): 12 IDRs, last after ${dt.toFixed(0)} ms, ${idrs.reduce((a, s) => a + s.size, 0)} B`)
    assert.ok(dt <= 2 * (1000 / 30) + 200, `IDRs took ${dt.toFixed(0)} ms`)
    assert.deepEqual(idrs.map((s) => s.stripeYStart).sort((a, b) => a - b), expectedYs(H))
    assert.equal(new Set(idrs.map((s) => s.frameId)).size, 1, 'one frame')
    for (const s of idrs) {
      const h = checkHeader(s)
      assert.equal(s.isKeyFrame, true)
      assert.equal(s.data[1], 1, 'header kind byte 1 (IDR)')
      assert.equal(h.isIdr, true)
      const types = nalTypes(h.payload)
      assert.ok(types.includes(7) && types.includes(8) && types.includes(5), `SPS/PPS/IDR at y=${s.stripeYStart}: ${types}`)
    }
    // Each stream from the IDR on decodes on its own.
    const { image, covered } = await decodeStriped(idrs, W, H)
    assert.ok(covered.every((v) => v === 1))
    const db = psnr(image, await screen())
    t.diagnostic(`streams started at the IDR: PSNR ${db.toFixed(2)} dB`)
    assert.ok(db >= 35, `PSNR ${db.toFixed(2)} dB < 35`)
    await sleep(300)
    assert.equal(c.stripes.length, n + 12, 'more stripes after the key frame on a static screen')
    assert.deepEqual(c.errors, [])
  })

  it('e. odd region 641x481 is rounded down to even, with a note; the stream has that size', async (t) => {
    const R = { x: 10, y: 20, w: 641, h: 481 }
    const c = collect({ captureX: R.x, captureY: R.y, captureWidth: R.w, captureHeight: R.h })
    assert.equal(c.info.x, R.x)
    assert.equal(c.info.y, R.y)
    assert.equal(c.info.width, 640)
    assert.equal(c.info.height, 480)
    const notes = c.info.notes.join('\n')
    assert.match(notes, /captureWidth 641/)
    assert.match(notes, /captureHeight 481/)
    assert.match(notes, /even/i)
    await c.waitForFirstFrame()
    await sleep(200)
    const s = c.stripes[0]
    checkHeader(s)
    assert.equal(s.width, 640)
    assert.equal(s.stripeHeight, 480)
    const stream = annexB(c.stripes)
    const info = await probeH264(stream)
    assert.equal(info.width, 640)
    assert.equal(info.height, 480)
    const dec = await decodeH264(stream, 640, 480)
    const db = psnr(dec.last, await screen(R.x, R.y, 640, 480))
    t.diagnostic(`notes: ${JSON.stringify(c.info.notes)}; PSNR ${db.toFixed(2)} dB`)
    assert.ok(db >= 35, `region PSNR ${db.toFixed(2)} dB < 35`)
    checkSolids(dec.last, 3, 'region', R.x, R.y)
  })

  it('f. paint-over: after a change stops, an IDR with isPaintOver at higher quality', async (t) => {
    const c = collect({ h264Fullframe: false, usePaintOverQuality: true, paintOverTriggerFrames: 5, h264Crf: 32, h264PaintOverCrf: 18 })
    await c.waitForFirstFrame()
    await sleep(500) // the first frame's stripes get their own paint-overs; let them pass
    const n = c.stripes.length
    // Detail in stripe 3 (rows 192..255): noise and text.
    await env.painter.noise(300, 200, 256, 48, 11)
    await env.painter.text(600, 210, 'ffffff', 'paint-over 0123456789 abcdefghijklmnopqrstuvwxyz')
    await waitFor(() => c.since(n).some((s) => s.isPaintOver), 3000, 'a paint-over stripe')
    await sleep(200)
    const after = c.since(n)
    for (const s of after) {
      checkHeader(s)
      assert.equal(s.stripeYStart, 192, `unexpected stripe y=${s.stripeYStart}`)
    }
    const poIdx = after.findIndex((s) => s.isPaintOver)
    const changes = after.slice(0, poIdx)
    const po = after[poIdx]
    assert.ok(changes.length >= 1, 'the change came first')
    for (const s of changes) assert.equal(s.isPaintOver, false)
    assert.equal(po.isKeyFrame, true, 'a paint-over is an IDR')
    assert.equal(po.data[1], 1, 'header kind byte 1')
    assert.equal(after.length, poIdx + 1, 'nothing after the paint-over on a still screen')

    const truth = await screen(0, 192, W, 64)
    const stream = streamsByY(c.stripes).get(192)
    const upToChange = stream.slice(0, stream.indexOf(changes[changes.length - 1]) + 1)
    const decChange = await decodeH264(annexB(upToChange), W, 64)
    const decPo = await decodeH264(annexB([po]), W, 64) // on its own
    assert.equal(decPo.count, 1)
    const dbChange = psnr(decChange.last, truth)
    const dbPo = psnr(decPo.last, truth)
    const sizes = changes.map((s) => s.size).join(', ')
    t.diagnostic(
      `crf 32 change: ${sizes} B, PSNR ${dbChange.toFixed(2)} dB; paint-over (crf 18): ${po.size} B, PSNR ${dbPo.toFixed(2)} dB`,
    )
    assert.ok(dbPo >= dbChange, `paint-over PSNR ${dbPo.toFixed(2)} < change PSNR ${dbChange.toFixed(2)}`)
    assert.deepEqual(c.errors, [])
    await drawScene(env.painter)
  })

  it("g. h264RateControl 'cqp': P pictures at h264Crf, IDRs 3 lower, paint-over at its own; 'crf' adapts", async (t) => {
    // Three changes of the same small area: an IDR, then P pictures; with paint-over, an IDR
    // at h264PaintOverCrf - 3 once the area is still.
    const run = async (rateControl) => {
      const c = collect({ h264RateControl: rateControl, h264Crf: 34, usePaintOverQuality: true, paintOverTriggerFrames: 5, h264PaintOverCrf: 20 })
      await c.waitForFirstFrame()
      for (const rgb of ['e0c020', '20c0e0', BG]) {
        const n = c.stripes.length
        await env.painter.fill(100, 200, 40, 20, rgb)
        await c.waitForStripes(n + 1, 3000)
      }
      await waitFor(() => c.stripes.some((s) => s.isPaintOver), 3000, 'a paint-over')
      await sleep(200)
      assert.deepEqual(c.errors, [])
      const stream = annexB(c.stripes)
      const dec = await decodeH264(stream, W, H)
      assert.equal(dec.count, c.stripes.length)
      const db = psnr(dec.last, await screen())
      const pictures = pictureQps(stream)
      t.diagnostic(`${rateControl}: pictures ${pictures.join(' ')}; last picture ${db.toFixed(2)} dB`)
      assert.ok(db >= 35, `${rateControl}: PSNR ${db.toFixed(2)} dB < 35`)
      assert.equal(pictures.length, c.stripes.length)
      return pictures
    }
    const cqp = await run('cqp')
    assert.equal(cqp[0], coded('I', 31), 'first IDR at 34 - 3')
    assert.equal(cqp.at(-1), coded('I', 17), 'paint-over IDR at 20 - 3')
    const middle = cqp.slice(1, -1)
    assert.ok(middle.length >= 3 && middle.every((q) => q === coded('P', 34)), `P pictures at 34: ${middle}`)
    const crf = await run('crf')
    assert.equal(crf.at(-1), coded('I', 17), 'a paint-over is forced to the same quantiser under CRF')
    assert.notDeepEqual(crf.slice(0, -1), cqp.slice(0, -1), 'CRF picks its own quantisers')
  })

  it("h. updateSettings({ h264RateControl: 'cqp' }) on a running CRF capture: the next picture is an IDR at h264Crf - 3, then P at h264Crf", async (t) => {
    const c = collect({ h264Crf: 34 })
    await c.waitForFirstFrame()
    const draw = async (rgb) => {
      const n = c.stripes.length
      await env.painter.fill(100, 200, 40, 20, rgb)
      await c.waitForStripes(n + 1, 3000)
    }
    await draw('e0c020')
    const before = c.stripes.length
    c.cap.updateSettings({ h264RateControl: 'cqp' })
    for (const rgb of ['20c0e0', 'c020e0', BG]) await draw(rgb)
    await sleep(200)
    assert.deepEqual(c.errors, [])
    const after = c.stripes.slice(before)
    const qps = pictureQps(annexB(after))
    t.diagnostic(`after the update: ${qps.join(' ')}`)
    assert.equal(after[0].isKeyFrame, true, 'new encoders start with an IDR')
    assert.equal(qps.length, after.length)
    assert.ok(qps.length >= 3, `${qps.length} pictures`)
    assert.deepEqual(qps, [coded('I', 31), ...Array(qps.length - 1).fill(coded('P', 34))])
    const dec = await decodeH264(annexB(after), W, H)
    assert.equal(dec.count, after.length, 'the stream from the IDR on decodes')
  })
})
