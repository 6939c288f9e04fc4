#!/usr/bin/env node
// Streams frames that this program renders itself (no X server): ScreenCapture.fromFrames()
// fed by pushFrame(), served to browsers by the screen-to-browser example server. An Electron
// app does the same with its offscreen window's `paint` events (see examples/electron-offscreen).
//
//   node examples/frames-from-js.mjs [--port 8080] [--fps 30]
//   # then open the printed URL
//
// In a program: `const { url, close } = await startFramesDemo({ port: 0 })`.
import { createRequire } from 'node:module'
import { pathToFileURL } from 'node:url'
import { startServer } from './screen-to-browser/server.mjs'

const require = createRequire(import.meta.url)
const { ScreenCapture } = require('../index.js')

export const WIDTH = 1280
export const HEIGHT = 720

/**
 * Draws picture `t` into `frame` (BGRA, WIDTH x HEIGHT): a still gradient with a 160x90 block
 * that moves 8 pixels right each picture. Returns the rectangle that changed.
 */
export function render(frame, t) {
  const block = (k) => ({ x: (k * 8) % (WIDTH - 160), y: 300, width: 160, height: 90 })
  const paint = ({ x, y, width, height }, inside) => {
    for (let r = y; r < y + height; r++) {
      for (let c = x; c < x + width; c++) {
        const i = (r * WIDTH + c) * 4
        if (inside) frame.set([40, 60, 230, 255], i)
        else frame.set([(c * 255) / WIDTH, (r * 255) / HEIGHT, 96, 255], i)
      }
    }
  }
  if (t === 0) paint({ x: 0, y: 0, width: WIDTH, height: HEIGHT }, false)
  const [old, now] = [block(Math.max(0, t - 1)), block(t)]
  if (t > 0) paint(old, false)
  paint(now, true)
  const x0 = Math.min(old.x, now.x)
  const x1 = Math.max(old.x + old.width, now.x + now.width)
  return t === 0 ? { x: 0, y: 0, width: WIDTH, height: HEIGHT } : { x: x0, y: 300, width: x1 - x0, height: 90 }
}

/** Starts rendering at `fps` and serving; `close()` stops both. */
export async function startFramesDemo({ port = 8080, fps = 30, host, log } = {}) {
  const capture = ScreenCapture.fromFrames({ width: WIDTH, height: HEIGHT })
  const frame = Buffer.alloc(WIDTH * HEIGHT * 4)
  let t = 0
  capture.pushFrame(frame, { dirty: [render(frame, t++)] })
  const timer = setInterval(() => capture.pushFrame(frame, { dirty: [render(frame, t++)] }), 1000 / fps)
  // The server's hub makes its capture with `new ScreenCapture()`: hand it this one.
  const server = await startServer({ port, host, log, fps, ScreenCapture: function () { return capture } })
  return {
    ...server,
    capture,
    async close() {
      clearInterval(timer)
      await server.close()
      capture.stop()
    },
  }
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const opt = (name, def) => {
    const i = process.argv.indexOf(`--${name}`)
    return i > 0 ? Number(process.argv[i + 1]) : def
  }
  const demo = await startFramesDemo({ port: opt('port', 8080), fps: opt('fps', 30), log: (m) => console.log(m) })
  console.log(`open ${demo.url}`)
  process.on('SIGINT', () => demo.close().then(() => process.exit(0)))
}
