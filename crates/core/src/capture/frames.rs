//! Frames handed in by the application (Electron's offscreen `paint` event, a headless
//! browser's screencast, a program that renders its own pictures): the pipeline reads them
//! through [`Source`] as it reads an X screen.
//!
//! [`FrameFeed::push`] copies the rows a frame changed (its dirty rectangles, or every row)
//! into the feed's screen, converting RGBA to BGRX on the way; the source's reads copy rows of
//! that screen into the frame buffer the pipeline encodes from, as MIT-SHM does for X, so
//! overlays drawn into the frame buffer never reach the screen. Pushes never queue: the screen
//! holds the latest frame, and the rows pushed since the last read are its damage. Memory is
//! two frames, whatever the rate of pushes.

use std::os::fd::BorrowedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::memory::{copy_region_rows, damage_rows, fit_region};
use super::{CaptureError, Source};
use crate::geometry::{Region, RowSpans};

/// Byte order of a pushed frame's pixels, 4 bytes each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelFormat {
    /// B, G, R, then alpha or padding (ignored): Electron's `NativeImage.toBitmap()` and
    /// `getBitmap()` on little-endian hosts, X's and Windows' native order.
    #[default]
    Bgra,
    /// R, G, B, then alpha (ignored): a canvas's `ImageData`.
    Rgba,
}

/// A rectangle of a frame in pixels, `x`, `y` from its top-left corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirtyRect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// One frame as the application hands it in.
#[derive(Debug, Clone, Copy)]
pub struct PushedFrame<'a> {
    pub data: &'a [u8],
    /// Bytes from one row to the next (at least width x 4).
    pub stride: usize,
    pub format: PixelFormat,
    /// The rectangles that changed since the previous push, when the application knows them
    /// (Electron's `paint` event does); `None`: every row may have changed. Rows outside them
    /// are not even copied, so they must really be unchanged.
    pub dirty: Option<&'a [DirtyRect]>,
}

/// Why a frame was refused; the feed is unchanged.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PushError {
    #[error("stride {stride} is less than width x 4 = {min} bytes")]
    Stride { stride: usize, min: usize },
    #[error("data has {got} bytes; a {width}x{height} frame with stride {stride} needs {need}")]
    Size {
        got: usize,
        need: usize,
        width: u32,
        height: u32,
        stride: usize,
    },
    #[error("dirty rectangle {x},{y} {w}x{h} does not lie within the {width}x{height} frame")]
    Dirty {
        x: u32,
        y: u32,
        w: u32,
        h: u32,
        width: u32,
        height: u32,
    },
}

#[derive(Debug)]
struct Screen {
    width: u32,
    height: u32,
    /// BGRX, `width * 4` bytes a row: the latest frame.
    pixels: Vec<u8>,
    /// Rows pushed since the source last took its damage.
    drawn: Vec<(u32, u32)>,
    /// Frames accepted so far.
    pushed: u64,
    /// Frames refused (the consumer was behind).
    refused: u64,
    /// Rows of refused frames: the screen lacks their content, so the next accepted frame
    /// copies them too.
    owed: RowSpans,
}

#[derive(Debug)]
struct Shared {
    screen: Mutex<Screen>,
    pushed: Condvar,
}

/// The application's side of a frames source: push frames here from any thread; clone it
/// freely. Frames are `width` x `height`, fixed when the feed is made.
#[derive(Debug, Clone)]
pub struct FrameFeed(Arc<Shared>);

/// The [`Source`] side of a [`FrameFeed`].
#[derive(Debug)]
pub struct FramesSource {
    feed: FrameFeed,
    region: Region,
    frame: Vec<u8>,
}

impl FrameFeed {
    /// A feed of `width` x `height` frames, black until the first push.
    pub fn new(width: u32, height: u32) -> Self {
        FrameFeed(Arc::new(Shared {
            screen: Mutex::new(Screen {
                width,
                height,
                pixels: vec![0; width as usize * height as usize * 4],
                drawn: Vec::new(),
                pushed: 0,
                refused: 0,
                owed: RowSpans::default(),
            }),
            pushed: Condvar::new(),
        }))
    }

    /// A source that reads this feed (a capture may stop and start again on the same feed).
    pub fn source(&self) -> FramesSource {
        FramesSource {
            feed: self.clone(),
            region: Region::default(),
            frame: Vec::new(),
        }
    }

    /// The frames' size.
    pub fn size(&self) -> (u32, u32) {
        let s = self.lock();
        (s.width, s.height)
    }

    /// Frames accepted and refused so far.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.lock();
        (s.pushed, s.refused)
    }

    fn lock(&self) -> MutexGuard<'_, Screen> {
        self.0.screen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks `frame` and, when `accept`, copies its changed rows into the screen and returns
    /// true. Everything is checked before anything is copied, so an invalid frame changes
    /// nothing. Not accepted (the consumer is behind: copying would be wasted), it is counted
    /// and its rows are owed: the next accepted frame copies them as well.
    pub fn push(&self, frame: PushedFrame<'_>, accept: bool) -> Result<bool, PushError> {
        let (width, height) = self.size();
        let min = width as usize * 4;
        if frame.stride < min {
            return Err(PushError::Stride {
                stride: frame.stride,
                min,
            });
        }
        let need = (height as usize).saturating_sub(1) * frame.stride + min;
        if height > 0 && frame.data.len() < need {
            return Err(PushError::Size {
                got: frame.data.len(),
                need,
                width,
                height,
                stride: frame.stride,
            });
        }
        let mut rows = RowSpans::default();
        match frame.dirty {
            None => rows.add(0, i64::from(height), height),
            Some(rects) => {
                for r in rects {
                    let fits = r.x.checked_add(r.width).is_some_and(|e| e <= width)
                        && r.y.checked_add(r.height).is_some_and(|e| e <= height);
                    if !fits {
                        return Err(PushError::Dirty {
                            x: r.x,
                            y: r.y,
                            w: r.width,
                            h: r.height,
                            width,
                            height,
                        });
                    }
                    // Whole rows: the detector works in rows, and a row is one memcpy.
                    rows.add(i64::from(r.y), i64::from(r.y + r.height), height);
                }
            }
        }
        let mut s = self.lock();
        if !accept {
            s.refused += 1;
            for &(a, b) in rows.spans() {
                s.owed.add(a.into(), b.into(), height);
            }
            return Ok(false);
        }
        for (a, b) in std::mem::take(&mut s.owed).spans().iter().copied() {
            rows.add(a.into(), b.into(), height);
        }
        for &(a, b) in rows.spans() {
            for row in a..b {
                let from = &frame.data[row as usize * frame.stride..][..min];
                let to = &mut s.pixels[row as usize * min..][..min];
                match frame.format {
                    PixelFormat::Bgra => to.copy_from_slice(from),
                    PixelFormat::Rgba => {
                        // Swap R and B of each little-endian u32 (vectorised by the compiler).
                        for (t, f) in to.chunks_exact_mut(4).zip(from.chunks_exact(4)) {
                            let v = u32::from_le_bytes([f[0], f[1], f[2], f[3]]);
                            let bgra = (v & 0xff00_ff00) | (v >> 16 & 0xff) | (v & 0xff) << 16;
                            t.copy_from_slice(&bgra.to_le_bytes());
                        }
                    }
                }
            }
            s.drawn.push((a, b));
        }
        s.pushed += 1;
        drop(s);
        self.0.pushed.notify_all();
        Ok(true)
    }
}

impl Source for FramesSource {
    fn name(&self) -> &'static str {
        "frames"
    }

    fn screen_size(&self) -> (u32, u32) {
        self.feed.size()
    }

    fn region(&self) -> Region {
        self.region
    }

    fn set_region(&mut self, region: Region) -> Result<(), CaptureError> {
        fit_region(region, self.feed.size())?;
        self.region = region;
        self.frame = vec![0; region.width as usize * region.height as usize * 4];
        Ok(())
    }

    fn watch_damage(&mut self) -> bool {
        true
    }

    fn take_damage(&mut self) -> Result<Option<RowSpans>, CaptureError> {
        let drawn = std::mem::take(&mut self.feed.lock().drawn);
        Ok(Some(damage_rows(&drawn, self.region)))
    }

    fn read_rows(&mut self, rows: &RowSpans) -> Result<(), CaptureError> {
        let s = self.feed.lock();
        copy_region_rows(&s.pixels, s.width, self.region, rows, &mut self.frame);
        Ok(())
    }

    fn pixels(&mut self) -> &mut [u8] {
        &mut self.frame
    }

    /// Waits for a push that touches the region, in slices of 20 ms to notice `stop()` (the
    /// pushing thread cannot write to the capture's wake descriptor).
    fn wait_for_change(
        &mut self,
        until: Instant,
        _pointer: bool,
        _wake: Option<BorrowedFd<'_>>,
        stop: &dyn Fn() -> bool,
    ) -> Result<bool, CaptureError> {
        let shared = &self.feed.0;
        let mut s = self.feed.lock();
        loop {
            if !damage_rows(&s.drawn, self.region).is_empty() {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= until || stop() {
                return Ok(false);
            }
            let slice = (until - now).min(Duration::from_millis(20));
            s = shared
                .pushed
                .wait_timeout(s, slice)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 8;
    const H: u32 = 6;

    /// A frame whose pixel (x, y) is [x, y, seed, 255] in `format` order, `pad` bytes of
    /// padding after each row.
    fn frame(seed: u8, format: PixelFormat, pad: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for y in 0..H {
            for x in 0..W {
                let (b, g, r) = (x as u8, y as u8, seed);
                v.extend_from_slice(&match format {
                    PixelFormat::Bgra => [b, g, r, 255],
                    PixelFormat::Rgba => [r, g, b, 255],
                });
            }
            v.extend(std::iter::repeat_n(0xee, pad));
        }
        v
    }

    fn push(feed: &FrameFeed, data: &[u8], dirty: Option<&[DirtyRect]>) -> Result<bool, PushError> {
        feed.push(
            PushedFrame {
                data,
                stride: W as usize * 4,
                format: PixelFormat::Bgra,
                dirty,
            },
            true,
        )
    }

    /// The whole region read through the source, as the pipeline would after `take_damage`.
    fn read(source: &mut FramesSource) -> (Vec<(u32, u32)>, Vec<u8>) {
        let damage = source.take_damage().unwrap().unwrap();
        source.read_rows(&damage).unwrap();
        (damage.spans().to_vec(), source.pixels().to_vec())
    }

    fn whole() -> Region {
        Region {
            x: 0,
            y: 0,
            width: W,
            height: H,
        }
    }

    #[test]
    fn a_pushed_frame_is_read_as_bgrx_whatever_its_order_and_padding() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        source.set_region(whole()).unwrap();
        let want = frame(7, PixelFormat::Bgra, 0);
        for (format, pad) in [(PixelFormat::Bgra, 0), (PixelFormat::Rgba, 12)] {
            let data = frame(7, format, pad);
            let frame = PushedFrame {
                data: &data,
                stride: W as usize * 4 + pad,
                format,
                dirty: None,
            };
            assert_eq!(feed.push(frame, true), Ok(true));
            assert_eq!(
                read(&mut source),
                (vec![(0, H)], want.clone()),
                "{format:?}"
            );
        }
        assert_eq!(feed.counts(), (2, 0));
        assert_eq!(source.name(), "frames");
    }

    #[test]
    fn only_dirty_rows_are_copied_and_reported() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        source.set_region(whole()).unwrap();
        push(&feed, &frame(1, PixelFormat::Bgra, 0), None).unwrap();
        read(&mut source);
        // Every pixel differs, but the application says only rows 2..4 changed: the rest is
        // neither copied nor reported.
        let rect = DirtyRect {
            x: 3,
            y: 2,
            width: 2,
            height: 2,
        };
        push(&feed, &frame(2, PixelFormat::Bgra, 0), Some(&[rect])).unwrap();
        let (damage, pixels) = read(&mut source);
        assert_eq!(damage, [(2, 4)]);
        let row = W as usize * 4;
        assert_eq!(pixels[..2 * row], frame(1, PixelFormat::Bgra, 0)[..2 * row]);
        assert_eq!(
            pixels[2 * row..4 * row],
            frame(2, PixelFormat::Bgra, 0)[2 * row..4 * row]
        );
        // Nothing pushed since: no damage. An empty dirty list is a push that changed nothing.
        assert_eq!(read(&mut source).0, []);
        push(&feed, &frame(3, PixelFormat::Bgra, 0), Some(&[])).unwrap();
        assert_eq!(read(&mut source).0, []);
    }

    #[test]
    fn a_sub_region_sees_only_its_rows() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        let region = Region {
            x: 2,
            y: 3,
            width: 4,
            height: 2,
        };
        source.set_region(region).unwrap();
        push(&feed, &frame(5, PixelFormat::Bgra, 0), None).unwrap();
        let (damage, pixels) = read(&mut source);
        assert_eq!(damage, [(0, 2)]);
        // Pixel (0, 0) of the region is (2, 3) of the frame.
        assert_eq!(pixels[..4], [2, 3, 5, 255]);
        let outside = DirtyRect {
            x: 0,
            y: 0,
            width: W,
            height: 3,
        };
        push(&feed, &frame(6, PixelFormat::Bgra, 0), Some(&[outside])).unwrap();
        assert_eq!(read(&mut source).0, [], "rows above the region");
        assert!(source.set_region(Region { x: 6, ..region }).is_err());
    }

    #[test]
    fn a_bad_frame_is_refused_whole_and_changes_nothing() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        source.set_region(whole()).unwrap();
        let good = frame(1, PixelFormat::Bgra, 0);
        let narrow = PushedFrame {
            data: &good,
            stride: 4,
            format: PixelFormat::Bgra,
            dirty: None,
        };
        let too_narrow = feed.push(narrow, true);
        assert_eq!(too_narrow, Err(PushError::Stride { stride: 4, min: 32 }));
        assert_eq!(
            push(&feed, &good[..good.len() - 1], None)
                .unwrap_err()
                .to_string(),
            "data has 191 bytes; a 8x6 frame with stride 32 needs 192"
        );
        let past = DirtyRect {
            x: 0,
            y: 5,
            width: 1,
            height: 2,
        };
        let fine = DirtyRect { y: 0, ..past };
        assert!(matches!(
            push(&feed, &good, Some(&[fine, past])),
            Err(PushError::Dirty { y: 5, h: 2, .. })
        ));
        assert_eq!(feed.counts(), (0, 0));
        assert_eq!(read(&mut source).0, []);
    }

    #[test]
    fn a_frame_refused_while_the_consumer_is_behind_is_owed_to_the_next() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        source.set_region(whole()).unwrap();
        push(&feed, &frame(1, PixelFormat::Bgra, 0), None).unwrap();
        read(&mut source);
        let rows = |y, height| DirtyRect {
            x: 0,
            y,
            width: W,
            height,
        };
        let refused = PushedFrame {
            data: &frame(2, PixelFormat::Bgra, 0),
            stride: W as usize * 4,
            format: PixelFormat::Bgra,
            dirty: Some(&[rows(1, 1)]),
        };
        assert_eq!(feed.push(refused, false), Ok(false));
        assert_eq!(read(&mut source).0, [], "a refused frame is not copied");
        // The next frame changed row 4 only, but row 1 of the refused one goes out with it.
        let next = frame(3, PixelFormat::Bgra, 0);
        assert_eq!(push(&feed, &next, Some(&[rows(4, 1)])), Ok(true));
        let (damage, pixels) = read(&mut source);
        assert_eq!(damage, [(1, 2), (4, 5)]);
        let row = W as usize * 4;
        assert_eq!(pixels[row..2 * row], next[row..2 * row]);
        assert_eq!(feed.counts(), (2, 1));
    }

    #[test]
    fn a_push_from_another_thread_wakes_the_wait() {
        let feed = FrameFeed::new(W, H);
        let mut source = feed.source();
        source.set_region(whole()).unwrap();
        let soon = Instant::now() + Duration::from_millis(30);
        assert!(!source
            .wait_for_change(soon, false, None, &|| false)
            .unwrap());
        let pusher = feed.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            push(&pusher, &frame(1, PixelFormat::Bgra, 0), None).unwrap();
        });
        let later = Instant::now() + Duration::from_secs(10);
        assert!(source
            .wait_for_change(later, false, None, &|| false)
            .unwrap());
        t.join().unwrap();
        // stop() ends a wait at once.
        read(&mut source);
        let started = Instant::now();
        assert!(!source
            .wait_for_change(later, false, None, &|| true)
            .unwrap());
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
