//! The JavaScript-facing objects and their conversions to and from the core's types.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Buffer, Either, FromNapiValue, Object, Unknown};
use napi::{JsValue, Result, ValueType};
use napi_derive::napi;

use std::sync::atomic::Ordering;
use stripecast_core::encode::hw::probe::HardwareReport;
use stripecast_core::pipeline::{describe, CaptureStreamInfo, Controls, Delivery};
use stripecast_core::settings::{
    did_you_mean, CaptureOptions, Config, Region, SettingsError, SettingsErrorKind,
};
use stripecast_core::window::WindowSnapshot;

/// Capture settings. Every field is optional; names and defaults follow pixelflux's
/// `CaptureSettings`. Invalid values make `start()` throw a `RangeError`/`TypeError` whose
/// message names the field, the value and the allowed range.
#[napi(object)]
#[derive(Default)]
pub struct CaptureSettings {
    /// X display to capture, e.g. `':0'`. Default: `$DISPLAY`.
    pub display: Option<String>,
    /// Width of the captured region in pixels, 1..=16384. Default: to the right edge of the
    /// screen. A region running past the screen edge is clamped (reported in `CaptureInfo.notes`);
    /// H.264 rounds odd sizes down to even.
    pub capture_width: Option<f64>,
    /// Height of the captured region in pixels, 1..=16384. Default: to the bottom of the screen.
    pub capture_height: Option<f64>,
    /// Left edge of the region, 0..16384 and on screen. Default 0.
    pub capture_x: Option<f64>,
    /// Top edge of the region, 0..16384 and on screen. Default 0.
    pub capture_y: Option<f64>,
    /// Frames per second to capture at, in (0, 240]. Default 60. The most frames a second:
    /// on a still screen a drawing is read as soon as XDamage reports it, and the next frame
    /// follows one interval later.
    pub target_fps: Option<f64>,
    /// Draw the mouse cursor into the captured image (needs XFixes). Default true. On a still
    /// screen, pointer motion (XInput 2) is then captured at once rather than at the next tick.
    pub capture_cursor: Option<bool>,
    /// 0 or `'jpeg'` = JPEG stripes, 1 or `'h264'` = H.264. Default 1.
    #[napi(ts_type = "0 | 1 | 'jpeg' | 'h264'")]
    pub output_mode: Option<Either<f64, String>>,
    /// JPEG quality for changed stripes, 0..=100. Default 75.
    pub jpeg_quality: Option<f64>,
    /// JPEG quality for paint-over of still stripes, 0..=100. Default 90.
    pub paint_over_jpeg_quality: Option<f64>,
    /// JPEG chroma subsampling: `'420'` (default: about half the CPU of 4:4:4), `'444'` (sharper
    /// coloured text), or `'auto'`: 4:2:0 for changes, 4:4:4 for paint-over of still content.
    #[napi(ts_type = "'420' | '444' | 'auto'")]
    pub jpeg_subsampling: Option<String>,
    /// H.264 constant rate factor, 0..=51 (lower = better quality, more bytes). Default 23.
    pub h264_crf: Option<f64>,
    /// H.264 CRF for paint-over refreshes of still content, 0..=51. Default `h264Crf - 5`.
    pub h264_paint_over_crf: Option<f64>,
    /// How x264 (software H.264) uses `h264Crf`: `'crf'` (default, as pixelflux) adapts the
    /// quantiser to each picture, measured on a half-size copy of it; `'cqp'` codes P pictures
    /// at quantiser `h264Crf` (IDRs 3 lower), as the hardware encoders always do: 10-27% less
    /// CPU at equal quality in the benchmark, but small or easily predicted changes are not
    /// coded finer (CRF 23 matched QP 26 on full-screen video, 19-22 on typing and a moving
    /// window, 17 on scrolling text).
    #[napi(ts_type = "'crf' | 'cqp'")]
    pub h264_rate_control: Option<String>,
    /// Encode H.264 as 4:4:4 (High 4:4:4 Predictive) instead of 4:2:0. Default false.
    pub h264_fullcolor: Option<bool>,
    /// One H.264 stream for the whole region (true, default) or one per stripe (false).
    pub h264_fullframe: Option<bool>,
    /// Seconds between forced H.264 key frames, 0..=3600; 0 (default) = only on demand.
    pub keyframe_interval_s: Option<f64>,
    /// VA-API render node `/dev/dri/renderD(128+n)` for hardware H.264, -1..=63; -1 (default)
    /// disables VA-API and lets NVENC be tried.
    pub vaapi_render_node_index: Option<f64>,
    /// Never use a hardware encoder. Default false.
    pub use_cpu: Option<bool>,
    /// Re-send stripes that stopped changing at higher quality. Default true.
    pub use_paint_over_quality: Option<bool>,
    /// Still frames before a paint-over, 1..=100000. Default 15.
    pub paint_over_trigger_frames: Option<f64>,
    /// Consecutive changed frames that mark a stripe as damaged, 1..=100000. Default 10.
    pub damage_block_threshold: Option<f64>,
    /// Frames a damaged stripe stays damaged, 1..=100000. Default 30.
    pub damage_block_duration: Option<f64>,
    /// PNG file drawn over the capture. Default: none.
    pub watermark_path: Option<String>,
    /// Watermark position: 0 `'none'`, 1 `'top-left'`, 2 `'top-right'`, 3 `'bottom-left'`,
    /// 4 `'bottom-right'` (default), 5 `'middle'`, 6 `'animated'` (bounces around the region).
    #[napi(
        ts_type = "0 | 1 | 2 | 3 | 4 | 5 | 6 | 'none' | 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right' | 'middle' | 'animated'"
    )]
    pub watermark_location_enum: Option<Either<f64, String>>,
    /// Rows per stripe, a multiple of 8 in 8..=4096. Default 128 for JPEG; for striped H.264 the
    /// region is cut into equal stripes of about 256 rows, each a whole number of 16-row
    /// macroblock rows (1080 rows: 4 x 272; 720: 3 x 240; measured: see the README). Only
    /// changed stripes are encoded (for JPEG only their changed rows).
    pub stripe_height: Option<f64>,
    /// Deliver bare JFIF / Annex-B payloads without the 6- or 10-byte stripe header. Default false.
    pub omit_stripe_headers: Option<bool>,
    /// Stripes delivered to JavaScript but not yet consumed, 1..=1000000, above which new
    /// frames are skipped until the callback catches up (counted in `stats().framesSkipped`).
    /// Default 256.
    pub max_queued_stripes: Option<f64>,
    /// When the screen changes size (RandR), re-fit the region from the original request
    /// (a full-screen capture follows the screen; an explicit region is clamped if it no longer
    /// fits) and re-send everything. With false, a change that leaves the region off screen
    /// ends the capture with `ERR_SCREEN_CHANGED`. Default true.
    pub auto_resize: Option<bool>,
    /// JPEG only: a delivery covers only the changed columns of its band too (whole 128-pixel
    /// cells), and carries its x in a 10-byte header (`0x03 0x01`, frame id, y, x, region
    /// width) and in `x`. A typed glyph then sends ~1 KB instead of a full-width band. pixelflux's browser
    /// clients do not read this header (they would draw every tile at x 0):
    /// `stripecast/client` does. Default false.
    pub jpeg_tiles: Option<bool>,
}

fn integer(field: &'static str, v: Option<f64>) -> std::result::Result<Option<i64>, SettingsError> {
    match v {
        None => Ok(None),
        // Beyond 2^53 a double no longer holds every integer; nothing we accept is that large.
        Some(v) if v.is_finite() && v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_991.0 => {
            Ok(Some(v as i64))
        }
        Some(v) => Err(SettingsError {
            kind: SettingsErrorKind::Range,
            field,
            message: format!(
                "{field} must be an integer in its range, got {}",
                js_number(v)
            ),
        }),
    }
}

/// The JavaScript type each setting accepts. Kept beside `CaptureSettings`: every field there has
/// a row here (camelCase), so a wrong type or a misspelt name is a clear `TypeError` rather than
/// napi's generic conversion error or a silently ignored key.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Number,
    Boolean,
    Text,
    NumberOrName,
}

const SETTING_KINDS: &[(&str, Kind)] = &[
    ("display", Kind::Text),
    ("captureWidth", Kind::Number),
    ("captureHeight", Kind::Number),
    ("captureX", Kind::Number),
    ("captureY", Kind::Number),
    ("targetFps", Kind::Number),
    ("captureCursor", Kind::Boolean),
    ("outputMode", Kind::NumberOrName),
    ("jpegQuality", Kind::Number),
    ("paintOverJpegQuality", Kind::Number),
    ("jpegSubsampling", Kind::Text),
    ("h264Crf", Kind::Number),
    ("h264PaintOverCrf", Kind::Number),
    ("h264RateControl", Kind::Text),
    ("h264Fullcolor", Kind::Boolean),
    ("h264Fullframe", Kind::Boolean),
    ("keyframeIntervalS", Kind::Number),
    ("vaapiRenderNodeIndex", Kind::Number),
    ("useCpu", Kind::Boolean),
    ("usePaintOverQuality", Kind::Boolean),
    ("paintOverTriggerFrames", Kind::Number),
    ("damageBlockThreshold", Kind::Number),
    ("damageBlockDuration", Kind::Number),
    ("watermarkPath", Kind::Text),
    ("watermarkLocationEnum", Kind::NumberOrName),
    ("stripeHeight", Kind::Number),
    ("omitStripeHeaders", Kind::Boolean),
    ("maxQueuedStripes", Kind::Number),
    ("autoResize", Kind::Boolean),
    ("jpegTiles", Kind::Boolean),
];

fn type_error(field: &'static str, message: String) -> SettingsError {
    SettingsError {
        kind: SettingsErrorKind::Type,
        field,
        message,
    }
}

/// `typeof`-style name of a value, with the value itself for short scalars.
pub fn describe_value(v: &Unknown<'_>) -> Result<String> {
    Ok(match v.get_type()? {
        ValueType::String => {
            let s: String = unsafe { v.cast() }?;
            let shown: String = s.chars().take(40).collect();
            format!("string {shown:?}")
        }
        ValueType::Number => format!("number {}", js_number(unsafe { v.cast::<f64>() }?)),
        ValueType::Boolean => format!("boolean {}", unsafe { v.cast::<bool>() }?),
        ValueType::Null => "null".into(),
        ValueType::Undefined => "undefined".into(),
        ValueType::Object if v.is_array()? => "an array".into(),
        ValueType::Object => "an object".into(),
        ValueType::Function => "a function".into(),
        ValueType::Symbol => "a symbol".into(),
        ValueType::BigInt => "a bigint".into(),
        _ => "an unsupported value".into(),
    })
}

/// Reads the settings object from JavaScript, checking every field's type (and that no unknown
/// key is present) before napi converts it. The outer `Result` is a napi failure or a value that
/// is not an object; the inner one a mistake in a setting.
pub fn settings_from_js(
    value: Unknown<'_>,
) -> Result<std::result::Result<CaptureSettings, SettingsError>> {
    let object = Object::from_unknown(value)?;
    let names = object.get_property_names()?;
    for key in 0..names.get_array_length()? {
        let name: String = names.get_element(key)?;
        let Some(&(field, kind)) = SETTING_KINDS.iter().find(|(f, _)| *f == name) else {
            let hint = did_you_mean(&name, SETTING_KINDS.iter().map(|(f, _)| *f));
            return Ok(Err(type_error(
                "settings",
                format!("unknown setting {name:?}{hint} (see CaptureSettings for the names)"),
            )));
        };
        let v: Unknown = object.get_named_property(field)?;
        let ok = match (kind, v.get_type()?) {
            (_, ValueType::Undefined) => true,
            (Kind::Number, t) => t == ValueType::Number,
            (Kind::Boolean, t) => t == ValueType::Boolean,
            (Kind::Text, t) => t == ValueType::String,
            (Kind::NumberOrName, t) => t == ValueType::Number || t == ValueType::String,
        };
        if !ok {
            let wanted = match kind {
                Kind::Number => "a number",
                Kind::Boolean => "a boolean",
                Kind::Text => "a string",
                Kind::NumberOrName => "a number or a name",
            };
            return Ok(Err(type_error(
                field,
                format!("{field} must be {wanted}, got {}", describe_value(&v)?),
            )));
        }
    }
    Ok(Ok(unsafe {
        CaptureSettings::from_napi_value(value.value().env, value.raw())
    }?))
}

/// A number as JavaScript prints it (`Infinity`, not `inf`).
pub fn js_number(v: f64) -> String {
    stripecast_core::settings::js_number(v)
}

/// A setting given as a number or as one of its names.
fn named(
    field: &'static str,
    v: Option<Either<f64, String>>,
    names: &[&str],
) -> std::result::Result<Option<i64>, SettingsError> {
    match v {
        None => Ok(None),
        Some(Either::A(n)) => integer(field, Some(n)),
        Some(Either::B(name)) => match names.iter().position(|n| *n == name) {
            Some(i) => Ok(Some(i as i64)),
            None => Err(SettingsError {
                kind: SettingsErrorKind::Type,
                field,
                message: format!(
                    "{field} must be {}, got {name:?}{}",
                    names
                        .iter()
                        .enumerate()
                        .map(|(i, n)| format!("{i} or '{n}'"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    did_you_mean(&name, names.iter().copied())
                ),
            }),
        },
    }
}

const OUTPUT_MODES: &[&str] = &["jpeg", "h264"];
const WATERMARK_LOCATIONS: &[&str] = &[
    "none",
    "top-left",
    "top-right",
    "bottom-left",
    "bottom-right",
    "middle",
    "animated",
];

impl CaptureSettings {
    /// Converts to the core's options; only integer-ness is checked here, ranges by the core.
    pub fn into_options(self) -> std::result::Result<CaptureOptions, SettingsError> {
        Ok(CaptureOptions {
            display: self.display,
            capture_width: integer("captureWidth", self.capture_width)?,
            capture_height: integer("captureHeight", self.capture_height)?,
            capture_x: integer("captureX", self.capture_x)?,
            capture_y: integer("captureY", self.capture_y)?,
            target_fps: self.target_fps,
            capture_cursor: self.capture_cursor,
            output_mode: named("outputMode", self.output_mode, OUTPUT_MODES)?,
            jpeg_quality: integer("jpegQuality", self.jpeg_quality)?,
            paint_over_jpeg_quality: integer("paintOverJpegQuality", self.paint_over_jpeg_quality)?,
            jpeg_subsampling: self.jpeg_subsampling,
            h264_crf: integer("h264Crf", self.h264_crf)?,
            h264_paint_over_crf: integer("h264PaintOverCrf", self.h264_paint_over_crf)?,
            h264_rate_control: self.h264_rate_control,
            h264_fullcolor: self.h264_fullcolor,
            h264_fullframe: self.h264_fullframe,
            keyframe_interval_s: self.keyframe_interval_s,
            vaapi_render_node_index: integer("vaapiRenderNodeIndex", self.vaapi_render_node_index)?,
            use_cpu: self.use_cpu,
            use_paint_over_quality: self.use_paint_over_quality,
            paint_over_trigger_frames: integer(
                "paintOverTriggerFrames",
                self.paint_over_trigger_frames,
            )?,
            damage_block_threshold: integer("damageBlockThreshold", self.damage_block_threshold)?,
            damage_block_duration: integer("damageBlockDuration", self.damage_block_duration)?,
            watermark_path: self.watermark_path,
            watermark_location_enum: named(
                "watermarkLocationEnum",
                self.watermark_location_enum,
                WATERMARK_LOCATIONS,
            )?,
            stripe_height: integer("stripeHeight", self.stripe_height)?,
            omit_stripe_headers: self.omit_stripe_headers,
            max_queued_stripes: integer("maxQueuedStripes", self.max_queued_stripes)?,
            auto_resize: self.auto_resize,
            jpeg_tiles: self.jpeg_tiles,
        })
    }
}

/// One encoded stripe (or a whole frame in full-frame H.264).
#[napi(object)]
pub struct StripeEncodeResult {
    /// 1 = JPEG, 2 = H.264.
    #[napi(js_name = "type")]
    pub kind: u32,
    /// First row painted, within the captured region. For JPEG this is the first changed row
    /// of the stripe (rounded down to an even row of it): a JPEG covers only the rows of its
    /// stripe that changed, so a typed glyph sends ~14 rows, not the whole stripe. H.264
    /// stripes always start at their stripe's first row.
    pub stripe_y_start: u32,
    /// Rows painted: the JPEG's height, or the H.264 stream's height.
    pub stripe_height: u32,
    /// First column painted: 0, except with `jpegTiles`.
    pub x: u32,
    /// Columns painted: the region's width, except with `jpegTiles`.
    pub width: u32,
    /// Bytes in `data`.
    pub size: u32,
    /// Wire header (unless `omitStripeHeaders`) followed by JFIF or Annex-B bytes. The Buffer is
    /// yours: it stays valid after the callback returns.
    pub data: Buffer,
    /// Number of the captured frame this stripe belongs to (counts every captured frame).
    pub frame_id: u32,
    /// Decodable on its own (always true for JPEG; an IDR for H.264).
    pub is_key_frame: bool,
    /// A paint-over: still content re-sent at higher quality.
    pub is_paint_over: bool,
    /// When the frame was grabbed, in milliseconds on the `process.hrtime` clock:
    /// `Number(process.hrtime.bigint()) / 1e6 - captureTimeMs` is the latency so far.
    pub capture_time_ms: f64,
}

impl From<Delivery> for StripeEncodeResult {
    fn from(d: Delivery) -> Self {
        Self {
            kind: d.kind as u32,
            stripe_y_start: d.stripe_y,
            stripe_height: d.stripe_height,
            x: d.x,
            width: d.width,
            size: d.data.len() as u32,
            data: d.data.into(),
            frame_id: d.frame_id,
            is_key_frame: d.key,
            is_paint_over: d.paint_over,
            capture_time_ms: d.capture_time_ns as f64 / 1e6,
        }
    }
}

/// What `start()` actually set up.
#[napi(object)]
pub struct CaptureInfo {
    /// The X display captured.
    pub display: String,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub screen_width: u32,
    pub screen_height: u32,
    /// Rows per stripe (the whole height for full-frame H.264).
    pub stripe_height: u32,
    pub stripe_count: u32,
    /// The encoder planned: `jpeg`, `x264`, `nvenc` or `vaapi` (a hardware encoder that fails
    /// to open falls back to x264: `streamInfo()` tells what is really in use).
    pub encoder: String,
    /// Adjustments made to the request (region clamped to the screen, odd sizes rounded down).
    pub notes: Vec<String>,
}

impl CaptureInfo {
    pub fn new(
        config: &Config,
        region: Region,
        display: &str,
        (screen_width, screen_height): (u32, u32),
        notes: Vec<String>,
    ) -> Self {
        let (layout, encoder, plan_notes) = describe(config, region);
        let mut notes = notes;
        notes.extend(plan_notes);
        Self {
            display: display.to_string(),
            x: region.x,
            y: region.y,
            width: region.width,
            height: region.height,
            screen_width,
            screen_height,
            stripe_height: layout.first().map_or(0, |s| s.height),
            stripe_count: layout.len() as u32,
            encoder: encoder.as_str().to_string(),
            notes,
        }
    }
}

/// Counters since `start()`.
#[napi(object)]
#[derive(Default)]
pub struct CaptureStats {
    pub frames_captured: f64,
    /// Captured frames in which at least one stripe changed.
    pub frames_with_changes: f64,
    pub stripes_delivered: f64,
    pub bytes_delivered: f64,
    /// Deliveries JavaScript could not take (their content was re-sent later).
    pub stripes_dropped: f64,
    /// Frames not encoded because `maxQueuedStripes` deliveries were waiting for the callback.
    pub frames_skipped: f64,
    /// Stripes handed to JavaScript whose callback has not run yet.
    pub queued_stripes: f64,
    /// Total milliseconds spent grabbing frames.
    pub capture_ms: f64,
    /// Total wall-clock milliseconds spent encoding frames (parallel stripes overlap).
    pub encode_ms: f64,
    /// Median time from grab to the start of the stripe callback, over the last 512 stripes.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same.
    pub latency_p99_ms: f64,
    /// Distinct frames delivered during the last second.
    pub fps: f64,
}

impl CaptureStats {
    pub fn new(c: &Controls, queued: usize, recent: WindowSnapshot) -> Self {
        let s = &c.stats;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed) as f64;
        Self {
            frames_captured: n(&s.frames_captured),
            frames_with_changes: n(&s.frames_with_changes),
            stripes_delivered: n(&s.stripes_delivered),
            bytes_delivered: n(&s.bytes_delivered),
            stripes_dropped: n(&s.stripes_dropped),
            frames_skipped: n(&s.frames_skipped),
            queued_stripes: queued as f64,
            capture_ms: n(&s.capture_ns) / 1e6,
            encode_ms: n(&s.encode_ns) / 1e6,
            latency_p50_ms: recent.latency_p50_ms,
            latency_p99_ms: recent.latency_p99_ms,
            fps: recent.fps,
        }
    }
}

/// Which capture path and encoder a capture uses, and why a faster one was declined.
#[napi(object)]
pub struct StreamInfo {
    /// `'xshm+xdamage'` (reads only what was drawn) or `'xshm'` (reads every frame in full).
    pub capture: String,
    /// `'jpeg'`, `'x264'`, `'nvenc'` or `'vaapi'`; `null` until the first frame opened it.
    pub encoder: Option<String>,
    /// A hardware encoder is in use.
    pub hardware: bool,
    /// The GPU in use (CUDA device name, or render node and driver).
    pub device: Option<String>,
    /// Why a hardware encoder was not used, or stopped being used (e.g.
    /// `nvenc: libnvidia-encode.so.1 not found`).
    pub declined: Vec<String>,
    /// Deviations from the request by the encoder in use (e.g. 4:2:0 instead of 4:4:4).
    pub notes: Vec<String>,
}

impl From<CaptureStreamInfo> for StreamInfo {
    fn from(i: CaptureStreamInfo) -> Self {
        let s = i.stream;
        Self {
            capture: i.capture.to_string(),
            encoder: s.as_ref().map(|s| s.encoder.as_str().to_string()),
            hardware: s.as_ref().is_some_and(|s| s.hardware),
            device: s.as_ref().and_then(|s| s.device.clone()),
            declined: s.as_ref().map_or_else(Vec::new, |s| s.declined.clone()),
            notes: s.map_or_else(Vec::new, |s| s.notes),
        }
    }
}

/// One VA-API render node.
#[napi(object)]
pub struct VaapiNodeInfo {
    /// The `vaapiRenderNodeIndex` that selects it.
    pub index: u32,
    pub path: String,
    pub driver: Option<String>,
    /// H.264 encode profiles it offers, e.g. `High (EncSlice)`.
    pub h264_encode: Vec<String>,
    /// Why it cannot encode H.264.
    pub error: Option<String>,
}

/// What this host offers for hardware H.264, probed without starting a capture.
#[napi(object)]
pub struct HardwareEncoders {
    pub nvenc_available: bool,
    /// The NVENC API version the driver supports, e.g. `'12.2'`.
    pub nvenc_api_version: Option<String>,
    /// CUDA devices.
    pub nvenc_devices: Vec<String>,
    pub vaapi_available: bool,
    /// libva and libva-drm could be loaded.
    pub libva_loaded: bool,
    pub vaapi_nodes: Vec<VaapiNodeInfo>,
    /// What default settings would use: `'nvenc'`, `'vaapi'` or `'x264'`.
    pub default_encoder: String,
    /// One line per missing piece, e.g. `nvenc: libnvidia-encode.so.1 not found`.
    pub reasons: Vec<String>,
}

impl From<HardwareReport> for HardwareEncoders {
    fn from(r: HardwareReport) -> Self {
        let reasons = r.reasons();
        Self {
            nvenc_available: r.nvenc.available,
            nvenc_api_version: r.nvenc.driver_api.map(|(a, b)| format!("{a}.{b}")),
            nvenc_devices: r.nvenc.devices,
            vaapi_available: r.vaapi.available,
            libva_loaded: r.vaapi.libva_loaded,
            vaapi_nodes: r
                .vaapi
                .nodes
                .into_iter()
                .map(|n| VaapiNodeInfo {
                    index: n.index,
                    path: n.path,
                    driver: n.driver,
                    h264_encode: n.h264_encode,
                    error: n.error,
                })
                .collect(),
            default_encoder: r.default_choice.encoder().as_str().to_string(),
            reasons,
        }
    }
}
