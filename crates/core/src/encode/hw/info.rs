//! What a stream ended up with, shared between the facade that opens it, the
//! [`FallbackEncoder`](super::fallback::FallbackEncoder) that may change it, and the pipeline.

use std::sync::{Arc, Mutex};

use crate::encode::EncoderKind;

/// What a stream ended up with; meant for users (`streamInfo()` in JavaScript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderInfo {
    /// x264, NVENC or VA-API (JPEG for a JPEG capture).
    pub encoder: EncoderKind,
    /// Whether `encoder` is a hardware encoder.
    pub hardware: bool,
    /// The GPU (NVENC: CUDA device name; VA-API: render node and driver).
    pub device: Option<String>,
    /// Why hardware was not used, or stopped being used, in order (empty when nothing failed).
    pub declined: Vec<String>,
    /// Deviations from the request by the encoder in use (e.g. 4:2:0 instead of 4:4:4).
    pub notes: Vec<String>,
}

impl EncoderInfo {
    /// A hardware encoder that opened on `device`.
    pub(super) fn hardware(encoder: EncoderKind, device: &str, notes: &[String]) -> Self {
        Self {
            encoder,
            hardware: true,
            device: Some(device.to_string()),
            declined: Vec::new(),
            notes: notes.to_vec(),
        }
    }

    /// A software encoder (`x264`, `jpeg`), with the reasons hardware was not used.
    pub fn software(encoder: EncoderKind, declined: Vec<String>) -> Self {
        EncoderInfo {
            encoder,
            hardware: false,
            device: None,
            declined,
            notes: Vec::new(),
        }
    }
}

/// A [`EncoderInfo`] that a [`FallbackEncoder`](super::fallback::FallbackEncoder) keeps up to
/// date.
pub type SharedEncoderInfo = Arc<Mutex<EncoderInfo>>;
