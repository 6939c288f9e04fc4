//! `Clipboard`: the X CLIPBOARD selection as text, over the core's clipboard thread. Reads
//! settle a promise from that thread; nothing here waits on another client.

use std::time::Duration;

use napi::bindgen_prelude::*;
use napi::{JsValue, ValueType};
use napi_derive::napi;

use stripecast_core::clipboard::{
    check_max_bytes, Clipboard as Core, ClipboardError, DEFAULT_MAX_BYTES,
};

use super::convert::{describe_value, error_value};
use super::{throw, ErrorClass};

/// Default `read()` timeout.
const DEFAULT_TIMEOUT_MS: f64 = 2000.0;
/// Longest `read()` timeout accepted (ten minutes).
const MAX_TIMEOUT_MS: f64 = 600_000.0;

/// The JavaScript class and code of a core error.
fn class_of(e: &ClipboardError) -> (ErrorClass, &'static str) {
    match e {
        ClipboardError::Open { .. } => (ErrorClass::Error, "ERR_DISPLAY"),
        ClipboardError::WriteTooLarge { .. } => (ErrorClass::Range, "ERR_INVALID_ARG"),
        ClipboardError::ReadTooLarge { .. } => (ErrorClass::Range, "ERR_CLIPBOARD_TOO_LARGE"),
        ClipboardError::Timeout(_) => (ErrorClass::Error, "ERR_TIMEOUT"),
        ClipboardError::Closed => (ErrorClass::Error, "ERR_CLOSED"),
        ClipboardError::NotOwner | ClipboardError::Lost(_) => (ErrorClass::Error, "ERR_CLIPBOARD"),
    }
}

fn throw_core(env: &Env, e: &ClipboardError) -> napi::Error {
    let (class, code) = class_of(e);
    throw(env, class, code, e.to_string())
}

/// A JavaScript error value for `e`, to reject a promise with.
fn rejection(env: &Env, e: &ClipboardError) -> napi::Error {
    let (class, code) = class_of(e);
    error_value(env, class, code, e.to_string(), None)
}

/// The options object of `name` (undefined: none), with every key among `known`.
fn options_arg<'a>(
    env: &Env,
    name: &str,
    value: Option<Unknown<'a>>,
    known: &[&str],
) -> Result<Option<Object<'a>>> {
    let Some(value) = value.filter(|v| v.get_type().is_ok_and(|t| t != ValueType::Undefined))
    else {
        return Ok(None);
    };
    if value.get_type()? != ValueType::Object || value.is_array()? {
        return Err(throw(
            env,
            ErrorClass::Type,
            "ERR_INVALID_ARG",
            format!("{name} must be an object, got {}", describe_value(&value)?),
        ));
    }
    let object = Object::from_unknown(value)?;
    let names = object.get_property_names()?;
    for i in 0..names.get_array_length()? {
        let key: String = names.get_element(i)?;
        if !known.contains(&key.as_str()) {
            let hint = stripecast_core::settings::did_you_mean(&key, known.iter().copied());
            return Err(throw(
                env,
                ErrorClass::Type,
                "ERR_INVALID_ARG",
                format!(
                    "unknown option {key:?} in {name}{hint}; known: {}",
                    known.join(", ")
                ),
            ));
        }
    }
    Ok(Some(object))
}

/// `object[key]` when it is set: a number, or a `TypeError` naming it.
fn number_option(env: &Env, object: &Object<'_>, key: &str) -> Result<Option<f64>> {
    let v: Unknown = object.get_named_property(key)?;
    match v.get_type()? {
        ValueType::Undefined => Ok(None),
        ValueType::Number => Ok(Some(unsafe { v.cast::<f64>() }?)),
        _ => Err(throw(
            env,
            ErrorClass::Type,
            "ERR_INVALID_ARG",
            format!("{key} must be a number, got {}", describe_value(&v)?),
        )),
    }
}

/// The X CLIPBOARD selection as UTF-8 text, on a connection of its own (a hidden window and a
/// thread). `write()` makes it the selection owner, answering other clients until one of them
/// takes the selection; `read()` converts the selection, INCR transfers included. Texts over
/// `maxBytes` are refused both ways.
#[napi]
pub struct Clipboard {
    inner: Core,
}

#[napi]
impl Clipboard {
    /// Its own connection to `options.display` (default `$DISPLAY`). `maxBytes`: the most
    /// UTF-8 bytes written or read, 1..=16777216 (default 1048576). Throws `ERR_DISPLAY` when
    /// the display cannot be opened.
    #[napi(
        constructor,
        ts_args_type = "options?: { display?: string; maxBytes?: number }"
    )]
    pub fn new(env: &Env, options: Option<Unknown<'_>>) -> Result<Self> {
        let options = options_arg(env, "options", options, &["display", "maxBytes"])?;
        let mut display = None;
        let mut max_bytes = DEFAULT_MAX_BYTES;
        if let Some(o) = &options {
            let d: Unknown = o.get_named_property("display")?;
            match d.get_type()? {
                ValueType::Undefined => {}
                ValueType::String => display = Some(unsafe { d.cast::<String>() }?),
                _ => {
                    return Err(throw(
                        env,
                        ErrorClass::Type,
                        "ERR_INVALID_ARG",
                        format!(
                            "display must be a string such as ':0', got {}",
                            describe_value(&d)?
                        ),
                    ))
                }
            }
            if let Some(v) = number_option(env, o, "maxBytes")? {
                max_bytes = check_max_bytes(v)
                    .map_err(|m| throw(env, ErrorClass::Range, "ERR_INVALID_ARG", m))?;
            }
        }
        let inner = Core::open(display.as_deref(), max_bytes).map_err(|e| throw_core(env, &e))?;
        Ok(Self { inner })
    }

    /// The most UTF-8 bytes `write()` takes and `read()` returns.
    #[napi(getter)]
    pub fn max_bytes(&self) -> u32 {
        self.inner.max_bytes() as u32
    }

    /// The CLIPBOARD selection as text, or `null` when nobody owns it or it holds no text.
    /// Our own text comes back at once. Rejects with a `RangeError` (`ERR_CLIPBOARD_TOO_LARGE`)
    /// when it holds more than `maxBytes`, `ERR_TIMEOUT` when the owner does not answer within
    /// `timeoutMs` (default 2000). Throws `ERR_CLOSED` after `close()`.
    #[napi(
        ts_args_type = "options?: { timeoutMs?: number }",
        ts_return_type = "Promise<string | null>"
    )]
    pub fn read<'env>(&self, env: &'env Env, options: Option<Unknown<'_>>) -> Result<Object<'env>> {
        if self.inner.is_closed() {
            return Err(throw_core(env, &ClipboardError::Closed));
        }
        let options = options_arg(env, "options", options, &["timeoutMs"])?;
        let mut timeout = DEFAULT_TIMEOUT_MS;
        if let Some(v) = options
            .as_ref()
            .map(|o| number_option(env, o, "timeoutMs"))
            .transpose()?
            .flatten()
        {
            if !(v.fract() == 0.0 && (1.0..=MAX_TIMEOUT_MS).contains(&v)) {
                return Err(throw(
                    env,
                    ErrorClass::Range,
                    "ERR_INVALID_ARG",
                    format!(
                        "timeoutMs must be an integer 1..={MAX_TIMEOUT_MS}, got {}",
                        super::convert::js_number(v)
                    ),
                ));
            }
            timeout = v;
        }
        type Settle = Box<dyn FnOnce(Env) -> Result<Option<String>>>;
        let (deferred, promise) = env.create_deferred::<Option<String>, Settle>()?;
        self.inner.read(
            Duration::from_millis(timeout as u64),
            Box::new(move |result| match result {
                Ok(text) => deferred.resolve(Box::new(move |_| Ok(text))),
                Err(e) => deferred.resolve(Box::new(move |env| Err(rejection(&env, &e)))),
            }),
        );
        Ok(promise)
    }

    /// Owns CLIPBOARD with `text` until another client takes it or `close()`; returns once
    /// the X server has made us the owner (a round trip to the server, never to another
    /// client). A text over `maxBytes` is a `RangeError` naming it; `ERR_CLOSED` after
    /// `close()`.
    #[napi(ts_args_type = "text: string")]
    pub fn write(&self, env: &Env, text: Unknown<'_>) -> Result<()> {
        if text.get_type()? != ValueType::String {
            return Err(throw(
                env,
                ErrorClass::Type,
                "ERR_INVALID_ARG",
                format!("text must be a string, got {}", describe_value(&text)?),
            ));
        }
        let text: String = unsafe { text.cast() }?;
        self.inner.write(&text).map_err(|e| throw_core(env, &e))
    }

    /// Gives up the selection if we own it, rejects reads still waiting with `ERR_CLOSED` and
    /// ends the thread. Later calls throw (or reject with) `ERR_CLOSED`. Idempotent.
    #[napi]
    pub fn close(&mut self) {
        self.inner.close();
    }
}
