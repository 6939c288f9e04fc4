// Types for stripecast-client.js (the browser module, `import ... from 'stripecast/client'`).

export declare const JPEG_HEADER_LENGTH: 6
export declare const JPEG_TILE_HEADER_LENGTH: 10
export declare const H264_HEADER_LENGTH: 10
export declare const COPY_HEADER_LENGTH: 16

export type StripeHeader =
  | { kind: 'jpeg'; frameId: number; x: number; y: number; regionWidth: number | null; payload: Uint8Array }
  | { kind: 'h264'; key: boolean; frameId: number; y: number; width: number; height: number; payload: Uint8Array }
  | { kind: 'copy'; frameId: number; x: number; y: number; width: number; height: number; toX: number; toY: number; payload: Uint8Array }

/** Parses a stripe's 6-byte (JPEG) or 10-byte (H.264) wire header; throws on anything else. */
export declare function parseStripeHeader(bytes: Uint8Array): StripeHeader

/** `avc1.PPCCLL` from the first SPS of an Annex-B stream, or null when there is none. */
export declare function avcCodecFromAnnexB(annexB: Uint8Array): string | null

export interface StripeClientStats {
  messages: number
  bytes: number
  jpegStripes: number
  /** JPEG stripes in stripecast's tile format (`jpegTiles`), counted in `jpegStripes` too. */
  jpegTiles: number
  /** Scroll copies applied (`scrollCopies`). */
  copies: number
  /** Copies ignored (each reported through onError, and a key frame asked for): one before any picture, or reaching outside the canvas. */
  badCopies: number
  h264Chunks: number
  stripesDrawn: number
  /** distinct frame ids received */
  framesReceived: number
  /** H.264 deltas dropped because their decoder had no key frame (or was too far behind) */
  droppedDeltas: number
  decodeErrors: number
  keyframeRequests: number
  /** live H.264 decoders (one per stripe y; one in full-frame mode) */
  decoders: number
  /** the last H.264 codec string configured, e.g. 'avc1.42C01F' ('' before any) */
  codec: string
  lastFrameId: number
  /** performance.now() of the last stripe drawn */
  lastDrawTime: number
}

export interface StripeClientOptions {
  canvas: HTMLCanvasElement | OffscreenCanvas
  /** Decode and protocol errors. Default: console.error. */
  onError?: (error: Error) => void
  /** A key frame is needed: send the server a 'keyframe' text message (`connect()` does it). */
  onNeedKeyframe?: () => void
  /** Called after each stripe is drawn. */
  onDraw?: (info: { kind: 'jpeg' | 'h264' | 'copy'; y: number; height: number; frameId: number }) => void
  /** Size the canvas to fit the content (default true). */
  autoResize?: boolean
}

export interface StripeClient {
  readonly canvas: HTMLCanvasElement | OffscreenCanvas
  readonly stats: StripeClientStats
  /** One stripe with its wire header. */
  handleMessage(data: ArrayBuffer | ArrayBufferView | Blob): void
  /** Sizes (and clears) the canvas up front. */
  setSize(width: number, height: number): void
  /** Adds a key-frame-needed listener; returns its remover. */
  onNeedKeyframe(fn: () => void): () => void
  requestKeyframe(): void
  /** Forgets all decoders (after a reconnect); the canvas keeps its picture. */
  reset(): void
  close(): void
}

export declare function createStripeClient(options: StripeClientOptions): StripeClient

export interface ConnectOptions {
  /** First retry after initialMs (250), then times factor (2), at most maxMs (10000). */
  backoff?: { initialMs?: number; maxMs?: number; factor?: number }
  onText?: (text: string) => void
  onOpen?: (ws: WebSocket) => void
  onClose?: (event: CloseEvent, retryInMs: number | null) => void
  WebSocket?: typeof WebSocket
}

export interface StripeLink {
  send(data: string | ArrayBufferLike | ArrayBufferView | Blob): boolean
  close(): void
  readonly socket: WebSocket | null
  readonly attempts: number
}

/** Opens a WebSocket feeding `client`, sending 'keyframe' requests, reconnecting with backoff. */
export declare function connect(url: string | URL, client: StripeClient, options?: ConnectOptions): StripeLink
