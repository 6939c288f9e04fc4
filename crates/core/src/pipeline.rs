//! The capture thread: pacing, grab, overlays, change detection, parallel encode, delivery.
//!
//! One thread per capture owns the X connection. Each frame it grabs the region into shared
//! memory, draws overlays, hashes stripes, and fans the changed ones out to encode threads (`workers`), which
//! encode and hand each result straight to the [`Sink`]. The sink (the JavaScript side) reports
//! how many deliveries are still unconsumed; above `max_queued_stripes` whole frames are
//! skipped, so pending changes simply stay pending (JPEG stripes then carry their latest content,
//! H.264 streams never lose a delta) and memory stays bounded whatever the consumer does.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use thiserror::Error;

use crate::capture::x11::X11Capture;
use crate::capture::{CaptureError, CursorImage};
use crate::detect::{
    stripes, ChangeDetector, Decision, Policy, RowSpans, Stripe, StripeState, TILE_CELL_WIDTH,
};
use crate::encode::h264::x264::{X264Config, X264Encoder};
use crate::encode::hw::{
    self, open_h264_shared, HardwareChoice, HwRequest, SharedStreamInfo, StreamInfo,
};
use crate::encode::jpeg::{JpegConfig, JpegEncoder, WorkspacePool};
use crate::encode::{BgrxImage, EncodeError, EncodeRequest, Encoder, EncoderKind, StreamParams};
use crate::overlay::cursor::blend_cursor;
use crate::overlay::watermark::Watermark;
use crate::overlay::{widen_for_overlays, OverlayRows};
use crate::seams::{self, ChromaSeams};
use crate::settings::{Config, OutputMode, Region, Subsampling, WatermarkLocation};
use crate::wire;
use crate::workers;

/// How often the whole region is re-read and hashed even when XDamage reports nothing: a safety
/// net for drawing that XDamage does not see (e.g. some direct-rendered GL).
const FULL_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a change is reported on a still screen (XDamage, pointer motion) the capture
/// reads it.
const DAMAGE_SETTLE: Duration = Duration::from_millis(1);

/// Payload type, numbered as pixelflux numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Jpeg = 1,
    H264 = 2,
}

/// One encoded stripe (or full frame), ready for the consumer.
#[derive(Debug)]
pub struct Delivery {
    pub kind: PayloadKind,
    /// Wire header (unless omitted) followed by the encoded bytes.
    pub data: Vec<u8>,
    pub stripe_index: usize,
    /// The rows this delivery paints: the whole stripe, or for JPEG the band of the stripe
    /// whose rows changed (see `align_band`).
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

#[derive(Debug, Error)]
pub enum PipelineError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(
        "the screen changed size to {}x{} and the capture region {}x{}+{}+{} no longer fits; start() again (or set autoResize)",
        to.0, to.1, region.width, region.height, region.x, region.y
    )]
    ScreenChanged { region: Region, to: (u32, u32) },
    #[error("hardware H.264 encoder not in use, encoding with x264 instead: {0}")]
    Fallback(String),
    #[error(transparent)]
    Watermark(#[from] crate::overlay::watermark::WatermarkError),
    #[error("encoder failed on stripe at y={stripe_y}: {source}")]
    Encode { stripe_y: u32, source: EncodeError },
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

/// Cumulative counters since start. Cheap to read at any time.
#[derive(Debug, Default)]
pub struct Stats {
    pub frames_captured: AtomicU64,
    pub frames_with_changes: AtomicU64,
    pub stripes_delivered: AtomicU64,
    pub bytes_delivered: AtomicU64,
    /// Deliveries the consumer refused (their content is re-sent later).
    pub stripes_dropped: AtomicU64,
    /// Frames not encoded because too many deliveries were waiting for the consumer.
    pub frames_skipped: AtomicU64,
    pub encode_ns: AtomicU64,
    pub capture_ns: AtomicU64,
}

/// Shared between the capture thread and whoever controls it.
#[derive(Default)]
pub struct Controls {
    stop: AtomicBool,
    keyframe: AtomicBool,
    update: Mutex<Option<Update>>,
    info: InfoSlot,
    damage_gating: AtomicBool,
    wake: Mutex<()>,
    wake_cv: Condvar,
    /// An eventfd made readable by `stop()`, so that a capture waiting on the X connection
    /// wakes at once (`None` if the kernel refused one: the wait then polls in short slices).
    wake_fd: Option<OwnedFd>,
    pub stats: Stats,
}

/// New settings for a running capture, already validated and clamped.
pub struct Update {
    pub config: Config,
    pub region: Region,
    /// The watermark `config` asks for, loaded by the caller so that a bad file is reported
    /// before anything changes.
    pub watermark: Option<Watermark>,
}

/// Which capture path and encoder a running capture uses (`streamInfo()` in JavaScript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureStreamInfo {
    /// `xshm+xdamage` (reads only what was drawn) or `xshm` (reads everything every frame).
    pub capture: &'static str,
    /// The encoder; `None` until the first frame opened it.
    pub stream: Option<StreamInfo>,
}

impl Controls {
    /// What the capture reads with and encodes with right now.
    pub fn stream_info(&self) -> CaptureStreamInfo {
        let slot = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        CaptureStreamInfo {
            capture: if self.damage_gating.load(Ordering::Relaxed) {
                "xshm+xdamage"
            } else {
                "xshm"
            },
            stream: slot.map(|i| i.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }

    /// Hands new settings to the capture thread; they apply before its next frame.
    pub fn update(&self, update: Update) {
        *self.update.lock().unwrap_or_else(|e| e.into_inner()) = Some(update);
    }

    fn take_update(&self) -> Option<Update> {
        self.update.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    /// Asks for a key frame (H.264 IDR; a full refresh for JPEG) on every stripe.
    pub fn request_keyframe(&self) {
        self.keyframe.store(true, Ordering::SeqCst);
    }

    fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Sleeps until `deadline` or until stop is requested; returns false when stopping.
    fn sleep_until(&self, deadline: Instant) -> bool {
        let mut guard = self.wake.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if self.stopping() {
                return false;
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            guard = self
                .wake_cv
                .wait_timeout(guard, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

/// A running capture. Dropping it stops and joins the thread.
pub struct CaptureHandle {
    controls: Arc<Controls>,
    thread: Option<JoinHandle<()>>,
}

impl CaptureHandle {
    pub fn controls(&self) -> &Arc<Controls> {
        &self.controls
    }

    /// True until the thread has ended (after `stop()` or a fatal error).
    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Stops the capture and waits for its thread; safe to call repeatedly.
    pub fn stop(&mut self) {
        self.controls.stop.store(true, Ordering::SeqCst);
        {
            let _g = self.controls.wake.lock().unwrap_or_else(|e| e.into_inner());
            self.controls.wake_cv.notify_all();
        }
        if let Some(fd) = &self.controls.wake_fd {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer to an eventfd we own. A failure (the
            // counter is full: already signalled) needs no handling.
            unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for CaptureHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A non-blocking eventfd, or `None` if the kernel refuses one.
fn eventfd() -> Option<OwnedFd> {
    // SAFETY: plain syscall; a non-negative result is a new descriptor that we alone own.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    // SAFETY: see above.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Monotonic clock in nanoseconds, the same clock as Node's `process.hrtime`.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Makes the encoder for one stream (a stripe, or the whole region in full-frame mode).
pub type EncoderFactory =
    Box<dyn Fn(&Stripe, u32) -> Result<Box<dyn Encoder>, EncodeError> + Send + Sync>;

/// Per-stream state kept across frames.
struct Stream {
    encoder: Option<Box<dyn Encoder>>,
    state: StripeState,
    /// The next frame of this stream must be a key frame.
    force_key: bool,
    /// Rows were read without being hashed (a damaged block): hash the whole stripe next time.
    stale: bool,
    /// Rows and columns sent at normal quality since the last paint-over (what a JPEG
    /// paint-over covers).
    unpainted: Option<((u32, u32), (u32, u32))>,
    /// 4:2:0 JPEG: which blocks the viewer decoded together (see [`ChromaSeams`]).
    seams: Option<ChromaSeams>,
}

struct Job<'a> {
    stripe: Stripe,
    /// The rows to send: the whole stripe, or for JPEG the band of it that changed.
    band: (u32, u32),
    /// The columns to send: the whole width, or with JPEG tiles the cells that changed.
    cols: (u32, u32),
    /// Rows and columns whose current hashes become what the consumer has once this job is
    /// delivered: the band when it was hashed this frame, or the whole stripe at the end of a
    /// damaged block (see `frame`).
    syncs: Option<((u32, u32), (u32, u32))>,
    /// The rows that changed (within `band`), when known: an H.264 encoder converts only these.
    changed: Option<(u32, u32)>,
    paint_over: bool,
    /// 4:2:0 JPEG: the area is recorded in the stream's seams once delivered, decoded with
    /// its chroma subsampled (true) or not (an `auto` paint-over in 4:4:4).
    seams_subsampled: bool,
    stream: &'a mut Stream,
}

/// `band` widened to multiples of `align` rows from the top of `stripe` (and clipped to it).
///
/// JPEG bands are aligned to the JPEG's MCU height (16 rows for 4:2:0, 8 for 4:4:4): every
/// encode of a stripe then uses the same block grid, so a band replaces whole blocks and no
/// ringing of the content it replaces survives beside it. (Aligning to 2 rows would save ~20%
/// of the bytes of typing, but leaves faint ghosts of a moved caret or cursor.)
fn align_band((start, end): (u32, u32), stripe: &Stripe, align: u32) -> (u32, u32) {
    let top = stripe.y + (start - stripe.y) / align * align;
    let bottom =
        (stripe.y + (end - stripe.y).div_ceil(align) * align).min(stripe.y + stripe.height);
    (top, bottom)
}

impl Stream {
    /// Hashes the whole stripe (`whole`) if rows of it were read without being hashed;
    /// returns whether it did.
    fn rehash_if_stale(
        &mut self,
        detector: &mut ChangeDetector,
        frame: &[u8],
        whole: (u32, u32),
    ) -> bool {
        let stale = std::mem::take(&mut self.stale);
        if stale {
            detector.hash_rows(frame, whole);
        }
        stale
    }
}

/// A fresh stream per stripe of `layout`; `seams` gives the cell width of 4:2:0 JPEG bands
/// (whose edges need [`ChromaSeams`]) for a region `width` pixels wide.
fn new_streams(layout: &[Stripe], width: u32, seams: Option<u32>) -> Vec<Stream> {
    layout
        .iter()
        .map(|stripe| Stream {
            encoder: None,
            state: StripeState::default(),
            force_key: true,
            stale: true,
            unpainted: None,
            seams: seams.map(|cell_width| ChromaSeams::new(*stripe, width, cell_width)),
        })
        .collect()
}

/// Loads the watermark `config` asks for (none when no path is set or the location is 0).
pub fn load_watermark(config: &Config) -> Result<Option<Watermark>, PipelineError> {
    match (&config.watermark_path, config.watermark_location) {
        (Some(path), location) if location != WatermarkLocation::None => {
            Ok(Some(Watermark::load(std::path::Path::new(path))?))
        }
        _ => Ok(None),
    }
}

/// Where the encoder of the current plan reports what it really is (for `streamInfo()`): set
/// when the plan is made for JPEG and striped x264, and by the factory for full-frame H.264,
/// whose hardware encoder is only known once opened.
pub type InfoSlot = Arc<Mutex<Option<SharedStreamInfo>>>;

/// How a config cuts a region into streams and encodes them.
struct Plan {
    layout: Vec<Stripe>,
    factory: EncoderFactory,
    kind: PayloadKind,
    /// One H.264 stream for the whole region.
    full_frame: bool,
    /// The encoder expected: `jpeg`, `x264`, `nvenc` or `vaapi` (the stream may still fall
    /// back to x264; `streamInfo()` says what it is).
    encoder: EncoderKind,
    /// Adjustments to the request (e.g. hardware encoding forcing full-frame).
    notes: Vec<String>,
}

fn static_info(encoder: EncoderKind) -> SharedStreamInfo {
    Arc::new(Mutex::new(StreamInfo::software(encoder, Vec::new())))
}

/// The stripes `config` cuts `region` into, the encoder it expects to use, and notes on any
/// adjustment of the request.
pub fn describe(config: &Config, region: Region) -> (Vec<Stripe>, EncoderKind, Vec<String>) {
    let p = plan(config, region, &InfoSlot::default());
    (p.layout, p.encoder, p.notes)
}

fn plan(config: &Config, region: Region, slot: &InfoSlot) -> Plan {
    let set_slot =
        |info: SharedStreamInfo| *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
    // JPEG and striped H.264 cut the region the same way; full-frame H.264 is one stripe.
    let striped = || {
        stripes(
            region.height,
            config.stripe_height.for_height(region.height),
        )
    };
    match config.output_mode {
        OutputMode::Jpeg => {
            let jpeg = JpegConfig {
                quality: config.jpeg_quality,
                paint_over_quality: config.paint_over_jpeg_quality,
                subsampling: config.jpeg_subsampling,
            };
            set_slot(static_info(EncoderKind::Jpeg));
            let pool = Arc::new(WorkspacePool::default());
            Plan {
                layout: striped(),
                factory: Box::new(move |_, _| {
                    Ok(Box::new(JpegEncoder::with_pool(jpeg, pool.clone())) as Box<dyn Encoder>)
                }),
                kind: PayloadKind::Jpeg,
                full_frame: false,
                encoder: EncoderKind::Jpeg,
                notes: Vec::new(),
            }
        }
        OutputMode::H264 => {
            let fps = config.target_fps;
            // The size is each stream's own (set by the factories).
            let params = StreamParams {
                width: 0,
                height: 0,
                crf: config.h264_crf,
                paint_over_crf: config.h264_paint_over_crf,
                rate_control: config.h264_rate_control,
                fullcolor: config.h264_fullcolor,
                fps,
                keyframe_interval_frames: (config.keyframe_interval_s * fps).round() as u32,
            };
            let (vaapi_node, use_cpu) = (config.vaapi_render_node_index, config.use_cpu);
            let choice = hw::choose(vaapi_node, use_cpu);
            let mut notes = Vec::new();
            if config.jpeg_tiles {
                notes.push("jpegTiles ignored: H.264 encodes whole stripes".into());
            }
            let hardware = !matches!(choice, HardwareChoice::Software { .. });
            // Hardware encoders encode whole frames (GPUs allow few sessions): striped output
            // is only possible in software.
            let full_frame = config.h264_fullframe || hardware;
            if hardware && !config.h264_fullframe {
                notes.push(
                    "h264Fullframe false ignored: hardware H.264 encoding is full-frame".into(),
                );
            }
            if full_frame {
                // One stream for the region: the hardware encoder when there is one, else x264
                // with threads sized to the machine.
                let slot = slot.clone();
                let factory: EncoderFactory = Box::new(move |stripe: &Stripe, width: u32| {
                    let (enc, info) = open_h264_shared(&HwRequest {
                        params: StreamParams {
                            width,
                            height: stripe.height,
                            ..params
                        },
                        vaapi_node,
                        use_cpu,
                    })?;
                    *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
                    Ok(enc)
                });
                let encoder = choice.encoder();
                let layout = vec![Stripe {
                    index: 0,
                    y: 0,
                    height: region.height,
                }];
                Plan {
                    layout,
                    factory,
                    kind: PayloadKind::H264,
                    full_frame,
                    encoder,
                    notes,
                }
            } else {
                // One single-threaded x264 stream per stripe; parallelism comes from encoding
                // several stripes at once.
                set_slot(static_info(EncoderKind::X264));
                let factory: EncoderFactory = Box::new(move |stripe: &Stripe, width: u32| {
                    let enc = X264Encoder::new(X264Config {
                        params: StreamParams {
                            width,
                            height: stripe.height,
                            ..params
                        },
                        threads: 1,
                    })?;
                    Ok(Box::new(enc) as Box<dyn Encoder>)
                });
                Plan {
                    layout: striped(),
                    factory,
                    kind: PayloadKind::H264,
                    full_frame,
                    encoder: EncoderKind::X264,
                    notes,
                }
            }
        }
    }
}

/// Everything the capture loop needs; built on the caller's thread so that every error that can
/// be known before starting is raised there.
pub struct Pipeline {
    config: Config,
    watermark: Option<Watermark>,
    capture: X11Capture,
    layout: Vec<Stripe>,
    factory: EncoderFactory,
    kind: PayloadKind,
    full_frame: bool,
    /// The encoder the plan expects (`nvenc`/`vaapi` when hardware was chosen).
    planned_encoder: EncoderKind,
    info: InfoSlot,
}

impl Pipeline {
    /// Prepares a capture of `region` (already clamped to the screen) with `config`.
    pub fn new(
        config: Config,
        mut capture: X11Capture,
        region: Region,
    ) -> Result<Self, PipelineError> {
        capture.set_region(region)?;
        // Without XDamage every frame is read in full; with it only what was drawn.
        capture.enable_damage();
        if config.capture_cursor {
            // A moving cursor wakes a capture that waits for the screen to change.
            capture.enable_pointer_events();
        }
        let info = InfoSlot::default();
        let Plan {
            layout,
            factory,
            kind,
            full_frame,
            encoder: planned_encoder,
            ..
        } = plan(&config, region, &info);
        let watermark = load_watermark(&config)?;
        Ok(Self {
            config,
            watermark,
            capture,
            layout,
            factory,
            kind,
            full_frame,
            planned_encoder,
            info,
        })
    }

    /// What to do when the screen became `to`: the update that re-fits the region, or the error
    /// that ends the capture.
    fn refit(&self, region: Region, to: (u32, u32)) -> Result<Update, PipelineError> {
        let fits = region.x + region.width <= to.0 && region.y + region.height <= to.1;
        let new_region = if self.config.auto_resize {
            let h264 = self.kind == PayloadKind::H264;
            self.config
                .region
                .clamp(to.0, to.1, h264)
                .ok()
                .map(|c| c.region)
        } else {
            fits.then_some(region)
        };
        match new_region {
            Some(region) => Ok(Update {
                config: self.config.clone(),
                region,
                watermark: self.watermark.clone(),
            }),
            None => Err(PipelineError::ScreenChanged { region, to }),
        }
    }

    fn policy(&self) -> Policy {
        Policy {
            paint_over_after: self
                .config
                .use_paint_over_quality
                .then_some(self.config.paint_over_trigger_frames),
            // Throttling the only stream of a full-frame encode would throttle the whole screen
            // for one animated corner, so damage applies to striped output only.
            damage: (!self.is_full_frame_h264()).then_some((
                self.config.damage_block_threshold,
                self.config.damage_block_duration,
            )),
        }
    }

    /// Whether `new` cuts the region into different streams than the current config.
    fn layout_differs(&self, new: &Config) -> bool {
        let c = &self.config;
        (
            c.output_mode,
            c.stripe_height,
            c.h264_fullframe,
            c.h264_fullcolor,
            c.jpeg_tiles,
        ) != (
            new.output_mode,
            new.stripe_height,
            new.h264_fullframe,
            new.h264_fullcolor,
            new.jpeg_tiles,
        )
    }

    /// Whether `new` needs different encoders (same layout).
    fn encoding_differs(&self, new: &Config) -> bool {
        let c = &self.config;
        (
            c.jpeg_quality,
            c.paint_over_jpeg_quality,
            c.jpeg_subsampling,
        ) != (
            new.jpeg_quality,
            new.paint_over_jpeg_quality,
            new.jpeg_subsampling,
        ) || (c.h264_crf, c.h264_paint_over_crf, c.h264_rate_control)
            != (new.h264_crf, new.h264_paint_over_crf, new.h264_rate_control)
            || c.keyframe_interval_s != new.keyframe_interval_s
            || (c.output_mode == OutputMode::H264 && c.target_fps != new.target_fps)
    }

    /// JPEG sends only the changed rows of a stripe, in bands aligned to its MCU height (see
    /// [`align_band`]); an H.264 stream always encodes its whole stripe.
    fn band_align(&self) -> Option<u32> {
        match (self.kind, self.config.jpeg_subsampling) {
            (PayloadKind::H264, _) => None,
            (PayloadKind::Jpeg, Subsampling::S444) => Some(8),
            // 4:2:0, and `auto`, whose changes are 4:2:0 (its 4:4:4 paint-overs are whole stripes).
            (PayloadKind::Jpeg, _) => Some(16),
        }
    }

    /// `jpegTiles` applies (JPEG only).
    fn tiles(&self) -> bool {
        self.kind == PayloadKind::Jpeg && self.config.jpeg_tiles
    }

    fn is_full_frame_h264(&self) -> bool {
        self.kind == PayloadKind::H264 && self.full_frame
    }

    /// Starts the capture thread.
    pub fn start(self, sink: Arc<dyn Sink>) -> std::io::Result<CaptureHandle> {
        let controls = Arc::new(Controls {
            wake_fd: eventfd(),
            info: self.info.clone(),
            damage_gating: AtomicBool::new(self.capture.has_damage()),
            ..Controls::default()
        });
        let c = controls.clone();
        let thread = std::thread::Builder::new()
            .name("stripecast-capture".into())
            .spawn(move || {
                self.run(&c, sink.as_ref());
                sink.finished();
            })?;
        Ok(CaptureHandle {
            controls,
            thread: Some(thread),
        })
    }

    fn run(mut self, controls: &Controls, sink: &dyn Sink) {
        let mut session = Session::new(&self);
        let mut deadline = Instant::now();
        let mut woke_early = false;
        while controls.sleep_until(deadline) {
            // Pace from the previous deadline; when late by more than a frame, re-anchor on now
            // instead of bursting to catch up.
            deadline += session.interval;
            let now = Instant::now();
            if now > deadline {
                deadline = now;
            }
            let nothing_changed = match self.frame(&mut session, controls, sink) {
                Ok(idle) => idle,
                Err(e) => {
                    sink.error(e);
                    return;
                }
            };
            // After a frame in which nothing had changed, what is drawn next is captured when
            // XDamage reports it (and a cursor that moves, when the cursor is captured, when
            // XInput reports the motion) rather than at the next tick: up to an interval sooner,
            // and a source animating at the target rate is caught on every one of its frames
            // instead of beating against the ticks. Deliveries stay at least an interval apart:
            // this frame delivered no change, and the next tick is counted from the early one.
            // Not twice in a row: an early frame that finds nothing changed (a redraw of the
            // same pixels) leaves the rest to the next tick instead of chasing every redraw.
            let changed = if nothing_changed && !woke_early {
                self.capture.wait_for_change(
                    deadline,
                    session.capture_cursor,
                    controls.wake_fd.as_ref().map(|fd| fd.as_fd()),
                    || controls.stopping(),
                )
            } else {
                Ok(false)
            };
            woke_early = matches!(changed, Ok(true));
            match changed {
                // A moment's grace lets a paint made of several requests finish.
                Ok(true) => deadline = deadline.min(Instant::now() + DAMAGE_SETTLE),
                Ok(false) => {}
                Err(e) => {
                    sink.error(e.into());
                    return;
                }
            }
        }
    }

    /// Applies new settings between frames: what only tunes the encoders keeps the streams;
    /// a new layout (region, stripe height, codec, colour format) starts them afresh.
    fn apply_update(&mut self, update: Update, s: &mut Session) -> Result<(), PipelineError> {
        let relayout = update.region != s.region || self.layout_differs(&update.config);
        let reencode = self.encoding_differs(&update.config);
        if update.region != s.region {
            self.capture.set_region(update.region)?;
        }
        self.watermark = update.watermark;
        self.config = update.config;
        s.interval = Duration::from_secs_f64(1.0 / self.config.target_fps);
        s.policy = self.policy();
        s.capture_cursor = self.config.capture_cursor && self.capture.has_cursor_support();
        if s.capture_cursor {
            self.capture.enable_pointer_events();
        }
        if relayout {
            let p = plan(&self.config, update.region, &self.info);
            (self.layout, self.factory, self.kind, self.full_frame) =
                (p.layout, p.factory, p.kind, p.full_frame);
            self.planned_encoder = p.encoder;
            *s = Session {
                frame_id: s.frame_id,
                started: s.started,
                ..Session::new(self)
            };
        } else if reencode {
            // New quality settings: fresh encoders (an H.264 stream restarts with an IDR at its
            // next change); what was sent stays valid.
            self.factory = plan(&self.config, s.region, &self.info).factory;
            s.streams.iter_mut().for_each(|st| st.encoder = None);
        }
        Ok(())
    }

    /// The rows that may have changed: everything on a full check (first frame, key frame
    /// request, once a second as a safety net, or without XDamage), else what XDamage reported,
    /// plus stripes whose last delivery failed. `None` when the screen changed size (the
    /// re-fit is queued for the next frame).
    fn rows_to_read(
        &mut self,
        s: &mut Session,
        controls: &Controls,
    ) -> Result<Option<RowSpans>, PipelineError> {
        if s.last_full_check.elapsed() >= FULL_CHECK_INTERVAL {
            s.full_check_due = true;
        }
        let mut rows = match (s.full_check_due, self.capture.take_damage()?) {
            (false, Some(damaged)) => damaged,
            _ => {
                s.last_full_check = Instant::now();
                s.full_check_due = false;
                RowSpans::everything(s.region.height)
            }
        };
        if let Some(to) = self.capture.take_resize() {
            controls.update(self.refit(s.region, to)?);
            return Ok(None);
        }
        for &(a, b) in std::mem::take(&mut s.retry).spans() {
            rows.add(a.into(), b.into(), s.region.height);
        }
        Ok(Some(rows))
    }

    /// One frame: settings, back-pressure, what to read, read, overlays, what changed, encode,
    /// deliver. Returns true when nothing had changed since the previous frame (nothing drawn,
    /// or XDamage over-reported and the hashes found the same pixels). An error ends the capture.
    fn frame(
        &mut self,
        s: &mut Session,
        controls: &Controls,
        sink: &dyn Sink,
    ) -> Result<bool, PipelineError> {
        if let Some(update) = controls.take_update() {
            self.apply_update(update, s)?;
        }
        let stats = &controls.stats;
        if sink.in_flight() >= self.config.max_queued_stripes as usize {
            // Skipped before anything is read: pending damage stays pending.
            stats.frames_skipped.fetch_add(1, Ordering::Relaxed);
            return Ok(false);
        }
        let t0 = Instant::now();
        let capture_time_ns = monotonic_ns();
        if controls.keyframe.swap(false, Ordering::SeqCst) {
            s.detector.invalidate_all();
            s.streams.iter_mut().for_each(|st| st.force_key = true);
            s.full_check_due = true;
        }
        let Some(mut rows) = self.rows_to_read(s, controls)? else {
            return Ok(false);
        };
        let cursor = if s.capture_cursor {
            self.capture.cursor()?
        } else {
            None
        };
        let watermark_at = self.watermark.as_ref().and_then(|w| {
            let r = s.region;
            w.position(
                self.config.watermark_location,
                r.width,
                r.height,
                s.started.elapsed(),
            )
        });
        let draw_overlays = s.overlays.widen(
            &mut rows,
            s.region,
            cursor.as_ref(),
            self.watermark.as_ref(),
            watermark_at,
        );

        let (region, stride) = (s.region, s.stride);
        let band_align = self.band_align();
        let tiles = self.tiles();
        if !rows.is_empty() {
            if let Err(e) = self.capture.grab_rows(&rows) {
                // A read fails when the screen shrank under the region: tell that apart from a
                // lost connection; the next frame re-fits the region.
                if self.capture.query_screen_size().is_ok() && self.capture.resize_pending() {
                    return Ok(false);
                }
                return Err(e.into());
            }
        }
        let frame = self.capture.pixels();
        if draw_overlays {
            if let Some(c) = &cursor {
                blend_cursor(frame, stride, region, c);
            }
            if let (Some(w), Some((x, y))) = (&self.watermark, watermark_at) {
                w.blend(frame, stride, region.width, region.height, x, y);
            }
        }
        s.frame_id = s.frame_id.wrapping_add(1);
        stats.frames_captured.fetch_add(1, Ordering::Relaxed);
        stats
            .capture_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Ordering::Relaxed);

        let mut jobs = Vec::new();
        let mut nothing_changed = true;
        let full_width = (0, region.width);
        for (stripe, stream) in self.layout.iter().zip(s.streams.iter_mut()) {
            let whole = (stripe.y, stripe.y + stripe.height);
            let drawn = rows.extent_within(stripe);
            // Hash what was drawn, except in a damaged block, where being drawn is taken as
            // changed (see StripeState) and the drawn rows are the band. Tiles need the hashes
            // to find the changed columns, so with tiles damaged stripes are hashed too (only
            // their drawn rows).
            let in_block = !stream.state.wants_hash() && !tiles;
            let (changed, hashed) = match drawn {
                Some(drawn) if in_block => {
                    stream.stale = true;
                    (Some(drawn), false)
                }
                Some(_) => {
                    if !stream.rehash_if_stale(&mut s.detector, frame, whole) {
                        for span in rows.within(stripe) {
                            s.detector.hash_rows(frame, span);
                        }
                    }
                    (s.detector.changed_rows(stripe), true)
                }
                None => (None, false),
            };
            // With tiles every changed stripe was hashed, so its cells are known.
            let cols = match changed {
                Some(rows) if tiles => s.detector.changed_cols(rows),
                _ => full_width,
            };
            nothing_changed &= changed.is_none();
            // The frame before a damaged block's last one: every drawing in the block has been
            // sent, so after this frame the consumer has the stripe as it is now. Hash it whole
            // and take that as sent, so that the block's last frame asks "changed since the
            // previous frame?" and not "changed since before the block?" (which, for content
            // that came back to what it was, would leave the consumer with a stale picture).
            let block_sync = in_block && stream.state.block_ends_next_frame();
            if block_sync {
                stream.rehash_if_stale(&mut s.detector, frame, whole);
            }
            let decision = stream.state.step(changed.is_some(), &s.policy);
            let (paint_over, area) = match (decision, changed, band_align) {
                (Decision::Idle, _, _) => {
                    if block_sync {
                        s.detector.mark_sent(whole, full_width);
                    }
                    continue;
                }
                (Decision::Send, Some(rows), Some(align)) => {
                    (false, (align_band(rows, stripe, align), cols))
                }
                (Decision::Send, _, _) => (false, (whole, full_width)),
                // A JPEG paint-over covers what was sent at normal quality since the last one
                // (a blinking caret repaints its band, not its stripe); an H.264 paint-over is
                // an IDR of the whole stream.
                (Decision::PaintOver, _, Some(_)) => {
                    (true, stream.unpainted.take().unwrap_or((whole, full_width)))
                }
                (Decision::PaintOver, _, None) => (true, (whole, full_width)),
            };
            // A band that ends where the viewer's decoded chroma depends on what changed
            // inside it takes in the block beyond (see `ChromaSeams`).
            let area = match &stream.seams {
                Some(seams) if area != (whole, full_width) => seams.widen(frame, stride, area),
                _ => area,
            };
            if !paint_over {
                let union = |a: (u32, u32), b: (u32, u32)| (a.0.min(b.0), a.1.max(b.1));
                stream.unpainted = Some(match stream.unpainted {
                    Some((rows, cols)) => (union(rows, area.0), union(cols, area.1)),
                    None => area,
                });
            }
            jobs.push(Job {
                stripe: *stripe,
                band: area.0,
                cols: area.1,
                syncs: if block_sync {
                    Some((whole, full_width))
                } else {
                    hashed.then_some(area)
                },
                changed: changed.filter(|_| !paint_over),
                paint_over,
                seams_subsampled: !(paint_over
                    && self.config.jpeg_subsampling == Subsampling::Auto),
                stream,
            });
        }
        if jobs.is_empty() {
            return Ok(nothing_changed);
        }
        stats.frames_with_changes.fetch_add(1, Ordering::Relaxed);

        let t1 = Instant::now();
        let image = BgrxImage {
            data: frame,
            stride,
            width: region.width,
            height: region.height,
        };
        let header = match (self.config.omit_stripe_headers, tiles) {
            (true, _) => WireHeader::Omitted,
            (false, true) => WireHeader::Tile,
            (false, false) => WireHeader::Stripe,
        };
        let out = FrameOut {
            image,
            factory: &self.factory,
            kind: self.kind,
            header,
            frame_id: s.frame_id,
            capture_time_ns,
            sink,
        };
        let results: Vec<(Job<'_>, Result<Handed, EncodeError>)> =
            workers::run(jobs, workers::parallelism(), |mut job| {
                let r = encode_and_deliver(&mut job, out);
                (job, r)
            });
        stats
            .encode_ns
            .fetch_add(t1.elapsed().as_nanos() as u64, Ordering::Relaxed);

        for (job, r) in results {
            let stripe = job.stripe;
            match r {
                Ok(handed) => {
                    if let Handed::Accepted(bytes) = handed {
                        stats.stripes_delivered.fetch_add(1, Ordering::Relaxed);
                        stats.bytes_delivered.fetch_add(bytes, Ordering::Relaxed);
                    }
                    if handed != Handed::Refused {
                        if let Some((rows, cols)) = job.syncs {
                            s.detector.mark_sent(rows, cols);
                        }
                        if let Some(seams) = &mut job.stream.seams {
                            let area = (job.band, job.cols);
                            seams.record(frame, stride, area, job.seams_subsampled);
                        }
                        continue;
                    }
                    stats.stripes_dropped.fetch_add(1, Ordering::Relaxed);
                }
                Err(source) => {
                    job.stream.encoder = None;
                    sink.error(PipelineError::Encode {
                        stripe_y: stripe.y,
                        source,
                    });
                }
            }
            // Refused or failed: the content goes out again next frame, and an H.264 stream
            // that lost a frame restarts with an IDR.
            job.stream.force_key = true;
            s.retry.add(
                stripe.y.into(),
                (stripe.y + stripe.height).into(),
                region.height,
            );
        }
        self.report_fallback(s, sink);
        Ok(nothing_changed)
    }

    /// Tells the consumer, once per reason, when hardware encoding was chosen but x264 is what
    /// runs (the hardware encoder did not open, or failed mid-stream).
    fn report_fallback(&self, s: &mut Session, sink: &dyn Sink) {
        if !self.planned_encoder.is_hardware() {
            return;
        }
        let slot = self.info.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(info) = slot else { return };
        let info = info.lock().unwrap_or_else(|e| e.into_inner());
        if info.encoder == EncoderKind::X264 && info.declined.len() > s.fallbacks_reported {
            sink.error(PipelineError::Fallback(
                info.declined[s.fallbacks_reported..].join("; "),
            ));
            s.fallbacks_reported = info.declined.len();
        }
    }
}

/// The capture loop's state that belongs to one layout of the region.
struct Session {
    interval: Duration,
    region: Region,
    stride: usize,
    detector: ChangeDetector,
    streams: Vec<Stream>,
    policy: Policy,
    capture_cursor: bool,
    frame_id: u32,
    started: Instant,
    full_check_due: bool,
    last_full_check: Instant,
    /// Rows whose delivery failed: read and hashed again next frame.
    retry: RowSpans,
    overlays: OverlayMemory,
    /// Hardware fallback reasons already reported.
    fallbacks_reported: usize,
}

impl Session {
    fn new(p: &Pipeline) -> Self {
        let region = p.capture.region();
        let cell_width = if p.tiles() {
            TILE_CELL_WIDTH
        } else {
            region.width
        };
        let seams = (p.band_align() == Some(seams::BLOCK_HEIGHT)).then_some(cell_width);
        Self {
            interval: Duration::from_secs_f64(1.0 / p.config.target_fps),
            region,
            stride: p.capture.stride(),
            detector: ChangeDetector::with_cells(
                region.width,
                region.height,
                p.capture.stride(),
                cell_width,
            ),
            streams: new_streams(&p.layout, region.width, seams),
            policy: p.policy(),
            capture_cursor: p.config.capture_cursor && p.capture.has_cursor_support(),
            frame_id: 0,
            started: Instant::now(),
            full_check_due: true,
            last_full_check: Instant::now(),
            retry: RowSpans::default(),
            overlays: OverlayMemory::default(),
            fallbacks_reported: 0,
        }
    }
}

/// Where the overlays were drawn last frame.
#[derive(Default)]
struct OverlayMemory {
    /// Position, size and shape serial of the cursor.
    cursor_key: Option<(i32, i32, u32, u32, u32)>,
    cursor_rows: Option<(i64, i64)>,
    watermark_at: Option<(i32, i32)>,
    watermark_rows: Option<(i64, i64)>,
}

impl OverlayMemory {
    /// Widens `rows` for this frame's overlays (see [`widen_for_overlays`]), remembers where
    /// they are, and returns whether they must be drawn.
    fn widen(
        &mut self,
        rows: &mut RowSpans,
        region: Region,
        cursor: Option<&CursorImage>,
        watermark: Option<&Watermark>,
        watermark_at: Option<(i32, i32)>,
    ) -> bool {
        let cursor_rows = cursor.map(|c| {
            let top = i64::from(c.y) - i64::from(region.y);
            (top, top + i64::from(c.height))
        });
        // A cursor changes when it moves (even sideways) or changes shape (serial).
        let cursor_key = cursor.map(|c| (c.x, c.y, c.width, c.height, c.serial));
        let watermark_rows = watermark_at
            .zip(watermark)
            .map(|((_, y), w)| (i64::from(y), i64::from(y) + i64::from(w.height())));
        let draw = widen_for_overlays(
            rows,
            &[
                OverlayRows {
                    previous: self.cursor_rows,
                    current: cursor_rows,
                    changed: cursor_key != self.cursor_key,
                },
                OverlayRows {
                    previous: self.watermark_rows,
                    current: watermark_rows,
                    changed: watermark_at != self.watermark_at,
                },
            ],
            region.height,
        );
        *self = Self {
            cursor_key,
            cursor_rows,
            watermark_at,
            watermark_rows,
        };
        draw
    }
}

/// Which wire header a delivery starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WireHeader {
    /// `omitStripeHeaders`: the bare payload.
    Omitted,
    /// pixelflux's stripe headers.
    Stripe,
    /// The 10-byte JPEG tile header, with an x offset and the region's width (`jpegTiles`).
    Tile,
}

/// What became of one stripe's encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handed {
    /// Delivered; this many bytes.
    Accepted(u64),
    /// The consumer refused it.
    Refused,
    /// The encoder buffered the input and produced nothing to send.
    Nothing,
}

/// What every job of a frame shares.
#[derive(Clone, Copy)]
struct FrameOut<'a> {
    image: BgrxImage<'a>,
    factory: &'a EncoderFactory,
    kind: PayloadKind,
    header: WireHeader,
    frame_id: u32,
    capture_time_ns: u64,
    sink: &'a dyn Sink,
}

fn encode_and_deliver(job: &mut Job<'_>, out: FrameOut<'_>) -> Result<Handed, EncodeError> {
    let FrameOut {
        image,
        factory,
        kind,
        header,
        frame_id,
        capture_time_ns,
        sink,
    } = out;
    let (stripe, paint_over, changed) = (&job.stripe, job.paint_over, job.changed);
    let ((band_y, band_end), (x0, x1)) = (job.band, job.cols);
    let stream = &mut *job.stream;
    if stream.encoder.is_none() {
        stream.encoder = Some(factory(stripe, image.width)?);
        stream.force_key = true;
    }
    let encoder = stream.encoder.as_mut().expect("created above");
    let header_len = match (header, kind) {
        (WireHeader::Omitted, _) => 0,
        (WireHeader::Stripe, PayloadKind::Jpeg) => wire::JPEG_HEADER_LEN,
        (WireHeader::Tile, PayloadKind::Jpeg) => wire::JPEG_TILE_HEADER_LEN,
        (_, PayloadKind::H264) => wire::H264_HEADER_LEN,
    };
    let mut data = vec![0u8; header_len];
    // An H.264 paint-over is an IDR at the paint-over CRF, so a decoder converges at once.
    let request = EncodeRequest {
        force_key: stream.force_key || paint_over,
        paint_over,
        changed_rows: changed.map(|(a, b)| (a - band_y, b - band_y)),
    };
    let band_height = band_end - band_y;
    let area = image.rows(band_y, band_height).cols(x0, x1 - x0);
    let outcome = encoder.encode(area, request, &mut data)?;
    if !outcome.produced {
        return Ok(Handed::Nothing);
    }
    stream.force_key = false;
    match (header, kind) {
        (WireHeader::Omitted, _) => {}
        (WireHeader::Stripe, PayloadKind::Jpeg) => {
            data[..header_len].copy_from_slice(&wire::jpeg_header(frame_id, band_y))
        }
        (WireHeader::Tile, PayloadKind::Jpeg) => data[..header_len]
            .copy_from_slice(&wire::jpeg_tile_header(frame_id, band_y, x0, image.width)),
        (_, PayloadKind::H264) => data[..header_len].copy_from_slice(&wire::h264_header(
            outcome.key,
            frame_id,
            band_y,
            area.width,
            band_height,
        )),
    }
    let bytes = data.len() as u64;
    let accepted = sink.deliver(Delivery {
        kind,
        data,
        stripe_index: stripe.index,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bands_widen_to_whole_mcus_of_their_stripe() {
        let stripe = Stripe {
            index: 3,
            y: 192,
            height: 64,
        };
        // Rows 200..209 (a glyph): the first 4:2:0 MCU row of the stripe.
        assert_eq!(align_band((200, 210), &stripe, 16), (192, 224));
        assert_eq!(align_band((200, 210), &stripe, 8), (200, 216));
        // Already aligned: unchanged.
        assert_eq!(align_band((208, 224), &stripe, 16), (208, 224));
        // Never past the stripe, also when the stripe is not a multiple of the MCU.
        assert_eq!(align_band((250, 256), &stripe, 16), (240, 256));
        let short = Stripe {
            index: 11,
            y: 704,
            height: 16,
        };
        assert_eq!(align_band((705, 707), &short, 16), (704, 720));
        let odd = Stripe {
            index: 0,
            y: 0,
            height: 24,
        };
        assert_eq!(align_band((17, 20), &odd, 16), (16, 24));
    }
}
