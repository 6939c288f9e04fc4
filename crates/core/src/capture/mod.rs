//! Screen capture. One backend today: X11 through MIT-SHM ([`x11::X11Capture`]).

pub mod x11;

use thiserror::Error;

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
