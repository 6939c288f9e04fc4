//! Scroll copies (`scrollCopies`): finding rows the viewer already has, moved, so that a scroll
//! costs a 16-byte copy message instead of re-encoding every moved row. Pure: no I/O, no X.
//!
//! Per damaged rectangle (its columns `[x0, x1)`), every row of the rectangle is hashed over
//! those columns after the frame is read and its overlays drawn ([`RectRows`]); the hashes are
//! kept for the next frame. When the next frame has a rectangle with the same columns,
//! [`find_copies`] votes the shift `dy` from the rows whose hash occurs once in both frames
//! (blank or repeated lines cannot vote), then takes the maximal runs of rows whose content
//! now equals the previous frame's `dy` rows away. A run is a valid copy only where the viewer
//! had the previous frame at the source (the caller's `source_clean`: its cells were sent as
//! hashed), so by construction the viewer's pixels at the source equal the frame's pixels at
//! the destination. Any shift whose rows match is correct; the vote only finds the useful one.
//!
//! What a copy does to the detector's cells ([`destination_cells`]): a cell wholly inside the
//! copied columns now holds, in the viewer, exactly the current content (`sent = current`). A
//! cell only partly inside holds the viewer's old pixels outside the columns: it is taken as
//! current only if it was clean before and its outside part did not change (hashed too, in
//! [`RectRows`]); otherwise it is forgotten and re-sent. With 4:2:0 JPEG, the first and last
//! rows of a copy carry chroma interpolated from the source's neighbours (see `seams.rs`), so
//! the caller may ask for those edge rows to be forgotten as well.

use crate::detect::hash;

/// Fewer rows than this are not worth a copy: a JPEG band is 16 rows anyway.
pub const MIN_COPY_ROWS: u32 = 16;
/// Narrower rectangles are not looked at (a caret, a glyph).
pub const MIN_RECT_WIDTH: u32 = 64;
/// Rows at each end of a copy that 4:2:0 chroma upsampling may have blended with the source's
/// neighbours (one chroma row: 2 pixel rows).
pub const CHROMA_EDGE_ROWS: u32 = 2;

/// A rectangle of the region, in pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

impl Rect {
    fn x1(&self) -> u32 {
        self.x + self.width
    }
    fn y1(&self) -> u32 {
        self.y + self.height
    }
    fn intersects(&self, o: &Rect) -> bool {
        self.x < o.x1() && o.x < self.x1() && self.y < o.y1() && o.y < self.y1()
    }
}

/// Rows `[src_y, src_y + height)` of columns `[x, x + width)` move to `dst_y` (same columns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    pub x: u32,
    pub width: u32,
    pub src_y: u32,
    pub dst_y: u32,
    pub height: u32,
}

impl Copy {
    pub fn source(&self) -> Rect {
        Rect {
            x: self.x,
            y: self.src_y,
            width: self.width,
            height: self.height,
        }
    }
    pub fn destination(&self) -> Rect {
        Rect {
            y: self.dst_y,
            ..self.source()
        }
    }
}

/// The rectangles worth looking for a scroll in, from what was drawn: rectangles with the same
/// columns that touch vertically are merged (X hands a damaged region as y-x bands, so one
/// window's rectangle may come in pieces), too small ones dropped, and of overlapping ones the
/// larger kept, so that no two copies of a frame can write where another reads.
pub fn candidates(drawn: &[Rect]) -> Vec<Rect> {
    let mut rects: Vec<Rect> = drawn
        .iter()
        .copied()
        .filter(|r| r.width > 0 && r.height > 0)
        .collect();
    rects.sort_unstable_by_key(|r| (r.x, r.width, r.y));
    let mut merged: Vec<Rect> = Vec::with_capacity(rects.len());
    for r in rects {
        match merged.last_mut() {
            Some(m) if m.x == r.x && m.width == r.width && r.y <= m.y1() => {
                let end = m.y1().max(r.y1());
                m.height = end - m.y;
            }
            _ => merged.push(r),
        }
    }
    merged.retain(|r| r.width >= MIN_RECT_WIDTH && r.height >= MIN_COPY_ROWS);
    merged.sort_unstable_by_key(|r| std::cmp::Reverse(u64::from(r.width) * u64::from(r.height)));
    let mut kept: Vec<Rect> = Vec::new();
    for r in merged {
        if !kept.iter().any(|k| k.intersects(&r)) {
            kept.push(r);
        }
    }
    kept
}

/// Hashes of a rectangle's rows over its columns, and of the parts of the detector's cells
/// on either side of those columns (`[outer.0, x)` and `[x + width, outer.1)`; empty parts hash
/// to the same constant), from one frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RectRows {
    pub rect: Rect,
    /// The columns of the cells the rectangle's columns touch.
    pub outer: (u32, u32),
    pub inside: Vec<u64>,
    pub left: Vec<u64>,
    pub right: Vec<u64>,
}

impl RectRows {
    /// Hashes `rect` of `frame` (BGRX, `stride` bytes a row); `outer` are the columns of the
    /// cells it touches (see [`outer_cols`]).
    pub fn hash(frame: &[u8], stride: usize, rect: Rect, outer: (u32, u32)) -> Self {
        let px = |x: u32| x as usize * 4;
        let n = rect.height as usize;
        let (mut inside, mut left, mut right) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for y in rect.y..rect.y1() {
            let row = &frame[y as usize * stride..][..stride];
            inside.push(hash(&row[px(rect.x)..px(rect.x1())]));
            left.push(hash(&row[px(outer.0)..px(rect.x)]));
            right.push(hash(&row[px(rect.x1())..px(outer.1)]));
        }
        Self {
            rect,
            outer,
            inside,
            left,
            right,
        }
    }

    fn row(&self, y: u32) -> Option<usize> {
        (y >= self.rect.y && y < self.rect.y1()).then(|| (y - self.rect.y) as usize)
    }
}

/// The rectangles hashed in the last frame that read the screen, for the next frame to find
/// its copies against.
#[derive(Debug, Default)]
pub struct History {
    frame_id: u32,
    rects: Vec<RectRows>,
}

impl History {
    /// What frame `frame_id` compares with: the rectangles of the frame before it. A frame in
    /// which nothing was read ([`History::read_nothing`]) leaves the pixels as they were, and
    /// so the hashes: the frame before it stands in. Nothing after any other gap (a frame
    /// that read rows and did not hash them here), since the rows may have changed unseen.
    pub fn take_previous(&mut self, frame_id: u32) -> Vec<RectRows> {
        let rects = std::mem::take(&mut self.rects);
        if self.frame_id.wrapping_add(1) == frame_id {
            rects
        } else {
            Vec::new()
        }
    }

    /// Remembers the rectangles hashed in frame `frame_id`.
    pub fn keep(&mut self, frame_id: u32, rects: Vec<RectRows>) {
        self.frame_id = frame_id;
        self.rects = rects;
    }

    /// Frame `frame_id` read nothing (the source reported nothing drawn, no overlay moved):
    /// the last rectangles still describe the pixels. Without this, a frame the scrolling
    /// application skipped (a missed tick) made the next one find no copy and re-send every
    /// moved row of the screen, at 4:2:0 in a damaged stripe.
    pub fn read_nothing(&mut self, frame_id: u32) {
        if self.frame_id.wrapping_add(1) == frame_id {
            self.frame_id = frame_id;
        }
    }
}

/// The columns of the cells (`cell_width` wide, the last one cut at `width`) that `[x0, x1)`
/// touches.
pub fn outer_cols((x0, x1): (u32, u32), cell_width: u32, width: u32) -> (u32, u32) {
    (
        x0 / cell_width * cell_width,
        (x1.div_ceil(cell_width) * cell_width).min(width),
    )
}

/// The shift most rows moved by between `prev` and `cur` (rows whose hash occurs once in each
/// frame vote), if any row voted for a non-zero one.
pub fn vote_shift(prev: &RectRows, cur: &RectRows) -> Option<i64> {
    // Sorted (hash, y) lists: hashes that occur once are found by looking at neighbours.
    let unique = |r: &RectRows| {
        let mut v: Vec<(u64, u32)> = r
            .inside
            .iter()
            .enumerate()
            .map(|(i, &h)| (h, r.rect.y + i as u32))
            .collect();
        v.sort_unstable();
        let once: Vec<(u64, u32)> = (0..v.len())
            .filter(|&i| {
                (i == 0 || v[i - 1].0 != v[i].0) && (i + 1 == v.len() || v[i + 1].0 != v[i].0)
            })
            .map(|i| v[i])
            .collect();
        once
    };
    let (p, c) = (unique(prev), unique(cur));
    // Both lists are sorted by hash: walk them together.
    let (mut i, mut j) = (0, 0);
    let mut votes: Vec<i64> = Vec::new();
    while i < p.len() && j < c.len() {
        match p[i].0.cmp(&c[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                let dy = i64::from(c[j].1) - i64::from(p[i].1);
                if dy != 0 {
                    votes.push(dy);
                }
                i += 1;
                j += 1;
            }
        }
    }
    votes.sort_unstable();
    let mut best: Option<(usize, i64)> = None;
    for run in votes.chunk_by(|a, b| a == b) {
        if best.is_none_or(|(n, _)| run.len() > n) {
            best = Some((run.len(), run[0]));
        }
    }
    best.map(|(_, dy)| dy)
}

/// The copies that turn the viewer's previous picture of a rectangle into the current one:
/// maximal runs of at least [`MIN_COPY_ROWS`] rows whose current content equals the previous
/// frame's at the voted shift, and whose source rows the viewer had (`source_clean(y)`: the
/// cells of row `y` that the columns touch were sent as hashed in the previous frame). In the
/// order the viewer must apply them (so that none reads rows another has written).
pub fn find_copies(
    prev: &RectRows,
    cur: &RectRows,
    source_clean: impl Fn(u32) -> bool,
) -> Vec<Copy> {
    if prev.rect.x != cur.rect.x || prev.rect.width != cur.rect.width {
        return Vec::new();
    }
    let Some(dy) = vote_shift(prev, cur) else {
        return Vec::new();
    };
    let matches = |y: u32| {
        let src = i64::from(y) - dy;
        let Ok(src) = u32::try_from(src) else {
            return false;
        };
        let (Some(i), Some(j)) = (cur.row(y), prev.row(src)) else {
            return false;
        };
        cur.inside[i] == prev.inside[j] && source_clean(src)
    };
    let mut copies = Vec::new();
    let mut start = None;
    for y in cur.rect.y..=cur.rect.y1() {
        let ok = y < cur.rect.y1() && matches(y);
        match (ok, start) {
            (true, None) => start = Some(y),
            (false, Some(s)) => {
                if y - s >= MIN_COPY_ROWS {
                    copies.push(Copy {
                        x: cur.rect.x,
                        width: cur.rect.width,
                        src_y: (i64::from(s) - dy) as u32,
                        dst_y: s,
                        height: y - s,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    // Content moving down: the lowest run first, so that no run reads rows a run below it
    // (applied earlier) wrote; moving up, the highest first.
    if dy > 0 {
        copies.reverse();
    }
    copies
}

/// Rows `[start, end)` and columns `[x0, x1)` of the region.
pub type Area = ((u32, u32), (u32, u32));

/// What the detector must do after a copy: `keep`: the viewer now holds exactly the current
/// content there (take the cells' current hashes as sent, after this frame's hashing);
/// `forget`: the viewer's cells are not known to hold anything (re-send them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellUpdate {
    pub keep: Vec<Area>,
    pub forget: Vec<Area>,
}

/// How `copy` leaves the viewer's cells (`cell_width` wide, in a region `width` wide), given
/// the rectangle's hashes in both frames and whether a destination row's cells were clean
/// before the copy (`dest_clean(y, (x0, x1))`, columns of one cell). `edge_rows` rows at each
/// end of the copy are forgotten (4:2:0 chroma blended at the source's edges).
pub fn destination_cells(
    copy: &Copy,
    prev: &RectRows,
    cur: &RectRows,
    cell_width: u32,
    width: u32,
    edge_rows: u32,
    dest_clean: impl Fn(u32, (u32, u32)) -> bool,
) -> CellUpdate {
    let (x0, x1) = (copy.x, copy.x + copy.width);
    let outer = outer_cols((x0, x1), cell_width, width);
    // Whole cells inside the copied columns, and the partial cells at either side.
    // The last cell is cut at the region's edge: whole when the copy reaches that edge.
    let inner_end = if x1 == width {
        width
    } else {
        x1 / cell_width * cell_width
    };
    let inner = (x0.div_ceil(cell_width) * cell_width, inner_end);
    let left_cell = (outer.0 < x0).then_some((outer.0, (outer.0 + cell_width).min(width)));
    let right_cell = (x1 < outer.1).then_some(((outer.1 - 1) / cell_width * cell_width, outer.1));
    let mut update = CellUpdate::default();
    let push = |list: &mut Vec<Area>, y: u32, cols: (u32, u32)| {
        // Merge with the previous row's entry for the same columns.
        if let Some(((_, end), _)) = list.iter_mut().rev().find(|(r, c)| *c == cols && r.1 == y) {
            *end = y + 1;
            return;
        }
        list.push(((y, y + 1), cols));
    };
    let (first, last) = (copy.dst_y, copy.dst_y + copy.height);
    for y in first..last {
        let edge = y < first + edge_rows || y + edge_rows >= last;
        if edge {
            push(&mut update.forget, y, outer);
            continue;
        }
        if inner.0 < inner.1 {
            push(&mut update.keep, y, inner);
        }
        let unchanged = |side: fn(&RectRows) -> &Vec<u64>| match (prev.row(y), cur.row(y)) {
            (Some(i), Some(j)) => side(prev)[i] == side(cur)[j] && prev.outer == cur.outer,
            _ => false,
        };
        // One partial cell may be both the left and the right one (narrow copy in one cell).
        let partial: Vec<(u32, u32)> = match (left_cell, right_cell) {
            (Some(l), Some(r)) if l == r => vec![l],
            (l, r) => l.into_iter().chain(r).collect(),
        };
        for cell in partial {
            let ok = dest_clean(y, cell)
                && (cell.0 >= x0 || unchanged(|r| &r.left))
                && (cell.1 <= x1 || unchanged(|r| &r.right));
            push(
                if ok {
                    &mut update.keep
                } else {
                    &mut update.forget
                },
                y,
                cell,
            );
        }
    }
    update
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 640;
    const H: u32 = 480;

    /// A frame whose rows each hold a distinct pattern (line `n` of a page).
    fn line(n: u32, x: u32) -> [u8; 4] {
        let v = n.wrapping_mul(2654435761).wrapping_add(x / 7) as u8;
        [v, v ^ 0x5a, (n % 251) as u8, 0]
    }

    struct Screen {
        px: Vec<u8>,
    }

    impl Screen {
        fn new() -> Self {
            let mut s = Self {
                px: vec![0; (W * H * 4) as usize],
            };
            // A desktop that is not blank.
            s.fill(
                Rect {
                    x: 0,
                    y: 0,
                    width: W,
                    height: H,
                },
                |x, y| [(x ^ y) as u8, 0x40, 0x80, 0],
            );
            s
        }
        fn fill(&mut self, r: Rect, f: impl Fn(u32, u32) -> [u8; 4]) {
            for y in r.y..r.y1() {
                for x in r.x..r.x1() {
                    let i = ((y * W + x) * 4) as usize;
                    self.px[i..i + 4].copy_from_slice(&f(x, y));
                }
            }
        }
        /// A page of text lines `line_of(row)` shown in `r`, starting at page row `top`.
        fn page(&mut self, r: Rect, top: u32, line_of: impl Fn(u32) -> u32) {
            self.fill(r, |x, y| line(line_of(top + y - r.y), x));
        }
        fn rows(&self, r: Rect, cell: u32) -> RectRows {
            RectRows::hash(
                &self.px,
                (W * 4) as usize,
                r,
                outer_cols((r.x, r.x1()), cell, W),
            )
        }
    }

    fn distinct(row: u32) -> u32 {
        row
    }

    #[test]
    fn a_full_width_scroll_is_found_in_either_direction() {
        let r = Rect {
            x: 0,
            y: 0,
            width: W,
            height: H,
        };
        for (from, to, dy) in [(100, 106, -6i64), (106, 100, 6)] {
            let mut s = Screen::new();
            s.page(r, from, distinct);
            let prev = s.rows(r, W);
            s.page(r, to, distinct);
            let cur = s.rows(r, W);
            assert_eq!(vote_shift(&prev, &cur), Some(dy));
            let copies = find_copies(&prev, &cur, |_| true);
            let expect = if dy < 0 {
                Copy {
                    x: 0,
                    width: W,
                    src_y: 6,
                    dst_y: 0,
                    height: H - 6,
                }
            } else {
                Copy {
                    x: 0,
                    width: W,
                    src_y: 0,
                    dst_y: 6,
                    height: H - 6,
                }
            };
            assert_eq!(copies, vec![expect]);
        }
    }

    #[test]
    fn a_window_scrolling_in_a_desktop_and_two_panes_are_found_apart() {
        let win = Rect {
            x: 100,
            y: 50,
            width: 300,
            height: 200,
        };
        let pane = Rect {
            x: 420,
            y: 50,
            width: 150,
            height: 300,
        };
        let mut s = Screen::new();
        s.page(win, 0, distinct);
        s.page(pane, 1000, distinct);
        let prev = [s.rows(win, 128), s.rows(pane, 128)];
        // The window scrolls up 9 rows, the pane down 20.
        s.page(win, 9, distinct);
        s.page(pane, 980, distinct);
        let cur = [s.rows(win, 128), s.rows(pane, 128)];
        assert_eq!(
            candidates(&[
                win,
                pane,
                Rect {
                    x: 0,
                    y: 0,
                    width: 8,
                    height: 8
                }
            ]),
            vec![win, pane]
        );
        assert_eq!(
            find_copies(&prev[0], &cur[0], |_| true),
            vec![Copy {
                x: 100,
                width: 300,
                src_y: 59,
                dst_y: 50,
                height: 191
            }]
        );
        assert_eq!(
            find_copies(&prev[1], &cur[1], |_| true),
            vec![Copy {
                x: 420,
                width: 150,
                src_y: 50,
                dst_y: 70,
                height: 280
            }]
        );
    }

    #[test]
    fn a_changing_caret_splits_the_copy_and_unclean_sources_are_not_copied() {
        let win = Rect {
            x: 0,
            y: 0,
            width: 256,
            height: 200,
        };
        let mut s = Screen::new();
        s.page(win, 0, distinct);
        let prev = s.rows(win, 128);
        s.page(win, 4, distinct);
        // A caret blinks on rows 100..110 at its new place.
        s.fill(
            Rect {
                x: 30,
                y: 100,
                width: 2,
                height: 10,
            },
            |_, _| [255; 4],
        );
        let cur = s.rows(win, 128);
        let copies = find_copies(&prev, &cur, |_| true);
        assert_eq!(
            copies,
            vec![
                Copy {
                    x: 0,
                    width: 256,
                    src_y: 4,
                    dst_y: 0,
                    height: 100
                },
                Copy {
                    x: 0,
                    width: 256,
                    src_y: 114,
                    dst_y: 110,
                    height: 86
                },
            ]
        );
        // The viewer lacked source rows 50..60: no copy reads them.
        let copies = find_copies(&prev, &cur, |y| !(50..60).contains(&y));
        assert!(copies
            .iter()
            .all(|c| c.src_y >= 60 || c.src_y + c.height <= 50));
        assert_eq!(copies.len(), 3, "{copies:?}");
        // Short runs are not worth it.
        let copies = find_copies(&prev, &cur, |y| y % 10 != 0);
        assert!(copies.is_empty(), "{copies:?}");
    }

    #[test]
    fn repetitive_content_votes_nothing_and_identical_lines_are_not_moved_wrongly() {
        let win = Rect {
            x: 0,
            y: 0,
            width: W,
            height: 160,
        };
        // Every row the same: no row is unique, so nothing votes.
        let mut s = Screen::new();
        s.page(win, 0, |_| 7);
        let prev = s.rows(win, W);
        s.page(win, 3, |_| 7);
        assert_eq!(vote_shift(&prev, &s.rows(win, W)), None);
        // Lines of 16 rows repeating every 4 lines, plus one distinct line: the distinct line
        // votes the true shift, and every copied row equals its destination.
        let text = |row: u32| {
            if row / 16 == 5 {
                1000 + row
            } else {
                (row / 16) % 4 * 16 + row % 16
            }
        };
        let mut s = Screen::new();
        s.page(win, 0, text);
        let (before, prev) = (s.px.clone(), s.rows(win, W));
        s.page(win, 5, text);
        let cur = s.rows(win, W);
        assert_eq!(vote_shift(&prev, &cur), Some(-5));
        let copies = find_copies(&prev, &cur, |_| true);
        assert!(!copies.is_empty());
        let mut viewer = before;
        let stride = (W * 4) as usize;
        for c in &copies {
            for i in 0..c.height {
                let (src, dst) = ((c.src_y + i) as usize, (c.dst_y + i) as usize);
                viewer.copy_within(src * stride..(src + 1) * stride, dst * stride);
            }
        }
        for c in &copies {
            let rows = c.dst_y as usize * stride..(c.dst_y + c.height) as usize * stride;
            assert_eq!(viewer[rows.clone()], s.px[rows]);
        }
    }

    #[test]
    fn whole_cells_are_kept_partial_ones_only_when_their_outside_held_still() {
        // Columns 100..400 in cells of 128: cells 128..256 and 256..384 whole, 0..128 and
        // 384..512 partial.
        let win = Rect {
            x: 100,
            y: 0,
            width: 300,
            height: 64,
        };
        let mut s = Screen::new();
        s.page(win, 0, distinct);
        let prev = s.rows(win, 128);
        s.page(win, 20, distinct);
        // Something changes at column 450 on row 40 (right partial cell), outside the window.
        s.fill(
            Rect {
                x: 450,
                y: 40,
                width: 1,
                height: 1,
            },
            |_, _| [1, 2, 3, 0],
        );
        let cur = s.rows(win, 128);
        let copies = find_copies(&prev, &cur, |_| true);
        assert_eq!(
            copies,
            vec![Copy {
                x: 100,
                width: 300,
                src_y: 20,
                dst_y: 0,
                height: 44
            }]
        );
        let u = destination_cells(&copies[0], &prev, &cur, 128, W, 0, |y, _| y != 10);
        assert_eq!(u.keep[0], ((0, 44), (128, 384)));
        assert!(u.keep.contains(&((0, 10), (0, 128))));
        assert!(
            u.forget.contains(&((10, 11), (0, 128))),
            "row 10 was not clean"
        );
        assert!(u.forget.contains(&((10, 11), (384, 512))));
        assert!(u.keep.contains(&((41, 44), (384, 512))));
        assert!(
            u.forget.contains(&((40, 41), (384, 512))),
            "its outside changed"
        );
        // Edge rows are forgotten across the copy's cells.
        let u = destination_cells(&copies[0], &prev, &cur, 128, W, 2, |_, _| true);
        assert_eq!(u.forget[0], ((0, 2), (0, 512)));
        assert_eq!(*u.forget.last().unwrap(), ((42, 44), (0, 512)));
        // Without tiles the one cell is the whole row, partial on both sides.
        let (prev, cur) = (s.rows(win, W), s.rows(win, W));
        let u = destination_cells(&copies[0], &prev, &cur, W, W, 0, |_, _| true);
        assert_eq!(u.keep, vec![((0, 44), (0, W))]);
        // A copy reaching the right edge keeps the last cell, cut there (cells of 256: the
        // last is 512..640).
        let c = Copy {
            x: 300,
            width: W - 300,
            ..copies[0]
        };
        let u = destination_cells(&c, &prev, &cur, 256, W, 0, |_, _| false);
        assert!(u.keep.contains(&((0, 44), (512, W))), "{u:?}");
        assert_eq!(u.forget, vec![((0, 44), (256, 512))]);
    }

    #[test]
    fn frames_that_read_nothing_keep_the_last_rectangles_and_other_gaps_drop_them() {
        let r = Rect {
            x: 0,
            y: 0,
            width: W,
            height: 32,
        };
        let mut s = Screen::new();
        s.page(r, 0, distinct);
        let rows = s.rows(r, W);
        let mut h = History::default();
        assert!(h.take_previous(1).is_empty(), "no frame before the first");
        h.keep(1, vec![rows.clone()]);
        assert_eq!(h.take_previous(2), vec![rows.clone()]);
        // Frames 3 and 4 read nothing: frame 5 compares with frame 2's rectangles.
        h.keep(2, vec![rows.clone()]);
        h.read_nothing(3);
        h.read_nothing(4);
        assert_eq!(h.take_previous(5), vec![rows.clone()]);
        // Frame 7 follows a frame (6) that read rows but was not hashed here.
        h.keep(5, vec![rows.clone()]);
        h.read_nothing(7);
        assert!(h.take_previous(7).is_empty());
        // A frame that read nothing after such a gap does not bring anything back.
        h.keep(7, Vec::new());
        h.read_nothing(8);
        assert!(h.take_previous(9).is_empty());
        // Frame ids wrap.
        h.keep(u32::MAX, vec![rows.clone()]);
        h.read_nothing(0);
        assert_eq!(h.take_previous(1), vec![rows]);
    }

    #[test]
    #[ignore = "timing: cargo test --release -p stripecast-core scroll_speed -- --ignored --nocapture"]
    fn scroll_speed() {
        let r = Rect {
            x: 0,
            y: 0,
            width: 1920,
            height: 1080,
        };
        let stride = 1920 * 4;
        let page = |top: u32| -> Vec<u8> {
            (0..1080u32)
                .flat_map(|y| (0..1920u32).flat_map(move |x| line(top + y, x)))
                .collect()
        };
        let (a, b) = (page(0), page(6));
        let t = std::time::Instant::now();
        let (prev, cur) = (
            RectRows::hash(&a, stride, r, (0, 1920)),
            RectRows::hash(&b, stride, r, (0, 1920)),
        );
        println!(
            "row hashes of a 1080p rectangle: {:.3} ms",
            t.elapsed().as_secs_f64() * 500.0
        );
        let t = std::time::Instant::now();
        let mut n = 0;
        for _ in 0..100 {
            let copies = find_copies(&prev, &cur, |_| true);
            for c in &copies {
                n += destination_cells(c, &prev, &cur, 1920, 1920, 2, |_, _| true)
                    .keep
                    .len();
            }
        }
        println!(
            "shift vote, runs and cells of a 1080p scroll: {:.3} ms ({n})",
            t.elapsed().as_secs_f64() * 10.0
        );
    }
}
