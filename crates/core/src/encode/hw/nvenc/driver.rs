//! Loading libnvidia-encode and libcuda at run time, and probing what they offer.

use std::ffi::{c_char, c_int, CStr};
use std::ptr;

use libloading::Library;

use super::sys::*;
use super::{Nvenc, NvencError};
use crate::encode::hw::dylib::{self, zeroed, LoadLibrary};

/// Environment variable overriding the NVENC library (default [`NVENC_LIB_DEFAULT`]).
pub const NVENC_LIB_ENV: &str = "STRIPECAST_NVENC_LIB";
/// Environment variable overriding the CUDA driver library (default [`CUDA_LIB_DEFAULT`]).
pub const CUDA_LIB_ENV: &str = "STRIPECAST_CUDA_LIB";
pub const NVENC_LIB_DEFAULT: &str = "libnvidia-encode.so.1";
pub const CUDA_LIB_DEFAULT: &str = "libcuda.so.1";

impl LoadLibrary for Nvenc {
    // One message for both libnvidia-encode and libcuda.
    const LIBRARY: &'static str = "the library";
}

fn open_library(env: &str, default: &str) -> Result<Library, NvencError> {
    let name = dylib::library_name(env, default);
    // SAFETY: loading a shared library runs its initialisers; the NVIDIA driver libraries (and
    // our test fakes) have no initialisers with preconditions.
    let lib = unsafe { Nvenc::open_library(&name) }?;
    dylib::keep_loaded(&name);
    Ok(lib)
}

/// The CUDA driver entry points.
pub(super) struct Cuda {
    init: PfnCuInit,
    device_get_count: PfnCuDeviceGetCount,
    device_get: PfnCuDeviceGet,
    device_get_name: PfnCuDeviceGetName,
    pub(super) ctx_create: PfnCuCtxCreate,
    pub(super) ctx_destroy: PfnCuCtxDestroy,
    pub(super) push: PfnCuCtxPushCurrent,
    pub(super) pop: PfnCuCtxPopCurrent,
    error_name: Option<PfnCuGetErrorName>,
    _lib: Library,
}

impl Cuda {
    fn load() -> Result<Self, NvencError> {
        let lib = open_library(CUDA_LIB_ENV, CUDA_LIB_DEFAULT)?;
        // SAFETY: the types are the CUDA driver API's prototypes (see sys/cuda.rs).
        unsafe {
            Ok(Cuda {
                init: Nvenc::symbol(&lib, c"cuInit")?,
                device_get_count: Nvenc::symbol(&lib, c"cuDeviceGetCount")?,
                device_get: Nvenc::symbol(&lib, c"cuDeviceGet")?,
                device_get_name: Nvenc::symbol(&lib, c"cuDeviceGetName")?,
                ctx_create: Nvenc::symbol(&lib, c"cuCtxCreate_v2")?,
                ctx_destroy: Nvenc::symbol(&lib, c"cuCtxDestroy_v2")?,
                push: Nvenc::symbol(&lib, c"cuCtxPushCurrent_v2")?,
                pop: Nvenc::symbol(&lib, c"cuCtxPopCurrent_v2")?,
                error_name: Nvenc::symbol(&lib, c"cuGetErrorName").ok(),
                _lib: lib,
            })
        }
    }

    pub(super) fn check(&self, call: &'static str, r: CuResult) -> Result<(), NvencError> {
        if r == CUDA_SUCCESS {
            return Ok(());
        }
        let mut named = None;
        if let Some(f) = self.error_name {
            let mut name: *const c_char = ptr::null();
            // SAFETY: cuGetErrorName writes a pointer to a static string or fails.
            if unsafe { f(r, &mut name) } == CUDA_SUCCESS && !name.is_null() {
                // SAFETY: non-null, NUL-terminated static string from the driver.
                named = Some(
                    unsafe { CStr::from_ptr(name) }
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        Err(NvencError::new(
            call,
            match named {
                Some(n) => format!("{call} failed: {n} ({r})"),
                None => format!("{call} failed: CUresult {r}"),
            },
        ))
    }

    /// `cuInit(0)` and the number of devices.
    pub(super) fn init_count(&self) -> Result<c_int, NvencError> {
        // SAFETY: plain driver calls with valid out-pointers.
        self.check("cuInit", unsafe { (self.init)(0) })?;
        let mut n: c_int = 0;
        self.check("cuDeviceGetCount", unsafe {
            (self.device_get_count)(&mut n)
        })?;
        Ok(n)
    }

    pub(super) fn device(&self, ordinal: u32) -> Result<(CuDevice, String), NvencError> {
        let mut dev: CuDevice = 0;
        let ordinal = c_int::try_from(ordinal)
            .map_err(|_| NvencError::new("cuDeviceGet", "device ordinal too large"))?;
        // SAFETY: valid out-pointer.
        self.check("cuDeviceGet", unsafe {
            (self.device_get)(&mut dev, ordinal)
        })?;
        let mut name = [0 as c_char; 256];
        // SAFETY: the buffer is 256 bytes and its length is passed.
        let r = unsafe { (self.device_get_name)(name.as_mut_ptr(), 256, dev) };
        let name = if r == CUDA_SUCCESS {
            name[255] = 0;
            // SAFETY: NUL-terminated (forced above).
            unsafe { CStr::from_ptr(name.as_ptr()) }
                .to_string_lossy()
                .into_owned()
        } else {
            format!("CUDA device {ordinal}")
        };
        Ok((dev, name))
    }
}

/// Everything loaded from the two libraries.
pub(super) struct Api {
    pub(super) fl: Box<FunctionList>,
    /// What the driver reported: (major, minor).
    pub(super) driver_api: (u32, u32),
    pub(super) cuda: Cuda,
    _nvenc: Library,
}

/// The driver's NvEncodeAPIGetMaxSupportedVersion value as (major, minor).
fn split_version(v: u32) -> (u32, u32) {
    (v >> 4, v & 0xf)
}

impl Api {
    pub(super) fn load() -> Result<Self, NvencError> {
        let lib = open_library(NVENC_LIB_ENV, NVENC_LIB_DEFAULT)?;
        // SAFETY: prototypes from the NVENC header (see sys/functions.rs).
        let (get_max, create): (PfnGetMaxSupportedVersion, PfnCreateInstance) = unsafe {
            (
                Nvenc::symbol(&lib, c"NvEncodeAPIGetMaxSupportedVersion")?,
                Nvenc::symbol(&lib, c"NvEncodeAPICreateInstance")?,
            )
        };
        let mut v = 0u32;
        // SAFETY: valid out-pointer.
        let st = unsafe { get_max(&mut v) };
        if st != NV_ENC_SUCCESS {
            return Err(NvencError::new(
                "NvEncodeAPIGetMaxSupportedVersion",
                format!(
                    "NvEncodeAPIGetMaxSupportedVersion failed: {}",
                    status_name(st)
                ),
            ));
        }
        let driver_api = split_version(v);
        if v < MIN_DRIVER_API {
            return Err(NvencError::new(
                "NvEncodeAPIGetMaxSupportedVersion",
                format!(
                    "the driver supports NVENC API {}.{}, stripecast needs {API_MAJOR}.{API_MINOR} (NVIDIA driver 520.56 or newer)",
                    driver_api.0, driver_api.1
                ),
            ));
        }
        // SAFETY: all-zero is valid for the function list (integers and nullable pointers).
        let mut fl = unsafe { zeroed::<FunctionList>() };
        fl.version = NV_ENCODE_API_FUNCTION_LIST_VER;
        // SAFETY: `fl` is a correctly sized, versioned function list.
        let st = unsafe { create(&mut *fl) };
        if st != NV_ENC_SUCCESS {
            return Err(NvencError::new(
                "NvEncodeAPICreateInstance",
                format!("NvEncodeAPICreateInstance failed: {}", status_name(st)),
            ));
        }
        let missing = [
            (
                fl.nv_enc_open_encode_session_ex.is_none(),
                "nvEncOpenEncodeSessionEx",
            ),
            (fl.nv_enc_get_encode_caps.is_none(), "nvEncGetEncodeCaps"),
            (
                fl.nv_enc_get_encode_preset_config_ex.is_none(),
                "nvEncGetEncodePresetConfigEx",
            ),
            (
                fl.nv_enc_initialize_encoder.is_none(),
                "nvEncInitializeEncoder",
            ),
            (
                fl.nv_enc_create_input_buffer.is_none(),
                "nvEncCreateInputBuffer",
            ),
            (
                fl.nv_enc_destroy_input_buffer.is_none(),
                "nvEncDestroyInputBuffer",
            ),
            (
                fl.nv_enc_create_bitstream_buffer.is_none(),
                "nvEncCreateBitstreamBuffer",
            ),
            (
                fl.nv_enc_destroy_bitstream_buffer.is_none(),
                "nvEncDestroyBitstreamBuffer",
            ),
            (fl.nv_enc_encode_picture.is_none(), "nvEncEncodePicture"),
            (fl.nv_enc_lock_bitstream.is_none(), "nvEncLockBitstream"),
            (fl.nv_enc_unlock_bitstream.is_none(), "nvEncUnlockBitstream"),
            (
                fl.nv_enc_lock_input_buffer.is_none(),
                "nvEncLockInputBuffer",
            ),
            (
                fl.nv_enc_unlock_input_buffer.is_none(),
                "nvEncUnlockInputBuffer",
            ),
            (fl.nv_enc_destroy_encoder.is_none(), "nvEncDestroyEncoder"),
        ]
        .into_iter()
        .filter_map(|(m, n)| m.then_some(n))
        .collect::<Vec<_>>();
        if !missing.is_empty() {
            return Err(NvencError::new(
                "NvEncodeAPICreateInstance",
                format!("NvEncodeAPICreateInstance left out {}", missing.join(", ")),
            ));
        }
        let cuda = Cuda::load()?;
        Ok(Api {
            fl,
            driver_api,
            cuda,
            _nvenc: lib,
        })
    }
}

/// What [`probe`] found out about NVENC on this host, without opening an encode session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NvencProbe {
    /// Both libraries load, the driver's API is new enough, CUDA initialises and sees a device.
    pub available: bool,
    /// `NvEncodeAPIGetMaxSupportedVersion` as (major, minor), when the library loaded.
    pub driver_api: Option<(u32, u32)>,
    /// CUDA device names.
    pub devices: Vec<String>,
    /// Why NVENC is not available (`None` when it is).
    pub reason: Option<String>,
}

/// Looks for NVENC: loads the libraries, negotiates the API version, initialises CUDA and
/// lists the devices. Opens no encode session (those are a limited resource on consumer GPUs).
pub fn probe() -> NvencProbe {
    let mut p = NvencProbe {
        available: false,
        driver_api: None,
        devices: Vec::new(),
        reason: None,
    };
    let result = (|| {
        let api = Api::load()?;
        p.driver_api = Some(api.driver_api);
        let n = api.cuda.init_count()?;
        for i in 0..n.max(0) as u32 {
            p.devices.push(api.cuda.device(i)?.1);
        }
        if p.devices.is_empty() {
            return Err(NvencError::new("cuDeviceGetCount", "no CUDA device"));
        }
        Ok(())
    })();
    match result {
        Ok(()) => p.available = true,
        Err(e) => p.reason = Some(e.to_string()),
    }
    p
}

/// Whether the NVENC library can be opened at all (the "driver is present" test that decides
/// whether `vaapiRenderNodeIndex = -1` tries NVENC).
pub fn driver_present() -> Result<(), NvencError> {
    open_library(NVENC_LIB_ENV, NVENC_LIB_DEFAULT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_split() {
        assert_eq!(split_version(0xc2), (12, 2));
        assert_eq!(split_version(0x90), (9, 0));
    }
}
