//! JPEG stripes through libjpeg-turbo, straight from BGRX (no colour conversion of our own).

use std::cell::RefCell;

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use super::{BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder};
use crate::settings::Subsampling;

/// Encodes at `quality`, or `paint_over_quality` for paint-over requests. Stateless between
/// calls: the libjpeg-turbo handle and its output buffer live per worker thread and are reused.
#[derive(Debug, Clone, Copy)]
pub struct JpegEncoder {
    pub quality: u8,
    pub paint_over_quality: u8,
    pub subsampling: Subsampling,
}

thread_local! {
    static WORKER: RefCell<Option<(Compressor, Vec<u8>)>> = const { RefCell::new(None) };
}

fn jerr(e: turbojpeg::Error) -> EncodeError {
    EncodeError::Jpeg(e.to_string())
}

impl Encoder for JpegEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        let quality = if request.paint_over {
            self.paint_over_quality
        } else {
            self.quality
        };
        let subsamp = match self.subsampling {
            Subsampling::S420 => Subsamp::Sub2x2,
            Subsampling::S444 => Subsamp::None,
            // Still content gets full chroma (sharp coloured text); motion gets half the CPU.
            Subsampling::Auto if request.paint_over => Subsamp::None,
            Subsampling::Auto => Subsamp::Sub2x2,
        };
        WORKER.with(|cell| {
            let mut slot = cell.borrow_mut();
            if slot.is_none() {
                *slot = Some((Compressor::new().map_err(jerr)?, Vec::new()));
            }
            let (tj, scratch) = slot.as_mut().expect("initialised above");
            // libjpeg-turbo treats quality 0 as 1.
            tj.set_quality(i32::from(quality.max(1))).map_err(jerr)?;
            tj.set_subsamp(subsamp).map_err(jerr)?;
            let need = tj
                .buf_len(image.width as usize, image.height as usize)
                .map_err(jerr)?;
            if scratch.len() < need {
                scratch.resize(need, 0);
            }
            let img = Image {
                pixels: image.data,
                width: image.width as usize,
                pitch: image.stride,
                height: image.height as usize,
                format: PixelFormat::BGRX,
            };
            let n = tj.compress_to_slice(img, scratch).map_err(jerr)?;
            out.extend_from_slice(&scratch[..n]);
            Ok(EncodeOutcome {
                key: true,
                produced: true,
            })
        })
    }

    fn name(&self) -> &'static str {
        "jpeg"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use turbojpeg::Decompressor;

    fn gradient(w: u32, h: u32) -> Vec<u8> {
        let mut v = Vec::with_capacity((w * h * 4) as usize);
        for y in 0..h {
            for x in 0..w {
                v.extend_from_slice(&[(x * 255 / w) as u8, (y * 255 / h) as u8, 128, 0]);
            }
        }
        v
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
        let full = BgrxImage {
            data: &px,
            stride: (w * 4) as usize,
            width: w,
            height: h,
        };
        let mut enc = JpegEncoder {
            quality: 95,
            paint_over_quality: 95,
            subsampling: Subsampling::S444,
        };
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
    fn paint_over_uses_the_higher_quality() {
        let (w, h) = (128u32, 64u32);
        let px: Vec<u8> = (0..w * h * 4)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        let img = BgrxImage {
            data: &px,
            stride: (w * 4) as usize,
            width: w,
            height: h,
        };
        let mut enc = JpegEncoder {
            quality: 30,
            paint_over_quality: 95,
            subsampling: Subsampling::S420,
        };
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        enc.encode(img, EncodeRequest::default(), &mut lo).unwrap();
        enc.encode(
            img,
            EncodeRequest {
                paint_over: true,
                force_key: false,
            },
            &mut hi,
        )
        .unwrap();
        assert!(hi.len() > lo.len() * 2, "{} vs {}", hi.len(), lo.len());
    }

    #[test]
    fn auto_subsampling_is_420_for_changes_and_444_for_paint_over() {
        let (w, h) = (64u32, 32u32);
        let px = gradient(w, h);
        let img = BgrxImage {
            data: &px,
            stride: (w * 4) as usize,
            width: w,
            height: h,
        };
        let mut enc = JpegEncoder {
            quality: 80,
            paint_over_quality: 90,
            subsampling: Subsampling::Auto,
        };
        let subsamp_of = |jpeg: &[u8]| {
            Decompressor::new()
                .unwrap()
                .read_header(jpeg)
                .unwrap()
                .subsamp
        };
        let (mut change, mut still) = (Vec::new(), Vec::new());
        enc.encode(img, EncodeRequest::default(), &mut change)
            .unwrap();
        enc.encode(
            img,
            EncodeRequest {
                paint_over: true,
                force_key: false,
            },
            &mut still,
        )
        .unwrap();
        assert_eq!(subsamp_of(&change), Subsamp::Sub2x2);
        assert_eq!(subsamp_of(&still), Subsamp::None);
    }
}
