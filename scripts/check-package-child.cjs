'use strict'
// Runs inside the folder where scripts/check-package.sh installed the tarballs, as the user:
// PATH without compilers, `require('stripecast')` resolved from node_modules. Prints one JSON
// object; scripts/check-package.mjs judges it (and decodes what was captured).
//   node child.cjs load | nodisplay | capture | arch <arch>
const mode = process.argv[2]
const out = {}
const errInfo = (e) => ({ code: e.code, message: e.message, name: e.constructor.name })
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

function collect(settings, ms) {
  const { ScreenCapture } = require('stripecast')
  const cap = new ScreenCapture()
  const stripes = []
  const errors = []
  const info = cap.start(
    settings,
    (s) => stripes.push({ type: s.type, y: s.stripeYStart, h: s.stripeHeight, x: s.x, w: s.width, key: s.isKeyFrame, frameId: s.frameId, data: Buffer.from(s.data).toString('base64') }),
    (e) => errors.push(errInfo(e)),
  )
  return sleep(ms).then(() => {
    const stream = cap.streamInfo()
    cap.stop()
    return { info: { encoder: info.encoder, stripeCount: info.stripeCount, width: info.width, height: info.height }, stream, stripes, errors }
  })
}

async function main() {
  if (mode === 'arch') Object.defineProperty(process, 'arch', { value: process.argv[3] })
  let addon
  try {
    addon = require('stripecast')
  } catch (e) {
    out.loadError = errInfo(e)
    return
  }
  out.glibc = process.report.getReport().header.glibcVersionRuntime
  out.exports = Object.keys(addon)
  out.nativeModules = Object.keys(require.cache).filter((k) => k.endsWith('.node'))
  if (mode === 'nodisplay') {
    for (const [label, settings] of [['no DISPLAY', {}], ["display ':999'", { display: ':999' }]]) {
      try {
        new addon.ScreenCapture().start(settings, () => {})
        out[label] = { threw: false }
      } catch (e) {
        out[label] = errInfo(e)
      }
    }
  } else if (mode === 'capture') {
    const base = { captureCursor: false, usePaintOverQuality: false }
    out.hardware = addon.ScreenCapture.hardwareEncoders()
    out.jpeg = await collect({ ...base, outputMode: 'jpeg', jpegQuality: 90 }, 700)
    out.h264 = await collect({ ...base, outputMode: 'h264', useCpu: true }, 700)
    out.vaapi = await collect({ ...base, outputMode: 'h264', vaapiRenderNodeIndex: 63 }, 700)
    out.nvenc = await collect({ ...base, outputMode: 'h264', vaapiRenderNodeIndex: -1 }, 700)
  }
}

main()
  .catch((e) => {
    out.crash = errInfo(e)
  })
  .finally(() => {
    process.stdout.write(JSON.stringify(out))
  })
