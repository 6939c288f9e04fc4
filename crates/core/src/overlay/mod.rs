//! Overlays drawn into the captured BGRX image before change detection, so whatever they
//! change is hashed and sent like any other pixel. Pure: no I/O.

pub mod cursor;
pub mod watermark;

use crate::geometry::RowSpans;

/// Where an overlay was last frame and is now, as rows `[start, end)` of the region, and
/// whether it changed at all (moved, even within the same rows, or changed its image).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OverlayRows {
    pub previous: Option<(i64, i64)>,
    pub current: Option<(i64, i64)>,
    pub changed: bool,
}

/// Overlays are drawn into the capture buffer, so they must only ever be drawn onto freshly read
/// pixels. Given the rows that will be re-read anyway, widens `rows` so that the rows a changed
/// overlay covered are re-read (to erase it), and, whenever anything is read at all, every
/// overlay's current rows are re-read too (so each is drawn once onto clean pixels, never
/// blended twice). Returns whether the overlays must be drawn this frame.
pub fn widen_for_overlays(rows: &mut RowSpans, overlays: &[OverlayRows], height: u32) -> bool {
    if rows.is_empty() && !overlays.iter().any(|o| o.changed) {
        return false;
    }
    for o in overlays {
        if let (true, Some((a, b))) = (o.changed, o.previous) {
            rows.add(a, b, height);
        }
        if let Some((a, b)) = o.current {
            rows.add(a, b, height);
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(previous: Option<(i64, i64)>, current: Option<(i64, i64)>, changed: bool) -> OverlayRows {
        OverlayRows {
            previous,
            current,
            changed,
        }
    }

    #[test]
    fn still_overlays_on_a_still_screen_read_nothing() {
        let mut rows = RowSpans::default();
        assert!(!widen_for_overlays(
            &mut rows,
            &[o(Some((10, 20)), Some((10, 20)), false)],
            100
        ));
        assert!(rows.is_empty());
    }

    #[test]
    fn a_moving_overlay_rereads_old_and_new_rows_and_every_other_overlay() {
        let mut rows = RowSpans::default();
        let cursor = o(Some((10, 20)), Some((30, 40)), true);
        let watermark = o(Some((80, 90)), Some((80, 90)), false);
        assert!(widen_for_overlays(&mut rows, &[watermark, cursor], 100));
        assert_eq!(rows.spans(), &[(10, 20), (30, 40), (80, 90)]);
    }

    #[test]
    fn a_sideways_move_in_the_same_rows_still_redraws() {
        let mut rows = RowSpans::default();
        assert!(widen_for_overlays(
            &mut rows,
            &[o(Some((10, 20)), Some((10, 20)), true)],
            100
        ));
        assert_eq!(rows.spans(), &[(10, 20)]);
    }

    #[test]
    fn damage_elsewhere_rereads_the_overlays_rows() {
        let mut rows = RowSpans::default();
        rows.add(0, 5, 100);
        let overlays = [
            o(Some((50, 60)), Some((50, 60)), false),
            o(None, None, false),
        ];
        assert!(widen_for_overlays(&mut rows, &overlays, 100));
        assert_eq!(rows.spans(), &[(0, 5), (50, 60)]);
    }

    #[test]
    fn a_vanished_overlay_erases_its_rows() {
        let mut rows = RowSpans::default();
        assert!(widen_for_overlays(
            &mut rows,
            &[o(Some((5, 9)), None, true)],
            100
        ));
        assert_eq!(rows.spans(), &[(5, 9)]);
    }
}
