// One shared ScreenCapture fanned out to many viewers, each with a bounded send queue.
// Used by server.mjs (ws) and ../socketio/server.mjs (socket.io).
//
//   const hub = createHub({ settings: { outputMode: 0, display: ':0' } })
//   const viewer = hub.addViewer({ send(buf) {...}, sendText(s) {...}, bufferedAmount: () => n })
//   viewer.requestKeyframe()   // the browser asked for one
//   viewer.remove()            // the browser left
//
// The capture starts with the first viewer and stops `idleStopMs` after the last one leaves.
// A viewer that joins late gets a key frame at once. A viewer whose transport has more than
// `maxBufferedBytes` waiting is not sent anything more until it drains below `lowWaterBytes`;
// then a key frame is requested and, stripe by stripe, nothing but a key frame is sent until
// that stripe's stream has restarted (an H.264 delta without its references would only show
// garbage). Other viewers never wait for a slow one and memory stays bounded.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** The addon: the package itself (self-reference through package.json "exports"). */
export function loadAddon() {
  return require('stripecast')
}

const KEYFRAME_MIN_INTERVAL_MS = 100 // requests closer together are merged
const KEY_RETRY_MS = 1000 // a stripe still waiting for its key frame after this asks again

export function createHub({
  settings,
  maxBufferedBytes = 8 * 1024 * 1024,
  lowWaterBytes = Math.floor(maxBufferedBytes / 4),
  idleStopMs = 5000,
  log = () => {},
  ScreenCapture,
} = {}) {
  ScreenCapture ??= loadAddon().ScreenCapture
  const viewers = new Set()
  let capture = null
  let info = null
  let idleTimer = null
  let closed = false
  let lastKeyframe = -Infinity
  let keyframeTimer = null
  let pollTimer = null
  const totals = { stripes: 0, bytes: 0, dropped: 0, keyframeRequests: 0, captureStarts: 0, errors: 0 }

  function requestKeyframe() {
    if (!capture) return
    const now = Date.now()
    const wait = lastKeyframe + KEYFRAME_MIN_INTERVAL_MS - now
    if (wait > 0) {
      if (!keyframeTimer) {
        keyframeTimer = setTimeout(() => {
          keyframeTimer = null
          requestKeyframe()
        }, wait)
      }
      return
    }
    lastKeyframe = now
    totals.keyframeRequests++
    capture.requestKeyframe()
  }

  function startCapture() {
    if (capture || closed) return
    const cap = new ScreenCapture()
    info = cap.start(settings, onStripe, onCaptureError)
    capture = cap
    totals.captureStarts++
    log(`capture started: ${info.display} ${info.width}x${info.height}+${info.x}+${info.y}, ${info.encoder}, ${info.stripeCount} stripe(s)`)
    for (const n of info.notes) log(`note: ${n}`)
    for (const v of viewers) v.sendInfo()
  }

  function stopCapture() {
    if (idleTimer) clearTimeout(idleTimer)
    idleTimer = null
    if (!capture) return
    const cap = capture
    capture = null
    cap.stop()
    log('capture stopped')
  }

  function onCaptureError(err) {
    totals.errors++
    log(`capture error ${err.code ?? ''}: ${err.message}`)
    if (capture && !capture.isCapturing) {
      // fatal (the X connection is gone): tell the viewers; the next viewer to join retries
      capture = null
      for (const v of viewers) v.sendText(JSON.stringify({ type: 'error', message: err.message, code: err.code }))
    }
  }

  const taps = new Set()

  function onStripe(stripe) {
    totals.stripes++
    for (const fn of taps) fn(stripe)
    for (const v of viewers) v.offer(stripe)
  }

  // While some viewer is congested, check every 50 ms whether it drained (no stripe may come).
  function ensurePolling() {
    if (pollTimer) return
    pollTimer = setInterval(() => {
      let any = false
      for (const v of viewers) if (v.poll()) any = true
      if (!any) {
        clearInterval(pollTimer)
        pollTimer = null
      }
    }, 50)
    pollTimer.unref?.()
  }

  /**
   * @param {{ send(buf: Buffer): void, sendText(s: string): void, bufferedAmount(): number, close?(): void }} transport
   */
  function addViewer(transport) {
    if (closed) throw new Error('hub is closed')
    if (idleTimer) {
      clearTimeout(idleTimer)
      idleTimer = null
    }
    const stat = { stripes: 0, bytes: 0, dropped: 0 }
    let congested = false
    // null: every stream is in sync. A Set: stripe ys whose stream restarted with a key frame
    // since this viewer (re)joined; other stripes wait for theirs.
    let synced = new Set()
    let waitingSince = Date.now()

    function resync() {
      synced = new Set()
      waitingSince = Date.now()
      requestKeyframe()
    }

    const v = {
      stats: stat,
      sendText(s) {
        try {
          transport.sendText(s)
        } catch {}
      },
      sendInfo() {
        if (!info) return
        v.sendText(
          JSON.stringify({
            type: 'info',
            width: info.width,
            height: info.height,
            stripeHeight: info.stripeHeight,
            stripeCount: info.stripeCount,
            encoder: info.encoder,
            display: info.display,
          }),
        )
      },
      offer(stripe) {
        if (congested) {
          stat.dropped++
          totals.dropped++
          return
        }
        if (transport.bufferedAmount() > maxBufferedBytes) {
          congested = true
          synced = null
          stat.dropped++
          totals.dropped++
          log(`viewer congested (${transport.bufferedAmount()} bytes waiting): dropping until it drains`)
          ensurePolling()
          return
        }
        if (synced) {
          const y = stripe.stripeYStart
          if (stripe.isKeyFrame) {
            synced.add(y)
            if (info && synced.size >= info.stripeCount) synced = null
          } else if (!synced.has(y)) {
            stat.dropped++
            totals.dropped++
            if (Date.now() - waitingSince > KEY_RETRY_MS) {
              waitingSince = Date.now()
              requestKeyframe()
            }
            return
          }
        }
        stat.stripes++
        stat.bytes += stripe.data.length
        totals.bytes += stripe.data.length
        try {
          transport.send(stripe.data)
        } catch {
          // the transport is closing; its close handler removes the viewer
        }
      },
      /** Returns true while still congested. */
      poll() {
        if (!congested) return false
        if (transport.bufferedAmount() > lowWaterBytes) return true
        congested = false
        log('viewer drained: requesting a key frame')
        resync()
        return false
      },
      requestKeyframe() {
        requestKeyframe()
      },
      close() {
        transport.close?.()
      },
      remove() {
        if (!viewers.delete(v)) return
        if (viewers.size === 0 && !closed) {
          if (idleStopMs <= 0) stopCapture()
          else {
            idleTimer = setTimeout(stopCapture, idleStopMs)
            idleTimer.unref?.()
          }
        }
      },
    }
    viewers.add(v)
    if (!capture) {
      try {
        startCapture() // sends the info message; the first frame is a full picture anyway
      } catch (e) {
        viewers.delete(v) // a bad display / settings: the caller reports it
        throw e
      }
    } else {
      v.sendInfo()
      // a late joiner needs a full picture now, not whenever the screen next changes
      requestKeyframe()
    }
    return v
  }

  return {
    addViewer,
    get info() {
      return info
    },
    get capturing() {
      return !!capture
    },
    get viewerCount() {
      return viewers.size
    },
    stats() {
      return { ...totals, viewers: viewers.size, capture: capture ? capture.stats() : null }
    },
    /** Calls fn(stripe) for every stripe the capture delivers (before it is sent); returns a remover. */
    tap(fn) {
      taps.add(fn)
      return () => taps.delete(fn)
    },
    /** Probes the settings once (start + stop) so a bad display fails at startup. */
    probe() {
      const cap = new ScreenCapture()
      info = cap.start(settings, () => {}, () => {})
      cap.stop()
      return info
    },
    close() {
      closed = true
      if (keyframeTimer) clearTimeout(keyframeTimer)
      if (pollTimer) clearInterval(pollTimer)
      stopCapture()
      for (const v of [...viewers]) {
        viewers.delete(v)
        try {
          v.close?.()
        } catch {}
      }
    },
  }
}

/** Parses `WxH+X+Y` (or `WxH`) into capture settings. */
export function parseRegion(s) {
  if (s == null || s === '') return {}
  const m = /^(\d+)x(\d+)(?:\+(\d+)\+(\d+))?$/.exec(String(s).trim())
  if (!m) throw new RangeError(`--region must look like WxH+X+Y (e.g. 1280x720+0+0), got '${s}'`)
  const r = { captureWidth: +m[1], captureHeight: +m[2] }
  if (m[3] !== undefined) {
    r.captureX = +m[3]
    r.captureY = +m[4]
  }
  return r
}

/**
 * Capture settings from the example servers' options.
 * @param {{codec?: string, fps?: number, quality?: number, crf?: number, fullframe?: boolean,
 *   region?: string|object, display?: string, fullcolor?: boolean, cursor?: boolean, capture?: object}} o
 */
export function captureSettings(o) {
  const codec = (o.codec ?? 'jpeg').toLowerCase()
  if (codec !== 'jpeg' && codec !== 'h264') throw new RangeError(`codec must be jpeg or h264, got '${o.codec}'`)
  const s = {
    outputMode: codec === 'jpeg' ? 0 : 1,
    targetFps: o.fps ?? 60,
    captureCursor: o.cursor ?? true,
  }
  if (o.display) s.display = o.display
  // The page's client draws JPEG tiles (a typed glyph: ~1 KB instead of a full-width band).
  if (codec === 'jpeg') s.jpegTiles = o.tiles ?? true
  if (o.quality != null) s.jpegQuality = o.quality
  if (o.crf != null) s.h264Crf = o.crf
  if (o.fullframe != null) s.h264Fullframe = o.fullframe
  if (o.fullcolor != null) s.h264Fullcolor = o.fullcolor
  Object.assign(s, typeof o.region === 'object' && o.region ? o.region : parseRegion(o.region))
  // anything else the addon understands, e.g. { usePaintOverQuality: false }
  Object.assign(s, o.capture ?? {})
  return s
}
