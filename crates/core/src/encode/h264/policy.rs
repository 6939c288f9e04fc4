//! The rules every H.264 encoder here follows (x264, NVENC, VA-API), written once so that a
//! stream is coded alike whichever encoder codes it (and across a fallback from hardware to
//! x264): quantisers from the rate factor, frame rate, IDR placement.
//!
//! Pure functions and constants: a leaf that knows no encoder and no library.

use crate::encode::EncodeRequest;

/// The highest H.264 quantiser, which is also the highest rate factor (`h264Crf`).
pub const MAX_QP: u8 = 51;

/// How many quantiser steps finer an IDR is coded than a P picture: x264's default I/P ratio
/// 1.4 as a QP offset (`6 * log2(1.4)` ≈ 2.9), which x264's tests pin against libx264.
pub const IDR_QP_OFFSET: u8 = 3;

/// The constant quantisers of a stream at one rate factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantisers {
    /// P pictures.
    pub p: u8,
    /// I / IDR pictures.
    pub idr: u8,
}

/// The constant quantisers standing in for rate factor `crf` (clamped to [`MAX_QP`]).
///
/// x264's CRF `c` codes steady P pictures at a QP near `c` and I pictures [`IDR_QP_OFFSET`]
/// finer, so a constant-quantiser stream gets P = `c`, IDR = `c - 3` (at least 0). This is an
/// approximation: x264 adapts per picture and per macroblock, a constant quantiser does not,
/// so at the same number busy content comes out somewhat larger and still content somewhat
/// smaller than under x264's CRF.
pub fn quantisers(crf: u8) -> Quantisers {
    let p = crf.min(MAX_QP);
    Quantisers { p, idr: idr_qp(p) }
}

/// The quantiser of an IDR in a stream whose P pictures are coded at `p`.
pub fn idr_qp(p: u8) -> u8 {
    p.saturating_sub(IDR_QP_OFFSET)
}

/// The quantiser of a paint-over picture (an IDR that re-sends still content at
/// `paint_over_crf`): what a steady-state IDR gets at that rate factor.
pub fn paint_over_qp(paint_over_crf: u8) -> u8 {
    quantisers(paint_over_crf).idr
}

/// Whether `fps` is a frame rate the encoders accept: finite, in (0, 1000].
pub fn valid_fps(fps: f64) -> bool {
    fps.is_finite() && fps > 0.0 && fps <= 1000.0
}

/// `fps` as a reduced fraction (numerator, denominator) with millihertz precision
/// (29.97 → 2997/100), for the encoders' frame rate and time base.
pub fn fps_fraction(fps: f64) -> (u32, u32) {
    fn gcd(a: u32, b: u32) -> u32 {
        if b == 0 {
            a
        } else {
            gcd(b, a % b)
        }
    }
    let den = 1000u32;
    let num = ((fps * 1000.0).round() as u32).max(1);
    let g = gcd(num, den);
    (num / g, den / g)
}

/// Whether a picture must be an IDR whatever the keyframe interval says: it was asked for
/// (`force_key`: a new viewer, a lost delivery), it is a paint-over (re-sent content that must
/// decode on its own), or it is the first picture of the stream.
pub fn forced_idr(request: EncodeRequest, first: bool) -> bool {
    request.force_key || request.paint_over || first
}

/// Whether the keyframe interval calls for an IDR: `since_idr` pictures were coded since the
/// last IDR (counting it) and `interval` is the keyframe interval in pictures (0: IDRs only
/// when forced).
pub fn interval_elapsed(since_idr: u32, interval: u32) -> bool {
    interval > 0 && since_idr >= interval
}

/// Whether the next picture is an IDR, for an encoder that places every IDR itself (x264 and
/// VA-API; NVENC's driver places the interval's IDRs from [`gop_length`]).
pub fn idr_due(request: EncodeRequest, first: bool, since_idr: u32, interval: u32) -> bool {
    forced_idr(request, first) || interval_elapsed(since_idr, interval)
}

/// The GOP length / IDR period to configure for `keyframe_interval_frames`: that many
/// pictures, or `infinite` (the API's own "never") when it is 0.
pub fn gop_length(keyframe_interval_frames: u32, infinite: u32) -> u32 {
    if keyframe_interval_frames == 0 {
        infinite
    } else {
        keyframe_interval_frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisers_follow_the_crf_with_idrs_three_finer() {
        assert_eq!(quantisers(23), Quantisers { p: 23, idr: 20 });
        assert_eq!(quantisers(1), Quantisers { p: 1, idr: 0 });
        assert_eq!(quantisers(0), Quantisers { p: 0, idr: 0 });
        assert_eq!(quantisers(51), Quantisers { p: 51, idr: 48 });
        assert_eq!(quantisers(99), Quantisers { p: 51, idr: 48 });
        assert_eq!(idr_qp(2), 0);
        assert_eq!(paint_over_qp(18), 15);
        assert_eq!(paint_over_qp(2), 0);
        assert_eq!(paint_over_qp(200), 48);
    }

    #[test]
    fn fps_is_a_reduced_fraction_in_millihertz() {
        assert_eq!(fps_fraction(30.0), (30, 1));
        assert_eq!(fps_fraction(29.97), (2997, 100));
        assert_eq!(fps_fraction(59.94), (2997, 50));
        assert_eq!(fps_fraction(0.5), (1, 2));
        assert_eq!(fps_fraction(1000.0), (1000, 1));
        // Below a millihertz still makes a valid fraction.
        assert_eq!(fps_fraction(0.0001), (1, 1000));
        assert!(valid_fps(0.001) && valid_fps(1000.0));
        for bad in [0.0, -1.0, 1000.5, f64::NAN, f64::INFINITY] {
            assert!(!valid_fps(bad), "{bad}");
        }
    }

    #[test]
    fn idrs_are_forced_by_request_paint_over_and_the_first_picture() {
        let plain = EncodeRequest::default();
        let key = EncodeRequest {
            force_key: true,
            ..plain
        };
        let paint = EncodeRequest {
            paint_over: true,
            ..plain
        };
        assert!(!forced_idr(plain, false));
        assert!(forced_idr(plain, true));
        assert!(forced_idr(key, false));
        assert!(forced_idr(paint, false));
        // Changed rows alone never force one.
        let hinted = EncodeRequest {
            changed_rows: Some((0, 16)),
            ..plain
        };
        assert!(!forced_idr(hinted, false));
    }

    #[test]
    fn the_interval_counts_pictures_since_the_last_idr() {
        // Interval 3: IDR, P, P, IDR, ... (the IDR itself counts as the first picture).
        let mut since = 0;
        let mut keys = Vec::new();
        for i in 0..7 {
            let idr = idr_due(EncodeRequest::default(), i == 0, since, 3);
            keys.push(idr);
            since = if idr { 1 } else { since + 1 };
        }
        assert_eq!(keys, [true, false, false, true, false, false, true]);
        // Interval 0: never by count.
        assert!(!interval_elapsed(u32::MAX, 0));
        assert!(interval_elapsed(1, 1));
        assert_eq!(gop_length(0, u32::MAX), u32::MAX);
        assert_eq!(gop_length(0, 65535), 65535);
        assert_eq!(gop_length(60, u32::MAX), 60);
    }
}
