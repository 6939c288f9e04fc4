//! The capture pipeline: one thread per capture reads the source, finds what changed, encodes
//! the changed stripes on sleeping helpers and hands each result to a [`Sink`].
//!
//! Each frame the capture thread reads what was drawn into the source's frame buffer, draws
//! overlays, hashes the drawn rows, asks the decision core which stripes go out and how, and
//! fans those out to encode threads (`workers`), which hand each result straight to the sink.
//! The sink (the JavaScript side) reports how many deliveries are still unconsumed; above
//! `max_queued_stripes` whole frames are skipped, so pending changes simply stay pending (JPEG
//! stripes then carry their latest content, H.264 streams never lose a delta) and memory stays
//! bounded whatever the consumer does.
//!
//! - `control.rs`: stopping, key frames, updates, counters, the thread's handle.
//! - `plan.rs`: how a config cuts the region and what encodes it (plain data), and the factory.
//! - `decide.rs`: every per-frame and per-stripe decision, pure.
//! - `run.rs`: the paced loop and one frame.
//! - `deliver.rs`: encoding a frame's jobs and handing them over.

mod control;
mod decide;
mod deliver;
mod plan;
mod run;

use thiserror::Error;

pub use control::{monotonic_ns, CaptureHandle, Controls, InfoSlot, Stats, StreamStatus, Update};
pub use decide::{Decision, Policy, StripeState};
pub use deliver::{Delivery, Sink};
pub use plan::{hardware_choice, plan, EncoderFactory, Plan};
pub use run::Pipeline;

use crate::capture::CaptureError;
use crate::encode::EncodeError;
use crate::geometry::{Bounds, Region};
use crate::overlay::watermark::Watermark;
use crate::settings::{Config, WatermarkLocation};

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(
        "the {} changed to {}x{}+{}+{} and the capture region {}x{}+{}+{} no longer fits; start() again (or set autoResize)",
        to.what, to.area.width, to.area.height, to.area.x, to.area.y, region.width, region.height, region.x, region.y
    )]
    ScreenChanged { region: Region, to: Bounds },
    #[error("the captured monitor is gone: {0}")]
    MonitorGone(String),
    #[error("hardware H.264 encoder not in use, encoding with x264 instead: {0}")]
    Fallback(String),
    #[error(transparent)]
    Watermark(#[from] crate::overlay::watermark::WatermarkError),
    #[error("encoder failed on stripe at y={stripe_y}: {source}")]
    Encode { stripe_y: u32, source: EncodeError },
}

/// Loads the watermark `config` asks for (none when no path is set or the location is 0).
pub fn load_watermark(config: &Config) -> Result<Option<Watermark>, PipelineError> {
    match (
        &config.overlay.watermark_path,
        config.overlay.watermark_location,
    ) {
        (Some(path), location) if location != WatermarkLocation::None => {
            Ok(Some(Watermark::load(std::path::Path::new(path))?))
        }
        _ => Ok(None),
    }
}
