// A marker watched in a page: the page reads one pixel of what the viewer shows on every
// animation frame and reports, with its clock, each time that pixel turns one of `colours`.
// For the glass-to-glass latency benches (draw on X -> seen in the page).

/**
 * Starts watching (x, y) in `page`: the `window.stripecast.client` canvas, or with `video` the
 * `window.stripecast.link.video` element. `next(i)` resolves with the page time
 * (`performance.timeOrigin + now()`) at which the pixel next turns `colours[i]`, or null after
 * `timeoutMs`; arm it before drawing.
 * @param {import('playwright-core').Page} page
 * @param {{x: number, y: number, colours: string[], video?: boolean}} o colours as RRGGBB
 */
export async function watchMarker(page, { x, y, colours, video = false }) {
  let waiter = null // { colour, resolve }
  await page.exposeFunction('__markerSeen', (idx, t) => {
    if (waiter && waiter.colour === idx) waiter.resolve(t)
  })
  await page.evaluate(
    ({ x, y, colours, video }) => {
      const want = colours.map((c) => [parseInt(c.slice(0, 2), 16), parseInt(c.slice(2, 4), 16), parseInt(c.slice(4, 6), 16)])
      // a <video> is read through a 1x1 canvas; the client's canvas directly
      const probe = document.createElement('canvas')
      probe.width = probe.height = 1
      const pctx = probe.getContext('2d', { willReadFrequently: true })
      const read = video
        ? () => {
            pctx.drawImage(window.stripecast.link.video, x, y, 1, 1, 0, 0, 1, 1)
            return pctx.getImageData(0, 0, 1, 1).data
          }
        : () => window.stripecast.client.canvas.getContext('2d').getImageData(x, y, 1, 1).data
      let last = -1
      const tick = () => {
        const p = read()
        let idx = -1
        want.forEach((w, i) => {
          if (Math.abs(p[0] - w[0]) + Math.abs(p[1] - w[1]) + Math.abs(p[2] - w[2]) < 60) idx = i
        })
        if (idx >= 0 && idx !== last) {
          last = idx
          window.__markerSeen(idx, performance.timeOrigin + performance.now())
        }
        requestAnimationFrame(tick)
      }
      requestAnimationFrame(tick)
    },
    { x, y, colours, video },
  )
  return {
    next(colour, timeoutMs = 2000) {
      return new Promise((resolve) => {
        const timer = setTimeout(() => ((waiter = null), resolve(null)), timeoutMs)
        waiter = {
          colour,
          resolve: (t) => {
            clearTimeout(timer)
            waiter = null
            resolve(t)
          },
        }
      })
    },
  }
}

/** The colours the marker alternates between (RRGGBB). */
export const MARKER_COLOURS = ['e02020', '20c040']

/** The 64x64 marker at the centre of a W x H screen. */
export function markerRect(W, H) {
  return { x: Math.floor(W / 2) - 32, y: Math.floor(H / 2) - 32, w: 64, h: 64 }
}

/** The benches' scene: a title bar, a page of text, and the marker in MARKER_COLOURS[1]. */
export async function drawMarkerScene(p, W, H, title) {
  const m = markerRect(W, H)
  await p.fill(0, 0, W, H, 'dcdce0')
  await p.fill(0, 0, W, 28, '2c3e50')
  await p.text(10, 8, 'ffffff', title)
  await p.fill(40, 60, W / 2 - 80, H - 120, 'ffffff')
  for (let y = 70; y < H - 80; y += 16) await p.text(50, y, '202020', 'Lorem ipsum dolor sit amet, consectetur adipiscing elit 0123456789')
  await p.fill(m.x, m.y, m.w, m.h, MARKER_COLOURS[1])
}
