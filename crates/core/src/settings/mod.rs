//! Capture settings: the raw, all-optional options a user passes, their defaults, and the
//! validation that turns them into a checked, grouped [`Config`] before any thread starts.
//! Every setting is one row of [`settings_table!`](crate::settings_table) (`table.rs`); its
//! kind (`kind.rs`) says what it accepts.
//!
//! Every error names the field (in the JavaScript spelling), the value and what is allowed,
//! so a user can fix a call without reading the source.

use std::fmt;

mod describe;
mod kind;
mod table;

pub use describe::{markdown_table, typescript};

pub use kind::{
    Choice, Display, FilePath, Flag, Fps, FromRawValue, Int, JsType, Kind, KindInfo, Monitor,
    MonitorRef, NameOf, Named, Opt, RawValue, Seconds, StripeRowsKind,
};

/// Largest width or height we accept for a region (H.264 level limits and sane memory use).
pub const MAX_DIMENSION: i64 = 16384;
/// Highest frame rate we pace to.
pub const MAX_FPS: f64 = 240.0;
/// Default JPEG stripe height. A JPEG covers only the changed rows of its stripe, so the height
/// does not set the cost of small changes; it sets the largest piece, the parallelism of a
/// full-screen update (9 pieces at 1080p) and how many JPEG headers (~600 bytes each) a
/// full-screen update carries. Measured with `bench/stripe-height.mjs` (docs/design.md, *Stripe
/// heights*).
pub const DEFAULT_JPEG_STRIPE_HEIGHT: u32 = 128;
/// Striped H.264's default stripe height, nominal: the region is cut into equal stripes of about
/// this many rows ([`StripeRows::About`]). Each stripe is its own stream, and a stream cannot
/// predict from content that enters it from a neighbour, so taller stripes cost less on motion;
/// x264 skips the macroblock rows that did not change, so typing costs little more. At 1080p
/// (docs/design.md, *Stripe heights*, 2026-11-24): 4 x 272 rows scroll at 0.30 MB/s against
/// 0.59 with 128-row stripes, for 1.6 against 1.1 ms a frame of typing.
pub const DEFAULT_H264_STRIPE_HEIGHT: u32 = 256;
/// Largest decoded watermark we accept, per side.
pub const MAX_WATERMARK_SIDE: u32 = 8192;

/// Which kind of JavaScript error a settings problem becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsErrorKind {
    /// A value outside its allowed range (JavaScript `RangeError`).
    Range,
    /// A value of the wrong kind, e.g. an unknown enum name (JavaScript `TypeError`).
    Type,
}

/// A rejected setting. `Display` gives the message shown to the user.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingsError {
    pub kind: SettingsErrorKind,
    pub field: &'static str,
    pub message: String,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

/// A number as JavaScript prints it: `Infinity`, `-Infinity`, `NaN`, `30`, `2.5`.
pub fn js_number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        v.to_string()
    }
}

/// The candidate closest to `name` when it is probably a misspelling of it (case ignored, at
/// most one edit per four characters, and at least one allowed), for "did you mean" hints.
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    let limit = (name.chars().count() / 4).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&name, &c.to_lowercase()), c))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// ` (did you mean "x"?)` for the nearest candidate, or nothing.
pub fn did_you_mean<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    nearest(name, candidates).map_or_else(String::new, |c| format!(" (did you mean {c:?}?)"))
}

/// Optimal string alignment distance: insertions, deletions, substitutions and swaps of two
/// neighbouring characters each cost one.
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut d: Vec<Vec<usize>> = (0..=a.len())
        .map(|i| (0..=b.len()).map(|j| if i == 0 { j } else { i }).collect())
        .collect();
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = best;
        }
    }
    d[a.len()][b.len()]
}

pub(crate) fn range_err(
    field: &'static str,
    allowed: &str,
    got: impl fmt::Display,
) -> SettingsError {
    SettingsError {
        kind: SettingsErrorKind::Range,
        field,
        message: format!("{field} must be {allowed}, got {got}"),
    }
}

/// Encoded output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Jpeg,
    H264,
}

/// JPEG chroma resolution (`jpegSubsampling`); grey pictures carry none under any value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsampling {
    /// Always 4:2:0.
    S420,
    /// Always 4:4:4.
    S444,
    /// Per picture, by its colour detail against its quality (`encode::jpeg::Chroma`).
    Auto,
}

/// How the captured region is cut into stripes (`stripeHeight`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripeRows {
    /// Stripes of exactly this many rows from the top; the last one takes what is left.
    /// `stripeHeight` when given, and JPEG's default.
    Exactly(u32),
    /// Equal stripes of about this many rows, each a whole number of 16-row macroblock rows:
    /// striped H.264's default. A short last stripe would be a stream of its own with most of
    /// its area next to an edge it cannot predict across (1080 rows: 4 x 272, not 4 x 256 + 56;
    /// scrolling costs 18% fewer bytes that way at the same CPU).
    About(u32),
}

impl StripeRows {
    /// Rows per stripe for a region `height` rows tall (the last stripe may be shorter).
    pub fn for_height(self, height: u32) -> u32 {
        match self {
            StripeRows::Exactly(rows) => rows,
            StripeRows::About(rows) => {
                let count = ((height + rows / 2) / rows).max(1);
                height.div_ceil(count).next_multiple_of(16).max(16)
            }
        }
    }
}

/// How the software H.264 encoder (x264) sets its quantiser (`h264RateControl`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateControl {
    /// Constant rate factor `h264Crf`: x264 picks each picture's quantiser from its complexity,
    /// which it measures on a half-size copy of every picture (pixelflux's choice).
    #[default]
    Crf,
    /// Constant quantiser `h264Crf` for P pictures (I pictures 3 lower), as the hardware
    /// encoders do: no half-size analysis, so less CPU per picture, but a quantiser that does
    /// not follow the content (CRF codes small or easily predicted changes finer).
    Cqp,
}

/// Where the watermark sits (`watermarkLocationEnum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkLocation {
    None,
    TopLeft,
    TopRight,
    BottomLeft,
    BottomRight,
    Middle,
    Animated,
}

macro_rules! named {
    ($ty:ty, [$($variant:ident = $name:literal),+ $(,)?]) => {
        impl Named for $ty {
            const NAMES: &'static [&'static str] = &[$($name),+];
            fn from_index(i: usize) -> Self {
                const ALL: &[$ty] = &[$(<$ty>::$variant),+];
                ALL[i]
            }
            fn index(self) -> usize {
                [$(<$ty>::$variant),+].iter().position(|v| *v == self).expect("a variant")
            }
        }
    };
}

named!(OutputMode, [Jpeg = "jpeg", H264 = "h264"]);
named!(Subsampling, [S420 = "420", S444 = "444", Auto = "auto"]);
named!(RateControl, [Crf = "crf", Cqp = "cqp"]);
named!(
    WatermarkLocation,
    [
        None = "none",
        TopLeft = "top-left",
        TopRight = "top-right",
        BottomLeft = "bottom-left",
        BottomRight = "bottom-right",
        Middle = "middle",
        Animated = "animated",
    ]
);

/// One setting, for the binding's checks and for generated descriptions.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// Its JavaScript name.
    pub js: &'static str,
    /// Its TypeScript type.
    pub ts: &'static str,
    pub doc: &'static str,
    /// The [`Config`] group it is in.
    pub group: &'static str,
    pub info: fn() -> KindInfo,
    /// Its default, as a user would write it (`none`: worked out from something else).
    pub default: fn() -> String,
}

crate::settings_table!(table::define_settings);

impl Layout {
    /// How the region is cut into stripes: `stripeHeight` exactly when given, else JPEG's
    /// default height or striped H.264's equal stripes.
    pub fn stripe_rows(&self) -> StripeRows {
        match (self.stripe_height, self.mode) {
            (Some(rows), _) => StripeRows::Exactly(rows),
            (None, OutputMode::Jpeg) => StripeRows::Exactly(DEFAULT_JPEG_STRIPE_HEIGHT),
            (None, OutputMode::H264) => StripeRows::About(DEFAULT_H264_STRIPE_HEIGHT),
        }
    }
}

impl H264Settings {
    /// The CRF of paint-over pictures: `h264PaintOverCrf`, or 5 below `h264Crf`.
    pub fn paint_over_crf_or_default(&self) -> u8 {
        self.paint_over_crf.unwrap_or(self.crf.saturating_sub(5))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn misspelt_names_find_their_setting_and_strangers_find_none() {
        let names = [
            "jpegQuality",
            "paintOverJpegQuality",
            "h264Crf",
            "targetFps",
            "jpegTiles",
        ];
        assert_eq!(nearest("jpegQualty", names), Some("jpegQuality"));
        assert_eq!(nearest("JPEGQUALITY", names), Some("jpegQuality"));
        assert_eq!(nearest("jepgQuality", names), Some("jpegQuality"));
        assert_eq!(nearest("h264crf", names), Some("h264Crf"));
        assert_eq!(nearest("targetFPS", names), Some("targetFps"));
        assert_eq!(nearest("fps", names), None);
        assert_eq!(nearest("quality", names), None);
        assert_eq!(nearest("bogus", names), None);
        assert_eq!(nearest("jpg", ["jpeg", "h264"]), Some("jpeg"));
        assert_eq!(nearest("png", ["jpeg", "h264"]), None);
    }

    use super::*;

    fn opts() -> CaptureOptions {
        CaptureOptions::default()
    }

    fn err(o: CaptureOptions) -> SettingsError {
        o.validate().expect_err("should be rejected")
    }

    #[test]
    fn about_stripe_rows_cut_the_region_evenly_in_whole_macroblock_rows() {
        let about = StripeRows::About(256);
        // Common screen heights: (height, rows per stripe).
        for (height, rows) in [(720, 240), (768, 256), (900, 240), (1080, 272), (1440, 240)] {
            assert_eq!(about.for_height(height), rows, "{height} rows");
        }
        assert_eq!(about.for_height(2160), 272);
        assert_eq!(about.for_height(100), 112, "one stripe");
        assert_eq!(about.for_height(1), 16);
        for height in 1..=2400 {
            let rows = about.for_height(height);
            assert_eq!(rows % 16, 0, "{height}");
            let count = height.div_ceil(rows);
            let want = ((height as f64 / 256.0).round() as u32).max(1);
            assert_eq!(count, want, "{height} rows cut into {rows}-row stripes");
        }
        assert_eq!(StripeRows::Exactly(200).for_height(1080), 200);
    }

    #[test]
    fn defaults_follow_the_seed() {
        let c = opts().validate().unwrap();
        assert_eq!(c.pacing.fps, 60.0);
        assert_eq!(c.layout.mode, OutputMode::H264);
        assert_eq!(
            (c.jpeg.quality, c.jpeg.paint_over_quality, c.h264.crf),
            (75, 90, 23)
        );
        assert!(
            c.layout.h264_fullframe
                && !c.layout.h264_fullcolor
                && c.overlay.cursor
                && c.paint_over.enabled
        );
        assert_eq!(
            (
                c.paint_over.after_frames,
                c.damage.threshold,
                c.damage.duration
            ),
            (15, 10, 30)
        );
        assert_eq!(c.hardware.vaapi_node, -1);
        assert_eq!(
            c.region,
            RegionRequest {
                display: None,
                monitor: None,
                x: 0,
                y: 0,
                width: None,
                height: None,
                auto_resize: true,
            }
        );
        assert_eq!(
            c.layout.stripe_rows(),
            StripeRows::About(DEFAULT_H264_STRIPE_HEIGHT)
        );
        let jpeg = CaptureOptions {
            output_mode: Some(0),
            ..opts()
        }
        .validate()
        .unwrap();
        assert_eq!(
            jpeg.layout.stripe_rows(),
            StripeRows::Exactly(DEFAULT_JPEG_STRIPE_HEIGHT)
        );
        assert_eq!(c.jpeg.subsampling, Subsampling::Auto);
        assert_eq!(c.h264.rate_control, RateControl::Crf);
        let cqp = CaptureOptions {
            h264_rate_control: Some("cqp".into()),
            ..opts()
        };
        assert_eq!(cqp.validate().unwrap().h264.rate_control, RateControl::Cqp);
    }

    #[test]
    fn each_bad_value_names_field_value_and_range() {
        let cases: Vec<(CaptureOptions, &str, &str)> = vec![
            (
                CaptureOptions {
                    jpeg_quality: Some(140),
                    ..opts()
                },
                "jpegQuality",
                "jpegQuality must be 0..=100, got 140",
            ),
            (
                CaptureOptions {
                    jpeg_quality: Some(-1),
                    ..opts()
                },
                "jpegQuality",
                "got -1",
            ),
            (
                CaptureOptions {
                    paint_over_jpeg_quality: Some(101),
                    ..opts()
                },
                "paintOverJpegQuality",
                "0..=100",
            ),
            (
                CaptureOptions {
                    h264_crf: Some(52),
                    ..opts()
                },
                "h264Crf",
                "h264Crf must be 0..=51, got 52",
            ),
            (
                CaptureOptions {
                    h264_crf: Some(-1),
                    ..opts()
                },
                "h264Crf",
                "got -1",
            ),
            (
                CaptureOptions {
                    capture_width: Some(0),
                    ..opts()
                },
                "captureWidth",
                "1..=16384, got 0",
            ),
            (
                CaptureOptions {
                    capture_height: Some(-5),
                    ..opts()
                },
                "captureHeight",
                "got -5",
            ),
            (
                CaptureOptions {
                    capture_width: Some(16385),
                    ..opts()
                },
                "captureWidth",
                "got 16385",
            ),
            (
                CaptureOptions {
                    capture_x: Some(-1),
                    ..opts()
                },
                "captureX",
                "got -1",
            ),
            (
                CaptureOptions {
                    capture_y: Some(-1),
                    ..opts()
                },
                "captureY",
                "got -1",
            ),
            (
                CaptureOptions {
                    target_fps: Some(0.0),
                    ..opts()
                },
                "targetFps",
                "got 0",
            ),
            (
                CaptureOptions {
                    target_fps: Some(-3.0),
                    ..opts()
                },
                "targetFps",
                "got -3",
            ),
            (
                CaptureOptions {
                    target_fps: Some(f64::NAN),
                    ..opts()
                },
                "targetFps",
                "got NaN",
            ),
            (
                CaptureOptions {
                    target_fps: Some(f64::INFINITY),
                    ..opts()
                },
                "targetFps",
                "got Infinity",
            ),
            (
                CaptureOptions {
                    target_fps: Some(241.0),
                    ..opts()
                },
                "targetFps",
                "got 241",
            ),
            (
                CaptureOptions {
                    output_mode: Some(2),
                    ..opts()
                },
                "outputMode",
                "outputMode must be 0..=1 (0 'jpeg', 1 'h264'), got 2",
            ),
            (
                CaptureOptions {
                    watermark_location_enum: Some(7),
                    ..opts()
                },
                "watermarkLocationEnum",
                "watermarkLocationEnum must be 0..=6 (0 'none', 1 'top-left', 2 'top-right', \
                 3 'bottom-left', 4 'bottom-right', 5 'middle', 6 'animated'), got 7",
            ),
            (
                CaptureOptions {
                    vaapi_render_node_index: Some(99),
                    ..opts()
                },
                "vaapiRenderNodeIndex",
                "-1..=63, got 99",
            ),
            (
                CaptureOptions {
                    paint_over_trigger_frames: Some(0),
                    ..opts()
                },
                "paintOverTriggerFrames",
                "got 0",
            ),
            (
                CaptureOptions {
                    damage_block_threshold: Some(0),
                    ..opts()
                },
                "damageBlockThreshold",
                "got 0",
            ),
            (
                CaptureOptions {
                    damage_block_duration: Some(0),
                    ..opts()
                },
                "damageBlockDuration",
                "got 0",
            ),
            (
                CaptureOptions {
                    stripe_height: Some(60),
                    ..opts()
                },
                "stripeHeight",
                "multiple of 8",
            ),
            (
                CaptureOptions {
                    stripe_height: Some(4),
                    ..opts()
                },
                "stripeHeight",
                "8..=4096",
            ),
            (
                CaptureOptions {
                    keyframe_interval_s: Some(-1.0),
                    ..opts()
                },
                "keyframeIntervalS",
                "got -1",
            ),
            (
                CaptureOptions {
                    jpeg_subsampling: Some("422".into()),
                    ..opts()
                },
                "jpegSubsampling",
                "'420', '444' or 'auto'",
            ),
            (
                CaptureOptions {
                    h264_rate_control: Some("vbr".into()),
                    ..opts()
                },
                "h264RateControl",
                "'crf' or 'cqp', got \"vbr\"",
            ),
            (
                CaptureOptions {
                    display: Some("garbage".into()),
                    ..opts()
                },
                "display",
                "display must look like",
            ),
            (
                CaptureOptions {
                    display: Some(":0; rm -rf".into()),
                    ..opts()
                },
                "display",
                "display must look like",
            ),
            (
                CaptureOptions {
                    display: Some("wayland-".into()),
                    ..opts()
                },
                "display",
                "or 'wayland-1' or an absolute socket path (Wayland)",
            ),
            (
                CaptureOptions {
                    max_queued_stripes: Some(0),
                    ..opts()
                },
                "maxQueuedStripes",
                "got 0",
            ),
        ];
        for (o, field, needle) in cases {
            let e = err(o);
            assert_eq!(e.field, field, "{e}");
            assert!(
                e.message.contains(needle),
                "{:?} does not contain {:?}",
                e.message,
                needle
            );
            assert!(e.message.starts_with(field), "{}", e.message);
        }
    }

    #[test]
    fn enum_names_are_type_errors_and_numbers_range_errors() {
        assert_eq!(
            err(CaptureOptions {
                jpeg_subsampling: Some("x".into()),
                ..opts()
            })
            .kind,
            SettingsErrorKind::Type
        );
        assert_eq!(
            err(CaptureOptions {
                jpeg_quality: Some(500),
                ..opts()
            })
            .kind,
            SettingsErrorKind::Range
        );
    }

    #[test]
    fn good_displays_pass() {
        let wayland = ["wayland-0", "wayland-1", "/run/user/1000/wayland-1"];
        for d in [":0", ":99", ":1.0", "unix:3", "localhost:10.0"]
            .into_iter()
            .chain(wayland)
        {
            let c = CaptureOptions {
                display: Some(d.into()),
                ..opts()
            }
            .validate()
            .unwrap();
            assert_eq!(c.region.display.as_deref(), Some(d));
        }
    }

    #[test]
    fn merged_options_take_the_update_and_keep_the_rest() {
        let base = CaptureOptions {
            jpeg_quality: Some(50),
            target_fps: Some(30.0),
            ..opts()
        };
        let m = base.merged_with(&CaptureOptions {
            jpeg_quality: Some(80),
            ..opts()
        });
        assert_eq!((m.jpeg_quality, m.target_fps), (Some(80), Some(30.0)));
        assert_eq!(m.h264_crf, None);
    }
}
