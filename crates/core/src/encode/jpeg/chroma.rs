//! How a JPEG carries colour, chosen per picture from its pixels. Pure: no I/O.
//!
//! Halving chroma resolution (4:2:0) saves bytes and about 40% of the CPU, and costs nothing
//! where colour is flat; it blurs coloured glyphs and 1-px coloured lines, which a desktop is
//! full of, and then costs more quality than 4:4:4 costs bytes. A picture with no colour at all
//! needs no chroma planes either. [`choose`] picks per picture:
//!
//! - no pixel with colour → [`Chroma::Grey`] (one component: ~15% less CPU than 4:2:0 and ~4%
//!   fewer bytes on grey text, decoded to the same pixels as a colour JPEG);
//! - otherwise, under `jpegSubsampling: 'auto'`, [`Chroma::Full`] when what 4:2:0 would lose
//!   ([`chroma_detail`]) exceeds what quantisation at the picture's quality loses anyway,
//!   else [`Chroma::Half`].
//!
//! A colour change of a stripe in sustained motion (damaged: scrolling, video) is
//! [`Chroma::Half`] without a measure: coloured text scrolling at 4:4:4 cost 1.6x the CPU and
//! 1.25x the bytes of 4:2:0, for detail the eye does not follow in motion; the paint-over once
//! it stops measures and restores full chroma. Rows a scroll brought in beside its copies
//! (`scrollCopies`) are the opposite case: encoded once and then copied along, never re-sent
//! while the scroll lasts (nor after it without paint-over), they are [`Chroma::Full`] without
//! a measure. A measure (of a sample of a band often only 8-16 rows tall, reused for the next
//! changes) left a third of a scrolled page at 4:2:0 and 1.2 dB under pixelflux's 4:4:4 there.
//!
//! Measuring costs ~0.06 ms per 1920x128 colour stripe (a sample of its rows), 1.5% of its
//! encode; a stream in motion (video) reuses its last measure for [`REUSE`] changes
//! ([`ChromaMemo`]), so the cost all but vanishes where it would add up. Grey is checked on
//! every picture: a coloured pixel must never go out grey.
//!
//! The threshold ([`detail_threshold`]) was fitted on the test cards of `bench/rd.mjs`
//! (per-stripe rate and PSNR at 4:2:0 and 4:4:4, quality 20-95): it tracks libjpeg's
//! quantiser scale, since the error a quality leaves grows with its quantiser step. See
//! docs/performance.md, "Picture quality per byte".

use super::super::{BgrxImage, Motion};
use crate::settings::Subsampling;

/// The colour layout of one JPEG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// One component: every pixel is grey (R = G = B).
    Grey,
    /// Cb and Cr at half resolution both ways (4:2:0).
    Half,
    /// Cb and Cr at full resolution (4:4:4).
    Full,
}

impl Chroma {
    /// Decoded pixels near a block's edge depend on the neighbouring block (fancy upsampling
    /// of half-resolution chroma): see `crate::seams`.
    pub fn joins_blocks(self) -> bool {
        self == Chroma::Half
    }
}

/// The colour layout for `image` encoded at `quality` under the `jpegSubsampling` setting.
pub fn choose(image: BgrxImage<'_>, quality: u8, setting: Subsampling) -> Chroma {
    if is_grey(image) {
        return Chroma::Grey;
    }
    match setting {
        Subsampling::S420 => Chroma::Half,
        Subsampling::S444 => Chroma::Full,
        Subsampling::Auto => measure(image, quality),
    }
}

/// Changes a stream encodes with its last measured choice before it measures again.
pub const REUSE: u32 = 15;

/// A stream's last measured choice between 4:2:0 and 4:4:4 under `'auto'`, reused for the
/// next [`REUSE`] changes: a stripe's kind of content (video, text, UI) lasts longer than a
/// few frames, and a paint-over measures afresh whatever the memo holds.
#[derive(Debug, Default)]
pub struct ChromaMemo {
    last: Option<(Chroma, u32)>,
}

impl ChromaMemo {
    /// [`choose`] for a change (`paint_over` false), reusing or refreshing the memo, or for a
    /// paint-over, measured and not remembered (its quality is not the changes' one). A colour
    /// change in [`Motion::Sustained`] (a damaged stripe) is 4:2:0 without a measure: 4:4:4
    /// would cost 1.6x the CPU on scrolling coloured text, for detail the eye misses in motion
    /// and that the paint-over restores once the content stops. One [`Motion::ScrolledIn`] is
    /// 4:4:4 without a measure (it stays on screen, copied), and leaves the memo as it was.
    pub fn choose(
        &mut self,
        image: BgrxImage<'_>,
        quality: u8,
        setting: Subsampling,
        paint_over: bool,
        motion: Motion,
    ) -> Chroma {
        if setting != Subsampling::Auto || paint_over || is_grey(image) {
            return choose(image, quality, setting);
        }
        match motion {
            Motion::Sustained => return Chroma::Half,
            Motion::ScrolledIn => return Chroma::Full,
            Motion::Changed => {}
        }
        if let Some((chroma, left @ 1..)) = self.last {
            self.last = Some((chroma, left - 1));
            return chroma;
        }
        let chroma = measure(image, quality);
        self.last = Some((chroma, REUSE));
        chroma
    }
}

/// 4:4:4 or 4:2:0 for a colour picture by its chroma detail.
fn measure(image: BgrxImage<'_>, quality: u8) -> Chroma {
    let (detail, pixels) = chroma_detail(image);
    if exceeds(detail, pixels, detail_threshold(quality)) {
        Chroma::Full
    } else {
        Chroma::Half
    }
}

/// Every pixel has R = G = B. Reads the whole picture (a single coloured pixel must not be
/// lost), two pixels at a time and branch-free within a row: ~0.02 ms for 1920x128.
pub fn is_grey(image: BgrxImage<'_>) -> bool {
    let row_bytes = image.width as usize * 4;
    // B ^ G and G ^ R of each pixel of a little-endian pair.
    let colour = |p: u64| (p ^ (p >> 8)) & 0x0000_FFFF_0000_FFFF;
    (0..image.height as usize).all(|y| {
        let row = &image.data[y * image.stride..][..row_bytes];
        let pairs = row.chunks_exact(8);
        let last = pairs.remainder();
        let mut acc = pairs.fold(0, |acc, p| {
            acc | colour(u64::from_le_bytes(p.try_into().expect("8 bytes")))
        });
        if let Ok(p) = <[u8; 4]>::try_from(last) {
            acc |= colour(u64::from(u32::from_le_bytes(p))) & 0xFFFF;
        }
        acc == 0
    })
}

/// Chroma block rows sampled: one 2-row block row in every `SAMPLE_ROWS`, so every 8 rows:
/// a line of text (13 rows of the smallest common font) is always sampled. The whole
/// picture would cost ~1/8 of its encode.
const SAMPLE_ROWS: usize = 4;

/// Scale of the fixed-point Cb and Cr below (x256).
const FIX: i64 = 256;

/// What 4:2:0 loses: the squared deviation of full-resolution Cb and Cr from their mean over
/// each 2x2 block (exactly what averaging them away discards), summed over sampled blocks, in
/// units of `1/FIX²`; and the number of pixels those blocks cover.
pub fn chroma_detail(image: BgrxImage<'_>) -> (u64, u64) {
    let (w, h) = (image.width as usize, image.height as usize);
    let (mut detail, mut pixels) = (0u64, 0u64);
    for pair in (0..h / 2).step_by(SAMPLE_ROWS) {
        let a = &image.data[2 * pair * image.stride..][..w * 4];
        let b = &image.data[(2 * pair + 1) * image.stride..][..w * 4];
        for (qa, qb) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
            let (mut cb, mut cr, mut cb2, mut cr2) = (0i64, 0i64, 0i64, 0i64);
            for p in [&qa[..4], &qa[4..], &qb[..4], &qb[4..]] {
                let (bl, g, r) = (i64::from(p[0]), i64::from(p[1]), i64::from(p[2]));
                // JFIF Cb and Cr without their offset, from colour differences:
                // Cb = 0.5 (B-G) - 0.1687 (R-G), Cr = 0.5 (R-G) - 0.0813 (B-G).
                let (u, v) = (bl - g, r - g);
                let b_ = 128 * u - 43 * v;
                let r_ = 128 * v - 21 * u;
                cb += b_;
                cr += r_;
                cb2 += b_ * b_;
                cr2 += r_ * r_;
            }
            // Σ(x - mean)² = Σx² - (Σx)²/4, times 4 to stay in integers.
            detail += (4 * (cb2 + cr2) - cb * cb - cr * cr) as u64;
            pixels += 4;
        }
    }
    (detail / 4, pixels)
}

/// The chroma detail per pixel (in Cb and Cr levels squared, both summed) above which 4:4:4
/// pays at `quality`, in hundredths: 4 x libjpeg's quantiser scale (quality 50: 4.0, 75: 2.0,
/// 90: 0.8, 100: 0).
pub fn detail_threshold(quality: u8) -> u64 {
    let q = u64::from(quality.clamp(1, 100));
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    4 * scale
}

/// `detail` over `pixels` exceeds `threshold` hundredths of a level² per pixel.
fn exceeds(detail: u64, pixels: u64, threshold: u64) -> bool {
    pixels > 0
        && u128::from(detail) * 100
            > u128::from(threshold) * u128::from(pixels) * (FIX * FIX) as u128
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(w: u32, h: u32, f: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                let [r, g, b] = f(x, y);
                v.extend_from_slice(&[b, g, r, 0xEE]);
            }
        }
        v
    }

    #[test]
    fn grey_is_every_pixel_grey_whatever_the_padding_byte() {
        let px = image(33, 7, |x, y| [(x * 7 + y) as u8; 3]);
        assert!(is_grey(BgrxImage::packed(&px, 33, 7)));
        // One coloured pixel anywhere, in any channel, is colour.
        for (x, y, c) in [(0, 0, 0), (32, 6, 1), (17, 3, 2)] {
            let mut px = px.clone();
            let i = ((y * 33 + x) * 4 + c) as usize;
            px[i] ^= 1;
            assert!(
                !is_grey(BgrxImage::packed(&px, 33, 7)),
                "{x},{y} channel {c}"
            );
        }
        // Only the image's own columns count, not what the stride skips.
        let wide = image(40, 4, |x, _| if x < 20 { [9, 9, 9] } else { [255, 0, 0] });
        let img = BgrxImage::packed(&wide, 40, 4).cols(0, 20);
        assert!(is_grey(img));
    }

    #[test]
    fn detail_is_what_averaging_2x2_blocks_discards() {
        // Flat colour, and colour that changes only between blocks: nothing to lose.
        let flat = image(64, 16, |_, _| [200, 30, 90]);
        assert_eq!(chroma_detail(BgrxImage::packed(&flat, 64, 16)).0, 0);
        let blocks = image(64, 16, |x, y| {
            if (x / 2 + y / 2) % 2 == 0 {
                [255, 0, 0]
            } else {
                [0, 0, 255]
            }
        });
        assert_eq!(chroma_detail(BgrxImage::packed(&blocks, 64, 16)).0, 0);
        // Red and blue alternating columns: each block is half red, half blue. Cb of red and
        // blue differ by 0.5·255 + 0.1687·255 (~170 levels), Cr by ~148: each pixel is half
        // that from its block's mean, so per pixel (85² + 74²) ≈ 12700 levels².
        let cols = image(
            64,
            16,
            |x, _| if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] },
        );
        let (d, n) = chroma_detail(BgrxImage::packed(&cols, 64, 16));
        let per_pixel = d as f64 / n as f64 / (FIX * FIX) as f64;
        assert!((12_000.0..13_500.0).contains(&per_pixel), "{per_pixel}");
        // Sampled block rows only: 16 rows are 8 block rows, 2 of them sampled.
        assert_eq!(n, 2 * 32 * 4);
    }

    #[test]
    fn a_stream_in_motion_reuses_its_measure_and_paint_over_measures_afresh() {
        let colour = image(
            64,
            16,
            |x, _| if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] },
        );
        let smooth = image(64, 16, |_, _| [200, 30, 90]);
        let grey = image(64, 16, |x, _| [x as u8; 3]);
        let (c, s, g) = (
            BgrxImage::packed(&colour, 64, 16),
            BgrxImage::packed(&smooth, 64, 16),
            BgrxImage::packed(&grey, 64, 16),
        );
        let mut memo = ChromaMemo::default();
        assert_eq!(
            memo.choose(c, 75, Subsampling::Auto, false, Motion::Changed),
            Chroma::Full
        );
        // The next REUSE changes keep it, whatever they hold, except grey pictures (checked
        // every time) and paint-overs (measured).
        for i in 0..REUSE {
            match i % 3 {
                0 => assert_eq!(
                    memo.choose(g, 75, Subsampling::Auto, false, Motion::Changed),
                    Chroma::Grey
                ),
                1 => assert_eq!(
                    memo.choose(s, 90, Subsampling::Auto, true, Motion::Changed),
                    Chroma::Half
                ),
                _ => {}
            }
            assert_eq!(
                memo.choose(s, 75, Subsampling::Auto, false, Motion::Changed),
                Chroma::Full,
                "change {i}"
            );
        }
        assert_eq!(
            memo.choose(s, 75, Subsampling::Auto, false, Motion::Changed),
            Chroma::Half,
            "measured again"
        );
        // Fixed settings never consult it.
        assert_eq!(
            memo.choose(c, 75, Subsampling::S420, false, Motion::Changed),
            Chroma::Half
        );
    }

    #[test]
    fn colour_in_motion_is_half_and_its_paint_over_full() {
        let colour = image(
            64,
            16,
            |x, _| if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] },
        );
        let grey = image(64, 16, |x, _| [x as u8; 3]);
        let (c, g) = (
            BgrxImage::packed(&colour, 64, 16),
            BgrxImage::packed(&grey, 64, 16),
        );
        let mut memo = ChromaMemo::default();
        assert_eq!(
            memo.choose(c, 75, Subsampling::Auto, false, Motion::Changed),
            Chroma::Full
        );
        assert_eq!(
            memo.choose(c, 75, Subsampling::Auto, false, Motion::Sustained),
            Chroma::Half
        );
        assert_eq!(
            memo.choose(g, 75, Subsampling::Auto, false, Motion::Sustained),
            Chroma::Grey
        );
        assert_eq!(
            memo.choose(c, 90, Subsampling::Auto, true, Motion::Changed),
            Chroma::Full
        );
        // Only 'auto' chooses: a fixed setting holds in motion too.
        assert_eq!(
            memo.choose(c, 75, Subsampling::S444, false, Motion::Sustained),
            Chroma::Full
        );
    }

    #[test]
    fn rows_scrolled_in_are_full_without_a_measure_and_leave_the_memo_alone() {
        // Flat colour: a measure says 4:2:0.
        let smooth = image(64, 16, |_, _| [200, 30, 90]);
        let grey = image(64, 16, |x, _| [x as u8; 3]);
        let (s, g) = (
            BgrxImage::packed(&smooth, 64, 16),
            BgrxImage::packed(&grey, 64, 16),
        );
        let mut memo = ChromaMemo::default();
        assert_eq!(
            memo.choose(s, 75, Subsampling::Auto, false, Motion::Changed),
            Chroma::Half
        );
        assert_eq!(
            memo.choose(s, 75, Subsampling::Auto, false, Motion::ScrolledIn),
            Chroma::Full
        );
        // Grey stays grey, a fixed setting holds.
        assert_eq!(
            memo.choose(g, 75, Subsampling::Auto, false, Motion::ScrolledIn),
            Chroma::Grey
        );
        assert_eq!(
            memo.choose(s, 75, Subsampling::S420, false, Motion::ScrolledIn),
            Chroma::Half
        );
        // The changes' memo still holds its measure, counted down by changes only.
        assert_eq!(memo.last, Some((Chroma::Half, REUSE)));
        assert_eq!(
            memo.choose(s, 75, Subsampling::Auto, false, Motion::Changed),
            Chroma::Half
        );
        assert_eq!(memo.last, Some((Chroma::Half, REUSE - 1)));
    }

    #[test]
    fn the_threshold_follows_the_quantiser_and_auto_picks_by_it() {
        assert_eq!(detail_threshold(50), 400);
        assert_eq!(detail_threshold(75), 200);
        assert_eq!(detail_threshold(90), 80);
        assert_eq!(detail_threshold(100), 0);
        assert_eq!(detail_threshold(0), detail_threshold(1));
        // Faint colour noise, three levels in R and B, opposite ways, in one or two pixels of
        // every 2x2 block: ~1.5 level² per pixel, below the threshold at quality 75 (2.0),
        // above it at 90 (0.8).
        let noise = image(128, 64, |x, y| {
            let c = if (x * 7 + y * 13) % 3 == 0 { 3u8 } else { 0 };
            [100 + c, 100, 100 - c]
        });
        let img = BgrxImage::packed(&noise, 128, 64);
        assert_eq!(choose(img, 75, Subsampling::Auto), Chroma::Half);
        assert_eq!(choose(img, 90, Subsampling::Auto), Chroma::Full);
        // Fixed settings are kept, but a grey picture never carries chroma.
        assert_eq!(choose(img, 90, Subsampling::S420), Chroma::Half);
        assert_eq!(choose(img, 30, Subsampling::S444), Chroma::Full);
        let grey = image(128, 64, |x, _| [x as u8; 3]);
        for s in [Subsampling::S420, Subsampling::S444, Subsampling::Auto] {
            assert_eq!(
                choose(BgrxImage::packed(&grey, 128, 64), 75, s),
                Chroma::Grey
            );
        }
        // Too small to hold a 2x2 block: nothing measured, 4:2:0.
        let line = image(
            64,
            1,
            |x, _| if x % 2 == 0 { [255, 0, 0] } else { [0, 0, 255] },
        );
        assert_eq!(
            choose(BgrxImage::packed(&line, 64, 1), 75, Subsampling::Auto),
            Chroma::Half
        );
    }
}
