//! Hash-based change detection. Pure: no I/O, no X.
//!
//! Each stripe's rows are hashed with XXH3-64; a stripe whose hash differs from the one last
//! *sent* is reported as changed. The hash is the final word on change: anything that only
//! hints at change (XDamage, a moving cursor) can widen what is hashed, never what is sent.

use twox_hash::XxHash3_64;

use crate::geometry::Stripe;

/// XXH3-64 of `bytes` (twox-hash picks its AVX2 code at run time where the CPU has it: about
/// 2.5x the SSE2 speed a portable build would otherwise be limited to).
pub fn hash(bytes: &[u8]) -> u64 {
    XxHash3_64::oneshot(bytes)
}

/// Width in pixels of the column cells of [`ChangeDetector::with_cells`] (JPEG tiles): a
/// multiple of the 16-pixel MCU, so a tile's block grid is the whole stripe's.
pub const TILE_CELL_WIDTH: u32 = 128;

/// Row-level change detection: the hash of every row (or every cell of a row, see
/// [`ChangeDetector::with_cells`]) as last hashed and as last *sent*.
///
/// Rows rather than whole stripes, so that a JPEG stripe can cover just the rows that changed
/// (a typed glyph is 13 rows of a 128-row stripe) and hashing can skip the rows XDamage says
/// were not drawn. Hashing row by row costs the same as hashing whole stripes (XXH3 runs at
/// memory speed on 7,680-byte rows).
#[derive(Debug, Clone)]
pub struct ChangeDetector {
    stride: usize,
    width: u32,
    /// Cells per row and their width in pixels (one cell of the whole row without tiles).
    cols: usize,
    cell_width: u32,
    /// Hash of each cell's content when it was last hashed, row-major.
    current: Vec<u64>,
    /// Hash of each cell's content when it was last sent; `None` forces a re-send.
    sent: Vec<Option<u64>>,
}

impl ChangeDetector {
    /// A detector for frames of `height` rows of `width` pixels, `stride` bytes apart, hashing
    /// whole rows; every row counts as unsent.
    pub fn new(width: u32, height: u32, stride: usize) -> Self {
        Self::with_cells(width, height, stride, width.max(1))
    }

    /// Like [`ChangeDetector::new`], but each row is hashed in cells of `cell_width` pixels, so
    /// that [`ChangeDetector::changed_cols`] can tell which columns changed.
    pub fn with_cells(width: u32, height: u32, stride: usize, cell_width: u32) -> Self {
        let cols = width.div_ceil(cell_width).max(1) as usize;
        let cells = height as usize * cols;
        Self {
            stride,
            width,
            cols,
            cell_width,
            current: vec![0; cells],
            sent: vec![None; cells],
        }
    }

    /// Width in pixels of the cells rows are hashed in.
    pub fn cell_width(&self) -> u32 {
        self.cell_width
    }

    /// Hashes rows `start..end` of `frame`.
    pub fn hash_rows(&mut self, frame: &[u8], (start, end): (u32, u32)) {
        let (stride, cols) = (self.stride, self.cols);
        let cell_bytes = self.cell_width as usize * 4;
        let rows = frame[start as usize * stride..end as usize * stride].chunks_exact(stride);
        let hashes =
            self.current[start as usize * cols..end as usize * cols].chunks_exact_mut(cols);
        for (row_hashes, row) in hashes.zip(rows) {
            if cols == 1 {
                row_hashes[0] = hash(row);
                continue;
            }
            for (h, cell) in row_hashes.iter_mut().zip(row.chunks(cell_bytes)) {
                *h = hash(cell);
            }
        }
    }

    /// Whether cell `i` (row-major) differs from what was last sent.
    fn cell_differs(&self, i: usize) -> bool {
        self.sent[i] != Some(self.current[i])
    }

    fn row_differs(&self, row: usize) -> bool {
        (row * self.cols..(row + 1) * self.cols).any(|i| self.cell_differs(i))
    }

    /// The rows `[first, last + 1)` of `stripe` whose latest hashes differ from what was last
    /// sent, or `None` when the stripe is as sent.
    pub fn changed_rows(&self, stripe: &Stripe) -> Option<(u32, u32)> {
        let (y, end) = (stripe.y as usize, (stripe.y + stripe.height) as usize);
        let first = (y..end).find(|&r| self.row_differs(r))?;
        let last = (first..end)
            .rfind(|&r| self.row_differs(r))
            .expect("first differs");
        Some((first as u32, last as u32 + 1))
    }

    /// The columns `[x0, x1)` (whole cells) in which rows `start..end` differ from what was last
    /// sent; the whole width when nothing differs or rows are hashed whole.
    pub fn changed_cols(&self, (start, end): (u32, u32)) -> (u32, u32) {
        let mut cols = (self.cols, 0);
        for row in start as usize..end as usize {
            for c in 0..self.cols {
                if self.cell_differs(row * self.cols + c) {
                    cols = (cols.0.min(c), cols.1.max(c + 1));
                }
            }
        }
        if cols.0 >= cols.1 {
            return (0, self.width);
        }
        (
            cols.0 as u32 * self.cell_width,
            (cols.1 as u32 * self.cell_width).min(self.width),
        )
    }

    /// Records that the cells of rows `start..end` and columns `x0..x1`, as last hashed,
    /// reached the consumer (`x0` and `x1` on cell boundaries or the right edge).
    pub fn mark_sent(&mut self, (start, end): (u32, u32), (x0, x1): (u32, u32)) {
        let (c0, c1) = (
            (x0 / self.cell_width) as usize,
            (x1.div_ceil(self.cell_width) as usize).min(self.cols),
        );
        for row in start as usize..end as usize {
            let cells = row * self.cols + c0..row * self.cols + c1;
            for (sent, &h) in self.sent[cells.clone()]
                .iter_mut()
                .zip(&self.current[cells])
            {
                *sent = Some(h);
            }
        }
    }

    /// The cells of row `row` that columns `[x0, x1)` touch.
    fn cells(&self, row: u32, (x0, x1): (u32, u32)) -> std::ops::Range<usize> {
        let (c0, c1) = (
            (x0 / self.cell_width) as usize,
            (x1.div_ceil(self.cell_width) as usize).min(self.cols),
        );
        row as usize * self.cols + c0..row as usize * self.cols + c1
    }

    /// Whether the cells of row `row` that columns `[x0, x1)` touch are as last sent (the
    /// consumer has them as last hashed).
    pub fn clean(&self, row: u32, cols: (u32, u32)) -> bool {
        self.cells(row, cols).all(|i| !self.cell_differs(i))
    }

    /// Forgets what was sent of the cells of rows `start..end` that columns `[x0, x1)` touch, so
    /// that they go out again.
    pub fn forget(&mut self, (start, end): (u32, u32), cols: (u32, u32)) {
        for row in start..end {
            let cells = self.cells(row, cols);
            self.sent[cells].iter_mut().for_each(|h| *h = None);
        }
    }

    /// Forgets what was sent, so everything goes out again (a key frame request).
    pub fn invalidate_all(&mut self) {
        self.sent.iter_mut().for_each(|h| *h = None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::stripes;

    fn frame(w: usize, h: usize, seed: u8) -> Vec<u8> {
        (0..w * h * 4)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    /// Hashes every row, then reports the changed rows of each stripe that has any.
    fn changes(det: &mut ChangeDetector, f: &[u8], layout: &[Stripe]) -> Vec<(usize, (u32, u32))> {
        let h = layout.last().map_or(0, |s| s.y + s.height);
        det.hash_rows(f, (0, h));
        layout
            .iter()
            .filter_map(|s| det.changed_rows(s).map(|r| (s.index, r)))
            .collect()
    }

    #[test]
    fn first_frame_reports_everything_then_only_the_rows_whose_bytes_change() {
        let (w, h) = (40usize, 100usize);
        let stride = w * 4;
        let layout = stripes(h as u32, 16);
        let mut det = ChangeDetector::new(w as u32, h as u32, stride);
        let mut f = frame(w, h, 1);

        let first = changes(&mut det, &f, &layout);
        assert_eq!(first.len(), layout.len());
        for (i, rows) in first {
            assert_eq!(rows, (layout[i].y, layout[i].y + layout[i].height));
            det.mark_sent(rows, (0, w as u32));
        }
        assert!(
            changes(&mut det, &f, &layout).is_empty(),
            "static frame reports nothing"
        );

        // One byte in row 37 (stripe 2), rows 40 and 42 (stripe 2), the last row (stripe 6).
        f[37 * stride + 5] ^= 0xff;
        f[40 * stride] ^= 0xff;
        f[42 * stride + 9] ^= 0xff;
        f[99 * stride + stride - 1] ^= 0x01;
        assert_eq!(
            changes(&mut det, &f, &layout),
            vec![(2, (37, 43)), (6, (99, 100))]
        );
    }

    #[test]
    fn unsent_rows_are_reported_again_and_invalidate_all_forces_resend() {
        let (w, h) = (8usize, 32usize);
        let stride = w * 4;
        let layout = stripes(h as u32, 8);
        let mut det = ChangeDetector::new(w as u32, h as u32, stride);
        let f = frame(w, h, 9);
        for (i, rows) in changes(&mut det, &f, &layout) {
            if i != 1 {
                det.mark_sent(rows, (0, w as u32));
            }
        }
        assert_eq!(
            changes(&mut det, &f, &layout),
            vec![(1, (8, 16))],
            "a stripe never marked sent stays changed"
        );
        // Only part of a stripe sent: the rest is still reported.
        det.mark_sent((8, 11), (0, w as u32));
        assert_eq!(changes(&mut det, &f, &layout), vec![(1, (11, 16))]);
        det.invalidate_all();
        assert_eq!(changes(&mut det, &f, &layout).len(), 4);
    }

    #[test]
    fn rows_not_hashed_again_keep_their_last_hash() {
        let (w, h) = (8usize, 16usize);
        let stride = w * 4;
        let whole = stripes(h as u32, 16)[0];
        let mut det = ChangeDetector::new(w as u32, h as u32, stride);
        let mut f = frame(w, h, 3);
        det.hash_rows(&f, (0, 16));
        det.mark_sent((0, 16), (0, w as u32));
        // Rows 2 and 12 change, but only rows 0..8 are hashed again: row 12 is not seen.
        f[2 * stride] ^= 1;
        f[12 * stride] ^= 1;
        det.hash_rows(&f, (0, 8));
        assert_eq!(det.changed_rows(&whole), Some((2, 3)));
        det.hash_rows(&f, (8, 16));
        assert_eq!(det.changed_rows(&whole), Some((2, 13)));
    }

    #[test]
    fn cells_tell_which_columns_changed_and_are_sent_separately() {
        // 300 pixels in cells of 128: columns 0..128, 128..256, 256..300.
        let (w, h) = (300usize, 16usize);
        let stride = w * 4;
        let whole = stripes(h as u32, 16)[0];
        let mut det = ChangeDetector::with_cells(w as u32, h as u32, stride, 128);
        let mut f = frame(w, h, 5);
        det.hash_rows(&f, (0, 16));
        assert_eq!(det.changed_rows(&whole), Some((0, 16)));
        assert_eq!(det.changed_cols((0, 16)), (0, 300));
        det.mark_sent((0, 16), (0, 300));
        assert_eq!(det.changed_rows(&whole), None);
        assert_eq!(
            det.changed_cols((0, 16)),
            (0, 300),
            "nothing changed: whole width"
        );

        // Pixel 130 of row 5 and pixel 299 of row 9: cells 1 and 2.
        f[5 * stride + 130 * 4] ^= 1;
        det.hash_rows(&f, (5, 6));
        assert_eq!(det.changed_rows(&whole), Some((5, 6)));
        assert_eq!(det.changed_cols((5, 6)), (128, 256));
        f[9 * stride + 299 * 4 + 2] ^= 1;
        det.hash_rows(&f, (9, 10));
        assert_eq!(det.changed_rows(&whole), Some((5, 10)));
        assert_eq!(det.changed_cols((5, 10)), (128, 300));
        // Sending the tile of cell 1 leaves row 9's cell 2 pending.
        det.mark_sent((5, 10), (128, 256));
        assert_eq!(det.changed_rows(&whole), Some((9, 10)));
        assert_eq!(det.changed_cols((9, 10)), (256, 300));
        det.mark_sent((9, 10), (256, 300));
        assert_eq!(det.changed_rows(&whole), None);

        // Cleanliness and forgetting by the cells columns touch.
        assert!(det.clean(9, (100, 300)));
        det.forget((9, 11), (130, 140));
        assert!(!det.clean(9, (100, 300)) && !det.clean(10, (128, 129)));
        assert!(det.clean(9, (0, 128)) && det.clean(9, (256, 300)) && det.clean(11, (0, 300)));
        assert_eq!(det.changed_cols((9, 11)), (128, 256));
    }

    #[test]
    fn hash_is_standard_xxh3_64() {
        // Reference values of XXH3-64 (seed 0) for the empty input and for "abc".
        assert_eq!(hash(&[]), 0x2D06_8005_38D3_94C2);
        assert_eq!(hash(b"abc"), 0x78AF_5F94_892F_3950);
    }

    #[test]
    #[ignore = "timing: cargo test --release -p stripecast-core hash_speed -- --ignored --nocapture"]
    fn hash_speed() {
        let frame = vec![7u8; 1920 * 1080 * 4];
        // Milliseconds per frame over 100 runs of `f`.
        let time = |label: &str, f: &mut dyn FnMut()| {
            let t = std::time::Instant::now();
            for _ in 0..100 {
                f();
            }
            println!(
                "xxh3 over a 1080p BGRX frame, {label}: {:.3} ms",
                t.elapsed().as_secs_f64() * 10.0
            );
        };
        let mut det = ChangeDetector::new(1920, 1080, 1920 * 4);
        time("row by row", &mut || det.hash_rows(&frame, (0, 1080)));
        let mut cells = ChangeDetector::with_cells(1920, 1080, 1920 * 4, TILE_CELL_WIDTH);
        let label = format!("in {TILE_CELL_WIDTH}-pixel cells");
        time(&label, &mut || cells.hash_rows(&frame, (0, 1080)));
        let mut acc = 0u64;
        time("in one call", &mut || acc ^= hash(&frame));
        println!("({acc:x})");
    }
}
