'use strict'

/**
 * `stripecast/control`: remote control messages from viewers, checked and arbitrated.
 *
 *   const { createControl } = require('stripecast/control')
 *   const control = createControl({ injector: new InputInjector(settings), clipboard })
 *   const session = control.join('viewer-1', { send: (obj) => ws.send(JSON.stringify(obj)) })
 *   session.handle(textMessage)   // { status: 'accepted' | 'dropped' | 'refused' | 'failed', ... }
 *   session.leave()               // the viewer went away: whatever it held is released
 *
 * Viewers send JSON text messages (documented in docs/api.md, "Control messages").
 * `parseInputMessage` validates one strictly and builds a fresh object from the allowed fields
 * only, so nothing the viewer sent (extra keys, `__proto__`, nesting) reaches the injector.
 * `createControl` lets one viewer at a time hold control; everything it does is counted and
 * nothing a viewer sends, and nothing the injector throws, escapes as an exception.
 */

/** The version of the message format; a message may carry `"v": 1`, any other is refused. */
const PROTOCOL_VERSION = 1
/** Bytes allowed for every message but `clipboard`. */
const MAX_MESSAGE_BYTES = 4096
/** Clipboard text allowed when neither the caller nor the clipboard says (UTF-8 bytes). */
const DEFAULT_CLIPBOARD_BYTES = 256 * 1024
/** Bounds of the message fields. */
const MAX_COORD = 65535
const MAX_WHEEL_STEPS = 20
const MAX_KEY_CHARS = 32
const MAX_TEXT_CHARS = 1024
const MAX_KEYSYM = 0x1fffffff // X keysyms are 29-bit

/** The fields each message type allows: name -> [check, required]. */
const FIELDS = {
  control: { take: ['bool', true] },
  pointer: { x: ['coord', true], y: ['coord', true] },
  button: { button: ['button', true], down: ['bool', true], x: ['coord', false], y: ['coord', false] },
  wheel: { dx: ['wheel', true], dy: ['wheel', true] },
  key: { key: ['key', true], down: ['bool', true] },
  text: { text: ['text', true] },
  clipboard: { text: ['clipboard', true] },
  release: {},
}

/**
 * The bytes a JSON message may take on the wire for a clipboard limit of `clipboardBytes`:
 * JSON escapes a control character as \uXXXX (6 bytes for 1), so a valid message can be up to
 * six times its text. Servers size their transport's message limit with this.
 */
function maxMessageBytes(clipboardBytes = DEFAULT_CLIPBOARD_BYTES) {
  return Math.max(MAX_MESSAGE_BYTES, 6 * clipboardBytes + 256)
}

function codePoints(s) {
  let n = 0
  for (const _ of s) n++
  return n
}

// C0 controls and DEL are neither key names nor characters a key types
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/ // eslint-disable-line no-control-regex

/** null when `v` passes `check`, else why not. */
function checkField(check, v, clipboardBytes) {
  switch (check) {
    case 'bool':
      return typeof v === 'boolean' ? null : 'must be true or false'
    case 'coord':
      return Number.isInteger(v) && v >= 0 && v <= MAX_COORD ? null : `must be an integer in 0..${MAX_COORD}`
    case 'button':
      return Number.isInteger(v) && v >= 1 && v <= 9 ? null : 'must be an integer in 1..9'
    case 'wheel':
      return Number.isInteger(v) && Math.abs(v) <= MAX_WHEEL_STEPS ? null : `must be an integer in -${MAX_WHEEL_STEPS}..${MAX_WHEEL_STEPS}`
    case 'key':
      if (typeof v === 'number') return Number.isInteger(v) && v > 0 && v <= MAX_KEYSYM ? null : `must be a keysym in 1..0x${MAX_KEYSYM.toString(16)} or a key name`
      if (typeof v !== 'string' || v.length === 0) return 'must be a key name or a keysym number'
      if (v.length > 2 * MAX_KEY_CHARS || codePoints(v) > MAX_KEY_CHARS) return `must be at most ${MAX_KEY_CHARS} characters`
      return CONTROL_CHARS.test(v) ? 'must not contain control characters' : null
    case 'text':
      if (typeof v !== 'string' || v.length === 0) return 'must be a non-empty string'
      return v.length <= 2 * MAX_TEXT_CHARS && codePoints(v) <= MAX_TEXT_CHARS ? null : `must be at most ${MAX_TEXT_CHARS} characters`
    case 'clipboard':
      if (typeof v !== 'string') return 'must be a string'
      return Buffer.byteLength(v, 'utf8') <= clipboardBytes ? null : `must be at most ${clipboardBytes} bytes of UTF-8`
    default:
      return 'unknown check'
  }
}

function bad(reason) {
  return { ok: false, reason }
}

/**
 * Parses and checks one control message.
 * @param {string|Buffer|Uint8Array|ArrayBuffer} data a JSON text message
 * @param {{maxClipboardBytes?: number}} [options] clipboard text limit in UTF-8 bytes (default 256 KiB)
 * @returns {{ok: true, message: object} | {ok: false, reason: string}}
 */
function parseInputMessage(data, { maxClipboardBytes = DEFAULT_CLIPBOARD_BYTES } = {}) {
  let text
  let bytes
  if (typeof data === 'string') {
    // a string longer than the limit in UTF-16 units is longer in UTF-8 too
    if (data.length > maxMessageBytes(maxClipboardBytes)) return bad('message too large')
    text = data
    bytes = Buffer.byteLength(data, 'utf8')
  } else if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) {
    const buf = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength)
    bytes = buf.length
    if (bytes > maxMessageBytes(maxClipboardBytes)) return bad('message too large')
    text = buf.toString('utf8')
  } else {
    return bad('not a text message')
  }
  if (bytes > maxMessageBytes(maxClipboardBytes)) return bad('message too large')
  let raw
  try {
    raw = JSON.parse(text)
  } catch {
    return bad('not JSON')
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return bad('not a JSON object')
  const type = raw.type
  // own keys only: a `type` inherited from a prototype is no type
  if (!Object.prototype.hasOwnProperty.call(raw, 'type') || typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(FIELDS, type)) {
    return bad(`unknown type ${JSON.stringify(typeof type === 'string' ? type.slice(0, 32) : typeof type)}`)
  }
  if (type !== 'clipboard' && bytes > MAX_MESSAGE_BYTES) return bad(`message too large (${type}: at most ${MAX_MESSAGE_BYTES} bytes)`)
  const fields = FIELDS[type]
  const message = { type }
  for (const key of Object.keys(raw)) {
    if (key === 'type') continue
    if (key === 'v') {
      if (raw.v !== PROTOCOL_VERSION) return bad(`unsupported version ${JSON.stringify(raw.v)?.slice(0, 16)} (this server speaks ${PROTOCOL_VERSION})`)
      continue
    }
    if (!Object.prototype.hasOwnProperty.call(fields, key)) return bad(`${type}: unknown field ${JSON.stringify(key.slice(0, 32))}`)
    const why = checkField(fields[key][0], raw[key], maxClipboardBytes)
    if (why) return bad(`${type}.${key} ${why}`)
    message[key] = raw[key]
  }
  for (const [key, [, required]] of Object.entries(fields)) {
    if (required && !(key in message)) return bad(`${type}.${key} is missing`)
  }
  if (type === 'button' && ('x' in message) !== ('y' in message)) return bad('button: x and y go together')
  return { ok: true, message }
}

/** Default of createControl's maxEventsPerSecond: far above a person, far below a flood. */
const DEFAULT_EVENTS_PER_SECOND = 2000

/** What a message costs against the rate limit; 0 for releases, which must always get through. */
function inputCost(m) {
  if (m.type === 'release' || ((m.type === 'key' || m.type === 'button') && !m.down)) return 0
  return m.type === 'text' ? m.text.length : 1
}

const INPUT_TYPES = new Set(['pointer', 'button', 'wheel', 'key', 'text', 'clipboard', 'release'])

/**
 * Creates the arbiter: one viewer at a time holds control.
 * @param {object} o
 * @param {object} o.injector an InputInjector (or anything with its methods and `region`)
 * @param {object} [o.clipboard] a Clipboard (`write(text)`, `maxBytes`); without one,
 *   clipboard messages are dropped
 * @param {number} [o.maxClipboardBytes] default: the clipboard's `maxBytes`, else 256 KiB
 * @param {number} [o.maxEventsPerSecond] input events a holder may cause per second, with a
 *   burst of as many (a `text` costs one per character, anything else one); over it input is
 *   dropped and counted. Releases (a key or button going up, `release`) are never limited.
 * @param {() => number} [o.now] clock in ms (default performance.now; for tests)
 * @param {(line: string) => void} [o.log]
 */
function createControl({ injector, clipboard = null, maxClipboardBytes, maxEventsPerSecond = DEFAULT_EVENTS_PER_SECOND, now = () => performance.now(), log = () => {} } = {}) {
  if (!injector || typeof injector.pointerMove !== 'function') throw new TypeError('createControl: options.injector must be an InputInjector')
  if (!(Number.isFinite(maxEventsPerSecond) && maxEventsPerSecond > 0)) throw new RangeError(`createControl: maxEventsPerSecond must be a number > 0, got ${maxEventsPerSecond}`)
  const clipboardBytes = maxClipboardBytes ?? (Number.isInteger(clipboard?.maxBytes) ? clipboard.maxBytes : DEFAULT_CLIPBOARD_BYTES)
  const stats = { accepted: 0, dropped: 0, refused: 0, failed: 0 }
  const sessions = new Set()
  let holder = null
  let closed = false

  function safeSend(session, obj) {
    try {
      session.send?.({ ...obj, v: PROTOCOL_VERSION })
    } catch {}
  }

  /** Tells every viewer but `except` whether control is free now. */
  function broadcastState(except) {
    for (const s of sessions) if (s !== except) safeSend(s, { type: 'control', granted: s === holder, free: holder === null })
  }

  function releaseAll(why) {
    try {
      injector.releaseAll()
    } catch (e) {
      stats.failed++
      log(`control: releaseAll after ${why} failed: ${e?.message ?? e}`)
    }
  }

  function region() {
    const r = injector.region
    return r && Number.isInteger(r.width) && Number.isInteger(r.height) ? r : null
  }

  /** null when x, y is inside the injector's region, else why not. */
  function outside(x, y) {
    const r = region()
    if (!r) return null // the injector checks it itself
    return x < r.width && y < r.height ? null : `${x},${y} is outside the ${r.width}x${r.height} region`
  }

  /** Performs an input message for the holder; returns [status, reason?]. */
  function perform(m) {
    switch (m.type) {
      case 'pointer': {
        const why = outside(m.x, m.y)
        if (why) return ['dropped', why]
        injector.pointerMove(m.x, m.y)
        return ['accepted']
      }
      case 'button': {
        if ('x' in m) {
          const why = outside(m.x, m.y)
          if (why) return ['dropped', why]
          injector.pointerMove(m.x, m.y)
        }
        injector.pointerButton(m.button, m.down)
        return ['accepted']
      }
      case 'wheel':
        if (m.dx || m.dy) injector.scroll(m.dx, m.dy)
        return ['accepted']
      case 'key':
        injector.key(m.key, m.down)
        return ['accepted']
      case 'text':
        injector.type(m.text)
        return ['accepted']
      case 'clipboard': {
        if (!clipboard) return ['dropped', 'no clipboard on this server']
        const done = clipboard.write(m.text)
        if (done && typeof done.then === 'function') {
          done.then(undefined, (e) => {
            stats.failed++
            log(`control: clipboard write failed: ${e?.message ?? e}`)
          })
        }
        return ['accepted']
      }
      case 'release':
        injector.releaseAll()
        return ['accepted']
      default:
        return ['dropped', `unknown type ${m.type}`]
    }
  }

  return {
    stats,
    get holder() {
      return holder ? holder.id : null
    },
    get sessionCount() {
      return sessions.size
    },
    maxClipboardBytes: clipboardBytes,
    /** The most bytes a valid message can take (to size a transport's message limit). */
    maxMessageBytes: maxMessageBytes(clipboardBytes),
    /**
     * A viewer arrived. `send(obj)` (optional) receives the arbiter's messages to it (the reply
     * to `control`, and `{type: 'control', granted: false, free}` when the holder changes).
     */
    join(id, { send } = {}) {
      const counts = { accepted: 0, dropped: 0, refused: 0, failed: 0 }
      let failuresLogged = 0
      let budget = maxEventsPerSecond
      let budgetAt = now()
      const session = {
        id,
        send,
        stats: counts,
        get holds() {
          return holder === session
        },
        /** One message from this viewer; never throws. */
        handle(data) {
          const count = (status, reason, reply) => {
            counts[status]++
            stats[status]++
            return reason === undefined ? { status, reply } : { status, reason, reply }
          }
          if (closed || !sessions.has(session)) return count('refused', 'session closed')
          const parsed = parseInputMessage(data, { maxClipboardBytes: clipboardBytes })
          if (!parsed.ok) return count('dropped', parsed.reason)
          const m = parsed.message
          if (m.type === 'control') {
            let reply
            if (m.take) {
              if (holder === null || holder === session) {
                const changed = holder !== session
                holder = session
                reply = { type: 'control', granted: true, v: PROTOCOL_VERSION }
                if (changed) {
                  log(`control: granted to ${id}`)
                  broadcastState(session)
                }
              } else {
                reply = { type: 'control', granted: false, reason: 'another viewer has control', free: false, v: PROTOCOL_VERSION }
                safeSend(session, reply)
                return count('refused', reply.reason, reply)
              }
            } else {
              if (holder === session) {
                holder = null
                releaseAll('giving up control')
                log(`control: ${id} gave it up`)
                broadcastState(session)
              }
              reply = { type: 'control', granted: false, reason: 'given up', free: holder === null, v: PROTOCOL_VERSION }
            }
            safeSend(session, reply)
            return count('accepted', undefined, reply)
          }
          if (!INPUT_TYPES.has(m.type)) return count('dropped', `unknown type ${m.type}`)
          if (holder !== session) return count('refused', holder ? 'another viewer has control' : 'control not taken')
          const cost = inputCost(m)
          if (cost > 0) {
            // token bucket: refills at the rate, holds one second's worth
            const t = now()
            budget = Math.min(maxEventsPerSecond, budget + ((t - budgetAt) / 1000) * maxEventsPerSecond)
            budgetAt = t
            if (cost > budget) return count('dropped', `over ${maxEventsPerSecond} input events a second`)
            budget -= cost
          }
          try {
            const [status, reason] = perform(m)
            return count(status, reason)
          } catch (e) {
            // a key name the injector does not know, an X error: this message fails, the session goes on
            if (failuresLogged++ < 10) log(`control: ${m.type} from ${id} failed: ${e?.message ?? e}`)
            return count('failed', `${m.type}: ${e?.message ?? e}`)
          }
        },
        /** The viewer left: frees control (releasing whatever it held) if it had it. */
        leave() {
          if (!sessions.delete(session)) return
          if (holder === session) {
            holder = null
            releaseAll('the controlling viewer left')
            log(`control: ${id} left, control is free`)
            broadcastState(session)
          }
        },
      }
      sessions.add(session)
      return session
    },
    /** Frees control (releasing what is held) and refuses everything from now on. */
    close() {
      if (closed) return
      closed = true
      if (holder) releaseAll('closing')
      holder = null
      sessions.clear()
    },
  }
}

module.exports = {
  parseInputMessage,
  createControl,
  maxMessageBytes,
  PROTOCOL_VERSION,
  MAX_MESSAGE_BYTES,
  DEFAULT_CLIPBOARD_BYTES,
  DEFAULT_EVENTS_PER_SECOND,
  MAX_WHEEL_STEPS,
  MAX_KEY_CHARS,
  MAX_TEXT_CHARS,
}
