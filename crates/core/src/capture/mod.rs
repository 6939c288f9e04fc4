//! Screen capture: the [`Source`] trait the pipeline reads a screen through, and its
//! implementations: X11 through MIT-SHM ([`x11::X11Capture`]) and an in-memory screen for
//! tests ([`fake::FakeSource`]). A new kind of source is a new file here.

pub mod fake;
pub mod frames;
mod memory;
pub mod wayland;
pub mod x11;

use std::os::fd::BorrowedFd;
use std::time::Instant;

use thiserror::Error;

use crate::geometry::{Region, RowSpans};
use crate::scroll::Rect;

/// A screen the pipeline captures a region of. The source keeps a frame buffer of the region
/// (BGRX, [`Source::stride`] bytes a row) that holds what was last read of each row;
/// [`Source::read_rows`] refreshes rows of it, and the pipeline draws overlays into it.
pub trait Source: Send {
    /// How it reads, for `streamInfo().capture`: e.g. `xshm+xdamage` (only what was drawn).
    fn name(&self) -> &'static str;
    /// The whole screen's size as last seen.
    fn screen_size(&self) -> (u32, u32);
    /// The monitors the screen is divided into (RandR), asked afresh; empty when the source
    /// has no such notion.
    fn monitors(&mut self) -> Result<Vec<MonitorInfo>, CaptureError> {
        Ok(Vec::new())
    }
    /// The region captured.
    fn region(&self) -> Region;
    /// Captures `region` (on screen) from now on; the frame buffer is sized to it, and what it
    /// holds is undefined until read.
    fn set_region(&mut self, region: Region) -> Result<(), CaptureError>;
    /// Bytes between rows of the frame buffer: the region's width in BGRX pixels, unless a
    /// source pads its rows.
    fn stride(&self) -> usize {
        self.region().width as usize * 4
    }
    /// Starts reporting what is drawn ([`Source::take_damage`]); false when it cannot, and
    /// then every frame is read in full.
    fn watch_damage(&mut self) -> bool;
    /// Starts noticing pointer motion, so that [`Source::wait_for_change`] wakes for a moving
    /// cursor; false when it cannot (the default: a source without a pointer of its own).
    fn watch_pointer(&mut self) -> bool {
        false
    }
    /// Whether [`Source::cursor`] can tell where the cursor is.
    fn has_cursor(&self) -> bool {
        false
    }
    /// Rows of the region drawn since the previous call; `None` when the source does not know
    /// (everything must be assumed drawn). Also notices size changes ([`Source::take_resize`]).
    fn take_damage(&mut self) -> Result<Option<RowSpans>, CaptureError>;
    /// The rectangles of the region drawn, as reported by the last [`Source::take_damage`]
    /// (clipped to the region, in its coordinates; they may overlap); empty when the source
    /// cannot tell. Scroll copies look for moved rows in them.
    fn damage_rects(&self) -> Vec<Rect> {
        Vec::new()
    }
    /// The new screen size, once, after the screen changed size (never, by default).
    fn take_resize(&mut self) -> Option<(u32, u32)> {
        None
    }
    /// Reads `rows` of the region into the frame buffer; the other rows keep what they held.
    fn read_rows(&mut self, rows: &RowSpans) -> Result<(), CaptureError>;
    /// After a failed read: whether the screen shrank under the region (a size change is
    /// pending) rather than the source being lost.
    fn shrank(&mut self) -> bool {
        false
    }
    /// The frame buffer; writable so that overlays can be drawn into it.
    fn pixels(&mut self) -> &mut [u8];
    /// The cursor's image and position, or `None` when the source cannot tell.
    fn cursor(&self) -> Result<Option<CursorImage>, CaptureError> {
        Ok(None)
    }
    /// Blocks until something is drawn in the region (or the size changes, or, with `pointer`,
    /// the pointer moves), `until` passes, or `stop()` turns true; returns whether something
    /// changed (it stays pending for [`Source::take_damage`]). `wake`, when given, becomes
    /// readable when `stop()` turns true. A source that cannot wait returns false at once.
    fn wait_for_change(
        &mut self,
        until: Instant,
        pointer: bool,
        wake: Option<BorrowedFd<'_>>,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, CaptureError>;
}

#[derive(Debug, Error)]
pub enum CaptureError {
    #[error("cannot open X display {display}: {reason}")]
    Open { display: String, reason: String },
    #[error("X display {0} has no MIT-SHM extension; stripecast needs shared-memory capture")]
    NoShm(String),
    #[error("unsupported X screen format: {0}")]
    Format(String),
    #[error("shared memory: {0}")]
    Shm(String),
    #[error("X connection lost: {0}")]
    Lost(String),
}

/// One monitor of a screen, in screen coordinates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorInfo {
    pub name: String,
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

/// The pointer's image and where it sits, in screen coordinates. Pixels are premultiplied ARGB
/// (XFixes gives them so), one `u32` per pixel, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorImage {
    /// Top-left corner on screen (pointer position minus the hotspot).
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    /// Changes whenever the cursor's shape changes.
    pub serial: u32,
    pub pixels: Vec<u32>,
}
