//! The kinds of setting: what JavaScript may hand over for one, how it is checked, what it
//! becomes, and how it is described (errors, the README table, the typings, the fuzzer).

use std::fmt;
use std::marker::PhantomData;

use super::{did_you_mean, js_number, range_err, SettingsError, SettingsErrorKind};

/// The JavaScript type a setting accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsType {
    Number,
    Boolean,
    String,
    /// A number (the index) or one of the kind's names.
    NumberOrName,
    /// A number or any string (e.g. a monitor: its index or its name).
    NumberOrString,
}

/// A raw value of any kind, as the binding reads it from JavaScript.
#[derive(Debug, Clone, PartialEq)]
pub enum RawValue {
    Int(i64),
    Number(f64),
    Bool(bool),
    Text(String),
}

/// A raw type that a [`RawValue`] may hold.
pub trait FromRawValue: Sized {
    fn from_raw_value(v: RawValue) -> Option<Self>;
}

macro_rules! from_raw_value {
    ($($ty:ty => $variant:ident),*) => {
        $(impl FromRawValue for $ty {
            fn from_raw_value(v: RawValue) -> Option<Self> {
                match v {
                    RawValue::$variant(x) => Some(x),
                    _ => None,
                }
            }
        })*
    };
}

from_raw_value!(i64 => Int, f64 => Number, bool => Bool, String => Text);

/// What a kind accepts, for descriptions and generated tests.
#[derive(Debug, Clone, PartialEq)]
pub struct KindInfo {
    pub js: JsType,
    /// What is allowed, in words (`0..=100`, `(0, 240]`); empty when the type says it all.
    pub range: String,
    /// Integer bounds, for integer kinds.
    pub bounds: Option<(i64, i64)>,
    /// The names a choice takes, in index order.
    pub names: &'static [&'static str],
}

impl KindInfo {
    fn of(js: JsType) -> Self {
        Self {
            js,
            range: String::new(),
            bounds: None,
            names: &[],
        }
    }
}

/// A kind of setting.
pub trait Kind {
    /// What the binding hands over once the JavaScript type was checked (a choice given by
    /// name arrives as its index).
    type Raw: Clone + fmt::Debug + PartialEq;
    /// The checked value.
    type Out: Clone + fmt::Debug + PartialEq;
    /// Checks `raw` for the setting `js` (its JavaScript name, which every error names).
    fn check(js: &'static str, raw: Self::Raw) -> Result<Self::Out, SettingsError>;
    fn info() -> KindInfo;
    /// The value as a user would write it (the README's default column).
    fn show(out: &Self::Out) -> String;
    /// A raw value as a user would write it, so that an accepted `raw` shows as its checked
    /// value does (for tests).
    fn show_raw(raw: &Self::Raw) -> String;
}

/// An integer in `LO..=HI`, kept as `T`.
pub struct Int<T, const LO: i64, const HI: i64>(PhantomData<T>);

impl<T, const LO: i64, const HI: i64> Kind for Int<T, LO, HI>
where
    T: TryFrom<i64> + Clone + fmt::Debug + PartialEq + fmt::Display,
{
    type Raw = i64;
    type Out = T;

    fn check(js: &'static str, v: i64) -> Result<T, SettingsError> {
        match T::try_from(v) {
            Ok(t) if (LO..=HI).contains(&v) => Ok(t),
            _ => Err(range_err(js, &format!("{LO}..={HI}"), v)),
        }
    }

    fn info() -> KindInfo {
        KindInfo {
            range: format!("{LO}..={HI}"),
            bounds: Some((LO, HI)),
            ..KindInfo::of(JsType::Number)
        }
    }

    fn show(out: &T) -> String {
        out.to_string()
    }

    fn show_raw(raw: &i64) -> String {
        raw.to_string()
    }
}

/// Rows per stripe: a multiple of 8 in 8..=4096.
pub struct StripeRowsKind;

impl Kind for StripeRowsKind {
    type Raw = i64;
    type Out = u32;

    fn check(js: &'static str, v: i64) -> Result<u32, SettingsError> {
        if (8..=4096).contains(&v) && v % 8 == 0 {
            return Ok(v as u32);
        }
        Err(range_err(js, "a multiple of 8 in 8..=4096", v))
    }

    fn info() -> KindInfo {
        KindInfo {
            range: "multiple of 8, 8..=4096".into(),
            bounds: Some((8, 4096)),
            ..KindInfo::of(JsType::Number)
        }
    }

    fn show(out: &u32) -> String {
        out.to_string()
    }

    fn show_raw(raw: &i64) -> String {
        raw.to_string()
    }
}

/// Frames per second: a finite number in (0, [`super::MAX_FPS`]].
pub struct Fps;

impl Kind for Fps {
    type Raw = f64;
    type Out = f64;

    fn check(js: &'static str, v: f64) -> Result<f64, SettingsError> {
        if v.is_finite() && v > 0.0 && v <= super::MAX_FPS {
            return Ok(v);
        }
        let allowed = format!("a finite number in (0, {}]", super::MAX_FPS);
        Err(range_err(js, &allowed, js_number(v)))
    }

    fn info() -> KindInfo {
        KindInfo {
            range: format!("(0, {}]", super::MAX_FPS),
            ..KindInfo::of(JsType::Number)
        }
    }

    fn show(out: &f64) -> String {
        js_number(*out)
    }

    fn show_raw(raw: &f64) -> String {
        js_number(*raw)
    }
}

/// A number of seconds, 0..=3600, 0 meaning never.
pub struct Seconds;

impl Kind for Seconds {
    type Raw = f64;
    type Out = f64;

    fn check(js: &'static str, v: f64) -> Result<f64, SettingsError> {
        if v.is_finite() && (0.0..=3600.0).contains(&v) {
            return Ok(v);
        }
        let allowed = "0 (never) or a number of seconds up to 3600";
        Err(range_err(js, allowed, js_number(v)))
    }

    fn info() -> KindInfo {
        KindInfo {
            range: "0..=3600".into(),
            ..KindInfo::of(JsType::Number)
        }
    }

    fn show(out: &f64) -> String {
        js_number(*out)
    }

    fn show_raw(raw: &f64) -> String {
        js_number(*raw)
    }
}

/// A boolean.
pub struct Flag;

impl Kind for Flag {
    type Raw = bool;
    type Out = bool;

    fn check(_: &'static str, v: bool) -> Result<bool, SettingsError> {
        Ok(v)
    }

    fn info() -> KindInfo {
        KindInfo::of(JsType::Boolean)
    }

    fn show(out: &bool) -> String {
        out.to_string()
    }

    fn show_raw(raw: &bool) -> String {
        raw.to_string()
    }
}

/// An enum whose values have names (and numbers: their index in [`Named::NAMES`]).
pub trait Named: Copy + fmt::Debug + PartialEq + 'static {
    const NAMES: &'static [&'static str];
    fn from_index(i: usize) -> Self;
    fn index(self) -> usize;
}

/// A choice given by number or by name (`outputMode: 0` or `'jpeg'`); the binding turns a
/// name into its number.
pub struct Choice<E>(PhantomData<E>);

impl<E: Named> Kind for Choice<E> {
    type Raw = i64;
    type Out = E;

    fn check(js: &'static str, v: i64) -> Result<E, SettingsError> {
        match usize::try_from(v) {
            Ok(i) if i < E::NAMES.len() => Ok(E::from_index(i)),
            _ => {
                let list: Vec<String> = (E::NAMES.iter().enumerate())
                    .map(|(i, n)| format!("{i} '{n}'"))
                    .collect();
                let allowed = format!("0..={} ({})", E::NAMES.len() - 1, list.join(", "));
                Err(range_err(js, &allowed, v))
            }
        }
    }

    fn info() -> KindInfo {
        KindInfo {
            range: format!("0..={}", E::NAMES.len() - 1),
            bounds: Some((0, E::NAMES.len() as i64 - 1)),
            names: E::NAMES,
            ..KindInfo::of(JsType::NumberOrName)
        }
    }

    fn show(out: &E) -> String {
        format!("{} '{}'", out.index(), E::NAMES[out.index()])
    }

    fn show_raw(raw: &i64) -> String {
        let i = *raw as usize;
        format!("{i} '{}'", E::NAMES.get(i).copied().unwrap_or("?"))
    }
}

/// A choice given by name only (`jpegSubsampling: '420'`).
pub struct NameOf<E>(PhantomData<E>);

impl<E: Named> Kind for NameOf<E> {
    type Raw = String;
    type Out = E;

    fn check(js: &'static str, v: String) -> Result<E, SettingsError> {
        if let Some(i) = E::NAMES.iter().position(|n| *n == v) {
            return Ok(E::from_index(i));
        }
        let quoted: Vec<String> = E::NAMES.iter().map(|n| format!("'{n}'")).collect();
        let (last, rest) = quoted.split_last().expect("a choice has names");
        Err(SettingsError {
            kind: SettingsErrorKind::Type,
            field: js,
            message: format!(
                "{js} must be {} or {last}, got {v:?}{}",
                rest.join(", "),
                did_you_mean(&v, E::NAMES.iter().copied())
            ),
        })
    }

    fn info() -> KindInfo {
        KindInfo {
            names: E::NAMES,
            ..KindInfo::of(JsType::String)
        }
    }

    fn show(out: &E) -> String {
        format!("'{}'", E::NAMES[out.index()])
    }

    fn show_raw(raw: &String) -> String {
        format!("'{raw}'")
    }
}

/// An X display name, `[host]:display[.screen]` (e.g. `:0`, `:99.0`, `unix:1`), or a Wayland
/// socket: `wayland-N` (in `$XDG_RUNTIME_DIR`) or an absolute path.
pub struct Display;

impl Kind for Display {
    type Raw = String;
    type Out = String;

    fn check(js: &'static str, d: String) -> Result<String, SettingsError> {
        let bad = || {
            SettingsError {
            kind: SettingsErrorKind::Type,
            field: js,
            message: format!(
                "{js} must look like ':0' or 'host:0.0' (X), or 'wayland-1' or an absolute socket path (Wayland), got {d:?}"
            ),
        }
        };
        let wayland_name = d.strip_prefix("wayland-").is_some_and(|n| {
            !n.is_empty()
                && n.len() <= 16
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        });
        if wayland_name || (d.starts_with('/') && d.len() > 1 && !d.contains('\0')) {
            return Ok(d);
        }
        let (host, rest) = d.rsplit_once(':').ok_or_else(bad)?;
        let (num, screen) = match rest.split_once('.') {
            Some((n, s)) => (n, Some(s)),
            None => (rest, None),
        };
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit());
        let host_ok = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._/".contains(&b));
        if !host_ok || !digits(num) || screen.is_some_and(|s| !digits(s)) {
            return Err(bad());
        }
        Ok(d)
    }

    fn info() -> KindInfo {
        KindInfo {
            range: "`[host]:n[.s]`, `wayland-N` or a path".into(),
            ..KindInfo::of(JsType::String)
        }
    }

    fn show(out: &String) -> String {
        format!("'{out}'")
    }

    fn show_raw(raw: &String) -> String {
        format!("'{raw}'")
    }
}

/// Which monitor: its index in `ScreenCapture.monitors()`, or its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MonitorRef {
    Index(u32),
    Name(String),
}

impl FromRawValue for MonitorRef {
    fn from_raw_value(v: RawValue) -> Option<Self> {
        match v {
            RawValue::Int(i) => Some(MonitorRef::Index(u32::try_from(i).unwrap_or(u32::MAX))),
            RawValue::Text(s) => Some(MonitorRef::Name(s)),
            _ => None,
        }
    }
}

impl fmt::Display for MonitorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MonitorRef::Index(i) => write!(f, "{i}"),
            MonitorRef::Name(n) => write!(f, "'{n}'"),
        }
    }
}

/// A monitor by index (0..=63) or non-empty name; whether it exists only the display can say.
pub struct Monitor;

impl Kind for Monitor {
    type Raw = MonitorRef;
    type Out = MonitorRef;

    fn check(js: &'static str, m: MonitorRef) -> Result<MonitorRef, SettingsError> {
        match &m {
            MonitorRef::Index(i) if *i > 63 => Err(range_err(js, "0..=63 or a name", i)),
            MonitorRef::Name(n) if n.is_empty() || n.len() > 255 || n.contains('\0') => {
                Err(SettingsError {
                    kind: SettingsErrorKind::Type,
                    field: js,
                    message: format!("{js} must be an index or a monitor's name, got {n:?}"),
                })
            }
            _ => Ok(m),
        }
    }

    fn info() -> KindInfo {
        KindInfo {
            range: "0..=63 or a name".into(),
            ..KindInfo::of(JsType::NumberOrString)
        }
    }

    fn show(out: &MonitorRef) -> String {
        out.to_string()
    }

    fn show_raw(raw: &MonitorRef) -> String {
        raw.to_string()
    }
}

/// A file path; empty means none.
pub struct FilePath;

impl Kind for FilePath {
    type Raw = String;
    type Out = Option<String>;

    fn check(js: &'static str, p: String) -> Result<Option<String>, SettingsError> {
        if p.contains('\0') {
            return Err(SettingsError {
                kind: SettingsErrorKind::Type,
                field: js,
                message: format!("{js} must not contain NUL characters"),
            });
        }
        Ok((!p.is_empty()).then_some(p))
    }

    fn info() -> KindInfo {
        KindInfo::of(JsType::String)
    }

    fn show(out: &Option<String>) -> String {
        out.as_ref()
            .map_or_else(|| "none".into(), |p| format!("'{p}'"))
    }

    fn show_raw(raw: &String) -> String {
        Self::show(&(!raw.is_empty()).then(|| raw.clone()))
    }
}

/// `K`, or nothing: the setting's default depends on something else (the screen, another
/// setting), which its user works out.
pub struct Opt<K>(PhantomData<K>);

impl<K: Kind> Kind for Opt<K> {
    type Raw = K::Raw;
    type Out = Option<K::Out>;

    fn check(js: &'static str, raw: K::Raw) -> Result<Option<K::Out>, SettingsError> {
        K::check(js, raw).map(Some)
    }

    fn info() -> KindInfo {
        K::info()
    }

    fn show(out: &Option<K::Out>) -> String {
        out.as_ref().map_or_else(|| "none".into(), K::show)
    }

    fn show_raw(raw: &K::Raw) -> String {
        K::show_raw(raw)
    }
}
