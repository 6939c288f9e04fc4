//! The JavaScript-facing objects and their conversions to and from the core's types.

use napi::bindgen_prelude::JsObjectValue;
use napi::bindgen_prelude::{Buffer, FromNapiValue, Object, Unknown};
use napi::{JsValue, Result, ValueType};
use napi_derive::napi;

use std::sync::atomic::Ordering;
use stripecast_core::capture::MonitorInfo;
use stripecast_core::encode::hw::probe::HardwareReport;
use stripecast_core::geometry::Region;
use stripecast_core::pipeline::{Controls, Delivery, Plan, StreamStatus};
use stripecast_core::settings::{
    did_you_mean, CaptureOptions, JsType, RawValue, SettingsError, SettingsErrorKind, SETTINGS,
};
use stripecast_core::window::WindowSnapshot;

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

/// A number as JavaScript prints it (`Infinity`, not `inf`).
pub fn js_number(v: f64) -> String {
    stripecast_core::settings::js_number(v)
}

/// `v` as an integer, for a setting whose range is integral.
fn integer(field: &'static str, v: f64) -> std::result::Result<i64, SettingsError> {
    // Beyond 2^53 a double no longer holds every integer; nothing we accept is that large.
    if v.is_finite() && v.fract() == 0.0 && v.abs() <= 9_007_199_254_740_991.0 {
        return Ok(v as i64);
    }
    Err(SettingsError {
        kind: SettingsErrorKind::Range,
        field,
        message: format!(
            "{field} must be an integer in its range, got {}",
            js_number(v)
        ),
    })
}

/// A choice given by name: its number.
fn index_of(
    field: &'static str,
    name: String,
    names: &[&str],
) -> std::result::Result<i64, SettingsError> {
    if let Some(i) = names.iter().position(|n| *n == name) {
        return Ok(i as i64);
    }
    let list: Vec<String> = (names.iter().enumerate())
        .map(|(i, n)| format!("{i} or '{n}'"))
        .collect();
    Err(type_error(
        field,
        format!(
            "{field} must be {}, got {name:?}{}",
            list.join(", "),
            did_you_mean(&name, names.iter().copied())
        ),
    ))
}

/// Reads the settings object from JavaScript into the core's options: every key must name a
/// setting of the table and hold its JavaScript type (a misspelt name or a wrong type is a
/// clear `TypeError` rather than napi's generic conversion error or a silently ignored key);
/// choices given by name become their numbers, and numbers must be integers where the range
/// is integral. The outer `Result` is a napi failure or a value that is not an object; the
/// inner one a mistake in a setting. Ranges are the core's to check.
pub fn settings_from_js(
    value: Unknown<'_>,
) -> Result<std::result::Result<CaptureOptions, SettingsError>> {
    let object = Object::from_unknown(value)?;
    let names = object.get_property_names()?;
    let mut options = CaptureOptions::default();
    for key in 0..names.get_array_length()? {
        let name: String = names.get_element(key)?;
        let Some(setting) = SETTINGS.iter().find(|s| s.js == name) else {
            let hint = did_you_mean(&name, SETTINGS.iter().map(|s| s.js));
            return Ok(Err(type_error(
                "settings",
                format!("unknown setting {name:?}{hint} (see CaptureSettings for the names)"),
            )));
        };
        let field = setting.js;
        let v: Unknown = object.get_named_property(field)?;
        let info = (setting.info)();
        let raw = match (info.js, v.get_type()?) {
            (_, ValueType::Undefined) => continue,
            (JsType::Boolean, ValueType::Boolean) => RawValue::Bool(unsafe { v.cast() }?),
            (JsType::String, ValueType::String) => RawValue::Text(unsafe { v.cast() }?),
            (JsType::Number, ValueType::Number) if info.bounds.is_none() => {
                RawValue::Number(unsafe { v.cast() }?)
            }
            (JsType::Number | JsType::NumberOrName, ValueType::Number) => {
                match integer(field, unsafe { v.cast() }?) {
                    Ok(i) => RawValue::Int(i),
                    Err(e) => return Ok(Err(e)),
                }
            }
            (JsType::NumberOrString, ValueType::Number) => {
                match integer(field, unsafe { v.cast() }?) {
                    Ok(i) => RawValue::Int(i),
                    Err(e) => return Ok(Err(e)),
                }
            }
            (JsType::NumberOrString, ValueType::String) => RawValue::Text(unsafe { v.cast() }?),
            (JsType::NumberOrName, ValueType::String) => {
                match index_of(field, unsafe { v.cast() }?, info.names) {
                    Ok(i) => RawValue::Int(i),
                    Err(e) => return Ok(Err(e)),
                }
            }
            (js, _) => {
                let wanted = match js {
                    JsType::Number => "a number",
                    JsType::Boolean => "a boolean",
                    JsType::String => "a string",
                    JsType::NumberOrName => "a number or a name",
                    JsType::NumberOrString => "a number or a string",
                };
                return Ok(Err(type_error(
                    field,
                    format!("{field} must be {wanted}, got {}", describe_value(&v)?),
                )));
            }
        };
        let taken = options.set(field, raw);
        debug_assert!(taken, "{field}: the raw value matches its kind");
    }
    Ok(Ok(options))
}

/// One encoded stripe (or a whole frame in full-frame H.264).
#[napi(object)]
pub struct StripeEncodeResult {
    /// 1 = JPEG, 2 = H.264, 3 = a scroll copy (`scrollCopies`: `data` is the 16-byte copy
    /// message; `stripeYStart`, `stripeHeight`, `x`, `width`: where it copies to).
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
        plan: &Plan,
        region: Region,
        display: &str,
        (screen_width, screen_height): (u32, u32),
        notes: Vec<String>,
    ) -> Self {
        let mut notes = notes;
        notes.extend(plan.notes.iter().cloned());
        Self {
            display: display.to_string(),
            x: region.x,
            y: region.y,
            width: region.width,
            height: region.height,
            screen_width,
            screen_height,
            stripe_height: plan.layout.first().map_or(0, |s| s.height),
            stripe_count: plan.layout.len() as u32,
            encoder: plan.encoder.as_str().to_string(),
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
    /// `fromFrames()` captures: frames `pushFrame()` accepted (0 for an X display).
    pub frames_pushed: f64,
    /// `fromFrames()` captures: `pushFrame()` calls that returned false (consumer behind).
    pub pushes_refused: f64,
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
            frames_pushed: 0.0,
            pushes_refused: 0.0,
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

impl From<StreamStatus> for StreamInfo {
    fn from(i: StreamStatus) -> Self {
        let s = i.encoder;
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

/// One monitor of an X display.
#[napi(object)]
pub struct Monitor {
    /// What `monitor: index` selects.
    pub index: u32,
    /// What `monitor: name` selects, e.g. `'DP-1'`.
    pub name: String,
    /// Position on the screen (may be negative for a monitor partly off it).
    pub x: i32,
    pub y: i32,
    pub width: u32,
    pub height: u32,
    pub primary: bool,
}

impl From<(usize, MonitorInfo)> for Monitor {
    fn from((index, m): (usize, MonitorInfo)) -> Self {
        Self {
            index: index as u32,
            name: m.name,
            x: m.x,
            y: m.y,
            width: m.width,
            height: m.height,
            primary: m.primary,
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

/// A JavaScript error of `class` with `code`, and `setting` when one setting is at fault: to
/// reject a promise with (`napi::Error::from` keeps the value itself).
pub fn error_value(
    env: &napi::Env,
    class: super::ErrorClass,
    code: &str,
    message: String,
    setting: Option<&str>,
) -> napi::Error {
    use napi::{JsError, JsRangeError, JsTypeError};
    let err = napi::Error::new(code.to_string(), message);
    let value = match class {
        super::ErrorClass::Error => JsError::from(err).into_unknown(*env),
        super::ErrorClass::Range => JsRangeError::from(err).into_unknown(*env),
        super::ErrorClass::Type => JsTypeError::from(err).into_unknown(*env),
    };
    if let (Some(name), Ok(mut object)) = (setting, Object::from_unknown(value)) {
        // Best effort: without the property the error still names the setting in its message.
        let _ = object.set_named_property("setting", name);
    }
    napi::Error::from(value)
}
