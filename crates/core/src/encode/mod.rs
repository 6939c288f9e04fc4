//! Encoders: one trait for everything that turns BGRX pixels into a delivered payload.
//!
//! The pipeline owns one encoder per stream (a stripe in striped mode, the whole region in
//! full-frame mode) and calls it from whatever worker thread picks the stripe up, so encoders
//! are `Send` but never used from two threads at once.
//!
//! By codec family: [`jpeg`]; [`h264`] (x264, and the rules and bitstream syntax every H.264
//! encoder shares); [`hw`] (the hardware facade, NVENC and VA-API); [`colour`] (BGRX → YUV for
//! all of them). This module is the root they all use and it uses none of them.

pub mod colour;
pub mod h264;
pub mod hw;
pub mod jpeg;

use thiserror::Error;

pub use crate::settings::RateControl;

/// A borrowed BGRX image: `height` rows of `width` pixels, rows `stride` bytes apart.
#[derive(Clone, Copy)]
pub struct BgrxImage<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: u32,
    pub height: u32,
}

impl<'a> BgrxImage<'a> {
    /// A tightly packed image: `width * 4` bytes a row.
    pub fn packed(data: &'a [u8], width: u32, height: u32) -> Self {
        BgrxImage {
            data,
            stride: width as usize * 4,
            width,
            height,
        }
    }

    /// Rows `y .. y + height` of this image.
    pub fn rows(&self, y: u32, height: u32) -> BgrxImage<'a> {
        let start = y as usize * self.stride;
        let len = (height as usize - 1) * self.stride + self.width as usize * 4;
        BgrxImage {
            data: &self.data[start..start + len],
            stride: self.stride,
            width: self.width,
            height,
        }
    }
}

impl<'a> BgrxImage<'a> {
    /// Columns `x .. x + width` of this image.
    pub fn cols(&self, x: u32, width: u32) -> BgrxImage<'a> {
        let start = x as usize * 4;
        let len = (self.height as usize - 1) * self.stride + width as usize * 4;
        BgrxImage {
            data: &self.data[start..start + len],
            stride: self.stride,
            width,
            height: self.height,
        }
    }
}

/// The settings of one H.264 stream (a stripe or the whole region) that every H.264 encoder
/// takes; each encoder's config adds its own settings and says where it deviates from these.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StreamParams {
    /// Picture size in pixels; both must be even for 4:2:0.
    pub width: u32,
    pub height: u32,
    /// `h264Crf`: constant rate factor, 0..=51 (lower is better).
    pub crf: u8,
    /// `h264PaintOverCrf`: rate factor of paint-over pictures
    /// ([`EncodeRequest::paint_over`]), 0..=51, normally below `crf`.
    pub paint_over_crf: u8,
    /// `h264RateControl`: how x264 turns `crf` into quantisers. The hardware encoders always
    /// code at a constant quantiser derived from `crf` (what [`RateControl::Cqp`] asks of x264).
    pub rate_control: RateControl,
    /// `h264Fullcolor`: 4:4:4 chroma instead of 4:2:0.
    pub fullcolor: bool,
    /// Nominal frame rate (for rate control and the stream timing info), in (0, 1000].
    pub fps: f64,
    /// Maximum distance between IDRs in frames; 0 = infinite GOP (IDRs only on request).
    pub keyframe_interval_frames: u32,
}

/// What the pipeline asks of one encode call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeRequest {
    /// Emit a key frame (H.264 IDR); JPEG frames are always key frames.
    pub force_key: bool,
    /// This is a paint-over: re-send still content at the higher quality.
    pub paint_over: bool,
    /// Rows `[start, end)` of the image outside which it is known to equal the previous image
    /// given to this encoder; `None` when unknown. An encoder that keeps a converted copy of
    /// its previous picture may refresh only these rows.
    pub changed_rows: Option<(u32, u32)>,
    /// How the content moves: what a JPEG spends on it.
    pub motion: Motion,
}

/// How the content of an encoded picture moves, for the chroma a JPEG under
/// `jpegSubsampling: 'auto'` gives it (see `jpeg::chroma`) and, for rows a scroll brought in,
/// its quality (see `jpeg::request_quality`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Motion {
    /// Changed in place: chroma by measure.
    #[default]
    Changed,
    /// In sustained motion (a damaged stripe), re-sent while it moves: 4:2:0, full chroma left
    /// to the paint-over once it stops.
    Sustained,
    /// Rows a scroll brought in beside its copies: encoded once, then copied along for the
    /// rest of the scroll and never re-sent while it lasts, so 4:4:4 and at the paint-over
    /// quality.
    ScrolledIn,
}

/// What one encode call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOutcome {
    /// The bytes appended are a key frame (decodable on their own).
    pub key: bool,
    /// Bytes were appended (an encoder may buffer a frame and emit nothing).
    pub produced: bool,
    /// JPEG: the picture's chroma is subsampled, so decoded pixels at a block's edge depend on
    /// the block beside it (see `crate::seams`). False from H.264 encoders.
    pub joins_blocks: bool,
}

/// Which encoder produces a stream. JavaScript sees [`EncoderKind::as_str`] (`info().encoder`,
/// `streamInfo().encoder`, error messages), so those strings are part of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EncoderKind {
    Jpeg,
    X264,
    Nvenc,
    Vaapi,
}

impl EncoderKind {
    /// `jpeg`, `x264`, `nvenc` or `vaapi`.
    pub const fn as_str(self) -> &'static str {
        match self {
            EncoderKind::Jpeg => "jpeg",
            EncoderKind::X264 => "x264",
            EncoderKind::Nvenc => "nvenc",
            EncoderKind::Vaapi => "vaapi",
        }
    }

    /// A GPU encoder, which falls back to x264 when it cannot open or fails.
    pub const fn is_hardware(self) -> bool {
        matches!(self, EncoderKind::Nvenc | EncoderKind::Vaapi)
    }
}

impl std::fmt::Display for EncoderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("jpeg: {0}")]
    Jpeg(String),
    #[error("h264: {0}")]
    H264(String),
    #[error("colour conversion: {0}")]
    Colour(String),
}

/// Runs `encode` on `out`; if it fails, `out` is truncated back to what it held before, so a
/// failed call appends nothing.
pub(crate) fn encode_or_truncate<E: Into<EncodeError>>(
    out: &mut Vec<u8>,
    encode: impl FnOnce(&mut Vec<u8>) -> Result<EncodeOutcome, E>,
) -> Result<EncodeOutcome, EncodeError> {
    let start = out.len();
    encode(out).map_err(|e| {
        out.truncate(start);
        e.into()
    })
}

/// Fails a test that cannot run a tool it needs: `need` says what needs it and how to install
/// it. A missing tool must fail, not skip, or a test run without it would pass having checked
/// nothing (CI installs every tool these tests use).
#[cfg(test)]
#[track_caller]
pub(crate) fn tool_missing(tool: &str, e: impl std::fmt::Display, need: &str) -> ! {
    panic!("cannot run `{tool}` ({e}): {need}")
}

/// Turns BGRX pixels into encoded bytes.
pub trait Encoder: Send {
    /// Encodes `image`, appending the payload to `out` (which may already hold a header).
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError>;

    /// Which encoder this is (a hardware encoder's fallback wrapper answers for the encoder
    /// running now: x264 once it has taken over).
    fn kind(&self) -> EncoderKind;
}
