// Remote control (stripecast/control and the example server's --control): the message parser,
// a fuzz of it, the arbiter (one controlling viewer), and the server's security rules. The
// parser and arbiter tests need no X server; the server tests start their own Xvfb.
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createRequire } from 'node:module'
import WebSocket from 'ws'

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startXvfb } from './helpers/xvfb.mjs'
import { openPainter } from './helpers/xpaint.mjs'
import { startServer, optionsFromCli } from '../examples/screen-to-browser/server.mjs'
import { startSocketIoServer } from '../examples/socketio/server.mjs'
import { canvasPoint, connect } from '../client/stripecast-client.js'

const require = createRequire(import.meta.url)
const { parseInputMessage, createControl, maxMessageBytes, MAX_MESSAGE_BYTES } = require('stripecast/control')

const REGION = { x: 100, y: 50, width: 640, height: 360 }

/**
 * An injector that records its calls and every call outside its contract (the addon's
 * InputInjector would throw on those; the arbiter must never make them).
 */
function mockInjector(region = REGION) {
  const calls = []
  const violations = []
  const int = (v) => Number.isInteger(v)
  const check = (ok, what, args) => {
    if (!ok) violations.push(`${what}(${args.map((a) => JSON.stringify(a)).join(', ')})`)
  }
  return {
    calls,
    violations,
    region,
    closed: false,
    pointerMove(x, y) {
      check(int(x) && int(y) && x >= 0 && y >= 0 && x < region.width && y < region.height && arguments.length === 2, 'pointerMove', [...arguments])
      calls.push(['pointerMove', x, y])
    },
    pointerButton(button, down) {
      check(int(button) && button >= 1 && button <= 9 && typeof down === 'boolean' && arguments.length === 2, 'pointerButton', [...arguments])
      calls.push(['pointerButton', button, down])
    },
    scroll(dx, dy) {
      check(int(dx) && int(dy) && Math.abs(dx) <= 100 && Math.abs(dy) <= 100 && arguments.length === 2, 'scroll', [...arguments])
      calls.push(['scroll', dx, dy])
    },
    key(key, down) {
      const okKey = (typeof key === 'string' && key.length > 0 && [...key].length <= 32) || (int(key) && key > 0 && key <= 0x1fffffff)
      check(okKey && typeof down === 'boolean' && arguments.length === 2, 'key', [...arguments])
      calls.push(['key', key, down])
    },
    type(text) {
      check(typeof text === 'string' && text.length > 0 && [...text].length <= 1024 && arguments.length === 1, 'type', [...arguments])
      calls.push(['type', text])
    },
    releaseAll() {
      check(arguments.length === 0, 'releaseAll', [...arguments])
      calls.push(['releaseAll'])
    },
    held() {
      return { keys: [], buttons: [] }
    },
    close() {
      this.closed = true
    },
  }
}

function mockClipboard(maxBytes = 1000) {
  const writes = []
  return { maxBytes, writes, write: (text) => void writes.push(text), close() {} }
}

const j = (o) => JSON.stringify(o)

describe('control messages: parseInputMessage', () => {
  const valid = [
    [{ type: 'control', take: true }, { type: 'control', take: true }],
    [{ type: 'control', take: false, v: 1 }, { type: 'control', take: false }],
    [{ type: 'pointer', x: 0, y: 65535 }, { type: 'pointer', x: 0, y: 65535 }],
    [{ type: 'button', button: 1, down: true }, { type: 'button', button: 1, down: true }],
    [{ type: 'button', button: 9, down: false, x: 3, y: 4 }, { type: 'button', button: 9, down: false, x: 3, y: 4 }],
    [{ type: 'wheel', dx: -20, dy: 20 }, { type: 'wheel', dx: -20, dy: 20 }],
    [{ type: 'key', key: 'Enter', down: true }, { type: 'key', key: 'Enter', down: true }],
    [{ type: 'key', key: 'é', down: false }, { type: 'key', key: 'é', down: false }],
    [{ type: 'key', key: 0xff0d, down: true }, { type: 'key', key: 0xff0d, down: true }],
    [{ type: 'key', key: 'x'.repeat(32), down: true }, { type: 'key', key: 'x'.repeat(32), down: true }],
    [{ type: 'text', text: 'héllo Wörld €' }, { type: 'text', text: 'héllo Wörld €' }],
    [{ type: 'text', text: 'é'.repeat(1024) }, { type: 'text', text: 'é'.repeat(1024) }],
    [{ type: 'text', text: '😀'.repeat(1000) }, { type: 'text', text: '😀'.repeat(1000) }],
    [{ type: 'clipboard', text: '' }, { type: 'clipboard', text: '' }],
    [{ type: 'release' }, { type: 'release' }],
  ]
  it('accepts every message type with fields in range, and returns only the allowed fields', () => {
    for (const [msg, want] of valid) {
      for (const data of [j(msg), Buffer.from(j(msg)), new TextEncoder().encode(j(msg)).buffer]) {
        const r = parseInputMessage(data)
        assert.deepEqual(r, { ok: true, message: want }, j(msg))
      }
    }
  })

  const invalid = [
    ['', /not JSON/],
    ['keyframe', /not JSON/],
    ['{', /not JSON/],
    ['null', /not a JSON object/],
    ['[{"type":"release"}]', /not a JSON object/],
    ['"release"', /not a JSON object/],
    [j({}), /unknown type/],
    [j({ type: 'explode' }), /unknown type "explode"/],
    [j({ type: 'hasOwnProperty' }), /unknown type/],
    [j({ type: 'constructor' }), /unknown type/],
    ['{"__proto__":{"type":"release"}}', /unknown type/],
    ['{"type":"release","__proto__":{"x":1}}', /unknown field "__proto__"/],
    [j({ type: 'release', v: 2 }), /unsupported version 2/],
    [j({ type: 'release', v: '1' }), /unsupported version/],
    [j({ type: 'release', extra: 1 }), /release: unknown field "extra"/],
    [j({ type: 'control' }), /control.take is missing/],
    [j({ type: 'control', take: 1 }), /control.take must be true or false/],
    [j({ type: 'pointer', x: 1 }), /pointer.y is missing/],
    [j({ type: 'pointer', x: -1, y: 0 }), /pointer.x must be an integer in 0..65535/],
    [j({ type: 'pointer', x: 1.5, y: 0 }), /pointer.x must be an integer/],
    [j({ type: 'pointer', x: 65536, y: 0 }), /pointer.x/],
    [j({ type: 'pointer', x: '1', y: 0 }), /pointer.x/],
    [j({ type: 'pointer', x: [1], y: 0 }), /pointer.x/],
    [j({ type: 'pointer', x: { valueOf: 1 }, y: 0 }), /pointer.x/],
    [j({ type: 'button', button: 0, down: true }), /button.button must be an integer in 1..9/],
    [j({ type: 'button', button: 10, down: true }), /button.button/],
    [j({ type: 'button', button: 1, down: 'yes' }), /button.down/],
    [j({ type: 'button', button: 1, down: true, x: 4 }), /x and y go together/],
    [j({ type: 'wheel', dx: 0, dy: 21 }), /wheel.dy must be an integer in -20..20/],
    [j({ type: 'wheel', dx: 0.5, dy: 0 }), /wheel.dx/],
    [j({ type: 'key', key: '', down: true }), /key.key/],
    [j({ type: 'key', key: 'x'.repeat(33), down: true }), /at most 32 characters/],
    [j({ type: 'key', key: 'a\u0000', down: true }), /control characters/],
    [j({ type: 'key', key: 0, down: true }), /keysym/],
    [j({ type: 'key', key: 0x20000000, down: true }), /keysym/],
    [j({ type: 'key', key: true, down: true }), /key.key/],
    [j({ type: 'key', key: 'a' }), /key.down is missing/],
    [j({ type: 'text', text: '' }), /text.text must be a non-empty string/],
    [j({ type: 'text', text: 'x'.repeat(1025) }), /at most 1024 characters|too large/],
    [j({ type: 'text', text: 'x'.repeat(5000) }), /too large/],
    [j({ type: 'text', text: '😀'.repeat(1024) }), /too large/], // 1024 characters, but over 4 KiB
    [j({ type: 'text', text: 42 }), /text.text/],
    [j({ type: 'clipboard', text: 'x'.repeat(1001) }), /at most 1000 bytes/],
    [j({ type: 'clipboard', text: 'é'.repeat(501) }), /at most 1000 bytes/],
    [j({ type: 'clipboard' }), /clipboard.text is missing/],
    ['['.repeat(100000) + ']'.repeat(100000), /too large/],
    ['['.repeat(2000) + ']'.repeat(2000), /not a JSON object/],
    ['{"type":"release","a":' + '{"b":'.repeat(500) + '1' + '}'.repeat(500) + '}', /unknown field "a"/],
    [j({ type: 'clipboard', text: 'x'.repeat(7000) }), /too large/],
  ]
  it('drops malformed, out-of-range, unknown and oversized messages, saying why', () => {
    for (const [data, why] of invalid) {
      const r = parseInputMessage(data, { maxClipboardBytes: 1000 })
      assert.equal(r.ok, false, `${String(data).slice(0, 80)} must be refused`)
      assert.match(r.reason, why, String(data).slice(0, 80))
    }
    assert.deepEqual(parseInputMessage(42), { ok: false, reason: 'not a text message' })
    assert.deepEqual(parseInputMessage(null), { ok: false, reason: 'not a text message' })
    assert.deepEqual(parseInputMessage({ type: 'release' }), { ok: false, reason: 'not a text message' })
  })

  it('sizes: 4 KiB for all but clipboard; a clipboard message up to its text limit, JSON escapes included', () => {
    const pad = (n) => j({ type: 'key', key: 'a', down: true }).replace('{', '{' + ' '.repeat(n))
    assert.equal(parseInputMessage(pad(MAX_MESSAGE_BYTES - pad(0).length)).ok, true, 'exactly 4096 bytes')
    assert.match(parseInputMessage(pad(MAX_MESSAGE_BYTES - pad(0).length + 1)).reason, /too large/)
    // 1000 control characters: 6000 bytes of JSON for 1000 bytes of text
    const escaped = j({ type: 'clipboard', text: '\u0001'.repeat(1000) })
    assert.ok(escaped.length > 6000 && escaped.length <= maxMessageBytes(1000))
    assert.equal(parseInputMessage(escaped, { maxClipboardBytes: 1000 }).ok, true)
  })
})

/** A random generator with a seed, so that a failure can be replayed. */
function rng(seed) {
  let s = seed >>> 0
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0
    let t = s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1))
  const pick = (a) => a[int(0, a.length - 1)]
  return { next, int, pick }
}

/**
 * The spec of docs/api.md, written again independently of lib/control.js: is `raw` (parsed
 * JSON) a valid message? Used as the fuzz's oracle.
 */
function oracle(raw, bytes, clipLimit) {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return false
  const own = (k) => Object.prototype.hasOwnProperty.call(raw, k)
  const isInt = (v, lo, hi) => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi
  const isBool = (v) => v === true || v === false
  const keyOk = (v) =>
    (typeof v === 'string' && v.length > 0 && [...v].length <= 32 && !/[\u0000-\u001f\u007f]/.test(v)) || isInt(v, 1, 0x1fffffff)
  const spec = {
    control: { take: [isBool, 1] },
    pointer: { x: [(v) => isInt(v, 0, 65535), 1], y: [(v) => isInt(v, 0, 65535), 1] },
    button: { button: [(v) => isInt(v, 1, 9), 1], down: [isBool, 1], x: [(v) => isInt(v, 0, 65535), 0], y: [(v) => isInt(v, 0, 65535), 0] },
    wheel: { dx: [(v) => isInt(v, -20, 20), 1], dy: [(v) => isInt(v, -20, 20), 1] },
    key: { key: [keyOk, 1], down: [isBool, 1] },
    text: { text: [(v) => typeof v === 'string' && v.length > 0 && [...v].length <= 1024, 1] },
    clipboard: { text: [(v) => typeof v === 'string' && Buffer.byteLength(v) <= clipLimit, 1] },
    release: {},
  }
  if (!own('type') || typeof raw.type !== 'string' || !Object.keys(spec).includes(raw.type)) return false
  if (raw.type !== 'clipboard' && bytes > 4096) return false
  const fields = spec[raw.type]
  for (const k of Object.keys(raw)) {
    if (k === 'type') continue
    if (k === 'v') {
      if (raw.v !== 1) return false
      continue
    }
    if (!Object.keys(fields).includes(k) || !fields[k][0](raw[k])) return false
  }
  for (const [k, [, req]] of Object.entries(fields)) if (req && !own(k)) return false
  if (raw.type === 'button' && own('x') !== own('y')) return false
  return true
}

describe('control messages: fuzz', () => {
  it('20000+ random and mutated messages: never throws, every invalid one is dropped, the injector sees only valid calls', () => {
    const seed = Number(process.env.STRIPECAST_FUZZ_SEED ?? 20261202)
    const r = rng(seed)
    const CLIP = 2000
    const injector = mockInjector()
    const clipboard = mockClipboard(CLIP)
    // a clock a second ahead at each look: the rate limit never bites here (its own test below)
    let t = 0
    const control = createControl({ injector, clipboard, now: () => (t += 1000) })
    const holder = control.join('holder')
    assert.equal(holder.handle(j({ type: 'control', take: true })).status, 'accepted')
    const bystander = control.join('bystander')

    const strings = ['', 'a', 'Enter', 'é', '€', '😀', '\u0000', '\ud800', 'x'.repeat(33), 'x'.repeat(1025), '__proto__', 'constructor', 'AltGraph', '\u007f']
    const randomString = () => {
      const kind = r.int(0, 4)
      if (kind === 0) return r.pick(strings)
      if (kind === 4) return 'y'.repeat(r.int(0, 6000))
      let s = ''
      const n = r.int(0, 40)
      for (let i = 0; i < n; i++) s += String.fromCodePoint(r.pick([r.int(0, 0x7f), r.int(0x80, 0x7ff), r.int(0xd7ff, 0xe000), r.int(0x10000, 0x10ffff)]))
      return s
    }
    const randomNumber = () => r.pick([0, 1, -1, 9, 10, 20, 21, -21, 65535, 65536, 0.5, 1e308, -0, 2 ** 53, 0x1fffffff, 0x20000000, r.int(-100, 100), r.int(0, 70000)])
    const randomValue = (depth = 0) => {
      const k = r.int(0, depth > 3 ? 3 : 6)
      if (k === 0) return randomNumber()
      if (k === 1) return randomString()
      if (k === 2) return r.pick([true, false, null])
      if (k === 3) return r.pick([undefined, 'x'])
      if (k === 4) return Array.from({ length: r.int(0, 4) }, () => randomValue(depth + 1))
      const o = {}
      for (let i = r.int(0, 4); i > 0; i--) o[r.pick(['type', 'x', 'y', 'key', 'text', 'v', 'down', 'take', r.pick(strings)])] = randomValue(depth + 1)
      return o
    }
    const TYPES = ['control', 'pointer', 'button', 'wheel', 'key', 'text', 'clipboard', 'release']
    const validMessage = () => {
      const t = r.pick(TYPES)
      const coord = () => r.int(0, 800)
      switch (t) {
        case 'control':
          return { type: t, take: true }
        case 'pointer':
          return { type: t, x: coord(), y: coord() }
        case 'button':
          return r.next() < 0.5 ? { type: t, button: r.int(1, 9), down: r.next() < 0.5 } : { type: t, button: r.int(1, 9), down: true, x: coord(), y: coord() }
        case 'wheel':
          return { type: t, dx: r.int(-20, 20), dy: r.int(-20, 20) }
        case 'key':
          return { type: t, key: r.pick(['Enter', 'a', 'é', 'ArrowLeft', 0xff0d, 65]), down: r.next() < 0.5 }
        case 'text':
          return { type: t, text: r.pick(['a', 'héllo', '€😀']) }
        case 'clipboard':
          return { type: t, text: r.pick(['', 'paste me', 'ü'.repeat(900)]) }
        default:
          return { type: t }
      }
    }
    const generators = [
      // random bytes
      () => Buffer.from(Array.from({ length: r.int(0, 300) }, () => r.int(0, 255))),
      // random JSON
      () => JSON.stringify(randomValue()) ?? 'undefined',
      // a valid message with one field broken (or removed, or one added)
      () => {
        const m = validMessage()
        const keys = Object.keys(m)
        const k = r.pick([...keys, 'extra', '__proto__', 'v'])
        if (r.next() < 0.2 && k !== 'type') delete m[k]
        else m[k] = randomValue(2)
        return JSON.stringify(m)
      },
      // a valid message with its JSON text cut or a byte flipped
      () => {
        const b = Buffer.from(JSON.stringify(validMessage()))
        if (r.next() < 0.5) return b.subarray(0, r.int(0, b.length))
        b[r.int(0, b.length - 1)] = r.int(0, 255)
        return b
      },
      // huge strings, deep nesting, prototype keys
      () =>
        r.pick([
          () => JSON.stringify({ type: 'text', text: 'z'.repeat(r.int(1000, 9000)) }),
          () => JSON.stringify({ type: 'clipboard', text: '\u0002'.repeat(r.int(1900, 2100)) }),
          () => JSON.stringify({ type: 'key', key: 'k'.repeat(r.int(30, 40)), down: true }),
          () => '['.repeat(r.int(1, 5000)) + ']'.repeat(r.int(0, 5000)),
          () => '{"a":'.repeat(r.int(1, 3000)) + '1' + '}'.repeat(r.int(0, 3000)),
          () => `{"__proto__":{"type":"text","text":"x"},"type":"${r.pick(TYPES)}"}`,
          () => `{"type":"release","constructor":{"prototype":{"polluted":1}}}`,
          () => JSON.stringify(validMessage()).replace('{', '{"v":' + r.pick(['1', '2', '"1"', 'null', '1.0']) + ','),
        ])(),
      // valid messages (so that accepted is exercised too)
      () => JSON.stringify(validMessage()),
    ]

    const N = 24000
    let invalid = 0
    let valid = 0
    for (let i = 0; i < N; i++) {
      const data = r.pick(generators)()
      const text = Buffer.isBuffer(data) ? data.toString('utf8') : data
      const bytes = Buffer.byteLength(text)
      let raw
      let parses = true
      try {
        raw = JSON.parse(text)
      } catch {
        parses = false
      }
      const shouldBeValid = parses && bytes <= maxMessageBytes(CLIP) && oracle(raw, bytes, CLIP)
      const before = { ...control.stats }
      const calls = injector.calls.length
      const session = i % 10 === 9 ? bystander : holder
      let res
      assert.doesNotThrow(() => (res = session.handle(data)), `message ${i} (seed ${seed})`)
      const label = `message ${i} (seed ${seed}): ${text.slice(0, 120)} -> ${JSON.stringify(res)}`
      assert.equal(parseInputMessage(data, { maxClipboardBytes: CLIP }).ok, shouldBeValid, label)
      if (!shouldBeValid) {
        invalid++
        assert.equal(res.status, 'dropped', label)
        assert.equal(control.stats.dropped, before.dropped + 1, label)
        assert.equal(injector.calls.length, calls, `${label}: the injector was called`)
      } else {
        valid++
        // a valid message is dropped only for coordinates outside the injector's region
        assert.ok(res.status !== 'dropped' || /outside the/.test(res.reason), label)
        assert.notEqual(res.status, 'failed', label)
        if (session === bystander && raw.type !== 'control') assert.equal(res.status, 'refused', label)
      }
      // the bystander asked for control above: the holder keeps it
      if (raw?.type === 'control' && session === holder && res.status === 'accepted' && raw.take === false) holder.handle(j({ type: 'control', take: true }))
    }
    assert.deepEqual(injector.violations, [], 'calls outside the injector contract')
    assert.equal(control.stats.failed, 0)
    const total = control.stats.accepted + control.stats.dropped + control.stats.refused + control.stats.failed
    assert.ok(total >= N, `every message counted (${total} of ${N}+)`)
    assert.ok(invalid > 12000 && valid > 3000, `a useful mix: ${invalid} invalid, ${valid} valid`)
    assert.ok(injector.calls.length > 1000, `the injector was exercised: ${injector.calls.length} calls`)
    assert.equal({}.polluted, undefined, 'no prototype pollution')
  })
})

describe('control: arbitration', () => {
  it('one holder at a time; others refused; leaving or giving up frees it and releases what is held', () => {
    const injector = mockInjector()
    const log = []
    const control = createControl({ injector, log: (l) => log.push(l) })
    const toA = []
    const toB = []
    const a = control.join('a', { send: (m) => toA.push(m) })
    const b = control.join('b', { send: (m) => toB.push(m) })

    // input before anyone takes control is refused
    assert.deepEqual(a.handle(j({ type: 'pointer', x: 1, y: 1 })), { status: 'refused', reason: 'control not taken', reply: undefined })
    assert.equal(a.handle(j({ type: 'control', take: true })).status, 'accepted')
    assert.deepEqual(toA.at(-1), { type: 'control', granted: true, v: 1 })
    assert.deepEqual(toB.at(-1), { type: 'control', granted: false, free: false, v: 1 }, 'b is told someone has control')
    assert.equal(control.holder, 'a')
    assert.equal(a.holds, true)

    const r = b.handle(j({ type: 'control', take: true }))
    assert.equal(r.status, 'refused')
    assert.deepEqual(toB.at(-1), { type: 'control', granted: false, reason: 'another viewer has control', free: false, v: 1 })
    for (const m of [{ type: 'pointer', x: 5, y: 5 }, { type: 'key', key: 'a', down: true }, { type: 'text', text: 'x' }, { type: 'release' }]) {
      assert.equal(b.handle(j(m)).status, 'refused', j(m))
    }
    assert.deepEqual(injector.calls, [], 'nothing from b reached the injector')
    assert.deepEqual(b.stats, { accepted: 0, dropped: 0, refused: 5, failed: 0 })

    // a's input goes through, out-of-region coordinates are dropped before the injector
    assert.equal(a.handle(j({ type: 'button', button: 1, down: true, x: 10, y: 20 })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'pointer', x: 640, y: 0 })).status, 'dropped')
    assert.equal(a.handle(j({ type: 'button', button: 3, down: true, x: 0, y: 360 })).status, 'dropped')
    assert.equal(a.handle(j({ type: 'wheel', dx: 0, dy: 3 })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'wheel', dx: 0, dy: 0 })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'key', key: 'Shift', down: true })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'text', text: 'héllo' })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'clipboard', text: 'x' })).status, 'dropped', 'no clipboard given')
    assert.deepEqual(injector.calls, [
      ['pointerMove', 10, 20],
      ['pointerButton', 1, true],
      ['scroll', 0, 3],
      ['key', 'Shift', true],
      ['type', 'héllo'],
    ])

    // a leaves while holding a button and a key: everything is released, b may take over
    a.leave()
    assert.deepEqual(injector.calls.at(-1), ['releaseAll'])
    assert.equal(control.holder, null)
    assert.deepEqual(toB.at(-1), { type: 'control', granted: false, free: true, v: 1 }, 'b is told control is free')
    assert.equal(a.handle(j({ type: 'control', take: true })).status, 'refused', 'a left: its session is dead')
    assert.equal(b.handle(j({ type: 'control', take: true })).status, 'accepted')
    assert.equal(control.holder, 'b')

    // giving up releases too, and another viewer gets it
    const c = control.join('c')
    const n = injector.calls.length
    assert.equal(b.handle(j({ type: 'control', take: false })).status, 'accepted')
    assert.deepEqual(toB.at(-1), { type: 'control', granted: false, reason: 'given up', free: true, v: 1 })
    assert.deepEqual(injector.calls.slice(n), [['releaseAll']])
    assert.equal(c.handle(j({ type: 'control', take: true })).status, 'accepted')
    assert.equal(control.holder, 'c')
    // a non-holder giving up changes nothing
    assert.equal(b.handle(j({ type: 'control', take: false })).status, 'accepted')
    assert.equal(control.holder, 'c')
    assert.deepEqual(control.stats, { accepted: 10, dropped: 3, refused: 7, failed: 0 })
    assert.ok(log.some((l) => /granted to a/.test(l)) && log.some((l) => /a left/.test(l)), log.join('\n'))
  })

  it('an injector or clipboard that throws is counted as failed and never escapes', async () => {
    const injector = mockInjector()
    injector.key = (k) => {
      throw new RangeError(`key: unknown key name '${k}'`)
    }
    injector.releaseAll = () => {
      throw new Error('X connection lost')
    }
    const clipboard = {
      maxBytes: 100,
      write: () => Promise.reject(new Error('selection lost')),
    }
    const control = createControl({ injector, clipboard })
    const a = control.join('a')
    a.handle(j({ type: 'control', take: true }))
    const r = a.handle(j({ type: 'key', key: 'NoSuchKey', down: true }))
    assert.equal(r.status, 'failed')
    assert.match(r.reason, /unknown key name 'NoSuchKey'/)
    assert.equal(a.handle(j({ type: 'release' })).status, 'failed')
    assert.equal(a.handle(j({ type: 'clipboard', text: 'y'.repeat(101) })).status, 'dropped', 'over the clipboard maxBytes')
    assert.equal(a.handle(j({ type: 'clipboard', text: 'y' })).status, 'accepted')
    await new Promise((res) => setImmediate(res))
    assert.doesNotThrow(() => a.leave())
    assert.deepEqual(control.stats, { accepted: 2, dropped: 1, refused: 0, failed: 4 })
  })

  it('clipboard messages go to the clipboard, up to its maxBytes', () => {
    const injector = mockInjector()
    const clipboard = mockClipboard(10)
    const control = createControl({ injector, clipboard })
    assert.equal(control.maxClipboardBytes, 10)
    const a = control.join('a')
    a.handle(j({ type: 'control', take: true }))
    assert.equal(a.handle(j({ type: 'clipboard', text: 'éééé' })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'clipboard', text: 'ééééé€' })).status, 'dropped')
    assert.deepEqual(clipboard.writes, ['éééé'])
  })

  it('refuses an injector that is not one', () => {
    assert.throws(() => createControl({}), /options.injector must be an InputInjector/)
  })

  it('limits input events a second, a text by its characters, but never a release', () => {
    const injector = mockInjector()
    let t = 0 // ms, moved by hand
    const control = createControl({ injector, maxEventsPerSecond: 100, now: () => t })
    const a = control.join('a')
    a.handle(j({ type: 'control', take: true }))
    assert.equal(a.handle(j({ type: 'key', key: 'a', down: true })).status, 'accepted')
    let accepted = 1
    for (let i = 0; i < 200; i++) if (a.handle(j({ type: 'pointer', x: i, y: 1 })).status === 'accepted') accepted++
    assert.equal(accepted, 100, 'a burst of one second at the rate')
    const over = a.handle(j({ type: 'wheel', dx: 0, dy: 1 }))
    assert.deepEqual([over.status, over.reason], ['dropped', 'over 100 input events a second'])
    // releases always pass, even with the budget spent
    assert.equal(a.handle(j({ type: 'key', key: 'a', down: false })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'button', button: 1, down: false })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'release' })).status, 'accepted')
    // 100 ms refill 10 events: a 10-character text fits, an 11th event does not
    t += 100
    assert.equal(a.handle(j({ type: 'text', text: 'abcdefghij' })).status, 'accepted')
    assert.equal(a.handle(j({ type: 'pointer', x: 1, y: 1 })).status, 'dropped')
    t += 10_000 // the bucket holds one second's worth, however long the pause
    accepted = 0
    for (let i = 0; i < 150; i++) if (a.handle(j({ type: 'pointer', x: 1, y: 1 })).status === 'accepted') accepted++
    assert.equal(accepted, 100)
    assert.throws(() => createControl({ injector, maxEventsPerSecond: 0 }), /maxEventsPerSecond must be a number > 0, got 0/)
  })
})

// ---- the example server ---------------------------------------------------------------------

/** Opens a ws to the server; resolves with the socket and its text messages, or the HTTP status it was refused with. */
function openWs(url, token) {
  const u = new URL(url)
  const wsUrl = `ws://${u.host}/ws${token === undefined ? '' : `?token=${encodeURIComponent(token)}`}`
  return new Promise((resolve) => {
    const ws = new WebSocket(wsUrl)
    const texts = []
    ws.on('message', (d, isBinary) => {
      if (!isBinary) texts.push(JSON.parse(d.toString()))
    })
    ws.on('open', () => resolve({ ws, texts, binaries: () => ws.binaries }))
    ws.binaries = 0
    ws.on('message', (d, isBinary) => isBinary && ws.binaries++)
    ws.on('unexpected-response', (req, res) => resolve({ status: res.statusCode }))
    ws.on('error', (e) => resolve({ error: e.message }))
  })
}

const waitFor = async (fn, what, timeoutMs = 30000) => {
  const end = Date.now() + timeoutMs
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

describe('control: the browser client, without a browser', () => {
  it('canvasPoint maps CSS pixels to canvas pixels through scaling, object-fit and object-position, clamped', () => {
    const box = { left: 10, top: 20, width: 800, height: 480 }
    // fill: stretched 800/640 x 480/360
    assert.deepEqual(canvasPoint(10, 20, box, 640, 360), { x: 0, y: 0 })
    assert.deepEqual(canvasPoint(10 + 400, 20 + 240, box, 640, 360, 'fill'), { x: 320, y: 180 })
    // contain: x1.25, 15 px bands above and below
    assert.deepEqual(canvasPoint(10 + 125, 20 + 15 + 125, box, 640, 360, 'contain'), { x: 100, y: 100 })
    assert.deepEqual(canvasPoint(10 + 125, 20 + 2, box, 640, 360, 'contain'), { x: 100, y: 0 }, 'the band clamps to the edge')
    assert.deepEqual(canvasPoint(10 + 125, 20 + 15 + 125, box, 640, 360, 'contain', '0% 0%'), { x: 100, y: 112 })
    assert.deepEqual(canvasPoint(10 + 125, 20 + 125, box, 640, 360, 'contain', 'left top'), { x: 100, y: 100 })
    // cover: x1.3333, 26.7 CSS pixels (20 canvas pixels) cut on each side
    assert.deepEqual(canvasPoint(10 + 400, 20 + 240, box, 640, 360, 'cover'), { x: 320, y: 180 })
    assert.deepEqual(canvasPoint(10, 20, box, 640, 360, 'cover'), { x: 20, y: 0 })
    // none and scale-down: 1:1, centred (80 px and 60 px of room)
    assert.deepEqual(canvasPoint(10 + 80 + 5, 20 + 60 + 7, box, 640, 360, 'none'), { x: 5, y: 7 })
    assert.deepEqual(canvasPoint(10 + 80 + 5, 20 + 60 + 7, box, 640, 360, 'scale-down'), { x: 5, y: 7 })
    // far outside: clamped to the last pixel
    assert.deepEqual(canvasPoint(5000, 5000, box, 640, 360, 'contain'), { x: 639, y: 359 })
    assert.deepEqual(canvasPoint(-5000, -5000, box, 640, 360), { x: 0, y: 0 })
    assert.equal(canvasPoint(1, 1, box, 0, 0), null, 'no picture yet')
  })

  it("connect(): link.on('text'|'open'|'close') listeners beside the options' callbacks", () => {
    const sockets = []
    class FakeWs {
      constructor(url) {
        this.url = url
        this.readyState = 0
        this.sent = []
        sockets.push(this)
      }
      send(d) {
        this.sent.push(d)
      }
      close() {}
    }
    const client = { onNeedKeyframe: () => () => {}, reset() {}, handleMessage() {} }
    const seen = []
    const link = connect('ws://x/ws', client, { WebSocket: FakeWs, onText: (t) => seen.push(['option', t]) })
    const off = link.on('text', (t) => seen.push(['listener', t]))
    link.on('open', () => seen.push(['open']))
    assert.throws(() => link.on('nope', () => {}), /event must be 'text', 'open' or 'close'/)
    const ws = sockets[0]
    ws.readyState = 1
    ws.onopen()
    ws.onmessage({ data: 'hello' })
    off()
    ws.onmessage({ data: 'again' })
    assert.deepEqual(seen, [['open'], ['option', 'hello'], ['listener', 'hello'], ['option', 'again']])
    assert.equal(link.send('{"type":"release"}'), true)
    assert.deepEqual(ws.sent, ['{"type":"release"}'])
    link.close()
  })
})

describe('control: the command line', () => {
  it('--control is off by default, on with the flag or STRIPECAST_CONTROL, refused with --transport webrtc', () => {
    assert.equal(optionsFromCli([], {}).control, false)
    assert.equal(optionsFromCli(['--control'], {}).control, true)
    assert.equal(optionsFromCli([], { STRIPECAST_CONTROL: '1' }).control, true)
    assert.equal(optionsFromCli([], { STRIPECAST_CONTROL: 'off' }).control, false)
    assert.throws(() => optionsFromCli(['--control', '--transport', 'webrtc'], {}), /--control works with --transport ws/)
  })
  it('the socket.io example refuses --control rather than ignore it', async () => {
    await assert.rejects(startSocketIoServer({ control: true, port: 0 }), /--control is served by examples\/screen-to-browser/)
  })
})

describe('control: the example server', () => {
  let xvfb
  const servers = []
  before(async () => {
    xvfb = await startXvfb({ width: 800, height: 600 })
  })
  after(async () => {
    for (const s of servers) await s.close()
    await xvfb?.stop()
  })

  /** An InputInjector stand-in that records what it was made with and called with. */
  function spyInjectorClass() {
    const made = []
    class Spy {
      constructor(settings) {
        const m = mockInjector({ x: settings.captureX ?? 0, y: settings.captureY ?? 0, width: settings.captureWidth ?? 800, height: settings.captureHeight ?? 600 })
        Object.assign(this, m)
        this.settings = settings
        made.push(this)
      }
    }
    return { Spy, made }
  }

  async function serve(o) {
    const srv = await startServer({ display: xvfb.display, port: 0, idleStopMs: 0, cursor: false, Clipboard: null, ...o })
    servers.push(srv)
    return srv
  }

  it('without control: no injector is opened and input messages are ignored (counted)', async () => {
    const { Spy, made } = spyInjectorClass()
    const srv = await serve({ InputInjector: Spy })
    assert.equal(srv.control, null)
    assert.equal(new URL(srv.url).searchParams.get('token'), null, 'no token forced without control')
    const c = await openWs(srv.url)
    assert.ok(c.ws, JSON.stringify(c))
    for (const m of [{ type: 'control', take: true }, { type: 'pointer', x: 1, y: 1 }, { type: 'text', text: 'rm -rf' }]) c.ws.send(j(m))
    await waitFor(() => srv.ignoredInput === 3, 'three ignored messages')
    await waitFor(() => c.ws.binaries > 0, 'the stream')
    assert.equal(made.length, 0, 'no injector was created')
    assert.ok(!c.texts.some((t) => t.type === 'control'), 'no control message sent to the page')
    c.ws.close()
  })

  it('with control: a token is mandatory (generated), no or a wrong token is 401; a second viewer is refused; oversized input is dropped; leaving releases', async () => {
    const { Spy, made } = spyInjectorClass()
    const logs = []
    const srv = await serve({ control: true, InputInjector: Spy, region: '400x300+100+50', log: (l) => logs.push(l) })
    assert.equal(made.length, 1)
    assert.deepEqual(made[0].settings, { display: xvfb.display, captureWidth: 400, captureHeight: 300, captureX: 100, captureY: 50 })
    const token = new URL(srv.url).searchParams.get('token')
    assert.ok(token && token.length >= 20, `a generated token in the URL: ${srv.url}`)
    assert.equal(srv.token, token)

    assert.deepEqual(await openWs(srv.url), { status: 401 }, 'no token')
    assert.deepEqual(await openWs(srv.url, 'wrong'), { status: 401 }, 'wrong token')

    const a = await openWs(srv.url, token)
    const b = await openWs(srv.url, token)
    assert.ok(a.ws && b.ws)
    await waitFor(() => a.texts.some((t) => t.type === 'control') && b.texts.some((t) => t.type === 'control'), 'the control hello')
    assert.deepEqual(a.texts.find((t) => t.type === 'control'), { type: 'control', v: 1, granted: false, free: true })

    a.ws.send(j({ type: 'control', take: true }))
    await waitFor(() => a.texts.some((t) => t.granted === true), 'a granted')
    b.ws.send(j({ type: 'control', take: true }))
    await waitFor(() => b.texts.some((t) => t.reason === 'another viewer has control'), 'b refused')
    b.ws.send(j({ type: 'pointer', x: 7, y: 7 }))
    b.ws.send(j({ type: 'key', key: 'a', down: true }))
    await waitFor(() => srv.control.stats.refused === 3, 'b refused three times')
    assert.deepEqual(made[0].calls, [], 'b moved nothing')

    a.ws.send(j({ type: 'button', button: 1, down: true, x: 10, y: 20 }))
    a.ws.send(j({ type: 'key', key: 'Control', down: true }))
    // oversized (but under the transport's limit) and malformed input: dropped, connection lives
    a.ws.send(j({ type: 'text', text: 'x'.repeat(6000) }))
    a.ws.send('{"type":"pointer","x":1e9,"y":0}')
    a.ws.send('{not json')
    a.ws.send(j({ type: 'pointer', x: 399, y: 299 }))
    await waitFor(() => made[0].calls.length === 4, 'four calls')
    assert.deepEqual(made[0].calls, [
      ['pointerMove', 10, 20],
      ['pointerButton', 1, true],
      ['key', 'Control', true],
      ['pointerMove', 399, 299],
    ])
    assert.equal(srv.control.stats.dropped, 3)
    assert.equal(a.ws.readyState, WebSocket.OPEN, 'the connection survives bad input')
    const frames = a.ws.binaries
    a.ws.send('keyframe')
    await waitFor(() => a.ws.binaries > frames, 'the stream goes on (a key frame after the bad input)')

    // the controller disconnects while holding a button and a key: everything is released
    a.ws.close()
    await waitFor(() => made[0].calls.at(-1)?.[0] === 'releaseAll', 'releaseAll')
    await waitFor(() => b.texts.some((t) => t.free === true && t.granted === false && !t.reason), 'b told control is free')
    b.ws.send(j({ type: 'control', take: true }))
    await waitFor(() => b.texts.some((t) => t.granted === true), 'b granted')
    assert.equal(srv.control.holder !== null, true)
    b.ws.close()
    assert.ok(logs.some((l) => /control: on for 400x300/.test(l)), logs.join('\n'))
  })

  it('with control and a given token: that token is the one asked for', async () => {
    const { Spy } = spyInjectorClass()
    const srv = await serve({ control: true, InputInjector: Spy, token: 's3cret-token' })
    assert.equal(new URL(srv.url).searchParams.get('token'), 's3cret-token')
    assert.deepEqual(await openWs(srv.url, 'other'), { status: 401 })
    const a = await openWs(srv.url, 's3cret-token')
    assert.ok(a.ws)
    a.ws.close()
  })
})

describe('control: the example server with the addon InputInjector and an X client', () => {
  let xvfb
  let painter
  let tmp
  const servers = []
  const WIN = { x: 0, y: 0, w: 800, h: 600 }
  before(async () => {
    xvfb = await startXvfb({ width: 800, height: 600 })
    painter = await openPainter(xvfb.display)
    tmp = mkdtempSync(join(tmpdir(), 'stripecast-control-'))
  })
  after(async () => {
    for (const s of servers) await s.close()
    await painter?.close()
    await xvfb?.stop()
    rmSync(tmp, { recursive: true, force: true })
  })

  async function inputWindow(name) {
    const path = join(tmp, `${name}.jsonl`)
    await painter.inputWindow(WIN.x, WIN.y, WIN.w, WIN.h, '203040')
    await painter.inputLog(path)
    return path
  }
  const inputEvents = async (path) => (await painter.readInputLog(path)).filter((e) => e.ev === 'button' || e.ev === 'key')
  async function heldInX(path) {
    await painter.inputState()
    const st = (await painter.readInputLog(path)).filter((e) => e.ev === 'state').at(-1)
    return { keys: st?.keys, buttons: st?.buttons }
  }

  it('without --control, input messages reach nothing: the X client logs no event', async () => {
    const path = await inputWindow('off')
    const srv = await startServer({ display: xvfb.display, port: 0, idleStopMs: 0 })
    servers.push(srv)
    const c = await openWs(srv.url)
    for (const m of [
      { type: 'control', take: true },
      { type: 'button', button: 1, down: true, x: 100, y: 100 },
      { type: 'button', button: 1, down: false, x: 100, y: 100 },
      { type: 'key', key: 'a', down: true },
      { type: 'text', text: 'hello' },
    ]) {
      c.ws.send(j(m))
    }
    await waitFor(() => srv.ignoredInput === 5, 'five ignored messages')
    await new Promise((r) => setTimeout(r, 300))
    assert.deepEqual(await inputEvents(path), [], 'no input event in the X client')
    c.ws.close()
  })

  it('with --control: a viewer without the token moves nothing; the controller is obeyed; a second viewer is refused; a disconnecting controller leaves nothing pressed', async () => {
    const path = await inputWindow('on')
    const srv = await startServer({ display: xvfb.display, port: 0, idleStopMs: 0, control: true })
    servers.push(srv)
    assert.deepEqual(await openWs(srv.url), { status: 401 })
    assert.deepEqual(await openWs(srv.url, 'guess'), { status: 401 })

    const a = await openWs(srv.url, srv.token)
    const b = await openWs(srv.url, srv.token)
    a.ws.send(j({ type: 'control', take: true }))
    await waitFor(() => a.texts.some((t) => t.granted === true), 'a granted')
    b.ws.send(j({ type: 'control', take: true }))
    b.ws.send(j({ type: 'button', button: 3, down: true, x: 300, y: 300 }))
    b.ws.send(j({ type: 'text', text: 'intruder' }))
    await waitFor(() => srv.control.stats.refused === 3, 'b refused')
    await new Promise((r) => setTimeout(r, 200))
    assert.deepEqual(await inputEvents(path), [], 'nothing from b reached X')

    a.ws.send(j({ type: 'button', button: 1, down: true, x: 120, y: 80 }))
    a.ws.send(j({ type: 'key', key: 'Control', down: true }))
    a.ws.send(j({ type: 'text', text: 'x'.repeat(5000) })) // oversized: dropped
    await waitFor(() => srv.control.stats.accepted >= 3 && srv.control.stats.dropped === 1, 'a obeyed')
    let events = []
    for (let i = 0; i < 600 && events.length < 2; i++) {
      events = await inputEvents(path)
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.deepEqual(
      events.map((e) => (e.ev === 'button' ? [e.ev, e.down, e.button, e.x, e.y] : [e.ev, e.down, e.keysym])),
      [['button', true, 1, 120, 80], ['key', true, 0xffe3 /* Control_L */]],
    )
    assert.deepEqual((await heldInX(path)).buttons !== 0, true, 'button 1 held in X')

    a.ws.close()
    await waitFor(() => srv.control.holder === null, 'control freed')
    let held
    for (let i = 0; i < 600; i++) {
      held = await heldInX(path)
      if (held.buttons === 0 && held.keys?.length === 0) break
      await new Promise((r) => setTimeout(r, 50))
    }
    assert.deepEqual(held, { keys: [], buttons: 0 }, 'nothing pressed after the controller left')
    b.ws.close()
  })
})
