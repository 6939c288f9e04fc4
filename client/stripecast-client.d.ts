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
  /** Adds a listener beside the options' callbacks; returns its remover. */
  on(event: 'text', fn: (text: string) => void): () => void
  on(event: 'open', fn: (ws: WebSocket) => void): () => void
  on(event: 'close', fn: (event: CloseEvent, retryInMs: number | null) => void): () => void
  close(): void
  readonly socket: WebSocket | null
  readonly attempts: number
}

/** Opens a WebSocket feeding `client`, sending 'keyframe' requests, reconnecting with backoff. */
export declare function connect(url: string | URL, client: StripeClient, options?: ConnectOptions): StripeLink

/** DOM MouseEvent.button (0 left, 1 middle, 2 right, 3 back, 4 forward) -> X button 1, 2, 3, 8, 9. */
export declare const X_BUTTON_OF_DOM: readonly number[]
export declare const MAX_WHEEL_STEPS: number
export declare const MAX_TEXT_CHARS: number

/**
 * Maps a point in CSS pixels to canvas pixels for a canvas whose content box is `box`, showing a
 * width x height picture with CSS `object-fit` `fit` and `object-position` `position`; clamped to
 * the picture, null when there is none.
 */
export declare function canvasPoint(
  clientX: number,
  clientY: number,
  box: { left: number; top: number; width: number; height: number },
  width: number,
  height: number,
  fit?: string,
  position?: string,
): { x: number; y: number } | null

export interface ControlOptions {
  /** Ask for control now, after a reconnect and when it becomes free (until giveUp()). Default true. */
  autoTake?: boolean
  onChange?: (state: { granted: boolean; free: boolean; reason?: string }) => void
  /** E.g. a paste over the limit. Default console.error. */
  onError?: (error: Error) => void
  /** Larger pastes send only their keys. Default 262144 (the example server's limit). */
  maxClipboardBytes?: number
  /** Wheel pixels for one step (3 lines make one). Default 100. */
  wheelPixelsPerStep?: number
  /** How long Ctrl+V waits for the paste event. Default 100. */
  pasteWaitMs?: number
}

export interface RemoteControl {
  /** Whether this page holds control. */
  readonly granted: boolean
  /** Whether nobody holds control (as the server last said). */
  readonly free: boolean
  /** Input messages sent, and those not sent for lack of control. */
  readonly stats: { sent: number; notGranted: number }
  /** The hidden text field that takes the keyboard (IME, dead keys, paste). */
  readonly input: HTMLTextAreaElement
  take(): void
  /** Gives control up (releasing what is held) and stops asking for it. */
  giveUp(): void
  /** Releases every key and button held in X. */
  release(): void
  /** A text message from the server; true when it was a control message (needed only for a link without `on`). */
  handleText(text: string): boolean
  /** Removes the listeners and the text field; gives control up. */
  detach(): void
}

/**
 * Forwards pointer, wheel, keyboard (text by the browser's layout) and paste on `canvas` to the
 * server as control messages over `link` (what connect() returns). See docs/api.md, "Control messages".
 */
export declare function attachControl(
  canvas: HTMLCanvasElement,
  link: Pick<StripeLink, 'send'> & Partial<Pick<StripeLink, 'on'>>,
  options?: ControlOptions,
): RemoteControl
