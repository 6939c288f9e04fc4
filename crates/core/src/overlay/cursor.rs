//! Compositing the XFixes cursor image (premultiplied ARGB) over BGRX pixels.

use crate::capture::CursorImage;
use crate::geometry::Region;

/// `dst' = src + dst * (255 - alpha) / 255` for one premultiplied channel, rounded.
#[inline]
fn over_premultiplied(src: u8, dst: u8, alpha: u8) -> u8 {
    let inv = 255 - u32::from(alpha);
    let kept = (u32::from(dst) * inv + 127) / 255;
    (u32::from(src) + kept).min(255) as u8
}

/// Draws `cursor` (screen coordinates) into `frame`, the BGRX pixels of `region`, clipped to the
/// region. Returns the rows of the frame that were touched (`start..end`), if any.
pub fn blend_cursor(
    frame: &mut [u8],
    stride: usize,
    region: Region,
    cursor: &CursorImage,
) -> Option<(u32, u32)> {
    let left = cursor.x.max(region.x as i32);
    let top = cursor.y.max(region.y as i32);
    let right = (cursor.x + cursor.width as i32).min((region.x + region.width) as i32);
    let bottom = (cursor.y + cursor.height as i32).min((region.y + region.height) as i32);
    if left >= right || top >= bottom {
        return None;
    }
    for sy in top..bottom {
        let cy = (sy - cursor.y) as usize;
        let fy = (sy - region.y as i32) as usize;
        for sx in left..right {
            let cx = (sx - cursor.x) as usize;
            let argb = cursor.pixels[cy * cursor.width as usize + cx];
            let a = (argb >> 24) as u8;
            if a == 0 {
                continue;
            }
            let px = &mut frame[fy * stride + (sx - region.x as i32) as usize * 4..][..4];
            let (r, g, b) = ((argb >> 16) as u8, (argb >> 8) as u8, argb as u8);
            px[0] = over_premultiplied(b, px[0], a);
            px[1] = over_premultiplied(g, px[1], a);
            px[2] = over_premultiplied(r, px[2], a);
        }
    }
    Some((
        (top - region.y as i32) as u32,
        (bottom - region.y as i32) as u32,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(x: i32, y: i32, w: u32, h: u32, argb: u32) -> CursorImage {
        CursorImage {
            x,
            y,
            width: w,
            height: h,
            serial: 1,
            pixels: vec![argb; (w * h) as usize],
        }
    }

    #[test]
    fn opaque_transparent_and_half_alpha() {
        assert_eq!(over_premultiplied(200, 10, 255), 200);
        assert_eq!(over_premultiplied(0, 77, 0), 77);
        // Half-transparent white (premultiplied 128) over black and over white.
        assert_eq!(over_premultiplied(128, 0, 128), 128);
        assert_eq!(over_premultiplied(128, 255, 128), 255);
        // Half-transparent black over 200: 200 * 127 / 255 = 99.6 -> 100.
        assert_eq!(over_premultiplied(0, 200, 128), 100);
    }

    #[test]
    fn draws_at_position_clipped_to_region() {
        let region = Region {
            x: 10,
            y: 20,
            width: 8,
            height: 8,
        };
        let stride = 8 * 4;
        let mut f = vec![0u8; stride * 8];
        // 4x4 opaque red cursor straddling the top-left corner of the region.
        let rows = blend_cursor(&mut f, stride, region, &cursor(8, 18, 4, 4, 0xFFFF_0000));
        assert_eq!(rows, Some((0, 2)));
        for y in 0..8 {
            for x in 0..8 {
                let px = &f[y * stride + x * 4..][..4];
                let inside = x < 2 && y < 2;
                assert_eq!(
                    px,
                    if inside { [0, 0, 255, 0] } else { [0, 0, 0, 0] },
                    "({x},{y})"
                );
            }
        }
    }

    #[test]
    fn outside_the_region_touches_nothing() {
        let region = Region {
            x: 0,
            y: 0,
            width: 4,
            height: 4,
        };
        let mut f = vec![7u8; 64];
        assert_eq!(
            blend_cursor(&mut f, 16, region, &cursor(10, 10, 4, 4, 0xFFFF_FFFF)),
            None
        );
        assert!(f.iter().all(|&b| b == 7));
    }
}
