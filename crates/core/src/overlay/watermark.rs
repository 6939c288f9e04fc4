//! The PNG watermark (`watermarkPath` / `watermarkLocationEnum`): loading, placement and
//! compositing over BGRX pixels. Pure apart from [`Watermark::load`] reading one file: no X, no
//! threads, no clocks (the caller passes the elapsed time for the animated placement).
//!
//! Pixels are kept as **straight (non-premultiplied) 8-bit RGBA**, exactly as the PNG describes
//! them, and blended with `dst' = (src * a + dst * (255 - a) + 127) / 255` per channel.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::settings::{WatermarkLocation, MAX_WATERMARK_SIDE};

/// Gap in pixels between a corner-pinned watermark and the two edges it is pinned to. It shrinks
/// (down to 0) when the region is too small to keep it on both sides of the watermark.
pub const CORNER_MARGIN: u32 = 10;

/// Speed of the animated (bouncing) watermark along each axis, in pixels per second.
pub const BOUNCE_SPEED_PX_PER_S: u64 = 120;

/// Bytes the PNG decoder may allocate for its own bookkeeping (row buffers, palette, ancillary
/// chunks). The decoded image itself is bounded separately by [`MAX_WATERMARK_SIDE`].
pub const DECODER_MEMORY_LIMIT: usize = 16 * 1024 * 1024;

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Why a watermark could not be loaded. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum WatermarkError {
    #[error("watermarkPath: {}: file not found", .path.display())]
    NotFound { path: PathBuf },
    #[error("watermarkPath: {}: is a directory, not a PNG file", .path.display())]
    IsDirectory { path: PathBuf },
    #[error("watermarkPath: {}: not a regular file", .path.display())]
    NotRegularFile { path: PathBuf },
    #[error("watermarkPath: {}: cannot read: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("watermarkPath: {}: not a PNG file (bad signature)", .path.display())]
    NotPng { path: PathBuf },
    #[error(
        "watermarkPath: {}: {width}x{height} is too large (at most {max}x{max} pixels)",
        .path.display(),
        max = MAX_WATERMARK_SIDE
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error("watermarkPath: {}: PNG data is truncated", .path.display())]
    Truncated { path: PathBuf },
    #[error("watermarkPath: {}: corrupt PNG: {detail}", .path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// A decoded watermark: `width * height` straight-alpha RGBA pixels, row-major.
#[derive(Clone, PartialEq, Eq)]
pub struct Watermark {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

impl std::fmt::Debug for Watermark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watermark")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish_non_exhaustive()
    }
}

impl Watermark {
    /// Reads and decodes a PNG of any colour type and bit depth (grey, grey+alpha, RGB, RGBA,
    /// palette with or without `tRNS`, 1..16 bits, interlaced or not) into 8-bit RGBA. The
    /// declared size is checked against [`MAX_WATERMARK_SIDE`] before the pixel buffer is
    /// allocated. Never panics, whatever the file holds.
    pub fn load(path: &Path) -> Result<Watermark, WatermarkError> {
        let owned = || path.to_path_buf();
        let io_err = |source: io::Error| match source.kind() {
            io::ErrorKind::NotFound => WatermarkError::NotFound { path: owned() },
            _ => WatermarkError::Io {
                path: owned(),
                source,
            },
        };
        // Check the kind before opening: opening a FIFO would block.
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            return Err(WatermarkError::IsDirectory { path: owned() });
        }
        if !meta.is_file() {
            return Err(WatermarkError::NotRegularFile { path: owned() });
        }
        let mut file = File::open(path).map_err(io_err)?;

        let mut signature = [0u8; 8];
        let mut got = 0;
        while got < signature.len() {
            match file.read(&mut signature[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        if got < signature.len() || signature != PNG_SIGNATURE {
            return Err(WatermarkError::NotPng { path: owned() });
        }
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;

        let decode_err = |e: png::DecodingError| match e {
            png::DecodingError::IoError(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                WatermarkError::Truncated { path: owned() }
            }
            png::DecodingError::IoError(e) => io_err(e),
            png::DecodingError::LimitsExceeded => WatermarkError::Corrupt {
                path: owned(),
                detail: format!(
                    "decoding needs more than {} MiB of working memory",
                    DECODER_MEMORY_LIMIT >> 20
                ),
            },
            other => WatermarkError::Corrupt {
                path: owned(),
                detail: other.to_string(),
            },
        };

        let mut decoder = png::Decoder::new_with_limits(
            BufReader::new(file),
            png::Limits {
                bytes: DECODER_MEMORY_LIMIT,
            },
        );
        decoder.set_ignore_text_chunk(true);
        decoder.set_ignore_iccp_chunk(true);
        decoder.set_transformations(png::Transformations::normalize_to_color8());

        // IHDR only: refuse oversized images before anything sized by them is allocated.
        let (width, height) = decoder.read_header_info().map_err(decode_err)?.size();
        if width > MAX_WATERMARK_SIDE || height > MAX_WATERMARK_SIDE {
            return Err(WatermarkError::TooLarge {
                path: owned(),
                width,
                height,
            });
        }
        if width == 0 || height == 0 {
            return Err(WatermarkError::Corrupt {
                path: owned(),
                detail: format!("empty image ({width}x{height})"),
            });
        }

        let mut reader = decoder.read_info().map_err(decode_err)?;
        let (color, depth) = reader.output_color_type();
        let channels = match color {
            png::ColorType::Grayscale => 1,
            png::ColorType::GrayscaleAlpha => 2,
            png::ColorType::Rgb => 3,
            png::ColorType::Rgba => 4,
            png::ColorType::Indexed => 0,
        };
        let pixels = width as usize * height as usize;
        let decoded_len = reader.output_buffer_size();
        if depth != png::BitDepth::Eight || channels == 0 || decoded_len != Some(pixels * channels)
        {
            return Err(WatermarkError::Corrupt {
                path: owned(),
                detail: format!("unsupported decoded layout {color:?}/{depth:?}"),
            });
        }

        // One buffer: decode into its front, then widen to RGBA in place, back to front.
        let mut rgba = vec![0u8; pixels * 4];
        reader.next_frame(&mut rgba).map_err(decode_err)?;
        expand_to_rgba(&mut rgba, channels);
        Ok(Watermark {
            width,
            height,
            rgba,
        })
    }

    /// A watermark from straight-alpha RGBA pixels (`width * height * 4` bytes). `None` when the
    /// length does not match or a side is 0 or over [`MAX_WATERMARK_SIDE`].
    pub fn from_rgba(width: u32, height: u32, rgba: Vec<u8>) -> Option<Watermark> {
        let ok_side = |s: u32| (1..=MAX_WATERMARK_SIDE).contains(&s);
        (ok_side(width) && ok_side(height) && rgba.len() == width as usize * height as usize * 4)
            .then_some(Watermark {
                width,
                height,
                rgba,
            })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Straight (non-premultiplied) RGBA, row-major, `width * 4` bytes per row.
    pub fn rgba(&self) -> &[u8] {
        &self.rgba
    }

    /// Top-left corner of the watermark in region coordinates, or `None` for
    /// [`WatermarkLocation::None`].
    ///
    /// * Corners keep [`CORNER_MARGIN`] pixels from both edges (less when the region is too
    ///   small). A watermark larger than the region stays anchored to the corner's edges and is
    ///   clipped on the far side.
    /// * `Middle` centres it (rounding down).
    /// * `Animated` bounces like the DVD screensaver: it starts at the top-left (no margin) and
    ///   moves diagonally at [`BOUNCE_SPEED_PX_PER_S`] on each axis, reflecting off the region
    ///   edges. The position is a pure function of `elapsed` (independent of frame rate); an axis
    ///   on which the watermark does not fit stays at 0.
    pub fn position(
        &self,
        location: WatermarkLocation,
        region_w: u32,
        region_h: u32,
        elapsed: Duration,
    ) -> Option<(i32, i32)> {
        let free_x = i64::from(region_w) - i64::from(self.width);
        let free_y = i64::from(region_h) - i64::from(self.height);
        let (x, y) = match location {
            WatermarkLocation::None => return None,
            WatermarkLocation::TopLeft => (pinned(free_x, false), pinned(free_y, false)),
            WatermarkLocation::TopRight => (pinned(free_x, true), pinned(free_y, false)),
            WatermarkLocation::BottomLeft => (pinned(free_x, false), pinned(free_y, true)),
            WatermarkLocation::BottomRight => (pinned(free_x, true), pinned(free_y, true)),
            WatermarkLocation::Middle => (free_x.div_euclid(2), free_y.div_euclid(2)),
            WatermarkLocation::Animated => {
                let travelled =
                    elapsed.as_nanos() * u128::from(BOUNCE_SPEED_PX_PER_S) / 1_000_000_000;
                (bounce(travelled, free_x), bounce(travelled, free_y))
            }
        };
        // Both sides are at most u32::MAX and MAX_WATERMARK_SIDE apart, so these fit in practice;
        // clamp rather than wrap if they ever do not.
        let clamp = |v: i64| v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
        Some((clamp(x), clamp(y)))
    }

    /// Alpha-blends the watermark with its top-left at (`x`, `y`) onto `frame`, the BGRX pixels of
    /// a `region_w` x `region_h` region (`stride` bytes per row), clipped to the region (and to
    /// `frame`, should it be shorter). Returns the rows touched (`start..end`), if any.
    pub fn blend(
        &self,
        frame: &mut [u8],
        stride: usize,
        region_w: u32,
        region_h: u32,
        x: i32,
        y: i32,
    ) -> Option<(u32, u32)> {
        // Never index past a row or the frame, whatever the caller passes.
        let region_w = region_w.min(u32::try_from(stride / 4).unwrap_or(u32::MAX));
        let row_bytes = region_w as usize * 4;
        let rows_in_frame = match frame.len().checked_sub(row_bytes) {
            Some(rest) if stride > 0 => rest / stride + 1,
            _ => 0,
        };
        let region_h = region_h.min(u32::try_from(rows_in_frame).unwrap_or(u32::MAX));

        let (x, y) = (i64::from(x), i64::from(y));
        let left = x.max(0);
        let top = y.max(0);
        let right = (x + i64::from(self.width)).min(i64::from(region_w));
        let bottom = (y + i64::from(self.height)).min(i64::from(region_h));
        if left >= right || top >= bottom {
            return None;
        }
        let wm_stride = self.width as usize * 4;
        let cols = (right - left) as usize;
        for fy in top..bottom {
            let src_row = (fy - y) as usize * wm_stride + (left - x) as usize * 4;
            let src = &self.rgba[src_row..src_row + cols * 4];
            let dst_row = fy as usize * stride + left as usize * 4;
            let dst = &mut frame[dst_row..dst_row + cols * 4];
            for (s, d) in src.chunks_exact(4).zip(dst.chunks_exact_mut(4)) {
                match s[3] {
                    0 => {}
                    255 => {
                        d[0] = s[2];
                        d[1] = s[1];
                        d[2] = s[0];
                    }
                    a => {
                        d[0] = over_straight(s[2], d[0], a);
                        d[1] = over_straight(s[1], d[1], a);
                        d[2] = over_straight(s[0], d[2], a);
                    }
                }
            }
        }
        Some((top as u32, bottom as u32))
    }
}

/// `(src * a + dst * (255 - a)) / 255` for one straight-alpha channel, rounded to nearest.
#[inline]
fn over_straight(src: u8, dst: u8, alpha: u8) -> u8 {
    let a = u32::from(alpha);
    ((u32::from(src) * a + u32::from(dst) * (255 - a) + 127) / 255) as u8
}

/// Offset along one axis of a corner-pinned watermark; `free` = region side - watermark side.
fn pinned(free: i64, far_edge: bool) -> i64 {
    if free < 0 {
        return if far_edge { free } else { 0 };
    }
    let margin = i64::from(CORNER_MARGIN).min(free / 2);
    if far_edge {
        free - margin
    } else {
        margin
    }
}

/// Triangle wave: `travelled` pixels of motion folded into `0..=free`, reflecting at both ends.
fn bounce(travelled: u128, free: i64) -> i64 {
    if free <= 0 {
        return 0;
    }
    let free = free as u128;
    let phase = travelled % (2 * free);
    (if phase <= free {
        phase
    } else {
        2 * free - phase
    }) as i64
}

/// Widens `buf[..pixels * channels]` (grey, grey+alpha, RGB or RGBA, 8-bit) to RGBA in place.
/// Works back to front, so no source byte is overwritten before it is read.
fn expand_to_rgba(buf: &mut [u8], channels: usize) {
    let pixels = buf.len() / 4;
    for i in (0..pixels).rev() {
        let s = i * channels;
        let px = match channels {
            1 => [buf[s], buf[s], buf[s], 255],
            2 => [buf[s], buf[s], buf[s], buf[s + 1]],
            3 => [buf[s], buf[s + 1], buf[s + 2], 255],
            _ => return,
        };
        buf[i * 4..i * 4 + 4].copy_from_slice(&px);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Instant;

    /// A fresh, empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            static N: AtomicU32 = AtomicU32::new(0);
            let dir = std::env::temp_dir().join(format!(
                "stripecast-watermark-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
            let p = self.0.join(name);
            std::fs::write(&p, bytes).unwrap();
            p
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn encode(
        w: u32,
        h: u32,
        color: png::ColorType,
        depth: png::BitDepth,
        palette: Option<(&[u8], Option<&[u8]>)>,
        data: &[u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut enc = png::Encoder::new(&mut out, w, h);
            enc.set_color(color);
            enc.set_depth(depth);
            if let Some((plte, trns)) = palette {
                enc.set_palette(plte.to_vec());
                if let Some(t) = trns {
                    enc.set_trns(t.to_vec());
                }
            }
            let mut writer = enc.write_header().unwrap();
            writer.write_image_data(data).unwrap();
            writer.finish().unwrap();
        }
        out
    }

    fn load_bytes(bytes: &[u8]) -> Result<Watermark, WatermarkError> {
        let dir = TempDir::new();
        Watermark::load(&dir.file("wm.png", bytes))
    }

    fn px(wm: &Watermark, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * wm.width() + x) * 4) as usize;
        wm.rgba()[i..i + 4].try_into().unwrap()
    }

    // --- loading every colour type -------------------------------------------------------------

    #[test]
    fn loads_rgb8() {
        let data = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30];
        let png = encode(2, 2, png::ColorType::Rgb, png::BitDepth::Eight, None, &data);
        let wm = load_bytes(&png).unwrap();
        assert_eq!((wm.width(), wm.height()), (2, 2));
        assert_eq!(px(&wm, 0, 0), [255, 0, 0, 255]);
        assert_eq!(px(&wm, 1, 0), [0, 255, 0, 255]);
        assert_eq!(px(&wm, 0, 1), [0, 0, 255, 255]);
        assert_eq!(px(&wm, 1, 1), [10, 20, 30, 255]);
    }

    #[test]
    fn loads_rgba8() {
        let data = [1, 2, 3, 4, 5, 6, 7, 0, 9, 10, 11, 128, 12, 13, 14, 255];
        let png = encode(
            2,
            2,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            None,
            &data,
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(wm.rgba(), &data);
    }

    #[test]
    fn loads_grey8() {
        let png = encode(
            3,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Eight,
            None,
            &[0, 77, 255],
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(
            wm.rgba(),
            &[0, 0, 0, 255, 77, 77, 77, 255, 255, 255, 255, 255]
        );
    }

    #[test]
    fn loads_grey_alpha8() {
        let png = encode(
            2,
            1,
            png::ColorType::GrayscaleAlpha,
            png::BitDepth::Eight,
            None,
            &[200, 0, 50, 128],
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(wm.rgba(), &[200, 200, 200, 0, 50, 50, 50, 128]);
    }

    #[test]
    fn loads_palette_with_and_without_trns() {
        let plte = [255, 0, 0, 0, 255, 0, 0, 0, 255];
        let trns = [0, 128]; // entry 2 has no tRNS value: opaque
        let with = encode(
            3,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Eight,
            Some((&plte, Some(&trns))),
            &[0, 1, 2],
        );
        let wm = load_bytes(&with).unwrap();
        assert_eq!(wm.rgba(), &[255, 0, 0, 0, 0, 255, 0, 128, 0, 0, 255, 255]);

        // 2-bit indices, no tRNS: every pixel opaque.
        let without = encode(
            3,
            1,
            png::ColorType::Indexed,
            png::BitDepth::Two,
            Some((&plte, None)),
            &[0b10_01_00_00],
        );
        let wm = load_bytes(&without).unwrap();
        assert_eq!(wm.rgba(), &[0, 0, 255, 255, 0, 255, 0, 255, 255, 0, 0, 255]);
    }

    #[test]
    fn loads_rgba16_stripped_to_8() {
        // Big-endian 16-bit samples; stripping keeps the high byte.
        let data = [
            0xFF, 0xFF, 0x80, 0x00, 0x00, 0x00, 0x80, 0x00, // pixel 0
            0x12, 0x34, 0x56, 0x78, 0x9A, 0xBC, 0x00, 0x00, // pixel 1
        ];
        let png = encode(
            2,
            1,
            png::ColorType::Rgba,
            png::BitDepth::Sixteen,
            None,
            &data,
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(wm.rgba(), &[0xFF, 0x80, 0x00, 0x80, 0x12, 0x56, 0x9A, 0x00]);
    }

    #[test]
    fn loads_grey16_and_grey1() {
        let png = encode(
            2,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::Sixteen,
            None,
            &[0xAB, 0xCD, 0x01, 0x02],
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(wm.rgba(), &[0xAB, 0xAB, 0xAB, 255, 1, 1, 1, 255]);

        let png = encode(
            3,
            1,
            png::ColorType::Grayscale,
            png::BitDepth::One,
            None,
            &[0b101_00000],
        );
        let wm = load_bytes(&png).unwrap();
        assert_eq!(
            wm.rgba(),
            &[255, 255, 255, 255, 0, 0, 0, 255, 255, 255, 255, 255]
        );
    }

    // --- rejections ------------------------------------------------------------------------------

    #[test]
    fn rejects_missing_file() {
        let dir = TempDir::new();
        let path = dir.0.join("nope.png");
        let err = Watermark::load(&path).unwrap_err();
        assert!(matches!(err, WatermarkError::NotFound { .. }), "{err:?}");
        assert!(err.to_string().contains("nope.png"), "{err}");
    }

    #[test]
    fn rejects_directory() {
        let dir = TempDir::new();
        let err = Watermark::load(&dir.0).unwrap_err();
        assert!(matches!(err, WatermarkError::IsDirectory { .. }), "{err:?}");
        assert!(err.to_string().contains(&*dir.0.to_string_lossy()), "{err}");
    }

    #[test]
    fn rejects_text_file_and_empty_file() {
        let dir = TempDir::new();
        let path = dir.file("notes.txt", b"this is not an image\n");
        let err = Watermark::load(&path).unwrap_err();
        assert!(matches!(err, WatermarkError::NotPng { .. }), "{err:?}");
        assert!(err.to_string().contains("notes.txt"), "{err}");

        let err = Watermark::load(&dir.file("empty.png", b"")).unwrap_err();
        assert!(matches!(err, WatermarkError::NotPng { .. }), "{err:?}");
    }

    #[test]
    fn rejects_png_truncated_inside_idat() {
        // Noise compresses badly, so IDAT is long and easy to cut in the middle.
        let mut seed = 0x1234_5678u32;
        let data: Vec<u8> = (0..64 * 64 * 4)
            .map(|_| xorshift(&mut seed) as u8)
            .collect();
        let png = encode(
            64,
            64,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            None,
            &data,
        );
        let idat = find_chunk(&png, b"IDAT").unwrap();
        let idat_len = u32::from_be_bytes(png[idat - 8..idat - 4].try_into().unwrap()) as usize;
        let cut = &png[..idat + 4 + idat_len / 2];
        let dir = TempDir::new();
        let err = Watermark::load(&dir.file("cut.png", cut)).unwrap_err();
        assert!(
            matches!(
                err,
                WatermarkError::Truncated { .. } | WatermarkError::Corrupt { .. }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("cut.png"), "{err}");
    }

    #[test]
    fn rejects_oversized_header_without_allocating() {
        let dir = TempDir::new();
        let path = dir.file("huge.png", &png_with_ihdr(20_000, 20_000));
        let start = Instant::now();
        let err = Watermark::load(&path).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        match &err {
            WatermarkError::TooLarge { width, height, .. } => {
                assert_eq!((*width, *height), (20_000, 20_000))
            }
            other => panic!("{other:?}"),
        }
        let msg = err.to_string();
        assert!(
            msg.contains("huge.png") && msg.contains("20000x20000"),
            "{msg}"
        );

        // One side over the limit is enough; exactly at the limit passes the size check (and
        // then fails for lack of image data).
        let err = Watermark::load(&dir.file("wide.png", &png_with_ihdr(8193, 1))).unwrap_err();
        assert!(matches!(err, WatermarkError::TooLarge { .. }), "{err:?}");
        let err = Watermark::load(&dir.file("edge.png", &png_with_ihdr(8192, 1))).unwrap_err();
        assert!(!matches!(err, WatermarkError::TooLarge { .. }), "{err:?}");
    }

    #[test]
    fn rejects_bad_crc() {
        let mut png = encode(
            1,
            1,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            None,
            &[1, 2, 3],
        );
        png[8 + 8 + 13] ^= 0xFF; // IHDR CRC
        let err = load_bytes(&png).unwrap_err();
        assert!(matches!(err, WatermarkError::Corrupt { .. }), "{err:?}");
    }

    #[test]
    fn mutated_pngs_never_panic() {
        let mut seed = 0x9E37_79B9u32;
        let data: Vec<u8> = (0..16 * 8 * 4).map(|_| xorshift(&mut seed) as u8).collect();
        let base = encode(
            16,
            8,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            None,
            &data,
        );
        let dir = TempDir::new();
        let path = dir.0.join("fuzz.png");
        let start = Instant::now();
        let (mut ok, mut err) = (0, 0);
        for round in 0..3000 {
            let mut bytes = base.clone();
            // 1..=4 byte mutations; some rounds also truncate.
            for _ in 0..=(xorshift(&mut seed) % 4) {
                let at = xorshift(&mut seed) as usize % bytes.len();
                bytes[at] = xorshift(&mut seed) as u8;
            }
            if round % 7 == 0 {
                let keep = xorshift(&mut seed) as usize % bytes.len();
                bytes.truncate(keep);
            }
            std::fs::write(&path, &bytes).unwrap();
            match Watermark::load(&path) {
                Ok(wm) => {
                    assert_eq!(wm.rgba().len(), (wm.width() * wm.height() * 4) as usize);
                    ok += 1;
                }
                Err(_) => err += 1,
            }
        }
        assert!(err > 0, "mutations should break most files (ok {ok})");
        // About 1 s in a debug build on an idle machine; the bound only catches hangs (a loaded
        // CI box can be several times slower).
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{:?}",
            start.elapsed()
        );
    }

    fn xorshift(state: &mut u32) -> u32 {
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        *state = x;
        x
    }

    /// Offset of the data of the first chunk of `kind`.
    fn find_chunk(png: &[u8], kind: &[u8; 4]) -> Option<usize> {
        let mut at = 8;
        while at + 8 <= png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            if &png[at + 4..at + 8] == kind {
                return Some(at + 8);
            }
            at += 12 + len;
        }
        None
    }

    /// Signature + a valid IHDR (8-bit RGBA) + IEND, no image data.
    fn png_with_ihdr(w: u32, h: u32) -> Vec<u8> {
        let mut out = PNG_SIGNATURE.to_vec();
        let mut chunk = |kind: &[u8; 4], data: &[u8]| {
            out.extend_from_slice(&(data.len() as u32).to_be_bytes());
            let mut body = kind.to_vec();
            body.extend_from_slice(data);
            out.extend_from_slice(&body);
            out.extend_from_slice(&crc32(&body).to_be_bytes());
        };
        let mut ihdr = Vec::new();
        ihdr.extend_from_slice(&w.to_be_bytes());
        ihdr.extend_from_slice(&h.to_be_bytes());
        ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
        chunk(b"IHDR", &ihdr);
        chunk(b"IEND", &[]);
        out
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    #[test]
    fn crc32_matches_the_reference_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // And agrees with the encoder's IHDR CRC.
        let png = encode(
            3,
            2,
            png::ColorType::Rgba,
            png::BitDepth::Eight,
            None,
            &[0; 24],
        );
        assert_eq!(&png[..8 + 25], &png_with_ihdr(3, 2)[..8 + 25]);
    }

    // --- placement ---------------------------------------------------------------------------

    fn solid(w: u32, h: u32, rgba: [u8; 4]) -> Watermark {
        Watermark::from_rgba(w, h, rgba.repeat((w * h) as usize)).unwrap()
    }

    #[test]
    fn static_positions_on_1080p() {
        let wm = solid(100, 50, [0; 4]);
        let at = |loc| wm.position(loc, 1920, 1080, Duration::from_secs(123));
        assert_eq!(at(WatermarkLocation::None), None);
        assert_eq!(at(WatermarkLocation::TopLeft), Some((10, 10)));
        assert_eq!(at(WatermarkLocation::TopRight), Some((1810, 10)));
        assert_eq!(at(WatermarkLocation::BottomLeft), Some((10, 1020)));
        assert_eq!(at(WatermarkLocation::BottomRight), Some((1810, 1020)));
        assert_eq!(at(WatermarkLocation::Middle), Some((910, 515)));
    }

    #[test]
    fn corners_in_small_and_too_small_regions() {
        let wm = solid(100, 50, [0; 4]);
        let z = Duration::ZERO;
        // 6 px to spare horizontally: the margin shrinks to 3 on each side.
        assert_eq!(
            wm.position(WatermarkLocation::TopRight, 106, 50, z),
            Some((3, 0))
        );
        // Larger than the region: anchored to the corner's edges, clipped on the far side.
        assert_eq!(
            wm.position(WatermarkLocation::BottomRight, 60, 30, z),
            Some((-40, -20))
        );
        assert_eq!(
            wm.position(WatermarkLocation::TopLeft, 60, 30, z),
            Some((0, 0))
        );
        assert_eq!(
            wm.position(WatermarkLocation::Middle, 60, 31, z),
            Some((-20, -10))
        );
        assert_eq!(
            wm.position(WatermarkLocation::Animated, 60, 30, Duration::from_secs(7)),
            Some((0, 0))
        );
    }

    #[test]
    fn bounce_moves_at_set_speed_and_reflects() {
        let wm = solid(100, 50, [0; 4]);
        let at = |secs: f64| {
            wm.position(
                WatermarkLocation::Animated,
                1920,
                1080,
                Duration::from_secs_f64(secs),
            )
            .unwrap()
        };
        let at_ms = |ms: u64| {
            wm.position(
                WatermarkLocation::Animated,
                1920,
                1080,
                Duration::from_millis(ms),
            )
            .unwrap()
        };
        assert_eq!(at(0.0), (0, 0));
        assert_eq!(at(1.0), (120, 120));
        assert_eq!(at(0.5), (60, 60));
        // Bottom edge: travel 1030 px, reached at 1030 / 120 = 8.5833 s.
        assert_eq!(at_ms(8500).1, 1020);
        assert_eq!(at_ms(8583).1, 1029); // 1029.96 px travelled
        assert_eq!(at_ms(8584).1, 1030); // 1030.08: at the edge
        assert_eq!(at_ms(8600).1, 1028); // 1032: reflected
        assert_eq!(at(9.0).1, 1030 - 50);
        // Right edge: travel 1820 px, reached at 1820 / 120 = 15.1667 s.
        assert_eq!(at(15.0).0, 1800);
        assert_eq!(at_ms(15166).0, 1819); // just before
        assert_eq!(at_ms(15167).0, 1820); // at the edge
        assert_eq!(at_ms(15175).0, 1819); // just after: moving back left
        assert_eq!(at(15.5).0, 1820 - 40);
        assert_eq!(at(16.0).0, 1720);
        // Back at the left after a full round trip (2 * 1820 / 120 s), then bouncing right again.
        assert_eq!(at_ms(30_333).0, 1); // 3639.96 px: 1 px short of the wall
        assert_eq!(at_ms(30_334).0, 0);
        assert_eq!(at_ms(31_334).0, 120);

        // Always fully inside, and moving 2 px per 1/60 s frame (±1 for rounding down).
        let mut prev = at(0.0);
        for step in 1..=60 * 120 {
            let p = at(f64::from(step) / 60.0);
            assert!(
                (0..=1820).contains(&p.0) && (0..=1030).contains(&p.1),
                "{p:?}"
            );
            let (dx, dy) = ((p.0 - prev.0).abs(), (p.1 - prev.1).abs());
            assert!(
                (1..=3).contains(&dx) && (1..=3).contains(&dy),
                "{prev:?} -> {p:?}"
            );
            prev = p;
        }
    }

    #[test]
    fn bounce_depends_only_on_elapsed_time() {
        let wm = solid(100, 50, [0; 4]);
        let at = |d: Duration| wm.position(WatermarkLocation::Animated, 1920, 1080, d);
        // Frame k at 30 fps and frame 2k at 60 fps show the same position.
        for k in 0..900u32 {
            let t30 = Duration::from_secs(1) * k / 30;
            let t60 = Duration::from_secs(1) * (2 * k) / 60;
            assert_eq!(at(t30), at(t60));
        }
        // Large elapsed times neither overflow nor leave the region.
        let (x, y) = at(Duration::from_secs(u64::MAX / 4)).unwrap();
        assert!((0..=1820).contains(&x) && (0..=1030).contains(&y));
    }

    // --- blending ----------------------------------------------------------------------------

    #[test]
    fn blend_maths() {
        assert_eq!(over_straight(200, 10, 255), 200);
        assert_eq!(over_straight(200, 77, 0), 77);
        assert_eq!(over_straight(255, 0, 128), 128);
        assert_eq!(over_straight(0, 255, 128), 127);
        assert_eq!(over_straight(100, 200, 128), 150);
        assert_eq!(over_straight(255, 255, 128), 255);
        assert_eq!(over_straight(0, 0, 77), 0);
        // Exhaustive: the blend always lies between src and dst.
        for a in 0..=255u8 {
            for s in (0..=255u8).step_by(5) {
                for d in (0..=255u8).step_by(5) {
                    let o = over_straight(s, d, a);
                    assert!(o >= s.min(d) && o <= s.max(d));
                }
            }
        }
    }

    #[test]
    fn blend_writes_bgrx_opaque_transparent_and_half() {
        // Three pixels: opaque red, transparent green, half-alpha white.
        let wm = Watermark::from_rgba(3, 1, vec![255, 0, 0, 255, 0, 255, 0, 0, 255, 255, 255, 128])
            .unwrap();
        let stride = 4 * 4;
        let mut f = vec![40u8; stride * 2];
        assert_eq!(wm.blend(&mut f, stride, 4, 2, 1, 1), Some((1, 2)));
        assert_eq!(&f[..stride], &[40; 16]); // row 0 untouched
        let row1 = &f[stride..];
        assert_eq!(&row1[0..4], &[40, 40, 40, 40]);
        assert_eq!(&row1[4..8], &[0, 0, 255, 40]); // B, G, R, X kept
        assert_eq!(&row1[8..12], &[40, 40, 40, 40]);
        // (255 * 128 + 40 * 127 + 127) / 255 = 148
        assert_eq!(&row1[12..16], &[148, 148, 148, 40]);
    }

    #[test]
    fn blend_clips_to_region_edges() {
        let wm = solid(4, 4, [0, 0, 255, 255]); // opaque blue
        let (w, h) = (6u32, 5u32);
        let stride = 8 * 4; // wider than the region: padding must stay untouched
        let fresh = || vec![9u8; stride * h as usize];
        let blue_at = |f: &[u8]| {
            let mut cells = Vec::new();
            for y in 0..h as usize {
                for x in 0..stride / 4 {
                    if f[y * stride + x * 4..][..4] == [255, 0, 0, 9] {
                        cells.push((x, y));
                    }
                }
            }
            cells
        };

        // Hanging off the top-left.
        let mut f = fresh();
        assert_eq!(wm.blend(&mut f, stride, w, h, -2, -3), Some((0, 1)));
        assert_eq!(blue_at(&f), vec![(0, 0), (1, 0)]);

        // Hanging off the bottom-right.
        let mut f = fresh();
        assert_eq!(wm.blend(&mut f, stride, w, h, 4, 3), Some((3, 5)));
        assert_eq!(blue_at(&f), vec![(4, 3), (5, 3), (4, 4), (5, 4)]);

        // Entirely outside.
        for (x, y) in [(6, 0), (-4, 0), (0, 5), (0, -4), (i32::MAX, i32::MIN)] {
            let mut f = fresh();
            assert_eq!(wm.blend(&mut f, stride, w, h, x, y), None);
            assert!(f.iter().all(|&b| b == 9));
        }

        // Larger than the region: fills it, and only it.
        let big = solid(20, 20, [0, 0, 255, 255]);
        let mut f = fresh();
        assert_eq!(big.blend(&mut f, stride, w, h, -3, -3), Some((0, 5)));
        assert_eq!(blue_at(&f).len(), (w * h) as usize);

        // A frame shorter than the region claims: clipped, no panic.
        let mut f = vec![9u8; stride * 2 + 8];
        assert_eq!(big.blend(&mut f, stride, w, h, 0, 0), Some((0, 2)));
        assert_eq!(big.blend(&mut f, 0, w, h, 0, 0), None);
    }

    #[test]
    fn position_then_blend_stays_inside() {
        let wm = solid(100, 50, [255, 255, 255, 255]);
        let stride = 320 * 4;
        for loc in [
            WatermarkLocation::TopLeft,
            WatermarkLocation::TopRight,
            WatermarkLocation::BottomLeft,
            WatermarkLocation::BottomRight,
            WatermarkLocation::Middle,
            WatermarkLocation::Animated,
        ] {
            let mut f = vec![0u8; stride * 240];
            let (x, y) = wm
                .position(loc, 320, 240, Duration::from_millis(2500))
                .unwrap();
            let rows = wm.blend(&mut f, stride, 320, 240, x, y).unwrap();
            assert_eq!(rows.1 - rows.0, 50, "{loc:?}");
            assert_eq!(
                f.chunks_exact(4).filter(|p| p[0] == 255).count(),
                100 * 50,
                "{loc:?}"
            );
        }
    }
}
