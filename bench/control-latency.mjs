#!/usr/bin/env node
// Remote control latency: a click in the page -> the X client draws -> the page's canvas shows it.
//
//   node bench/control-latency.mjs [--clicks 60] [--size 1280x720] [--fps 60] [--modes jpeg,h264]
//                                  [--out bench/control-latency-results.md]
//
// A private Xvfb holds one tools/xpaint input window over the whole screen: on a button press
// it draws a 9x9 red square centred on the press. The example server (--control) streams the
// screen to headless Chromium and injects the page's input with the addon's InputInjector
// (XTEST). playwright clicks a grid of distinct spots; in the page, the pointerdown event's
// time stamp starts the clock and a requestAnimationFrame loop reads the pressed pixel off the
// canvas until it turns red. Page times are mapped to this process's clock with a round-trip
// calibration. Reported per mode, in ms:
//   input:  pointerdown in the page -> the server calls InputInjector.pointerButton
//   server: that call -> the stripe holding the pressed pixel reaches JavaScript in the server
//   glass:  pointerdown in the page -> the red pixel seen in the page's next animation frame
// The rAF poll quantises to the page's frame rate (60 Hz: up to 16.7 ms, 8 on average).
// Needs Xvfb, chromium (/usr/bin/chromium), playwright-core, the addon with InputInjector.
import { parseArgs } from 'node:util'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg, release } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'
import { launchChromium, waitForPicture } from '../__test__/helpers/browser.mjs'
import { startServer } from '../examples/screen-to-browser/server.mjs'
import { now, percentile, calibratePageClock } from '../__test__/helpers/page-clock.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values: args } = parseArgs({
  options: {
    clicks: { type: 'string', default: '60' },
    size: { type: 'string', default: '1280x720' },
    fps: { type: 'string', default: '60' },
    modes: { type: 'string', default: 'jpeg,h264' },
    out: { type: 'string', default: join(root, 'bench', 'control-latency-results.md') },
  },
})
const CLICKS = Number(args.clicks)
const [W, H] = args.size.split('x').map(Number)
const FPS = Number(args.fps)
const MODES = {
  jpeg: { codec: 'jpeg', quality: 75 },
  h264: { codec: 'h264', crf: 23, fullframe: true },
}
const { InputInjector } = createRequire(import.meta.url)('stripecast')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Distinct click spots on a grid, away from the edges (each press leaves a red square). */
function spots(n) {
  const cols = Math.ceil(Math.sqrt((n * W) / H))
  const rows = Math.ceil(n / cols)
  const out = []
  for (let i = 0; i < n; i++) {
    const c = i % cols
    const r = Math.floor(i / cols)
    out.push([Math.round(((c + 0.5) * W) / cols), Math.round(((r + 0.5) * H) / rows)])
  }
  return out
}

async function runMode(name, browser, painter, display) {
  await painter.inputWindow(0, 0, W, H, '203040') // a fresh window: no red squares yet
  await sleep(200)
  const presses = [] // node times of pointerButton(1, true)
  // the addon's injector, with the time of each press noted
  function TimedInjector(settings) {
    const inj = new InputInjector(settings)
    return {
      get region() {
        return inj.region
      },
      pointerMove: (x, y) => inj.pointerMove(x, y),
      pointerButton: (b, down) => {
        if (down) presses.push(now())
        inj.pointerButton(b, down)
      },
      scroll: (dx, dy) => inj.scroll(dx, dy),
      key: (k, down) => inj.key(k, down),
      type: (t) => inj.type(t),
      releaseAll: () => inj.releaseAll(),
      close: () => inj.close(),
    }
  }
  const srv = await startServer({ display, port: 0, fps: FPS, cursor: false, idleStopMs: 0, control: true, Clipboard: null, InputInjector: TimedInjector, ...MODES[name] })
  let watch = null // { x, y, seen: [] } the pressed pixel, and when stripes covering it arrived
  const untap = srv.hub.tap((s) => {
    if (watch && s.stripeYStart <= watch.y && watch.y < s.stripeYStart + s.stripeHeight && s.x <= watch.x && watch.x < s.x + s.width) watch.seen.push(now())
  })
  const page = await browser.open(srv.url)
  try {
    await waitForPicture(page, { width: W, height: H, quietMs: 300, timeoutMs: 20000 })
    await page.waitForFunction(() => window.stripecast.control?.granted === true, null, { timeout: 10000 })
    const cal = await calibratePageClock(page)
    let waiter = null
    await page.exposeFunction('__pressSeen', (t0, t1) => waiter?.({ t0, t1 }))
    // the page: on pointerdown note the time and the canvas pixel, then poll it every frame
    await page.evaluate(async () => {
      const { canvasPoint } = await import(`./stripecast-client.js${location.search}`)
      const canvas = window.stripecast.client.canvas
      const ctx = canvas.getContext('2d')
      let pending = null
      canvas.addEventListener(
        'pointerdown',
        (e) => {
          const st = getComputedStyle(canvas)
          const r = canvas.getBoundingClientRect()
          const p = canvasPoint(e.clientX, e.clientY, { left: r.left, top: r.top, width: r.width, height: r.height }, canvas.width, canvas.height, st.objectFit, st.objectPosition)
          pending = window.__pending = { t0: performance.timeOrigin + e.timeStamp, x: p.x, y: p.y }
        },
        { capture: true },
      )
      const tick = () => {
        if (pending) {
          const d = ctx.getImageData(pending.x, pending.y, 1, 1).data
          if (d[0] > 200 && d[1] < 80 && d[2] < 80) {
            window.__pressSeen(pending.t0, performance.timeOrigin + performance.now())
            pending = null
          }
        }
        requestAnimationFrame(tick)
      }
      requestAnimationFrame(tick)
    })
    const scale = await page.evaluate(() => {
      const c = window.stripecast.client.canvas
      const r = c.getBoundingClientRect()
      const s = Math.min(r.width / c.width, r.height / c.height)
      return { s, ox: r.left + (r.width - c.width * s) / 2, oy: r.top + (r.height - c.height * s) / 2 }
    })
    const glass = []
    const input = []
    const server = []
    let timeouts = 0
    for (const [x, y] of spots(CLICKS)) {
      presses.length = 0
      watch = { x, y, seen: [] }
      let timer
      const seen = new Promise((resolve) => {
        waiter = resolve
        timer = setTimeout(() => resolve(null), 2000)
      })
      await page.mouse.click(scale.ox + (x + 0.5) * scale.s, scale.oy + (y + 0.5) * scale.s)
      const r = await seen
      clearTimeout(timer)
      waiter = null
      if (!r) {
        if (!timeouts++) {
          const diag = await page.evaluate(({ x, y }) => {
            const d = window.stripecast.client.canvas.getContext('2d').getImageData(x, y, 1, 1).data
            return { pixel: [...d], pending: window.__pending ?? null, control: window.stripecast.control?.stats }
          }, { x, y })
          const truth = [...(await painter.dump(x, y, 1, 1))].slice(0, 3).reverse()
          process.stderr.write(`(first timeout at ${x},${y}: ${JSON.stringify(diag)}, on X ${truth}, presses ${presses.length}) `)
        }
        continue
      }
      const t0 = r.t0 + cal.offset
      glass.push(r.t1 - r.t0)
      if (presses.length) {
        input.push(presses[0] - t0)
        const after = watch.seen.find((t) => t >= presses[0])
        if (after !== undefined) server.push(after - presses[0])
      }
      await sleep(30 + Math.random() * 50) // de-phase from the capture clock
    }
    const st = await page.evaluate(() => window.stripecast.client.stats)
    return { name, glass, input, server, timeouts, rtt: cal.rtt, errors: st.decodeErrors, control: { ...srv.control.stats } }
  } finally {
    untap()
    await page.close()
    await srv.close()
  }
}

async function main() {
  const load = loadavg().map((v) => v.toFixed(2)).join(' ')
  const xvfb = await startXvfb({ width: W, height: H })
  const painter = await openPainter(xvfb.display)
  const browser = await launchChromium()
  const rows = []
  let chromium = ''
  try {
    chromium = browser.context.browser()?.version() ?? ''
    await painter.fill(0, 0, W, H, '203040')
    for (const name of args.modes.split(',')) {
      if (!MODES[name]) throw new Error(`unknown mode ${name} (${Object.keys(MODES)})`)
      process.stderr.write(`${name}: ${CLICKS} clicks... `)
      rows.push(await runMode(name, browser, painter, xvfb.display))
      process.stderr.write('done\n')
    }
  } finally {
    await browser.close()
    await painter.close()
    await xvfb.stop()
  }
  const f = (v, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-')
  const sorted = (a) => [...a].sort((x, y) => x - y)
  const lines = []
  lines.push('# Remote control latency: click in the page -> pixels in the page (bench/control-latency.mjs)')
  lines.push('')
  lines.push(
    `Run ${new Date().toISOString().replace(/\.\d+Z$/, 'Z')} on ${cpus()[0]?.model.split(' ').slice(0, 2).join(' ') ?? '?'}, ${cpus().length} cores, Linux ${release()}, Node ${process.version}; Chromium ${chromium} (headless). ` +
      `Load average at the start ${load} (the machine is shared). ${W}x${H} Xvfb, ${FPS} fps capture, cursor off; everything on loopback.`,
  )
  lines.push('')
  lines.push(`Command: \`node bench/control-latency.mjs --clicks ${CLICKS} --modes ${args.modes}\``)
  lines.push('')
  lines.push('| mode | clicks | input p50 | input p99 | server p50 | server p99 | glass p50 | glass p99 | glass max | timeouts (> 2 s) |')
  lines.push('|---|---|---|---|---|---|---|---|---|---|')
  for (const r of rows) {
    const g = sorted(r.glass)
    const i = sorted(r.input)
    const s = sorted(r.server)
    lines.push(
      `| ${r.name} | ${g.length} | ${f(percentile(i, 50))} | ${f(percentile(i, 99))} | ${f(percentile(s, 50))} | ${f(percentile(s, 99))} | ${f(percentile(g, 50))} | ${f(percentile(g, 99))} | ${f(g.at(-1))} | ${r.timeouts} |`,
    )
  }
  lines.push('')
  lines.push(
    `input: pointerdown in the page -> InputInjector.pointerButton in the server (WebSocket, JSON parse, arbiter); server: that call -> the stripe holding the pressed pixel reaches the server's JavaScript (XTEST, the X client draws, XDamage, grab, encode); ` +
      `glass: pointerdown -> the red pixel read off the canvas in an animation frame (the whole path; the rAF poll adds 0-16.7 ms). ` +
      `Page clock calibrated to ±${f(Math.max(...rows.map((r) => r.rtt)) / 2, 2)} ms; decode errors ${rows.map((r) => r.errors).join('/')}; control messages ${rows.map((r) => `${r.name} ${JSON.stringify(r.control)}`).join(', ')}.`,
  )
  const md = lines.join('\n') + '\n'
  process.stdout.write('\n' + md)
  if (args.out && args.out !== '-') writeFileSync(args.out, md)
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
