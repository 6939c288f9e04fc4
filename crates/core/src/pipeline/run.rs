//! The capture loop: pacing, waking on change, and one frame at a time: settings, back-pressure,
//! what to read, read, overlays, what changed, encode, deliver, and what became of each
//! delivery. The decisions are asked of `decide.rs`; this file gathers the facts and acts.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::control::Stats;
use super::control::{
    keep_mmap_threshold, monotonic_ns, release_free_memory, CaptureHandle, Controls, InfoSlot,
    Update,
};
use super::decide::{
    band_align, block_sync_due, decide, hashes_drawn_rows, policy, rebuild, refit, rows_to_read,
    Action, Area, Observation, Policy, Rebuild, Rules,
};
use super::deliver::{encode_and_deliver, Delivery, FrameOut, Handed, Job, Sink, Stream};
use super::plan::{encoders, hardware_choice, plan, EncoderFactory, Plan};
use super::{load_watermark, PipelineError};
use crate::capture::{CursorImage, Source};
use crate::detect::{ChangeDetector, TILE_CELL_WIDTH};
use crate::encode::hw::HardwareChoice;
use crate::encode::{BgrxImage, EncodeError, EncoderKind};
use crate::geometry::{Bounds, Region, RowSpans, Stripe};
use crate::overlay::cursor::blend_cursor;
use crate::overlay::watermark::Watermark;
use crate::overlay::{widen_for_overlays, OverlayRows};
use crate::scroll::{self, Rect, RectRows};
use crate::seams;
use crate::settings::Config;
use crate::wire::{HeaderFormat, PayloadKind};
use crate::workers;

/// How often the whole region is re-read and hashed even when the source reports nothing
/// drawn: a safety net for drawing that XDamage does not see (e.g. some direct-rendered GL).
const FULL_CHECK_INTERVAL: Duration = Duration::from_secs(1);
/// How long after a change is reported on a still screen (XDamage, pointer motion) the capture
/// reads it: a moment's grace lets a paint made of several requests finish.
const DAMAGE_SETTLE: Duration = Duration::from_millis(1);

/// Everything the capture loop needs; built on the caller's thread so that every error that can
/// be known before starting is raised there.
pub struct Pipeline {
    config: Config,
    watermark: Option<Watermark>,
    source: Box<dyn Source>,
    choice: HardwareChoice,
    plan: Plan,
    factory: EncoderFactory,
    info: InfoSlot,
    /// The state of the current layout; made by the first frame.
    session: Option<Session>,
    /// With `monitor`: the captured monitor's rectangle when last looked at (once a second),
    /// to notice it moving or changing size (RandR sends no event for that).
    monitor_area: Option<Region>,
}

impl Pipeline {
    /// Prepares a capture of `region` (already clamped to the screen) with `config`, choosing
    /// the hardware encoder on this host (H.264 only: that opens the NVENC library to look).
    pub fn new(
        config: Config,
        source: Box<dyn Source>,
        region: Region,
    ) -> Result<Self, PipelineError> {
        let choice = hardware_choice(&config);
        Self::with_choice(config, source, region, choice)
    }

    /// Like [`Pipeline::new`], with the hardware `choice` already made.
    pub fn with_choice(
        config: Config,
        mut source: Box<dyn Source>,
        region: Region,
        choice: HardwareChoice,
    ) -> Result<Self, PipelineError> {
        source.set_region(region)?;
        // Without damage reports every frame is read in full; with them only what was drawn.
        source.watch_damage();
        if config.overlay.cursor {
            // A moving cursor wakes a capture that waits for the screen to change.
            source.watch_pointer();
        }
        let plan = plan(&config, region, &choice);
        let info = InfoSlot::default();
        let factory = encoders(&config, &plan, &info);
        let watermark = load_watermark(&config)?;
        Ok(Self {
            config,
            watermark,
            source,
            choice,
            plan,
            factory,
            info,
            session: None,
            monitor_area: None,
        })
    }

    /// Opens encoders with `factory` instead of the plan's (for tests: encoders that fail,
    /// count or record).
    pub fn with_factory(self, factory: EncoderFactory) -> Self {
        Self { factory, ..self }
    }

    /// How the capture is cut into streams and encoded.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The controls a capture of this pipeline is run with (see [`Pipeline::step`]).
    pub fn controls(&self) -> Controls {
        let c = Controls::new(self.source.name(), self.info.clone());
        c.set_hardware_choice(self.choice.clone());
        c
    }

    /// Starts the capture thread.
    pub fn start(self, sink: Arc<dyn Sink>) -> std::io::Result<CaptureHandle> {
        keep_mmap_threshold();
        let controls = Arc::new(self.controls());
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
        let mut deadline = Instant::now();
        let mut woke_early = false;
        while controls.sleep_until(deadline) {
            // Pace from the previous deadline; when late by more than a frame, re-anchor on now
            // instead of bursting to catch up.
            deadline += self.interval();
            let now = Instant::now();
            if now > deadline {
                deadline = now;
            }
            let nothing_changed = match self.step(controls, sink) {
                Ok(idle) => idle,
                Err(e) => {
                    sink.error(e);
                    return;
                }
            };
            // After a frame in which nothing had changed, what is drawn next is captured when
            // the source reports it (and a cursor that moves, when the cursor is captured, when
            // the pointer's motion is reported) rather than at the next tick: up to an interval
            // sooner, and a source animating at the target rate is caught on every one of its
            // frames instead of beating against the ticks. Deliveries stay at least an interval
            // apart: this frame delivered no change, and the next tick is counted from the
            // early one. Not twice in a row: an early frame that finds nothing changed (a
            // redraw of the same pixels) leaves the rest to the next tick instead of chasing
            // every redraw.
            let pointer = self.session.as_ref().is_some_and(|s| s.capture_cursor);
            let changed = if nothing_changed && !woke_early {
                self.source
                    .wait_for_change(deadline, pointer, controls.wake_fd(), &|| {
                        controls.stopping()
                    })
            } else {
                Ok(false)
            };
            woke_early = matches!(changed, Ok(true));
            match changed {
                Ok(true) => deadline = deadline.min(Instant::now() + DAMAGE_SETTLE),
                Ok(false) => {}
                Err(e) => {
                    sink.error(e.into());
                    return;
                }
            }
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.config.pacing.fps)
    }

    /// One frame, on the caller's thread (the capture thread runs these, paced; tests call it
    /// directly). Returns true when nothing had changed since the previous frame (nothing
    /// drawn, or the source over-reported and the hashes found the same pixels). An error ends
    /// the capture.
    pub fn step(&mut self, controls: &Controls, sink: &dyn Sink) -> Result<bool, PipelineError> {
        let mut s = match self.session.take() {
            Some(s) => s,
            None => Session::new(self),
        };
        let r = self.frame(&mut s, controls, sink);
        self.session = Some(s);
        r
    }

    /// What the region is fitted into on a `screen`-sized screen: the screen, or the monitor
    /// of the `monitor` setting as the source reports it now.
    fn bounds(&mut self, screen: (u32, u32)) -> Result<Bounds, PipelineError> {
        let Some(want) = &self.config.region.monitor else {
            return Ok(Bounds::screen(screen));
        };
        let monitors = self.source.monitors()?;
        Bounds::monitor(want, &monitors, screen).map_err(PipelineError::MonitorGone)
    }

    /// What to do when the screen or monitor became `to`: the update that re-fits the region,
    /// or the error that ends the capture.
    fn refit(&self, region: Region, to: &Bounds) -> Result<Update, PipelineError> {
        let h264 = self.plan.kind == PayloadKind::H264;
        match refit(&self.config.region, h264, region, to) {
            Some(region) => Ok(Update {
                config: self.config.clone(),
                region,
                choice: self.choice.clone(),
                watermark: self.watermark.clone(),
            }),
            None => Err(PipelineError::ScreenChanged {
                region,
                to: to.clone(),
            }),
        }
    }

    fn tiles(&self) -> bool {
        self.plan.kind == PayloadKind::Jpeg && self.config.layout.jpeg_tiles
    }

    fn band_align(&self) -> Option<u32> {
        band_align(self.plan.kind, self.config.jpeg.subsampling)
    }

    fn policy(&self) -> Policy {
        policy(&self.config, self.plan.full_frame_h264())
    }

    /// Applies new settings between frames: what only tunes the encoders keeps the streams;
    /// a new layout (region, stripe height, codec, colour format) starts them afresh.
    fn apply_update(
        &mut self,
        update: Update,
        s: &mut Session,
        controls: &Controls,
    ) -> Result<(), PipelineError> {
        let change = rebuild(&self.config, &update.config, s.region, update.region);
        if update.region != s.region {
            self.source.set_region(update.region)?;
        }
        self.watermark = update.watermark;
        if update.config.region.monitor != self.config.region.monitor {
            // Another monitor: learnt afresh at the next full check.
            self.monitor_area = None;
        }
        self.config = update.config;
        self.choice = update.choice;
        controls.set_hardware_choice(self.choice.clone());
        s.capture_cursor = self.config.overlay.cursor && self.source.has_cursor();
        if s.capture_cursor {
            self.source.watch_pointer();
        }
        match change {
            Rebuild::Layout => {
                self.plan = plan(&self.config, update.region, &self.choice);
                self.factory = encoders(&self.config, &self.plan, &self.info);
                *s = Session {
                    frame_id: s.frame_id,
                    started: s.started,
                    ..Session::new(self)
                };
            }
            Rebuild::Encoders => {
                // What was sent stays valid; an H.264 stream restarts with an IDR at its next
                // change.
                self.factory = encoders(&self.config, &self.plan, &self.info);
                s.streams.iter_mut().for_each(|st| st.encoder = None);
            }
            Rebuild::Nothing => {}
        }
        if change != Rebuild::Nothing {
            // The old encoders were just dropped.
            release_free_memory();
        }
        s.policy = self.policy();
        Ok(())
    }

    /// One frame; see [`Pipeline::step`].
    fn frame(
        &mut self,
        s: &mut Session,
        controls: &Controls,
        sink: &dyn Sink,
    ) -> Result<bool, PipelineError> {
        if let Some(update) = controls.take_update() {
            self.apply_update(update, s, controls)?;
        }
        let stats = &controls.stats;
        if sink.in_flight() >= self.config.pacing.max_queued as usize {
            // Skipped before anything is read: pending damage stays pending.
            stats.frames_skipped.fetch_add(1, Relaxed);
            return Ok(false);
        }
        let t0 = Instant::now();
        let capture_time_ns = monotonic_ns();
        if controls.take_keyframe_request() {
            s.detector.invalidate_all();
            s.streams.iter_mut().for_each(|st| st.force_key = true);
            s.full_check_due = true;
        }
        // Everything on a full check (first frame, key frame request, once a second as a
        // safety net, or when the source cannot tell what was drawn).
        if s.last_full_check.elapsed() >= FULL_CHECK_INTERVAL {
            s.full_check_due = true;
        }
        let drawn = self.source.take_damage()?;
        let drawn_rects = if self.plan.scroll_copies {
            self.source.damage_rects()
        } else {
            Vec::new()
        };
        let full_check = s.full_check_due || drawn.is_none();
        if full_check {
            s.last_full_check = Instant::now();
            s.full_check_due = false;
        }
        if let Some(to) = self.source.take_resize() {
            // The re-fit is applied before the next frame.
            let to = self.bounds(to)?;
            controls.update(self.refit(s.region, &to)?);
            return Ok(false);
        }
        if full_check && self.config.region.monitor.is_some() {
            let to = self.bounds(self.source.screen_size())?;
            let moved = self.monitor_area.is_some_and(|area| area != to.area);
            self.monitor_area = Some(to.area);
            if moved {
                controls.update(self.refit(s.region, &to)?);
                return Ok(false);
            }
        }
        let retry = std::mem::take(&mut s.retry);
        let mut rows = rows_to_read(full_check, drawn, &retry, s.region.height);
        let cursor = if s.capture_cursor {
            self.source.cursor()?
        } else {
            None
        };
        let watermark_at = self.watermark.as_ref().and_then(|w| {
            let r = s.region;
            w.position(
                self.config.overlay.watermark_location,
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
        let tiles = self.tiles();
        if !rows.is_empty() {
            if let Err(e) = self.source.read_rows(&rows) {
                // A read fails when the screen shrank under the region: tell that apart from a
                // lost source; the next frame re-fits the region.
                if self.source.shrank() {
                    return Ok(false);
                }
                return Err(e.into());
            }
        }
        // 4:2:0 JPEG: a copy's end rows carry chroma blended with the source's neighbours.
        let edge_rows = if self.band_align() == Some(seams::BLOCK_HEIGHT) {
            scroll::CHROMA_EDGE_ROWS
        } else {
            0
        };
        let frame = self.source.pixels();
        if draw_overlays {
            if let Some(c) = &cursor {
                blend_cursor(frame, stride, region, c);
            }
            if let (Some(w), Some((x, y))) = (&self.watermark, watermark_at) {
                w.blend(frame, stride, region.width, region.height, x, y);
            }
        }
        s.frame_id = s.frame_id.wrapping_add(1);
        stats.frames_captured.fetch_add(1, Relaxed);
        stats
            .capture_ns
            .fetch_add(t0.elapsed().as_nanos() as u64, Relaxed);

        let full_width = (0, region.width);
        let rules = Rules {
            policy: s.policy,
            band_align: band_align(self.plan.kind, self.config.jpeg.subsampling),
            full_width,
        };
        let always_hash = tiles || self.plan.scroll_copies;
        // Copies go to the consumer before anything else of the frame, and are looked for
        // before this frame's hashing changes what the detector says the viewer had.
        let moved = if self.plan.scroll_copies && rows.is_empty() {
            // Nothing read: the pixels, and the last rectangles' hashes, are as they were.
            s.scroll.read_nothing(s.frame_id);
            Moved::default()
        } else if self.plan.scroll_copies {
            let ctx = CopyContext {
                frame: &*frame,
                stride,
                width: region.width,
                edge_rows,
                frame_id: s.frame_id,
                capture_time_ns,
                sink,
                stats,
            };
            send_copies(&mut s.scroll, &s.detector, &drawn_rects, &ctx)
        } else {
            Moved::default()
        };
        // Hash first (every stripe), then take in what the copies left, then decide.
        let mut looked = Vec::with_capacity(self.plan.layout.len());
        for (stripe, stream) in self.plan.layout.iter().zip(s.streams.iter_mut()) {
            let whole = (stripe.y, stripe.y + stripe.height);
            let hashes = hashes_drawn_rows(&stream.memory.state, always_hash);
            let drawn = match rows.extent_within(stripe) {
                Some(drawn) if !hashes => {
                    stream.stale = true;
                    Some((drawn, false))
                }
                Some(drawn) => {
                    if !stream.rehash_if_stale(&mut s.detector, frame, whole) {
                        for span in rows.within(stripe) {
                            s.detector.hash_rows(frame, span);
                        }
                    }
                    Some((drawn, true))
                }
                None => None,
            };
            let block_sync = block_sync_due(&stream.memory.state, always_hash);
            if block_sync {
                stream.rehash_if_stale(&mut s.detector, frame, whole);
            }
            looked.push((drawn, block_sync));
        }
        for &(rows, cols) in &moved.keep {
            s.detector.mark_sent(rows, cols);
        }
        for &(rows, cols) in &moved.forget {
            s.detector.forget(rows, cols);
        }
        let mut jobs = Vec::new();
        let mut nothing_changed = moved.copied.is_empty();
        let layout = self.plan.layout.iter().zip(s.streams.iter_mut());
        for ((stripe, stream), (drawn, block_sync)) in layout.zip(looked) {
            let whole = (stripe.y, stripe.y + stripe.height);
            let (changed, hashed) = match drawn {
                Some((drawn, false)) => (Some(drawn), false),
                Some((_, true)) => (s.detector.changed_rows(stripe), true),
                None => (None, false),
            };
            // With tiles every changed stripe was hashed, so its cells are known.
            let cols = match changed {
                Some(rows) if tiles => s.detector.changed_cols(rows),
                _ => full_width,
            };
            nothing_changed &= changed.is_none();
            let seen = Observation {
                changed,
                cols,
                hashed,
                block_sync,
                copied: copied_within(&moved.copied, stripe),
            };
            let seams = &stream.seams;
            let action = decide(&mut stream.memory, stripe, &seen, &rules, |area| {
                // A band that ends where the viewer's decoded chroma depends on what changed
                // inside it takes in the block beyond.
                seams
                    .as_ref()
                    .map_or(area, |seams| seams.widen(frame, stride, area))
            });
            match action {
                Action::Idle { sync_whole } => {
                    if sync_whole {
                        s.detector.mark_sent(whole, full_width);
                    }
                }
                Action::Send(send) => jobs.push(Job {
                    stripe: *stripe,
                    joins_blocks: false,
                    send,
                    stream,
                }),
            }
        }
        if jobs.is_empty() {
            return Ok(nothing_changed);
        }
        stats.frames_with_changes.fetch_add(1, Relaxed);

        let t1 = Instant::now();
        let image = BgrxImage {
            data: frame,
            stride,
            width: region.width,
            height: region.height,
        };
        let header = match (self.config.delivery.omit_headers, tiles) {
            (true, _) => HeaderFormat::Omitted,
            (false, true) => HeaderFormat::Tile,
            (false, false) => HeaderFormat::Stripe,
        };
        let out = FrameOut {
            image,
            factory: &self.factory,
            kind: self.plan.kind,
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
            .fetch_add(t1.elapsed().as_nanos() as u64, Relaxed);

        for (job, r) in results {
            let stripe = job.stripe;
            match r {
                Ok(handed) => {
                    if let Handed::Accepted(bytes) = handed {
                        stats.stripes_delivered.fetch_add(1, Relaxed);
                        stats.bytes_delivered.fetch_add(bytes, Relaxed);
                    }
                    if handed != Handed::Refused {
                        if let Some((rows, cols)) = job.send.syncs {
                            s.detector.mark_sent(rows, cols);
                        }
                        if let Some(seams) = &mut job.stream.seams {
                            seams.record(frame, stride, job.send.area, job.joins_blocks);
                        }
                        continue;
                    }
                    stats.stripes_dropped.fetch_add(1, Relaxed);
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
        if !self.plan.encoder.is_hardware() {
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

/// The capture loop's state that belongs to one layout of the region.
struct Session {
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
    scroll: scroll::History,
}

impl Session {
    fn new(p: &Pipeline) -> Self {
        let region = p.source.region();
        let cell_width = if p.tiles() {
            TILE_CELL_WIDTH
        } else {
            region.width
        };
        let seams = (p.band_align() == Some(seams::BLOCK_HEIGHT)).then_some(cell_width);
        Self {
            region,
            stride: p.source.stride(),
            detector: ChangeDetector::with_cells(
                region.width,
                region.height,
                p.source.stride(),
                cell_width,
            ),
            streams: p
                .plan
                .layout
                .iter()
                .map(|stripe| Stream::new(*stripe, region.width, seams))
                .collect(),
            policy: p.policy(),
            capture_cursor: p.config.overlay.cursor && p.source.has_cursor(),
            frame_id: 0,
            started: Instant::now(),
            full_check_due: true,
            last_full_check: Instant::now(),
            retry: RowSpans::default(),
            overlays: OverlayMemory::default(),
            fallbacks_reported: 0,
            scroll: scroll::History::default(),
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

/// What a frame's copies did: the areas whose cells the viewer now holds as hashed this frame
/// (`keep`), those it holds unknown pixels in (`forget`), and the copies' destinations.
#[derive(Default)]
struct Moved {
    keep: Vec<Area>,
    forget: Vec<Area>,
    copied: Vec<Rect>,
}

/// What [`send_copies`] works with.
struct CopyContext<'a> {
    frame: &'a [u8],
    stride: usize,
    width: u32,
    edge_rows: u32,
    frame_id: u32,
    capture_time_ns: u64,
    sink: &'a dyn Sink,
    stats: &'a Stats,
}

/// Hashes this frame's drawn rectangles, finds the rows the viewer already has moved (against
/// the previous frame's rectangles, see [`scroll::History`]), and hands the copies to the
/// consumer. `detector` must not have hashed this frame yet: it tells what the viewer had at
/// the end of the previous frame.
fn send_copies(
    memory: &mut scroll::History,
    detector: &crate::detect::ChangeDetector,
    drawn: &[Rect],
    ctx: &CopyContext<'_>,
) -> Moved {
    let cell_width = detector.cell_width();
    let current: Vec<RectRows> = scroll::candidates(drawn)
        .into_iter()
        .map(|r| {
            let outer = scroll::outer_cols((r.x, r.x + r.width), cell_width, ctx.width);
            RectRows::hash(ctx.frame, ctx.stride, r, outer)
        })
        .collect();
    let previous = memory.take_previous(ctx.frame_id);
    let mut moved = Moved::default();
    for cur in &current {
        let Some(prev) = previous
            .iter()
            .find(|p| (p.rect.x, p.rect.width) == (cur.rect.x, cur.rect.width))
        else {
            continue;
        };
        let cols = (cur.rect.x, cur.rect.x + cur.rect.width);
        for copy in scroll::find_copies(prev, cur, |y| detector.clean(y, cols)) {
            // Applied in order: none may read what an earlier one wrote.
            let src = copy.source();
            if moved.copied.iter().any(|d| rects_meet(d, &src)) {
                continue;
            }
            let update = scroll::destination_cells(
                &copy,
                prev,
                cur,
                cell_width,
                ctx.width,
                ctx.edge_rows,
                |y, cols| detector.clean(y, cols),
            );
            let header = crate::wire::Header::Copy {
                frame_id: ctx.frame_id as u16,
                x: copy.x as u16,
                y: copy.src_y as u16,
                width: copy.width as u16,
                height: copy.height as u16,
                to_x: copy.x as u16,
                to_y: copy.dst_y as u16,
            };
            let data = header.to_vec();
            let bytes = data.len() as u64;
            let accepted = ctx.sink.deliver(Delivery {
                kind: PayloadKind::Copy,
                data,
                stripe_y: copy.dst_y,
                stripe_height: copy.height,
                x: copy.x,
                width: copy.width,
                frame_id: ctx.frame_id,
                key: false,
                paint_over: false,
                capture_time_ns: ctx.capture_time_ns,
            });
            if !accepted {
                // The viewer kept what it had there, which is what the detector says.
                ctx.stats.stripes_dropped.fetch_add(1, Relaxed);
                continue;
            }
            ctx.stats.bytes_delivered.fetch_add(bytes, Relaxed);
            moved.keep.extend(update.keep);
            moved.forget.extend(update.forget);
            moved.copied.push(copy.destination());
        }
    }
    memory.keep(ctx.frame_id, current);
    moved
}

fn rects_meet(a: &Rect, b: &Rect) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

/// The rows and columns of `stripe` that `copied` rectangles filled (their bounding box).
fn copied_within(copied: &[Rect], stripe: &Stripe) -> Option<Area> {
    let (top, bottom) = (stripe.y, stripe.y + stripe.height);
    copied
        .iter()
        .filter(|r| r.y < bottom && r.y + r.height > top)
        .map(|r| {
            (
                (r.y.max(top), (r.y + r.height).min(bottom)),
                (r.x, r.x + r.width),
            )
        })
        .reduce(|(ra, ca), (rb, cb)| {
            (
                (ra.0.min(rb.0), ra.1.max(rb.1)),
                (ca.0.min(cb.0), ca.1.max(cb.1)),
            )
        })
}
