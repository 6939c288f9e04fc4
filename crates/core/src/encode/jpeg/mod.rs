//! JPEG stripes through libjpeg-turbo.
//!
//! Each picture's colour layout (grey, 4:2:0 or 4:4:4) is chosen from its pixels by
//! [`chroma::choose`]. Colour pictures are converted by [`super::colour`] (JFIF's BT.601 full
//! range; for 4:2:0, chroma averaged over 2x2 blocks) and handed to libjpeg-turbo as planes:
//! faster than its own BGRX conversion (4:2:0: 3.5 vs 3.8 ms per 1080p frame of 128-row
//! stripes; 4:4:4: 7.5 vs 7.9). Grey pictures and 4:2:0 ones of odd size go in as BGRX.
//!
//! libjpeg-turbo's accurate integer DCT is kept: its AVX2 code is as fast as the "fast" DCT,
//! which has only SSE2 code (measured: 3.9 vs 4.1 ms per 1080p frame of 64-row stripes).

pub mod chroma;

use std::sync::{Arc, Mutex};

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp, YuvPlanesImage};

use super::colour::{ChromaLayout, YuvMatrix, YuvPlanes};
use super::{BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind, Motion};
use crate::settings::Subsampling;
pub use chroma::Chroma;

/// The settings of a JPEG stream.
#[derive(Debug, Clone, Copy)]
pub struct JpegConfig {
    pub quality: u8,
    pub paint_over_quality: u8,
    pub subsampling: Subsampling,
}

/// What a JPEG encode works in: a libjpeg-turbo handle, the I420 or I444 planes of a colour
/// picture and the buffer the JPEG is written to before it is copied out at its size.
struct Workspace {
    tj: Compressor,
    i420: Option<YuvPlanes>,
    i444: Option<YuvPlanes>,
    scratch: Vec<u8>,
}

/// Workspaces shared by the JPEG streams of one capture; an encode borrows one while it runs.
///
/// A frame's stripes then reuse the few workspaces still warm in cache (about one per encoding
/// thread) instead of each stream keeping its own: at 1080p that was nine 370 KB I420 buffers,
/// each gone cold by the time its stripe came round again (measured with `npm run bench`, CPU
/// per frame: full-screen video 5.6 → 5.2 ms, scroll 5.6 → 4.8 ms), and nine 740 KB
/// worst-case output buffers resident for good (6.6 MB). The pool holds as many workspaces as
/// encodes ever ran at once, and goes with the capture's encoders.
#[derive(Default)]
pub struct WorkspacePool(Mutex<Vec<Workspace>>);

impl WorkspacePool {
    fn take(&self) -> Option<Workspace> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give(&self, ws: Workspace) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(ws);
    }
}

/// Encodes at `quality`, or `paint_over_quality` for paint-over requests, in a workspace
/// borrowed from a [`WorkspacePool`]. No per-thread or per-stream state, so any thread may
/// encode any stripe.
pub struct JpegEncoder {
    config: JpegConfig,
    pool: Arc<WorkspacePool>,
    memo: chroma::ChromaMemo,
}

impl JpegEncoder {
    /// An encoder with a pool of its own.
    pub fn new(config: JpegConfig) -> Self {
        Self::with_pool(config, Arc::default())
    }

    /// An encoder that borrows its workspaces from `pool` (shared by a capture's streams).
    pub fn with_pool(config: JpegConfig, pool: Arc<WorkspacePool>) -> Self {
        Self {
            config,
            pool,
            memo: Default::default(),
        }
    }
}

fn jerr(e: turbojpeg::Error) -> EncodeError {
    EncodeError::Jpeg(e.to_string())
}

/// Converts `image` into `slot`'s planes of `layout` (made or resized for it) and compresses
/// them into `scratch`; returns the JPEG's length.
fn compress_planes(
    tj: &mut Compressor,
    slot: &mut Option<YuvPlanes>,
    layout: ChromaLayout,
    image: BgrxImage<'_>,
    scratch: &mut [u8],
) -> Result<usize, EncodeError> {
    let (w, h) = (image.width, image.height);
    let planes = match slot {
        Some(p) => {
            p.reshape(w, h)?;
            p
        }
        empty => empty.insert(YuvPlanes::new(w, h, layout)?.with_matrix(YuvMatrix::JfifFull)),
    };
    planes.convert(image)?;
    let yuv = YuvPlanesImage {
        y_plane: planes.y(),
        u_plane: planes.u(),
        v_plane: planes.v(),
        width: image.width as usize,
        height: image.height as usize,
        y_stride: planes.y_stride(),
        u_stride: planes.chroma_stride(),
        v_stride: planes.chroma_stride(),
        subsamp: match layout {
            ChromaLayout::I420 => Subsamp::Sub2x2,
            ChromaLayout::I444 => Subsamp::None,
        },
    };
    tj.compress_yuv_planes_to_slice(&yuv, scratch).map_err(jerr)
}

/// Compresses `image` into `ws.scratch`; returns the JPEG's length.
fn compress(
    ws: &mut Workspace,
    image: BgrxImage<'_>,
    quality: u8,
    chroma: Chroma,
) -> Result<usize, EncodeError> {
    let subsamp = match chroma {
        // From BGRX, libjpeg-turbo keeps only luma: for grey pixels, the grey level itself.
        Chroma::Grey => Subsamp::Gray,
        Chroma::Half => Subsamp::Sub2x2,
        Chroma::Full => Subsamp::None,
    };
    let tj = &mut ws.tj;
    // libjpeg-turbo treats quality 0 as 1.
    tj.set_quality(i32::from(quality.max(1))).map_err(jerr)?;
    tj.set_subsamp(subsamp).map_err(jerr)?;
    let need = tj
        .buf_len(image.width as usize, image.height as usize)
        .map_err(jerr)?;
    if ws.scratch.len() < need {
        // Zeroed by the allocator (fresh pages for a buffer this size), not by writing: only
        // the pages libjpeg-turbo writes become resident, not the whole worst case.
        ws.scratch = vec![0; need];
    }
    let (w, h) = (image.width, image.height);
    match chroma {
        Chroma::Half if w.is_multiple_of(2) && h.is_multiple_of(2) => {
            compress_planes(tj, &mut ws.i420, ChromaLayout::I420, image, &mut ws.scratch)
        }
        Chroma::Full => {
            compress_planes(tj, &mut ws.i444, ChromaLayout::I444, image, &mut ws.scratch)
        }
        Chroma::Grey | Chroma::Half => {
            let img = Image {
                pixels: image.data,
                width: w as usize,
                pitch: image.stride,
                height: h as usize,
                format: PixelFormat::BGRX,
            };
            tj.compress_to_slice(img, &mut ws.scratch).map_err(jerr)
        }
    }
}

/// The quality a request is encoded at: the paint-over quality for a paint-over, and for rows
/// a scroll brought in ([`Motion::ScrolledIn`]), which are encoded once and then copied along
/// for the rest of the scroll with nothing to repair them (whether or not paint-over is on):
/// at the stream's quality, each scrolled line kept the one block-grid placement it was
/// encoded at, 0.2-0.4 dB under pixelflux re-encoding the page every frame. Never under the
/// stream's quality.
pub fn request_quality(config: &JpegConfig, request: &EncodeRequest) -> u8 {
    match (request.paint_over, request.motion) {
        (true, _) => config.paint_over_quality,
        (false, Motion::ScrolledIn) => config.paint_over_quality.max(config.quality),
        (false, _) => config.quality,
    }
}

impl Encoder for JpegEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        let subsampling = self.config.subsampling;
        let quality = request_quality(&self.config, &request);
        let chroma = self.memo.choose(
            image,
            quality,
            subsampling,
            request.paint_over,
            request.motion,
        );
        let mut ws = match self.pool.take() {
            Some(ws) => ws,
            None => Workspace {
                tj: Compressor::new().map_err(jerr)?,
                i420: None,
                i444: None,
                scratch: Vec::new(),
            },
        };
        let n = compress(&mut ws, image, quality, chroma);
        if let Ok(n) = n {
            // The delivered buffer gets exactly its size: the scratch buffer is sized for the
            // worst case (about 3 bytes a pixel).
            out.reserve_exact(n);
            out.extend_from_slice(&ws.scratch[..n]);
        }
        self.pool.give(ws);
        n?;
        Ok(EncodeOutcome {
            key: true,
            produced: true,
            joins_blocks: chroma.joins_blocks(),
        })
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Jpeg
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turbojpeg::Decompressor;

    /// BGRX bytes that compress badly: quality shows in the size.
    fn noise(w: u32, h: u32) -> Vec<u8> {
        (0..w * h * 4)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect()
    }

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128, 0]);
            }
        }
        v
    }

    fn encoder(quality: u8, paint_over_quality: u8, subsampling: Subsampling) -> JpegEncoder {
        JpegEncoder::new(JpegConfig {
            quality,
            paint_over_quality,
            subsampling,
        })
    }

    fn decode(jpeg: &[u8]) -> (Vec<u8>, usize, usize) {
        let mut d = Decompressor::new().unwrap();
        let hdr = d.read_header(jpeg).unwrap();
        let mut img = Image {
            pixels: vec![0u8; hdr.width * hdr.height * 4],
            width: hdr.width,
            pitch: hdr.width * 4,
            height: hdr.height,
            format: PixelFormat::BGRX,
        };
        d.decompress(jpeg, img.as_deref_mut()).unwrap();
        (img.pixels, hdr.width, hdr.height)
    }

    #[test]
    fn encodes_a_sub_rectangle_of_rows_after_the_header() {
        let (w, h) = (96u32, 80u32);
        let px = gradient(w, h);
        let full = BgrxImage::packed(&px, w, h);
        let mut enc = encoder(95, 95, Subsampling::S444);
        let mut out = vec![0xAA; 6];
        let r = enc
            .encode(full.rows(32, 40), EncodeRequest::default(), &mut out)
            .unwrap();
        assert!(r.key && r.produced);
        assert_eq!(&out[..6], &[0xAA; 6], "the header room is left alone");
        let (dec, dw, dh) = decode(&out[6..]);
        assert_eq!((dw, dh), (96, 40));
        // Compare against rows 32..72 of the source.
        let mut err = 0u64;
        for y in 0..40usize {
            for x in 0..96usize {
                for c in 0..3 {
                    let a = px[((y + 32) * 96 + x) * 4 + c] as i64;
                    let b = dec[(y * 96 + x) * 4 + c] as i64;
                    err += ((a - b) * (a - b)) as u64;
                }
            }
        }
        let mse = err as f64 / (96.0 * 40.0 * 3.0);
        assert!(mse < 4.0, "mse {mse}");
    }

    #[test]
    fn i420_path_keeps_colours_for_even_sizes_and_bgrx_path_for_odd_ones() {
        // Solid colour blocks, so 4:2:0 loses nothing but rounding; a sub-rectangle whose rows
        // are further apart than its width (a tile) and whose last row ends at its last pixel.
        let (w, h) = (64u32, 48u32);
        let colours: [[u8; 3]; 4] = [[20, 200, 40], [250, 250, 250], [0, 0, 255], [128, 64, 32]];
        let mut px = vec![0u8; (w * h * 4) as usize];
        for y in 0..h {
            for x in 0..w {
                let c = colours[((y / 16) as usize + (x / 32) as usize) % 4];
                let i = ((y * w + x) * 4) as usize;
                px[i..i + 3].copy_from_slice(&[c[2], c[1], c[0]]);
            }
        }
        let full = BgrxImage::packed(&px, w, h);
        // Two streams sharing a workspace: each picture reuses the planes the other one shaped
        // for a different size.
        let pool = Arc::new(WorkspacePool::default());
        let config = JpegConfig {
            quality: 95,
            paint_over_quality: 95,
            subsampling: Subsampling::S420,
        };
        let mut encs = [
            JpegEncoder::with_pool(config, pool.clone()),
            JpegEncoder::with_pool(config, pool.clone()),
        ];
        // (x, width, y, height): even (I420 planes), odd width and odd height (BGRX).
        for (i, (x, cw, y, ch)) in [
            (0, 64, 0, 48),
            (32, 32, 16, 32),
            (0, 64, 0, 48),
            (0, 33, 0, 48),
            (32, 32, 16, 31),
        ]
        .into_iter()
        .enumerate()
        {
            let mut out = Vec::new();
            encs[i % 2]
                .encode(
                    full.rows(y, ch).cols(x, cw),
                    EncodeRequest::default(),
                    &mut out,
                )
                .unwrap();
            let (dec, dw, dh) = decode(&out);
            assert_eq!((dw, dh), (cw as usize, ch as usize));
            // Away from the edges between colours, every pixel keeps its colour.
            for yy in 0..ch {
                for xx in 0..cw {
                    let (sx, sy) = (x + xx, y + yy);
                    if sx % 32 < 4 || sx % 32 > 27 || sy % 16 < 4 || sy % 16 > 11 {
                        continue;
                    }
                    let c = colours[((sy / 16) as usize + (sx / 32) as usize) % 4];
                    let d = &dec[((yy * cw + xx) * 4) as usize..][..3];
                    for k in 0..3 {
                        let diff = (d[k] as i32 - c[2 - k] as i32).abs();
                        assert!(diff <= 3, "{cw}x{ch}+{x}+{y} at {xx},{yy}: {d:?} vs {c:?}");
                    }
                }
            }
        }
        assert_eq!(
            pool.0.lock().unwrap().len(),
            1,
            "one encode at a time: one workspace"
        );
    }

    #[test]
    fn paint_over_uses_the_higher_quality() {
        let (w, h) = (128u32, 64u32);
        let px = noise(w, h);
        let img = BgrxImage::packed(&px, w, h);
        let mut enc = encoder(30, 95, Subsampling::S420);
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        enc.encode(img, EncodeRequest::default(), &mut lo).unwrap();
        enc.encode(
            img,
            EncodeRequest {
                paint_over: true,
                force_key: false,
                ..Default::default()
            },
            &mut hi,
        )
        .unwrap();
        assert!(hi.len() > lo.len() * 2, "{} vs {}", hi.len(), lo.len());
    }

    #[test]
    fn rows_scrolled_in_get_the_paint_over_quality_and_never_less_than_the_streams() {
        let config = |quality, paint_over_quality| JpegConfig {
            quality,
            paint_over_quality,
            subsampling: Subsampling::Auto,
        };
        let req = |paint_over, motion| EncodeRequest {
            paint_over,
            motion,
            ..Default::default()
        };
        let c = config(75, 90);
        assert_eq!(request_quality(&c, &req(false, Motion::Changed)), 75);
        assert_eq!(request_quality(&c, &req(false, Motion::Sustained)), 75);
        assert_eq!(request_quality(&c, &req(false, Motion::ScrolledIn)), 90);
        assert_eq!(request_quality(&c, &req(true, Motion::Changed)), 90);
        let c = config(80, 60);
        assert_eq!(request_quality(&c, &req(false, Motion::ScrolledIn)), 80);
        assert_eq!(request_quality(&c, &req(true, Motion::Changed)), 60);
        // Through the encoder: a scrolled-in picture is the paint-over's.
        let (w, h) = (128u32, 64u32);
        let px = noise(w, h);
        let img = BgrxImage::packed(&px, w, h);
        let mut enc = encoder(30, 95, Subsampling::S420);
        let (mut po, mut scrolled) = (Vec::new(), Vec::new());
        enc.encode(img, req(true, Motion::Changed), &mut po)
            .unwrap();
        enc.encode(img, req(false, Motion::ScrolledIn), &mut scrolled)
            .unwrap();
        assert_eq!(po, scrolled);
    }

    #[test]
    fn each_picture_gets_the_chroma_its_pixels_need() {
        let subsamp_of = |jpeg: &[u8]| {
            Decompressor::new()
                .unwrap()
                .read_header(jpeg)
                .unwrap()
                .subsamp
        };
        let (w, h) = (64u32, 32u32);
        // Smooth colour (a gentle gradient): 4:2:0 loses less than quantisation does.
        let smooth: Vec<u8> = (0..w * h)
            .flat_map(|i| [(50 + i % w) as u8, (100 + i / w) as u8, 200, 0])
            .collect();
        // Red and blue columns a pixel wide: 4:2:0 would turn them purple.
        let stripes: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [0, 0, 255, 0]
                } else {
                    [255, 0, 0, 0]
                }
            })
            .collect();
        // Grey text-like noise: no chroma at all.
        let grey: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = (i.wrapping_mul(2654435761) >> 24) as u8;
                [v, v, v, 0]
            })
            .collect();
        for (px, want) in [
            (&smooth, Subsamp::Sub2x2),
            (&stripes, Subsamp::None),
            (&grey, Subsamp::Gray),
        ] {
            // A fresh stream each: a stream reuses its measure for a while (ChromaMemo).
            let mut enc = encoder(75, 90, Subsampling::Auto);
            let mut out = Vec::new();
            let r = enc
                .encode(
                    BgrxImage::packed(px, w, h),
                    EncodeRequest::default(),
                    &mut out,
                )
                .unwrap();
            assert_eq!(subsamp_of(&out), want);
            assert_eq!(r.joins_blocks, want == Subsamp::Sub2x2);
            if want == Subsamp::Gray {
                // A grey JPEG decodes to the same grey levels, give or take quantisation.
                let (dec, _, _) = decode(&out);
                let mut enc444 = encoder(100, 100, Subsampling::S444);
                let mut ref444 = Vec::new();
                enc444
                    .encode(
                        BgrxImage::packed(px, w, h),
                        EncodeRequest::default(),
                        &mut ref444,
                    )
                    .unwrap();
                assert_eq!(subsamp_of(&ref444), Subsamp::Gray, "grey under '444' too");
                assert!(dec.chunks(4).all(|p| p[0] == p[1] && p[1] == p[2]));
            }
        }
    }
}
