//! Opening the GPU driver libraries at run time, for NVENC and VA-API alike.
//!
//! Nothing of NVIDIA's or libva is linked, so the addon loads on every host and a missing
//! library is an ordinary, reportable fallback reason. A leaf: it uses only [`super::step`].

use std::ffi::{CStr, OsStr, OsString};
use std::sync::Mutex;

use libloading::Library;

use super::step::{Backend, StepError};

/// The library to open: the environment variable `env` when it is set and not empty (the tests
/// point these at fakes), else `default`.
pub fn library_name(env: &str, default: &str) -> OsString {
    std::env::var_os(env)
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| default.into())
}

/// Loading for a backend, with failures as that backend's [`StepError`]s (step `load`).
pub trait LoadLibrary: Backend + Sized {
    /// How a message names the library a missing symbol was looked for in
    /// (`<LIBRARY> has no <symbol>`).
    const LIBRARY: &'static str;

    /// Opens `name`: `<name> not found` when there is no such file, else
    /// `<name> could not be loaded: <dlerror>`.
    ///
    /// # Safety
    /// Loading runs the library's initialisers: they must have no preconditions.
    unsafe fn open_library(name: &OsStr) -> Result<Library, StepError<Self>> {
        let shown = name.to_string_lossy();
        // SAFETY: forwarded to the caller.
        unsafe { Library::new(name) }.map_err(|e| {
            // libloading's message is "dlopen failed"; the dlerror text is its source.
            let detail =
                std::error::Error::source(&e).map_or_else(|| e.to_string(), |s| s.to_string());
            if detail.contains("No such file") || detail.contains("cannot open shared object") {
                StepError::new("load", format!("{shown} not found"))
            } else {
                StepError::new("load", format!("{shown} could not be loaded: {detail}"))
            }
        })
    }

    /// Copies a function pointer out of `lib`.
    ///
    /// # Safety
    /// `T` must be the symbol's true type.
    unsafe fn symbol<T: Copy>(lib: &Library, name: &'static CStr) -> Result<T, StepError<Self>> {
        // SAFETY: forwarded to the caller.
        unsafe { lib.get::<T>(name) }.map(|s| *s).map_err(|_| {
            StepError::new(
                "load",
                format!("{} has no {}", Self::LIBRARY, name.to_string_lossy()),
            )
        })
    }
}

/// Takes one extra, never released reference on a library that loaded, so it stays mapped for
/// the life of the process. libcuda starts worker threads on `cuInit`; unmapping it under
/// them when the last encoder closes is not safe, and reloading the driver for every stream
/// would cost time anyway.
pub fn keep_loaded(name: &OsStr) {
    static PINNED: Mutex<Vec<OsString>> = Mutex::new(Vec::new());
    let mut pinned = PINNED.lock().unwrap_or_else(|e| e.into_inner());
    if pinned.iter().any(|p| p == name) {
        return;
    }
    // SAFETY: the library is already loaded (this only raises its reference count).
    if let Ok(lib) = unsafe { Library::new(name) } {
        std::mem::forget(lib);
        pinned.push(name.to_owned());
    }
}

/// An all-zero value of a plain-data FFI struct (integers, raw pointers, `Option<fn>`), which
/// is how both driver APIs want their structs initialised before the fields that matter are
/// set.
///
/// # Safety
/// `T` must be valid when all its bytes are zero.
pub unsafe fn zeroed<T>() -> Box<T> {
    // Boxed: several of these structs are 1.5-5 KiB and nest.
    // SAFETY: the caller guarantees all-zero is a valid T.
    unsafe { Box::new(std::mem::zeroed()) }
}
