// Streams an Electron window rendered offscreen (no X server, no visible window) to browsers:
// each `paint` event's bitmap goes to a ScreenCapture made by fromFrames(), served by the
// screen-to-browser example server. Not run by `npm test` (Electron's npm package downloads
// its own binary); see README.md here.
//
//   npm install electron && npx electron examples/electron-offscreen/main.mjs [URL]
import { app, BrowserWindow } from 'electron'
import { createRequire } from 'node:module'
import { startServer } from '../screen-to-browser/server.mjs'

const require = createRequire(import.meta.url)
const { ScreenCapture } = require('../../index.js')

const WIDTH = 1280
const HEIGHT = 720
const page = process.argv.find((a) => /^https?:\/\//.test(a)) ?? 'https://example.org/'

app.disableHardwareAcceleration() // offscreen rendering into shared memory bitmaps
app.whenReady().then(async () => {
  const capture = ScreenCapture.fromFrames({ width: WIDTH, height: HEIGHT })
  const win = new BrowserWindow({ width: WIDTH, height: HEIGHT, show: false, webPreferences: { offscreen: true } })
  win.webContents.setFrameRate(60)
  win.webContents.on('paint', (_event, dirty, image) => {
    const size = image.getSize()
    // The bitmap is the window's size at device scale 1 here; skip frames of another size
    // (a resize in progress) rather than throw.
    if (size.width !== WIDTH || size.height !== HEIGHT) return
    capture.pushFrame(image.toBitmap(), { dirty: [dirty] })
  })
  await win.loadURL(page)
  const server = await startServer({ port: 8080, fps: 60, ScreenCapture: function () { return capture } })
  console.log(`streaming ${page}: open ${server.url}`)
})
