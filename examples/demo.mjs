#!/usr/bin/env node
// `npm run demo`: the main job, screen -> browser. Captures $DISPLAY (or, with no DISPLAY, a
// private 1920x1080 Xvfb with moving demo content) and serves it to browsers; prints the URL
// and live statistics. Options are the screen-to-browser server's (see its header), e.g.
//   npm run demo -- --codec h264 --fps 30
// Every option is checked (and the port tried) before anything starts: a mistake is one line
// on stderr and exit status 2.
import { startServer, printHelp } from './screen-to-browser/server.mjs'
import { optionsFromCli, checkOptions, checkPort, exitWith } from './screen-to-browser/cli.mjs'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'

const NAME = 'stripecast demo'
let options
try {
  options = optionsFromCli()
  if (options.help) {
    await printHelp()
    process.exit(0)
  }
  checkOptions(options)
  await checkPort(options.port, options.host)
} catch (e) {
  exitWith(e, NAME)
}

let xvfb = null
let painter = null
let server = null
try {
  if (!options.display && !process.env.DISPLAY) {
    xvfb = await startXvfb({ width: 1920, height: 1080 })
    painter = await openPainter(xvfb.display)
    painter.play(30, 'bounce', 0).catch(() => {})
    options.display = xvfb.display
    console.log(`no DISPLAY: started Xvfb ${xvfb.display} (1920x1080) with moving demo content`)
  }
  server = await startServer({ ...options, log: (line) => console.log(line) })
} catch (e) {
  painter?.close()
  await xvfb?.stop()
  exitWith(e, NAME)
}
if (options.control && !options.token) console.log('control: on, with a generated token: whoever has this URL can view and control the screen')
console.log(`stripecast demo: open ${server.url} in a browser (Ctrl+C to quit)`)

const timer = setInterval(() => {
  const s = server.hub.stats()
  const w = server.whep.broadcaster?.stats()
  const c = (w?.peers.length ? w.capture : s.capture) ?? {} // the capture that has viewers
  console.log(
    `viewers ${s.viewers}${w ? ` + ${w.peers.length} WebRTC (crf ${w.crf})` : ''}  fps ${(c.fps ?? 0).toFixed(0)}  stripes ${c.stripesDelivered ?? 0}  ` +
      `${((c.bytesDelivered ?? 0) / 1e6).toFixed(1)} MB  latency p50 ${(c.latencyP50Ms ?? 0).toFixed(1)} ms`,
  )
}, 2000)

let closing = false
async function shutdown() {
  if (closing) return
  closing = true
  clearInterval(timer)
  await server.close()
  painter?.close()
  await xvfb?.stop()
  process.exit(0)
}
process.on('SIGINT', shutdown)
process.on('SIGTERM', shutdown)
