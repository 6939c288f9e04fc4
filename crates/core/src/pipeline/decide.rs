//! The pipeline's decisions, as pure functions over plain data: what to read, whether a stripe
//! is sent, painted over or throttled and which rows and columns go out, what an update
//! rebuilds, and where the region goes when the screen changes size. No I/O: the frame loop
//! (`run.rs`) gathers the facts, asks here, and acts; `cargo test` covers every rule.

use crate::encode::Motion;
use crate::geometry::{align_band, Bounds, Region, RowSpans, Stripe};
use crate::settings::{Config, OutputMode, RegionRequest, Subsampling};
use crate::wire::PayloadKind;

/// Rows `[start, end)` and columns `[x0, x1)` of the region.
pub type Area = ((u32, u32), (u32, u32));

/// The dynamic-quality rules applied per stripe (see [`StripeState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Policy {
    /// Still frames after a change before the stripe is re-sent at paint-over quality.
    pub paint_over_after: Option<u32>,
    /// `(threshold, duration)`: after `threshold` consecutive changed frames a stripe is damaged
    /// for `duration` frames.
    pub damage: Option<(u32, u32)>,
}

/// What to do with a stripe this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Nothing to send.
    Idle,
    /// Its content changed: send it at the normal quality.
    Send,
    /// It has been still for the trigger period since its last change: send it once more at the
    /// paint-over quality (an IDR at the paint-over CRF for H.264).
    PaintOver,
}

/// Per-stripe paint-over and damage-throttling state machine.
///
/// - A stripe that changes is sent. When it then stays still for `paint_over_after` frames it is
///   painted over once; a stripe that did not change since its last paint-over is never painted
///   over again.
/// - A stripe that changes in `threshold` consecutive frames becomes *damaged* for `duration`
///   frames, as in pixelflux. While damaged it is not hashed: it is sent in every frame in which
///   it was drawn (every frame without XDamage), since it is almost surely still changing, and
///   that saves hashing it. On the last frame of the block it is hashed once: if it differs from
///   what was last hashed and sent, it is sent and stays damaged for another block; otherwise it
///   returns to normal. Paint-over never fires while damaged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StripeState {
    consecutive_changes: u32,
    still_frames: u32,
    /// Frames left in the damaged state, counting the final (hashed) one; 0 = not damaged.
    damaged_left: u32,
    paint_over_due: bool,
}

impl StripeState {
    /// Whether the stripe must be hashed this frame (false in the middle of a damaged block).
    pub fn wants_hash(&self) -> bool {
        self.damaged_left <= 1
    }

    /// Whether the next frame is the last (hashed) one of a damaged block.
    pub fn block_ends_next_frame(&self) -> bool {
        self.damaged_left == 2
    }

    pub fn is_damaged(&self) -> bool {
        self.damaged_left > 0
    }

    /// Advances one captured frame. `changed` is whether the hash differed from what was last
    /// sent, or, when [`StripeState::wants_hash`] was false (in a damaged block), whether the
    /// stripe was drawn at all this frame.
    pub fn step(&mut self, changed: bool, policy: &Policy) -> Decision {
        if self.damaged_left > 1 {
            self.damaged_left -= 1;
            if changed {
                self.still_frames = 0;
                self.paint_over_due = policy.paint_over_after.is_some();
                return Decision::Send;
            }
            return Decision::Idle;
        }
        if self.damaged_left == 1 {
            self.damaged_left = 0;
            self.consecutive_changes = 0;
            if changed {
                self.damaged_left = policy.damage.map_or(0, |(_, duration)| duration);
                self.still_frames = 0;
                self.paint_over_due = policy.paint_over_after.is_some();
                return Decision::Send;
            }
        }
        if changed {
            self.still_frames = 0;
            self.paint_over_due = policy.paint_over_after.is_some();
            self.consecutive_changes += 1;
            if let Some((threshold, duration)) = policy.damage {
                if self.consecutive_changes >= threshold {
                    self.damaged_left = duration;
                    self.consecutive_changes = 0;
                }
            }
            return Decision::Send;
        }
        self.consecutive_changes = 0;
        self.still_frames = self.still_frames.saturating_add(1);
        match policy.paint_over_after {
            Some(n) if self.paint_over_due && self.still_frames >= n => {
                self.paint_over_due = false;
                Decision::PaintOver
            }
            _ => Decision::Idle,
        }
    }
}

/// What the frame loop found out about one stripe this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// The rows whose content differs from what was sent (when hashed), or, in a damaged
    /// block (not hashed), the rows drawn; `None`: nothing to send for a change.
    pub changed: Option<(u32, u32)>,
    /// The columns of those rows that changed: whole tile cells, or the full width.
    pub cols: (u32, u32),
    /// The stripe's drawn rows were hashed this frame, so what is sent of it is what the
    /// consumer then has.
    pub hashed: bool,
    /// The frame before a damaged block's last one: the whole stripe was hashed, and after
    /// this frame the consumer has it as it is (see [`block_sync_due`]).
    pub block_sync: bool,
    /// Rows and columns of the stripe that scroll copies filled this frame: content that
    /// moved, so the stripe counts as changed (for paint-over and damage) and the area is
    /// painted over once the stripe is still, like rows sent at normal quality.
    pub copied: Option<Area>,
}

/// What the rules are for a stripe, fixed for a layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    pub policy: Policy,
    /// JPEG bands are aligned to this many rows (the MCU height); `None`: H.264, whole
    /// stripes only.
    pub band_align: Option<u32>,
    /// The region's full width as columns.
    pub full_width: (u32, u32),
}

/// What to do with a stripe this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to send. `sync_whole`: take the whole stripe, as hashed, as what the consumer
    /// has (a damaged block's frame before its last; every drawing in it was sent).
    Idle {
        sync_whole: bool,
    },
    Send(Outgoing),
}

/// A delivery to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outgoing {
    /// The rows and columns to encode.
    pub area: Area,
    pub paint_over: bool,
    /// The rows and columns whose current hashes become what the consumer has once this is
    /// delivered.
    pub syncs: Option<Area>,
    /// The rows known to have changed (within `area`): an H.264 encoder converts only these.
    pub changed: Option<(u32, u32)>,
    /// How the content moves (see [`motion`]).
    pub motion: Motion,
}

/// A stripe's memory across frames, for [`decide`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StripeMemory {
    pub state: StripeState,
    /// Rows and columns sent at normal quality since the last paint-over (what a JPEG
    /// paint-over covers).
    pub unpainted: Option<Area>,
}

/// Whether a stripe's drawn rows must be hashed this frame: always, except in the middle of a
/// damaged block, where being drawn counts as changed. Tiles need the hashes to find the
/// changed columns, and scroll copies to know what the viewer holds, so with either
/// (`always`) a damaged stripe is hashed too (on its drawn rows only).
pub fn hashes_drawn_rows(state: &StripeState, always: bool) -> bool {
    state.wants_hash() || always
}

/// Whether this is the frame before a damaged block's last one, for a stripe whose drawn rows
/// are not hashed. Every drawing in the block has been sent, so after this frame the consumer
/// has the stripe as it is now: the pipeline hashes it whole and takes that as sent, so that
/// the block's last frame asks "changed since the previous frame?" and not "changed since
/// before the block?" (which, for content that came back to what it was, would leave the
/// consumer with a stale picture).
pub fn block_sync_due(state: &StripeState, tiles: bool) -> bool {
    !hashes_drawn_rows(state, tiles) && state.block_ends_next_frame()
}

/// Decides what to send of `stripe` this frame, and advances its memory. `widen` may grow a
/// JPEG band that is not the whole stripe (see `ChromaSeams`) before it is remembered as sent.
pub fn decide(
    memory: &mut StripeMemory,
    stripe: &Stripe,
    seen: &Observation,
    rules: &Rules,
    widen: impl FnOnce(Area) -> Area,
) -> Action {
    let whole = ((stripe.y, stripe.y + stripe.height), rules.full_width);
    let union = |a: (u32, u32), b: (u32, u32)| (a.0.min(b.0), a.1.max(b.1));
    let remember = |memory: &mut StripeMemory, area: Area| {
        memory.unpainted = Some(match memory.unpainted {
            Some((rows, cols)) => (union(rows, area.0), union(cols, area.1)),
            None => area,
        });
    };
    let moved = seen.copied.is_some();
    let decision = memory
        .state
        .step(seen.changed.is_some() || moved, &rules.policy);
    if let Some(area) = seen.copied {
        remember(memory, area);
        if seen.changed.is_none() && decision == Decision::Send {
            // Copies brought the viewer up to date: nothing to encode.
            return Action::Idle {
                sync_whole: seen.block_sync,
            };
        }
    }
    let (paint_over, area) = match (decision, seen.changed, rules.band_align) {
        (Decision::Idle, _, _) => {
            return Action::Idle {
                sync_whole: seen.block_sync,
            }
        }
        (Decision::Send, Some(rows), Some(align)) => {
            (false, (align_band(rows, stripe, align), seen.cols))
        }
        (Decision::Send, _, _) => (false, whole),
        // A JPEG paint-over covers what was sent at normal quality since the last one (a
        // blinking caret repaints its band, not its stripe); an H.264 paint-over is an IDR of
        // the whole stream.
        (Decision::PaintOver, _, Some(_)) => (true, memory.unpainted.take().unwrap_or(whole)),
        (Decision::PaintOver, _, None) => (true, whole),
    };
    let area = if area == whole { area } else { widen(area) };
    if !paint_over {
        remember(memory, area);
    }
    Action::Send(Outgoing {
        area,
        paint_over,
        syncs: if seen.block_sync {
            Some(whole)
        } else {
            seen.hashed.then_some(area)
        },
        changed: seen.changed.filter(|_| !paint_over),
        motion: if paint_over {
            Motion::Changed
        } else {
            motion(memory.state.is_damaged(), seen.copied, area)
        },
    })
}

/// How the content of a change sent of `area` moves, for its chroma and quality: rows beside
/// this frame's copies in the stripe (`copied`, their bounding box), in columns the copies
/// cover, are [`Motion::ScrolledIn`]: exposed by the scroll (or at a copy's edge), encoded
/// once and then copied along for the rest of the scroll, so worth full chroma and the
/// paint-over quality. Otherwise a damaged stripe is [`Motion::Sustained`] (re-sent while it
/// moves), whatever made it damaged; copies count as changes there, so a stripe that scrolled
/// and then changes in place within the block goes out at 4:2:0 until its paint-over.
pub fn motion(damaged: bool, copied: Option<Area>, area: Area) -> Motion {
    let cols = area.1;
    match copied {
        Some((_, c)) if c.0 < cols.1 && cols.0 < c.1 => Motion::ScrolledIn,
        _ if damaged => Motion::Sustained,
        _ => Motion::Changed,
    }
}

/// The rows to read this frame: everything on a full check (or when the source does not say
/// what was drawn), else what was drawn; plus the rows whose last delivery failed.
pub fn rows_to_read(
    full_check: bool,
    drawn: Option<RowSpans>,
    retry: &RowSpans,
    height: u32,
) -> RowSpans {
    let mut rows = match (full_check, drawn) {
        (false, Some(drawn)) => drawn,
        _ => RowSpans::everything(height),
    };
    for &(a, b) in retry.spans() {
        rows.add(a.into(), b.into(), height);
    }
    rows
}

/// Where the region goes when the screen (or the captured monitor) becomes `to`: re-fitted
/// from the request (with `autoResize`), kept when it still lies within (without), or `None`:
/// the capture must end.
pub fn refit(request: &RegionRequest, h264: bool, region: Region, to: &Bounds) -> Option<Region> {
    if request.auto_resize {
        return request.clamp_within(to, h264).ok().map(|c| c.region);
    }
    let a = to.area;
    let fits = region.x >= a.x
        && region.y >= a.y
        && region.x + region.width <= a.x + a.width
        && region.y + region.height <= a.y + a.height;
    fits.then_some(region)
}

/// What an update of the settings rebuilds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// Rates, paint-over and damage parameters, overlays: the streams carry on.
    Nothing,
    /// New quality settings: fresh encoders (an H.264 stream restarts with an IDR); what was
    /// sent stays valid.
    Encoders,
    /// A new region, stripe height, codec or colour format: new streams, everything re-sent.
    Layout,
}

/// What going from `old` to `new` (and from region `was` to `is`) rebuilds. The chroma
/// subsampling counts as layout: it sets the bands' block grid (and whether their seams are
/// tracked), so a change re-sends everything on the new grid.
pub fn rebuild(old: &Config, new: &Config, was: Region, is: Region) -> Rebuild {
    // H.264 encoders are told the frame rate.
    let h264_fps = |c: &Config| (c.layout.mode == OutputMode::H264).then_some(c.pacing.fps);
    if was != is
        || old.layout != new.layout
        || old.hardware != new.hardware
        || old.jpeg.subsampling != new.jpeg.subsampling
    {
        Rebuild::Layout
    } else if old.jpeg != new.jpeg || old.h264 != new.h264 || h264_fps(old) != h264_fps(new) {
        Rebuild::Encoders
    } else {
        Rebuild::Nothing
    }
}

/// The rows a JPEG band is aligned to (its MCU height); `None` for H.264, which encodes whole
/// stripes.
pub fn band_align(kind: PayloadKind, subsampling: Subsampling) -> Option<u32> {
    match (kind, subsampling) {
        (PayloadKind::H264 | PayloadKind::Copy, _) => None,
        (PayloadKind::Jpeg, Subsampling::S444) => Some(8),
        // 4:2:0, and `auto`, whose changes are 4:2:0 (its 4:4:4 paint-overs are whole stripes).
        (PayloadKind::Jpeg, _) => Some(16),
    }
}

/// The paint-over and damage rules `config` asks for. Throttling the only stream of a
/// full-frame encode would throttle the whole screen for one animated corner, so damage
/// applies to striped output only.
pub fn policy(config: &Config, full_frame_h264: bool) -> Policy {
    let (paint_over, damage) = (&config.paint_over, &config.damage);
    Policy {
        paint_over_after: paint_over.enabled.then_some(paint_over.after_frames),
        damage: (!full_frame_h264).then_some((damage.threshold, damage.duration)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(policy: &Policy, script: &str) -> String {
        // Script: 'c' = the content changed (was drawn) this frame, '.' = still. Output per frame:
        // 'S' send, 'D' send without hashing (damaged), 'P' paint-over, '-' idle, 'x' idle
        // because damaged and not drawn.
        let mut st = StripeState::default();
        script
            .chars()
            .map(|c| {
                let hashed = st.wants_hash();
                match st.step(c == 'c', policy) {
                    Decision::Send if !hashed => 'D',
                    Decision::Send => 'S',
                    Decision::PaintOver => 'P',
                    Decision::Idle if !hashed => 'x',
                    Decision::Idle => '-',
                }
            })
            .collect()
    }

    #[test]
    fn paint_over_fires_once_after_n_still_frames() {
        let p = Policy {
            paint_over_after: Some(3),
            damage: None,
        };
        assert_eq!(run(&p, "c......."), "S--P----");
        // A change during the still period restarts the count.
        assert_eq!(run(&p, "c..c....."), "S--S--P--");
        // Never again without a new change.
        assert_eq!(run(&p, "c...........c...."), "S--P--------S--P-");
        // Disabled: never.
        assert_eq!(run(&Policy::default(), "c......"), "S------");
    }

    #[test]
    fn damage_after_exactly_threshold_changes_and_left_when_still() {
        let p = Policy {
            paint_over_after: None,
            damage: Some((3, 4)),
        };
        // Three changes enter the state; 3 unhashed frames, then one hashed check.
        assert_eq!(run(&p, "ccc...."), "SSSxxx-");
        // Two changes then still: not damaged.
        assert_eq!(run(&p, "cc.c....."), "SS-S-----");
        // Still changing: sent every frame without hashing, hashed once at the end of each block.
        assert_eq!(run(&p, "cccccccccccc"), "SSSDDDSDDDSD");
        // Drawn now and then inside the block: sent when drawn.
        assert_eq!(run(&p, "ccc.c.c"), "SSSxDxS");
        // Left the state: the next changes count from zero again.
        assert_eq!(run(&p, "ccc....cc.ccc"), "SSSxxx-SS-SSS");
        // The frame before the block's hashed last one is announced (the pipeline hashes the
        // stripe there, to learn what the consumer has); once per block.
        let mut st = StripeState::default();
        let mut announced = Vec::new();
        for i in 0..11 {
            announced.extend(st.block_ends_next_frame().then_some(i));
            st.step(true, &p);
        }
        assert_eq!(announced, [5, 9]);
    }

    #[test]
    fn paint_over_never_fires_while_damaged() {
        let p = Policy {
            paint_over_after: Some(2),
            damage: Some((2, 5)),
        };
        // Damaged after 2 changes for 5 frames; the paint-over is due but waits until the state
        // is left (check frame at index 6 sees no change), then counts its 2 still frames.
        assert_eq!(run(&p, "cc........."), "SSxxxx-P---");
        let mut st = StripeState::default();
        st.step(true, &p);
        st.step(true, &p);
        for _ in 0..4 {
            assert!(st.is_damaged());
            assert_eq!(st.step(false, &p), Decision::Idle);
        }
    }

    const FULL: (u32, u32) = (0, 640);

    fn stripe(y: u32) -> Stripe {
        Stripe {
            index: (y / 64) as usize,
            y,
            height: 64,
        }
    }

    fn rules(band_align: Option<u32>, paint_over_after: Option<u32>) -> Rules {
        Rules {
            policy: Policy {
                paint_over_after,
                damage: None,
            },
            band_align,
            full_width: FULL,
        }
    }

    fn seen(changed: Option<(u32, u32)>, cols: (u32, u32)) -> Observation {
        Observation {
            changed,
            cols,
            hashed: true,
            block_sync: false,
            copied: None,
        }
    }

    fn sent(a: Action) -> Outgoing {
        match a {
            Action::Send(s) => s,
            other => panic!("expected a send, got {other:?}"),
        }
    }

    #[test]
    fn sends_of_a_damaged_stripe_are_in_motion_and_the_paint_over_after_it_is_not() {
        let mut m = StripeMemory::default();
        let mut r = rules(Some(16), Some(2));
        r.policy.damage = Some((3, 4));
        let st = stripe(128);
        let change = seen(Some((133, 140)), (0, 640));
        let motion: Vec<Motion> = (0..4)
            .map(|_| sent(decide(&mut m, &st, &change, &r, |a| a)).motion)
            .collect();
        // Three changes in a row enter the damaged state on the third.
        use Motion::{Changed, Sustained};
        assert_eq!(motion, [Changed, Changed, Sustained, Sustained]);
        // Still: the block runs out (unhashed frames, then the hashed check), then the
        // paint-over comes, not in motion.
        let still = seen(None, (0, 640));
        let outcome = loop {
            if let Action::Send(s) = decide(&mut m, &st, &still, &r, |a| a) {
                break s;
            }
        };
        assert!(
            outcome.paint_over && outcome.motion == Changed,
            "{outcome:?}"
        );
    }

    #[test]
    fn a_jpeg_change_sends_its_aligned_band_and_columns_and_remembers_them_for_paint_over() {
        let mut m = StripeMemory::default();
        let r = rules(Some(16), Some(2));
        let st = stripe(128);
        // A glyph on rows 133..140, columns 256..384 (one tile cell).
        let s = sent(decide(
            &mut m,
            &st,
            &seen(Some((133, 140)), (256, 384)),
            &r,
            |a| a,
        ));
        assert_eq!(s.area, ((128, 144), (256, 384)));
        assert_eq!(
            s.syncs,
            Some(s.area),
            "hashed: what goes out becomes what was sent"
        );
        assert_eq!((s.paint_over, s.changed), (false, Some((133, 140))));
        // Another change elsewhere in the stripe; the paint-over covers both.
        sent(decide(
            &mut m,
            &st,
            &seen(Some((170, 172)), (0, 128)),
            &r,
            |a| a,
        ));
        let idle = decide(&mut m, &st, &seen(None, FULL), &r, |a| a);
        assert_eq!(idle, Action::Idle { sync_whole: false });
        let p = sent(decide(&mut m, &st, &seen(None, FULL), &r, |a| a));
        assert!(p.paint_over);
        assert_eq!(p.area, ((128, 176), (0, 384)));
        assert_eq!(p.changed, None);
        assert_eq!(m.unpainted, None, "a paint-over leaves nothing unpainted");
    }

    #[test]
    fn widening_applies_to_bands_not_whole_stripes_and_is_what_is_remembered() {
        let mut m = StripeMemory::default();
        let r = rules(Some(16), Some(5));
        let st = stripe(0);
        let grow = |((a, b), c): Area| ((a.saturating_sub(16), b), c);
        let s = sent(decide(&mut m, &st, &seen(Some((20, 22)), FULL), &r, grow));
        assert_eq!(s.area, ((0, 32), FULL));
        assert_eq!(m.unpainted, Some(((0, 32), FULL)));
        let whole = sent(decide(&mut m, &st, &seen(Some((0, 64)), FULL), &r, |_| {
            panic!("a whole stripe is not widened")
        }));
        assert_eq!(whole.area, ((0, 64), FULL));
    }

    #[test]
    fn h264_sends_whole_stripes_and_paints_over_as_a_whole() {
        let mut m = StripeMemory::default();
        let r = rules(None, Some(1));
        let st = stripe(64);
        let s = sent(decide(&mut m, &st, &seen(Some((70, 71)), FULL), &r, |a| a));
        assert_eq!((s.area, s.changed), (((64, 128), FULL), Some((70, 71))));
        let p = sent(decide(&mut m, &st, &seen(None, FULL), &r, |a| a));
        assert!(p.paint_over);
        assert_eq!(p.area, ((64, 128), FULL));
    }

    #[test]
    fn unhashed_sends_sync_nothing_and_a_block_sync_syncs_the_whole_stripe() {
        let r = Rules {
            policy: Policy {
                paint_over_after: None,
                damage: Some((1, 3)),
            },
            band_align: Some(16),
            full_width: FULL,
        };
        let st = stripe(0);
        let mut m = StripeMemory::default();
        // Enter the damaged block.
        sent(decide(&mut m, &st, &seen(Some((0, 8)), FULL), &r, |a| a));
        assert!(!hashes_drawn_rows(&m.state, false) && hashes_drawn_rows(&m.state, true));
        // Drawn, not hashed: sent, nothing synced.
        let drawn = Observation {
            hashed: false,
            ..seen(Some((8, 9)), FULL)
        };
        assert!(!block_sync_due(&m.state, false));
        assert_eq!(sent(decide(&mut m, &st, &drawn, &r, |a| a)).syncs, None);
        assert!(
            block_sync_due(&m.state, false),
            "next frame is the block's last"
        );
        assert!(
            !block_sync_due(&m.state, true),
            "tiles hash: no sync needed"
        );
        let sync = Observation {
            block_sync: true,
            ..drawn
        };
        let s = sent(decide(&mut m, &st, &sync, &r, |a| a));
        assert_eq!(s.syncs, Some(((0, 64), FULL)));
        // The same frame without a drawing: idle, but the whole stripe is taken as sent.
        let mut m2 = StripeMemory::default();
        sent(decide(&mut m2, &st, &seen(Some((0, 8)), FULL), &r, |a| a));
        sent(decide(&mut m2, &st, &drawn, &r, |a| a));
        let quiet = Observation {
            changed: None,
            ..sync
        };
        assert_eq!(
            decide(&mut m2, &st, &quiet, &r, |a| a),
            Action::Idle { sync_whole: true }
        );
    }

    #[test]
    fn copied_rows_count_as_change_send_nothing_and_are_painted_over_after() {
        let mut m = StripeMemory::default();
        let r = rules(Some(16), Some(2));
        let st = stripe(64);
        let copied = Observation {
            copied: Some(((64, 120), (100, 400))),
            ..seen(None, FULL)
        };
        assert_eq!(
            decide(&mut m, &st, &copied, &r, |a| a),
            Action::Idle { sync_whole: false }
        );
        // With exposed rows as well: the band goes out, the paint-over covers both.
        let both = Observation {
            changed: Some((120, 128)),
            ..copied
        };
        let s = sent(decide(&mut m, &st, &both, &r, |a| a));
        assert_eq!(s.area, ((112, 128), FULL));
        assert_eq!(s.motion, Motion::ScrolledIn);
        // Damaged (in motion), rows exposed by copies still go out scrolled in (full chroma).
        let mut damaged = rules(Some(16), None);
        damaged.policy.damage = Some((1, 5));
        let mut md = StripeMemory::default();
        let plain = seen(Some((120, 128)), FULL);
        let motion = |md: &mut StripeMemory, o: &Observation| {
            sent(decide(md, &st, o, &damaged, |a| a)).motion
        };
        assert_eq!(motion(&mut md, &plain), Motion::Sustained);
        assert_eq!(motion(&mut md, &plain), Motion::Sustained);
        assert_eq!(motion(&mut md, &both), Motion::ScrolledIn);
        // A change in columns no copy covers (a tile beside a scrolling window) is not.
        let beside = Observation {
            changed: Some((120, 128)),
            cols: (512, 640),
            ..copied
        };
        assert_eq!(motion(&mut md, &beside), Motion::Sustained);
        assert_eq!(
            decide(&mut m, &st, &seen(None, FULL), &r, |a| a),
            Action::Idle { sync_whole: false }
        );
        let p = sent(decide(&mut m, &st, &seen(None, FULL), &r, |a| a));
        assert!(p.paint_over);
        assert_eq!(p.area, ((64, 128), FULL));
    }

    #[test]
    fn what_is_read_a_full_check_or_what_was_drawn_plus_retries() {
        let mut retry = RowSpans::default();
        retry.add(64, 128, 720);
        let mut drawn = RowSpans::default();
        drawn.add(10, 20, 720);
        assert_eq!(
            rows_to_read(false, Some(drawn.clone()), &retry, 720).spans(),
            &[(10, 20), (64, 128)]
        );
        assert_eq!(
            rows_to_read(true, Some(drawn), &retry, 720).spans(),
            &[(0, 720)]
        );
        assert_eq!(
            rows_to_read(false, None, &RowSpans::default(), 720).spans(),
            &[(0, 720)],
            "a source that cannot tell: everything"
        );
    }

    #[test]
    fn a_resized_screen_refits_the_request_or_ends_the_capture() {
        let request = |x, size: Option<u32>, auto_resize| {
            let o = crate::settings::CaptureOptions {
                capture_x: Some(x),
                capture_width: size.map(i64::from),
                capture_height: size.map(i64::from),
                auto_resize: Some(auto_resize),
                ..Default::default()
            };
            o.validate().unwrap().region
        };
        let was = Region {
            x: 0,
            y: 0,
            width: 1280,
            height: 720,
        };
        let small = Region {
            width: 1024,
            height: 600,
            ..was
        };
        let (full, fixed) = (request(0, None, true), request(0, None, false));
        assert_eq!(
            refit(&full, false, was, &Bounds::screen((1024, 600))),
            Some(small)
        );
        // H.264 rounds odd sizes down.
        assert_eq!(
            refit(&full, true, was, &Bounds::screen((1025, 601))).map(|r| (r.width, r.height)),
            Some((1024, 600))
        );
        // Without autoResize: kept when it still fits, else the end.
        assert_eq!(
            refit(&fixed, false, was, &Bounds::screen((1920, 1080))),
            Some(was)
        );
        assert_eq!(
            refit(&fixed, false, was, &Bounds::screen((1024, 600))),
            None
        );
        // A region that starts off the new screen cannot be re-fitted either.
        let right = request(1100, Some(100), true);
        assert_eq!(
            refit(&right, false, was, &Bounds::screen((1024, 600))),
            None
        );
    }

    #[test]
    fn an_update_rebuilds_the_layout_the_encoders_or_nothing() {
        use crate::settings::CaptureOptions;
        let config = |f: &dyn Fn(&mut CaptureOptions)| {
            let mut o = CaptureOptions {
                output_mode: Some(0),
                ..CaptureOptions::default()
            };
            f(&mut o);
            o.validate().unwrap()
        };
        let r = Region {
            x: 0,
            y: 0,
            width: 640,
            height: 480,
        };
        let base = config(&|_| {});
        let same = |f: &dyn Fn(&mut CaptureOptions)| rebuild(&base, &config(f), r, r);
        assert_eq!(same(&|o| o.target_fps = Some(30.0)), Rebuild::Nothing);
        assert_eq!(
            same(&|o| o.paint_over_trigger_frames = Some(5)),
            Rebuild::Nothing
        );
        assert_eq!(same(&|o| o.capture_cursor = Some(false)), Rebuild::Nothing);
        assert_eq!(same(&|o| o.jpeg_quality = Some(50)), Rebuild::Encoders);
        assert_eq!(
            same(&|o| o.jpeg_subsampling = Some("444".into())),
            Rebuild::Layout
        );
        assert_eq!(same(&|o| o.use_cpu = Some(true)), Rebuild::Layout);
        assert_eq!(
            same(&|o| o.keyframe_interval_s = Some(2.0)),
            Rebuild::Encoders
        );
        assert_eq!(same(&|o| o.stripe_height = Some(64)), Rebuild::Layout);
        assert_eq!(same(&|o| o.jpeg_tiles = Some(true)), Rebuild::Layout);
        assert_eq!(same(&|o| o.output_mode = Some(1)), Rebuild::Layout);
        let moved = Region { x: 8, ..r };
        assert_eq!(rebuild(&base, &base, r, moved), Rebuild::Layout);
        // H.264 encoders are told the frame rate.
        let h264 = config(&|o| o.output_mode = Some(1));
        let h264_30 = config(&|o| {
            o.output_mode = Some(1);
            o.target_fps = Some(30.0);
        });
        assert_eq!(rebuild(&h264, &h264_30, r, r), Rebuild::Encoders);
    }

    #[test]
    fn bands_align_to_the_jpeg_mcu_and_damage_spares_full_frame_h264() {
        assert_eq!(band_align(PayloadKind::Jpeg, Subsampling::S420), Some(16));
        assert_eq!(band_align(PayloadKind::Jpeg, Subsampling::Auto), Some(16));
        assert_eq!(band_align(PayloadKind::Jpeg, Subsampling::S444), Some(8));
        assert_eq!(band_align(PayloadKind::H264, Subsampling::S420), None);
        let c = crate::settings::CaptureOptions::default()
            .validate()
            .unwrap();
        assert_eq!(policy(&c, true).damage, None);
        assert_eq!(policy(&c, false).damage, Some((10, 30)));
        assert_eq!(policy(&c, false).paint_over_after, Some(15));
    }
}
