//! H.264 on NVIDIA GPUs through NVENC, with the driver's libraries opened at run time.
//!
//! Nothing NVIDIA is linked: `libnvidia-encode.so.1` and `libcuda.so.1` are opened with
//! `libloading` when an encoder is opened (or [`probe`] runs), so the addon loads and runs
//! everywhere and a host without the driver simply reports why NVENC is unavailable. The
//! paths can be overridden with the environment variables [`NVENC_LIB_ENV`] and
//! [`CUDA_LIB_ENV`] (the tests point them at a fake driver).
//!
//! One [`NvencEncoder`] is one H.264 stream of fixed size:
//! * API: NVENC 12.0 structs ([`sys`]); the driver must report at least 12.0 through
//!   `NvEncodeAPIGetMaxSupportedVersion` (NVIDIA Linux driver 520.56.06 or newer).
//! * Device: a CUDA context (`cuCtxCreate_v2` on device `cuda_device`), pushed around every
//!   NVENC call so the encoder can move between threads (it is never used by two at once).
//! * Preset `P1`..`P7` (default [`NvencPreset::P4`]) with `NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY`
//!   from `nvEncGetEncodePresetConfigEx`, then: no B-frames (`frameIntervalP = 1`), infinite GOP
//!   (IDRs only on request) unless `keyframe_interval_frames` is set, SPS/PPS repeated on every
//!   IDR (`repeatSPSPPS`) and also requested with `NV_ENC_PIC_FLAG_OUTPUT_SPSPPS` on forced ones,
//!   picture-type decision by the driver (`enablePTD`), one output picture per input.
//! * Rate control: constant QP derived from the CRF by [`qp_for_crf`]. A paint-over picture is
//!   an IDR coded at the paint-over QP: the encoder is reconfigured (`nvEncReconfigureEncoder`
//!   with `forceIDR`) for that picture and back for the next one. Should the driver refuse the
//!   reconfiguration, paint-overs become plain IDRs at the normal QP (recorded in `notes`).
//! * Colour: the BGRX input is converted on the CPU by [`crate::encode::colour`] (BT.709
//!   limited range, like x264) and uploaded as NV12, or as planar YUV 4:4:4 when `fullcolor`
//!   is asked for and the GPU reports `NV_ENC_CAPS_SUPPORT_YUV444_ENCODE` (profile High 4:4:4;
//!   otherwise 4:2:0 and a note says so). The VUI signals BT.709 primaries, transfer and
//!   matrix, limited range. ARGB input (the GPU converts) is not used because NVENC's RGB→YUV
//!   matrix is not documented; converting ourselves keeps every H.264 stream the same colours.
//! * Buffers: one host input buffer (`nvEncCreateInputBuffer`, locked and filled per frame) and
//!   one bitstream buffer; encoding is synchronous.
//! * Teardown (`Drop`): end-of-stream picture, destroy the input and bitstream buffers, destroy
//!   the session, then the CUDA context. The driver libraries stay loaded for the life of the
//!   process once opened (libcuda runs worker threads after `cuInit`).

// Loading (`driver`) and configuration (`config`) sit below the encoder type (`session`), which
// `picture` extends with the per-frame encode; none of them uses a module above it.
mod config;
mod driver;
mod picture;
mod session;
pub mod sys;

pub use self::config::{qp_for_crf, NvencConfig, NvencPreset};
pub use self::driver::{
    driver_present, probe, NvencProbe, CUDA_LIB_DEFAULT, CUDA_LIB_ENV, NVENC_LIB_DEFAULT,
    NVENC_LIB_ENV,
};
pub use self::session::NvencEncoder;

use super::step::{Backend, StepError};
use crate::encode::EncoderKind;

/// The Nvenc backend, for [`StepError`] messages (`nvenc: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nvenc;

impl Backend for Nvenc {
    const KIND: EncoderKind = EncoderKind::Nvenc;
}

/// Why NVENC could not be used: the failing step and a message for people.
pub type NvencError = StepError<Nvenc>;
