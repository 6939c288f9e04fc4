#!/usr/bin/env node
// Glass-to-glass latency: X screen -> stripecast -> ws -> headless Chromium -> canvas.
//
//   node bench/latency.mjs [--samples 120] [--size 1280x720] [--fps 60] [--modes jpeg,h264,h264-striped]
//
// A private Xvfb shows a desktop-like scene; a 64x64 marker on it flips between two colours
// at known times (xpaint `fill`, timed just before the command is written). The example
// server (examples/screen-to-browser) streams the screen to a page in headless Chromium,
// where a requestAnimationFrame loop reads the marker pixel off the canvas and records when
// it turns. Page timestamps are mapped to this process's clock with a round-trip
// calibration. Reported per mode, in ms:
//   server:  paint -> the stripe holding the marker reaches JavaScript in the server
//   glass:   paint -> the canvas pixel seen changed in the page's next animation frame
// The rAF poll quantises to the page's frame rate (60 Hz: up to 16.7 ms, 8 ms on average),
// as a display would. Needs Xvfb, chromium (/usr/bin/chromium), playwright-core, the addon.
import { parseArgs } from 'node:util'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'
import { launchChromium, waitForPicture } from '../__test__/helpers/browser.mjs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { now, percentile, calibratePageClock } from '../__test__/helpers/page-clock.mjs'
import { watchMarker, markerRect, MARKER_COLOURS, drawMarkerScene } from '../__test__/helpers/marker.mjs'

const { values: args } = parseArgs({
  options: {
    samples: { type: 'string', default: '120' },
    size: { type: 'string', default: '1280x720' },
    fps: { type: 'string', default: '60' },
    modes: { type: 'string', default: 'jpeg,h264,h264-striped' },
  },
})
const SAMPLES = Number(args.samples)
const [W, H] = args.size.split('x').map(Number)
const FPS = Number(args.fps)
const MODES = {
  jpeg: { codec: 'jpeg', quality: 75 },
  h264: { codec: 'h264', crf: 23, fullframe: true },
  'h264-striped': { codec: 'h264', crf: 23, fullframe: false },
}
const MARK = markerRect(W, H)
const COLOURS = MARKER_COLOURS // the marker alternates between these
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function runMode(name, browser, painter, display) {
  const srv = await startServer({ display, port: 0, fps: FPS, cursor: false, idleStopMs: 0, ...MODES[name] })
  const serverSeen = [] // node times when a stripe covering the marker arrived
  const untap = srv.hub.tap((s) => {
    if (s.stripeYStart <= MARK.y + MARK.h / 2 && MARK.y + MARK.h / 2 < s.stripeYStart + s.stripeHeight) serverSeen.push(now())
  })
  const page = await browser.open(srv.url)
  try {
    await waitForPicture(page, { width: W, height: H, quietMs: 300, timeoutMs: 20000 })
    const cal = await calibratePageClock(page)
    // The page watches the marker pixel on every animation frame and reports each turn.
    const marker = await watchMarker(page, { x: MARK.x + MARK.w / 2, y: MARK.y + MARK.h / 2, colours: COLOURS })
    await sleep(100)
    const glass = []
    const server = []
    const acks = []
    let timeouts = 0
    for (let i = 0; i < SAMPLES; i++) {
      const colour = i % 2 // 0, 1, 0, ... (the scene starts with colour 1)
      serverSeen.length = 0
      const seen = marker.next(colour)
      const tPaint = now()
      await painter.fill(MARK.x, MARK.y, MARK.w, MARK.h, COLOURS[colour])
      acks.push(now() - tPaint)
      const tSeen = await seen
      if (tSeen == null) {
        timeouts++
        continue
      }
      glass.push(tSeen + cal.offset - tPaint)
      if (serverSeen.length) server.push(serverSeen[0] - tPaint)
      await sleep(10 + Math.random() * 40) // de-phase from the capture clock
    }
    const st = await page.evaluate(() => window.stripecast.client.stats)
    return { name, glass, server, acks, timeouts, rtt: cal.rtt, errors: st.decodeErrors }
  } finally {
    untap()
    await page.close()
    await srv.close()
  }
}

async function main() {
  const xvfb = await startXvfb({ width: W, height: H })
  const painter = await openPainter(xvfb.display)
  const browser = await launchChromium()
  const rows = []
  try {
    await drawMarkerScene(painter, W, H, 'stripecast latency bench')
    for (const name of args.modes.split(',')) {
      if (!MODES[name]) throw new Error(`unknown mode ${name} (${Object.keys(MODES)})`)
      process.stderr.write(`${name}: ${SAMPLES} samples... `)
      const r = await runMode(name, browser, painter, xvfb.display)
      process.stderr.write('done\n')
      rows.push(r)
    }
  } finally {
    await browser.close()
    await painter.close()
    await xvfb.stop()
  }
  const f = (v) => (Number.isFinite(v) ? v.toFixed(1) : '-').padStart(7)
  console.log(`\nglass-to-glass latency, ${W}x${H} Xvfb, ${FPS} fps capture, headless Chromium (rAF pixel poll), ms`)
  console.log('mode          samples  server p50  server p99   glass p50   glass p99   glass max  timeouts')
  for (const r of rows) {
    const g = [...r.glass].sort((a, b) => a - b)
    const s = [...r.server].sort((a, b) => a - b)
    console.log(
      `${r.name.padEnd(13)} ${String(g.length).padStart(7)}     ${f(percentile(s, 50))}     ${f(percentile(s, 99))}     ${f(percentile(g, 50))}     ${f(percentile(g, 99))}     ${f(g[g.length - 1])}  ${String(r.timeouts).padStart(8)}`,
    )
  }
  const acks = rows.flatMap((r) => r.acks).sort((a, b) => a - b)
  console.log(
    `(xpaint fill acknowledged after ${percentile(acks, 50).toFixed(2)} ms p50; page clock calibrated to ±${(Math.max(...rows.map((r) => r.rtt)) / 2).toFixed(2)} ms; ` +
      `decode errors: ${rows.map((r) => r.errors).join('/')})`,
  )
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
