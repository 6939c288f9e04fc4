// Types of `stripecast/control` (lib/control.js): remote control messages from viewers,
// validated, with one controlling viewer at a time. The messages are documented in
// docs/api.md ("Control messages").

/** The message format's version: a message may carry `"v": 1`; another value is refused. */
export declare const PROTOCOL_VERSION: 1
/** Bytes allowed for every message but `clipboard` (4096). */
export declare const MAX_MESSAGE_BYTES: number
/** Clipboard text allowed by default, in UTF-8 bytes (256 KiB). */
export declare const DEFAULT_CLIPBOARD_BYTES: number
/** Default of `maxEventsPerSecond` in createControl. */
export declare const DEFAULT_EVENTS_PER_SECOND: number
/** |dx|, |dy| of a wheel message (20). */
export declare const MAX_WHEEL_STEPS: number
/** Characters of a key name (32). */
export declare const MAX_KEY_CHARS: number
/** Characters of a text message (1024). */
export declare const MAX_TEXT_CHARS: number

/** Coordinates are region coordinates (0,0 is the captured region's top left corner). */
export type InputMessage =
  | { type: 'control'; take: boolean }
  | { type: 'pointer'; x: number; y: number }
  | { type: 'button'; button: number; down: boolean; x?: number; y?: number }
  | { type: 'wheel'; dx: number; dy: number }
  | { type: 'key'; key: string | number; down: boolean }
  | { type: 'text'; text: string }
  | { type: 'clipboard'; text: string }
  | { type: 'release' }

/** What the server tells a viewer about control. */
export interface ControlState {
  type: 'control'
  v: 1
  granted: boolean
  /** Why not granted: 'another viewer has control', 'given up'. */
  reason?: string
  /** Whether nobody holds control now. */
  free?: boolean
}

export type ParseResult = { ok: true; message: InputMessage } | { ok: false; reason: string }

/** Parses and checks one JSON text message; never throws. */
export declare function parseInputMessage(
  data: string | Uint8Array | ArrayBuffer,
  options?: { maxClipboardBytes?: number },
): ParseResult

/** The most bytes a valid message may take on the wire for a clipboard limit (JSON escapes included). */
export declare function maxMessageBytes(clipboardBytes?: number): number

/** What the arbiter calls: the addon's InputInjector satisfies it. */
export interface Injector {
  readonly region?: { x: number; y: number; width: number; height: number }
  pointerMove(x: number, y: number): void
  pointerButton(button: number, down: boolean): void
  scroll(dx: number, dy: number): void
  key(key: string | number, down: boolean): void
  type(text: string): void
  releaseAll(): void
}

/** What the arbiter calls for `clipboard` messages: the addon's Clipboard satisfies it. */
export interface ClipboardWriter {
  readonly maxBytes?: number
  write(text: string): void | Promise<void>
}

export interface ControlCounts {
  /** Messages performed. */
  accepted: number
  /** Invalid, oversized or impossible messages (outside the region, no clipboard). */
  dropped: number
  /** Input from a viewer that does not hold control; `take` while another holds it. */
  refused: number
  /** Messages the injector or clipboard threw on (e.g. a key name it does not know). */
  failed: number
}

export interface HandleResult {
  status: 'accepted' | 'dropped' | 'refused' | 'failed'
  reason?: string
  /** What was sent to the viewer through `send`, if anything (the reply to `control`). */
  reply?: ControlState
}

export interface ControlSession {
  readonly id: string
  readonly stats: ControlCounts
  /** Whether this viewer holds control. */
  readonly holds: boolean
  /** One message from the viewer; never throws. */
  handle(data: string | Uint8Array | ArrayBuffer): HandleResult
  /** The viewer left: frees control (releasing whatever is held) if it had it. */
  leave(): void
}

export interface Control {
  /** All sessions together. */
  readonly stats: ControlCounts
  /** The id of the viewer holding control, or null. */
  readonly holder: string | null
  readonly sessionCount: number
  readonly maxClipboardBytes: number
  /** The most bytes a valid message can take (size a transport's message limit with it). */
  readonly maxMessageBytes: number
  /** `send` receives the arbiter's messages to this viewer. */
  join(id: string, options?: { send?: (message: ControlState) => void }): ControlSession
  /** Frees control and refuses everything from now on. */
  close(): void
}

export interface ControlOptions {
  injector: Injector
  /** Without one, clipboard messages are dropped. */
  clipboard?: ClipboardWriter | null
  /** Default: the clipboard's maxBytes, else 256 KiB. */
  maxClipboardBytes?: number
  /**
   * Input events a holder may cause per second, with a burst of as many (a `text` costs one per
   * character, anything else one); over it input is dropped and counted. Releases (a key or
   * button going up, `release`) are never limited. Default 2000.
   */
  maxEventsPerSecond?: number
  /** Clock in ms for the rate limit (default `performance.now`); for tests. */
  now?: () => number
  log?: (line: string) => void
}

export declare function createControl(options: ControlOptions): Control
