//! Capture settings: the raw, all-optional options a user passes, their defaults, and the
//! validation that turns them into a checked [`Config`] before any thread starts.
//!
//! Every error names the field (in the JavaScript spelling), the value and what is allowed,
//! so a user can fix a call without reading the source.

use std::fmt;

use crate::geometry::RegionRequest;

/// Largest width or height we accept for a region (H.264 level limits and sane memory use).
pub const MAX_DIMENSION: i64 = 16384;
/// Highest frame rate we pace to.
pub const MAX_FPS: f64 = 240.0;
/// Default JPEG stripe height. A JPEG covers only the changed rows of its stripe, so the height
/// does not set the cost of small changes; it sets the largest piece, the parallelism of a
/// full-screen update (9 pieces at 1080p) and how many JPEG headers (~600 bytes each) a
/// full-screen update carries. Measured with `bench/stripe-height.mjs` (README, "Stripes").
pub const DEFAULT_JPEG_STRIPE_HEIGHT: u32 = 128;
/// Striped H.264's default stripe height, nominal: the region is cut into equal stripes of about
/// this many rows ([`StripeRows::About`]). Each stripe is its own stream, and a stream cannot
/// predict from content that enters it from a neighbour, so taller stripes cost less on motion
/// (scrolling: -38% bytes, 7-16% less CPU against 128 rows); x264 skips the macroblock rows
/// that did not change, so typing costs little more (1.4 vs 0.9 ms a frame).
pub const DEFAULT_H264_STRIPE_HEIGHT: u32 = 256;
/// Largest decoded watermark we accept, per side.
pub const MAX_WATERMARK_SIDE: u32 = 8192;

/// What the user asked for. `None` means "use the default".
/// Field names mirror pixelflux's `CaptureSettings` (camelCase on the JavaScript side).
#[derive(Debug, Clone, Default)]
pub struct CaptureOptions {
    pub display: Option<String>,
    pub capture_width: Option<i64>,
    pub capture_height: Option<i64>,
    pub capture_x: Option<i64>,
    pub capture_y: Option<i64>,
    pub target_fps: Option<f64>,
    pub capture_cursor: Option<bool>,
    pub output_mode: Option<i64>,
    pub jpeg_quality: Option<i64>,
    pub paint_over_jpeg_quality: Option<i64>,
    pub jpeg_subsampling: Option<String>,
    pub h264_crf: Option<i64>,
    pub h264_paint_over_crf: Option<i64>,
    pub h264_rate_control: Option<String>,
    pub h264_fullcolor: Option<bool>,
    pub h264_fullframe: Option<bool>,
    pub keyframe_interval_s: Option<f64>,
    pub vaapi_render_node_index: Option<i64>,
    pub use_cpu: Option<bool>,
    pub use_paint_over_quality: Option<bool>,
    pub paint_over_trigger_frames: Option<i64>,
    pub damage_block_threshold: Option<i64>,
    pub damage_block_duration: Option<i64>,
    pub watermark_path: Option<String>,
    pub watermark_location_enum: Option<i64>,
    pub stripe_height: Option<i64>,
    pub omit_stripe_headers: Option<bool>,
    pub max_queued_stripes: Option<i64>,
    pub auto_resize: Option<bool>,
    pub jpeg_tiles: Option<bool>,
}

macro_rules! merge_options {
    ($base:expr, $update:expr, $($field:ident),* $(,)?) => {
        CaptureOptions { $($field: $update.$field.clone().or_else(|| $base.$field.clone()),)* }
    };
}

impl CaptureOptions {
    /// These options with every field that `update` sets replaced by its value.
    pub fn merged_with(&self, update: &CaptureOptions) -> CaptureOptions {
        merge_options!(
            self,
            update,
            display,
            capture_width,
            capture_height,
            capture_x,
            capture_y,
            target_fps,
            capture_cursor,
            output_mode,
            jpeg_quality,
            paint_over_jpeg_quality,
            jpeg_subsampling,
            h264_crf,
            h264_paint_over_crf,
            h264_rate_control,
            h264_fullcolor,
            h264_fullframe,
            keyframe_interval_s,
            vaapi_render_node_index,
            use_cpu,
            use_paint_over_quality,
            paint_over_trigger_frames,
            damage_block_threshold,
            damage_block_duration,
            watermark_path,
            watermark_location_enum,
            stripe_height,
            omit_stripe_headers,
            max_queued_stripes,
            auto_resize,
            jpeg_tiles,
        )
    }
}

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

fn int_in(
    field: &'static str,
    v: Option<i64>,
    default: i64,
    lo: i64,
    hi: i64,
) -> Result<i64, SettingsError> {
    let v = v.unwrap_or(default);
    if v < lo || v > hi {
        return Err(range_err(field, &format!("{lo}..={hi}"), v));
    }
    Ok(v)
}

/// Encoded output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputMode {
    Jpeg,
    H264,
}

/// JPEG chroma subsampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subsampling {
    S420,
    S444,
    /// 4:2:0 for changes (motion), 4:4:4 for paint-over (still content, often text).
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

impl WatermarkLocation {
    fn from_index(i: i64) -> Self {
        match i {
            1 => Self::TopLeft,
            2 => Self::TopRight,
            3 => Self::BottomLeft,
            4 => Self::BottomRight,
            5 => Self::Middle,
            6 => Self::Animated,
            _ => Self::None,
        }
    }
}

/// Validated configuration; every value is in range.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub display: Option<String>,
    pub region: RegionRequest,
    pub target_fps: f64,
    pub capture_cursor: bool,
    pub output_mode: OutputMode,
    pub jpeg_quality: u8,
    pub paint_over_jpeg_quality: u8,
    pub jpeg_subsampling: Subsampling,
    pub h264_crf: u8,
    pub h264_paint_over_crf: u8,
    pub h264_rate_control: RateControl,
    pub h264_fullcolor: bool,
    pub h264_fullframe: bool,
    pub keyframe_interval_s: f64,
    pub vaapi_render_node_index: i32,
    pub use_cpu: bool,
    pub use_paint_over_quality: bool,
    pub paint_over_trigger_frames: u32,
    pub damage_block_threshold: u32,
    pub damage_block_duration: u32,
    pub watermark_path: Option<String>,
    pub watermark_location: WatermarkLocation,
    pub stripe_height: StripeRows,
    pub omit_stripe_headers: bool,
    /// Stripes handed to JavaScript but not yet consumed, above which new frames are skipped.
    pub max_queued_stripes: u32,
    /// Re-fit the region when the screen changes size (instead of ending the capture).
    pub auto_resize: bool,
    /// JPEG deliveries cover only the changed columns too (whole 128-pixel cells), with an x
    /// offset in a 10-byte header that pixelflux's clients do not read.
    pub jpeg_tiles: bool,
}

impl CaptureOptions {
    /// Checks every field and fills in defaults. Pure: touches no display or file.
    pub fn validate(&self) -> Result<Config, SettingsError> {
        let display = match &self.display {
            Some(d) => Some(validate_display(d)?),
            None => None,
        };
        let dim = |field: &'static str, v: Option<i64>| -> Result<Option<u32>, SettingsError> {
            match v {
                None => Ok(None),
                Some(v) if (1..=MAX_DIMENSION).contains(&v) => Ok(Some(v as u32)),
                Some(v) => Err(range_err(field, &format!("1..={MAX_DIMENSION}"), v)),
            }
        };
        let origin = |field: &'static str, v: Option<i64>| {
            int_in(field, v, 0, 0, MAX_DIMENSION - 1).map(|v| v as u32)
        };
        let region = RegionRequest {
            x: origin("captureX", self.capture_x)?,
            y: origin("captureY", self.capture_y)?,
            width: dim("captureWidth", self.capture_width)?,
            height: dim("captureHeight", self.capture_height)?,
        };

        let target_fps = self.target_fps.unwrap_or(60.0);
        if !target_fps.is_finite() || target_fps <= 0.0 || target_fps > MAX_FPS {
            return Err(range_err(
                "targetFps",
                &format!("a finite number in (0, {MAX_FPS}]"),
                js_number(target_fps),
            ));
        }

        let output_mode = match self.output_mode.unwrap_or(1) {
            0 => OutputMode::Jpeg,
            1 => OutputMode::H264,
            v => return Err(range_err("outputMode", "0 (JPEG) or 1 (H.264)", v)),
        };
        let jpeg_quality = int_in("jpegQuality", self.jpeg_quality, 75, 0, 100)? as u8;
        let paint_over_jpeg_quality = int_in(
            "paintOverJpegQuality",
            self.paint_over_jpeg_quality,
            90,
            0,
            100,
        )? as u8;
        let jpeg_subsampling = match self.jpeg_subsampling.as_deref().unwrap_or("420") {
            "420" => Subsampling::S420,
            "444" => Subsampling::S444,
            "auto" => Subsampling::Auto,
            other => {
                return Err(SettingsError {
                    kind: SettingsErrorKind::Type,
                    field: "jpegSubsampling",
                    message: format!(
                        "jpegSubsampling must be '420', '444' or 'auto', got {other:?}{}",
                        did_you_mean(other, ["420", "444", "auto"])
                    ),
                })
            }
        };
        let h264_crf = int_in("h264Crf", self.h264_crf, 23, 0, 51)? as u8;
        let default_po_crf = (h264_crf as i64 - 5).max(0);
        let h264_paint_over_crf = int_in(
            "h264PaintOverCrf",
            self.h264_paint_over_crf,
            default_po_crf,
            0,
            51,
        )? as u8;
        let h264_rate_control = match self.h264_rate_control.as_deref().unwrap_or("crf") {
            "crf" => RateControl::Crf,
            "cqp" => RateControl::Cqp,
            other => {
                return Err(SettingsError {
                    kind: SettingsErrorKind::Type,
                    field: "h264RateControl",
                    message: format!(
                        "h264RateControl must be 'crf' or 'cqp', got {other:?}{}",
                        did_you_mean(other, ["crf", "cqp"])
                    ),
                })
            }
        };
        let keyframe_interval_s = self.keyframe_interval_s.unwrap_or(0.0);
        if !keyframe_interval_s.is_finite() || !(0.0..=3600.0).contains(&keyframe_interval_s) {
            return Err(range_err(
                "keyframeIntervalS",
                "0 (never) or a number of seconds up to 3600",
                js_number(keyframe_interval_s),
            ));
        }
        let vaapi_render_node_index = int_in(
            "vaapiRenderNodeIndex",
            self.vaapi_render_node_index,
            -1,
            -1,
            63,
        )? as i32;
        let paint_over_trigger_frames = int_in(
            "paintOverTriggerFrames",
            self.paint_over_trigger_frames,
            15,
            1,
            100_000,
        )? as u32;
        let damage_block_threshold = int_in(
            "damageBlockThreshold",
            self.damage_block_threshold,
            10,
            1,
            100_000,
        )? as u32;
        let damage_block_duration = int_in(
            "damageBlockDuration",
            self.damage_block_duration,
            30,
            1,
            100_000,
        )? as u32;
        let watermark_location = WatermarkLocation::from_index(int_in(
            "watermarkLocationEnum",
            self.watermark_location_enum,
            4,
            0,
            6,
        )?);
        let watermark_path = match &self.watermark_path {
            Some(p) if p.is_empty() => None,
            Some(p) if p.contains('\0') => {
                return Err(SettingsError {
                    kind: SettingsErrorKind::Type,
                    field: "watermarkPath",
                    message: "watermarkPath must not contain NUL characters".into(),
                })
            }
            other => other.clone(),
        };
        let stripe_height = match (self.stripe_height, output_mode) {
            (None, OutputMode::Jpeg) => StripeRows::Exactly(DEFAULT_JPEG_STRIPE_HEIGHT),
            (None, OutputMode::H264) => StripeRows::About(DEFAULT_H264_STRIPE_HEIGHT),
            (Some(rows), _) => {
                let rows = int_in("stripeHeight", Some(rows), 0, 8, 4096)?;
                if rows % 8 != 0 {
                    return Err(range_err(
                        "stripeHeight",
                        "a multiple of 8 in 8..=4096",
                        rows,
                    ));
                }
                StripeRows::Exactly(rows as u32)
            }
        };
        let max_queued_stripes = int_in(
            "maxQueuedStripes",
            self.max_queued_stripes,
            256,
            1,
            1_000_000,
        )? as u32;

        Ok(Config {
            display,
            region,
            target_fps,
            capture_cursor: self.capture_cursor.unwrap_or(true),
            output_mode,
            jpeg_quality,
            paint_over_jpeg_quality,
            jpeg_subsampling,
            h264_crf,
            h264_paint_over_crf,
            h264_rate_control,
            h264_fullcolor: self.h264_fullcolor.unwrap_or(false),
            h264_fullframe: self.h264_fullframe.unwrap_or(true),
            keyframe_interval_s,
            vaapi_render_node_index,
            use_cpu: self.use_cpu.unwrap_or(false),
            use_paint_over_quality: self.use_paint_over_quality.unwrap_or(true),
            paint_over_trigger_frames,
            damage_block_threshold,
            damage_block_duration,
            watermark_path,
            watermark_location,
            stripe_height,
            omit_stripe_headers: self.omit_stripe_headers.unwrap_or(false),
            max_queued_stripes,
            auto_resize: self.auto_resize.unwrap_or(true),
            jpeg_tiles: self.jpeg_tiles.unwrap_or(false),
        })
    }
}

/// Accepts X display names of the form `[host]:display[.screen]` (e.g. `:0`, `:99.0`, `unix:1`).
fn validate_display(d: &str) -> Result<String, SettingsError> {
    let bad = || SettingsError {
        kind: SettingsErrorKind::Type,
        field: "display",
        message: format!("display must look like ':0' or 'host:0.0', got {d:?}"),
    };
    let (host, rest) = d.rsplit_once(':').ok_or_else(bad)?;
    let (num, screen) = match rest.split_once('.') {
        Some((n, s)) => (n, Some(s)),
        None => (rest, None),
    };
    let digits = |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
    let host_ok = host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b));
    if !host_ok || !digits(num) || screen.is_some_and(|s| !digits(s)) {
        return Err(bad());
    }
    Ok(d.to_string())
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
        assert_eq!(c.target_fps, 60.0);
        assert_eq!(c.output_mode, OutputMode::H264);
        assert_eq!(
            (c.jpeg_quality, c.paint_over_jpeg_quality, c.h264_crf),
            (75, 90, 23)
        );
        assert!(
            c.h264_fullframe && !c.h264_fullcolor && c.capture_cursor && c.use_paint_over_quality
        );
        assert_eq!(
            (
                c.paint_over_trigger_frames,
                c.damage_block_threshold,
                c.damage_block_duration
            ),
            (15, 10, 30)
        );
        assert_eq!(c.vaapi_render_node_index, -1);
        assert_eq!(
            c.region,
            RegionRequest {
                x: 0,
                y: 0,
                width: None,
                height: None
            }
        );
        assert_eq!(
            c.stripe_height,
            StripeRows::About(DEFAULT_H264_STRIPE_HEIGHT)
        );
        let jpeg = CaptureOptions {
            output_mode: Some(0),
            ..opts()
        }
        .validate()
        .unwrap();
        assert_eq!(
            jpeg.stripe_height,
            StripeRows::Exactly(DEFAULT_JPEG_STRIPE_HEIGHT)
        );
        assert_eq!(c.jpeg_subsampling, Subsampling::S420);
        assert_eq!(c.h264_rate_control, RateControl::Crf);
        let cqp = CaptureOptions {
            h264_rate_control: Some("cqp".into()),
            ..opts()
        };
        assert_eq!(cqp.validate().unwrap().h264_rate_control, RateControl::Cqp);
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
                "0 (JPEG) or 1 (H.264), got 2",
            ),
            (
                CaptureOptions {
                    watermark_location_enum: Some(7),
                    ..opts()
                },
                "watermarkLocationEnum",
                "0..=6, got 7",
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
        for d in [":0", ":99", ":1.0", "unix:3", "localhost:10.0"] {
            let c = CaptureOptions {
                display: Some(d.into()),
                ..opts()
            }
            .validate()
            .unwrap();
            assert_eq!(c.display.as_deref(), Some(d));
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
