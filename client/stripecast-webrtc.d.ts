// Types of `stripecast/client/webrtc` (client/stripecast-webrtc.js): a WHEP viewer in the browser.

export interface WhepOptions {
  /** Where the track plays; created when not given. */
  video?: HTMLVideoElement
  /** When given, every video frame is also drawn onto it (sized to the video). */
  canvas?: HTMLCanvasElement
  /** Reconnect delays: from initialMs (250) doubling to maxMs (10000); reset once frames flow. */
  backoff?: { initialMs?: number; maxMs?: number }
  rtcConfig?: RTCConfiguration
  /** Send the offer with the candidates gathered by then. Default 2000. */
  gatherTimeoutMs?: number
  /** The server makes the offer (an SFU: examples/sfu-janus); the answer is POSTed to the Location. */
  serverOffers?: boolean
  onState?: (state: 'connecting' | 'connected' | 'disconnected' | 'closed', detail?: string) => void
  onError?: (error: Error) => void
}

export interface WhepStats {
  connects: number
  failures: number
  framesDrawn: number
  /** performance.now() of the last and of the first frame since the last (re)connect. */
  lastDrawTime: number
  firstDrawTime: number
  lastFrameTime: number
  /** performance.now() when the peer connection last became 'connected'. */
  connectedTime: number
  width: number
  height: number
  state: string
}

export interface WhepLink {
  readonly video: HTMLVideoElement
  readonly canvas: HTMLCanvasElement | null
  readonly stats: WhepStats
  readonly pc: RTCPeerConnection | null
  /** The session's URL (the Location the server gave), null between sessions. */
  readonly resource: string | null
  /** Leaves (DELETE on the session) and stops reconnecting. */
  close(): void
}

export declare function connectWhep(url: string, options?: WhepOptions): WhepLink
