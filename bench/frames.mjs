#!/usr/bin/env node
// CPU per frame of a capture fed by pushFrame() (ScreenCapture.fromFrames) against the same
// content read from an X screen (XShm + XDamage), 1920x1080 at 60 fps with a small change each
// frame: a page of text on which a 10x16 "glyph" is typed every frame, as an editor would show.
//
//   node bench/frames.mjs [--seconds 8] [--rounds 3] [--codecs jpeg,h264]
//
// Each measurement runs in its own child process (this file with --child), which counts its own
// CPU time (user + system) over the window and divides by the distinct frames delivered. In the
// X11 run the parent draws each glyph with xpaint (the X server's and xpaint's CPU are not the
// capture's); in the frames run the child draws the glyph into its own buffer and pushes it
// with its dirty rectangle. So that both measure the capture path and not the application, the
// X11 child runs the very same 60 Hz timer drawing into a buffer of its own, without pushing:
// an application that renders its frames pays that either way.
// Writes bench/frames-results.md.
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'

const W = 1920
const H = 1080
const FPS = 60
const arg = (name, def) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : def
}

/** Where glyph k of the typing goes and its colour (BGR), the same in both runs. */
function glyph(k) {
  const perLine = 150
  const line = Math.floor(k / perLine) % 40
  return { x: 60 + (k % perLine) * 12, y: 120 + line * 20, w: 10, h: 16, bgr: [(k * 37) & 255, (k * 91) & 255, 200] }
}

const cpuSeconds = () => {
  const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')
  return (Number(f[11]) + Number(f[12])) / 100
}

async function child() {
  const [, , , source, codec, seconds, page] = process.argv
  const require = createRequire(import.meta.url)
  const { ScreenCapture } = require('../index.js')
  const settings = { outputMode: codec, targetFps: FPS, captureCursor: false }
  const frames = new Set()
  let counting = false
  const onStripe = (s) => {
    if (counting) frames.add(s.frameId)
  }
  let cap
  const buf = readFileSync(page)
  let k = 0
  const draw = (push) => {
      const g = glyph(k++)
      for (let y = g.y; y < g.y + g.h; y++) {
        for (let x = g.x; x < g.x + g.w; x++) buf.set(g.bgr, (y * W + x) * 4)
      }
      if (push) cap.pushFrame(buf, { dirty: [{ x: g.x, y: g.y, width: g.w, height: g.h }] })
  }
  // What the application's drawing costs alone, at 60 Hz, to report apart.
  const d0 = cpuSeconds()
  const alone = setInterval(() => draw(false), 1000 / FPS)
  await new Promise((r) => setTimeout(r, 2000))
  clearInterval(alone)
  process.stdout.write(`draw ${(((cpuSeconds() - d0) * 1000) / (2 * FPS)).toFixed(3)}\n`)
  if (source === 'frames') {
    cap = ScreenCapture.fromFrames({ width: W, height: H })
    cap.pushFrame(buf)
  } else {
    cap = new ScreenCapture()
  }
  cap.start(settings, onStripe)
  const timer = setInterval(() => draw(source === 'frames'), 1000 / FPS)
  await new Promise((r) => setTimeout(r, 1500))
  counting = true
  const c0 = cpuSeconds()
  await new Promise((r) => setTimeout(r, Number(seconds) * 1000))
  const c1 = cpuSeconds()
  counting = false
  clearInterval(timer)
  cap.stop()
  process.stdout.write(`result ${frames.size} ${((c1 - c0) * 1000) / Math.max(1, frames.size)}\n`)
}

function runChild(argv, env) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [new URL(import.meta.url).pathname, '--child', ...argv], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('exit', (code) => {
      const m = /result (\d+) ([\d.]+)/.exec(out)
      if (code !== 0 || !m) return reject(new Error(`child ${argv.join(' ')} exited ${code}: ${out}`))
      resolve({ frames: Number(m[1]), msPerFrame: Number(m[2]), drawMs: Number(/draw ([\d.]+)/.exec(out)?.[1] ?? 0) })
    })
  })
}

async function main() {
  const { startXvfb } = await import('../tools/xvfb.mjs')
  const { openPainter } = await import('../tools/xpaint.mjs')
  const seconds = Number(arg('seconds', 8))
  const rounds = Number(arg('rounds', 3))
  const codecs = arg('codecs', 'jpeg,h264').split(',')
  const x = await startXvfb({ width: W, height: H, depth: 24 })
  const painter = await openPainter(x.display)
  // The page: grey, with lines of text in a few colours.
  await painter.fill(0, 0, W, H, 'e8e8e8')
  for (let i = 0; i < 50; i++) {
    await painter.text(60, 100 + i * 20, ['202020', '3050a0', 'a03030'][i % 3], `${i}: const value = compute(input, options) // a line of the page being edited`.repeat(2))
  }
  const page = join(mkdtempSync(join(tmpdir(), 'frames-bench-')), 'page.bgrx')
  writeFileSync(page, await painter.dump(0, 0, W, H))
  const results = {}
  for (let r = 0; r < rounds; r++) {
    for (const codec of codecs) {
      const order = r % 2 ? ['frames', 'x11'] : ['x11', 'frames']
      for (const source of order) {
        await painter.cmd(`image 0 0 ${W} ${H} ${page}`)
        let typing = null
        if (source === 'x11') {
          let k = 0
          typing = setInterval(() => {
            const g = glyph(k++)
            painter.fill(g.x, g.y, g.w, g.h, g.bgr.slice().reverse().map((v) => v.toString(16).padStart(2, '0')).join('')).catch(() => {})
          }, 1000 / FPS)
        }
        const res = await runChild([source, codec, String(seconds), page], { DISPLAY: x.display })
        if (typing) clearInterval(typing)
        ;(results[`${codec} ${source}`] ??= []).push(res)
        console.log(`round ${r + 1} ${codec} ${source}: ${res.frames} frames, ${res.msPerFrame.toFixed(3)} ms/frame (the app's drawing alone ${res.drawMs.toFixed(3)} ms)`)
      }
    }
  }
  await painter.close?.()
  await x.stop?.()
  const med = (a) => a.slice().sort((p, q) => p - q)[a.length >> 1]
  const lines = [
    '# Frames from JS against X11: CPU per frame',
    '',
    `${new Date().toISOString()} · ${cpus()[0]?.model ?? 'cpu'} · ${cpus().length} cores · Node ${process.version} · ${rounds} rounds of ${seconds} s, alternating order`,
    '',
    'A 1920x1080 page of text with a 10x16 glyph typed every frame at 60 fps; CPU (user + system) of the capturing process per distinct frame delivered, median of the rounds. Both processes run the same 60 Hz JavaScript timer that draws the glyph into a buffer (an application rendering its frames); only the frames run hands it to pushFrame(), which copies the glyph\'s rows. "app drawing": that timer alone, per tick.',
    '',
    '| codec | X11 (XShm + XDamage) | frames (pushFrame) | app drawing | frames / X11 | frames delivered (X11 / frames) |',
    '|---|---|---|---|---|---|',
  ]
  for (const codec of codecs) {
    const a = results[`${codec} x11`]
    const b = results[`${codec} frames`]
    const [ma, mb] = [med(a.map((v) => v.msPerFrame)), med(b.map((v) => v.msPerFrame))]
    lines.push(`| ${codec} | ${ma.toFixed(3)} ms | ${mb.toFixed(3)} ms | ${med(b.map((v) => v.drawMs)).toFixed(3)} ms | ${(mb / ma).toFixed(2)}x | ${med(a.map((v) => v.frames))} / ${med(b.map((v) => v.frames))} |`)
  }
  writeFileSync(new URL('./frames-results.md', import.meta.url), lines.join('\n') + '\n')
  console.log(lines.join('\n'))
  process.exit(0)
}

if (process.argv[2] === '--child') await child()
else await main()
