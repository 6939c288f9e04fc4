//! H.264 on Intel / AMD GPUs through VA-API, with libva opened at run time.
//!
//! # Why libva is loaded with `libloading` (and not linked through `cros-libva`)
//! `cros-libva` links `libva.so.2` at build time, so the addon would fail to load on every
//! host without libva, even for users who never want VA-API. Opening `libva.so.2` and
//! `libva-drm.so.2` with `libloading` when an encoder is opened keeps the addon loadable
//! everywhere, makes "libva missing" an ordinary, reportable fallback reason, and needs no
//! libva headers or pkg-config at build time. The price is the hand-written ABI in [`sys`]
//! (checked against the installed headers by a test where they exist). The library names can
//! be overridden with [`LIBVA_ENV`] / [`LIBVA_DRM_ENV`].
//!
//! # The encode path
//! `/dev/dri/renderD{128+node}` → `vaGetDisplayDRM` → `vaInitialize`; profile High, else Main,
//! else Constrained Baseline, with `VAEntrypointEncSlice` (else `EncSliceLP`); 4:2:0
//! (`VA_RT_FORMAT_YUV420`); constant QP (`VA_RC_CQP`) from the CRF
//! ([`policy::quantisers`]); packed SPS / PPS / slice headers from [`bitstream`] when the
//! driver accepts them (BT.709 limited range VUI, `max_num_reorder_frames = 0`), otherwise the
//! driver writes its own. One input surface (NV12, uploaded from BGRX through
//! [`crate::encode::colour`] via `vaDeriveImage`, or `vaCreateImage` + `vaPutImage` where
//! deriving is not supported), two reconstructed surfaces used in turn (one reference frame,
//! P pictures only), one coded buffer. A paint-over is an IDR at the paint-over QP
//! (`slice_qp_delta`). 4:4:4 is not offered by VA-API drivers for
//! H.264 encode: `fullcolor` encodes 4:2:0 and says so in [`VaapiEncoder::notes`].
//!
//! # What is tested where
//! Without a GPU (CI): the bitstream headers (bit-exact, and against x264/FFmpeg), the struct
//! layouts (against the installed libva headers), the parameter buffers' bitfields, loading
//! the real libva, and the clean errors for a missing render node, a non-DRM device and a
//! missing libva. **Untested without hardware**: everything after `vaInitialize` succeeds —
//! config/surface/context creation, the upload, the picture submission and the coded output.
//! The code follows the libva API documentation and what FFmpeg's and libva-utils' encoders do.
//!
//! [`policy::quantisers`]: crate::encode::h264::policy::quantisers
//! [`bitstream`]: crate::encode::h264::bitstream

// Loading (`libva`) sits below the render node and display (`display`), which the probe and the
// encoder type (`session`) use; `buffers` and then `picture` extend the encoder type. None of
// them uses a module above it.
mod buffers;
mod display;
mod libva;
mod picture;
mod probe;
mod session;
pub mod sys;

pub use self::display::{render_node_path, render_nodes};
pub use self::libva::{VaLibraries, LIBVA_DEFAULT, LIBVA_DRM_DEFAULT, LIBVA_DRM_ENV, LIBVA_ENV};
pub use self::probe::{probe, probe_with, VaapiNode, VaapiProbe};
pub use self::session::{VaapiConfig, VaapiEncoder};

use super::step::{Backend, StepError};
use crate::encode::EncoderKind;

/// The Vaapi backend, for [`StepError`] messages (`vaapi: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vaapi;

impl Backend for Vaapi {
    const KIND: EncoderKind = EncoderKind::Vaapi;
}

/// Why VA-API could not be used: the failing step and a message for people.
pub type VaapiError = StepError<Vaapi>;
