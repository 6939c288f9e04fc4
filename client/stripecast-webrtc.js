// stripecast's WebRTC viewer for the browser: a WHEP client (POST an SDP offer, get the answer,
// DELETE to leave) that plays the screen's H.264 track in a <video>, can copy every frame onto
// a canvas, and reconnects with backoff like the WebSocket client. Plain ES module, no build.
//
//   import { connectWhep } from './stripecast-webrtc.js'
//   const link = connectWhep('/whep?token=...', { video: document.querySelector('video') })
//   link.close()

/** Waits for ICE gathering to finish (non-trickle WHEP), at most `ms`. */
function gatheringDone(pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve()
  return new Promise((resolve) => {
    const t = setTimeout(done, ms)
    function done() {
      clearTimeout(t)
      pc.removeEventListener('icegatheringstatechange', check)
      resolve()
    }
    function check() {
      if (pc.iceGatheringState === 'complete') done()
    }
    pc.addEventListener('icegatheringstatechange', check)
  })
}

/**
 * Watches a WHEP endpoint and keeps the picture in `video` (created when not given).
 * @param {string} url the WHEP endpoint, e.g. '/whep' (a token rides in its query)
 * @param {object} [o]
 * @param {HTMLVideoElement} [o.video]
 * @param {HTMLCanvasElement} [o.canvas] when given, every video frame is drawn onto it too
 *   (sized to the video), so that it can be read back or composed
 * @param {{initialMs?: number, maxMs?: number}} [o.backoff] reconnect delays (default 250 ms
 *   doubling to 10 s; reset once a connection delivers frames)
 * @param {RTCConfiguration} [o.rtcConfig] e.g. { iceServers: [...] }
 * @param {number} [o.gatherTimeoutMs=2000] send the offer with what was gathered by then
 * @param {boolean} [o.serverOffers=false] the server makes the offer instead (an SFU such as
 *   Janus, examples/sfu-janus): POST with an empty body gets `201` with the offer and a
 *   Location, where the answer is POSTed (application/sdp); DELETE there leaves, as in WHEP
 * @param {(state: string, detail?: string) => void} [o.onState] 'connecting', 'connected',
 *   'disconnected', 'closed'
 * @param {(e: Error) => void} [o.onError]
 */
export function connectWhep(url, o = {}) {
  const video = o.video ?? document.createElement('video')
  const canvas = o.canvas ?? null
  const initialMs = o.backoff?.initialMs ?? 250
  const maxMs = o.backoff?.maxMs ?? 10000
  const onState = o.onState ?? (() => {})
  const onError = o.onError ?? ((e) => console.error(e))
  video.muted = true // autoplay is allowed for muted media
  video.playsInline = true
  video.autoplay = true

  const stats = { connects: 0, failures: 0, framesDrawn: 0, lastDrawTime: 0, lastFrameTime: 0, connectedTime: 0, firstDrawTime: 0, width: 0, height: 0, state: 'new' }
  let pc = null
  let resource = null // the Location of the current session
  let closed = false
  let delay = initialMs
  let retryTimer = null
  let session = 0

  function setState(s, detail) {
    stats.state = s
    onState(s, detail)
  }

  function leave() {
    const where = resource
    resource = null
    if (where) fetch(where, { method: 'DELETE', keepalive: true }).catch(() => {})
    if (pc) {
      pc.close()
      pc = null
    }
  }

  function retry(why) {
    if (closed) return
    stats.failures++
    leave()
    setState('disconnected', why)
    clearTimeout(retryTimer)
    retryTimer = setTimeout(start, delay)
    delay = Math.min(maxMs, delay * 2)
  }

  async function start() {
    if (closed) return
    const mine = ++session
    stats.firstDrawTime = 0
    setState('connecting')
    try {
      pc = new RTCPeerConnection(o.rtcConfig)
      // (with serverOffers the transceiver comes with the offer)
      if (!o.serverOffers) pc.addTransceiver('video', { direction: 'recvonly' })
      pc.ontrack = (ev) => {
        // a screen wants the frame as soon as it is decodable, not a smoothed playout
        if ('jitterBufferTarget' in ev.receiver) ev.receiver.jitterBufferTarget = 0
        video.srcObject = ev.streams[0] ?? new MediaStream([ev.track])
        video.play().catch(() => {})
      }
      pc.onconnectionstatechange = () => {
        if (mine !== session) return
        const s = pc?.connectionState
        if (s === 'connected') {
          stats.connects++
          stats.connectedTime = performance.now()
          setState('connected')
        } else if (s === 'failed' || s === 'closed') retry(`peer connection ${s}`)
      }
      if (o.serverOffers) {
        const res = await fetch(url, { method: 'POST' })
        const offer = await res.text()
        if (res.status !== 201) throw new Error(`${url}: ${res.status} ${offer.trim()}`)
        if (mine !== session) return
        resource = new URL(res.headers.get('Location') ?? url, new URL(url, location.href)).href
        await pc.setRemoteDescription({ type: 'offer', sdp: offer })
        await pc.setLocalDescription(await pc.createAnswer())
        await gatheringDone(pc, o.gatherTimeoutMs ?? 2000)
        const ack = await fetch(resource, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp })
        if (!ack.ok) throw new Error(`${resource}: ${ack.status} ${(await ack.text()).trim()}`)
        return
      }
      await pc.setLocalDescription(await pc.createOffer())
      await gatheringDone(pc, o.gatherTimeoutMs ?? 2000)
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/sdp' }, body: pc.localDescription.sdp })
      const body = await res.text()
      if (res.status !== 201) throw new Error(`WHEP ${url}: ${res.status} ${body.trim()}`)
      if (mine !== session) return
      resource = new URL(res.headers.get('Location') ?? url, new URL(url, location.href)).href
      await pc.setRemoteDescription({ type: 'answer', sdp: body })
    } catch (e) {
      if (mine !== session || closed) return
      onError(e)
      retry(e.message)
    }
  }

  // Copies each new video frame onto the canvas; counts frames either way.
  function onFrame(_now, meta) {
    if (closed) return
    stats.framesDrawn++
    stats.lastDrawTime = performance.now()
    stats.firstDrawTime ||= stats.lastDrawTime
    stats.lastFrameTime = meta?.presentationTime ?? stats.lastDrawTime
    stats.width = video.videoWidth
    stats.height = video.videoHeight
    if (stats.framesDrawn > 30) delay = initialMs // frames flow: a later drop retries quickly again
    if (canvas && video.videoWidth) {
      if (canvas.width !== video.videoWidth || canvas.height !== video.videoHeight) {
        canvas.width = video.videoWidth
        canvas.height = video.videoHeight
      }
      canvas.getContext('2d').drawImage(video, 0, 0)
    }
    video.requestVideoFrameCallback(onFrame)
  }
  video.requestVideoFrameCallback(onFrame)

  start()
  return {
    video,
    canvas,
    stats,
    get pc() {
      return pc
    },
    get resource() {
      return resource
    },
    /** Leaves (DELETE) and stops reconnecting. */
    close() {
      closed = true
      clearTimeout(retryTimer)
      leave()
      setState('closed')
    },
  }
}
