//! An in-memory screen for tests: the pipeline reads it through [`Source`] as it reads X11,
//! while the test draws on it through a [`FakeScreen`] handle, resizes it, or breaks it.
//!
//! Drawing is reported as damage (rows of the region touched), reads copy rows of the screen
//! into the frame buffer (rows not read keep what they held, as with MIT-SHM), and nothing
//! blocks: [`Source::wait_for_change`] returns at once.

use std::os::fd::BorrowedFd;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::memory::{copy_region_rows, fit_region};
use super::{CaptureError, Source};
use crate::geometry::{Region, RowSpans};
use crate::scroll::Rect;

/// The screen shared by a [`FakeSource`] and its [`FakeScreen`] handles.
#[derive(Debug)]
struct Screen {
    width: u32,
    height: u32,
    /// BGRX, `width * 4` bytes a row.
    pixels: Vec<u8>,
    /// Rectangles `(x, y, w, h)` of the screen drawn since the source last took its damage.
    drawn: Vec<(u32, u32, u32, u32)>,
    /// The screen changed size and the source has not seen it yet.
    resized: bool,
    /// Reads fail with a lost connection from now on.
    lost: bool,
    /// Rows read so far, for tests that check what was read.
    rows_read: u64,
}

/// What a test draws with; clone it freely.
#[derive(Debug, Clone)]
pub struct FakeScreen(Arc<Mutex<Screen>>);

/// The [`Source`] side of a fake screen.
#[derive(Debug)]
pub struct FakeSource {
    screen: FakeScreen,
    region: Region,
    frame: Vec<u8>,
    damage: bool,
    /// The rectangles the last `take_damage` reported, in region coordinates.
    rects: Vec<Rect>,
}

impl FakeScreen {
    /// A `width` x `height` screen filled with one colour, and a source reading it.
    pub fn new(width: u32, height: u32, bgrx: [u8; 4]) -> (FakeScreen, FakeSource) {
        let screen = FakeScreen(Arc::new(Mutex::new(Screen {
            width,
            height,
            pixels: bgrx.repeat(width as usize * height as usize),
            drawn: Vec::new(),
            resized: false,
            lost: false,
            rows_read: 0,
        })));
        let source = FakeSource {
            screen: screen.clone(),
            region: Region::default(),
            frame: Vec::new(),
            damage: false,
            rects: Vec::new(),
        };
        (screen, source)
    }

    fn lock(&self) -> MutexGuard<'_, Screen> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fills a rectangle (clipped to the screen) and reports it drawn.
    pub fn fill(&self, (x, y, w, h): (u32, u32, u32, u32), bgrx: [u8; 4]) {
        let mut s = self.lock();
        let (x1, y1) = ((x + w).min(s.width), (y + h).min(s.height));
        let stride = s.width as usize * 4;
        for row in y..y1 {
            let line = &mut s.pixels[row as usize * stride..][..stride];
            for px in line[x as usize * 4..x1 as usize * 4].chunks_exact_mut(4) {
                px.copy_from_slice(&bgrx);
            }
        }
        if x < x1 && y < y1 {
            s.drawn.push((x, y, x1 - x, y1 - y));
        }
    }

    /// Paints a rectangle (clipped to the screen) pixel by pixel with `f(x, y)`, and reports it
    /// drawn.
    pub fn paint(&self, (x, y, w, h): (u32, u32, u32, u32), f: impl Fn(u32, u32) -> [u8; 4]) {
        let mut s = self.lock();
        let (x1, y1) = ((x + w).min(s.width), (y + h).min(s.height));
        let stride = s.width as usize * 4;
        for row in y..y1 {
            for col in x..x1 {
                let i = row as usize * stride + col as usize * 4;
                s.pixels[i..i + 4].copy_from_slice(&f(col, row));
            }
        }
        if x < x1 && y < y1 {
            s.drawn.push((x, y, x1 - x, y1 - y));
        }
    }

    /// The whole screen's pixels (BGRX, `width * 4` bytes a row).
    pub fn snapshot(&self) -> Vec<u8> {
        self.lock().pixels.clone()
    }

    /// The pixel at `(x, y)` of the screen.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let s = self.lock();
        let i = (y as usize * s.width as usize + x as usize) * 4;
        s.pixels[i..i + 4].try_into().expect("4 bytes")
    }

    /// Changes the screen's size (new area: black); the source sees it at its next look.
    pub fn resize(&self, width: u32, height: u32) {
        let mut s = self.lock();
        let old = std::mem::take(&mut s.pixels);
        let (ow, oh) = (s.width as usize, s.height as usize);
        let mut pixels = vec![0u8; width as usize * height as usize * 4];
        for row in 0..oh.min(height as usize) {
            let n = ow.min(width as usize) * 4;
            pixels[row * width as usize * 4..][..n].copy_from_slice(&old[row * ow * 4..][..n]);
        }
        (s.width, s.height, s.pixels, s.resized) = (width, height, pixels, true);
        s.drawn.clear();
    }

    /// From now on every read fails as if the display had gone away.
    pub fn lose(&self) {
        self.lock().lost = true;
    }

    /// Rows read by the source so far.
    pub fn rows_read(&self) -> u64 {
        self.lock().rows_read
    }
}

impl FakeSource {
    /// The handle to draw on this source's screen.
    pub fn screen(&self) -> FakeScreen {
        self.screen.clone()
    }
}

fn lost() -> CaptureError {
    CaptureError::Lost("the fake screen was lost".into())
}

impl Source for FakeSource {
    fn name(&self) -> &'static str {
        if self.damage {
            "fake+damage"
        } else {
            "fake"
        }
    }

    fn screen_size(&self) -> (u32, u32) {
        let s = self.screen.lock();
        (s.width, s.height)
    }

    fn region(&self) -> Region {
        self.region
    }

    fn set_region(&mut self, region: Region) -> Result<(), CaptureError> {
        fit_region(region, self.screen_size())?;
        self.region = region;
        self.frame = vec![0; region.width as usize * region.height as usize * 4];
        Ok(())
    }

    fn watch_damage(&mut self) -> bool {
        self.damage = true;
        true
    }

    fn take_damage(&mut self) -> Result<Option<RowSpans>, CaptureError> {
        let mut s = self.screen.lock();
        if s.lost {
            return Err(lost());
        }
        let drawn = std::mem::take(&mut s.drawn);
        if !self.damage {
            return Ok(None);
        }
        let mut rows = RowSpans::default();
        let r = self.region;
        self.rects.clear();
        for (x, y, w, h) in drawn {
            rows.add(
                i64::from(y) - i64::from(r.y),
                i64::from(y + h) - i64::from(r.y),
                r.height,
            );
            let (x0, x1) = (x.max(r.x), (x + w).min(r.x + r.width));
            let (y0, y1) = (y.max(r.y), (y + h).min(r.y + r.height));
            if x0 < x1 && y0 < y1 {
                self.rects.push(Rect {
                    x: x0 - r.x,
                    y: y0 - r.y,
                    width: x1 - x0,
                    height: y1 - y0,
                });
            }
        }
        Ok(Some(rows))
    }

    fn damage_rects(&self) -> Vec<Rect> {
        self.rects.clone()
    }

    fn take_resize(&mut self) -> Option<(u32, u32)> {
        let mut s = self.screen.lock();
        std::mem::take(&mut s.resized).then_some((s.width, s.height))
    }

    fn read_rows(&mut self, rows: &RowSpans) -> Result<(), CaptureError> {
        let mut s = self.screen.lock();
        let r = self.region;
        if s.lost {
            return Err(lost());
        }
        if r.x + r.width > s.width || r.y + r.height > s.height {
            return Err(CaptureError::Lost("the region is off the screen".into()));
        }
        copy_region_rows(&s.pixels, s.width, r, rows, &mut self.frame);
        s.rows_read += rows
            .spans()
            .iter()
            .map(|&(a, b)| u64::from(b - a))
            .sum::<u64>();
        Ok(())
    }

    fn shrank(&mut self) -> bool {
        let s = self.screen.lock();
        s.resized && !s.lost
    }

    fn pixels(&mut self) -> &mut [u8] {
        &mut self.frame
    }

    fn wait_for_change(
        &mut self,
        _until: Instant,
        _pointer: bool,
        _wake: Option<BorrowedFd<'_>>,
        _stop: &dyn Fn() -> bool,
    ) -> Result<bool, CaptureError> {
        Ok(false)
    }
}
