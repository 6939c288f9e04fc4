// Remote control from a real headless Chromium: the example page (examples/screen-to-browser,
// --control) forwards what playwright does with the mouse and keyboard. First against a
// recording injector (what the page sends, exactly), then against the X server through the
// addon's InputInjector and tools/xpaint's input window (what an X client receives, and what
// the stream then shows). Needs /usr/bin/chromium, playwright-core and setxkbmap; without them
// these tests FAIL (they do not skip).
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { requireChromium, launchChromium, waitForPicture, waitForPixel, pageState } from './helpers/browser.mjs'
import { startServer } from '../examples/screen-to-browser/server.mjs'

const SW = 800 // the X screen
const SH = 600
const REGION = { x: 100, y: 60, width: 480, height: 360 } // captured (and controlled) part of it
const REGION_ARG = `${REGION.width}x${REGION.height}+${REGION.x}+${REGION.y}`
// The page's canvas fills the 800x480 viewport with object-fit: contain: the 480x360 picture
// is drawn 640x480 (x 1.333), 80 CSS pixels from the left. Clicks must map back through that.
const SCALE = Math.min(800 / REGION.width, 480 / REGION.height)
const OFFSET_X = (800 - REGION.width * SCALE) / 2
const OFFSET_Y = (480 - REGION.height * SCALE) / 2
/** The CSS point over the middle of region pixel (x, y). */
const cssOf = (x, y) => [OFFSET_X + (x + 0.5) * SCALE, OFFSET_Y + (y + 0.5) * SCALE]

const TEXT = 'héllo Wörld €'

let xvfb
let painter
let browser
const servers = []

async function serve(o) {
  const srv = await startServer({ display: xvfb.display, port: 0, idleStopMs: 0, cursor: false, region: REGION_ARG, control: true, ...o })
  servers.push(srv)
  return srv
}

/** Opens the page and waits for its picture and for control. */
async function openControlled(srv) {
  const page = await browser.open(srv.url)
  await waitForPicture(page, { width: REGION.width, height: REGION.height, timeoutMs: 30000 })
  await page
    .waitForFunction(() => window.stripecast.control?.granted === true, null, { timeout: 30000, polling: 50 })
    .catch(async (e) => {
      throw new Error(`the page did not get control: ${e.message} ${JSON.stringify(await pageState(page))}`)
    })
  return page
}

before(async () => {
  await requireChromium()
  xvfb = await startXvfb({ width: SW, height: SH })
  painter = await openPainter(xvfb.display)
  await painter.fill(0, 0, SW, SH, '404850')
  browser = await launchChromium()
})

after(async () => {
  for (const s of servers) await s.close().catch(() => {})
  await browser?.close()
  await painter?.close()
  await xvfb?.stop()
})

describe('control in Chromium: what the page sends', () => {
  /** An InputInjector stand-in that records its calls. */
  function recorder() {
    const calls = []
    class Recorder {
      constructor() {
        this.region = { ...REGION }
      }
      pointerMove(x, y) {
        calls.push(['move', x, y])
      }
      pointerButton(b, down) {
        calls.push(['button', b, down])
      }
      scroll(dx, dy) {
        calls.push(['scroll', dx, dy])
      }
      key(k, down) {
        calls.push(['key', k, down])
      }
      type(t) {
        calls.push(['type', t])
      }
      releaseAll() {
        calls.push(['releaseAll'])
      }
      close() {}
    }
    return { Recorder, calls }
  }
  const until = async (fn, what, ms = 30000) => {
    const end = Date.now() + ms
    while (!fn()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
      await new Promise((r) => setTimeout(r, 20))
    }
  }

  it('clicks map through CSS scaling and letterboxing; text goes as text, shortcuts as keys; a second page is refused', async () => {
    const { Recorder, calls } = recorder()
    const pasted = []
    class Clip {
      constructor({ maxBytes }) {
        this.maxBytes = maxBytes
      }
      write(text) {
        pasted.push(text)
        calls.push(['clipboard', text])
      }
      close() {}
    }
    const srv = await serve({ InputInjector: Recorder, Clipboard: Clip })
    const page = await openControlled(srv)
    try {
      // left click on region pixel (37, 211), right click on (479, 0), a click in the letterbox
      // band left of the picture lands on its edge
      await page.mouse.click(...cssOf(37, 211))
      await page.mouse.click(...cssOf(479, 0), { button: 'right' })
      await page.mouse.click(10, cssOf(0, 100)[1])
      await until(() => calls.filter((c) => c[0] === 'button').length === 6, 'six button events')
      const buttons = calls.filter((c) => c[0] === 'button' || c[0] === 'move')
      assert.deepEqual(
        buttons.filter((c, i) => c[0] === 'button' || buttons[i + 1]?.[0] === 'button'),
        [
          ['move', 37, 211], ['button', 1, true], ['move', 37, 211], ['button', 1, false],
          ['move', 479, 0], ['button', 3, true], ['move', 479, 0], ['button', 3, false],
          ['move', 0, 100], ['button', 1, true], ['move', 0, 100], ['button', 1, false],
        ],
      )

      calls.length = 0
      await page.keyboard.type(TEXT)
      await until(() => calls.filter((c) => c[0] === 'type').map((c) => c[1]).join('') === TEXT, `the text typed: ${JSON.stringify(calls)}`)
      assert.deepEqual(calls.filter((c) => c[0] !== 'type'), [], 'typing sends nothing but text')

      calls.length = 0
      await page.keyboard.press('Control+a')
      await page.keyboard.press('Shift+ArrowLeft')
      await page.keyboard.press('Enter')
      await until(() => calls.length >= 10, `keys: ${JSON.stringify(calls)}`)
      assert.deepEqual(calls, [
        ['key', 'Control', true], ['key', 'a', true], ['key', 'a', false], ['key', 'Control', false],
        ['key', 'Shift', true], ['key', 'ArrowLeft', true], ['key', 'ArrowLeft', false], ['key', 'Shift', false],
        ['key', 'Enter', true], ['key', 'Enter', false],
      ])

      calls.length = 0
      await page.mouse.move(...cssOf(200, 100))
      await page.mouse.wheel(0, 250) // 2.5 steps: 2 now, the half kept
      await page.mouse.wheel(0, 60)
      await until(() => calls.filter((c) => c[0] === 'scroll').length === 2, `scrolls: ${JSON.stringify(calls)}`)
      assert.deepEqual(calls.filter((c) => c[0] === 'scroll'), [['scroll', 0, 2], ['scroll', 0, 1]])
      assert.deepEqual(calls.find((c) => c[0] === 'move'), ['move', 200, 100], 'the pointer is where the wheel turns')

      // a paste (as from the browser's menu): the text goes to the X clipboard, then Ctrl+V
      calls.length = 0
      await page.evaluate(() => {
        const data = new DataTransfer()
        data.setData('text/plain', 'pasted ünïcode')
        window.stripecast.control.input.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }))
      })
      await until(() => calls.length >= 5, `paste: ${JSON.stringify(calls)}`)
      assert.deepEqual(calls, [['clipboard', 'pasted ünïcode'], ['key', 'Control', true], ['key', 'v', true], ['key', 'v', false], ['key', 'Control', false]])
      // Ctrl+V typed: the V waits for the paste event (or 100 ms), so X pastes the new text
      await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(srv.url).origin })
      await page.evaluate(() => navigator.clipboard.writeText('second'))
      calls.length = 0
      await page.keyboard.down('Control')
      await page.keyboard.down('v')
      await page.keyboard.up('v')
      await page.keyboard.up('Control')
      await until(() => calls.length >= 5, `Ctrl+V: ${JSON.stringify(calls)}`)
      const clipAt = calls.findIndex((c) => c[0] === 'clipboard')
      assert.deepEqual(calls.slice(clipAt), [['clipboard', 'second'], ['key', 'v', true], ['key', 'v', false], ['key', 'Control', false]], JSON.stringify(calls))
      assert.deepEqual(calls[0], ['key', 'Control', true])

      // a second page views but is refused control
      const other = await browser.open(srv.url)
      try {
        await other.waitForFunction(() => window.stripecast.control && !window.stripecast.control.granted && window.stripecast.control.free === false, null, { timeout: 30000 })
        assert.equal(srv.control.holder !== null, true)
        assert.equal(srv.control.sessionCount, 2)
      } finally {
        await other.close()
      }

      // leaving the page releases whatever is held
      calls.length = 0
      await page.mouse.move(...cssOf(10, 10))
      await page.mouse.down()
      await page.keyboard.down('Control')
      await until(() => calls.some((c) => c[0] === 'key' && c[2]), 'Control down')
    } finally {
      await page.close()
    }
    await until(() => srv.control.holder === null, 'control freed when the page closed')
    assert.deepEqual(calls.at(-1), ['releaseAll'])
  })
})

describe('control in Chromium: through the X server', () => {
  const WIN = { x: 150, y: 100, w: 400, h: 250 } // xpaint's input window, root coordinates
  const toRegion = (rx, ry) => [rx - REGION.x, ry - REGION.y]
  let tmp

  before(() => {
    tmp = mkdtempSync(join(tmpdir(), 'stripecast-control-'))
  })
  after(() => rmSync(tmp, { recursive: true, force: true }))

  function setLayout(layout) {
    try {
      execFileSync('setxkbmap', ['-display', xvfb.display, layout], { stdio: ['ignore', 'ignore', 'pipe'] })
    } catch (e) {
      if (e.code === 'ENOENT') throw new Error('setxkbmap not found: the layout tests need it (Debian package x11-xkb-utils; scripts/setup.sh installs it)')
      throw new Error(`setxkbmap ${layout} failed: ${e.stderr ?? e.message}`)
    }
    const query = execFileSync('setxkbmap', ['-display', xvfb.display, '-query'], { encoding: 'utf8' })
    assert.match(query, new RegExp(`^layout:\\s+${layout}$`, 'm'), `the X layout is now ${layout}`)
  }

  /** The text of the key presses logged from line `from` on. */
  const typed = (events) => events.filter((e) => e.ev === 'key' && e.down && e.text).map((e) => e.text).join('')

  /** Columns of row y (region coordinates) between x0 and x1 that are yellow (ffff00). */
  async function yellowColumns(page, y, x0, x1) {
    return page.evaluate(
      ({ y, x0, x1 }) => {
        const d = window.stripecast.client.canvas.getContext('2d').getImageData(x0, y, x1 - x0, 1).data
        let n = 0
        for (let i = 0; i < d.length; i += 4) if (d[i] > 180 && d[i + 1] > 180 && d[i + 2] < 110) n++
        return n
      },
      { y, x0, x1 },
    )
  }
  /** The same in the X server's own pixels. */
  async function yellowColumnsTruth(y, x0, x1) {
    const b = await painter.dump(x0 + REGION.x, y + REGION.y, x1 - x0, 1)
    let n = 0
    for (let i = 0; i < b.length; i += 4) if (b[i + 2] > 180 && b[i + 1] > 180 && b[i] < 110) n++
    return n
  }

  it('a click reaches the X client at the right root coordinates and its red square comes back in the stream; text typed on a US and a French X layout arrives exactly; a paste sets the X CLIPBOARD, then Ctrl+V', async () => {
    const readLog = (path) => painter.readInputLog(path)
    setLayout('us')
    const logPath = join(tmp, 'input.jsonl')
    await painter.inputWindow(WIN.x, WIN.y, WIN.w, WIN.h, '203040')
    await painter.inputLog(logPath)
    const srv = await serve({}) // the addon's InputInjector and Clipboard
    const page = await openControlled(srv)
    try {
      // a click on root (350, 200): region (250, 140), drawn at 1.333x with an 80 px letterbox
      const [cx, cy] = toRegion(350, 200)
      await page.mouse.click(...cssOf(cx, cy))
      const deadline = Date.now() + 30000
      let presses = []
      while (!presses.length && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50))
        presses = (await readLog(logPath)).filter((e) => e.ev === 'button' && e.down)
      }
      assert.equal(presses.length, 1, `one press logged: ${JSON.stringify(await readLog(logPath))}`)
      assert.equal(presses[0].button, 1)
      assert.deepEqual([presses[0].x, presses[0].y], [350, 200], `the press at root 350,200: ${JSON.stringify(presses[0])}`)
      // xpaint draws a 9x9 red square centred on the press: the stream shows it there
      await waitForPixel(page, cx, cy, 'ff0000', { timeoutMs: 30000 }).catch(async (e) => {
        throw new Error(`no red square at ${cx},${cy} in the canvas: ${e.message} ${JSON.stringify(await pageState(page))}`)
      })
      await waitForPixel(page, cx - 3, cy + 3, 'ff0000', { timeoutMs: 5000 })
      await waitForPixel(page, cx - 8, cy, '203040', { timeoutMs: 5000 })

      const row = WIN.y + 10 + 6 - REGION.y // the middle of the first line of typed blocks
      const x0 = WIN.x - REGION.x
      const x1 = x0 + WIN.w
      let expected = ''
      for (const layout of ['us', 'fr']) {
        setLayout(layout)
        const before = (await readLog(logPath)).length
        await page.keyboard.type(TEXT)
        expected += TEXT
        let events = []
        const end = Date.now() + 30000
        while (Date.now() < end) {
          events = (await readLog(logPath)).slice(before)
          if (typed(events).length >= TEXT.length) break
          await new Promise((r) => setTimeout(r, 50))
        }
        assert.equal(typed(events), TEXT, `${layout}: the X client got exactly the text (${JSON.stringify(events.filter((e) => e.ev === 'key').slice(0, 40))})`)
        // and the yellow blocks it drew for them come back in the stream
        const truth = await yellowColumnsTruth(row, x0, x1)
        assert.ok(truth >= 6 * [...expected].length - 6, `${layout}: xpaint drew a block per character (${truth} yellow columns for ${[...expected].length} characters)`)
        let shown = -1
        const end2 = Date.now() + 30000
        while (Date.now() < end2 && Math.abs((shown = await yellowColumns(page, row, x0, x1)) - truth) > 4) await painter.sync()
        assert.ok(Math.abs(shown - truth) <= 4, `${layout}: the canvas shows the typed blocks: ${shown} yellow columns, the screen ${truth}`)
      }

      // paste: the page's clipboard text becomes the X CLIPBOARD (read by another X client,
      // xclip), then Ctrl+V reaches the X application
      await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(srv.url).origin })
      const PASTE = 'pasted ünïcode ✓'
      await page.evaluate((t) => navigator.clipboard.writeText(t), PASTE)
      const before = (await readLog(logPath)).length
      await page.keyboard.press('Control+v')
      let keys = []
      const end = Date.now() + 30000
      while (Date.now() < end && keys.filter((e) => !e.down).length < 2) {
        await new Promise((r) => setTimeout(r, 50))
        keys = (await readLog(logPath)).slice(before).filter((e) => e.ev === 'key')
      }
      assert.deepEqual(
        keys.map((e) => [e.down, e.keysym]),
        [[true, 0xffe3], [true, 0x76], [false, 0x76], [false, 0xffe3]],
        `Control_L, v pressed and released in X: ${JSON.stringify(keys)}`,
      )
      let clip
      try {
        clip = execFileSync('xclip', ['-display', xvfb.display, '-selection', 'clipboard', '-o'], { encoding: 'utf8', timeout: 5000 })
      } catch (e) {
        if (e.code === 'ENOENT') throw new Error('xclip not found: the paste test reads the X clipboard with it (Debian package xclip; scripts/setup.sh installs it)')
        throw e
      }
      assert.equal(clip, PASTE, 'the X CLIPBOARD holds the pasted text')
    } finally {
      await page.close()
      setLayout('us')
    }
    // the page closed: nothing stays pressed in the X server
    const end = Date.now() + 30000
    while (srv.control.holder !== null && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
    assert.equal(srv.control.holder, null)
    await painter.inputState()
    const state = (await readLog(logPath)).filter((e) => e.ev === 'state').at(-1)
    assert.deepEqual({ keys: state?.keys, buttons: state?.buttons }, { keys: [], buttons: 0 }, 'nothing held in X after the page closed')
  })
})
