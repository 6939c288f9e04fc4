// Still test cards for bench/rd.mjs, drawn on an X display with tools/xpaint.
//
//   const p = await openPainter(display)
//   await drawCard(p, 'colour-ui', 1920, 1080)
//   const truth = await p.dump(0, 0, 1920, 1080)   // what the screen holds: the reference
//
// Every card is made the same way on every run (seeded generators, no time or randomness): the
// pixels that are not text are rendered here into one BGRX picture put with `image`, then the
// glyphs are drawn with `text` (core font "fixed", 6x13) on top.
//
// - `colour-ui`: saturated coloured glyphs on coloured panels (red on blue, yellow on dark green,
//   magenta on cyan, white on orange, ...), 1-px coloured lines (grids and single lines), UI
//   gradients (title bars, buttons) and a few photo-like patches (plasma with grain).
// - `grey-text`: a code editor: dark grey and black text on white and light grey, grey chrome
//   (tabs, side bar, status bar, gutter), a few grey lines.
// - `photo`: a natural-looking picture over the whole screen: smooth colour fields with fine
//   grain, soft shading, some hard edges (shapes) and a textured band.

export const CARD_NAMES = ['colour-ui', 'grey-text', 'photo']

/** A small seeded generator (mulberry32): numbers in [0, 1). */
function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const clamp = (v) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v))
const rgbOf = (hex) => [(hex >> 16) & 255, (hex >> 8) & 255, hex & 255]
const darken = (hex) => {
  const [r, g, b] = rgbOf(hex)
  return (clamp(r * 0.7) << 16) | (clamp(g * 0.7) << 8) | clamp(b * 0.7)
}
const hexOf = (r, g, b) => ((clamp(r) << 16) | (clamp(g) << 8) | clamp(b)).toString(16).padStart(6, '0')

/** A BGRX raster with the few drawing operations the cards need. */
class Raster {
  constructor(w, h) {
    this.w = w
    this.h = h
    this.data = Buffer.alloc(w * h * 4)
  }
  set(x, y, r, g, b) {
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return
    const i = (y * this.w + x) * 4
    this.data[i] = clamp(b)
    this.data[i + 1] = clamp(g)
    this.data[i + 2] = clamp(r)
    this.data[i + 3] = 0
  }
  fill(x, y, w, h, hex) {
    const [r, g, b] = rgbOf(hex)
    for (let yy = Math.max(0, y); yy < Math.min(this.h, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(this.w, x + w); xx++) this.set(xx, yy, r, g, b)
    }
  }
  /** Linear gradient from colour a to b, vertical (default) or horizontal. */
  gradient(x, y, w, h, a, b, horizontal = false) {
    const [ar, ag, ab] = rgbOf(a)
    const [br, bg, bb] = rgbOf(b)
    for (let yy = 0; yy < h; yy++) {
      for (let xx = 0; xx < w; xx++) {
        const t = horizontal ? xx / Math.max(1, w - 1) : yy / Math.max(1, h - 1)
        this.set(x + xx, y + yy, ar + (br - ar) * t, ag + (bg - ag) * t, ab + (bb - ab) * t)
      }
    }
  }
  /** A 1-px rectangle outline. */
  frame(x, y, w, h, hex) {
    this.fill(x, y, w, 1, hex)
    this.fill(x, y + h - 1, w, 1, hex)
    this.fill(x, y, 1, h, hex)
    this.fill(x + w - 1, y, 1, h, hex)
  }
  /** A 1-px line (Bresenham). */
  line(x0, y0, x1, y1, hex) {
    const [r, g, b] = rgbOf(hex)
    const dx = Math.abs(x1 - x0)
    const dy = -Math.abs(y1 - y0)
    const sx = x0 < x1 ? 1 : -1
    const sy = y0 < y1 ? 1 : -1
    let err = dx + dy
    for (;;) {
      this.set(x0, y0, r, g, b)
      if (x0 === x1 && y0 === y1) break
      const e2 = 2 * err
      if (e2 >= dy) {
        err += dy
        x0 += sx
      }
      if (e2 <= dx) {
        err += dx
        y0 += sy
      }
    }
  }
  /** A button: vertical gradient, darker 1-px border, a lighter top line. */
  button(x, y, w, h, top, bottom, border) {
    this.gradient(x, y, w, h, top, bottom)
    this.frame(x, y, w, h, border)
    const [r, g, b] = rgbOf(top)
    for (let xx = x + 1; xx < x + w - 1; xx++) this.set(xx, y + 1, r + 40, g + 40, b + 40)
  }
  /**
   * A photo-like patch: sine plasma (smooth colour fields, rings) as xpaint's video scene, with
   * luma grain of +-grain and a little chroma noise.
   */
  plasma(x0, y0, w, h, seed, grain = 3, scale = 1) {
    const rand = rng(seed)
    const p1 = rand() * 6.28
    const p2 = rand() * 6.28
    const p3 = rand() * 6.28
    const cx = w * (0.3 + 0.4 * rand())
    const cy = h * (0.3 + 0.4 * rand())
    const s = (v) => 127.5 + 127.5 * Math.sin(v)
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const vx = s((x * 6.28 * 2 * scale) / 1920 * 2 + p1)
        const vy = s((y * 1.5 * 6.28 * scale) / 1024 + p2)
        const vd = s(((x + y) * 6.28 * scale) / 1024 + p3)
        const ring = s(Math.sqrt((x - cx) ** 2 + (y - cy) ** 2) * 0.035 * scale + p1)
        const gr = Math.round((rand() * 2 - 1) * grain)
        const cn = (rand() - 0.5) * grain * 0.6
        this.set(x0 + x, y0 + y, (vx + ring) / 2 + gr + cn, (vy + vd) / 2 + gr, (ring + vd) / 2 + gr - cn)
      }
    }
  }
}

// ------------------------------------------------------------------------------ text content
const WORDS = ('the quick brown fox jumps over lazy dog stream stripe canvas frame encode decode ' +
  'pixel colour chroma luma quality viewer server client socket buffer window cursor screen ' +
  'display render update refresh latency bitrate profile level slice macroblock quantiser').split(' ')

function sentence(rand, n) {
  const out = []
  for (let i = 0; i < n; i++) out.push(WORDS[Math.floor(rand() * WORDS.length)])
  const s = out.join(' ')
  return s[0].toUpperCase() + s.slice(1) + (rand() < 0.5 ? '.' : ',')
}

const KEYWORDS = ['const', 'let', 'function', 'return', 'if', 'else', 'for', 'await', 'async', 'import', 'export', 'new', 'while', 'switch', 'case']
const IDENTS = ['stripe', 'frame', 'encoder', 'height', 'width', 'buffer', 'quality', 'settings', 'capture', 'socket',
  'payload', 'offset', 'viewer', 'damage', 'count', 'index', 'result', 'options', 'stream', 'decoder', 'picture', 'rows']

/** A line of pseudo-code (JavaScript-like), with its indentation depth. */
function codeLine(rand, depth) {
  const id = () => IDENTS[Math.floor(rand() * IDENTS.length)]
  const kw = () => KEYWORDS[Math.floor(rand() * KEYWORDS.length)]
  const r = rand()
  let s
  if (r < 0.2) s = `${kw()} ${id()}${id()[0].toUpperCase()}${id().slice(1)} = ${id()}.${id()}(${id()}, ${Math.floor(rand() * 4096)})`
  else if (r < 0.35) s = `if (${id()}.${id()} > ${id()}.length && !${id()}) {`
  else if (r < 0.5) s = `${id()}[${id()}++] = (${id()} << ${Math.floor(rand() * 16)}) | ${id()} & 0x${Math.floor(rand() * 65535).toString(16)}`
  else if (r < 0.6) s = `// ${sentence(rand, 4 + Math.floor(rand() * 8))}`
  else if (r < 0.7) s = `}`
  else if (r < 0.8) s = `return { ${id()}, ${id()}: ${id()} * ${Math.floor(rand() * 100)}, ${id()}: '${id()}-${id()}' }`
  else if (r < 0.9) s = `for (let ${id()} = 0; ${id()} < ${id()}.${id()}; ${id()} += ${1 + Math.floor(rand() * 8)}) {`
  else s = `await ${id()}.${id()}(${id()}, { ${id()}: ${rand() < 0.5 ? 'true' : 'false'}, ${id()}: ${Math.floor(rand() * 999)} })`
  return '  '.repeat(depth) + s
}

// ------------------------------------------------------------------------------ colour-ui
/** Panel colour pairs: [background, text]. */
const PAIRS = [
  [0x1030c0, 0xff2020], // red on blue
  [0x0a4a14, 0xffe000], // yellow on dark green
  [0x00d0e0, 0xe000d0], // magenta on cyan
  [0xff7a00, 0xffffff], // white on orange
  [0x5a1a8a, 0x40ff40], // green on purple
  [0xd01818, 0x00ffff], // cyan on red
  [0xffe830, 0x1020e0], // blue on yellow
  [0x0a1450, 0xff9a20], // orange on navy
  [0x90ff20, 0x101010], // black on lime
  [0x007a7a, 0xff70c0], // pink on teal
  [0xe01a8a, 0xfff07a], // pale yellow on magenta
  [0x202020, 0x30ff90], // mint on near-black
]

function colourUi(w, h) {
  const R = new Raster(w, h)
  const texts = []
  const rand = rng(1234)
  // desktop: a dark slate gradient
  R.gradient(0, 0, w, h, 0x2a3448, 0x101820)
  // title bar: blue -> purple, with window buttons
  R.gradient(0, 0, w, 30, 0x2050d0, 0x8030b0, true)
  R.fill(0, 30, w, 1, 0x0a0a30)
  texts.push([12, 9, 'ffffff', 'colour-ui test card - saturated glyphs, 1-px lines, gradients, photo patches'])
  for (const [i, c] of [0xff5f57, 0xffbd2e, 0x28c940].entries()) R.button(w - 90 + i * 26, 8, 16, 16, c, darken(c), 0x303030)
  // menu bar (light gradient) with coloured menu words
  R.gradient(0, 31, w, 22, 0xf4f4f8, 0xd0d4dc)
  const menuColours = ['c00000', '006000', '0000c0', 'a000a0', '008080', 'c06000']
  for (let i = 0; i < 12; i++) texts.push([10 + i * 80, 36, menuColours[i % menuColours.length], ['File', 'Edit', 'View', 'Colour', 'Layer', 'Select', 'Filter', 'Image', 'Tools', 'Window', 'Help', 'About'][i]])

  // panels: 4 columns x 3 rows, each a colour pair, a gradient header with a button, text
  const px0 = 8
  const py0 = 60
  const pw = 352
  const ph = 244
  const gap = 8
  for (let row = 0; row < 3; row++) {
    for (let col = 0; col < 4; col++) {
      const k = row * 4 + col
      const [bg, fg] = PAIRS[k]
      const x = px0 + col * (pw + gap)
      const y = py0 + row * (ph + gap)
      R.fill(x, y, pw, ph, bg)
      // header: a gradient of the panel colour, lighter to darker
      const [r, g, b] = rgbOf(bg)
      R.gradient(x, y, pw, 20, parseInt(hexOf(r + 60, g + 60, b + 60), 16), parseInt(hexOf(r - 30, g - 30, b - 30), 16))
      texts.push([x + 6, y + 4, hexOf(255 - r, 255 - g, 255 - b), `Panel ${k + 1}: #${fg.toString(16).padStart(6, '0')} on #${bg.toString(16).padStart(6, '0')}`])
      R.frame(x, y, pw, ph, fg)
      // text body
      for (let l = 0; l < 12; l++) texts.push([x + 8, y + 26 + l * 15, fg.toString(16).padStart(6, '0'), sentence(rand, 7).slice(0, 56)])
      // a button
      const bx = x + pw - 100
      const by = y + ph - 34
      R.button(bx, by, 88, 24, 0xf0f0f0, 0xa8b0c0, 0x505868)
      texts.push([bx + 20, by + 6, '102040', 'Apply'])
      // a thin coloured underline under the first text line and a 1-px separator
      R.fill(x + 8, y + 40, 200, 1, fg)
      R.fill(x + 4, y + ph - 42, pw - 8, 1, parseInt(hexOf(255 - r, g, 255 - b), 16))
    }
  }

  // right column: a 1-px grid in several colours, single lines, photo patches
  const rx = px0 + 4 * (pw + gap) // 1448
  const rw = w - rx - 8
  // grid on white
  R.fill(rx, 60, rw, 250, 0xffffff)
  const gridColours = [0xff0000, 0x00a000, 0x0000ff, 0xff00ff, 0x00c0c0, 0xe0a000]
  for (let i = 0; i * 8 < rw; i++) R.fill(rx + i * 8, 60, 1, 250, gridColours[i % gridColours.length])
  for (let j = 0; j * 8 < 250; j++) R.fill(rx, 60 + j * 8, rw, 1, gridColours[(j + 3) % gridColours.length])
  // grid on black, finer (every 4 px)
  R.fill(rx, 318, rw, 120, 0x000000)
  for (let i = 0; i * 4 < rw; i++) R.fill(rx + i * 4, 318, 1, 120, gridColours[(i * 5) % gridColours.length])
  for (let j = 0; j * 6 < 120; j++) R.fill(rx, 318 + j * 6, rw, 1, gridColours[(j * 2 + 1) % gridColours.length])
  // single lines, horizontal, vertical and slanted, on a mid grey
  R.fill(rx, 446, rw, 120, 0x808890)
  for (let i = 0; i < 8; i++) R.fill(rx + 6, 452 + i * 14, rw - 12, 1, [0xff0000, 0x00ff00, 0x0000ff, 0xffff00, 0xff00ff, 0x00ffff, 0xffffff, 0x000000][i])
  for (let i = 0; i < 6; i++) R.line(rx + 10 + i * 70, 560, rx + 60 + i * 70, 450, [0xff4040, 0x40ff40, 0x4040ff, 0xffc000, 0xc000ff, 0x00e0e0][i])
  // photo patches
  R.plasma(rx, 574, Math.floor(rw / 2) - 4, 240, 7)
  R.plasma(rx + Math.floor(rw / 2) + 4, 574, rw - Math.floor(rw / 2) - 4, 240, 11, 4, 1.6)
  R.plasma(rx, 822, rw, 160, 23, 2, 0.7)
  texts.push([rx + 8, 580, 'ffffff', 'photo patch A'])
  texts.push([rx + 8, 828, '000000', 'photo patch B'])

  // bottom strip: a toolbar of coloured buttons and a gradient progress bar, coloured labels
  const by = py0 + 3 * (ph + gap) // 816
  R.gradient(0, by, rx - 8, 30, 0xe8ecf4, 0xb8c0cc)
  const btn = [[0xff6060, 0xb01010], [0x60d060, 0x107010], [0x6080ff, 0x1030b0], [0xffd040, 0xb08000], [0xd060ff, 0x7010a0], [0x40e0e0, 0x008080]]
  for (let i = 0; i < 12; i++) {
    const [t, b] = btn[i % btn.length]
    R.button(8 + i * 118, by + 36, 110, 28, t, b, 0x202020)
    texts.push([8 + i * 118 + 14, by + 44, i % 2 ? 'ffffff' : '000000', `Button ${i + 1}`])
  }
  for (let i = 0; i < 8; i++) texts.push([12 + i * 180, by + 9, ['d00000', '008000', '0000d0', '900090', '007070', 'b05000', '000000', '505050'][i], `Tab ${i + 1}`])
  // progress bars: rainbow and two-colour gradients
  for (let i = 0; i < 4; i++) {
    const [a, b] = [[0xff0000, 0x0000ff], [0x00ff00, 0xff00ff], [0xffff00, 0x00ffff], [0xff8000, 0x0080ff]][i]
    R.gradient(8, by + 74 + i * 26, rx - 24, 18, a, b, true)
    R.frame(8, by + 74 + i * 26, rx - 24, 18, 0x000000)
  }
  // a coloured status bar at the very bottom
  R.gradient(0, h - 52, rx - 8, 52, 0x0050a0, 0x003060)
  for (let l = 0; l < 3; l++) texts.push([12, h - 48 + l * 15, ['ffff00', '00ff80', 'ff80ff'][l], sentence(rand, 20).slice(0, 230)])
  return { image: R.data, texts }
}

// ------------------------------------------------------------------------------ grey-text
function greyText(w, h) {
  const R = new Raster(w, h)
  const texts = []
  const rand = rng(4321)
  R.fill(0, 0, w, h, 0xffffff)
  // title bar and menu: light grey chrome
  R.gradient(0, 0, w, 28, 0xececec, 0xd6d6d6)
  R.fill(0, 28, w, 1, 0xb0b0b0)
  texts.push([Math.floor(w / 2) - 150, 8, '303030', 'capture.rs - stripecast - Code Editor'])
  for (let i = 0; i < 9; i++) texts.push([10 + i * 70, 34, '404040', ['File', 'Edit', 'Selection', 'View', 'Go', 'Run', 'Terminal', 'Window', 'Help'][i]])
  R.fill(0, 50, w, 1, 0xd0d0d0)
  // activity bar and side bar
  R.fill(0, 51, 48, h - 51 - 24, 0xe4e4e4)
  for (let i = 0; i < 6; i++) R.frame(12, 64 + i * 48, 24, 24, 0x707070)
  R.fill(48, 51, 280, h - 51 - 24, 0xf3f3f3)
  R.fill(328, 51, 1, h - 51 - 24, 0xd4d4d4)
  texts.push([60, 58, '606060', 'EXPLORER'])
  let fy = 78
  for (let i = 0; i < 60 && fy < h - 40; i++, fy += 16) {
    const depth = Math.floor(rand() * 4)
    const name = `${IDENTS[Math.floor(rand() * IDENTS.length)]}${rand() < 0.4 ? '/' : ['.rs', '.mjs', '.ts', '.md', '.json'][Math.floor(rand() * 5)]}`
    if (i === 7) R.fill(49, fy - 2, 279, 16, 0xdcdcdc) // the selected file
    texts.push([64 + depth * 12, fy, i === 7 ? '000000' : '3c3c3c', name])
  }
  // tabs
  R.fill(329, 51, w - 329, 30, 0xececec)
  for (let i = 0; i < 6; i++) {
    const tx = 329 + i * 170
    R.fill(tx, 51, 169, 30, i === 1 ? 0xffffff : 0xe0e0e0)
    R.fill(tx + 169, 51, 1, 30, 0xc8c8c8)
    texts.push([tx + 14, 60, i === 1 ? '202020' : '707070', `${IDENTS[(i * 7) % IDENTS.length]}_${i}.rs`])
  }
  R.fill(329, 81, w - 329, 1, 0xd0d0d0)
  // breadcrumbs
  texts.push([340, 86, '6a6a6a', 'src > capture > mod.rs > fn encode_stripe'])
  // two editor panes: left wide, right narrower with a light grey background
  const split = 1380
  R.fill(329, 102, split - 329, h - 102 - 24, 0xffffff)
  R.fill(split, 102, 1, h - 102 - 24, 0xc8c8c8)
  R.fill(split + 1, 102, w - split - 1, h - 102 - 24, 0xf6f6f6)
  const lineH = 15
  const paneCode = (x0, x1, bg, gutter, seed) => {
    const r = rng(seed)
    let depth = 0
    for (let n = 0, y = 106; y + lineH < h - 26; n++, y += lineH) {
      if (n === 11) R.fill(x0 + 50, y - 1, x1 - x0 - 50, lineH, bg === 0xffffff ? 0xf0f0f0 : 0xe8e8e8) // current line
      texts.push([x0 + 6, y, '9a9a9a', String(n + 1).padStart(4, ' ')])
      let line = codeLine(r, depth)
      if (line.endsWith('{')) depth = Math.min(5, depth + 1)
      else if (line.trim() === '}') depth = Math.max(0, depth - 1)
      const maxChars = Math.floor((x1 - x0 - 70) / 6)
      line = line.slice(0, maxChars)
      const colour = line.trim().startsWith('//') ? '6e6e6e' : r() < 0.5 ? '1e1e1e' : ['000000', '333333', '4a4a4a'][Math.floor(r() * 3)]
      texts.push([x0 + 60, y, colour, line])
      // indent guides: 1-px light grey lines
      for (let d = 1; d <= depth; d++) R.fill(x0 + 60 + (d - 1) * 12 + 2, y - 1, 1, lineH, 0xe0e0e0)
    }
    R.fill(x0 + 50, 102, 1, h - 102 - 24, gutter)
  }
  paneCode(329, split, 0xffffff, 0xe4e4e4, 99)
  paneCode(split + 1, w, 0xf6f6f6, 0xdadada, 77)
  // a ruler line at column 100 in the left pane, and a scroll bar
  R.fill(329 + 60 + 100 * 6, 102, 1, h - 102 - 24, 0xe8e8e8)
  R.fill(split - 14, 102, 14, h - 102 - 24, 0xf0f0f0)
  R.fill(split - 12, 160, 10, 180, 0xc0c0c0)
  // status bar
  R.fill(0, h - 24, w, 24, 0xdcdcdc)
  R.fill(0, h - 24, w, 1, 0xbcbcbc)
  texts.push([10, h - 19, '2a2a2a', 'main*   0 errors  3 warnings        Ln 12, Col 40   Spaces: 2   UTF-8   LF   Rust   Prettier'])
  return { image: R.data, texts }
}

// ------------------------------------------------------------------------------ photo
/** Smooth value noise in [-1, 1] (hashed lattice, smoothstep), summed over octaves (fbm). */
function fbm(seed) {
  const hash = (i, j) => {
    let t = Math.imul(i, 374761393) ^ Math.imul(j, 668265263) ^ Math.imul(seed, 2246822519)
    t = Math.imul(t ^ (t >>> 13), 1274126177)
    return (((t ^ (t >>> 16)) >>> 0) / 4294967296) * 2 - 1
  }
  const noise = (x, y) => {
    const i = Math.floor(x)
    const j = Math.floor(y)
    const fx = x - i
    const fy = y - j
    const u = fx * fx * (3 - 2 * fx)
    const v = fy * fy * (3 - 2 * fy)
    const a = hash(i, j) + (hash(i + 1, j) - hash(i, j)) * u
    const b = hash(i, j + 1) + (hash(i + 1, j + 1) - hash(i, j + 1)) * u
    return a + (b - a) * v
  }
  return (x, y, octaves = 4) => {
    let sum = 0
    let amp = 0.5
    let f = 1
    for (let o = 0; o < octaves; o++, amp /= 2, f *= 2) sum += amp * noise(x * f, y * f)
    return sum
  }
}

function photo(w, h) {
  const R = new Raster(w, h)
  const rand = rng(2024)
  const s = Math.sin
  // smooth colour fields: a sky-to-ground gradient modulated by low-frequency plasma
  const shapes = []
  for (let i = 0; i < 14; i++) {
    shapes.push({
      cx: rand() * w, cy: h * 0.25 + rand() * h * 0.7, rx: 60 + rand() * 260, ry: 40 + rand() * 200,
      col: [40 + rand() * 200, 30 + rand() * 200, 20 + rand() * 180], hard: rand() < 0.6, tex: rand() < 0.3,
    })
  }
  const coarse = fbm(5)
  const fine = fbm(9)
  const horizon = h * 0.42
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let r, g, b
      if (y < horizon + 30 * s(x / 170) + 12 * s(x / 41 + 1)) {
        // sky: blue gradient with soft clouds
        const t = y / horizon
        const cloud = Math.max(0, s(x / 230 + 1.3) * s(y / 60 + x / 400) + 0.4 * s(x / 90 - y / 45)) * 90
        r = 90 + 60 * t + cloud
        g = 140 + 50 * t + cloud
        b = 220 - 20 * t + cloud * 0.8
      } else {
        // ground: green / brown fields with a slow plasma and fine texture
        const f = 0.5 + 0.5 * s(x / 310 + s(y / 120) * 2 + 2 * coarse(x / 400, y / 300, 3))
        const tex = 26 * fine(x / 7, y / 5, 3)
        r = 70 + 90 * f + tex
        g = 110 + 40 * (1 - f) + 30 * s(y / 50) + tex
        b = 40 + 30 * f + tex * 0.5
      }
      // shapes: smooth-shaded objects, some with hard edges
      for (const o of shapes) {
        const d = ((x - o.cx) / o.rx) ** 2 + ((y - o.cy) / o.ry) ** 2
        if (d >= 1.3) continue
        const a = o.hard ? (d < 1 ? 1 : 0) : Math.max(0, Math.min(1, (1.3 - d) / 0.3))
        if (!a) continue
        const shade = 1.15 - 0.45 * Math.sqrt(Math.min(1, d)) - 0.2 * ((x - o.cx) / o.rx)
        const t = o.tex ? 30 * fine(x / 3 + o.cx, y / 3, 2) : 0
        r = r * (1 - a) + a * (o.col[0] * shade + t)
        g = g * (1 - a) + a * (o.col[1] * shade + t)
        b = b * (1 - a) + a * (o.col[2] * shade + t)
      }
      R.set(x, y, r, g, b)
    }
  }
  // fine grain: luma +-3 and a little chroma noise, as a camera gives
  const d = R.data
  for (let i = 0; i < d.length; i += 4) {
    const gr = Math.round((rand() * 2 - 1) * 3)
    const c = Math.round((rand() - 0.5) * 2)
    d[i] = clamp(d[i] + gr - c)
    d[i + 1] = clamp(d[i + 1] + gr)
    d[i + 2] = clamp(d[i + 2] + gr + c)
  }
  return { image: R.data, texts: [] }
}

const MAKERS = { 'colour-ui': colourUi, 'grey-text': greyText, photo }

/** The card's picture without its text (BGRX) and its text lines [x, y, RRGGBB, text]. */
export function makeCard(name, width, height) {
  const make = MAKERS[name]
  if (!make) throw new Error(`unknown card ${name} (${CARD_NAMES.join(', ')})`)
  return make(width, height)
}

/** Draws card `name` over the whole screen of painter (tools/xpaint.mjs's openPainter). */
export async function drawCard(painter, name, width, height) {
  const { image, texts } = makeCard(name, width, height)
  await painter.image(0, 0, width, height, image)
  for (const [x, y, rgb, text] of texts) await painter.text(x, y, rgb, text)
  await painter.sync()
  return { texts: texts.length }
}
