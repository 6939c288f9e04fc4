'use strict'

// What index.js throws when the native addon cannot be loaded, instead of the generated
// loader's generic "Cannot find native binding": which binary this host needs, whether one is
// published for it, and how to build from source. The loader's own errors stay in `cause`.

const { existsSync } = require('node:fs')
const { join } = require('node:path')

const PREBUILT = { 'linux-x64-gnu': 'stripecast-linux-x64-gnu' }
const BUILD_PACKAGES = 'libx264-dev libva-dev libdrm-dev libclang-dev cmake nasm pkg-config'

function libc() {
  if (process.platform !== 'linux') return ''
  try {
    const header = process.report?.getReport?.().header
    return header?.glibcVersionRuntime ? 'gnu' : 'musl'
  } catch {
    return 'gnu'
  }
}

function causes(err) {
  const out = []
  for (let e = err, n = 0; e && n < 20; e = e.cause, n++) {
    const first = String(e.message ?? e).split('\n')[0]
    // napi's generic summary and the WebAssembly candidates say nothing about this host.
    if (first.startsWith('Cannot find native binding') || /wasi|wasm32/.test(first)) continue
    if (!out.includes(first)) out.push(first)
  }
  return out
}

function nativeLoadError(err) {
  const c = libc()
  const platform = [process.platform, process.arch, c].filter(Boolean).join('-')
  const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
  const pkg = PREBUILT[platform]
  const seen = causes(err)
  const fromSource =
    'Build it from source: in a checkout of stripecast, on Debian or Ubuntu with Rust and Node >= 20, ' +
    `\`npm run setup\` (scripts/setup.sh installs ${BUILD_PACKAGES} and builds the addon with \`npm run build\`), ` +
    'then depend on that checkout (`npm install /path/to/stripecast`).'
  let what
  if (existsSync(join(__dirname, '..', 'Cargo.toml'))) {
    // A source checkout (a contributor's tree): the addon is built here, not downloaded.
    what =
      `the native addon is not built in this checkout (${join(__dirname, '..')}): run \`npm run setup\` ` +
      `(scripts/setup.sh installs ${BUILD_PACKAGES} when missing, then runs \`npm run build\`).`
  } else if (!pkg) {
    what =
      `no prebuilt binary for ${platform}${glibc ? ` (glibc ${glibc})` : ''}: ` +
      'prebuilt binaries exist for linux-x64 with glibc >= 2.28 only. ' + fromSource
  } else if (seen.some((m) => /GLIBC_[0-9.]+' not found/.test(m))) {
    what =
      `the prebuilt binary (${pkg}) needs glibc >= 2.28, this host has ${glibc ?? 'an older one'}. ` + fromSource
  } else if (seen.some((m) => m.includes(`Cannot find module '${pkg}'`))) {
    what =
      `the prebuilt binary for ${platform} is the package ${pkg}, which npm did not install ` +
      '(installed with --omit=optional or --no-optional, or a lock file written on another platform?). ' +
      `Install it: \`npm install ${pkg}@${require('../package.json').version}\`, or reinstall stripecast with optional dependencies. ` +
      fromSource.replace('Build it', 'Or build it')
  } else {
    what = `the native addon for ${platform} did not load. ` + fromSource
  }
  const error = new Error(`stripecast: ${what}\nLoader errors:\n  ${seen.join('\n  ')}`)
  error.code = 'ERR_NATIVE_BINDING'
  error.cause = err
  return error
}

module.exports = { nativeLoadError }
