// What the WebRTC tests share.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

/** node-datachannel, or an error saying it is missing (the WebRTC tests fail, never skip). */
export function requireNodeDatachannel() {
  try {
    return require('node-datachannel')
  } catch (e) {
    throw new Error(`node-datachannel is not installed (npm install): ${e.message}`)
  }
}
