// Types of `stripecast/webrtc` (lib/webrtc.js): one capture's full-frame H.264 sent to WebRTC
// peers through node-datachannel, without re-encoding.
import type { CaptureSettings, CaptureInfo, CaptureStats } from './native'

/** An error a signalling endpoint can answer with: `status` is the HTTP status to send. */
export declare class WebRtcError extends Error {
  readonly status: number
  /** 'ERR_SDP' (not a usable offer), 'ERR_CODEC' (no H.264 it can send), 'ERR_ICE', 'ERR_CLOSED' */
  readonly code: string
}

export interface BroadcasterOptions {
  /** Capture settings; `outputMode`, `h264Fullframe` and `omitStripeHeaders` are fixed (h264, true, true). */
  settings?: CaptureSettings
  /** STUN/TURN servers, node-datachannel's format (e.g. 'stun:stun.example.org:3478'). Default none. */
  iceServers?: string[]
  /** Local address for ICE candidates, e.g. '127.0.0.1'. Default: every interface. */
  bindAddress?: string
  /** UDP port range for ICE, [begin, end]. */
  portRange?: [number, number]
  /** Pacing ceiling per peer in bits/s (libdatachannel's PacingHandler); 0 never paces. Default 50e6. */
  maxBitrate?: number
  /**
   * Which peers are paced, decided once per peer when its track opens: 'auto' (default) paces
   * unless the selected ICE pair's remote address is loopback, private (RFC 1918, fc00::/7)
   * or link-local, and not a TURN relay; 'always'; 'off'.
   */
  pacing?: 'auto' | 'always' | 'off'
  /** Pacer tick in ms. Default 5. */
  pacingIntervalMs?: number
  /** PLI/FIR and new peers ask for an IDR at most this often, all peers together. Default 500. */
  keyframeMinIntervalMs?: number
  /** Raise h264Crf by 2 (up to `maxCrf`, default h264Crf + 8) while a peer reports > 2% loss, lower it back after 10 s without. Default true. */
  adaptCrf?: boolean | { maxCrf?: number }
  /**
   * Send the RTP playout-delay extension with 0/0 (where the peer's SDP lists it): the receiver
   * shows each frame as soon as it is decoded, without playout smoothing. Default true.
   */
  lowLatencyPlayout?: boolean
  /** Stop the capture this long after the last peer left. Default 5000. */
  idleStopMs?: number
  /** Give up on ICE gathering after this long. Default 5000. */
  gatherTimeoutMs?: number
  log?: (line: string) => void
}

export interface PeerStats {
  id: string
  kind: 'viewer' | 'publisher'
  open: boolean
  /** Whether its packets go through the pacer (null until its track opens), and why. */
  paced: boolean | null
  pacingReason: string | null
  /** The remote address of the selected ICE candidate pair (null until open). */
  remoteAddress: string | null
  accessUnits: number
  bytes: number
  /** RTCP from the peer: picture loss indications, full intra requests, NACKed packets. */
  pli: number
  fir: number
  nack: number
  /** From its last receiver report (0..1) and the total. */
  fractionLost: number
  cumulativeLost: number
  /** The receiver's bandwidth estimate (REMB) in bits/s, when it sends one. */
  remb: number | null
  /** Deltas not sent while it waited for its first IDR. */
  skipped: number
  connectMs: number | null
  firstIdrMs: number | null
}

export interface BroadcasterStats {
  accessUnits: number
  bytes: number
  keyframeRequests: number
  pli: number
  fir: number
  nack: number
  crfChanges: number
  captureStarts: number
  crf: number
  peers: PeerStats[]
  capture: CaptureStats | null
}

export interface Answer {
  id: string
  /** The SDP answer, with every candidate (no trickle). */
  sdp: string
}

export interface Offer {
  id: string
  sdp: string
  setAnswer(sdp: string): void
  close(): boolean
}

export interface WhipOptions {
  /** Sent as `Authorization: Bearer <token>` on the POST and the DELETE. */
  token?: string
  /** The H.264 profile-level-id offered. Default '42e01f' (constrained baseline, what x264 emits here). */
  profileLevelId?: string
  /** Each HTTP request's limit in ms. Default 10000. */
  timeoutMs?: number
  /**
   * Put our ICE candidates in the offer. Default false: a full-ICE endpoint's checks arriving
   * before its answer make libdatachannel 0.24 fail DTLS; without them the endpoint learns our
   * address from our checks.
   */
  sendCandidates?: boolean
}

export interface WhipPublication {
  /** The broadcaster's peer id. */
  id: string
  /** The WHIP resource (the 201's Location, absolute). */
  resource: string
  /** DELETEs the resource and ends the peer; resolves the DELETE's status (null when it failed). */
  close(): Promise<number | null>
}

export interface Broadcaster {
  /** Answers a viewer's offer (a WHEP POST). Rejects with WebRtcError for an offer it cannot serve. */
  answer(offerSdp: string): Promise<Answer>
  /** Offers a send-only H.264 stream, e.g. to publish into an SFU. */
  offer(options?: { profileLevelId?: string; payloadType?: number; candidates?: boolean }): Promise<Offer>
  /**
   * Publishes to a WHIP endpoint (RFC 9725): POST the offer, 201 + answer + Location, DELETE on
   * close(). Rejects with WebRtcError (code 'ERR_WHIP', `status` the endpoint's, 502 when it
   * could not be reached or answered wrongly); TypeError (code 'ERR_INVALID_ARG') for a bad url or token.
   */
  publishWhip(url: string, options?: WhipOptions): Promise<WhipPublication>
  /** Ends a peer (a WHEP DELETE); false when there is none with that id. */
  remove(id: string): boolean
  requestKeyframe(): void
  readonly viewerCount: number
  readonly capturing: boolean
  readonly info: CaptureInfo | null
  /** The h264Crf in use (raised while peers report loss). */
  readonly crf: number
  stats(): BroadcasterStats
  close(): void
}

export declare function createBroadcaster(options?: BroadcasterOptions): Broadcaster
/** publishWhip with a broadcaster of its own; close() also stops its capture. */
export declare function publishWhip(
  url: string,
  options?: WhipOptions & BroadcasterOptions,
): Promise<WhipPublication & { broadcaster: Broadcaster }>
/** Loopback, private (RFC 1918, fc00::/7) or link-local. */
export declare function isLocalAddress(address: string): boolean
/** The pacing decision for a peer from the policy and its selected ICE candidate pair. */
export declare function choosePacing(
  policy: 'auto' | 'always' | 'off',
  pair: { local?: { address: string; type: string }; remote?: { address: string; type: string } } | null,
): { paced: boolean; reason: string }
