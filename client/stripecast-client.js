// stripecast browser client: draws the stripes a stripecast (or pixelflux) server sends onto a
// <canvas>. Plain ES module, no build step, no dependencies.
//
//   import { createStripeClient, connect } from 'stripecast/client'   // or './stripecast-client.js'
//   const client = createStripeClient({ canvas, onError: console.error })
//   const link = connect('ws://host:8080/ws', client)   // reconnects with exponential backoff
//
// Wire format (all integers big-endian u16):
//   JPEG stripe: 0x03 0x00, frameId, stripeY, then JFIF bytes                 (6-byte header)
//   JPEG tile:   0x03 0x01, frameId, y, x, regionWidth, then JFIF bytes
//                (10-byte header; stripecast's jpegTiles)
//   H.264:       0x04, kind (1 IDR / 0 other), frameId, stripeY, width, height,
//                then Annex-B NAL units, SPS/PPS on every IDR                  (10-byte header)
//   Copy:        0x05 0x00, frameId, x, y, width, height, toX, toY, no payload  (16 bytes;
//                stripecast's scrollCopies: copy that rectangle of the canvas to toX, toY)
// JPEG stripes are decoded with createImageBitmap and drawn at their x (0 unless tiled), y. H.264 goes through
// WebCodecs: one VideoDecoder per stripe y (striped mode: every stripe is its own stream;
// full-frame mode: one stream at y = 0), configured from the SPS of the first IDR. Copies and
// JPEGs are applied in arrival order (a frame's copies come before its stripes).

export const JPEG_HEADER_LENGTH = 6
export const JPEG_TILE_HEADER_LENGTH = 10
export const H264_HEADER_LENGTH = 10
export const COPY_HEADER_LENGTH = 16

/** Frames queued inside one VideoDecoder above which deltas are dropped until the next IDR. */
const MAX_DECODE_QUEUE = 24
/** Decoder failures in a row (no frame decoded in between) after which a stream stops asking for key frames. */
const MAX_DECODER_RETRIES = 3
/** Keyframe requests closer together than this are merged into one. */
const KEYFRAME_REQUEST_INTERVAL_MS = 250

/**
 * Parses a stripe's wire header.
 * @param {Uint8Array} bytes
 * @returns {{kind: 'jpeg', frameId: number, x: number, y: number, regionWidth: number | null, payload: Uint8Array}
 *         | {kind: 'h264', key: boolean, frameId: number, y: number, width: number, height: number, payload: Uint8Array}
 *         | {kind: 'copy', frameId: number, x: number, y: number, width: number, height: number, toX: number, toY: number, payload: Uint8Array}}
 */
export function parseStripeHeader(bytes) {
  if (bytes.length >= JPEG_HEADER_LENGTH && bytes[0] === 0x03 && bytes[1] === 0x00) {
    return {
      kind: 'jpeg',
      frameId: (bytes[2] << 8) | bytes[3],
      x: 0,
      y: (bytes[4] << 8) | bytes[5],
      regionWidth: null, // the JPEG's own width
      payload: bytes.subarray(JPEG_HEADER_LENGTH),
    }
  }
  if (bytes.length >= JPEG_TILE_HEADER_LENGTH && bytes[0] === 0x03 && bytes[1] === 0x01) {
    return {
      kind: 'jpeg',
      frameId: (bytes[2] << 8) | bytes[3],
      x: (bytes[6] << 8) | bytes[7],
      y: (bytes[4] << 8) | bytes[5],
      regionWidth: (bytes[8] << 8) | bytes[9],
      payload: bytes.subarray(JPEG_TILE_HEADER_LENGTH),
    }
  }
  if (bytes.length >= H264_HEADER_LENGTH && bytes[0] === 0x04 && bytes[1] <= 1) {
    return {
      kind: 'h264',
      key: bytes[1] === 1,
      frameId: (bytes[2] << 8) | bytes[3],
      y: (bytes[4] << 8) | bytes[5],
      width: (bytes[6] << 8) | bytes[7],
      height: (bytes[8] << 8) | bytes[9],
      payload: bytes.subarray(H264_HEADER_LENGTH),
    }
  }
  if (bytes.length >= COPY_HEADER_LENGTH && bytes[0] === 0x05 && bytes[1] === 0x00) {
    const u16 = (i) => (bytes[i] << 8) | bytes[i + 1]
    return {
      kind: 'copy',
      frameId: u16(2),
      x: u16(4),
      y: u16(6),
      width: u16(8),
      height: u16(10),
      toX: u16(12),
      toY: u16(14),
      payload: bytes.subarray(COPY_HEADER_LENGTH),
    }
  }
  const head = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')
  throw new Error(`stripecast: not a stripe message (${bytes.length} bytes, starts ${head || 'empty'})`)
}

/**
 * Finds the first SPS (NAL type 7) in an Annex-B byte stream and returns the WebCodecs codec
 * string `avc1.PPCCLL` built from its profile_idc, constraint flags and level_idc, or null.
 * @param {Uint8Array} annexB
 */
export function avcCodecFromAnnexB(annexB) {
  const n = annexB.length
  for (let i = 0; i + 3 < n; i++) {
    // 00 00 01 start code (a 4-byte 00 00 00 01 ends with the same three bytes)
    if (annexB[i] !== 0 || annexB[i + 1] !== 0 || annexB[i + 2] !== 1) continue
    const nal = i + 3
    if ((annexB[nal] & 0x1f) === 7 && nal + 3 < n) {
      const hex = (v) => v.toString(16).padStart(2, '0').toUpperCase()
      return `avc1.${hex(annexB[nal + 1])}${hex(annexB[nal + 2])}${hex(annexB[nal + 3])}`
    }
    i = nal - 1
  }
  return null
}

function toBytes(data) {
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return null
}

/**
 * Creates a client that draws stripes on `canvas`.
 *
 * @param {object} options
 * @param {HTMLCanvasElement|OffscreenCanvas} options.canvas
 * @param {(error: Error) => void} [options.onError] decode or protocol errors (default: console.error)
 * @param {() => void} [options.onNeedKeyframe] the client needs a key frame (a delta arrived for a
 *   decoder that has not seen an IDR, or a decoder failed); send the server a 'keyframe' message.
 *   `connect()` does that by itself.
 * @param {(info: {kind: string, y: number, height: number, frameId: number}) => void} [options.onDraw]
 *   after every stripe drawn
 * @param {boolean} [options.autoResize=true] size the canvas to fit the content
 */
export function createStripeClient({ canvas, onError, onNeedKeyframe, onDraw, autoResize = true } = {}) {
  if (!canvas || typeof canvas.getContext !== 'function') throw new TypeError('createStripeClient: options.canvas must be a canvas')
  const ctx = canvas.getContext('2d', { alpha: false, desynchronized: true })
  const reportError = onError ?? ((e) => console.error('stripecast:', e))
  const keyframeListeners = new Set()
  if (onNeedKeyframe) keyframeListeners.add(onNeedKeyframe)

  const stats = {
    messages: 0,
    bytes: 0,
    jpegStripes: 0,
    jpegTiles: 0, // JPEG stripes in the tile format (x offset), a subset of jpegStripes
    copies: 0, // scroll copies applied
    badCopies: 0, // copies ignored: before any picture, or reaching outside the canvas
    h264Chunks: 0,
    stripesDrawn: 0,
    framesReceived: 0, // distinct frame ids
    droppedDeltas: 0, // deltas that arrived with no decodable reference
    decodeErrors: 0,
    keyframeRequests: 0,
    decoders: 0,
    codec: '', // the last H.264 codec string configured, e.g. avc1.42C01F
    lastFrameId: -1,
    lastDrawTime: 0,
  }

  let closed = false
  let lastKeyframeRequest = -Infinity
  let keyframeTimer = null
  let width = 0 // size of the content drawn so far
  let height = 0
  /**
   * JPEG draws, chained in arrival order: decodes run in parallel, but a JPEG may cover only the
   * changed band of its stripe, so deliveries at different y overlap and must land in order.
   */
  let jpegDraws = Promise.resolve()
  /** H.264 streams by stripe y. */
  const streams = new Map() // y -> stream
  let blobChain = Promise.resolve()

  function needKeyframe() {
    if (closed) return
    const now = performance.now()
    const wait = lastKeyframeRequest + KEYFRAME_REQUEST_INTERVAL_MS - now
    if (wait > 0) {
      // merge with the request just made, but make sure one goes out after the interval
      if (!keyframeTimer) keyframeTimer = setTimeout(() => ((keyframeTimer = null), needKeyframe()), wait)
      return
    }
    lastKeyframeRequest = now
    stats.keyframeRequests++
    for (const fn of keyframeListeners) {
      try {
        fn()
      } catch (e) {
        reportError(e)
      }
    }
  }

  /** Makes the canvas at least w x h (exactly w wide), keeping what is drawn where possible. */
  function fit(w, h, exactHeight = false) {
    if (!autoResize) return
    const wantH = exactHeight ? h : Math.max(h, width === w ? height : 0)
    if (canvas.width === w && canvas.height === wantH) {
      width = w
      height = wantH
      return
    }
    if (width === w && canvas.width === w && canvas.height > 0 && canvas.height < wantH) {
      // growing downwards: keep the rows already drawn (resizing a canvas clears it)
      const keep = typeof OffscreenCanvas !== 'undefined' ? new OffscreenCanvas(w, canvas.height) : null
      if (keep) keep.getContext('2d').drawImage(canvas, 0, 0)
      canvas.height = wantH
      if (keep) ctx.drawImage(keep, 0, 0)
    } else {
      const sameWidth = canvas.width === w
      canvas.width = w
      canvas.height = wantH
      // a different layout: whatever was on screen is gone, so ask for a full picture
      if (!sameWidth && stats.stripesDrawn > 0) needKeyframe()
    }
    width = w
    height = wantH
  }

  function drawn(kind, y, h, frameId) {
    stats.stripesDrawn++
    stats.lastDrawTime = performance.now()
    if (onDraw) {
      try {
        onDraw({ kind, y, height: h, frameId })
      } catch (e) {
        reportError(e)
      }
    }
  }

  // ---- JPEG -------------------------------------------------------------------------------

  function handleJpeg(msg) {
    stats.jpegStripes++
    if (msg.regionWidth != null) stats.jpegTiles++
    // the Blob copies the bytes, so the caller's buffer may be reused at once
    const decoding = createImageBitmap(new Blob([msg.payload], { type: 'image/jpeg' }))
    jpegDraws = jpegDraws
      .then(() => decoding)
      .then(
        (bitmap) => {
          try {
            if (closed) return
            fit(msg.regionWidth ?? bitmap.width, msg.y + bitmap.height)
            ctx.drawImage(bitmap, msg.x, msg.y)
            drawn('jpeg', msg.y, bitmap.height, msg.frameId)
          } finally {
            bitmap.close()
          }
        },
        (e) => {
          stats.decodeErrors++
          reportError(new Error(`stripecast: JPEG stripe at y=${msg.y} (frame ${msg.frameId}) did not decode: ${e?.message ?? e}`))
        },
      )
  }

  // ---- copies -----------------------------------------------------------------------------

  function handleCopy(msg) {
    // In line with the JPEG draws: a copy moves what the stripes before it drew.
    jpegDraws = jpegDraws.then(() => {
      if (closed) return
      const { x, y, width: w, height: h, toX, toY } = msg
      const inside = (px, py) => px + w <= canvas.width && py + h <= canvas.height
      if (stats.stripesDrawn === 0 || w === 0 || h === 0 || !inside(x, y) || !inside(toX, toY)) {
        // Not a picture this client has: what it shows is unknown from here, so start over.
        stats.badCopies++
        reportError(new Error(`stripecast: copy of ${w}x${h} at ${x},${y} to ${toX},${toY} (frame ${msg.frameId}) ignored: ${stats.stripesDrawn === 0 ? 'no picture yet' : `outside the ${canvas.width}x${canvas.height} canvas`}`))
        needKeyframe()
        return
      }
      // A canvas drawn onto itself is copied first (HTML drawImage), so overlapping rows are
      // safe; 1:1 at whole pixels, so no resampling.
      ctx.drawImage(canvas, x, y, w, h, toX, toY, w, h)
      stats.copies++
      drawn('copy', toY, h, msg.frameId)
    })
  }

  // ---- H.264 ------------------------------------------------------------------------------

  function closeStream(s) {
    s.dead = true
    if (s.decoder && s.decoder.state !== 'closed') {
      try {
        s.decoder.close()
      } catch {}
    }
    s.decoder = null
  }

  function newDecoder(s) {
    const decoder = new VideoDecoder({
      output: (frame) => {
        try {
          if (closed || s.dead || decoder !== s.decoder) return
          const fw = frame.displayWidth
          const fh = frame.displayHeight
          s.failures = 0
          const frameId = s.frameIds.get(frame.timestamp) ?? s.lastFrameId
          s.frameIds.delete(frame.timestamp)
          fit(fw, s.y + fh, s.fullFrame)
          ctx.drawImage(frame, 0, s.y, fw, fh)
          drawn('h264', s.y, fh, frameId)
        } finally {
          frame.close()
        }
      },
      error: (e) => {
        if (closed || s.dead || decoder !== s.decoder) return
        stats.decodeErrors++
        s.decoder = null
        s.keyed = false
        s.config = null
        s.frameIds.clear()
        s.failures++
        reportError(new Error(`stripecast: H.264 decoder for y=${s.y} failed: ${e?.message ?? e}`))
        // A stream that keeps failing (e.g. a profile this browser cannot decode) would
        // otherwise force IDRs on every viewer forever: retry a few times, then wait for the
        // server's next key frame.
        if (s.failures <= MAX_DECODER_RETRIES) needKeyframe()
      },
    })
    return decoder
  }

  function handleH264(msg) {
    stats.h264Chunks++
    if (typeof VideoDecoder === 'undefined') {
      if (!stats.decodeErrors++) reportError(new Error('stripecast: this browser has no WebCodecs VideoDecoder (H.264 needs a secure context: https or localhost)'))
      return
    }
    let s = streams.get(msg.y)
    if (msg.key) {
      // A key frame covering other streams' rows replaces them (e.g. striped -> full-frame).
      for (const [y, other] of streams) {
        if (y !== msg.y && y >= msg.y && y < msg.y + msg.height) {
          closeStream(other)
          streams.delete(y)
        }
      }
      stats.decoders = streams.size
    }
    if (!s) {
      s = { y: msg.y, decoder: null, config: null, keyed: false, dead: false, timestamp: 0, lastFrameId: 0, fullFrame: false, failures: 0, frameIds: new Map() }
      streams.set(msg.y, s)
      stats.decoders = streams.size
    }
    s.lastFrameId = msg.frameId
    if (!msg.key) {
      const backlog = s.decoder ? s.decoder.decodeQueueSize : 0
      if (!s.keyed || !s.decoder || s.decoder.state !== 'configured' || backlog > MAX_DECODE_QUEUE) {
        // nothing to predict from (or hopelessly behind): wait for an IDR
        s.keyed = false
        stats.droppedDeltas++
        if (s.failures <= MAX_DECODER_RETRIES) needKeyframe()
        return
      }
    } else {
      const codec = avcCodecFromAnnexB(msg.payload)
      if (!codec) {
        stats.decodeErrors++
        reportError(new Error(`stripecast: IDR at y=${msg.y} (frame ${msg.frameId}) carries no SPS`))
        return
      }
      const c = s.config
      if (!s.decoder || s.decoder.state === 'closed' || !c || c.codec !== codec || c.codedWidth !== msg.width || c.codedHeight !== msg.height) {
        const config = { codec, codedWidth: msg.width, codedHeight: msg.height, optimizeForLatency: true }
        try {
          if (!s.decoder || s.decoder.state === 'closed') s.decoder = newDecoder(s)
          s.decoder.configure(config)
          // A stream at y=0 that changed size while no other stream exists is a full-frame
          // stream whose picture was resized: fit the canvas to it exactly (it may shrink).
          // Otherwise the canvas only grows (a first y=0 stripe cannot tell striped from full).
          s.fullFrame = msg.y === 0 && streams.size === 1 && !!c && c.codedHeight !== msg.height
          s.config = config
          stats.codec = codec
        } catch (e) {
          stats.decodeErrors++
          s.decoder = null
          s.config = null
          s.failures++
          reportError(new Error(`stripecast: cannot configure H.264 decoder ${codec} ${msg.width}x${msg.height} at y=${msg.y}: ${e?.message ?? e}`))
          return
        }
      }
      s.keyed = true
    }
    s.timestamp += 16667 // microseconds; only the order matters
    s.frameIds.set(s.timestamp, msg.frameId)
    if (s.frameIds.size > 256) s.frameIds.delete(s.frameIds.keys().next().value)
    try {
      // EncodedVideoChunk copies the bytes.
      s.decoder.decode(new EncodedVideoChunk({ type: msg.key ? 'key' : 'delta', timestamp: s.timestamp, data: msg.payload }))
    } catch (e) {
      stats.decodeErrors++
      s.keyed = false
      reportError(new Error(`stripecast: H.264 decode at y=${msg.y} (frame ${msg.frameId}): ${e?.message ?? e}`))
      needKeyframe()
    }
  }

  // ---- public -----------------------------------------------------------------------------

  function handleBytes(bytes) {
    stats.messages++
    stats.bytes += bytes.length
    let msg
    try {
      msg = parseStripeHeader(bytes)
    } catch (e) {
      reportError(e)
      return
    }
    if (msg.frameId !== stats.lastFrameId) {
      stats.lastFrameId = msg.frameId
      stats.framesReceived++
    }
    if (msg.kind === 'jpeg') handleJpeg(msg)
    else if (msg.kind === 'copy') handleCopy(msg)
    else handleH264(msg)
  }

  const client = {
    canvas,
    stats,
    /**
     * Feeds one message: an ArrayBuffer or typed array holding one stripe with its wire header
     * (a Blob is accepted too, decoded in arrival order).
     */
    handleMessage(data) {
      if (closed) return
      const bytes = toBytes(data)
      if (bytes) return handleBytes(bytes)
      if (typeof Blob !== 'undefined' && data instanceof Blob) {
        blobChain = blobChain.then(() => data.arrayBuffer()).then((ab) => !closed && handleBytes(new Uint8Array(ab)), reportError)
        return
      }
      reportError(new TypeError(`stripecast: handleMessage wants an ArrayBuffer, got ${Object.prototype.toString.call(data)}`))
    },
    /** Sizes the canvas up front (e.g. from the server's info message); clears it. */
    setSize(w, h) {
      if (canvas.width !== w || canvas.height !== h) {
        canvas.width = w
        canvas.height = h
      }
      width = w
      height = h
    },
    /** Adds a listener called when a key frame is needed; returns a function removing it. */
    onNeedKeyframe(fn) {
      keyframeListeners.add(fn)
      return () => keyframeListeners.delete(fn)
    },
    /** Asks for a key frame now (through the onNeedKeyframe listeners). */
    requestKeyframe() {
      lastKeyframeRequest = -Infinity
      needKeyframe()
    },
    /**
     * Forgets every decoder (after a reconnect the server starts new streams); what is on the
     * canvas stays until it is painted over.
     */
    reset() {
      for (const s of streams.values()) closeStream(s)
      streams.clear()
      stats.decoders = 0
    },
    close() {
      client.reset()
      closed = true
      if (keyframeTimer) clearTimeout(keyframeTimer)
      keyframeListeners.clear()
    },
  }
  return client
}

/**
 * Opens a WebSocket to `url`, feeds binary messages to `client`, sends 'keyframe' when the
 * client needs one, and reconnects with exponential backoff when the connection drops.
 *
 * @param {string|URL} url e.g. `ws://${location.host}/ws`
 * @param {ReturnType<typeof createStripeClient>} client
 * @param {object} [options]
 * @param {{initialMs?: number, maxMs?: number, factor?: number}} [options.backoff]
 *   first retry after initialMs (default 250), then times factor (2) up to maxMs (10000)
 * @param {(text: string) => void} [options.onText] text messages from the server
 * @param {(ws: WebSocket) => void} [options.onOpen]
 * @param {(event: CloseEvent, retryInMs: number|null) => void} [options.onClose]
 * @param {typeof WebSocket} [options.WebSocket] WebSocket implementation (default: the global one)
 * @returns {{ send(data): boolean, on(event: 'text'|'open'|'close', fn: Function): () => void, close(): void, readonly socket: WebSocket|null, readonly attempts: number }}
 *   `on` adds a listener beside the options' callbacks (attachControl uses it) and returns its remover
 */
export function connect(url, client, { backoff = {}, onText, onOpen, onClose, WebSocket: WS = globalThis.WebSocket } = {}) {
  const initialMs = backoff.initialMs ?? 250
  const maxMs = backoff.maxMs ?? 10000
  const factor = backoff.factor ?? 2
  let delay = initialMs
  let ws = null
  let timer = null
  let stopped = false
  let attempts = 0

  const unsubscribe = client.onNeedKeyframe(() => link.send('keyframe'))
  const listeners = { text: new Set(), open: new Set(), close: new Set() }
  const emit = (event, ...args) => {
    for (const fn of listeners[event]) {
      try {
        fn(...args)
      } catch (e) {
        console.error('stripecast:', e)
      }
    }
  }

  function open() {
    timer = null
    if (stopped) return
    attempts++
    let sock
    try {
      sock = new WS(url)
    } catch (e) {
      // a malformed URL will not get better by retrying
      stopped = true
      throw e
    }
    ws = sock
    sock.binaryType = 'arraybuffer'
    sock.onopen = () => {
      delay = initialMs
      client.reset()
      onOpen?.(sock)
      emit('open', sock)
    }
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') {
        onText?.(ev.data)
        emit('text', ev.data)
      } else client.handleMessage(ev.data)
    }
    sock.onclose = (ev) => {
      if (ws === sock) ws = null
      let retry = null
      if (!stopped) {
        retry = delay
        timer = setTimeout(open, delay)
        delay = Math.min(maxMs, delay * factor)
      }
      onClose?.(ev, retry)
      emit('close', ev, retry)
    }
    sock.onerror = () => {} // a close event follows
  }

  const link = {
    send(data) {
      if (ws && ws.readyState === 1) {
        ws.send(data)
        return true
      }
      return false
    },
    on(event, fn) {
      if (!listeners[event]) throw new TypeError(`link.on: event must be 'text', 'open' or 'close', got '${event}'`)
      listeners[event].add(fn)
      return () => listeners[event].delete(fn)
    },
    close() {
      stopped = true
      unsubscribe()
      if (timer) clearTimeout(timer)
      timer = null
      if (ws) ws.close(1000)
      ws = null
    },
    get socket() {
      return ws
    },
    get attempts() {
      return attempts
    },
  }
  open()
  return link
}

// ---- remote control ---------------------------------------------------------------------
//
//   const link = connect(url, client)
//   const control = attachControl(canvas, link, { onChange: (s) => console.log(s.granted) })
//
// Sends the server's control messages (docs/api.md, "Control messages") for what the user does
// on the canvas: pointer moves (one per animation frame), buttons, the wheel, keys, typed text
// and pastes. Coordinates are canvas pixels, which are the captured region's pixels.

/** DOM MouseEvent.button (0 left, 1 middle, 2 right, 3 back, 4 forward) -> X button. */
export const X_BUTTON_OF_DOM = [1, 2, 3, 8, 9]
/** The most wheel steps, text characters and key name characters one message may carry. */
export const MAX_WHEEL_STEPS = 20
export const MAX_TEXT_CHARS = 1024

/** One offset of CSS `object-position` ('50%', '10px', 'left'...) for `free` pixels of room. */
function positionOffset(token, free) {
  const named = { left: 0, top: 0, center: 0.5, right: 1, bottom: 1 }
  if (token in named) return named[token] * free
  if (/%$/.test(token)) return (parseFloat(token) / 100) * free
  if (/px$/.test(token)) return parseFloat(token)
  return free / 2
}

/**
 * Maps a point in CSS pixels (clientX, clientY) to canvas pixels, for a canvas whose content
 * box is `box` ({left, top, width, height}, CSS pixels) showing a width x height picture with
 * CSS `object-fit` `fit` and `object-position` `position` (as getComputedStyle gives them).
 * Clamped to the picture; null when there is no picture.
 * @returns {{x: number, y: number} | null}
 */
export function canvasPoint(clientX, clientY, box, width, height, fit = 'fill', position = '50% 50%') {
  if (!(width > 0 && height > 0 && box.width > 0 && box.height > 0)) return null
  let sx = box.width / width
  let sy = box.height / height
  if (fit === 'contain' || fit === 'cover' || fit === 'none' || fit === 'scale-down') {
    let s = fit === 'cover' ? Math.max(sx, sy) : fit === 'none' ? 1 : Math.min(sx, sy)
    if (fit === 'scale-down') s = Math.min(1, s)
    sx = sy = s
  }
  let ox = 0
  let oy = 0
  if (fit !== 'fill') {
    const [px = '50%', py = '50%'] = String(position).trim().split(/\s+/)
    ox = positionOffset(px, box.width - width * sx)
    oy = positionOffset(py, box.height - height * sy)
  }
  // (the epsilon keeps an exact pixel edge from landing one pixel short by rounding)
  const x = Math.floor((clientX - box.left - ox) / sx + 1e-9)
  const y = Math.floor((clientY - box.top - oy) / sy + 1e-9)
  return { x: Math.min(width - 1, Math.max(0, x)), y: Math.min(height - 1, Math.max(0, y)) }
}

/** The canvas's content box (inside border and padding) in CSS pixels. */
function contentBox(canvas, style) {
  const r = canvas.getBoundingClientRect()
  const px = (v) => parseFloat(v) || 0
  const left = px(style.borderLeftWidth) + px(style.paddingLeft)
  const top = px(style.borderTopWidth) + px(style.paddingTop)
  const right = px(style.borderRightWidth) + px(style.paddingRight)
  const bottom = px(style.borderBottomWidth) + px(style.paddingBottom)
  return { left: r.left + left, top: r.top + top, width: r.width - left - right, height: r.height - top - bottom }
}

function isPrintable(key) {
  if (typeof key !== 'string' || key.length === 0 || key.length > 2) return false
  const cp = key.codePointAt(0)
  // one code point (a surrogate pair counts as one), not a control character
  return key.length === (cp > 0xffff ? 2 : 1) && cp >= 0x20 && cp !== 0x7f
}

/** Modifiers sent to the X server only when a key or button needs them, never around text. */
const DEFERRED_MODIFIERS = new Set(['Shift', 'AltGraph'])
/** Lock keys are never sent: typed text already has the case the browser gave it. */
const IGNORED_KEYS = new Set(['CapsLock', 'NumLock', 'ScrollLock', 'Unidentified', 'Dead', 'Process', 'Compose'])

/**
 * Lets the user of this page control the server's screen through `canvas`.
 *
 * @param {HTMLCanvasElement} canvas the canvas the stripes are drawn on (made focusable)
 * @param {{ send(text: string): boolean|void, on?: Function }} link what `connect()` returns
 *   (or anything with `send`; then pass the server's text messages to `handleText`)
 * @param {object} [options]
 * @param {boolean} [options.autoTake=true] ask for control now, after a reconnect, and when the
 *   viewer that had it gives it up (as long as `giveUp()` was not called)
 * @param {(state: {granted: boolean, free: boolean, reason?: string}) => void} [options.onChange]
 * @param {(error: Error) => void} [options.onError] e.g. a paste larger than the limit
 * @param {number} [options.maxClipboardBytes=262144] larger pastes send only their keys
 * @param {number} [options.wheelPixelsPerStep=100] wheel pixels for one step (3 lines are one)
 * @param {number} [options.pasteWaitMs=100] how long Ctrl+V waits for the paste event
 * @returns {{ readonly granted: boolean, readonly free: boolean, readonly stats: object, take(): void, giveUp(): void, release(): void, handleText(text: string): boolean, detach(): void }}
 */
export function attachControl(canvas, link, options = {}) {
  if (!canvas || typeof canvas.addEventListener !== 'function') throw new TypeError('attachControl: canvas must be a canvas element')
  if (!link || typeof link.send !== 'function') throw new TypeError('attachControl: link must have send(text) (what connect() returns)')
  const {
    autoTake = true,
    onChange,
    onError = (e) => console.error('stripecast:', e),
    maxClipboardBytes = 256 * 1024,
    wheelPixelsPerStep = 100,
    pasteWaitMs = 100,
  } = options
  const doc = canvas.ownerDocument
  const win = doc.defaultView
  const state = { granted: false, free: true, reason: undefined }
  const stats = { sent: 0, notGranted: 0 }
  let wanted = autoTake
  let detached = false

  const sendRaw = (obj) => link.send(JSON.stringify(obj))
  function send(obj) {
    if (!state.granted) {
      stats.notGranted++
      return false
    }
    stats.sent++
    return sendRaw(obj)
  }

  function take() {
    wanted = true
    sendRaw({ type: 'control', take: true })
  }

  // ---- keyboard state: what X was told is down ----
  const keysDown = new Map() // code -> key sent down
  const textCodes = new Set() // codes whose keydown went as text: their keyup is not sent
  const deferredHeld = new Map() // code -> 'Shift' | 'AltGraph', held in the browser
  const deferredSent = new Set() // codes of deferredHeld sent down to X
  const buttonsDown = new Set()
  let paste = null // a Ctrl+V keydown held back until the paste event: { code, key, up, timer }

  function syncModifiers() {
    for (const [code, key] of deferredHeld) {
      if (!deferredSent.has(code)) {
        deferredSent.add(code)
        send({ type: 'key', key, down: true })
      }
    }
  }
  function unsyncModifiers() {
    for (const code of deferredSent) send({ type: 'key', key: deferredHeld.get(code) ?? 'Shift', down: false })
    deferredSent.clear()
  }

  function forgetInput() {
    keysDown.clear()
    textCodes.clear()
    deferredHeld.clear()
    deferredSent.clear()
    buttonsDown.clear()
    if (paste) clearTimeout(paste.timer)
    paste = null
  }

  /** Everything up in X (the page lost focus, the tab was hidden). */
  function release() {
    const any = keysDown.size || deferredSent.size || buttonsDown.size
    forgetInput()
    if (any || state.granted) send({ type: 'release' })
  }

  function sendText(text) {
    if (!text) return
    unsyncModifiers()
    // pieces of at most 1024 characters and well under the 4 KiB a message may take
    let piece = ''
    let chars = 0
    let bytes = 0
    for (const ch of text) {
      const b = JSON.stringify(ch).length * 4 // an upper bound of its UTF-8 bytes in JSON
      if (chars === MAX_TEXT_CHARS || bytes + b > 3800) {
        send({ type: 'text', text: piece })
        piece = ''
        chars = bytes = 0
      }
      piece += ch
      chars++
      bytes += b
    }
    if (piece) send({ type: 'text', text: piece })
  }

  // ---- the hidden text field: keyboard focus, IME and dead keys, paste ----
  const input = doc.createElement('textarea')
  input.setAttribute('aria-label', 'remote keyboard')
  input.setAttribute('autocomplete', 'off')
  input.setAttribute('autocapitalize', 'off')
  input.setAttribute('autocorrect', 'off')
  input.spellcheck = false
  Object.assign(input.style, {
    position: 'fixed', left: '0', top: '0', width: '1px', height: '1px', opacity: '0', padding: '0',
    border: '0', margin: '0', resize: 'none', overflow: 'hidden', pointerEvents: 'none', zIndex: '-1',
  })
  ;(canvas.parentNode ?? doc.body).appendChild(input)
  if (canvas.tabIndex < 0) canvas.tabIndex = 0
  canvas.style.touchAction = 'none'
  const focusInput = () => input.focus({ preventScroll: true })

  function flushPaste(text) {
    const p = paste
    paste = null
    if (p) clearTimeout(p.timer)
    if (text) {
      if (new TextEncoder().encode(text).length > maxClipboardBytes) onError(new Error(`stripecast: paste of more than ${maxClipboardBytes} bytes not sent`))
      else send({ type: 'clipboard', text })
    }
    if (p) {
      // Ctrl is down in X already: now the V, so that the application pastes the new text
      keysDown.set(p.code, p.key)
      send({ type: 'key', key: p.key, down: true })
      if (p.up) {
        keysDown.delete(p.code)
        send({ type: 'key', key: p.key, down: false })
      }
    } else if (text) {
      // a paste from the browser's menu: the keys of one
      for (const [key, down] of [['Control', true], ['v', true], ['v', false], ['Control', false]]) send({ type: 'key', key, down })
    }
  }

  function onKeyDown(e) {
    if (!state.granted) return
    if (e.isComposing || e.keyCode === 229 || IGNORED_KEYS.has(e.key)) return // the text comes as input
    const key = e.key
    if (DEFERRED_MODIFIERS.has(key)) {
      e.preventDefault()
      deferredHeld.set(e.code, key)
      return
    }
    const altGr = e.getModifierState?.('AltGraph') ?? false
    if (isPrintable(key) && (altGr || !(e.ctrlKey || e.altKey || e.metaKey))) {
      // the character the user's own layout made: typed as text, whatever the X layout is
      e.preventDefault()
      textCodes.add(e.code)
      sendText(key)
      return
    }
    if ((e.ctrlKey || e.metaKey) && !e.altKey && (key.toLowerCase() === 'v' || e.code === 'KeyV')) {
      // not prevented: the browser fires 'paste' with the clipboard's text
      if (paste || e.repeat) return
      syncModifiers()
      paste = { code: e.code, key, up: false, timer: setTimeout(() => flushPaste(null), pasteWaitMs) }
      return
    }
    e.preventDefault()
    if (e.repeat && keysDown.has(e.code) && /^(Control|Alt|Meta|OS|Hyper|Super)$/.test(key)) return
    syncModifiers()
    keysDown.set(e.code, key)
    send({ type: 'key', key, down: true })
  }

  function onKeyUp(e) {
    if (!state.granted) return
    if (deferredHeld.has(e.code)) {
      e.preventDefault()
      const key = deferredHeld.get(e.code)
      deferredHeld.delete(e.code)
      if (deferredSent.delete(e.code)) send({ type: 'key', key, down: false })
      return
    }
    if (paste && paste.code === e.code) {
      paste.up = true
      return
    }
    if (textCodes.delete(e.code)) {
      e.preventDefault()
      return
    }
    const key = keysDown.get(e.code)
    if (key === undefined) return
    e.preventDefault()
    keysDown.delete(e.code)
    send({ type: 'key', key, down: false })
  }

  function onInput(e) {
    // text from an IME, a dead key sequence, or insertText: never left in the field
    if (!e.isComposing && state.granted && (e.inputType === 'insertText' || e.inputType === 'insertReplacementText')) sendText(e.data ?? input.value)
    if (!e.isComposing) input.value = ''
  }
  function onCompositionEnd(e) {
    if (state.granted) sendText(e.data)
    input.value = ''
  }
  function onPaste(e) {
    e.preventDefault()
    if (!state.granted) return
    flushPaste(e.clipboardData?.getData('text/plain') ?? '')
  }

  // ---- pointer ----
  let moveTo = null
  let lastMove = null
  let frame = 0
  function point(e) {
    const style = win.getComputedStyle(canvas)
    return canvasPoint(e.clientX, e.clientY, contentBox(canvas, style), canvas.width, canvas.height, style.objectFit, style.objectPosition)
  }
  function flushMove() {
    frame = 0
    const p = moveTo
    moveTo = null
    if (p && (!lastMove || p.x !== lastMove.x || p.y !== lastMove.y)) {
      lastMove = p
      send({ type: 'pointer', x: p.x, y: p.y })
    }
  }
  function onPointerMove(e) {
    if (!state.granted) return
    const p = point(e)
    if (!p) return
    moveTo = p
    if (!frame) frame = win.requestAnimationFrame(flushMove)
  }
  function onPointerButton(e, down) {
    if (!state.granted) return
    const button = X_BUTTON_OF_DOM[e.button]
    const p = point(e)
    if (!button || !p) return
    e.preventDefault()
    if (down) {
      focusInput()
      try {
        canvas.setPointerCapture(e.pointerId) // a drag leaving the canvas still ends here
      } catch {}
      syncModifiers()
      buttonsDown.add(button)
    } else if (!buttonsDown.delete(button)) return
    moveTo = null // the button carries the position
    lastMove = p
    send({ type: 'button', button, down, x: p.x, y: p.y })
  }
  const onPointerDown = (e) => onPointerButton(e, true)
  const onPointerUp = (e) => onPointerButton(e, false)
  function onPointerCancel() {
    for (const button of buttonsDown) send({ type: 'button', button, down: false })
    buttonsDown.clear()
  }

  let wheelX = 0
  let wheelY = 0
  function onWheel(e) {
    if (!state.granted) return
    e.preventDefault()
    const per = e.deltaMode === 1 ? 3 : e.deltaMode === 2 ? 1 : wheelPixelsPerStep
    wheelX += e.deltaX / per
    wheelY += e.deltaY / per
    let dx = Math.trunc(wheelX)
    let dy = Math.trunc(wheelY)
    if (!dx && !dy) return
    wheelX -= dx
    wheelY -= dy
    // X scrolls where the pointer is
    const p = point(e)
    if (p && (!lastMove || p.x !== lastMove.x || p.y !== lastMove.y)) {
      lastMove = p
      moveTo = null
      send({ type: 'pointer', x: p.x, y: p.y })
    }
    syncModifiers()
    while (dx || dy) {
      const sx = Math.max(-MAX_WHEEL_STEPS, Math.min(MAX_WHEEL_STEPS, dx))
      const sy = Math.max(-MAX_WHEEL_STEPS, Math.min(MAX_WHEEL_STEPS, dy))
      send({ type: 'wheel', dx: sx, dy: sy })
      dx -= sx
      dy -= sy
    }
  }

  const preventMenu = (e) => state.granted && e.preventDefault()
  const onVisibility = () => doc.visibilityState === 'hidden' && release()

  function setState(next) {
    const was = state.granted
    Object.assign(state, next)
    if (was && !state.granted) forgetInput() // the server released everything for us
    try {
      onChange?.({ granted: state.granted, free: state.free, reason: state.reason })
    } catch (e) {
      onError(e)
    }
  }

  /** Feeds a text message from the server; true when it was a control message. */
  function handleText(text) {
    if (typeof text !== 'string' || !text.startsWith('{') || !text.includes('"control"')) return false
    let msg
    try {
      msg = JSON.parse(text)
    } catch {
      return false
    }
    if (msg?.type !== 'control') return false
    const granted = msg.granted === true
    setState({ granted, free: granted ? false : msg.free === true, reason: msg.reason })
    // the viewer that had it left or gave it up: ask again if this page still wants it
    if (!granted && msg.free === true && wanted && msg.reason !== 'given up' && !detached) sendRaw({ type: 'control', take: true })
    return true
  }

  const unlisten = []
  if (typeof link.on === 'function') {
    unlisten.push(link.on('text', handleText))
    unlisten.push(
      link.on('open', () => {
        setState({ granted: false, free: true, reason: undefined })
        if (wanted) sendRaw({ type: 'control', take: true })
      }),
    )
    unlisten.push(link.on('close', () => setState({ granted: false, free: false, reason: 'disconnected' })))
  }

  const listeners = [
    [canvas, 'pointermove', onPointerMove],
    [canvas, 'pointerdown', onPointerDown],
    [canvas, 'pointerup', onPointerUp],
    [canvas, 'pointercancel', onPointerCancel],
    [canvas, 'wheel', onWheel, { passive: false }],
    [canvas, 'contextmenu', preventMenu],
    [canvas, 'focus', focusInput],
    [input, 'keydown', onKeyDown],
    [input, 'keyup', onKeyUp],
    [input, 'input', onInput],
    [input, 'compositionend', onCompositionEnd],
    [input, 'paste', onPaste],
    [input, 'blur', release],
    [win, 'blur', release],
    [doc, 'visibilitychange', onVisibility],
  ]
  for (const [target, type, fn, opts] of listeners) target.addEventListener(type, fn, opts)

  if (autoTake) take()

  return {
    get granted() {
      return state.granted
    },
    get free() {
      return state.free
    },
    stats,
    /** The hidden text field that takes the keyboard (focus it to type without clicking). */
    input,
    take,
    /** Gives control up (releasing whatever is held) and stops asking for it. */
    giveUp() {
      wanted = false
      release()
      sendRaw({ type: 'control', take: false })
    },
    release,
    handleText,
    /** Removes every listener and the text field; gives control up. */
    detach() {
      if (detached) return
      if (state.granted) {
        release()
        sendRaw({ type: 'control', take: false })
      }
      detached = true
      wanted = false
      for (const [target, type, fn, opts] of listeners) target.removeEventListener(type, fn, opts)
      for (const fn of unlisten) fn()
      if (frame) win.cancelAnimationFrame(frame)
      input.remove()
    },
  }
}
