#!/usr/bin/env node
// Fan-out through Janus: ONE WebRTC stream leaves this process (stripecast/webrtc's offer,
// published into a Janus VideoRoom with janode), and Janus sends it on to every viewer, with
// its own NACK buffers and keyframe requests (it asks the publisher for an IDR on a viewer's
// PLI). The capture's cost no longer grows with the viewers.
//
//   node examples/sfu-janus/server.mjs [--port 8090] [--display :0] [--fps 60] [--crf 23] [--no-cursor]
//   # starts a private Janus on loopback, prints the page's URL
//
// The page (viewer.html) asks this server for a subscription: POST /subscribe attaches a Janus
// VideoRoom subscriber and returns Janus's SDP offer (201, Location /subscribe/<id>); the page
// POSTs its answer there; DELETE there leaves. Same Host and Origin rules as the ws example.
//
// In a program: `const sfu = await startSfuServer({ display: ':1', port: 0 })`.
import { createRequire } from 'node:module'
import { parseArgs } from 'node:util'
import { pathToFileURL } from 'node:url'
import Janode from 'janode'
import VideoRoomPlugin from 'janode/plugins/videoroom'
import { startJanus } from './janus.mjs'

// quiet unless asked (JANODE_LOG=info): it logs every request, and harmless warnings on teardown
Janode.Logger.setLevel(process.env.JANODE_LOG ?? 'none')
import { captureSettings } from '../screen-to-browser/viewers.mjs'
import { serveSubscriptions } from './subscriptions.mjs'

const require = createRequire(import.meta.url)
const ROOM = 1234

/**
 * Starts Janus (unless `janusUrl` is given), publishes the screen into a VideoRoom and serves
 * the viewer page on 127.0.0.1.
 * @param {object} [o]
 * @param {string} [o.display] @param {number} [o.fps=60] @param {number} [o.crf]
 * @param {number} [o.port=8090] 0 = a free port
 * @param {string} [o.janusUrl] an already running Janus (ws://...): then none is started
 * @param {object} [o.capture] more capture settings
 * @param {object} [o.webrtc] more createBroadcaster options (e.g. { pacing: 'always' })
 * @param {(line: string) => void} [o.log]
 */
export async function startSfuServer(o = {}) {
  const log = o.log ?? (() => {})
  const { createBroadcaster } = require('stripecast/webrtc')
  const janus = o.janusUrl ? null : await startJanus({ log: o.janusLog })
  const janusUrl = o.janusUrl ?? janus.url
  const cleanups = []
  const close = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve().then(c).catch(() => {})
    await janus?.stop()
  }
  try {
    const broadcaster = createBroadcaster({
      settings: captureSettings({ codec: 'h264', fullframe: true, display: o.display, fps: o.fps, crf: o.crf, cursor: o.cursor, capture: o.capture }),
      // no bindAddress: Janus's candidates are never on loopback (libnice skips it)
      idleStopMs: 0,
      // always paced, even where Janus's address is private: unpaced 1080p IDRs overflowed its
      // socket and lost packets on this host (10 of 120 glass-to-glass samples timed out, p99
      // 304 ms, against none and 36 ms paced: bench/webrtc-results.md)
      pacing: 'always',
      log,
      ...o.webrtc,
    })
    cleanups.push(() => broadcaster.close())
    const connection = await Janode.connect({ is_admin: false, address: { url: janusUrl } })
    connection.on('error', () => {})
    cleanups.push(() => connection.close())
    const session = await connection.create()
    const publisher = await session.attach(VideoRoomPlugin)
    // Janus offers the viewers what the room says: H.264 constrained baseline, as x264 sends
    await publisher.create({ room: ROOM, description: 'stripecast', max_publishers: 1, videocodec: 'h264', h264_profile: '42e01f', bitrate: 0, permanent: false })
    const joined = await publisher.joinPublisher({ room: ROOM, display: 'screen' })
    const offer = await broadcaster.offer({ profileLevelId: '42e01f' })
    const published = await publisher.configure({ audio: false, video: true, jsep: { type: 'offer', sdp: offer.sdp } })
    offer.setAnswer(published.jsep.sdp)
    const feed = joined.feed
    log(`published into Janus room ${ROOM} as feed ${feed}`)

    const subs = await serveSubscriptions({
      attach: async () => {
        const handle = await session.attach(VideoRoomPlugin)
        const r = await handle.joinSubscriber({ room: ROOM, feed })
        return { handle, sdp: r.jsep.sdp }
      },
      port: o.port ?? 8090,
      log,
    })
    cleanups.push(() => subs.close())
    const { port, url } = subs
    return { url, port, janusUrl, broadcaster, feed, room: ROOM, subscriberCount: () => subs.count(), close }
  } catch (e) {
    await close()
    throw e
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({ options: { port: { type: 'string' }, display: { type: 'string' }, fps: { type: 'string' }, crf: { type: 'string' }, 'no-cursor': { type: 'boolean' } } })
  const sfu = await startSfuServer({
    port: values.port ? Number(values.port) : 8090,
    display: values.display,
    fps: values.fps ? Number(values.fps) : 60,
    crf: values.crf ? Number(values.crf) : undefined,
    cursor: values['no-cursor'] ? false : undefined,
    log: (l) => console.log(l),
  })
  console.log(`open ${sfu.url} (Janus at ${sfu.janusUrl})`)
  const stop = () => sfu.close().then(() => process.exit(0))
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
