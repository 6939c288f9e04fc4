//! Geometry of a capture: the region on the screen, its stripes, row spans and JPEG bands.
//! Pure: no I/O.

use crate::capture::MonitorInfo;
use crate::settings::{range_err, MonitorRef, RegionRequest, SettingsError};

/// The region actually captured, after clamping to the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Region {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// Result of fitting a requested region onto a screen.
#[derive(Debug, Clone, PartialEq)]
pub struct ClampedRegion {
    pub region: Region,
    /// Human-readable notes on every adjustment made (empty when the request fitted as asked).
    pub notes: Vec<String>,
}

/// The rectangle a region is fitted into: the whole screen, or one monitor of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bounds {
    pub area: Region,
    /// What it is, for messages: `screen` or `monitor 'DP-1'`.
    pub what: String,
}

impl Bounds {
    /// The whole `width` x `height` screen.
    pub fn screen((width, height): (u32, u32)) -> Self {
        Bounds {
            area: Region {
                x: 0,
                y: 0,
                width,
                height,
            },
            what: "screen".into(),
        }
    }

    /// The monitor `want` names among `monitors`, cut to the part of it on a `screen`-sized
    /// screen; the error names the monitors there are.
    pub fn monitor(
        want: &MonitorRef,
        monitors: &[MonitorInfo],
        screen: (u32, u32),
    ) -> Result<Self, String> {
        let found = match want {
            MonitorRef::Index(i) => monitors.get(*i as usize),
            MonitorRef::Name(n) => monitors.iter().find(|m| &m.name == n),
        };
        let listed = || {
            if monitors.is_empty() {
                return "the display reports no monitors (RandR 1.5)".to_string();
            }
            let each: Vec<String> = monitors
                .iter()
                .enumerate()
                .map(|(i, m)| format!("{i} '{}' {}x{}+{}+{}", m.name, m.width, m.height, m.x, m.y))
                .collect();
            format!("monitors: {}", each.join(", "))
        };
        let Some(m) = found else {
            return Err(format!("monitor {want} does not exist; {}", listed()));
        };
        let clip = |pos: i32, len: u32, screen: u32| {
            let a = i64::from(pos).clamp(0, i64::from(screen));
            let b = (i64::from(pos) + i64::from(len)).clamp(0, i64::from(screen));
            (a as u32, (b - a) as u32)
        };
        let ((x, width), (y, height)) =
            (clip(m.x, m.width, screen.0), clip(m.y, m.height, screen.1));
        if width == 0 || height == 0 {
            return Err(format!(
                "monitor {want} ({}x{}+{}+{}) lies off the {}x{} screen",
                m.width, m.height, m.x, m.y, screen.0, screen.1
            ));
        }
        Ok(Bounds {
            area: Region {
                x,
                y,
                width,
                height,
            },
            what: format!("monitor '{}'", m.name),
        })
    }
}

impl RegionRequest {
    /// Fits the request onto a `screen_w` x `screen_h` screen (see [`RegionRequest::clamp_within`]).
    pub fn clamp(
        &self,
        screen_w: u32,
        screen_h: u32,
        even: bool,
    ) -> Result<ClampedRegion, SettingsError> {
        self.clamp_within(&Bounds::screen((screen_w, screen_h)), even)
    }

    /// Fits the request, relative to `bounds`, into it: a region running past the right or
    /// bottom edge is shrunk to fit; when `even` (H.264 needs even sizes) odd sizes round down.
    /// A region that starts outside cannot be fitted and is an error. The result is in screen
    /// coordinates.
    pub fn clamp_within(
        &self,
        bounds: &Bounds,
        even: bool,
    ) -> Result<ClampedRegion, SettingsError> {
        let (area, what) = (bounds.area, &bounds.what);
        if self.x >= area.width {
            return Err(range_err(
                "captureX",
                &format!("0..{} ({what} width)", area.width),
                self.x,
            ));
        }
        if self.y >= area.height {
            return Err(range_err(
                "captureY",
                &format!("0..{} ({what} height)", area.height),
                self.y,
            ));
        }
        let mut notes = Vec::new();
        let fit = |name: &str,
                   want: Option<u32>,
                   origin: u32,
                   side: u32,
                   notes: &mut Vec<String>| {
            let room = side - origin;
            match want {
                None => room,
                Some(w) if w > room => {
                    notes.push(format!(
                        "{name} {w} clamped to {room}: the region would end past the {what} edge ({side})"
                    ));
                    room
                }
                Some(w) => w,
            }
        };
        let mut width = fit("captureWidth", self.width, self.x, area.width, &mut notes);
        let mut height = fit(
            "captureHeight",
            self.height,
            self.y,
            area.height,
            &mut notes,
        );
        if even {
            for (name, v) in [("captureWidth", &mut width), ("captureHeight", &mut height)] {
                if *v % 2 == 1 {
                    if *v == 1 {
                        return Err(range_err(name, "at least 2 for H.264", 1));
                    }
                    notes.push(format!(
                        "{name} {} rounded down to {} (H.264 needs even sizes)",
                        *v,
                        *v - 1
                    ));
                    *v -= 1;
                }
            }
        }
        Ok(ClampedRegion {
            region: Region {
                x: area.x + self.x,
                y: area.y + self.y,
                width,
                height,
            },
            notes,
        })
    }
}

/// One horizontal band of the captured region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stripe {
    pub index: usize,
    pub y: u32,
    pub height: u32,
}

/// Cuts `height` rows into stripes of `stripe_height` rows; every row is covered exactly once.
pub fn stripes(height: u32, stripe_height: u32) -> Vec<Stripe> {
    assert!(stripe_height > 0, "stripe height must be positive");
    (0..height)
        .step_by(stripe_height as usize)
        .enumerate()
        .map(|(index, y)| Stripe {
            index,
            y,
            height: stripe_height.min(height - y),
        })
        .collect()
}

/// `band` widened to multiples of `align` rows from the top of `stripe` (and clipped to it).
///
/// JPEG bands are aligned to the JPEG's MCU height (16 rows for 4:2:0, 8 for 4:4:4): every
/// encode of a stripe then uses the same block grid, so a band replaces whole blocks and no
/// ringing of the content it replaces survives beside it. (Aligning to 2 rows would save ~20%
/// of the bytes of typing, but leaves faint ghosts of a moved caret or cursor.)
pub fn align_band((start, end): (u32, u32), stripe: &Stripe, align: u32) -> (u32, u32) {
    let top = stripe.y + (start - stripe.y) / align * align;
    let bottom =
        (stripe.y + (end - stripe.y).div_ceil(align) * align).min(stripe.y + stripe.height);
    (top, bottom)
}

/// Sorted, disjoint row ranges `[start, end)` of the region that may have changed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowSpans(Vec<(u32, u32)>);

impl RowSpans {
    pub fn everything(height: u32) -> Self {
        Self(vec![(0, height)])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn spans(&self) -> &[(u32, u32)] {
        &self.0
    }

    /// Adds rows `[start, end)` (clamped to `height`), merging overlapping or touching spans.
    pub fn add(&mut self, start: i64, end: i64, height: u32) {
        let (start, end) = (
            start.clamp(0, height as i64) as u32,
            end.clamp(0, height as i64) as u32,
        );
        if start >= end {
            return;
        }
        self.0.push((start, end));
        self.0.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(self.0.len());
        for &(s, e) in &self.0 {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.0 = merged;
    }

    /// The first and last row (exclusive) drawn within `stripe`, if any.
    pub fn extent_within(&self, stripe: &Stripe) -> Option<(u32, u32)> {
        let mut clipped = self.within(stripe);
        let first = clipped.next()?;
        Some((first.0, clipped.last().unwrap_or(first).1))
    }

    /// The spans clipped to `stripe`.
    pub fn within<'a>(&'a self, stripe: &Stripe) -> impl Iterator<Item = (u32, u32)> + 'a {
        let (s, e) = (stripe.y, stripe.y + stripe.height);
        self.0
            .iter()
            .map(move |&(a, b)| (a.max(s), b.min(e)))
            .filter(|(a, b)| a < b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mon(name: &str, x: i32, y: i32, width: u32, height: u32) -> MonitorInfo {
        MonitorInfo {
            name: name.into(),
            x,
            y,
            width,
            height,
            primary: false,
        }
    }

    #[test]
    fn a_monitor_is_found_by_index_or_name_and_the_region_is_fitted_into_it() {
        let list = [
            mon("left", 0, 0, 960, 1080),
            mon("right", 960, 0, 960, 1080),
        ];
        let screen = (1920, 1080);
        let right = Bounds::monitor(&MonitorRef::Name("right".into()), &list, screen).unwrap();
        assert_eq!(
            right,
            Bounds::monitor(&MonitorRef::Index(1), &list, screen).unwrap()
        );
        assert_eq!(
            (right.area.x, right.area.width, right.what.as_str()),
            (960, 960, "monitor 'right'")
        );
        // The request is relative to the monitor; the result is on the screen.
        let c = req(100, 20, None, Some(500))
            .clamp_within(&right, false)
            .unwrap();
        assert_eq!(
            c.region,
            Region {
                x: 1060,
                y: 20,
                width: 860,
                height: 500
            }
        );
        let past = req(0, 0, Some(1000), None)
            .clamp_within(&right, false)
            .unwrap();
        assert_eq!(past.region.width, 960);
        assert!(
            past.notes[0].contains("past the monitor 'right' edge (960)"),
            "{:?}",
            past.notes
        );
        let off = req(960, 0, None, None)
            .clamp_within(&right, false)
            .unwrap_err();
        assert_eq!(
            off.message,
            "captureX must be 0..960 (monitor 'right' width), got 960"
        );
        // A missing monitor names those there are.
        let e = Bounds::monitor(&MonitorRef::Name("DP-9".into()), &list, screen).unwrap_err();
        assert_eq!(
            e,
            "monitor 'DP-9' does not exist; monitors: 0 'left' 960x1080+0+0, 1 'right' 960x1080+960+0"
        );
        assert!(Bounds::monitor(&MonitorRef::Index(2), &list, screen).is_err());
        assert!(Bounds::monitor(&MonitorRef::Index(0), &[], screen)
            .unwrap_err()
            .contains("reports no monitors"));
        // A monitor partly off the screen is cut to the screen; wholly off, refused.
        let partly = [mon("p", -100, 1000, 400, 400)];
        let b = Bounds::monitor(&MonitorRef::Index(0), &partly, screen).unwrap();
        assert_eq!(
            (b.area.x, b.area.y, b.area.width, b.area.height),
            (0, 1000, 300, 80)
        );
        let gone = [mon("g", 2000, 0, 400, 400)];
        assert!(Bounds::monitor(&MonitorRef::Index(0), &gone, screen).is_err());
    }

    fn req(x: u32, y: u32, width: Option<u32>, height: Option<u32>) -> RegionRequest {
        RegionRequest {
            display: None,
            monitor: None,
            x,
            y,
            width,
            height,
            auto_resize: true,
        }
    }

    #[test]
    fn every_row_is_covered_exactly_once() {
        for height in [1u32, 7, 63, 64, 65, 128, 1080, 1081, 2160] {
            for sh in [8u32, 16, 64, 100, 540] {
                let layout = stripes(height, sh);
                let mut covered = vec![0u8; height as usize];
                for (i, s) in layout.iter().enumerate() {
                    assert_eq!(s.index, i);
                    assert!(s.height > 0 && s.height <= sh);
                    for y in s.y..s.y + s.height {
                        covered[y as usize] += 1;
                    }
                }
                assert!(
                    covered.iter().all(|&c| c == 1),
                    "height {height} stripe {sh}"
                );
                assert_eq!(layout.len() as u32, height.div_ceil(sh));
            }
        }
    }

    #[test]
    fn last_stripe_is_the_remainder() {
        let l = stripes(1080, 64);
        assert_eq!(l.len(), 17);
        assert_eq!(
            l[16],
            Stripe {
                index: 16,
                y: 1024,
                height: 56
            }
        );
    }

    #[test]
    fn row_spans_merge_clamp_and_touch() {
        let mut r = RowSpans::default();
        assert!(r.is_empty());
        r.add(100, 110, 720);
        r.add(-5, 3, 720);
        r.add(105, 130, 720);
        r.add(130, 131, 720);
        r.add(700, 900, 720);
        r.add(50, 50, 720);
        assert_eq!(r.spans(), &[(0, 3), (100, 131), (700, 720)]);
        let layout = stripes(720, 64);
        let touched: Vec<usize> = layout
            .iter()
            .filter(|s| r.extent_within(s).is_some())
            .map(|s| s.index)
            .collect();
        // Rows 0..3 -> stripe 0; 100..131 -> stripes 1 and 2; 700..720 -> stripe 10 (640..704) and 11.
        assert_eq!(touched, vec![0, 1, 2, 10, 11]);
        assert_eq!(RowSpans::everything(720).spans(), &[(0, 720)]);
    }

    #[test]
    fn bands_widen_to_whole_mcus_of_their_stripe() {
        let stripe = Stripe {
            index: 3,
            y: 192,
            height: 64,
        };
        // Rows 200..209 (a glyph): the first 4:2:0 MCU row of the stripe.
        assert_eq!(align_band((200, 210), &stripe, 16), (192, 224));
        assert_eq!(align_band((200, 210), &stripe, 8), (200, 216));
        // Already aligned: unchanged.
        assert_eq!(align_band((208, 224), &stripe, 16), (208, 224));
        // Never past the stripe, also when the stripe is not a multiple of the MCU.
        assert_eq!(align_band((250, 256), &stripe, 16), (240, 256));
        let short = Stripe {
            index: 11,
            y: 704,
            height: 16,
        };
        assert_eq!(align_band((705, 707), &short, 16), (704, 720));
        let odd = Stripe {
            index: 0,
            y: 0,
            height: 24,
        };
        assert_eq!(align_band((17, 20), &odd, 16), (16, 24));
    }

    #[test]
    fn region_is_clamped_and_reported() {
        let r = req(100, 50, Some(2000), Some(100));
        let c = r.clamp(1920, 1080, false).unwrap();
        assert_eq!(
            c.region,
            Region {
                x: 100,
                y: 50,
                width: 1820,
                height: 100
            }
        );
        assert_eq!(c.notes.len(), 1);
        assert!(
            c.notes[0].contains("captureWidth 2000 clamped to 1820"),
            "{:?}",
            c.notes
        );

        let full = req(0, 0, None, None).clamp(1920, 1080, false).unwrap();
        assert_eq!(
            full.region,
            Region {
                x: 0,
                y: 0,
                width: 1920,
                height: 1080
            }
        );
        assert!(full.notes.is_empty());
    }

    #[test]
    fn region_off_screen_is_an_error() {
        let e = req(5000, 0, Some(10), Some(10))
            .clamp(1920, 1080, false)
            .unwrap_err();
        assert_eq!(e.field, "captureX");
        let e = req(0, 1080, None, None)
            .clamp(1920, 1080, false)
            .unwrap_err();
        assert_eq!(e.field, "captureY");
    }

    #[test]
    fn h264_rounds_odd_sizes_down_and_says_so() {
        let c = req(0, 0, Some(641), Some(481))
            .clamp(1920, 1080, true)
            .unwrap();
        assert_eq!((c.region.width, c.region.height), (640, 480));
        assert_eq!(c.notes.len(), 2);
        assert!(req(0, 0, Some(1), Some(4)).clamp(1920, 1080, true).is_err());
    }
}
