//! What the in-memory sources ([`super::fake`], [`super::frames`]) share: a screen kept as one
//! BGRX buffer, read into the frame buffer row by row as MIT-SHM reads an X screen.

use super::CaptureError;
use crate::geometry::{Region, RowSpans};

/// Checks that `region` is non-empty and lies within a `screen`-sized screen.
pub(super) fn fit_region(region: Region, (w, h): (u32, u32)) -> Result<(), CaptureError> {
    if region.width == 0
        || region.height == 0
        || region.x + region.width > w
        || region.y + region.height > h
    {
        return Err(CaptureError::Format(format!(
            "region {}x{}+{}+{} does not fit the {w}x{h} screen",
            region.width, region.height, region.x, region.y
        )));
    }
    Ok(())
}

/// Screen rows `drawn` as rows of `region`.
pub(super) fn damage_rows(drawn: &[(u32, u32)], region: Region) -> RowSpans {
    let mut rows = RowSpans::default();
    let top = i64::from(region.y);
    for &(a, b) in drawn {
        rows.add(i64::from(a) - top, i64::from(b) - top, region.height);
    }
    rows
}

/// Copies `rows` of `region` from a screen `screen_width` pixels wide into `frame` (the
/// region's size, `region.width * 4` bytes a row).
pub(super) fn copy_region_rows(
    screen: &[u8],
    screen_width: u32,
    region: Region,
    rows: &RowSpans,
    frame: &mut [u8],
) {
    let (screen_stride, stride) = (screen_width as usize * 4, region.width as usize * 4);
    for &(a, b) in rows.spans() {
        for row in a..b {
            let from = (region.y + row) as usize * screen_stride + region.x as usize * 4;
            frame[row as usize * stride..][..stride].copy_from_slice(&screen[from..from + stride]);
        }
    }
}
