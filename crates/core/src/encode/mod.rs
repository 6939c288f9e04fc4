//! Encoders: one trait for everything that turns BGRX pixels into a delivered payload.
//!
//! The pipeline owns one encoder per stream (a stripe in striped mode, the whole region in
//! full-frame mode) and calls it from whatever rayon worker picks the stripe up, so encoders
//! are `Send` but never used from two threads at once.

pub mod colour;
pub mod hardware;
pub mod jpeg;
pub mod nvenc;
pub mod vaapi;
pub mod x264;

use thiserror::Error;

/// A borrowed BGRX image: `height` rows of `width` pixels, rows `stride` bytes apart.
#[derive(Clone, Copy)]
pub struct BgrxImage<'a> {
    pub data: &'a [u8],
    pub stride: usize,
    pub width: u32,
    pub height: u32,
}

impl<'a> BgrxImage<'a> {
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

/// What the pipeline asks of one encode call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EncodeRequest {
    /// Emit a key frame (H.264 IDR); JPEG frames are always key frames.
    pub force_key: bool,
    /// This is a paint-over: re-send still content at the higher quality.
    pub paint_over: bool,
}

/// What one encode call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOutcome {
    /// The bytes appended are a key frame (decodable on their own).
    pub key: bool,
    /// Bytes were appended (an encoder may buffer a frame and emit nothing).
    pub produced: bool,
}

#[derive(Debug, Error)]
pub enum EncodeError {
    #[error("jpeg: {0}")]
    Jpeg(String),
    #[error("h264: {0}")]
    H264(String),
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

    /// Short name for diagnostics (`jpeg`, `x264`, ...).
    fn name(&self) -> &'static str;
}
