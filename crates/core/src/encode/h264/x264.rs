//! Software H.264 through the system libx264 (build 164), driven directly via `x264-sys`.
//!
//! One [`X264Encoder`] is one H.264 stream of fixed size (a stripe in striped mode, the whole
//! region in full-frame mode). Settings: preset `ultrafast`, tune `zerolatency` (no B-frames,
//! no lookahead, so every input picture comes straight back out), CRF or constant-QP rate
//! control ([`StreamParams::rate_control`]), Annex-B
//! output with SPS/PPS repeated in front of every IDR, BT.709 limited-range VUI.
//! Input is BGRX, converted with [`crate::encode::colour`] into plane buffers owned by the encoder
//! (allocated once, reused for every frame).

use std::mem::MaybeUninit;
use std::os::raw::c_int;
use std::ptr::{self, NonNull};

use x264_sys as x;

use super::policy::{self, MAX_QP};
use crate::encode::colour::{ChromaLayout, YuvMatrix, YuvPlanes};
use crate::encode::{
    BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind, RateControl,
    StreamParams,
};

/// How to build an [`X264Encoder`].
///
/// x264 specifics of [`StreamParams`]: 4:2:0 is capped to the High profile, which has no
/// lossless mode, so `crf` 0 is raised to 1 there; with `fullcolor` (High 4:4:4 Predictive)
/// `crf` 0 is lossless. With [`RateControl::Cqp`] `crf` is the quantiser of P pictures and
/// I pictures get it minus the I/P offset ([`policy::IDR_QP_OFFSET`]). A paint-over picture is
/// an IDR coded at the quantiser x264 gives a steady-state I frame at `paint_over_crf`
/// ([`policy::paint_over_qp`], in either mode); the pictures after it are back under `crf` (see
/// [`X264Encoder::paint_over_qp`]). A
/// 4:2:0 stream is capped to High but, since ultrafast uses neither CABAC nor the 8x8
/// transform, x264 signals Constrained Baseline in the SPS (`avc1.42E0xx`-compatible).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct X264Config {
    pub params: StreamParams,
    /// x264 worker threads: 0 lets x264 choose (sliced threads, so still no frame delay);
    /// 1 is the right value when many encoders run in parallel (striped mode).
    pub threads: u32,
}

/// x264 codes full range: its colours span 255/219 more code values than limited range, so the
/// same quantiser step is 16% finer in RGB, 6·log2(255/219) = 1.32 quantiser steps. x264 is
/// given quantisers this much higher than the settings say (a whole 1 where it takes a whole
/// number), so that `h264Crf` keeps the bytes and the RGB error it had in limited range, and
/// that the hardware encoders (limited range) still have (photo card, CRF 23: limited range
/// 181.9 KB, full range at the same rate factor 224.4 KB, with the offset about 182 KB).
const FULL_RANGE_QP: f32 = 1.32;

/// The quantisers of a [`RateControl::Cqp`] stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConstantQps {
    p: u8,
    idr: u8,
}

/// libx264 encoder handle plus its reusable YUV planes.
pub struct X264Encoder {
    enc: NonNull<x::x264_t>,
    planes: YuvPlanes,
    /// `planes` hold the previous picture given to the encoder.
    primed: bool,
    /// Per-macroblock flags handed to x264 with a picture whose changed rows are known.
    mb_info: Vec<u8>,
    csp: c_int,
    pts: i64,
    /// Quantiser forced on paint-over pictures; `None` when the stream is lossless already.
    paint_over_qp: Option<u8>,
    /// Constant-quantiser streams: the quantisers every picture is given explicitly.
    constant: Option<ConstantQps>,
    /// IDR every this many pictures (0: only on request); placed here, not by x264, so that
    /// every IDR's quantiser is known before it is coded.
    keyint: u32,
    /// Pictures output since the last IDR.
    since_key: u32,
    /// Quantiser of the last output picture.
    last_qp: i32,
    /// What x264's quantisers add to the settings' ones (see [`FULL_RANGE_QP`]); 0 when the
    /// stream is lossless.
    qp_offset: u8,
}

// SAFETY: `x264_t` is only reached through `&mut self`, so it is never used by two threads at
// once, and libx264 keeps no thread affinity or thread-local state tied to the thread that
// opened the encoder (its own worker threads are created and joined inside the handle), so
// moving the handle to another thread between calls is sound. The plane buffers are plain
// `Vec`s.
unsafe impl Send for X264Encoder {}

fn err(msg: impl Into<String>) -> EncodeError {
    EncodeError::H264(msg.into())
}

impl X264Encoder {
    /// Opens a libx264 encoder for `config`. Fails on an invalid configuration (zero or, for
    /// 4:2:0, odd sizes; crf > 51; fps not in (0, 1000]) or when libx264 refuses to open.
    pub fn new(config: X264Config) -> Result<Self, EncodeError> {
        let X264Config {
            params:
                StreamParams {
                    width,
                    height,
                    crf,
                    paint_over_crf,
                    rate_control,
                    fullcolor,
                    fps,
                    keyframe_interval_frames,
                },
            threads,
        } = config;
        if crf > MAX_QP {
            return Err(err(format!("crf {crf} is out of range 0..=51")));
        }
        if paint_over_crf > MAX_QP {
            return Err(err(format!(
                "paint-over crf {paint_over_crf} is out of range 0..=51"
            )));
        }
        if !policy::valid_fps(fps) {
            return Err(err(format!("fps {fps} is out of range (0, 1000]")));
        }
        if width > 16384 || height > 16384 {
            return Err(err(format!(
                "picture {width}x{height} is too large for H.264 level limits"
            )));
        }
        let layout = if fullcolor {
            ChromaLayout::I444
        } else {
            ChromaLayout::I420
        };
        // Validates the size (non-zero, even for 4:2:0) and allocates the planes once.
        // A stripe's stream converts on its own thread (stripes encode side by side); a
        // full-frame stream (x264's own threads) splits its conversion over the cores too.
        let planes = YuvPlanes::new(width, height, layout)?
            .with_matrix(YuvMatrix::Bt709Full)
            .with_threads(if threads == 1 {
                1
            } else {
                crate::workers::parallelism()
            });
        let csp = (if fullcolor {
            x::X264_CSP_I444
        } else {
            x::X264_CSP_I420
        }) as c_int;

        let mut param = MaybeUninit::<x::x264_param_t>::uninit();
        // SAFETY: x264_param_default_preset fully initialises the struct it is given when it
        // returns 0; the preset/tune strings are NUL-terminated literals.
        let mut p = unsafe {
            if x::x264_param_default_preset(
                param.as_mut_ptr(),
                c"ultrafast".as_ptr(),
                c"zerolatency".as_ptr(),
            ) < 0
            {
                return Err(err(
                    "x264_param_default_preset(ultrafast, zerolatency) failed",
                ));
            }
            param.assume_init()
        };

        p.i_log_level = x::X264_LOG_NONE;
        p.i_threads = threads.min(128) as c_int; // 0 == X264_THREADS_AUTO
        p.i_width = width as c_int;
        p.i_height = height as c_int;
        p.i_csp = csp;

        let (fps_num, fps_den) = policy::fps_fraction(fps);
        p.b_vfr_input = 0;
        p.i_fps_num = fps_num;
        p.i_fps_den = fps_den;
        p.i_timebase_num = fps_den;
        p.i_timebase_den = fps_num;

        p.i_bframe = 0;
        p.i_keyint_max = x::X264_KEYINT_MAX_INFINITE as c_int;
        p.b_intra_refresh = 0;

        // Lets each picture say which macroblocks are unchanged (X264_MBINFO_CONSTANT): x264
        // then skips their analysis and codes them as skips.
        p.analyse.b_mb_info = 1;

        p.b_annexb = 1;
        p.b_repeat_headers = 1;
        p.b_aud = 0;

        let quantiser = if fullcolor { crf } else { crf.max(1) };
        let lossless = fullcolor && crf == 0;
        // Why a forced quantiser rather than `x264_encoder_reconfig` of the rate factor: in
        // CRF mode x264 gives an I frame that follows P frames the recent P frames' average
        // QP minus the I/P offset, whatever the rate factor is, so a reconfigured CRF would
        // barely change a paint-over IDR. A steady-state I frame at rate factor `c` is coded
        // at about `c - 3` (QP 20 at CRF 23), so that is what a paint-over gets
        // ([`policy::paint_over_qp`], as on the hardware encoders). Only a stream opened
        // lossless (4:4:4, crf 0) codes QP 0 losslessly, so a forced QP stays >= 1, and a
        // lossless stream needs no paint-over quantiser.
        let paint_over_qp = (!lossless).then(|| policy::paint_over_qp(paint_over_crf).max(1));
        let (qp_offset, rf_offset) = if lossless {
            (0, 0.0)
        } else {
            (1, FULL_RANGE_QP)
        };
        let coded = |qp: u8| c_int::from((qp + qp_offset).min(MAX_QP));
        let constant = (rate_control == RateControl::Cqp && !lossless).then(|| ConstantQps {
            p: quantiser,
            idr: policy::idr_qp(quantiser).max(1),
        });
        match rate_control {
            // CRF needs each picture's complexity, which x264 measures by motion search on a
            // half-size copy of every picture: 10-29% of the CPU at equal quality
            // (docs/performance.md, *H.264 at a constant quantiser*).
            RateControl::Crf => {
                p.rc.i_rc_method = x::X264_RC_CRF as c_int;
                p.rc.f_rf_constant = (f32::from(quantiser) + rf_offset).min(f32::from(MAX_QP));
            }
            // A constant quantiser needs no complexity, so x264 makes no half-size copy.
            RateControl::Cqp => {
                p.rc.i_rc_method = x::X264_RC_CQP as c_int;
                p.rc.i_qp_constant = coded(quantiser);
                // x264 clips every quantiser of a CQP stream, forced ones too, to the span of
                // its P, I and B quantisers, derived from the I/P and P/B ratios: ratios that
                // put the I quantiser at the finest one this stream forces and the (unused) B
                // one at the coarsest widen the span to both. Every IDR is then given its
                // quantiser explicitly (encode).
                if let Some(c) = constant {
                    let paint_over = paint_over_qp.unwrap_or(c.idr);
                    let (finest, coarsest) = (paint_over.min(c.idr), paint_over.max(quantiser));
                    p.rc.f_ip_factor = 2f32.powf(f32::from(quantiser - finest) / 6.0);
                    p.rc.f_pb_factor =
                        p.rc.f_pb_factor
                            .max(2f32.powf(f32::from(coarsest - quantiser) / 6.0));
                }
            }
        }

        // BT.709 primaries / transfer / matrix, full range (what the planes hold): Chromium
        // draws limited-range BT.709 with blue 35-38 dB off an exact conversion, full range
        // within 0.1 levels (bench/rd.mjs, "Chromium draw vs exact").
        p.vui.i_colorprim = 1;
        p.vui.i_transfer = 1;
        p.vui.i_colmatrix = 1;
        p.vui.b_fullrange = 1;

        let profile: &std::ffi::CStr = if fullcolor { c"high444" } else { c"high" };
        // SAFETY: `p` is a fully initialised parameter set; `profile` is NUL-terminated.
        if unsafe { x::x264_param_apply_profile(&mut p, profile.as_ptr()) } < 0 {
            return Err(err(format!(
                "x264_param_apply_profile({profile:?}) rejected the settings"
            )));
        }
        // SAFETY: as above; x264 copies what it needs out of `p`.
        let enc = unsafe { x::x264_encoder_open(&mut p) };
        let enc = NonNull::new(enc)
            .ok_or_else(|| err(format!("x264_encoder_open failed for {width}x{height} {profile:?} crf {crf} threads {threads}")))?;
        Ok(X264Encoder {
            enc,
            mb_info: vec![0; (width.div_ceil(16) * height.div_ceil(16)) as usize],
            planes,
            primed: false,
            csp,
            pts: 0,
            paint_over_qp,
            constant,
            keyint: keyframe_interval_frames,
            since_key: 0,
            last_qp: 0,
            qp_offset,
        })
    }

    /// The quantiser paint-over pictures are coded at (`None`: the stream is lossless).
    pub fn paint_over_qp(&self) -> Option<u8> {
        self.paint_over_qp
    }

    /// The quantiser x264 used for the last picture it output (0 before the first).
    pub fn last_qp(&self) -> i32 {
        self.last_qp
    }
}

impl Drop for X264Encoder {
    fn drop(&mut self) {
        // SAFETY: `enc` came from x264_encoder_open and is closed exactly once, here.
        unsafe { x::x264_encoder_close(self.enc.as_ptr()) }
    }
}

impl Encoder for X264Encoder {
    /// Encodes one picture and appends its Annex-B NAL units to `out`. `request.force_key`
    /// makes it an IDR (preceded by SPS/PPS); `request.paint_over` makes it an IDR at the
    /// paint-over quantiser (the next picture without it is back under `crf`).
    /// `key` in the outcome is x264's `b_keyframe` for the output picture: an IDR, either
    /// forced, a paint-over or from `keyframe_interval_frames`.
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        // Checks the size against the encoder's and fills the reused planes: only the rows that
        // changed when the planes hold the previous picture (a key frame refreshes them all, as
        // it follows a lost delivery or an error).
        let primed = std::mem::take(&mut self.primed);
        let changed = request
            .changed_rows
            .filter(|_| primed && !request.force_key && !request.paint_over);
        match changed {
            Some(rows) => self.planes.convert_rows(image, rows)?,
            None => self.planes.convert(image)?,
        }
        self.primed = true;
        // Macroblock rows wholly outside the changed rows are marked unchanged.
        if let Some((start, end)) = changed {
            let mb_width = self.planes.width().div_ceil(16) as usize;
            for (row, flags) in self.mb_info.chunks_exact_mut(mb_width).enumerate() {
                let (top, bottom) = (row as u32 * 16, row as u32 * 16 + 16);
                let constant = bottom <= start || top >= end;
                flags.fill(if constant {
                    x::X264_MBINFO_CONSTANT as u8
                } else {
                    0
                });
            }
        }

        let mut pic_in = MaybeUninit::<x::x264_picture_t>::uninit();
        // SAFETY: x264_picture_init initialises every field of the picture.
        let mut pic_in = unsafe {
            x::x264_picture_init(pic_in.as_mut_ptr());
            pic_in.assume_init()
        };
        let idr = policy::idr_due(request, self.pts == 0, self.since_key, self.keyint);
        pic_in.i_type = (if idr {
            x::X264_TYPE_IDR
        } else {
            x::X264_TYPE_AUTO
        }) as c_int;
        // X264_QP_AUTO (0) leaves the picture to CRF rate control.
        let qp = match (request.paint_over, self.paint_over_qp, self.constant) {
            (true, Some(qp), _) => Some(qp),
            (_, _, Some(c)) => Some(if idr { c.idr } else { c.p }),
            _ => None,
        };
        pic_in.i_qpplus1 = qp.map_or(x::X264_QP_AUTO as c_int, |qp| {
            c_int::from((qp + self.qp_offset).min(MAX_QP)) + 1
        });
        pic_in.i_pts = self.pts;
        self.pts += 1;
        let y_stride = self.planes.y_stride() as c_int;
        let c_stride = self.planes.chroma_stride() as c_int;
        let (y, u, v) = self.planes.planes_mut();
        pic_in.img.i_csp = self.csp;
        pic_in.img.i_plane = 3;
        pic_in.img.i_stride = [y_stride, c_stride, c_stride, 0];
        pic_in.img.plane = [
            y.as_mut_ptr(),
            u.as_mut_ptr(),
            v.as_mut_ptr(),
            ptr::null_mut(),
        ];
        // x264 keeps this pointer (not a copy) until the picture is encoded, which with no
        // frame delay (zerolatency: no lookahead, no B-frames, sliced threads) is before
        // x264_encoder_encode returns; the array is only rewritten on the next call.
        // `mb_info_free` stays null: the array is ours.
        if changed.is_some() {
            pic_in.prop.mb_info = self.mb_info.as_mut_ptr();
        }

        let mut nals: *mut x::x264_nal_t = ptr::null_mut();
        let mut n_nals: c_int = 0;
        // Zeroed is a valid x264_picture_t (integers and null pointers); x264 fills it when it
        // outputs a frame.
        let mut pic_out = MaybeUninit::<x::x264_picture_t>::zeroed();
        // SAFETY: the encoder handle is live; the input planes point into buffers of the
        // configured size that outlive the call (x264 copies them before returning).
        let size = unsafe {
            x::x264_encoder_encode(
                self.enc.as_ptr(),
                &mut nals,
                &mut n_nals,
                &mut pic_in,
                pic_out.as_mut_ptr(),
            )
        };
        if size < 0 {
            return Err(err(format!("x264_encoder_encode failed ({size})")));
        }
        if size == 0 || nals.is_null() || n_nals <= 0 {
            return Ok(EncodeOutcome {
                key: false,
                produced: false,
                joins_blocks: false,
            });
        }
        // SAFETY: x264 guarantees the payloads of all NALs of one call are contiguous and
        // `size` bytes long in total, starting at the first NAL's payload; they stay valid
        // until the next call on this encoder.
        let (payload, key) = unsafe {
            let first = &*nals;
            debug_assert_eq!(
                std::slice::from_raw_parts(nals, n_nals as usize)
                    .iter()
                    .map(|n| n.i_payload as i64)
                    .sum::<i64>(),
                size as i64
            );
            let pic_out = pic_out.assume_init();
            self.last_qp = pic_out.i_qpplus1 - 1 - c_int::from(self.qp_offset);
            (
                std::slice::from_raw_parts(first.p_payload, size as usize),
                pic_out.b_keyframe != 0,
            )
        };
        out.extend_from_slice(payload);
        self.since_key = if key { 1 } else { self.since_key + 1 };
        Ok(EncodeOutcome {
            key,
            produced: true,
            joins_blocks: false,
        })
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::X264
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nal_unit_types;
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    /// Five solid bars: red, green, blue, white, grey.
    const BARS: [(u8, u8, u8); 5] = [
        (255, 0, 0),
        (0, 255, 0),
        (0, 0, 255),
        (255, 255, 255),
        (128, 128, 128),
    ];

    /// 320x64: rows 0..32 are the five 64-px bars, rows 32..64 smooth ramps and a wave. `shift`
    /// moves the bottom half so consecutive frames differ.
    fn test_image(shift: u32) -> Vec<u8> {
        let (w, h) = (320u32, 64u32);
        let mut px = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                if y < 32 {
                    let (r, g, b) = BARS[(x / 64) as usize];
                    px.extend_from_slice(&[b, g, r, 0]);
                } else {
                    // Smooth natural-image-like content: two ramps and a soft diagonal wave.
                    let r = ((x + shift) * 255 / (w + 64)) as u8;
                    let g = ((y - 32) * 255 / 32) as u8;
                    let phase = (x + shift) as f64 / 16.0 + y as f64 / 8.0;
                    let b = (128.0 + 100.0 * phase.sin()) as u8;
                    px.extend_from_slice(&[b, g, r, 0]);
                }
            }
        }
        px
    }

    fn config(fullcolor: bool) -> X264Config {
        X264Config {
            params: StreamParams {
                width: 320,
                height: 64,
                crf: 23,
                paint_over_crf: 18,
                rate_control: Default::default(),
                fullcolor,
                fps: 30.0,
                keyframe_interval_frames: 0,
            },
            threads: 1,
        }
    }

    /// `config(fullcolor)` with its stream parameters changed by `edit`.
    fn config_with(fullcolor: bool, edit: impl FnOnce(&mut StreamParams)) -> X264Config {
        let mut cfg = config(fullcolor);
        edit(&mut cfg.params);
        cfg
    }

    #[track_caller]
    fn tool_missing(tool: &str, e: std::io::Error) -> ! {
        crate::encode::tool_missing(
            tool,
            e,
            "the H.264 decode tests need FFmpeg on PATH (apt install ffmpeg)",
        )
    }

    /// Decodes an Annex-B stream with the ffmpeg CLI into BGRX frames of `w` x `h`.
    fn ffmpeg_decode(stream: &[u8], w: u32, h: u32) -> Vec<Vec<u8>> {
        let mut child = Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-f",
                "h264",
                "-i",
                "-",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "bgr0",
                "-",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| tool_missing("ffmpeg", e));
        let mut stdin = child.stdin.take().unwrap();
        let input = stream.to_vec();
        let writer = std::thread::spawn(move || stdin.write_all(&input));
        let mut raw = Vec::new();
        child.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
        writer.join().unwrap().unwrap();
        let outp = child.wait_with_output().unwrap();
        assert!(
            outp.status.success(),
            "ffmpeg failed: {}",
            String::from_utf8_lossy(&outp.stderr)
        );
        let frame = (w * h * 4) as usize;
        assert_eq!(
            raw.len() % frame,
            0,
            "decoded {} bytes, not a whole number of {w}x{h} frames",
            raw.len()
        );
        raw.chunks_exact(frame).map(<[u8]>::to_vec).collect()
    }

    /// `ffprobe -show_streams` of an Annex-B stream, as `key=value` lines.
    fn ffprobe(stream: &[u8], tag: &str) -> String {
        let path =
            std::env::temp_dir().join(format!("stripecast-x264-{}-{tag}.h264", std::process::id()));
        std::fs::write(&path, stream).unwrap();
        let outp = Command::new("ffprobe")
            .args(["-v", "error", "-show_streams", "-of", "default=nw=1"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| tool_missing("ffprobe", e));
        let _ = std::fs::remove_file(&path);
        assert!(
            outp.status.success(),
            "ffprobe failed: {}",
            String::from_utf8_lossy(&outp.stderr)
        );
        String::from_utf8(outp.stdout).unwrap()
    }

    fn psnr_rgb(a: &[u8], b: &[u8]) -> f64 {
        let mut sse = 0u64;
        let mut n = 0u64;
        for (pa, pb) in a.chunks_exact(4).zip(b.chunks_exact(4)) {
            for c in 0..3 {
                let d = pa[c] as i64 - pb[c] as i64;
                sse += (d * d) as u64;
                n += 1;
            }
        }
        if sse == 0 {
            return 99.0;
        }
        10.0 * (255.0f64 * 255.0 / (sse as f64 / n as f64)).log10()
    }

    fn encode_all(
        enc: &mut X264Encoder,
        frames: &[(Vec<u8>, bool)],
    ) -> (Vec<u8>, Vec<(Vec<u8>, EncodeOutcome)>) {
        let mut stream = Vec::new();
        let mut each = Vec::new();
        for (px, force_key) in frames {
            let mut out = Vec::new();
            let r = enc
                .encode(
                    BgrxImage::packed(px, 320, 64),
                    EncodeRequest {
                        force_key: *force_key,
                        paint_over: false,
                        ..Default::default()
                    },
                    &mut out,
                )
                .unwrap();
            stream.extend_from_slice(&out);
            each.push((out, r));
        }
        (stream, each)
    }

    #[test]
    fn changed_rows_hint_refreshes_only_those_rows_and_the_picture_stays_right() {
        // Frame 1 differs from frame 0 only in rows 20..30; frame 2 only in rows 0..3 (odd end:
        // the chroma row pair must still be refreshed).
        let f0 = test_image(0);
        let mut f1 = f0.clone();
        f1[20 * 320 * 4..30 * 320 * 4].fill(200);
        let mut f2 = f1.clone();
        f2[..3 * 320 * 4].fill(30);
        let frames = [&f0, &f1, &f2];
        for fullcolor in [false, true] {
            let run = |hints: [Option<(u32, u32)>; 3]| {
                let mut enc = X264Encoder::new(config(fullcolor)).unwrap();
                let mut stream = Vec::new();
                for (i, (px, hint)) in frames.into_iter().zip(hints).enumerate() {
                    enc.encode(
                        BgrxImage::packed(px, 320, 64),
                        EncodeRequest {
                            force_key: i == 0,
                            changed_rows: hint,
                            ..Default::default()
                        },
                        &mut stream,
                    )
                    .unwrap();
                }
                ffmpeg_decode(&stream, 320, 64)
            };
            let full = run([None, None, None]);
            // The first picture has no previous one, so its hint is ignored; the other hints
            // also mark the macroblock rows outside them unchanged (skipped by x264).
            let hinted = run([Some((0, 1)), Some((20, 30)), Some((0, 3))]);
            assert_eq!(hinted.len(), 3);
            for (i, px) in frames.iter().enumerate() {
                let (a, b) = (psnr_rgb(&full[i], px), psnr_rgb(&hinted[i], px));
                assert!(
                    b >= 25.0 && b >= a - 0.5,
                    "fullcolor {fullcolor} frame {i}: {b:.2} dB with hints, {a:.2} without"
                );
            }
            // A wrong hint shows: rows 20..30 keep the previous picture.
            let wrong = run([None, Some((0, 2)), Some((0, 3))]);
            let (good, bad) = (
                psnr_rgb(&full[1], f1.as_slice()),
                psnr_rgb(&wrong[1], f1.as_slice()),
            );
            assert!(
                bad < good - 5.0,
                "fullcolor {fullcolor}: wrong hint {bad:.2} dB vs {good:.2}"
            );
        }
    }

    #[test]
    fn first_forced_frame_is_an_idr_with_sps_and_pps() {
        for fullcolor in [false, true] {
            let mut enc = X264Encoder::new(config(fullcolor)).unwrap();
            assert_eq!(enc.kind(), EncoderKind::X264);
            let px = test_image(0);
            let mut out = vec![0xAB; 10];
            let r = enc
                .encode(
                    BgrxImage::packed(&px, 320, 64),
                    EncodeRequest {
                        force_key: true,
                        paint_over: false,
                        ..Default::default()
                    },
                    &mut out,
                )
                .unwrap();
            assert!(r.produced && r.key, "{r:?}");
            assert_eq!(&out[..10], &[0xAB; 10], "a header already in `out` is kept");
            let body = &out[10..];
            assert!(
                body.starts_with(&[0, 0, 0, 1]) || body.starts_with(&[0, 0, 1]),
                "{:02x?}",
                &body[..8]
            );
            let types = nal_unit_types(body);
            for t in [7, 8, 5] {
                assert!(
                    types.contains(&t),
                    "fullcolor={fullcolor}: NAL type {t} missing from {types:?}"
                );
            }
            let pos = |t| types.iter().position(|&x| x == t).unwrap();
            assert!(
                pos(7) < pos(8) && pos(8) < pos(5),
                "SPS, PPS, then the slice: {types:?}"
            );
        }
    }

    #[test]
    fn delta_frames_are_not_idr_until_a_key_is_forced() {
        let mut enc = X264Encoder::new(config(false)).unwrap();
        let frames = vec![
            (test_image(0), true),
            (test_image(5), false),
            (test_image(9), false),
            (test_image(13), true),
        ];
        let (_, each) = encode_all(&mut enc, &frames);
        let kinds: Vec<(bool, Vec<u8>)> = each
            .iter()
            .map(|(out, r)| (r.key, nal_unit_types(out)))
            .collect();
        assert!(
            each.iter().all(|(_, r)| r.produced),
            "zerolatency: every input produces output"
        );
        for i in [1, 2] {
            let (key, types) = &kinds[i];
            assert!(!key, "frame {i} reported as key: {kinds:?}");
            assert!(
                !types.contains(&5) && !types.contains(&7),
                "frame {i} has IDR/SPS: {types:?}"
            );
            assert!(
                types.contains(&1),
                "frame {i} has no non-IDR slice: {types:?}"
            );
        }
        let (key, types) = &kinds[3];
        assert!(
            *key && types.contains(&5) && types.contains(&7) && types.contains(&8),
            "forced IDR again: {kinds:?}"
        );
    }

    #[test]
    fn constant_quantiser_codes_p_at_crf_i_three_lower_and_paint_over_at_its_own() {
        // (picture seed, force_key, paint_over); pictures of different complexity, so a rate
        // control that follows the content would move the quantiser.
        let steps = [
            (1, true, false),
            (2, false, false),
            (40, false, false),
            (41, false, false),
            (41, false, false),
            (7, true, true),
            (8, false, false),
            (9, true, false),
        ];
        let run = |rate_control| {
            let cfg = config_with(false, |p| {
                p.crf = 30;
                p.paint_over_crf = 15;
                p.rate_control = rate_control;
            });
            let mut enc = X264Encoder::new(cfg).unwrap();
            let mut stream = Vec::new();
            let qps: Vec<i32> = steps
                .iter()
                .map(|&(seed, force_key, paint_over)| {
                    let px = test_image(seed);
                    let request = EncodeRequest {
                        force_key,
                        paint_over,
                        ..Default::default()
                    };
                    let r = enc
                        .encode(BgrxImage::packed(&px, 320, 64), request, &mut stream)
                        .unwrap();
                    assert!(r.produced && r.key == force_key, "{r:?}");
                    enc.last_qp()
                })
                .collect();
            (qps, stream)
        };
        let (cqp, stream) = run(RateControl::Cqp);
        assert_eq!(cqp, [27, 30, 30, 30, 30, 12, 30, 27]);
        let decoded = ffmpeg_decode(&stream, 320, 64);
        assert_eq!(decoded.len(), steps.len());
        let last = psnr_rgb(&test_image(9), &decoded[steps.len() - 1]);
        assert!(last > 30.0, "an IDR at QP 27 decodes to {last:.2} dB");
        // The same pictures under CRF 30 get quantisers of their own.
        let (crf, _) = run(RateControl::Crf);
        assert_ne!(crf, cqp, "CRF follows the content");

        // IDRs of a key-frame interval get the I quantiser too.
        let cfg = config_with(false, |p| {
            p.crf = 30;
            p.rate_control = RateControl::Cqp;
            p.keyframe_interval_frames = 3;
        });
        let mut enc = X264Encoder::new(cfg).unwrap();
        let coded: Vec<(bool, i32)> = (0..7)
            .map(|i| {
                let px = test_image(i);
                let r = enc
                    .encode(
                        BgrxImage::packed(&px, 320, 64),
                        EncodeRequest::default(),
                        &mut Vec::new(),
                    )
                    .unwrap();
                (r.key, enc.last_qp())
            })
            .collect();
        let (k, p) = ((true, 27), (false, 30));
        assert_eq!(coded, [k, p, p, k, p, p, k]);

        // A paint-over coarser than the P pictures (a strange choice, but allowed) is coded
        // at its own quantiser too, not clipped to the stream's.
        let cfg = config_with(false, |p| {
            p.crf = 20;
            p.paint_over_crf = 40;
            p.rate_control = RateControl::Cqp;
        });
        let mut enc = X264Encoder::new(cfg).unwrap();
        let qps: Vec<i32> = [(true, false), (false, false), (true, true), (false, false)]
            .iter()
            .enumerate()
            .map(|(i, &(force_key, paint_over))| {
                let px = test_image(i as u32 + 20);
                let request = EncodeRequest {
                    force_key,
                    paint_over,
                    ..Default::default()
                };
                enc.encode(BgrxImage::packed(&px, 320, 64), request, &mut Vec::new())
                    .unwrap();
                enc.last_qp()
            })
            .collect();
        assert_eq!(qps, [17, 20, 37, 20]);
    }

    #[test]
    fn paint_over_is_a_bigger_better_idr_then_crf_returns() {
        for fullcolor in [false, true] {
            let cfg = config_with(fullcolor, |p| {
                p.crf = 30;
                p.paint_over_crf = 15;
            });
            let mut enc = X264Encoder::new(cfg).unwrap();
            assert_eq!(
                enc.paint_over_qp(),
                Some(12),
                "15 minus the I/P offset of 3"
            );
            let still = test_image(7);
            // (picture, force_key, paint_over): the still picture is sent as a normal IDR
            // (after P frames), as a paint-over (the pipeline sets force_key with it), and as
            // a normal IDR again, with moving content in between.
            let steps: Vec<(Vec<u8>, bool, bool)> = vec![
                (still.clone(), true, false),
                (test_image(3), false, false),
                (test_image(5), false, false),
                (still.clone(), true, false), // 3: normal IDR
                (test_image(9), false, false),
                (test_image(11), false, false),
                (still.clone(), true, true), // 6: paint-over
                (test_image(13), false, false),
                (test_image(15), false, false),
                (still.clone(), true, false), // 9: normal IDR again
            ];
            let mut outs = Vec::new();
            let mut qps = Vec::new();
            for (i, (px, force_key, paint_over)) in steps.iter().enumerate() {
                let mut out = Vec::new();
                let r = enc
                    .encode(
                        BgrxImage::packed(px, 320, 64),
                        EncodeRequest {
                            force_key: *force_key,
                            paint_over: *paint_over,
                            ..Default::default()
                        },
                        &mut out,
                    )
                    .unwrap();
                assert!(r.produced, "step {i}");
                assert_eq!(r.key, *force_key, "step {i}: {r:?}");
                outs.push(out);
                qps.push(enc.last_qp());
            }
            let decode_psnr = |bytes: &[u8]| {
                let dec = ffmpeg_decode(bytes, 320, 64);
                assert_eq!(dec.len(), 1, "an IDR decodes on its own");
                psnr_rgb(&still, &dec[0])
            };
            let (idr, po, idr2) = (&outs[3], &outs[6], &outs[9]);
            let (p_idr, p_po, p_idr2) = (decode_psnr(idr), decode_psnr(po), decode_psnr(idr2));
            eprintln!(
                "fullcolor={fullcolor} QPs {qps:?}: IDR at crf 30 {} B {p_idr:.2} dB; paint-over at crf 15 {} B {p_po:.2} dB; IDR after {} B {p_idr2:.2} dB",
                idr.len(),
                po.len(),
                idr2.len()
            );
            assert_eq!(qps[6], 12, "paint-over at the forced QP: {qps:?}");
            assert!(
                po.len() > idr.len() * 3 / 2,
                "paint-over {} B not clearly larger than the IDR's {} B",
                po.len(),
                idr.len()
            );
            // RGB PSNR of 4:2:0 is capped near 39 dB by chroma subsampling at the bar edges.
            assert!(
                p_po > p_idr + 1.5,
                "paint-over PSNR {p_po:.2} not clearly above the IDR's {p_idr:.2}"
            );
            // Back under the normal CRF afterwards: the P frames are coded as before the
            // paint-over. x264 sets an I frame that follows P frames from a decaying average of
            // recent QPs, which the paint-over's QP joins, so the next normal IDR may come out
            // a few QP finer, still well above the paint-over's.
            assert!(
                (qps[7] - qps[4]).abs() <= 1 && (qps[8] - qps[5]).abs() <= 1,
                "P frames after the paint-over: {qps:?}"
            );
            assert!(
                qps[9] <= qps[3] && qps[9] >= qps[3] - 4 && qps[9] > qps[6] + 5,
                "IDR after the paint-over: {qps:?}"
            );
            assert!(p_idr2 < p_po, "{p_idr2:.2} vs {p_po:.2}");
            // A paint-over without force_key is still an IDR with SPS/PPS.
            let mut out = Vec::new();
            let r = enc
                .encode(
                    BgrxImage::packed(&still, 320, 64),
                    EncodeRequest {
                        force_key: false,
                        paint_over: true,
                        ..Default::default()
                    },
                    &mut out,
                )
                .unwrap();
            assert!(r.key, "paint-over alone: {r:?}");
            let types = nal_unit_types(&out);
            assert!(types.contains(&7) && types.contains(&5), "{types:?}");
            // The whole stream decodes.
            assert_eq!(ffmpeg_decode(&outs.concat(), 320, 64).len(), steps.len());
        }
        // A lossless 4:4:4 stream has nothing better to offer: no forced QP.
        let enc = X264Encoder::new(config_with(true, |p| {
            p.crf = 0;
            p.paint_over_crf = 0;
        }))
        .unwrap();
        assert_eq!(enc.paint_over_qp(), None);
        // The forced QP never reaches 0 (lossless only in a stream opened lossless).
        let enc = X264Encoder::new(config_with(false, |p| p.paint_over_crf = 0)).unwrap();
        assert_eq!(enc.paint_over_qp(), Some(1));
    }

    /// The I/P offset all encoders share is x264's own: its default I/P ratio in QP steps.
    #[test]
    fn idr_qp_offset_is_x264s_default_ip_ratio() {
        let mut param = MaybeUninit::<x::x264_param_t>::uninit();
        // SAFETY: as in `X264Encoder::new`.
        let p = unsafe {
            assert!(
                x::x264_param_default_preset(
                    param.as_mut_ptr(),
                    c"ultrafast".as_ptr(),
                    c"zerolatency".as_ptr(),
                ) >= 0
            );
            param.assume_init()
        };
        let offset = (6.0 * f64::from(p.rc.f_ip_factor).log2()).round();
        assert_eq!(offset, f64::from(policy::IDR_QP_OFFSET));
    }

    #[test]
    fn keyframe_interval_inserts_idrs() {
        let mut enc =
            X264Encoder::new(config_with(false, |p| p.keyframe_interval_frames = 3)).unwrap();
        let frames: Vec<_> = (0..7).map(|i| (test_image(i * 3), false)).collect();
        let (_, each) = encode_all(&mut enc, &frames);
        let keys: Vec<bool> = each.iter().map(|(_, r)| r.key).collect();
        assert_eq!(keys, [true, false, false, true, false, false, true]);
    }

    fn check_decode_quality(fullcolor: bool, min_psnr: f64) {
        let mut enc = X264Encoder::new(config(fullcolor)).unwrap();
        let frames = vec![
            (test_image(0), true),
            (test_image(4), false),
            (test_image(8), false),
        ];
        let (stream, _) = encode_all(&mut enc, &frames);
        let decoded = ffmpeg_decode(&stream, 320, 64);
        assert_eq!(decoded.len(), frames.len());
        for (i, (dec, (src, _))) in decoded.iter().zip(&frames).enumerate() {
            let psnr = psnr_rgb(src, dec);
            assert!(
                psnr >= min_psnr,
                "fullcolor={fullcolor} frame {i}: PSNR {psnr:.2} dB < {min_psnr}"
            );
            // Bar interiors (away from edges) must come back within ±3 per channel: catches a
            // wrong matrix (BT.601 vs 709) or range (full vs limited) anywhere in the chain.
            let mut worst = 0;
            for (bar, &(r, g, b)) in BARS.iter().enumerate() {
                for y in 4..28usize {
                    for x in (bar * 64 + 8)..(bar * 64 + 56) {
                        let p = &dec[(y * 320 + x) * 4..(y * 320 + x) * 4 + 3];
                        let dev = [(p[2], r), (p[1], g), (p[0], b)]
                            .iter()
                            .map(|&(got, want)| (got as i32 - want as i32).abs())
                            .max()
                            .unwrap();
                        worst = worst.max(dev);
                        assert!(dev <= 3, "fullcolor={fullcolor} frame {i} bar {bar} at ({x},{y}): got rgb({},{},{}) want rgb({r},{g},{b})", p[2], p[1], p[0]);
                    }
                }
            }
            eprintln!(
                "fullcolor={fullcolor} frame {i}: PSNR {psnr:.2} dB, worst bar deviation {worst}"
            );
        }
    }

    #[test]
    fn decodes_with_ffmpeg_420_psnr_and_exact_colours() {
        check_decode_quality(false, 35.0);
    }

    #[test]
    fn decodes_with_ffmpeg_444_psnr_and_exact_colours() {
        check_decode_quality(true, 40.0);
    }

    #[test]
    fn ffprobe_reports_profile_pixel_format_and_bt709_full_range() {
        // 4:2:0: `apply_profile("high")` only caps the tools; x264 signals the lowest profile
        // that covers what ultrafast uses (no CABAC, no 8x8 transform): Constrained Baseline.
        for (fullcolor, profile, pix_fmt) in [
            (false, "Constrained Baseline", "yuvj420p"),
            (true, "High 4:4:4 Predictive", "yuvj444p"),
        ] {
            let mut enc = X264Encoder::new(config(fullcolor)).unwrap();
            let (stream, _) =
                encode_all(&mut enc, &[(test_image(0), true), (test_image(2), false)]);
            let info = ffprobe(&stream, if fullcolor { "444" } else { "420" });
            let field = |k: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(k)?.strip_prefix('='))
                    .unwrap_or("<missing>")
                    .to_string()
            };
            assert_eq!(field("codec_name"), "h264", "{info}");
            assert_eq!(field("profile"), profile, "{info}");
            assert_eq!(field("pix_fmt"), pix_fmt, "{info}");
            assert_eq!(field("width"), "320");
            assert_eq!(field("height"), "64");
            assert_eq!(field("color_range"), "pc", "{info}");
            assert_eq!(field("color_space"), "bt709", "{info}");
            assert_eq!(field("color_primaries"), "bt709", "{info}");
            assert_eq!(field("color_transfer"), "bt709", "{info}");
        }
    }

    #[test]
    fn rejects_bad_configs_and_mismatched_images() {
        let bad = [
            config_with(false, |p| p.width = 321),
            config_with(false, |p| p.height = 63),
            config_with(true, |p| p.width = 0),
            config_with(false, |p| p.crf = 52),
            config_with(false, |p| p.fps = 0.0),
            config_with(false, |p| p.fps = f64::NAN),
        ];
        for cfg in bad {
            assert!(X264Encoder::new(cfg).is_err(), "{cfg:?} accepted");
        }
        // crf 0 is lossless in 4:4:4 and raised to 1 in 4:2:0; both open.
        X264Encoder::new(config_with(false, |p| p.crf = 0)).unwrap();
        X264Encoder::new(config_with(true, |p| p.crf = 0)).unwrap();
        // Odd sizes are fine for 4:4:4.
        X264Encoder::new(config_with(true, |p| {
            p.width = 321;
            p.height = 63;
        }))
        .unwrap();

        let mut enc = X264Encoder::new(config(false)).unwrap();
        let px = vec![0u8; 160 * 64 * 4];
        let mut out = Vec::new();
        assert!(enc
            .encode(
                BgrxImage::packed(&px, 160, 64),
                EncodeRequest::default(),
                &mut out
            )
            .is_err());
        assert!(out.is_empty());
    }

    #[test]
    fn encoder_moves_between_threads() {
        let mut enc = X264Encoder::new(X264Config {
            threads: 0,
            ..config(false)
        })
        .unwrap();
        let mut out = Vec::new();
        enc.encode(
            BgrxImage::packed(&test_image(0), 320, 64),
            EncodeRequest {
                force_key: true,
                paint_over: false,
                ..Default::default()
            },
            &mut out,
        )
        .unwrap();
        let (enc, out) = std::thread::spawn(move || {
            let mut enc = enc;
            let mut out = out;
            let r = enc
                .encode(
                    BgrxImage::packed(&test_image(3), 320, 64),
                    EncodeRequest::default(),
                    &mut out,
                )
                .unwrap();
            assert!(r.produced && !r.key);
            (enc, out)
        })
        .join()
        .unwrap();
        drop(enc);
        assert_eq!(ffmpeg_decode(&out, 320, 64).len(), 2);
    }

    /// A desktop-like 1080p frame: gradient background, a high-detail "text" block and a box
    /// at `box_x` that moves between frames.
    fn desktop_1080p(box_x: u32) -> Vec<u8> {
        let (w, h) = (1920u32, 1080u32);
        let mut px = vec![0u8; (w * h * 4) as usize];
        let mut seed = 0x1234_5678u32;
        for y in 0..h {
            for x in 0..w {
                let i = ((y * w + x) * 4) as usize;
                let mut p = [(x * 255 / w) as u8, (y * 255 / h) as u8, 90, 0];
                if (100..500).contains(&y) && (200..1000).contains(&x) {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let v = if (seed >> 24).is_multiple_of(4) {
                        20
                    } else {
                        240
                    };
                    p = [v, v, v, 0];
                }
                if (600..800).contains(&y) && (box_x..box_x + 200).contains(&x) {
                    p = [30, 60, 220, 0];
                }
                px[i..i + 4].copy_from_slice(&p);
            }
        }
        px
    }

    fn rss_bytes() -> u64 {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
        statm
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            * 4096
    }

    /// Timings; run with
    /// `cargo test --release -p stripecast-core x264::tests::bench -- --ignored --nocapture --test-threads=1`.
    #[test]
    #[ignore]
    fn bench_1080p_conversion_and_encode() {
        let (w, h) = (1920u32, 1080u32);
        let frames: Vec<Vec<u8>> = (0..8).map(|i| desktop_1080p(100 + i * 40)).collect();
        for layout in [ChromaLayout::I420, ChromaLayout::I444] {
            let mut planes = YuvPlanes::new(w, h, layout).unwrap();
            planes.convert(BgrxImage::packed(&frames[0], w, h)).unwrap();
            let n = 100;
            let t = Instant::now();
            for i in 0..n {
                planes
                    .convert(BgrxImage::packed(&frames[i % frames.len()], w, h))
                    .unwrap();
            }
            eprintln!(
                "BGRX->{layout:?} 1920x1080: {:.3} ms/frame",
                t.elapsed().as_secs_f64() * 1000.0 / n as f64
            );
        }
        for (fullcolor, threads) in [(false, 1), (false, 0), (true, 1), (true, 0)] {
            let rss0 = rss_bytes();
            let cfg = X264Config {
                params: StreamParams {
                    width: w,
                    height: h,
                    crf: 25,
                    paint_over_crf: 20,
                    rate_control: Default::default(),
                    fullcolor,
                    fps: 30.0,
                    keyframe_interval_frames: 0,
                },
                threads,
            };
            let mut enc = X264Encoder::new(cfg).unwrap();
            let mut out = Vec::with_capacity(4 << 20);
            let n = 40;
            let (mut idr_ms, mut p_ms, mut idr_bytes, mut p_bytes) = (0.0, 0.0, 0usize, 0usize);
            for i in 0..n {
                out.clear();
                let key = i % 20 == 0;
                let t = Instant::now();
                enc.encode(
                    BgrxImage::packed(&frames[i % frames.len()], w, h),
                    EncodeRequest {
                        force_key: key,
                        paint_over: false,
                        ..Default::default()
                    },
                    &mut out,
                )
                .unwrap();
                let ms = t.elapsed().as_secs_f64() * 1000.0;
                if key {
                    idr_ms += ms;
                    idr_bytes += out.len();
                } else {
                    p_ms += ms;
                    p_bytes += out.len();
                }
            }
            let rss1 = rss_bytes();
            eprintln!(
                "x264 1920x1080 {} threads={threads}: IDR {:.2} ms ({} KiB), P {:.2} ms ({} KiB); RSS +{} MiB",
                if fullcolor { "4:4:4" } else { "4:2:0" },
                idr_ms / 2.0,
                idr_bytes / 2 / 1024,
                p_ms / (n - 2) as f64,
                p_bytes / (n - 2) / 1024,
                rss1.saturating_sub(rss0) >> 20
            );
        }
        // A striped-mode encoder: one 1920x64 stripe, one thread.
        let stripe = BgrxImage::packed(&frames[0], w, 1080).rows(128, 64);
        let rss0 = rss_bytes();
        let mut encs: Vec<X264Encoder> = (0..16)
            .map(|_| {
                X264Encoder::new(X264Config {
                    params: StreamParams {
                        width: w,
                        height: 64,
                        crf: 25,
                        paint_over_crf: 20,
                        rate_control: Default::default(),
                        fullcolor: false,
                        fps: 30.0,
                        keyframe_interval_frames: 0,
                    },
                    threads: 1,
                })
                .unwrap()
            })
            .collect();
        let mut out = Vec::new();
        let t = Instant::now();
        for e in &mut encs {
            out.clear();
            e.encode(
                stripe,
                EncodeRequest {
                    force_key: true,
                    paint_over: false,
                    ..Default::default()
                },
                &mut out,
            )
            .unwrap();
        }
        let idr = t.elapsed().as_secs_f64() * 1000.0 / 16.0;
        eprintln!(
            "x264 1920x64 stripe threads=1 4:2:0: IDR {idr:.2} ms; RSS per encoder ~{} KiB",
            rss_bytes().saturating_sub(rss0) / 16 / 1024
        );
    }
}
