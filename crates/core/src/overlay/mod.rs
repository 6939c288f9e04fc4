//! Overlays drawn into the captured BGRX image before change detection, so whatever they
//! change is hashed and sent like any other pixel. Pure: no I/O.

pub mod cursor;
pub mod watermark;
