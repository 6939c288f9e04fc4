'use strict'

// The public entry point: the generated native binding (native.js, by `napi build`) plus the
// few conveniences that are plain JavaScript.
let native
try {
  native = require('./native.js')
} catch (err) {
  // No binary for this host, or one that does not load: say which and what to do.
  throw require('./lib/native-error.js').nativeLoadError(err)
}
const { stripes } = require('./lib/stripes.js')

Object.defineProperty(native.ScreenCapture.prototype, 'stripes', {
  value: function (settings, options) {
    return stripes(this, settings, options)
  },
  writable: true,
  configurable: true,
})

// Re-exported with `require` so that Node's ESM loader sees the named exports
// (`import { ScreenCapture } from 'stripecast'`); it is the same, patched, module object.
module.exports = require('./native.js')
