// How tall should striped stripes be? Measures stripecast alone on the benchmark's scenes for
// several stripe heights (striped H.264 and JPEG), at 60 fps on a 1920x1080 Xvfb:
//   node bench/stripe-height.mjs [--heights 32,64,128,256,544] [--scenes typing,scroll,video] [--seconds 5]
// Prints, per scene and height: delivered fps, CPU ms per delivered frame, MB/s.
import { createRequire } from 'node:module'
import { startXvfb } from '../tools/xvfb.mjs'
import { startPlayer } from './lib/player.mjs'

const require = createRequire(import.meta.url)
const { ScreenCapture } = require('../index.js')
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? process.argv[i + 1] : dflt
}
const heights = arg('heights', '32,64,128,256,544').split(',').map(Number)
const scenes = arg('scenes', 'typing,scroll,video').split(',')
const modes = arg('modes', 'h264,jpeg').split(',')
const seconds = Number(arg('seconds', '5'))
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const xvfb = await startXvfb({ width: 1920, height: 1080 })
const player = await startPlayer(xvfb.display)
const rows = []
try {
  for (const scene of scenes) {
    for (const mode of modes) {
      for (const stripeHeight of heights) {
        // From the scene's set-up picture every time, so every height sees the same pictures.
        await player.start(scene, 60, { restart: true })
        const cap = new ScreenCapture()
        const frames = new Set()
        let bytes = 0
        let counting = false
        cap.start(
          {
            display: xvfb.display,
            outputMode: mode,
            h264Fullframe: false,
            stripeHeight,
            targetFps: 60,
            captureCursor: false,
            usePaintOverQuality: false,
          },
          (s) => {
            if (!counting) return
            frames.add(s.frameId)
            bytes += s.size
          },
        )
        await sleep(1500)
        counting = true
        const cpu0 = process.cpuUsage()
        const t0 = performance.now()
        await sleep(seconds * 1000)
        const cpu = process.cpuUsage(cpu0)
        const dt = (performance.now() - t0) / 1000
        counting = false
        cap.stop()
        await player.pause()
        const cpuMs = (cpu.user + cpu.system) / 1000
        const row = {
          scene,
          mode,
          stripeHeight,
          fps: frames.size / dt,
          cpuMsPerFrame: frames.size ? cpuMs / frames.size : null,
          cores: cpuMs / 1000 / dt,
          mbPerS: bytes / dt / 1e6,
        }
        rows.push(row)
        console.log(
          `${scene.padEnd(8)} ${mode.padEnd(5)} ${String(stripeHeight).padStart(4)} rows: ` +
            `${row.fps.toFixed(1)} fps, ${row.cpuMsPerFrame?.toFixed(2) ?? '-'} ms CPU/frame, ` +
            `${row.cores.toFixed(3)} cores, ${row.mbPerS.toFixed(3)} MB/s`,
        )
      }
    }
  }
} finally {
  await player.close()
  await xvfb.stop()
}
