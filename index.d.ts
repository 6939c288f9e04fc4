// The public types: everything generated from the Rust sources (native.d.ts), plus the methods
// index.js adds in plain JavaScript.
export * from './native'
import type { CaptureSettings, StripeEncodeResult } from './native'

export interface StripesOptions {
  /** Receives the errors that do not end the capture (`ERR_ENCODE`, `ERR_ENCODER_FALLBACK`). */
  onError?: (error: Error) => void
}

declare module './native' {
  interface ScreenCapture {
    /**
     * Starts the capture and yields its stripes as an async iterable. Stripes not yet pulled
     * count as queued (`maxQueuedStripes`): a loop that stops pulling makes the capture skip
     * frames instead of growing memory. Leaving the loop stops the capture. An error that ends
     * the capture (`error.fatal`: `ERR_CAPTURE`, `ERR_SCREEN_CHANGED`) is thrown from the loop.
     *
     * ```ts
     * for await (const stripe of new ScreenCapture().stripes({ outputMode: 'jpeg' })) ws.send(stripe.data)
     * ```
     */
    stripes(settings: CaptureSettings, options?: StripesOptions): AsyncIterableIterator<StripeEncodeResult>
  }
}
