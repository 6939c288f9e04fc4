//! The stripe wire header, compatible with pixelflux's browser clients. All integers are
//! big-endian u16; frame ids wrap at 65536.
//!
//! - JPEG: `0x03 0x00`, frame id, stripe y, then the JFIF bytes (6-byte header).
//! - JPEG tile (`jpegTiles`, not understood by pixelflux's clients): `0x03 0x01`, frame id, y,
//!   x, the region's width (the canvas a client draws into), then the JFIF bytes (10-byte
//!   header).
//! - H.264: `0x04`, frame kind (`0x01` IDR, `0x00` other), frame id, stripe y, width, height,
//!   then Annex-B NAL units (10-byte header).
//! - Copy (`scrollCopies`, stripecast's own, JPEG only): `0x05 0x00`, frame id, source x, y,
//!   width, height, destination x, y; no payload (16-byte message). The viewer copies that
//!   rectangle of what it shows to the destination, before drawing the frame's stripes that
//!   follow it (messages are applied in arrival order).

pub const JPEG_HEADER_LEN: usize = 6;
pub const JPEG_TILE_HEADER_LEN: usize = 10;
pub const H264_HEADER_LEN: usize = 10;
pub const COPY_HEADER_LEN: usize = 16;

/// Payload type, numbered as pixelflux numbers it (`StripeEncodeResult.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadKind {
    Jpeg = 1,
    H264 = 2,
    /// A scroll copy (`scrollCopies`): a header alone, see [`Header::Copy`].
    Copy = 3,
}

/// Which header the deliveries of a capture start with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderFormat {
    /// `omitStripeHeaders`: the bare payload.
    Omitted,
    /// pixelflux's stripe headers.
    Stripe,
    /// JPEG tiles (`jpegTiles`): the 10-byte header with an x offset and the region's width.
    Tile,
}

impl HeaderFormat {
    /// Bytes of header before a payload of `kind` in this format.
    pub fn len(self, kind: PayloadKind) -> usize {
        match (self, kind) {
            (HeaderFormat::Omitted, _) => 0,
            (HeaderFormat::Stripe, PayloadKind::Jpeg) => JPEG_HEADER_LEN,
            (HeaderFormat::Tile, PayloadKind::Jpeg) => JPEG_TILE_HEADER_LEN,
            (_, PayloadKind::H264) => H264_HEADER_LEN,
            (_, PayloadKind::Copy) => COPY_HEADER_LEN,
        }
    }

    /// The header of one delivery in this format (`None` when omitted). Values wrap at 16
    /// bits, as frame ids do.
    pub fn header(self, kind: PayloadKind, d: &Placement) -> Option<Header> {
        let w = |v: u32| v as u16;
        Some(match (self, kind) {
            (HeaderFormat::Omitted, _) => return None,
            (HeaderFormat::Stripe, PayloadKind::Jpeg) => Header::Jpeg {
                frame_id: w(d.frame_id),
                stripe_y: w(d.y),
            },
            (HeaderFormat::Tile, PayloadKind::Jpeg) => Header::JpegTile {
                frame_id: w(d.frame_id),
                y: w(d.y),
                x: w(d.x),
                region_width: w(d.region_width),
            },
            (_, PayloadKind::H264) => Header::H264 {
                key: d.key,
                frame_id: w(d.frame_id),
                stripe_y: w(d.y),
                width: w(d.width),
                height: w(d.height),
            },
            // Not made from a placement: see [`Header::Copy`].
            (_, PayloadKind::Copy) => return None,
        })
    }
}

/// Where a delivery is drawn and what it is, for its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Placement {
    pub frame_id: u32,
    pub key: bool,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub region_width: u32,
}

/// A stripe header: what the writer writes and the parser reads back.
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
    /// Copy the viewer's rectangle at `(x, y)`, `width` x `height`, to `(to_x, to_y)`.
    Copy {
        frame_id: u16,
        x: u16,
        y: u16,
        width: u16,
        height: u16,
        to_x: u16,
        to_y: u16,
    },
}

impl Header {
    /// Its length in bytes.
    pub fn byte_len(&self) -> usize {
        match self {
            Header::Jpeg { .. } => JPEG_HEADER_LEN,
            Header::JpegTile { .. } => JPEG_TILE_HEADER_LEN,
            Header::H264 { .. } => H264_HEADER_LEN,
            Header::Copy { .. } => COPY_HEADER_LEN,
        }
    }

    /// Writes it into `out`, which must be [`Header::byte_len`] bytes long: two lead bytes, then
    /// each field as a big-endian u16.
    pub fn write(&self, out: &mut [u8]) {
        let (lead, fields): ([u8; 2], &[u16]) = match *self {
            Header::Jpeg { frame_id, stripe_y } => ([0x03, 0x00], &[frame_id, stripe_y]),
            Header::JpegTile {
                frame_id,
                y,
                x,
                region_width,
            } => ([0x03, 0x01], &[frame_id, y, x, region_width]),
            Header::H264 {
                key,
                frame_id,
                stripe_y,
                width,
                height,
            } => ([0x04, u8::from(key)], &[frame_id, stripe_y, width, height]),
            Header::Copy {
                frame_id,
                x,
                y,
                width,
                height,
                to_x,
                to_y,
            } => ([0x05, 0x00], &[frame_id, x, y, width, height, to_x, to_y]),
        };
        assert_eq!(out.len(), 2 + 2 * fields.len(), "header buffer size");
        out[..2].copy_from_slice(&lead);
        for (i, v) in fields.iter().enumerate() {
            out[2 + 2 * i..4 + 2 * i].copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Its bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = vec![0; self.byte_len()];
        self.write(&mut out);
        out
    }

    /// Parses the header at the start of `buf`; returns it and the payload offset.
    pub fn parse(buf: &[u8]) -> Option<(Header, usize)> {
        let u16_at = |i: usize| u16::from_be_bytes([buf[i], buf[i + 1]]);
        let header = match (buf.first()?, buf.get(1)?) {
            (0x03, 0) if buf.len() >= JPEG_HEADER_LEN => Header::Jpeg {
                frame_id: u16_at(2),
                stripe_y: u16_at(4),
            },
            (0x03, 1) if buf.len() >= JPEG_TILE_HEADER_LEN => Header::JpegTile {
                frame_id: u16_at(2),
                y: u16_at(4),
                x: u16_at(6),
                region_width: u16_at(8),
            },
            (0x04, 0 | 1) if buf.len() >= H264_HEADER_LEN => Header::H264 {
                key: buf[1] == 1,
                frame_id: u16_at(2),
                stripe_y: u16_at(4),
                width: u16_at(6),
                height: u16_at(8),
            },
            (0x05, 0) if buf.len() >= COPY_HEADER_LEN => Header::Copy {
                frame_id: u16_at(2),
                x: u16_at(4),
                y: u16_at(6),
                width: u16_at(8),
                height: u16_at(10),
                to_x: u16_at(12),
                to_y: u16_at(14),
            },
            _ => return None,
        };
        Some((header, header.byte_len()))
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

    fn placement(frame_id: u32, y: u32) -> Placement {
        Placement {
            frame_id,
            y,
            ..Placement::default()
        }
    }

    #[test]
    fn jpeg_header_bytes() {
        let h = |frame_id, y| {
            HeaderFormat::Stripe
                .header(PayloadKind::Jpeg, &placement(frame_id, y))
                .unwrap()
                .to_vec()
        };
        assert_eq!(h(0x1234, 0x0040), [0x03, 0x00, 0x12, 0x34, 0x00, 0x40]);
        // Frame ids wrap at 16 bits.
        assert_eq!(h(65536 + 7, 1000), [0x03, 0x00, 0x00, 0x07, 0x03, 0xe8]);
        assert_eq!(HeaderFormat::Stripe.len(PayloadKind::Jpeg), 6);
        assert_eq!(
            HeaderFormat::Omitted.header(PayloadKind::Jpeg, &placement(1, 2)),
            None
        );
        assert_eq!(HeaderFormat::Omitted.len(PayloadKind::H264), 0);
    }

    #[test]
    fn h264_header_bytes() {
        let p = Placement {
            frame_id: 2,
            key: true,
            y: 64,
            width: 1920,
            height: 1080,
            ..Placement::default()
        };
        // The H.264 header is the same in the stripe and tile formats.
        for format in [HeaderFormat::Stripe, HeaderFormat::Tile] {
            let h = format.header(PayloadKind::H264, &p).unwrap();
            assert_eq!(
                h.to_vec(),
                [0x04, 0x01, 0x00, 0x02, 0x00, 0x40, 0x07, 0x80, 0x04, 0x38]
            );
            assert_eq!(format.len(PayloadKind::H264), h.byte_len());
        }
        let delta = Placement {
            key: false,
            frame_id: 65535,
            ..p
        };
        let h = HeaderFormat::Stripe.header(PayloadKind::H264, &delta);
        assert_eq!(h.unwrap().to_vec()[..2], [0x04, 0x00]);
    }

    #[test]
    fn headers_round_trip() {
        let mut b = HeaderFormat::Stripe
            .header(PayloadKind::Jpeg, &placement(9, 128))
            .unwrap()
            .to_vec();
        b.extend_from_slice(&[0xff, 0xd8]);
        assert_eq!(
            Header::parse(&b),
            Some((
                Header::Jpeg {
                    frame_id: 9,
                    stripe_y: 128
                },
                6
            ))
        );
        let h264 = Header::H264 {
            key: false,
            frame_id: 3,
            stripe_y: 32,
            width: 640,
            height: 64,
        };
        assert_eq!(Header::parse(&h264.to_vec()), Some((h264, 10)));
        let tile = Placement {
            frame_id: 70000,
            y: 1056,
            x: 1792,
            region_width: 1920,
            ..Placement::default()
        };
        let t = HeaderFormat::Tile
            .header(PayloadKind::Jpeg, &tile)
            .unwrap()
            .to_vec();
        assert_eq!(
            t,
            [0x03, 0x01, 0x11, 0x70, 0x04, 0x20, 0x07, 0x00, 0x07, 0x80]
        );
        assert_eq!(HeaderFormat::Tile.len(PayloadKind::Jpeg), t.len());
        assert_eq!(
            Header::parse(&t),
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
        assert_eq!(Header::parse(&[0xff, 0xd8, 0, 0, 0, 0]), None);
        assert_eq!(Header::parse(&[0x03]), None);
        let copy = Header::Copy {
            frame_id: 7,
            x: 0,
            y: 300,
            width: 1920,
            height: 780,
            to_x: 0,
            to_y: 296,
        };
        let b = copy.to_vec();
        assert_eq!(b[..4], [0x05, 0x00, 0x00, 0x07]);
        assert_eq!(b[14..], [0x01, 0x28]);
        assert_eq!(Header::parse(&b), Some((copy, 16)));
        assert_eq!(Header::parse(&b[..15]), None);
        assert_eq!(Header::parse(&t[..9]), None);
    }

    /// The headers `__test__/fixtures/wire-headers.json` holds, as written here: the browser
    /// client's parser is tested against that file (`__test__/browser.test.mjs`, client module), so the two
    /// sides of the wire cannot drift apart. `STRIPECAST_UPDATE_FIXTURES=1 cargo test` rewrites it.
    #[test]
    fn client_fixture_matches_the_writer() {
        let cases = [
            (
                HeaderFormat::Stripe,
                PayloadKind::Jpeg,
                placement(0x1234, 0x0140),
            ),
            (
                HeaderFormat::Stripe,
                PayloadKind::Jpeg,
                placement(65536 + 9, 1072),
            ),
            (
                HeaderFormat::Tile,
                PayloadKind::Jpeg,
                Placement {
                    x: 1792,
                    region_width: 1920,
                    ..placement(70000, 1056)
                },
            ),
            (
                HeaderFormat::Stripe,
                PayloadKind::H264,
                Placement {
                    key: true,
                    width: 1920,
                    height: 272,
                    ..placement(5, 816)
                },
            ),
            (
                HeaderFormat::Tile,
                PayloadKind::H264,
                Placement {
                    key: false,
                    width: 640,
                    height: 360,
                    ..placement(65535, 0)
                },
            ),
        ];
        let copy = Header::Copy {
            frame_id: 65535,
            x: 360,
            y: 148,
            width: 1200,
            height: 792,
            to_x: 360,
            to_y: 140,
        };
        let headers: Vec<Header> = cases
            .iter()
            .map(|(format, kind, p)| format.header(*kind, p).unwrap())
            .chain([copy])
            .collect();
        let mut json = String::from("[\n");
        for (i, &h) in headers.iter().enumerate() {
            let fields = match h {
                Header::Jpeg { frame_id, stripe_y } => {
                    format!(
                        r#""kind": "jpeg", "frameId": {frame_id}, "x": 0, "y": {stripe_y}, "regionWidth": null"#
                    )
                }
                Header::JpegTile {
                    frame_id,
                    y,
                    x,
                    region_width,
                } => format!(
                    r#""kind": "jpeg", "frameId": {frame_id}, "x": {x}, "y": {y}, "regionWidth": {region_width}"#
                ),
                Header::H264 {
                    key,
                    frame_id,
                    stripe_y,
                    width,
                    height,
                } => format!(
                    r#""kind": "h264", "key": {key}, "frameId": {frame_id}, "y": {stripe_y}, "width": {width}, "height": {height}"#
                ),
                Header::Copy {
                    frame_id,
                    x,
                    y,
                    width,
                    height,
                    to_x,
                    to_y,
                } => format!(
                    r#""kind": "copy", "frameId": {frame_id}, "x": {x}, "y": {y}, "width": {width}, "height": {height}, "toX": {to_x}, "toY": {to_y}"#
                ),
            };
            let bytes: Vec<String> = h.to_vec().iter().map(u8::to_string).collect();
            let comma = if i + 1 < headers.len() { "," } else { "" };
            json += &format!(
                "  {{ \"bytes\": [{}], \"header\": {{ {fields} }} }}{comma}\n",
                bytes.join(", ")
            );
        }
        json += "]\n";
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../__test__/fixtures/wire-headers.json");
        if std::env::var_os("STRIPECAST_UPDATE_FIXTURES").is_some() {
            std::fs::write(&path, &json).unwrap();
        }
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            on_disk,
            json,
            "{} is stale: run STRIPECAST_UPDATE_FIXTURES=1 cargo test -p stripecast-core wire",
            path.display()
        );
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
