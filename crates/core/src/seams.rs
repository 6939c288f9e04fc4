//! Chroma seams between JPEG bands. Pure: no I/O.
//!
//! A browser decodes 4:2:0 JPEG with libjpeg-turbo's "fancy" upsampling: the chroma of a
//! pixel is interpolated from the neighbouring chroma samples *within the same JPEG* (a quarter
//! of the weight from the next chroma row or column, a sixteenth diagonally); at a JPEG's edge
//! the edge sample is repeated instead. So the first and last row (and, with tiles, column) of
//! a 16-pixel block carry a trace of the block next to them whenever both were in one JPEG.
//!
//! When a later band re-sends the neighbour with new content but stops at the block edge, the
//! viewer keeps that trace of the old content: a one-pixel line in the colour of something that
//! moved away (e.g. the bottom edge of a rectangle moving up), until the block is sent again.
//! [`ChromaSeams`] remembers, per block of a stripe, which neighbours were in the same JPEG when
//! it was last sent and what its edge pixels were then; [`ChromaSeams::widen`] grows a band to
//! take in every block outside it whose decoded edge depends on an edge inside it that changed.
//! The blocks it adds did not change, so re-sending them leaves no trace elsewhere.

use crate::detect::hash;
use crate::geometry::Stripe;

/// Block rows of a 4:2:0 JPEG: its MCU height.
pub const BLOCK_HEIGHT: u32 = 16;

/// The eight neighbours of a block as (row, column) steps, indexed by bit.
const NEIGHBOURS: [(i64, i64); 8] = [
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
];

/// The edges of a block a neighbour's decoded pixels depend on, as indices into its edge
/// hashes: the row or column pair along a side, or the 2x2 pixels of a corner (the one chroma
/// sample a diagonal neighbour's corner pixel reads).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Edge {
    Top,
    Bottom,
    Left,
    Right,
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
}

impl Edge {
    const ALL: [Edge; 8] = [
        Edge::Top,
        Edge::Bottom,
        Edge::Left,
        Edge::Right,
        Edge::TopLeft,
        Edge::TopRight,
        Edge::BottomLeft,
        Edge::BottomRight,
    ];

    /// The edge of a neighbour at step `(dm, dc)` that faces the block it is a neighbour of.
    fn facing(dm: i64, dc: i64) -> Edge {
        match (dm, dc) {
            (1, 0) => Edge::Top,
            (-1, 0) => Edge::Bottom,
            (0, 1) => Edge::Left,
            (0, -1) => Edge::Right,
            (1, 1) => Edge::TopLeft,
            (1, -1) => Edge::TopRight,
            (-1, 1) => Edge::BottomLeft,
            _ => Edge::BottomRight,
        }
    }

    /// The rows and columns of this edge in a block of rows `[a, b)` and columns `[x0, x1)`.
    fn rect(
        self,
        (a, b): (usize, usize),
        (x0, x1): (usize, usize),
    ) -> ((usize, usize), (usize, usize)) {
        let top = (a, (a + 2).min(b));
        let bottom = (b.saturating_sub(2).max(a), b);
        let left = (x0, (x0 + 2).min(x1));
        let right = (x1.saturating_sub(2).max(x0), x1);
        match self {
            Edge::Top => (top, (x0, x1)),
            Edge::Bottom => (bottom, (x0, x1)),
            Edge::Left => ((a, b), left),
            Edge::Right => ((a, b), right),
            Edge::TopLeft => (top, left),
            Edge::TopRight => (top, right),
            Edge::BottomLeft => (bottom, left),
            Edge::BottomRight => (bottom, right),
        }
    }
}

/// A rectangle of the region: rows `[start, end)` and columns `[x0, x1)`.
pub type Area = ((u32, u32), (u32, u32));

/// What a stripe's viewer last decoded each 16-row by `cell_width` block with.
#[derive(Debug, Clone)]
pub struct ChromaSeams {
    stripe: Stripe,
    width: u32,
    cell_width: u32,
    rows: usize,
    cols: usize,
    /// Per block (row-major), a bit per [`NEIGHBOURS`] entry: that neighbour was in the JPEG
    /// that last painted the block (so the block's decoded edge depends on it).
    joined: Vec<u8>,
    /// Per block, hashes of its [`Edge`]s as last sent: what a joined neighbour's decoded
    /// edge was interpolated from.
    edges: Vec<[u64; 8]>,
}

impl ChromaSeams {
    /// A stripe whose blocks were never sent (nothing joined). `cell_width` is the width of
    /// the columns a band can start or end at: the region's width without tiles.
    pub fn new(stripe: Stripe, width: u32, cell_width: u32) -> Self {
        let rows = stripe.height.div_ceil(BLOCK_HEIGHT) as usize;
        let cols = width.div_ceil(cell_width.max(1)).max(1) as usize;
        Self {
            stripe,
            width,
            cell_width: cell_width.max(1),
            rows,
            cols,
            joined: vec![0; rows * cols],
            edges: vec![[0; 8]; rows * cols],
        }
    }

    /// Blocks `(m0, m1, c0, c1)` covered by `area` (rows from the stripe's top, aligned to
    /// blocks; columns aligned to cells or the right edge).
    fn blocks(&self, ((a, b), (x0, x1)): Area) -> (usize, usize, usize, usize) {
        let y = self.stripe.y;
        (
            ((a - y) / BLOCK_HEIGHT) as usize,
            ((b - y).div_ceil(BLOCK_HEIGHT) as usize).min(self.rows),
            (x0 / self.cell_width) as usize,
            (x1.div_ceil(self.cell_width) as usize).min(self.cols),
        )
    }

    fn area(&self, (m0, m1, c0, c1): (usize, usize, usize, usize)) -> Area {
        let (y, end) = (self.stripe.y, self.stripe.y + self.stripe.height);
        (
            (
                y + m0 as u32 * BLOCK_HEIGHT,
                (y + m1 as u32 * BLOCK_HEIGHT).min(end),
            ),
            (
                c0 as u32 * self.cell_width,
                (c1 as u32 * self.cell_width).min(self.width),
            ),
        )
    }

    /// Hash of one edge of block `(m, c)` in `frame`.
    fn edge(&self, frame: &[u8], stride: usize, (m, c): (usize, usize), edge: Edge) -> u64 {
        let ((a, b), (x0, x1)) = self.area((m, m + 1, c, c + 1));
        let ((a, b), (x0, x1)) = edge.rect((a as usize, b as usize), (x0 as usize, x1 as usize));
        let row = |r: usize| &frame[r * stride + x0 * 4..r * stride + x1 * 4];
        if x1 - x0 > 2 {
            return (a..b).fold(0, |h, r| h.rotate_left(23) ^ hash(row(r)));
        }
        // A column pair or a corner: gathered and hashed at once (one call, not one a row).
        let mut pairs = [0u8; BLOCK_HEIGHT as usize * 8];
        let mut n = 0;
        for r in a..b {
            let bytes = row(r);
            pairs[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        }
        hash(&pairs[..n])
    }

    /// `area` (block-aligned rows of this stripe, cell-aligned columns), grown by one block
    /// wherever a block just outside it was last decoded together with a block inside whose
    /// facing edge in `frame` differs from what was sent then.
    pub fn widen(&self, frame: &[u8], stride: usize, area: Area) -> Area {
        let (m0, m1, c0, c1) = self.blocks(area);
        let mut grown = (m0, m1, c0, c1);
        let inside = |m: i64, c: i64| {
            (m0 as i64..m1 as i64).contains(&m) && (c0 as i64..c1 as i64).contains(&c)
        };
        let ring_rows = m0.saturating_sub(1)..(m1 + 1).min(self.rows);
        let ring_cols = c0.saturating_sub(1)..(c1 + 1).min(self.cols);
        for m in ring_rows {
            for c in ring_cols.clone() {
                if inside(m as i64, c as i64) {
                    continue;
                }
                let joined = self.joined[m * self.cols + c];
                let stale = NEIGHBOURS.iter().enumerate().any(|(bit, &(dm, dc))| {
                    let (nm, nc) = (m as i64 + dm, c as i64 + dc);
                    if joined & (1 << bit) == 0 || !inside(nm, nc) {
                        return false;
                    }
                    let (nm, nc) = (nm as usize, nc as usize);
                    let edge = Edge::facing(dm, dc);
                    self.edge(frame, stride, (nm, nc), edge)
                        != self.edges[nm * self.cols + nc][edge as usize]
                });
                if stale {
                    grown = (
                        grown.0.min(m),
                        grown.1.max(m + 1),
                        grown.2.min(c),
                        grown.3.max(c + 1),
                    );
                }
            }
        }
        self.area(grown)
    }

    /// Records that `area` of `frame` reached the viewer as one JPEG, with its chroma
    /// subsampled (4:2:0) or not (4:4:4, where no pixel depends on its neighbours).
    pub fn record(&mut self, frame: &[u8], stride: usize, area: Area, subsampled: bool) {
        let (m0, m1, c0, c1) = self.blocks(area);
        let edges: &[Edge] = if self.cols > 1 {
            &Edge::ALL
        } else {
            // One column: no block has a neighbour beside it or diagonally.
            &[Edge::Top, Edge::Bottom]
        };
        for m in m0..m1 {
            for c in c0..c1 {
                let mut joined = 0u8;
                if subsampled {
                    for (bit, &(dm, dc)) in NEIGHBOURS.iter().enumerate() {
                        let (nm, nc) = (m as i64 + dm, c as i64 + dc);
                        if (m0 as i64..m1 as i64).contains(&nm)
                            && (c0 as i64..c1 as i64).contains(&nc)
                        {
                            joined |= 1 << bit;
                        }
                    }
                }
                let i = m * self.cols + c;
                self.joined[i] = joined;
                for &edge in edges {
                    self.edges[i][edge as usize] = self.edge(frame, stride, (m, c), edge);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 384;
    const H: u32 = 64;
    const STRIDE: usize = W as usize * 4;

    fn stripe() -> Stripe {
        Stripe {
            index: 0,
            y: 0,
            height: H,
        }
    }

    fn frame() -> Vec<u8> {
        vec![40; STRIDE * H as usize]
    }

    fn paint(f: &mut [u8], (y0, y1): (usize, usize), (x0, x1): (usize, usize), v: u8) {
        for y in y0..y1 {
            f[y * STRIDE + x0 * 4..y * STRIDE + x1 * 4].fill(v);
        }
    }

    const ALL: (u32, u32) = (0, W);

    #[test]
    fn a_band_ending_where_a_joined_neighbour_changed_takes_the_neighbour_in() {
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        // Rows 0..32 sent as one JPEG: blocks 0 and 1 are joined.
        s.record(&f, STRIDE, ((0, 32), ALL), true);
        // The content of block 1 changes along its top: block 0's last row was interpolated
        // from it, so a band of block 1 alone would leave a line at row 15.
        paint(&mut f, (16, 20), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((16, 32), ALL)), ((0, 32), ALL));
        // The reverse: block 0 changes along its bottom; block 1's first row depends on it.
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 32), ALL), true);
        paint(&mut f, (14, 16), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((0, 16), ALL)), ((0, 32), ALL));
    }

    #[test]
    fn no_growth_when_the_facing_edge_is_unchanged_or_nothing_was_joined() {
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 32), ALL), true);
        // Block 1 changes away from its top and bottom row pairs (a glyph in the middle).
        paint(&mut f, (19, 28), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((16, 32), ALL)), ((16, 32), ALL));

        // Each block sent on its own: no block's edge depends on another.
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 16), ALL), true);
        s.record(&f, STRIDE, ((16, 32), ALL), true);
        paint(&mut f, (16, 20), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((16, 32), ALL)), ((16, 32), ALL));

        // 4:4:4: nothing is interpolated, so nothing is joined.
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 32), ALL), false);
        paint(&mut f, (16, 20), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((16, 32), ALL)), ((16, 32), ALL));
    }

    #[test]
    fn a_later_send_of_the_neighbour_alone_unjoins_it() {
        let mut s = ChromaSeams::new(stripe(), W, W);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 32), ALL), true);
        // Block 0 re-sent alone: its last row is now decoded from itself only.
        s.record(&f, STRIDE, ((0, 16), ALL), true);
        paint(&mut f, (16, 20), (0, 50), 200);
        assert_eq!(s.widen(&f, STRIDE, ((16, 32), ALL)), ((16, 32), ALL));
    }

    #[test]
    fn tiles_grow_sideways_and_diagonally_by_whole_cells() {
        // Three 128-pixel cells, four block rows.
        let mut s = ChromaSeams::new(stripe(), W, 128);
        let mut f = frame();
        s.record(&f, STRIDE, ((0, 64), ALL), true);
        // Cell 1, block row 1 changes along its left columns: cell 0 of that row takes it in.
        paint(&mut f, (20, 24), (128, 130), 200);
        assert_eq!(
            s.widen(&f, STRIDE, ((16, 32), (128, 256))),
            ((16, 32), (0, 256))
        );
        // Along its top row pair, away from the corners: the block above only.
        let mut f = frame();
        paint(&mut f, (16, 17), (200, 210), 200);
        assert_eq!(
            s.widen(&f, STRIDE, ((16, 32), (128, 256))),
            ((0, 32), (128, 256))
        );
        // Its top-left corner: the block above-left reads it too (and growing to take that
        // one in takes the blocks between).
        let mut f = frame();
        paint(&mut f, (17, 18), (128, 129), 200);
        assert_eq!(
            s.widen(&f, STRIDE, ((16, 32), (128, 256))),
            ((0, 32), (0, 256))
        );
        // Along its right columns, near the bottom: the block to the right.
        let mut f = frame();
        paint(&mut f, (25, 27), (254, 256), 200);
        assert_eq!(
            s.widen(&f, STRIDE, ((16, 32), (128, 256))),
            ((16, 32), (128, W))
        );
    }

    #[test]
    fn short_last_blocks_and_the_right_edge() {
        // A 40-row stripe at y = 88 (blocks of 16, 16, 8 rows) of a 300-pixel region.
        let st = Stripe {
            index: 1,
            y: 88,
            height: 40,
        };
        let (w, h) = (300u32, 128usize);
        let stride = w as usize * 4;
        let mut f = vec![9u8; stride * h];
        let mut s = ChromaSeams::new(st, w, 128);
        s.record(&f, stride, ((88, 128), (0, w)), true);
        // The 8-row last block, cell 2 (256..300), changes along its top (not at a corner).
        for y in 120..121 {
            f[y * stride + 260 * 4..y * stride + 270 * 4].fill(1);
        }
        assert_eq!(
            s.widen(&f, stride, ((120, 128), (256, 300))),
            ((104, 128), (256, 300))
        );
    }
}
