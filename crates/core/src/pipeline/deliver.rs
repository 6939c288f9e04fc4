//! Encoding a frame's jobs and handing the results to the consumer, with their wire header.

use super::decide::{Outgoing, StripeMemory};
use super::plan::EncoderFactory;
use super::PipelineError;
use crate::encode::{BgrxImage, EncodeError, EncodeRequest, Encoder};
use crate::geometry::Stripe;
use crate::seams::ChromaSeams;
use crate::wire::{HeaderFormat, PayloadKind, Placement};

/// One encoded stripe (or full frame), ready for the consumer.
#[derive(Debug)]
pub struct Delivery {
    pub kind: PayloadKind,
    /// Wire header (unless omitted) followed by the encoded bytes.
    pub data: Vec<u8>,
    /// The rows this delivery paints: the whole stripe, or for JPEG the band of the stripe
    /// whose rows changed (see [`align_band`](crate::geometry::align_band)).
    pub stripe_y: u32,
    pub stripe_height: u32,
    /// The first column painted: 0, or with JPEG tiles the first changed cell's.
    pub x: u32,
    pub width: u32,
    pub frame_id: u32,
    pub key: bool,
    pub paint_over: bool,
    /// CLOCK_MONOTONIC nanoseconds when the frame was grabbed (the clock of `process.hrtime`).
    pub capture_time_ns: u64,
}

/// Where deliveries go. Called from encode threads and the capture thread.
pub trait Sink: Send + Sync + 'static {
    /// Hands one delivery over; `false` means it was not accepted (the consumer is gone or full)
    /// and its content must be sent again later.
    fn deliver(&self, delivery: Delivery) -> bool;
    /// Deliveries accepted but not yet consumed.
    fn in_flight(&self) -> usize;
    /// A failure on the capture thread; the capture ends after a capture error.
    fn error(&self, error: PipelineError);
    /// The capture thread has ended (stopped or failed); nothing more will be delivered.
    fn finished(&self) {}
}

/// Per-stream state kept across frames.
pub(super) struct Stream {
    pub encoder: Option<Box<dyn Encoder>>,
    pub memory: StripeMemory,
    /// The next frame of this stream must be a key frame.
    pub force_key: bool,
    /// Rows were read without being hashed (a damaged block): hash the whole stripe next time.
    pub stale: bool,
    /// 4:2:0 JPEG: which blocks the viewer decoded together (see [`ChromaSeams`]).
    pub seams: Option<ChromaSeams>,
}

impl Stream {
    /// A fresh stream for `stripe`; `seams` gives the cell width of 4:2:0 JPEG bands (whose
    /// edges need [`ChromaSeams`]) of a region `width` pixels wide.
    pub fn new(stripe: Stripe, width: u32, seams: Option<u32>) -> Self {
        Self {
            encoder: None,
            memory: StripeMemory::default(),
            force_key: true,
            stale: true,
            seams: seams.map(|cell_width| ChromaSeams::new(stripe, width, cell_width)),
        }
    }
}

/// One stripe's encode this frame.
pub(super) struct Job<'a> {
    pub stripe: Stripe,
    pub send: Outgoing,
    /// Set by the encode: the area's decoded pixels join blocks (4:2:0 JPEG chroma), which the
    /// stream's seams record once it is delivered.
    pub joins_blocks: bool,
    pub stream: &'a mut Stream,
}

/// What became of one stripe's encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Handed {
    /// Delivered; this many bytes.
    Accepted(u64),
    /// The consumer refused it.
    Refused,
    /// The encoder buffered the input and produced nothing to send.
    Nothing,
}

/// What every job of a frame shares.
#[derive(Clone, Copy)]
pub(super) struct FrameOut<'a> {
    pub image: BgrxImage<'a>,
    pub factory: &'a EncoderFactory,
    pub kind: PayloadKind,
    pub header: HeaderFormat,
    pub frame_id: u32,
    pub capture_time_ns: u64,
    pub sink: &'a dyn Sink,
}

/// Encodes one job's area and hands it to the sink with its header.
pub(super) fn encode_and_deliver(
    job: &mut Job<'_>,
    out: FrameOut<'_>,
) -> Result<Handed, EncodeError> {
    let FrameOut {
        image,
        factory,
        kind,
        header,
        frame_id,
        capture_time_ns,
        sink,
    } = out;
    let (stripe, paint_over, changed) = (&job.stripe, job.send.paint_over, job.send.changed);
    let ((band_y, band_end), (x0, x1)) = job.send.area;
    let stream = &mut *job.stream;
    if stream.encoder.is_none() {
        stream.encoder = Some(factory(stripe, image.width)?);
        stream.force_key = true;
    }
    let encoder = stream.encoder.as_mut().expect("created above");
    let header_len = header.len(kind);
    let mut data = vec![0u8; header_len];
    // An H.264 paint-over is an IDR at the paint-over CRF, so a decoder converges at once.
    let request = EncodeRequest {
        force_key: stream.force_key || paint_over,
        paint_over,
        changed_rows: changed.map(|(a, b)| (a - band_y, b - band_y)),
        motion: job.send.motion,
    };
    let band_height = band_end - band_y;
    let area = image.rows(band_y, band_height).cols(x0, x1 - x0);
    let outcome = encoder.encode(area, request, &mut data)?;
    job.joins_blocks = outcome.joins_blocks;
    if !outcome.produced {
        return Ok(Handed::Nothing);
    }
    stream.force_key = false;
    let placement = Placement {
        frame_id,
        key: outcome.key,
        x: x0,
        y: band_y,
        width: area.width,
        height: band_height,
        region_width: image.width,
    };
    if let Some(h) = header.header(kind, &placement) {
        h.write(&mut data[..header_len]);
    }
    let bytes = data.len() as u64;
    let accepted = sink.deliver(Delivery {
        kind,
        data,
        stripe_y: band_y,
        stripe_height: band_height,
        x: x0,
        width: area.width,
        frame_id,
        key: outcome.key,
        paint_over: request.paint_over,
        capture_time_ns,
    });
    Ok(if accepted {
        Handed::Accepted(bytes)
    } else {
        Handed::Refused
    })
}
