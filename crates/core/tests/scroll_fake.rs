//! Scroll copies through the whole pipeline, driven frame by frame through `FakeSource`: after
//! every frame, a viewer that applies the deliveries in order (copies, then JPEG bands and
//! tiles) must show the screen. Two viewers: one paints each JPEG's area with the exact pixels
//! the screen had when that frame was captured (so any misplaced or missing row is an exact
//! mismatch), the other decodes the JPEGs (lossy: compared within a tolerance that a row out
//! of place on this content exceeds by far).

use std::sync::Mutex;

use stripecast_core::capture::fake::FakeScreen;
use stripecast_core::geometry::Region;
use stripecast_core::pipeline::{Controls, Delivery, Pipeline, PipelineError, Sink};
use stripecast_core::settings::CaptureOptions;
use stripecast_core::wire::{Header, PayloadKind};
use turbojpeg::{Decompressor, Image, PixelFormat};

const W: u32 = 512;
const H: u32 = 256;

#[derive(Default)]
struct Collect {
    deliveries: Mutex<Vec<Delivery>>,
    errors: Mutex<Vec<String>>,
}

impl Sink for Collect {
    fn deliver(&self, d: Delivery) -> bool {
        self.deliveries.lock().unwrap().push(d);
        true
    }
    fn in_flight(&self) -> usize {
        0
    }
    fn error(&self, e: PipelineError) {
        self.errors.lock().unwrap().push(e.to_string());
    }
}

/// A line of "text": 16 rows, dark blocks (glyphs) on a light ground, different per line `n`;
/// row `r` of it. Lines whose number is a multiple of 7 are blank.
fn text(n: u32, r: u32, x: u32) -> [u8; 4] {
    let glyph = (x / 8)
        .wrapping_mul(2_654_435_761)
        .wrapping_add(n.wrapping_mul(40_503))
        >> 29;
    let ink = !n.is_multiple_of(7) && (2..13).contains(&r) && x % 8 < 6 && glyph < 5;
    if ink {
        // Nearly grey ink (4:2:0 in motion keeps it), a shade per line and row.
        let v = (n * 37 % 100) as u8 + (r * 3) as u8;
        [v, v, v + 24, 0]
    } else {
        [235, 235, 230, 0]
    }
}

/// The desktop behind: a gradient, not blank.
fn desktop(x: u32, y: u32) -> [u8; 4] {
    [(x / 2) as u8, (y / 2) as u8, 120, 0]
}

/// Paints `rect` with page rows `top..` of a page whose rows come from `line_of(row)`.
fn page(screen: &FakeScreen, rect: (u32, u32, u32, u32), top: u32, line_of: fn(u32) -> u32) {
    screen.paint(rect, |x, y| {
        let row = top + y - rect.1;
        text(line_of(row), row % 16, x - rect.0)
    });
}

fn lines(row: u32) -> u32 {
    row / 16
}

/// Every line the same (and blank lines between): nothing unique to vote with.
fn same_lines(row: u32) -> u32 {
    if (row / 16).is_multiple_of(2) {
        1
    } else {
        7
    }
}

struct Viewers {
    /// Painted with the screen's exact pixels of each delivery's frame.
    exact: Vec<u8>,
    decoded: Vec<u8>,
    copies: usize,
    jpeg_bytes: usize,
}

impl Viewers {
    fn new() -> Self {
        Self {
            exact: vec![0; (W * H * 4) as usize],
            decoded: vec![0; (W * H * 4) as usize],
            copies: 0,
            jpeg_bytes: 0,
        }
    }

    /// Applies one frame's deliveries, in order; `screen` is what was captured.
    fn apply(&mut self, ds: &[Delivery], screen: &[u8]) {
        let stride = (W * 4) as usize;
        for d in ds {
            let (header, offset) = Header::parse(&d.data).expect("a header");
            if let Header::Copy {
                x,
                y,
                width,
                height,
                to_x,
                to_y,
                ..
            } = header
            {
                assert_eq!(d.kind, PayloadKind::Copy);
                assert_eq!(x, to_x, "copies keep their columns");
                self.copies += 1;
                for v in [&mut self.exact, &mut self.decoded] {
                    let rows: Vec<u32> = if to_y > y {
                        (0..u32::from(height)).rev().collect()
                    } else {
                        (0..u32::from(height)).collect()
                    };
                    for r in rows {
                        let from = (u32::from(y) + r) as usize * stride + usize::from(x) * 4;
                        let to = (u32::from(to_y) + r) as usize * stride + usize::from(x) * 4;
                        v.copy_within(from..from + usize::from(width) * 4, to);
                    }
                }
                continue;
            }
            assert_eq!(d.kind, PayloadKind::Jpeg);
            self.jpeg_bytes += d.data.len();
            let (x0, y0) = (d.x as usize, d.stripe_y as usize);
            let (w, h) = (d.width as usize, d.stripe_height as usize);
            for r in y0..y0 + h {
                let span = r * stride + x0 * 4..r * stride + (x0 + w) * 4;
                self.exact[span.clone()].copy_from_slice(&screen[span]);
            }
            let jpeg = &d.data[offset..];
            let mut dec = Decompressor::new().unwrap();
            let info = dec.read_header(jpeg).unwrap();
            assert_eq!((info.width, info.height), (w, h));
            let mut img = Image {
                pixels: vec![0u8; w * h * 4],
                width: w,
                pitch: w * 4,
                height: h,
                format: PixelFormat::BGRX,
            };
            dec.decompress(jpeg, img.as_deref_mut()).unwrap();
            for r in 0..h {
                let to = (y0 + r) * stride + x0 * 4;
                self.decoded[to..to + w * 4].copy_from_slice(&img.pixels[r * w * 4..][..w * 4]);
            }
        }
    }

    /// Asserts the viewers show `screen`: exactly, and decoded within JPEG's error.
    fn check(&self, screen: &[u8], what: &str) {
        let stride = (W * 4) as usize;
        for y in 0..H as usize {
            let row = y * stride..(y + 1) * stride;
            assert!(
                self.exact[row.clone()] == screen[row.clone()],
                "{what}: row {y} of the viewer is not the screen's"
            );
            // Per row: mean absolute error over B, G, R.
            let (mut sum, mut n) = (0u64, 0u64);
            for (a, b) in self.decoded[row.clone()]
                .chunks(4)
                .zip(screen[row].chunks(4))
            {
                for c in 0..3 {
                    sum += u64::from(a[c].abs_diff(b[c]));
                    n += 1;
                }
            }
            let mean = sum as f64 / n as f64;
            assert!(
                mean < 12.0,
                "{what}: decoded row {y} is off by {mean:.1} on average"
            );
        }
    }
}

fn pipeline(extra: impl FnOnce(&mut CaptureOptions)) -> (Pipeline, FakeScreen, Controls) {
    let (screen, source) = FakeScreen::new(W, H, [0, 0, 0, 0]);
    let mut o = CaptureOptions {
        output_mode: Some(0),
        capture_cursor: Some(false),
        scroll_copies: Some(true),
        stripe_height: Some(64),
        paint_over_trigger_frames: Some(3),
        jpeg_quality: Some(95),
        paint_over_jpeg_quality: Some(98),
        ..CaptureOptions::default()
    };
    extra(&mut o);
    let region = Region {
        x: 0,
        y: 0,
        width: W,
        height: H,
    };
    let p = Pipeline::new(o.validate().unwrap(), Box::new(source), region).unwrap();
    let controls = p.controls();
    (p, screen, controls)
}

/// Runs `frames` frames: `draw(screen, i)` before each; checks the viewers after each.
fn run(
    extra: impl FnOnce(&mut CaptureOptions),
    frames: u32,
    draw: impl Fn(&FakeScreen, u32),
) -> Viewers {
    let (mut p, screen, c) = pipeline(extra);
    let sink = Collect::default();
    let mut v = Viewers::new();
    screen.paint((0, 0, W, H), desktop);
    for i in 0..frames {
        draw(&screen, i);
        let shot = screen.snapshot();
        p.step(&c, &sink).expect("frame");
        let ds = std::mem::take(&mut *sink.deliveries.lock().unwrap());
        v.apply(&ds, &shot);
        v.check(&shot, &format!("frame {i}"));
    }
    assert!(sink.errors.lock().unwrap().is_empty());
    v
}

/// Scroll offsets: moving 4..12 rows a frame for 30 frames (down the page, then up),
/// then still.
fn offset(i: u32) -> u32 {
    let speeds = [4, 7, 12, 5, 9, 6];
    let mut top = 40;
    for f in 0..i.min(30) {
        let d = speeds[f as usize % speeds.len()];
        if f < 20 {
            top += d;
        } else {
            top -= d;
        }
    }
    top
}

#[test]
fn a_full_width_scroll_is_sent_as_copies_and_the_viewer_keeps_up() {
    for tiles in [false, true] {
        for subsampling in ["auto", "444"] {
            let v = run(
                |o| {
                    o.jpeg_tiles = Some(tiles);
                    o.jpeg_subsampling = Some(subsampling.into());
                },
                40,
                |s, i| page(s, (0, 0, W, H), offset(i), lines),
            );
            assert!(v.copies >= 25, "tiles {tiles}: {} copies", v.copies);
        }
    }
}

#[test]
fn a_window_scrolling_in_a_desktop_and_two_panes_with_a_caret() {
    for tiles in [false, true] {
        let v = run(
            |o| o.jpeg_tiles = Some(tiles),
            40,
            |s, i| {
                // A window at x 100 (not on a cell edge), and a pane beside it scrolling the
                // other way.
                page(s, (100, 30, 250, 200), offset(i), lines);
                page(s, (380, 20, 100, 220), 400 - offset(i), lines);
                // A caret blinking inside the window.
                let c = if i % 3 == 0 {
                    [0, 0, 255, 0]
                } else {
                    [235, 235, 230, 0]
                };
                s.fill((150, 100, 2, 14), c);
                // Something else changing on the desktop, beside the window's rows.
                s.fill((10, 60 + i % 50, 20, 4), [i as u8 * 5, 9, 9, 0]);
            },
        );
        assert!(v.copies >= 40, "tiles {tiles}: {} copies", v.copies);
    }
}

#[test]
fn repetitive_content_still_reassembles_exactly() {
    let v = run(
        |_| {},
        30,
        |s, i| page(s, (0, 0, W, H), offset(i), same_lines),
    );
    // Nothing unique to vote with: no copies (each moved row is simply sent again).
    assert_eq!(v.copies, 0);
    // A page of identical lines with one distinct line.
    fn one_distinct(row: u32) -> u32 {
        if row / 16 == 9 {
            3
        } else {
            same_lines(row)
        }
    }
    run(
        |_| {},
        30,
        |s, i| page(s, (0, 0, W, H), offset(i), one_distinct),
    );
}

#[test]
fn copies_save_most_of_the_bytes_of_a_scroll() {
    let bytes = |on: bool| {
        run(
            |o| o.scroll_copies = Some(on),
            30,
            |s, i| page(s, (0, 0, W, H), offset(i), lines),
        )
        .jpeg_bytes
    };
    let (with, without) = (bytes(true), bytes(false));
    assert!(
        with * 3 < without,
        "with copies {with} bytes, without {without}"
    );
}

#[test]
fn a_frame_with_nothing_drawn_does_not_break_the_scroll() {
    // The scrolling application misses every third tick: the frame after each still one must
    // still find its copy (against the last frame that read anything) and send only the rows
    // the scroll exposed, not the whole moved page again.
    let (mut p, screen, c) = pipeline(|o| o.jpeg_tiles = Some(true));
    let sink = Collect::default();
    let mut v = Viewers::new();
    screen.paint((0, 0, W, H), desktop);
    let mut top = 40;
    let mut after_still = 0;
    for i in 0..30u32 {
        let still = i % 3 == 2;
        if !still {
            top += 6;
            page(&screen, (0, 0, W, H), top, lines);
        }
        let shot = screen.snapshot();
        p.step(&c, &sink).expect("frame");
        let ds = std::mem::take(&mut *sink.deliveries.lock().unwrap());
        v.apply(&ds, &shot);
        v.check(&shot, &format!("frame {i}"));
        if still {
            assert!(
                ds.is_empty(),
                "frame {i} drew nothing: {} deliveries",
                ds.len()
            );
        } else if i > 2 && (i - 1) % 3 == 2 {
            after_still += 1;
            assert!(
                ds.iter().any(|d| d.kind == PayloadKind::Copy),
                "frame {i}, after a still one, has no copy"
            );
            let jpeg_rows: u32 = ds
                .iter()
                .filter(|d| d.kind == PayloadKind::Jpeg)
                .map(|d| d.stripe_height)
                .sum();
            assert!(jpeg_rows <= 48, "frame {i} re-sent {jpeg_rows} rows");
        }
    }
    assert_eq!(after_still, 9);
    assert!(sink.errors.lock().unwrap().is_empty());
}
