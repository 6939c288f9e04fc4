//! One picture of a screen region, encoded, without a capture running: an agent's "look".
//! It reads through the same [`Source`] a capture uses (XShm on X11, wlr-screencopy on
//! Wayland) and encodes with the stream's JPEG encoder (4:4:4) or as PNG.

use crate::capture::{CaptureError, Source};
use crate::encode::jpeg::{JpegConfig, JpegEncoder};
use crate::encode::{BgrxImage, EncodeRequest, Encoder};
use crate::geometry::{Bounds, Region, RowSpans};
use crate::overlay::cursor::blend_cursor;
use crate::settings::{RegionRequest, SettingsError, Subsampling};

/// How the picture is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShotFormat {
    Png,
    /// JPEG 4:4:4 at this quality, 1..=100.
    Jpeg(u8),
}

/// What went wrong, by whose fault.
#[derive(Debug)]
pub enum ShotError {
    /// The display could not be read.
    Capture(CaptureError),
    /// A region or monitor setting the display cannot satisfy.
    Setting(SettingsError),
    /// The monitor asked for is not there (the message lists those that are).
    Monitor(String),
    Encode(String),
}

impl std::fmt::Display for ShotError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShotError::Capture(e) => write!(f, "{e}"),
            ShotError::Setting(e) => write!(f, "{e}"),
            ShotError::Monitor(m) => write!(f, "monitor: {m}"),
            ShotError::Encode(m) => write!(f, "cannot encode the screenshot: {m}"),
        }
    }
}

impl std::error::Error for ShotError {}

/// The BGRX pixels of a region, `stride` bytes a row.
pub struct Grab {
    pub region: Region,
    pub stride: usize,
    pub pixels: Vec<u8>,
}

/// Reads `request` (relative to its monitor, if it names one) from `source`, the cursor drawn
/// in when `cursor` (and the source can tell where it is).
pub fn grab(
    source: &mut dyn Source,
    request: &RegionRequest,
    cursor: bool,
) -> Result<Grab, ShotError> {
    let screen = source.screen_size();
    let bounds = match &request.monitor {
        None => Bounds::screen(screen),
        Some(want) => {
            let monitors = source.monitors().map_err(ShotError::Capture)?;
            Bounds::monitor(want, &monitors, screen).map_err(ShotError::Monitor)?
        }
    };
    let region = request
        .clamp_within(&bounds, false)
        .map_err(ShotError::Setting)?
        .region;
    source.set_region(region).map_err(ShotError::Capture)?;
    source
        .read_rows(&RowSpans::everything(region.height))
        .map_err(ShotError::Capture)?;
    let stride = source.stride();
    let image = if cursor {
        source.cursor().map_err(ShotError::Capture)?
    } else {
        None
    };
    let pixels = source.pixels();
    if let Some(image) = image {
        blend_cursor(pixels, stride, region, &image);
    }
    let pixels = pixels[..stride * region.height as usize].to_vec();
    Ok(Grab {
        region,
        stride,
        pixels,
    })
}

/// `grab` encoded.
pub fn encode(grab: &Grab, format: ShotFormat) -> Result<Vec<u8>, ShotError> {
    let Region { width, height, .. } = grab.region;
    match format {
        ShotFormat::Png => encode_png(&grab.pixels, grab.stride, width, height),
        ShotFormat::Jpeg(quality) => {
            let mut encoder = JpegEncoder::new(JpegConfig {
                quality,
                paint_over_quality: quality,
                subsampling: Subsampling::S444,
            });
            let image = BgrxImage {
                data: &grab.pixels,
                stride: grab.stride,
                width,
                height,
            };
            let mut out = Vec::new();
            encoder
                .encode(image, EncodeRequest::default(), &mut out)
                .map_err(|e| ShotError::Encode(e.to_string()))?;
            Ok(out)
        }
    }
}

/// An 8-bit RGB PNG of BGRX pixels. Fast compression: a screenshot is wanted now, and screen
/// content compresses well anyway.
pub fn encode_png(
    bgrx: &[u8],
    stride: usize,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ShotError> {
    let mut rgb = Vec::with_capacity(width as usize * height as usize * 3);
    for row in bgrx.chunks(stride).take(height as usize) {
        for px in row[..width as usize * 4].chunks_exact(4) {
            rgb.extend_from_slice(&[px[2], px[1], px[0]]);
        }
    }
    let mut out = Vec::new();
    let err = |e: png::EncodingError| ShotError::Encode(e.to_string());
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::fake::FakeScreen;

    fn decode_png(data: &[u8]) -> (u32, u32, Vec<u8>) {
        let mut reader = png::Decoder::new(std::io::Cursor::new(data))
            .read_info()
            .unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb);
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn request(x: u32, y: u32, w: Option<u32>, h: Option<u32>) -> RegionRequest {
        RegionRequest {
            x,
            y,
            width: w,
            height: h,
            display: None,
            monitor: None,
            auto_resize: false,
        }
    }

    #[test]
    fn png_of_a_region_holds_exactly_its_pixels() {
        let (screen, mut source) = FakeScreen::new(64, 48, [0, 0, 0, 0]);
        screen.paint((0, 0, 64, 48), |x, y| [x as u8, y as u8, (x * y) as u8, 0]);
        let g = grab(&mut source, &request(10, 5, Some(20), Some(7)), false).unwrap();
        assert_eq!(
            g.region,
            Region {
                x: 10,
                y: 5,
                width: 20,
                height: 7
            }
        );
        let (w, h, rgb) = decode_png(&encode(&g, ShotFormat::Png).unwrap());
        assert_eq!((w, h), (20, 7));
        for y in 0..7 {
            for x in 0..20 {
                let [b, g, r, _] = screen.pixel(10 + x, 5 + y);
                let i = ((y * 20 + x) * 3) as usize;
                assert_eq!(&rgb[i..i + 3], &[r, g, b], "pixel {x},{y}");
            }
        }
    }

    #[test]
    fn a_region_past_the_edge_is_clamped_and_one_outside_is_an_error() {
        let (_screen, mut source) = FakeScreen::new(64, 48, [9, 9, 9, 0]);
        let g = grab(&mut source, &request(50, 40, Some(100), None), false).unwrap();
        assert_eq!(
            g.region,
            Region {
                x: 50,
                y: 40,
                width: 14,
                height: 8
            }
        );
        match grab(&mut source, &request(64, 0, None, None), false) {
            Err(ShotError::Setting(e)) => assert_eq!(e.field, "captureX"),
            other => panic!("{:?}", other.map(|g| g.region)),
        }
    }

    #[test]
    fn jpeg_is_444_at_the_quality_asked() {
        let (screen, mut source) = FakeScreen::new(32, 32, [0, 0, 0, 0]);
        screen.paint((0, 0, 32, 32), |x, y| {
            [(x * 8) as u8, (y * 8) as u8, 200, 0]
        });
        let g = grab(&mut source, &request(0, 0, None, None), false).unwrap();
        let jpeg = encode(&g, ShotFormat::Jpeg(95)).unwrap();
        let header = turbojpeg::Decompressor::new()
            .unwrap()
            .read_header(&jpeg)
            .unwrap();
        assert_eq!((header.width, header.height), (32, 32));
        assert_eq!(header.subsamp, turbojpeg::Subsamp::None);
    }
}
