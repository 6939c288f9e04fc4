//! Captures fed by the application: `ScreenCapture.fromFrames()` and `pushFrame()`.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use stripecast_core::capture::frames::{DirtyRect, FrameFeed, PixelFormat, PushedFrame};

use stripecast_core::pipeline::Sink;

use super::convert::describe_value;
use super::{throw, throw_with, ErrorClass, ScreenCapture};

/// Frames larger than this are refused, as regions are.
const MAX_SIDE: u32 = 16384;

/// The size of the frames a capture made by `fromFrames()` is fed.
#[napi(object)]
pub struct FramesOptions {
    /// Frame width in pixels, 1..=16384.
    pub width: u32,
    /// Frame height in pixels, 1..=16384.
    pub height: u32,
}

/// A rectangle of a pushed frame, in pixels from its top-left corner.
#[napi(object)]
pub struct FrameRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// How to read a pushed frame.
#[napi(object)]
pub struct PushFrameOptions {
    /// Bytes from one row to the next. Default: width x 4.
    pub stride: Option<u32>,
    /// Byte order of the pixels: `'bgra'` (default; the same as `'bgrx'`: Electron's
    /// `NativeImage.toBitmap()`) or `'rgba'` (a canvas `ImageData`). Alpha is ignored.
    #[napi(ts_type = "'bgra' | 'bgrx' | 'rgba'")]
    pub format: Option<String>,
    /// What changed since the previous push (Electron's `paint` event gives it). Rows outside
    /// these rectangles are neither copied nor checked, so they must really be unchanged.
    /// Default: the whole frame.
    pub dirty: Option<Vec<FrameRect>>,
}

#[napi]
impl ScreenCapture {
    /// A capture of frames that the application hands in with `pushFrame()` (an Electron
    /// window's offscreen `paint` events, a headless browser, a program that renders) rather
    /// than of an X screen. `start()` then takes the same settings but `display`; the region
    /// settings pick a part of the frame. Frames pushed before `start()` are kept, and the
    /// first picture is the latest of them: push one before `start()`, or the first picture
    /// is black.
    #[napi(factory)]
    pub fn from_frames(env: &Env, options: FramesOptions) -> Result<Self> {
        for (name, v) in [("width", options.width), ("height", options.height)] {
            if !(1..=MAX_SIDE).contains(&v) {
                return Err(throw_with(
                    env,
                    ErrorClass::Range,
                    "ERR_INVALID_ARG",
                    format!("fromFrames: {name} must be 1..={MAX_SIDE}, got {v}"),
                    None,
                ));
            }
        }
        Ok(Self {
            feed: Some(FrameFeed::new(options.width, options.height)),
            ..Self::new()
        })
    }

    /// Hands in the next frame: `width` x `height` pixels (the size given to `fromFrames()`),
    /// 4 bytes each, `stride` bytes a row. Copies what changed, once, and returns at once.
    /// Returns false when the capture is running and its consumer is behind
    /// (`maxQueuedStripes` stripes wait for the callback): the frame is not copied, and what
    /// it changed goes out with the next accepted one. Throws a `RangeError` (nothing
    /// changes) for data too short for the size and stride, a stride below width x 4, a dirty
    /// rectangle outside the frame, or an unknown format.
    #[napi(ts_args_type = "data: Uint8Array | Uint8ClampedArray, options?: PushFrameOptions")]
    pub fn push_frame(
        &self,
        env: &Env,
        data: Unknown<'_>,
        options: Option<PushFrameOptions>,
    ) -> Result<bool> {
        let Some(feed) = &self.feed else {
            return Err(throw(
                env,
                ErrorClass::Error,
                "ERR_NOT_FRAMES",
                "pushFrame() needs a capture made by ScreenCapture.fromFrames(); this one captures an X display".into(),
            ));
        };
        let range = |message: String| throw(env, ErrorClass::Range, "ERR_INVALID_ARG", message);
        // SAFETY: `data` is a live value of this call's scope.
        let data = match unsafe {
            Either::<Uint8ArraySlice<'_>, Uint8ClampedSlice<'_>>::from_napi_value(
                env.raw(),
                data.raw(),
            )
        } {
            Ok(bytes) => bytes,
            Err(_) => {
                return Err(throw(
                    env,
                    ErrorClass::Type,
                    "ERR_INVALID_ARG",
                    format!(
                        "pushFrame: data must be a Buffer, Uint8Array or Uint8ClampedArray, got {}",
                        describe_value(&data)?
                    ),
                ))
            }
        };
        let options = options.unwrap_or(PushFrameOptions {
            stride: None,
            format: None,
            dirty: None,
        });
        let format = match options.format.as_deref() {
            None | Some("bgra" | "bgrx") => PixelFormat::Bgra,
            Some("rgba") => PixelFormat::Rgba,
            Some(other) => {
                return Err(range(format!(
                    "pushFrame: format must be 'bgra', 'bgrx' or 'rgba', got '{other}'"
                )))
            }
        };
        let dirty: Option<Vec<DirtyRect>> = options.dirty.map(|rects| {
            rects
                .into_iter()
                .map(|r| DirtyRect {
                    x: r.x,
                    y: r.y,
                    width: r.width,
                    height: r.height,
                })
                .collect()
        });
        let bytes: &[u8] = match &data {
            Either::A(a) => a,
            Either::B(b) => b,
        };
        let frame = PushedFrame {
            data: bytes,
            stride: options
                .stride
                .map_or(feed.size().0 as usize * 4, |s| s as usize),
            format,
            dirty: dirty.as_deref(),
        };
        let behind = self
            .running
            .as_ref()
            .is_some_and(|r| r.handle.is_running() && r.sink.in_flight() >= r.max_queued);
        feed.push(frame, !behind)
            .map_err(|e| range(format!("pushFrame: {e}")))
    }
}

/// Frames accepted and refused by a `fromFrames()` capture, for `stats()`.
pub(super) fn frame_counts(capture: &ScreenCapture) -> Option<(u64, u64)> {
    capture.feed.as_ref().map(FrameFeed::counts)
}
