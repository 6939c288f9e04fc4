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
 * @returns {{ send(data): boolean, close(): void, readonly socket: WebSocket|null, readonly attempts: number }}
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
    }
    sock.onmessage = (ev) => {
      if (typeof ev.data === 'string') onText?.(ev.data)
      else client.handleMessage(ev.data)
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
