//! The stripe wire header, compatible with pixelflux's browser clients. All integers are
//! big-endian u16; frame ids wrap at 65536.
//!
//! - JPEG: `0x03 0x00`, frame id, stripe y, then the JFIF bytes (6-byte header).
//! - JPEG tile (`jpegTiles`, not understood by pixelflux's clients): `0x03 0x01`, frame id, y,
//!   x, the region's width (the canvas a client draws into), then the JFIF bytes (10-byte
//!   header).
//! - H.264: `0x04`, frame kind (`0x01` IDR, `0x00` other), frame id, stripe y, width, height,
//!   then Annex-B NAL units (10-byte header).

pub const JPEG_HEADER_LEN: usize = 6;
pub const JPEG_TILE_HEADER_LEN: usize = 10;
pub const H264_HEADER_LEN: usize = 10;

/// Two lead bytes, then each field as a big-endian u16 (values wrap, as frame ids do).
fn header<const N: usize>(lead: [u8; 2], fields: &[u32]) -> [u8; N] {
    let mut out = [0u8; N];
    out[..2].copy_from_slice(&lead);
    for (i, v) in fields.iter().enumerate() {
        out[2 + 2 * i..4 + 2 * i].copy_from_slice(&(*v as u16).to_be_bytes());
    }
    out
}

/// Writes the JPEG stripe header.
pub fn jpeg_header(frame_id: u32, stripe_y: u32) -> [u8; JPEG_HEADER_LEN] {
    header([0x03, 0x00], &[frame_id, stripe_y])
}

/// Writes the JPEG tile header (`jpegTiles`): the JPEG is drawn at (`x`, `y`) of a region
/// `region_width` pixels wide.
pub fn jpeg_tile_header(
    frame_id: u32,
    y: u32,
    x: u32,
    region_width: u32,
) -> [u8; JPEG_TILE_HEADER_LEN] {
    header([0x03, 0x01], &[frame_id, y, x, region_width])
}

/// Writes the H.264 stripe (or full frame) header.
pub fn h264_header(
    key: bool,
    frame_id: u32,
    stripe_y: u32,
    width: u32,
    height: u32,
) -> [u8; H264_HEADER_LEN] {
    header([0x04, u8::from(key)], &[frame_id, stripe_y, width, height])
}

/// A parsed header, for tests and tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Header {
    Jpeg {
        frame_id: u16,
        stripe_y: u16,
    },
    JpegTile {
        frame_id: u16,
        y: u16,
        x: u16,
        region_width: u16,
    },
    H264 {
        key: bool,
        frame_id: u16,
        stripe_y: u16,
        width: u16,
        height: u16,
    },
}

/// Parses a header; returns it and the payload offset.
pub fn parse_header(buf: &[u8]) -> Option<(Header, usize)> {
    let u16_at = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
    match buf.first()? {
        0x03 if buf.len() >= JPEG_HEADER_LEN && buf[1] == 0 => Some((
            Header::Jpeg {
                frame_id: u16_at(2),
                stripe_y: u16_at(4),
            },
            JPEG_HEADER_LEN,
        )),
        0x03 if buf.len() >= JPEG_TILE_HEADER_LEN && buf[1] == 1 => Some((
            Header::JpegTile {
                frame_id: u16_at(2),
                y: u16_at(4),
                x: u16_at(6),
                region_width: u16_at(8),
            },
            JPEG_TILE_HEADER_LEN,
        )),
        0x04 if buf.len() >= H264_HEADER_LEN && buf[1] <= 1 => Some((
            Header::H264 {
                key: buf[1] == 1,
                frame_id: u16_at(2),
                stripe_y: u16_at(4),
                width: u16_at(6),
                height: u16_at(8),
            },
            H264_HEADER_LEN,
        )),
        _ => None,
    }
}

/// The NAL unit types (`nal_unit_type`, 5 bits) of an Annex-B stream, in order: e.g. 7 SPS,
/// 8 PPS, 5 IDR slice, 1 other slice. For tests and tools.
pub fn nal_unit_types(annex_b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    let mut i = 0;
    while i + 3 < annex_b.len() {
        if annex_b[i..i + 3] == [0, 0, 1] {
            types.push(annex_b[i + 3] & 0x1f);
            i += 3;
        } else {
            i += 1;
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jpeg_header_bytes() {
        assert_eq!(
            jpeg_header(0x1234, 0x0040),
            [0x03, 0x00, 0x12, 0x34, 0x00, 0x40]
        );
        // Frame ids wrap at 16 bits.
        assert_eq!(
            jpeg_header(65536 + 7, 1000),
            [0x03, 0x00, 0x00, 0x07, 0x03, 0xe8]
        );
    }

    #[test]
    fn h264_header_bytes() {
        assert_eq!(
            h264_header(true, 2, 64, 1920, 1080),
            [0x04, 0x01, 0x00, 0x02, 0x00, 0x40, 0x07, 0x80, 0x04, 0x38]
        );
        assert_eq!(h264_header(false, 65535, 0, 2, 2)[..2], [0x04, 0x00]);
    }

    #[test]
    fn headers_round_trip() {
        let mut b = jpeg_header(9, 128).to_vec();
        b.extend_from_slice(&[0xff, 0xd8]);
        assert_eq!(
            parse_header(&b),
            Some((
                Header::Jpeg {
                    frame_id: 9,
                    stripe_y: 128
                },
                6
            ))
        );
        let h = h264_header(false, 3, 32, 640, 64);
        assert_eq!(
            parse_header(&h),
            Some((
                Header::H264 {
                    key: false,
                    frame_id: 3,
                    stripe_y: 32,
                    width: 640,
                    height: 64
                },
                10
            ))
        );
        let t = jpeg_tile_header(70000, 1056, 1792, 1920);
        assert_eq!(
            t,
            [0x03, 0x01, 0x11, 0x70, 0x04, 0x20, 0x07, 0x00, 0x07, 0x80]
        );
        assert_eq!(
            parse_header(&t),
            Some((
                Header::JpegTile {
                    frame_id: (70000 % 65536) as u16,
                    y: 1056,
                    x: 1792,
                    region_width: 1920
                },
                10
            ))
        );
        assert_eq!(parse_header(&[0xff, 0xd8, 0, 0, 0, 0]), None);
        assert_eq!(parse_header(&[0x03]), None);
        assert_eq!(parse_header(&t[..9]), None);
    }

    #[test]
    fn nal_unit_types_follow_3_and_4_byte_start_codes() {
        let stream = [
            0, 0, 0, 1, 0x67, 9, 0, 0, 1, 0x68, 9, 0, 0, 0, 1, 0x65, 0, 0, 1, 0x41,
        ];
        assert_eq!(nal_unit_types(&stream), vec![7, 8, 5, 1]);
        assert!(nal_unit_types(&[0, 0, 1]).is_empty());
    }
}
