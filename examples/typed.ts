// A typed example: captures the X screen ($DISPLAY) for two seconds with the async iterator,
// prints a line per second and the capture's counters at the end.
//
//   npm run example:typed      # builds what is missing, compiles this file, runs it (Node >= 20)
//   npx tsc -p tsconfig.json   # type-check only
//
// (It is compiled into target/typed, inside this package, so `'stripecast'` resolves to it by
// its own name.)
import { ScreenCapture } from 'stripecast'
import type { CaptureSettings, CaptureStats, StripeEncodeResult } from 'stripecast'

const SECONDS = 2

// String literal names where the API has them; anything else is a compile error.
const settings: CaptureSettings = {
  outputMode: 'jpeg',
  jpegQuality: 70,
  jpegSubsampling: '420',
  targetFps: 30,
  captureCursor: true,
  watermarkLocationEnum: 'none',
  maxQueuedStripes: 256,
}

interface Second {
  stripes: number
  bytes: number
  frames: Set<number>
  paintOvers: number
}

const emptySecond = (): Second => ({ stripes: 0, bytes: 0, frames: new Set(), paintOvers: 0 })

function describeStats(s: CaptureStats): string {
  return [
    `frames captured ${s.framesCaptured} (with changes ${s.framesWithChanges}, skipped ${s.framesSkipped})`,
    `stripes delivered ${s.stripesDelivered} (${(s.bytesDelivered / 1024).toFixed(1)} KiB, dropped ${s.stripesDropped})`,
    `latency p50 ${s.latencyP50Ms.toFixed(1)} ms, p99 ${s.latencyP99Ms.toFixed(1)} ms`,
    `capture ${s.captureMs.toFixed(0)} ms, encode ${s.encodeMs.toFixed(0)} ms`,
  ].join('\n')
}

async function main(): Promise<number> {
  const capture = new ScreenCapture()
  let iterator: AsyncIterableIterator<StripeEncodeResult>
  try {
    iterator = capture.stripes(settings, {
      onError: (error: Error) => console.error('non-fatal capture error:', error.message),
    })
  } catch (error) {
    // Bad settings (ERR_INVALID_SETTING) or no X display (ERR_DISPLAY) are thrown here.
    const e = error as Error & { code?: string }
    console.error(`cannot start: ${e.code ?? e.name}: ${e.message}`)
    return 1
  }

  // A still screen sends nothing, so the loop is ended from outside after SECONDS.
  const timer = setTimeout(() => void iterator.return?.(), SECONDS * 1000)
  const started = performance.now()
  let second = emptySecond()
  const ticker = setInterval(() => {
    report(second)
    second = emptySecond()
  }, 1000)
  let width = 0
  let height = 0
  try {
    for await (const stripe of iterator) {
      width = stripe.width
      height = Math.max(height, stripe.stripeYStart + stripe.stripeHeight)
      second.stripes++
      second.bytes += stripe.size
      second.frames.add(stripe.frameId)
      if (stripe.isPaintOver) second.paintOvers++
    }
  } catch (error) {
    // A lost X connection (ERR_CAPTURE) ends the loop with an error.
    const e = error as Error & { code?: string }
    console.error(`capture failed: ${e.code ?? e.name}: ${e.message}`)
    return 1
  } finally {
    clearTimeout(timer)
    clearInterval(ticker)
  }
  if (second.stripes > 0) report(second)

  // Leaving the loop stopped the capture; its counters stay readable.
  console.log(`captured ${width}x${height} for ${((performance.now() - started) / 1000).toFixed(1)} s; capturing: ${capture.isCapturing}`)
  console.log(describeStats(capture.stats()))
  return 0
}

function report(s: Second): void {
  console.log(
    `${s.frames.size} frames, ${s.stripes} stripes (${s.paintOvers} paint-over), ` +
      `${((s.bytes * 8) / 1e6).toFixed(2)} Mbit/s`,
  )
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    console.error(error)
    process.exitCode = 1
  },
)
