//! `ScreenCapture.screenshot()`: one encoded picture of a region, read and encoded on a libuv
//! worker through the capture's own source and encoders (the core's `screenshot`).

use napi::bindgen_prelude::*;
use napi::{JsValue, ValueType};
use napi_derive::napi;

use stripecast_core::capture::wayland::WlrCapture;
use stripecast_core::capture::x11::X11Capture;
use stripecast_core::capture::Source;
use stripecast_core::screenshot::{encode, grab, ShotError, ShotFormat};
use stripecast_core::settings::{did_you_mean, RegionRequest, SettingsErrorKind, SETTINGS};

use super::convert::{describe_value, error_value, js_number, settings_from_js};
use super::{throw_settings_error, throw_with, wants_wayland, ErrorClass, ScreenCapture};

/// The capture settings a screenshot takes: where, and whether to draw the cursor.
const REGION: [&str; 7] = [
    "display",
    "monitor",
    "captureX",
    "captureY",
    "captureWidth",
    "captureHeight",
    "captureCursor",
];
const FORMAT: &str = "format";
const QUALITY: &str = "quality";
const DEFAULT_QUALITY: u8 = 90;

fn option_error(env: &Env, class: ErrorClass, message: String, setting: Option<&str>) -> Error {
    throw_with(env, class, "ERR_INVALID_SETTING", message, setting)
}

/// A screenshot to take on a libuv worker.
pub struct Screenshot {
    region: RegionRequest,
    cursor: bool,
    format: ShotFormat,
}

/// What a screenshot failed with, made into a JavaScript error on the JS thread.
pub struct Failure {
    class: ErrorClass,
    code: &'static str,
    message: String,
    setting: Option<&'static str>,
}

impl From<ShotError> for Failure {
    fn from(e: ShotError) -> Self {
        let message = e.to_string();
        let (class, code, setting) = match e {
            ShotError::Capture(_) => (ErrorClass::Error, "ERR_CAPTURE", None),
            ShotError::Setting(s) => (
                match s.kind {
                    SettingsErrorKind::Range => ErrorClass::Range,
                    SettingsErrorKind::Type => ErrorClass::Type,
                },
                "ERR_INVALID_SETTING",
                Some(s.field),
            ),
            ShotError::Monitor(_) => (ErrorClass::Range, "ERR_INVALID_SETTING", Some("monitor")),
            ShotError::Encode(_) => (ErrorClass::Error, "ERR_ENCODE", None),
        };
        Failure {
            class,
            code,
            message,
            setting,
        }
    }
}

impl Screenshot {
    fn take(&self) -> std::result::Result<Vec<u8>, Failure> {
        let display = self.region.display.as_deref();
        let opened = if wants_wayland(display) {
            // The compositor draws the cursor in when asked (wlr-screencopy overlay_cursor).
            WlrCapture::open(display, self.cursor).map(|s| Box::new(s) as Box<dyn Source>)
        } else {
            X11Capture::open(display).map(|s| Box::new(s) as Box<dyn Source>)
        };
        let mut source = opened.map_err(|e| Failure {
            class: ErrorClass::Error,
            code: "ERR_DISPLAY",
            message: e.to_string(),
            setting: None,
        })?;
        let picture = grab(&mut *source, &self.region, self.cursor)?;
        Ok(encode(&picture, self.format)?)
    }
}

impl Task for Screenshot {
    type Output = std::result::Result<Vec<u8>, Failure>;
    type JsValue = Buffer;

    fn compute(&mut self) -> Result<Self::Output> {
        Ok(self.take())
    }

    fn resolve(&mut self, env: Env, output: Self::Output) -> Result<Self::JsValue> {
        output.map(Buffer::from).map_err(|f| {
            let Failure {
                class,
                code,
                message,
                setting,
            } = f;
            error_value(&env, class, code, message, setting)
        })
    }
}

/// Reads the options: the region settings through the capture's own checks, `format` and
/// `quality` here. Every other name is an error.
fn screenshot_options(env: &Env, options: Option<Unknown<'_>>) -> Result<Screenshot> {
    let mut region = Object::new(env)?;
    let mut format = None;
    let mut quality = None;
    let mut cursor_given = false;
    if let Some(value) = options.filter(|v| v.get_type().is_ok_and(|t| t != ValueType::Undefined)) {
        if value.get_type()? != ValueType::Object || value.is_array()? {
            return Err(throw_with(
                env,
                ErrorClass::Type,
                "ERR_INVALID_ARG",
                format!(
                    "options must be an object such as {{ format: 'png' }}, got {}",
                    describe_value(&value)?
                ),
                None,
            ));
        }
        let object = Object::from_unknown(value)?;
        let names = object.get_property_names()?;
        let allowed = || REGION.iter().copied().chain([FORMAT, QUALITY]);
        for i in 0..names.get_array_length()? {
            let name: String = names.get_element(i)?;
            let v: Unknown = object.get_named_property(&name)?;
            match name.as_str() {
                FORMAT => format = Some(v),
                QUALITY => quality = Some(v),
                n if REGION.contains(&n) => {
                    cursor_given |= n == "captureCursor";
                    region.set_named_property(n, v)?;
                }
                n if SETTINGS.iter().any(|s| s.js == n) => {
                    let list: Vec<&str> = allowed().collect();
                    return Err(option_error(
                        env,
                        ErrorClass::Type,
                        format!(
                            "{n} does not apply to a screenshot; it takes {}",
                            list.join(", ")
                        ),
                        SETTINGS.iter().find(|s| s.js == n).map(|s| s.js),
                    ));
                }
                n => {
                    let list: Vec<&str> = allowed().collect();
                    return Err(option_error(
                        env,
                        ErrorClass::Type,
                        format!(
                            "unknown option {n:?}{}; a screenshot takes {}",
                            did_you_mean(n, allowed()),
                            list.join(", ")
                        ),
                        None,
                    ));
                }
            }
        }
    }
    let settings =
        settings_from_js(region.to_unknown())?.map_err(|e| throw_settings_error(env, &e))?;
    let config = settings
        .validate()
        .map_err(|e| throw_settings_error(env, &e))?;

    let format = match format.filter(|v| v.get_type().is_ok_and(|t| t != ValueType::Undefined)) {
        None => "png".to_string(),
        Some(v) if v.get_type()? == ValueType::String => unsafe { v.cast::<String>() }?,
        Some(v) => {
            return Err(option_error(
                env,
                ErrorClass::Type,
                format!(
                    "format must be 'png' or 'jpeg', got {}",
                    describe_value(&v)?
                ),
                Some(FORMAT),
            ))
        }
    };
    let quality = match quality.filter(|v| v.get_type().is_ok_and(|t| t != ValueType::Undefined)) {
        None => None,
        Some(v) if v.get_type()? == ValueType::Number => {
            let q: f64 = unsafe { v.cast() }?;
            if !(q.fract() == 0.0 && (1.0..=100.0).contains(&q)) {
                return Err(option_error(
                    env,
                    ErrorClass::Range,
                    format!("quality must be an integer 1..=100, got {}", js_number(q)),
                    Some(QUALITY),
                ));
            }
            Some(q as u8)
        }
        Some(v) => {
            return Err(option_error(
                env,
                ErrorClass::Type,
                format!("quality must be a number, got {}", describe_value(&v)?),
                Some(QUALITY),
            ))
        }
    };
    let format = match (format.as_str(), quality) {
        ("png", None) => ShotFormat::Png,
        ("png", Some(q)) => {
            return Err(option_error(
                env,
                ErrorClass::Type,
                format!("quality ({q}) applies to format 'jpeg' only; a PNG is lossless"),
                Some(QUALITY),
            ))
        }
        ("jpeg", q) => ShotFormat::Jpeg(q.unwrap_or(DEFAULT_QUALITY)),
        (other, _) => {
            return Err(option_error(
                env,
                ErrorClass::Type,
                format!(
                    "format must be 'png' or 'jpeg', got {other:?}{}",
                    did_you_mean(other, ["png", "jpeg"])
                ),
                Some(FORMAT),
            ))
        }
    };
    Ok(Screenshot {
        // The cursor is left out unless asked for: a capture draws it by default, a
        // screenshot for a program usually wants the screen alone.
        cursor: cursor_given && config.overlay.cursor,
        region: config.region,
        format,
    })
}

#[napi]
impl ScreenCapture {
    /// One picture of the screen, encoded, without starting a capture: `format` `'png'`
    /// (default; lossless) or `'jpeg'` (4:4:4 at `quality` 1..=100, default 90). Takes the
    /// region settings of `start()` with their checks (`display`, `monitor`, `captureX`/`Y`/
    /// `Width`/`Height`; `captureCursor` draws the cursor in, default false) and no others.
    /// Read and encoded on a libuv worker; works beside running captures of the same display.
    /// Bad options throw like `start()` (`ERR_INVALID_SETTING`, naming the option); what only
    /// the display can tell (a monitor that does not exist, a region off the screen, a display
    /// that does not open) rejects the promise.
    #[napi(
        ts_args_type = "options?: Pick<CaptureSettings, 'display' | 'monitor' | 'captureX' | 'captureY' | 'captureWidth' | 'captureHeight' | 'captureCursor'> & { format?: 'png' | 'jpeg'; quality?: number }",
        ts_return_type = "Promise<Buffer>"
    )]
    pub fn screenshot(env: &Env, options: Option<Unknown<'_>>) -> Result<AsyncTask<Screenshot>> {
        Ok(AsyncTask::new(screenshot_options(env, options)?))
    }
}
