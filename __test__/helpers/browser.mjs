// Headless Chromium for end-to-end tests: the Debian package `chromium` (/usr/bin/chromium)
// driven by playwright-core, with a fresh profile per launch.
//
//   const browser = await launchChromium()
//   const page = await browser.open(url)
//   await waitForPicture(page, { width: 640, height: 360 })
//   const img = await readCanvas(page)     // { width, height, format: 'rgba', data }
//   await browser.close()
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium'

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  // a hidden or occluded page must keep decoding and painting
  '--disable-background-timer-throttling',
  '--disable-renderer-backgrounding',
  '--disable-backgrounding-occluded-windows',
]

/** Throws a clear error when Chromium or playwright-core is missing (the tests fail, not skip). */
export async function requireChromium() {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests need it. ` +
        `Install the Debian package: apt-get install -y chromium (or set CHROMIUM_PATH).`,
    )
  }
  try {
    return (await import('playwright-core')).chromium
  } catch (e) {
    throw new Error(`playwright-core is not installed (npm ci): ${e.message}`)
  }
}

/**
 * Launches headless Chromium with a fresh user-data-dir.
 * @param {object} [o]
 * @param {string} [o.executablePath] another way to start it (e.g. inside a network namespace,
 *   helpers/lossy-net.mjs); Chromium itself must still be at CHROMIUM_PATH
 * @param {string[]} [o.args] more command-line switches
 * @returns {Promise<{context, open(url: string): Promise<import('playwright-core').Page>, close(): Promise<void>}>}
 */
export async function launchChromium({ executablePath = CHROMIUM_PATH, args = [] } = {}) {
  const chromium = await requireChromium()
  const profile = mkdtempSync(join(tmpdir(), 'stripecast-chromium-'))
  let context
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath,
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
      viewport: { width: 800, height: 480 },
      timeout: 30000,
    })
  } catch (e) {
    rmSync(profile, { recursive: true, force: true })
    throw e
  }
  return {
    context,
    /** Opens url in a new page; page.errors collects console errors and page exceptions. */
    async open(url) {
      const page = await context.newPage()
      page.errors = []
      page.on('console', (m) => {
        if (m.type() === 'error') page.errors.push(m.text())
      })
      page.on('pageerror', (e) => page.errors.push(String(e)))
      await page.goto(url)
      return page
    },
    async close() {
      try {
        await context.close()
      } finally {
        rmSync(profile, { recursive: true, force: true })
      }
    },
  }
}

/**
 * Waits until the page's stripecast client drew a picture of width x height and then nothing
 * new for quietMs (the capture sends nothing more for a still screen).
 */
export async function waitForPicture(page, { width, height, quietMs = 400, timeoutMs = 15000 } = {}) {
  try {
    await page.waitForFunction(
      ({ width, height, quietMs }) => {
        const sc = window.stripecast
        if (!sc) return false
        const c = sc.client.canvas
        const s = sc.client.stats
        return c.width === width && c.height === height && s.stripesDrawn > 0 && performance.now() - s.lastDrawTime > quietMs
      },
      { width, height, quietMs },
      { timeout: timeoutMs, polling: 50 },
    )
  } catch (e) {
    const state = await pageState(page)
    throw new Error(`no ${width}x${height} picture within ${timeoutMs} ms: ${JSON.stringify(state)}`)
  }
}

/** The client's stats, canvas size and errors, for failure messages. */
export async function pageState(page) {
  const inPage = await page
    .evaluate(() => {
      const sc = window.stripecast
      if (!sc) return { loaded: false }
      return { canvas: [sc.client.canvas.width, sc.client.canvas.height], stats: sc.client.stats, info: sc.info }
    })
    .catch((e) => ({ evaluateFailed: e.message }))
  return { ...inPage, errors: page.errors?.slice(0, 5) }
}

/** Reads the canvas back: { width, height, format: 'rgba', data: Buffer }. */
export async function readCanvas(page) {
  const { width, height, b64 } = await page.evaluate(() => {
    const c = window.stripecast.client.canvas
    const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data
    let s = ''
    for (let i = 0; i < data.length; i += 0x8000) s += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000))
    return { width: c.width, height: c.height, b64: btoa(s) }
  })
  return { width, height, format: 'rgba', data: Buffer.from(b64, 'base64') }
}

/**
 * Waits (polling every animation frame in the page) until the canvas pixel at x, y is within
 * tol of rgb ('RRGGBB').
 */
export async function waitForPixel(page, x, y, rgb, { tol = 24, timeoutMs = 5000 } = {}) {
  const v = parseInt(rgb, 16)
  const want = [(v >> 16) & 255, (v >> 8) & 255, v & 255]
  const handle = await page.waitForFunction(
    ({ x, y, want, tol }) => {
      const c = window.stripecast?.client.canvas
      if (!c || x >= c.width || y >= c.height) return false
      const p = c.getContext('2d').getImageData(x, y, 1, 1).data
      return Math.abs(p[0] - want[0]) <= tol && Math.abs(p[1] - want[1]) <= tol && Math.abs(p[2] - want[2]) <= tol
    },
    { x, y, want, tol },
    { timeout: timeoutMs, polling: 'raf' },
  )
  await handle.dispose()
}
