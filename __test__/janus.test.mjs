// Fan-out through Janus: the screen published once into a Janus VideoRoom (examples/sfu-janus,
// a private Janus started here on loopback), three Chromium pages subscribed through Janus,
// each compared with the X screen. Reports the Node process's CPU with 1 and with 3 viewers
// while the screen moves (a figure, not asserted). Needs the Debian packages janus and
// chromium, playwright-core, janode and node-datachannel; without them it FAILS.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { bgrxImage, psnr } from './helpers/frames.mjs'
import { requireChromium, launchChromium, readCanvas } from './helpers/browser.mjs'
import { drawCard } from '../bench/lib/cards.mjs'
import { startSfuServer } from '../examples/sfu-janus/server.mjs'

const W = 1280
const H = 720
const MIN_PSNR = 35
const VIEWERS = 3

let xvfb
let painter
let browser
let sfu
const pages = []

async function waitForStill(page, label, { quietMs = 600, timeoutMs = 20000 } = {}) {
  try {
    await page.waitForFunction(
      ({ W, H, quietMs }) => {
        const l = window.stripecast?.link
        return l && l.canvas.width === W && l.canvas.height === H && l.stats.framesDrawn > 0 && performance.now() - l.stats.lastDrawTime > quietMs
      },
      { W, H, quietMs },
      { timeout: timeoutMs, polling: 50 },
    )
  } catch {
    const st = await page.evaluate(() => window.stripecast?.link.stats).catch(() => null)
    throw new Error(`${label}: no still ${W}x${H} picture within ${timeoutMs} ms: ${JSON.stringify(st)} ${JSON.stringify(page.errors)}`)
  }
}

/** The Node process's CPU (user + system) in % of one core while the screen moves for `seconds`. */
async function cpuWhileMoving(seconds) {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await painter.play(30, 'bounce', seconds)
  const c = process.cpuUsage(c0)
  return ((c.user + c.system) / 1000 / (performance.now() - t0)) * 100
}

describe('fan-out through Janus (VideoRoom) to several Chromium viewers', { timeout: 150000 }, () => {
  before(async () => {
    await requireChromium()
    xvfb = await startXvfb({ width: W, height: H })
    painter = await openPainter(xvfb.display)
    await drawCard(painter, 'photo', W, H)
    browser = await launchChromium()
    sfu = await startSfuServer({ display: xvfb.display, port: 0, cursor: false, fps: 30, crf: 20 })
  })

  after(async () => {
    for (const p of pages) await p.close().catch(() => {})
    await browser?.close().catch(() => {})
    await sfu?.close().catch(() => {})
    await painter?.close().catch(() => {})
    await xvfb?.stop()
  })

  it(`${VIEWERS} viewers through Janus each see the screen (>= ${MIN_PSNR} dB); the capture is sent once`, async (t) => {
    const truth = async () => bgrxImage(await painter.dump(0, 0, W, H), W, H)
    const check = async (label) => {
      const shown = []
      for (const [i, p] of pages.entries()) await waitForStill(p, `${label}, viewer ${i}`)
      const screen = await truth()
      for (const [i, p] of pages.entries()) {
        const db = psnr(await readCanvas(p), screen)
        assert.ok(db >= MIN_PSNR, `${label}, viewer ${i}: canvas vs screen ${db.toFixed(2)} dB < ${MIN_PSNR} dB`)
        shown.push(db.toFixed(2))
      }
      return shown.join(' / ')
    }

    pages.push(await browser.open(`${sfu.url}?canvas`))
    const one = await check('1 viewer')
    const cpu1 = await cpuWhileMoving(3)
    const moved1 = await check('1 viewer after motion')

    for (let i = 1; i < VIEWERS; i++) pages.push(await browser.open(`${sfu.url}?canvas`))
    const three = await check(`${VIEWERS} viewers`)
    const cpu3 = await cpuWhileMoving(3)
    const moved3 = await check(`${VIEWERS} viewers after motion`)

    const peers = sfu.broadcaster.stats().peers
    assert.equal(peers.length, 1, 'one WebRTC stream leaves this process (the publisher), whatever the viewers')
    assert.equal(sfu.subscriberCount(), VIEWERS)
    assert.equal(sfu.broadcaster.stats().captureStarts, 1)
    for (const p of pages) assert.deepEqual(p.errors, [], 'page errors')
    t.diagnostic(`PSNR: 1 viewer ${one}, after motion ${moved1}; ${VIEWERS} viewers ${three}, after motion ${moved3} dB`)
    t.diagnostic(
      `Node process CPU while the screen moves (30 fps bounce, ${W}x${H}): ${cpu1.toFixed(1)}% of a core with 1 viewer, ${cpu3.toFixed(1)}% with ${VIEWERS} (publisher: ${peers[0].accessUnits} access units, ${peers[0].pli} PLI from Janus)`,
    )
  })
})
