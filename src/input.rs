//! `InputInjector`: remote control of an X display (pointer, buttons, wheel, keys, text) in the
//! coordinates of a capture region. A thin layer over `stripecast_core::input`.

use napi::bindgen_prelude::*;
use napi::ValueType;
use napi_derive::napi;

use stripecast_core::capture::x11::X11Capture;
use stripecast_core::geometry::{Bounds, Region};
use stripecast_core::input::{keysym_by_name, InputError, InputInjector as Injector};
use stripecast_core::settings::{CaptureOptions, OutputMode};

use crate::convert::{describe_value, js_number};
use crate::{bounds_of, settings_arg, throw, throw_settings_error, wants_wayland, ErrorClass};

/// Most characters one `type()` call takes.
const MAX_TEXT: usize = 65_536;
/// Most wheel steps one `scroll()` call takes in each direction.
const MAX_SCROLL: i64 = 100;

/// A rectangle on the screen, in pixels.
#[napi(object)]
pub struct InputRegion {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What an `InputInjector` holds down.
#[napi(object)]
pub struct InputHeld {
    /// Keysyms of the keys pressed with `key(k, true)` and not released, in press order.
    pub keys: Vec<u32>,
    /// Buttons pressed and not released.
    pub buttons: Vec<u32>,
}

/// Injects pointer, button, wheel and keyboard input into an X display (XTEST), in the
/// coordinates of a capture region: what a viewer of that region clicks at (x, y) lands on the
/// screen at (region.x + x, region.y + y).
#[napi]
pub struct InputInjector {
    inner: Option<Injector>,
    region: Region,
}

fn display_error(env: &Env, e: InputError) -> napi::Error {
    throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string())
}

fn invalid(env: &Env, class: ErrorClass, message: String) -> napi::Error {
    throw(env, class, "ERR_INVALID_ARG", message)
}

/// A number argument, or a `TypeError` naming it.
fn number_arg(env: &Env, name: &str, v: &Unknown<'_>, allowed: &str) -> Result<f64> {
    if v.get_type()? != ValueType::Number {
        return Err(invalid(
            env,
            ErrorClass::Type,
            format!("{name} must be {allowed}, got {}", describe_value(v)?),
        ));
    }
    // SAFETY: the type was checked just above.
    unsafe { v.cast::<f64>() }
}

/// An integer argument within `min..=max`: `TypeError` for a non-number, `RangeError` outside.
fn int_arg(env: &Env, name: &str, v: &Unknown<'_>, min: i64, max: i64, what: &str) -> Result<i64> {
    let allowed = format!("an integer from {min} to {max}{what}");
    let n = number_arg(env, name, v, &allowed)?;
    if n.fract() != 0.0 || !(min as f64..=max as f64).contains(&n) {
        return Err(invalid(
            env,
            ErrorClass::Range,
            format!("{name} must be {allowed}, got {}", js_number(n)),
        ));
    }
    Ok(n as i64)
}

fn bool_arg(env: &Env, name: &str, v: &Unknown<'_>) -> Result<bool> {
    if v.get_type()? != ValueType::Boolean {
        return Err(invalid(
            env,
            ErrorClass::Type,
            format!("{name} must be a boolean, got {}", describe_value(v)?),
        ));
    }
    // SAFETY: the type was checked just above.
    unsafe { v.cast::<bool>() }
}

/// A button: 1..9 or 'left' / 'middle' / 'right'.
fn button_arg(env: &Env, v: &Unknown<'_>) -> Result<u8> {
    const ALLOWED: &str = "an integer from 1 to 9 or 'left', 'middle', 'right'";
    match v.get_type()? {
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { v.cast() }?;
            match s.as_str() {
                "left" => Ok(1),
                "middle" => Ok(2),
                "right" => Ok(3),
                _ => Err(invalid(
                    env,
                    ErrorClass::Range,
                    format!("button must be {ALLOWED}, got {}", describe_value(v)?),
                )),
            }
        }
        ValueType::Number => {
            Ok(int_arg(env, "button", v, 1, 9, " or 'left', 'middle', 'right'")? as u8)
        }
        _ => Err(invalid(
            env,
            ErrorClass::Type,
            format!("button must be {ALLOWED}, got {}", describe_value(v)?),
        )),
    }
}

/// A key: a keysym number, an X keysym name, a DOM `KeyboardEvent.key` name or one character.
fn key_arg(env: &Env, v: &Unknown<'_>) -> Result<u32> {
    const ALLOWED: &str = "a keysym (integer from 1 to 0x1fffffff), an X keysym name ('Return', 'Page_Down'), a DOM key name ('Enter', 'ArrowLeft') or one character";
    match v.get_type()? {
        ValueType::Number => Ok(int_arg(env, "key", v, 1, 0x1fff_ffff, " (a keysym)")? as u32),
        ValueType::String => {
            // SAFETY: the type was checked just above.
            let s: String = unsafe { v.cast() }?;
            keysym_by_name(&s).ok_or_else(|| {
                let shown: String = s.chars().take(40).collect();
                invalid(
                    env,
                    ErrorClass::Range,
                    format!("key {shown:?} is not a key name: key must be {ALLOWED}"),
                )
            })
        }
        _ => Err(invalid(
            env,
            ErrorClass::Type,
            format!("key must be {ALLOWED}, got {}", describe_value(v)?),
        )),
    }
}

#[napi]
impl InputInjector {
    /// Opens its own connection to `settings.display` (default `$DISPLAY`) and binds
    /// coordinates to the capture region these settings describe (`captureX`/`captureY`/
    /// `captureWidth`/`captureHeight` or `monitor`, same meaning and validation as
    /// `ScreenCapture`; other capture settings are accepted and ignored, so a capture's settings
    /// object can be handed over as is). Throws `ERR_DISPLAY` when the display cannot be opened
    /// or has no XTEST extension.
    #[napi(constructor, ts_args_type = "settings?: CaptureSettings")]
    pub fn new(env: &Env, settings: Option<Unknown<'_>>) -> Result<Self> {
        let options = match settings {
            Some(s) if s.get_type()? != ValueType::Undefined => settings_arg(env, s)?,
            _ => CaptureOptions::default(),
        };
        let config = options
            .validate()
            .map_err(|e| throw_settings_error(env, &e))?;
        let display = config.region.display.as_deref();
        if wants_wayland(display) {
            return Err(throw(
                env,
                ErrorClass::Error,
                "ERR_DISPLAY",
                "InputInjector needs an X display (XTEST); Wayland compositors are not supported"
                    .into(),
            ));
        }
        let injector = Injector::open(display).map_err(|e| display_error(env, e))?;
        let screen = injector.screen_size();
        let bounds = if config.region.monitor.is_some() {
            // The monitors are looked up exactly as a capture looks them up.
            let mut x11 = X11Capture::open(Some(injector.display()))
                .map_err(|e| throw(env, ErrorClass::Error, "ERR_DISPLAY", e.to_string()))?;
            bounds_of(env, &config, &mut x11, screen)?
        } else {
            Bounds::screen(screen)
        };
        let clamped = config
            .region
            .clamp_within(&bounds, config.layout.mode == OutputMode::H264)
            .map_err(|e| throw_settings_error(env, &e))?;
        Ok(InputInjector {
            inner: Some(injector),
            region: clamped.region,
        })
    }

    /// The region on screen that coordinate (0,0)..(width-1,height-1) maps to.
    #[napi(getter)]
    pub fn region(&self) -> InputRegion {
        let r = self.region;
        InputRegion {
            x: r.x,
            y: r.y,
            width: r.width,
            height: r.height,
        }
    }

    fn open(&mut self, env: &Env) -> Result<&mut Injector> {
        self.inner.as_mut().ok_or_else(|| {
            throw(
                env,
                ErrorClass::Error,
                "ERR_CLOSED",
                "this InputInjector is closed".into(),
            )
        })
    }

    /// Moves the pointer to (x, y) of the region (integers; a `RangeError` outside it).
    #[napi(ts_args_type = "x: number, y: number")]
    pub fn pointer_move(&mut self, env: &Env, x: Unknown<'_>, y: Unknown<'_>) -> Result<()> {
        let r = self.region;
        let w = format!(" (the region is {}x{})", r.width, r.height);
        let x = int_arg(env, "x", &x, 0, i64::from(r.width) - 1, &w)?;
        let y = int_arg(env, "y", &y, 0, i64::from(r.height) - 1, &w)?;
        let (sx, sy) = (i64::from(r.x) + x, i64::from(r.y) + y);
        self.open(env)?
            .pointer_move(sx as i32, sy as i32)
            .map_err(|e| display_error(env, e))
    }

    /// Presses (`down` true) or releases a button: 1 left, 2 middle, 3 right, 4-7 wheel,
    /// 8-9 back/forward, or 'left' / 'middle' / 'right'.
    #[napi(ts_args_type = "button: number | 'left' | 'middle' | 'right', down: boolean")]
    pub fn pointer_button(
        &mut self,
        env: &Env,
        button: Unknown<'_>,
        down: Unknown<'_>,
    ) -> Result<()> {
        let button = button_arg(env, &button)?;
        let down = bool_arg(env, "down", &down)?;
        self.open(env)?
            .button(button, down)
            .map_err(|e| display_error(env, e))
    }

    /// Presses and releases a button (default 'left') where the pointer is.
    #[napi(ts_args_type = "button?: number | 'left' | 'middle' | 'right'")]
    pub fn click(&mut self, env: &Env, button: Option<Unknown<'_>>) -> Result<()> {
        let button = match button {
            Some(b) if b.get_type()? != ValueType::Undefined => button_arg(env, &b)?,
            _ => 1,
        };
        let inner = self.open(env)?;
        inner
            .button(button, true)
            .and_then(|_| inner.button(button, false))
            .map_err(|e| display_error(env, e))
    }

    /// Wheel steps where the pointer is: `dy` > 0 down, < 0 up; `dx` > 0 right, < 0 left
    /// (integers, at most 100 steps each way per call).
    #[napi(ts_args_type = "dx: number, dy: number")]
    pub fn scroll(&mut self, env: &Env, dx: Unknown<'_>, dy: Unknown<'_>) -> Result<()> {
        let dx = int_arg(env, "dx", &dx, -MAX_SCROLL, MAX_SCROLL, " (wheel steps)")?;
        let dy = int_arg(env, "dy", &dy, -MAX_SCROLL, MAX_SCROLL, " (wheel steps)")?;
        self.open(env)?
            .scroll(dx as i32, dy as i32)
            .map_err(|e| display_error(env, e))
    }

    /// Presses (`down` true) or releases a key: a keysym number, an X keysym name
    /// ('Return', 'Control_L', 'F5'), a DOM `KeyboardEvent.key` name ('Enter', 'ArrowLeft',
    /// 'Control') or one character. A character at the Shift level of its key is pressed with
    /// Shift; one on no key of the layout is put on a spare keycode.
    #[napi(ts_args_type = "key: number | string, down: boolean")]
    pub fn key(&mut self, env: &Env, key: Unknown<'_>, down: Unknown<'_>) -> Result<()> {
        let keysym = key_arg(env, &key)?;
        let down = bool_arg(env, "down", &down)?;
        self.open(env)?
            .key(keysym, down)
            .map_err(|e| display_error(env, e))
    }

    /// Types `text` (any Unicode, at most 65536 characters) into the focused window.
    #[napi(js_name = "type", ts_args_type = "text: string")]
    pub fn type_text(&mut self, env: &Env, text: Unknown<'_>) -> Result<()> {
        if text.get_type()? != ValueType::String {
            return Err(invalid(
                env,
                ErrorClass::Type,
                format!("text must be a string, got {}", describe_value(&text)?),
            ));
        }
        // SAFETY: the type was checked just above.
        let text: String = unsafe { text.cast() }?;
        let n = text.chars().count();
        if n > MAX_TEXT {
            return Err(invalid(
                env,
                ErrorClass::Range,
                format!("text must be at most {MAX_TEXT} characters, got {n}"),
            ));
        }
        self.open(env)?
            .type_text(&text)
            .map_err(|e| display_error(env, e))
    }

    /// Releases every key and button this injector holds (a server calls it when a viewer
    /// leaves or loses focus, so that nothing stays pressed).
    #[napi]
    pub fn release_all(&mut self, env: &Env) -> Result<()> {
        self.open(env)?
            .release_all()
            .map_err(|e| display_error(env, e))
    }

    /// What this injector holds down now.
    #[napi]
    pub fn held(&mut self, env: &Env) -> Result<InputHeld> {
        let held = self.open(env)?.held();
        Ok(InputHeld {
            keys: held.keys,
            buttons: held.buttons.into_iter().map(u32::from).collect(),
        })
    }

    /// Releases all, puts the spare keycodes it used back to NoSymbol and closes the
    /// connection. Later calls throw `ERR_CLOSED`; closing again does nothing.
    #[napi]
    pub fn close(&mut self, env: &Env) -> Result<()> {
        match self.inner.take() {
            Some(mut inner) => inner.close().map_err(|e| display_error(env, e)),
            None => Ok(()),
        }
    }
}
