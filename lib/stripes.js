'use strict'

/**
 * `capture.stripes(settings)`: the capture as an async iterable.
 *
 * Each stripe waits in a queue until the loop pulls it. Stripes not yet pulled count as queued
 * for the native side (`maxQueuedStripes`), so a loop that stops pulling makes the capture skip
 * frames, exactly as a slow callback does, instead of growing memory. Leaving the loop (`break`,
 * `return`, an exception) stops the capture. An error that ends the capture (`error.fatal`:
 * `ERR_CAPTURE` when the X server went away, `ERR_SCREEN_CHANGED`) is thrown from the loop; other
 * native errors go to `options.onError`.
 */
function stripes(capture, settings, options = {}) {
  const buffered = [] // { stripe, release }
  let waiter = null // { resolve, reject } of a pending next()
  let failure = null
  let finished = false

  const finish = () => {
    if (finished) return
    finished = true
    capture.stop()
    for (const b of buffered.splice(0)) b.release()
  }
  const wake = () => {
    if (!waiter) return
    const w = waiter
    waiter = null
    if (failure) w.reject(failure)
    else w.resolve({ value: undefined, done: true })
  }

  capture.start(
    settings,
    (stripe) =>
      new Promise((release) => {
        if (finished) return release()
        if (waiter) {
          const w = waiter
          waiter = null
          release()
          w.resolve({ value: stripe, done: false })
        } else {
          buffered.push({ stripe, release })
        }
      }),
    (error) => {
      if (error && error.fatal) {
        failure = error
        finish()
        wake()
      } else if (typeof options.onError === 'function') {
        options.onError(error)
      }
    },
  )

  return {
    next() {
      if (buffered.length > 0) {
        const { stripe, release } = buffered.shift()
        release()
        return Promise.resolve({ value: stripe, done: false })
      }
      if (failure) {
        const f = failure
        failure = null
        return Promise.reject(f)
      }
      if (finished) return Promise.resolve({ value: undefined, done: true })
      return new Promise((resolve, reject) => {
        waiter = { resolve, reject }
      })
    },
    return(value) {
      finish()
      wake()
      return Promise.resolve({ value, done: true })
    },
    throw(error) {
      finish()
      wake()
      return Promise.reject(error)
    },
    [Symbol.asyncIterator]() {
      return this
    },
  }
}

module.exports = { stripes }
