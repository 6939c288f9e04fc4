// The run-time half of scripts/check-package.sh: starts an Xvfb with known content, runs
// check-package-child.cjs from the installed folder with the user's environment (PATH without
// compilers), and checks what it reports: the binding comes from the platform package, JPEG and
// H.264 stripes decode to the screen's content (decoded here, with jpeg-js and ffmpeg), a bad
// or missing display is ERR_DISPLAY, hardware requests fall back to x264 with reasons, and a
// missing or foreign binary gets stripecast's own error. Usage: node scripts/check-package.mjs <dir>
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { startXvfb } from '../tools/xvfb.mjs'
import { openPainter } from '../tools/xpaint.mjs'
import { bgrxImage, crop, decodeStripe, psnr } from '../__test__/helpers/frames.mjs'
import { annexB, decodeH264 } from '../__test__/helpers/h264.mjs'

const T = process.argv[2]
const W = 320
const H = 240
// CHECK_CHROOT=<root>: run the child in that root (scripts/check-bullseye.sh copied the
// installed folders to <root>/check and the host's node to <root>/usr/local/bin).
const CHROOT = process.env.CHECK_CHROOT
const userEnv = (extra = {}) => ({
  PATH: CHROOT ? '/usr/local/bin:/usr/bin:/bin' : join(T, 'bin'),
  HOME: CHROOT ? '/root' : join(T, 'home'),
  LANG: 'C.UTF-8',
  ...extra,
})

function child(dir, args, env) {
  const [cmd, pre] = CHROOT
    ? [process.env.CHECK_CHROOT_CMD || '/usr/sbin/chroot', [CHROOT, '/usr/local/bin/node', `/check/${dir}/child.cjs`]]
    : [join(T, 'bin', 'node'), [join(T, dir, 'child.cjs')]]
  const stdout = execFileSync(cmd, [...pre, ...args], {
    cwd: join(T, dir),
    env,
    encoding: 'utf8',
    timeout: 60000,
    maxBuffer: 256 << 20,
  })
  const r = JSON.parse(stdout)
  if (r.crash) throw new Error(`child ${args.join(' ')} crashed: ${r.crash.message}`)
  return r
}

const step = (what) => console.log(`check-package: ${what}`)
const xvfb = await startXvfb({ width: W, height: H })
const painter = await openPainter(xvfb.display)
try {
  await painter.fill(0, 0, W, H, '204060')
  await painter.fill(40, 32, 128, 96, 'e0c020')
  await painter.fill(200, 140, 80, 64, '30c050')
  const truth = bgrxImage(await painter.dump(0, 0, W, H), W, H)

  // Loading: the binding is the platform package's, not a .node inside stripecast/.
  const load = child('app', ['load'], userEnv())
  assert.equal(load.loadError, undefined, `require('stripecast') failed: ${load.loadError?.message}`)
  for (const name of ['ScreenCapture', 'checkSettings']) assert.ok(load.exports.includes(name), `no ${name} in ${load.exports}`)
  assert.equal(load.nativeModules.length, 1, load.nativeModules.join(', '))
  assert.ok(load.nativeModules[0].endsWith('/node_modules/stripecast-linux-x64-gnu/stripecast.linux-x64-gnu.node'), load.nativeModules[0])
  step(`loaded ${load.nativeModules[0]} on glibc ${load.glibc}${CHROOT ? ` in ${CHROOT}` : ''}`)

  // No display, and a display with no server: ERR_DISPLAY naming it.
  const nd = child('app', ['nodisplay'], userEnv())
  assert.equal(nd['no DISPLAY'].code, 'ERR_DISPLAY', JSON.stringify(nd['no DISPLAY']))
  assert.equal(nd["display ':999'"].code, 'ERR_DISPLAY', JSON.stringify(nd["display ':999'"]))
  assert.match(nd["display ':999'"].message, /:999/)
  step(`no display: ${nd['no DISPLAY'].code} (${nd['no DISPLAY'].message})`)

  // Captures.
  const r = child('app', ['capture'], userEnv({ DISPLAY: xvfb.display }))
  const hw = r.hardware
  if (!existsSync('/dev/dri')) {
    assert.equal(hw.vaapiAvailable, false)
    assert.ok(hw.reasons.some((x) => x.startsWith('vaapi: ')), hw.reasons.join('; '))
  }
  if (!hw.nvencAvailable) assert.ok(hw.reasons.some((x) => x.startsWith('nvenc: ')), hw.reasons.join('; '))
  if (!hw.nvencAvailable && !hw.vaapiAvailable) assert.equal(hw.defaultEncoder, 'x264')
  step(`hardwareEncoders(): default ${hw.defaultEncoder}; ${hw.reasons.join('; ')}`)

  const jpegs = r.jpeg.stripes.filter((s) => s.type === 1)
  assert.ok(jpegs.length > 0, `no JPEG stripe (errors: ${JSON.stringify(r.jpeg.errors)})`)
  const first = jpegs.filter((s) => s.frameId === jpegs[0].frameId)
  let worst = Infinity
  for (const s of first) {
    const img = decodeStripe({ data: Buffer.from(s.data, 'base64') })
    assert.equal(img.width, s.w)
    assert.equal(img.height, s.h)
    worst = Math.min(worst, psnr(img, crop(truth, s.x, s.y, s.w, s.h)))
  }
  assert.ok(worst >= 30, `JPEG PSNR ${worst.toFixed(1)} dB`)
  step(`JPEG: ${first.length} stripes of frame ${first[0].frameId} decode, lowest PSNR ${worst.toFixed(1)} dB`)

  const h264Check = async (label, res) => {
    const s = res.stripes.filter((x) => x.type === 2).map((x) => ({ ...x, data: Buffer.from(x.data, 'base64') }))
    assert.ok(s.length > 0, `${label}: no H.264 stripe (errors: ${JSON.stringify(res.errors)})`)
    // Full-frame or striped: decode each stripe stream alone and compare with its rows.
    let low = Infinity
    const ys = [...new Set(s.map((x) => x.y))]
    for (const y of ys) {
      const mine = s.filter((x) => x.y === y)
      const dec = await decodeH264(annexB(mine.map((x) => ({ data: x.data }))), W, mine[0].h)
      assert.ok(dec.count >= 1, `${label}: stream at y=${y} does not decode`)
      low = Math.min(low, psnr(dec.last, crop(truth, 0, y, W, mine[0].h)))
    }
    assert.ok(low >= 30, `${label}: H.264 PSNR ${low.toFixed(1)} dB`)
    return `${s.length} stripes in ${ys.length} streams decode, lowest PSNR ${low.toFixed(1)} dB`
  }
  step(`H.264 (x264): ${await h264Check('h264', r.h264)}; encoder ${r.h264.stream.encoder}`)
  assert.equal(r.h264.stream.encoder, 'x264')

  if (!existsSync('/dev/dri/renderD191')) {
    assert.equal(r.vaapi.info.encoder, 'vaapi', 'the plan asks for VA-API')
    assert.equal(r.vaapi.stream.encoder, 'x264')
    // Without libva (a bare system) the reason is that; with it, the missing node.
    assert.ok(r.vaapi.stream.declined.some((d) => /^vaapi: .*(renderD191|libva)/.test(d)), r.vaapi.stream.declined.join('; '))
    assert.ok(r.vaapi.errors.some((e) => e.code === 'ERR_ENCODER_FALLBACK'), JSON.stringify(r.vaapi.errors))
    step(`VA-API on renderD191 falls back: ${await h264Check('vaapi fallback', r.vaapi)}; ${r.vaapi.stream.declined.join('; ')}`)
  }
  if (!hw.nvencAvailable) {
    assert.equal(r.nvenc.stream.encoder, 'x264')
    assert.ok(r.nvenc.stream.declined.some((d) => d.startsWith('nvenc: ')), r.nvenc.stream.declined.join('; '))
    step(`NVENC without the driver falls back: ${await h264Check('nvenc fallback', r.nvenc)}; ${r.nvenc.stream.declined.join('; ')}`)
  }

  // The main package alone (optional dependencies omitted): stripecast's error names the package.
  const alone = child('main-only', ['load'], userEnv())
  assert.equal(alone.loadError?.code, 'ERR_NATIVE_BINDING', JSON.stringify(alone))
  assert.match(alone.loadError.message, /stripecast-linux-x64-gnu/)
  assert.match(alone.loadError.message, /npm install stripecast-linux-x64-gnu@/)
  step(`main package alone: ${alone.loadError.message.split('\n')[0].slice(0, 110)}...`)

  // A platform with no prebuilt binary: says so, and how to build from source.
  const foreign = child('app', ['arch', 'riscv64'], userEnv())
  assert.equal(foreign.loadError?.code, 'ERR_NATIVE_BINDING', JSON.stringify(foreign))
  assert.match(foreign.loadError.message, /no prebuilt binary for linux-riscv64-gnu/)
  assert.match(foreign.loadError.message, /npm run setup/)
  assert.match(foreign.loadError.message, /libx264-dev/)
  step(`linux-riscv64: ${foreign.loadError.message.split('\n')[0].slice(0, 110)}...`)
} finally {
  painter.close()
  await xvfb.stop()
}
