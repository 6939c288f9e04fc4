// InputInjector: pointer, buttons, wheel, keys and text injected through XTEST, checked by a
// referee that shares no code with the injector: xpaint's input window logs every event it
// receives (root coordinates, keycode, state, and the text xpaint decodes from its own copy of
// the keyboard mapping) and draws what it got, and `xev` (Xlib, XKB, XmbLookupString) decodes
// typed text the way real applications do. Layouts: the server's US default and
// `setxkbmap fr` switched mid-session.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { join } from 'node:path'
import { useXvfb } from './helpers/setup.mjs'
import { loadAddon, waitFor } from './helpers/capture.mjs'
import { startXvfb } from './helpers/xvfb.mjs'

const W = 800
const H = 600
const { InputInjector } = loadAddon()

// The window covers the region the injectors below are bound to.
const WIN = { x: 100, y: 50, w: 600, h: 500 }
const env = useXvfb({
  width: W,
  height: H,
  tmpPrefix: 'stripecast-input-',
  setup: async (p) => {
    await p.fill(0, 0, W, H, '000000')
  },
})

/** Fails (never skips) when a tool the test needs is missing, naming its Debian package. */
function need(tool, pkg) {
  try {
    execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' })
  } catch {
    assert.fail(`${tool} is missing: install the Debian package ${pkg} (scripts/setup.sh does)`)
  }
}

let logN = 0
/** A fresh input window and log; returns the log's path. */
async function freshWindow() {
  const path = join(env.tmp, `log-${logN++}.jsonl`)
  await env.painter.inputWindow(WIN.x, WIN.y, WIN.w, WIN.h, '404040')
  await env.painter.inputLog(path)
  return path
}

const events = (path) => env.painter.readInputLog(path)
const presses = (log) => log.filter((e) => e.ev === 'key' && e.down)
const typed = (log) => presses(log).map((e) => e.text).join('')

/** The RGB colour of the screen pixel at (x, y). */
async function pixel(x, y) {
  const b = await env.painter.dump(x, y, 1, 1)
  return ((b[2] << 16) | (b[1] << 8) | b[0]).toString(16).padStart(6, '0')
}

function throwsArg(fn, Class, re) {
  assert.throws(fn, (e) => e instanceof Class && e.code === 'ERR_INVALID_ARG' && re.test(e.message))
}

/** Keycodes whose row `xmodmap -pke` shows empty. */
function emptyKeycodes(display) {
  const out = execFileSync('xmodmap', ['-display', display, '-pke'], { encoding: 'utf8' })
  return out
    .split('\n')
    .map((l) => /^keycode\s+(\d+)\s*=\s*(.*)$/.exec(l))
    .filter((m) => m && m[2].trim() === '')
    .map((m) => Number(m[1]))
}

const US = 'héllo Wörld €'

test('input: clicks land at the right pixel of a region with an offset; outside it is a RangeError', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display, captureX: 100, captureY: 50, captureWidth: 400, captureHeight: 300, outputMode: 'jpeg' })
  try {
    assert.deepEqual({ ...inj.region }, { x: 100, y: 50, width: 400, height: 300 })
    const spots = [
      [40, 30, 1, 'ff0000'],
      [200, 100, 2, '00ff00'],
      [399, 299, 'right', '0000ff'],
    ]
    for (const [x, y, b] of spots) {
      inj.pointerMove(x, y)
      inj.click(b)
    }
    const got = (await events(log)).filter((e) => e.ev === 'button')
    assert.deepEqual(
      got.map((e) => [e.button, e.down, e.x, e.y]),
      [
        [1, true, 140, 80],
        [1, false, 140, 80],
        [2, true, 300, 150],
        [2, false, 300, 150],
        [3, true, 499, 349],
        [3, false, 499, 349],
      ],
    )
    // xpaint drew a 9x9 square centred on each press, in the button's colour.
    for (const [x, y, , rgb] of spots) {
      assert.equal(await pixel(100 + x, 50 + y), rgb, `pixel at region (${x},${y})`)
      assert.equal(await pixel(100 + x - 4, 50 + y + 4), rgb, `square corner at region (${x},${y})`)
    }
    const motion = (await events(log)).filter((e) => e.ev === 'motion')
    assert.deepEqual(motion.at(-1), { ev: 'motion', x: 499, y: 349 })

    throwsArg(() => inj.pointerMove(400, 0), RangeError, /^x must be an integer from 0 to 399 .*got 400$/)
    throwsArg(() => inj.pointerMove(0, 300), RangeError, /^y must be an integer from 0 to 299 .*got 300$/)
    throwsArg(() => inj.pointerMove(-1, 0), RangeError, /^x .*got -1$/)
    throwsArg(() => inj.pointerMove(1.5, 0), RangeError, /^x .*got 1\.5$/)
    throwsArg(() => inj.pointerMove('1', 0), TypeError, /^x must be .*got string "1"$/)
    throwsArg(() => inj.pointerButton(10, true), RangeError, /^button must be an integer from 1 to 9.*got 10$/)
    throwsArg(() => inj.pointerButton('back', true), RangeError, /^button must be .*'left'.*got string "back"$/)
    throwsArg(() => inj.pointerButton(1, 'yes'), TypeError, /^down must be a boolean, got string "yes"$/)
    throwsArg(() => inj.scroll(0, 101), RangeError, /^dy must be an integer from -100 to 100.*got 101$/)
    throwsArg(() => inj.key('NoSuchKey', true), RangeError, /^key "NoSuchKey" is not a key name/)
    throwsArg(() => inj.key({}, true), TypeError, /^key must be .*got an object$/)
    throwsArg(() => inj.type(5), TypeError, /^text must be a string, got number 5$/)
    throwsArg(() => inj.type('x'.repeat(65537)), RangeError, /^text must be at most 65536 characters, got 65537$/)
    // A region starting off the screen is refused as ScreenCapture refuses it.
    assert.throws(
      () => new InputInjector({ display: env.xvfb.display, captureX: W }),
      (e) => e instanceof RangeError && e.code === 'ERR_INVALID_SETTING' && e.setting === 'captureX',
    )
    assert.throws(() => new InputInjector({ display: ':9999' }), (e) => e.code === 'ERR_DISPLAY')
  } finally {
    inj.close()
  }
})

test('input: an injector bound to a RandR monitor maps (0,0) to its corner', async () => {
  const log = await freshWindow()
  await env.painter.cmd('monitor input-test 300x200+350+240')
  const inj = new InputInjector({ display: env.xvfb.display, monitor: 'input-test', captureX: 10 })
  try {
    assert.deepEqual({ ...inj.region }, { x: 360, y: 240, width: 290, height: 200 })
    inj.pointerMove(20, 30)
    inj.click('left')
    const press = (await events(log)).find((e) => e.ev === 'button' && e.down)
    assert.deepEqual(press, { ev: 'button', down: true, button: 1, x: 380, y: 270 })
    assert.equal(await pixel(380, 270), 'ff0000')
    throwsArg(() => inj.pointerMove(290, 0), RangeError, /^x must be an integer from 0 to 289/)
  } finally {
    inj.close()
    await env.painter.cmd('monitor-delete input-test')
  }
})

test('input: buttons 1-3 press and release; scroll steps are buttons 4-7', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  try {
    inj.pointerMove(300, 300)
    for (const b of [1, 2, 3]) {
      inj.pointerButton(b, true)
      inj.pointerButton(b, false)
    }
    inj.scroll(0, 3)
    inj.scroll(0, -2)
    inj.scroll(1, 0)
    inj.scroll(-2, 0)
    const buttons = (await events(log)).filter((e) => e.ev === 'button')
    assert.deepEqual(
      buttons.map((e) => `${e.button}${e.down ? 'v' : '^'}`).join(' '),
      '1v 1^ 2v 2^ 3v 3^ 5v 5^ 5v 5^ 5v 5^ 4v 4^ 4v 4^ 7v 7^ 6v 6^ 6v 6^',
    )
    assert.ok(buttons.every((e) => e.x === 300 && e.y === 300), JSON.stringify(buttons))
  } finally {
    inj.close()
  }
})

test('input: type() arrives as exactly the text, Shift only where needed (US layout)', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  try {
    inj.type(US)
    assert.equal(typed(await events(log)), US)

    const log2 = await freshWindow()
    const more = 'AaBb 1!2@ ~`_-+= {}[]|\\:;"\'<>,.?/ ÆØÅæøå ß ÿ 日本 😀 €'
    inj.type(more)
    const got = await events(log2)
    assert.equal(typed(got), more)
    // 'a' right after 'A' is lower case: Shift was released in between.
    const [A, a] = presses(got).filter((e) => e.text === 'A' || e.text === 'a')
    assert.equal(A.state & 1, 1, 'Shift with A')
    assert.equal(a.state & 1, 0, 'no Shift with a')
    // A picture of the typing: one yellow block per character in the first cells.
    assert.equal(await pixel(WIN.x + 10 + 2, WIN.y + 10 + 5), 'ffff00')
    assert.equal(await pixel(WIN.x + 10 + 8 * 3 + 2, WIN.y + 10 + 5), 'ffff00')
    assert.deepEqual(inj.held(), { keys: [], buttons: [] })
  } finally {
    inj.close()
  }
})

test('input: a shortcut is pressed in order with Control in the state', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  try {
    inj.key('Control_L', true)
    inj.key('c', true)
    inj.key('c', false)
    inj.key('Control_L', false)
    // DOM names do the same.
    inj.key('Control', true)
    inj.key('ArrowLeft', true)
    inj.key('ArrowLeft', false)
    inj.key('Control', false)
    const keys = (await events(log)).filter((e) => e.ev === 'key')
    assert.deepEqual(
      keys.map((e) => [e.keysym, e.down, e.state & 4]),
      [
        [0xffe3, true, 0],
        [0x63, true, 4],
        [0x63, false, 4],
        [0xffe3, false, 4],
        [0xffe3, true, 0],
        [0xff51, true, 4],
        [0xff51, false, 4],
        [0xffe3, false, 4],
      ],
    )
  } finally {
    inj.close()
  }
})

test('input: type() is not inverted by Caps Lock, which stays on', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  try {
    inj.key('CapsLock', true)
    inj.key('CapsLock', false)
    inj.type('aB1é')
    inj.key('x', true)
    inj.key('x', false)
    const got = await events(log)
    assert.equal(typed(got).slice(0, 4), 'aB1é')
    // Lock (state bit 2) is on again for the key pressed after typing: x reads as X.
    const x = presses(got).at(-1)
    assert.deepEqual([x.keysym, x.state & 2], [0x58, 2])
  } finally {
    inj.key('CapsLock', true)
    inj.key('CapsLock', false)
    inj.close()
  }
})

test('input: releaseAll() lets go of every key and button it pressed', async () => {
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  try {
    inj.pointerMove(200, 200)
    inj.key('Shift_L', true)
    inj.key('a', true)
    inj.key('€', true) // on a spare keycode
    inj.key('!', true) // needs Shift, already down
    inj.pointerButton(1, true)
    inj.pointerButton('right', true)
    assert.deepEqual(inj.held(), { keys: [0xffe1, 0x61, 0x20ac, 0x21], buttons: [1, 3] })
    await env.painter.inputState()
    let state = (await events(log)).at(-1)
    assert.equal(state.ev, 'state')
    assert.equal(state.keys.length, 4, `keycodes down: ${state.keys}`)
    assert.equal(state.buttons, 0b101)

    inj.releaseAll()
    await env.painter.inputState()
    state = (await events(log)).at(-1)
    assert.deepEqual(state, { ev: 'state', keys: [], buttons: 0 })
    assert.deepEqual(inj.held(), { keys: [], buttons: [] })

    // Shift pressed for a character is released with it, even when the keys are released out
    // of order.
    inj.key('A', true)
    inj.key('B', true)
    inj.key('A', false)
    await env.painter.inputState()
    assert.equal((await events(log)).at(-1).keys.length, 2, 'Shift and B still down')
    inj.key('B', false)
    await env.painter.inputState()
    assert.deepEqual((await events(log)).at(-1), { ev: 'state', keys: [], buttons: 0 })
  } finally {
    inj.close()
  }
})

test('input: close() puts spare keycodes back to NoSymbol; later calls throw ERR_CLOSED', async () => {
  const before = emptyKeycodes(env.xvfb.display)
  assert.ok(before.length >= 4, `spare keycodes on this server: ${before}`)
  const log = await freshWindow()
  const inj = new InputInjector({ display: env.xvfb.display })
  inj.type('€日ö')
  assert.equal(typed(await events(log)), '€日ö')
  const during = emptyKeycodes(env.xvfb.display)
  assert.equal(before.length - during.length, 3, `three spares lent: before ${before}, now ${during}`)
  inj.close()
  assert.deepEqual(emptyKeycodes(env.xvfb.display), before)
  assert.throws(() => inj.type('a'), (e) => e.code === 'ERR_CLOSED')
  assert.throws(() => inj.held(), (e) => e.code === 'ERR_CLOSED')
  inj.close() // a second close does nothing
})

test('input: setxkbmap fr mid-session is followed without reopening', async () => {
  need('setxkbmap', 'x11-xkb-utils')
  const display = env.xvfb.display
  const inj = new InputInjector({ display })
  try {
    let log = await freshWindow()
    inj.type(US)
    assert.equal(typed(await events(log)), US)

    execFileSync('setxkbmap', ['-display', display, 'fr'])
    log = await freshWindow()
    const text = `${US} 2@azAZ&é"'(-è_çà)=`
    inj.type(text)
    const got = await events(log)
    assert.equal(typed(got), text)
    // é is the layout's own key now (AE02 of AZERTY), unshifted; '2' is Shift on it.
    const e = presses(got).find((k) => k.text === 'é')
    assert.deepEqual([e.keycode, e.state & 1], [11, 0])
    const two = presses(got).find((k) => k.text === '2')
    assert.deepEqual([two.keycode, two.state & 1], [11, 1])
  } finally {
    inj.close()
    execFileSync('setxkbmap', ['-display', display, 'us'])
  }
})

/** The text xev's XmbLookupString gave for each KeyPress, concatenated. */
function xevText(out) {
  let text = ''
  for (const block of out.split(/\n(?=\S)/)) {
    if (!block.startsWith('KeyPress event')) continue
    const m = /XmbLookupString gives (\d+) bytes:(?: \(([0-9a-f ]+)\))?/.exec(block)
    if (!m || m[1] === '0') continue
    text += Buffer.from(m[2].trim().split(/\s+/).map((h) => parseInt(h, 16))).toString('utf8')
  }
  return text
}

test('input: a real Xlib client (xev, XmbLookupString) reads the same text, US and fr', async () => {
  need('xev', 'x11-utils')
  need('setxkbmap', 'x11-xkb-utils')
  // A server of its own: the input window of the other tests would hold the focus here.
  const x = await startXvfb({ width: 640, height: 480 })
  let xev
  try {
    xev = spawn('xev', ['-display', x.display, '-event', 'keyboard', '-event', 'structure', '-geometry', '300x200+100+100'], {
      env: { ...process.env, LANG: 'C.UTF-8', LC_ALL: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    xev.stdout.on('data', (d) => (out += d))
    xev.stderr.on('data', (d) => (out += d))
    await waitFor(() => out.includes('MapNotify'), 20000, `xev's window mapped (xev said: ${out.slice(0, 500)})`)
    const inj = new InputInjector({ display: x.display })
    try {
      // The focus is PointerRoot: keys go to the window under the pointer.
      inj.pointerMove(250, 200)
      inj.type(US)
      await waitFor(() => xevText(out).length >= US.length, 20000, 'xev to read the US text').catch(() => {})
      assert.equal(xevText(out), US)

      execFileSync('setxkbmap', ['-display', x.display, 'fr'])
      const start = out.length
      inj.type(US)
      await waitFor(() => xevText(out.slice(start)).length >= US.length, 20000, 'xev to read the fr text').catch(() => {})
      assert.equal(xevText(out.slice(start)), US)
    } finally {
      inj.close()
    }
  } finally {
    xev?.kill()
    await x.stop()
  }
})
