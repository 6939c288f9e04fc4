//! Loading libva and libva-drm at run time: the entry points the encoder and the probe call.

use std::ffi::{c_void, CStr, OsString};

use libloading::Library;

use super::sys::*;
use super::{Vaapi, VaapiError};
use crate::encode::hw::dylib::{self, LoadLibrary};

/// Environment variable overriding the libva library (default [`LIBVA_DEFAULT`]).
pub const LIBVA_ENV: &str = "STRIPECAST_LIBVA";
/// Environment variable overriding the libva DRM library (default [`LIBVA_DRM_DEFAULT`]).
pub const LIBVA_DRM_ENV: &str = "STRIPECAST_LIBVA_DRM";
pub const LIBVA_DEFAULT: &str = "libva.so.2";
pub const LIBVA_DRM_DEFAULT: &str = "libva-drm.so.2";

/// Which libraries to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaLibraries {
    pub libva: OsString,
    pub libva_drm: OsString,
}

impl VaLibraries {
    /// The defaults, or the environment's overrides.
    pub fn from_env() -> Self {
        VaLibraries {
            libva: dylib::library_name(LIBVA_ENV, LIBVA_DEFAULT),
            libva_drm: dylib::library_name(LIBVA_DRM_ENV, LIBVA_DRM_DEFAULT),
        }
    }
}

impl LoadLibrary for Vaapi {
    const LIBRARY: &'static str = "libva";
}

type PfnSetCallback = unsafe extern "C" fn(
    VaDisplay,
    Option<unsafe extern "C" fn(*mut c_void, *const std::ffi::c_char)>,
    *mut c_void,
) -> *mut c_void;

/// The libva entry points.
pub(super) struct Va {
    pub(super) get_display_drm: PfnGetDisplayDrm,
    pub(super) initialize: PfnInitialize,
    pub(super) terminate: PfnTerminate,
    pub(super) query_vendor_string: PfnQueryVendorString,
    error_str: PfnErrorStr,
    pub(super) max_num_entrypoints: PfnMaxNumEntrypoints,
    pub(super) query_config_entrypoints: PfnQueryConfigEntrypoints,
    pub(super) get_config_attributes: PfnGetConfigAttributes,
    pub(super) create_config: PfnCreateConfig,
    pub(super) destroy_config: PfnDestroyConfig,
    pub(super) create_surfaces: PfnCreateSurfaces,
    pub(super) destroy_surfaces: PfnDestroySurfaces,
    pub(super) create_context: PfnCreateContext,
    pub(super) destroy_context: PfnDestroyContext,
    pub(super) create_buffer: PfnCreateBuffer,
    pub(super) destroy_buffer: PfnDestroyBuffer,
    pub(super) map_buffer: PfnMapBuffer,
    pub(super) unmap_buffer: PfnUnmapBuffer,
    pub(super) begin_picture: PfnBeginPicture,
    pub(super) render_picture: PfnRenderPicture,
    pub(super) end_picture: PfnEndPicture,
    pub(super) sync_surface: PfnSyncSurface,
    pub(super) derive_image: PfnDeriveImage,
    pub(super) create_image: PfnCreateImage,
    pub(super) destroy_image: PfnDestroyImage,
    pub(super) put_image: PfnPutImage,
    pub(super) set_info_callback: Option<PfnSetCallback>,
    _drm: Library,
    _va: Library,
}

impl Va {
    pub(super) fn load(libs: &VaLibraries) -> Result<Self, VaapiError> {
        // SAFETY: loading libva runs its initialisers, which have no preconditions.
        let va = unsafe { Vaapi::open_library(&libs.libva) }?;
        // SAFETY: as above.
        let drm = unsafe { Vaapi::open_library(&libs.libva_drm) }?;
        // SAFETY: the types are libva's prototypes (see sys.rs).
        unsafe {
            Ok(Va {
                get_display_drm: Vaapi::symbol(&drm, c"vaGetDisplayDRM")?,
                initialize: Vaapi::symbol(&va, c"vaInitialize")?,
                terminate: Vaapi::symbol(&va, c"vaTerminate")?,
                query_vendor_string: Vaapi::symbol(&va, c"vaQueryVendorString")?,
                error_str: Vaapi::symbol(&va, c"vaErrorStr")?,
                max_num_entrypoints: Vaapi::symbol(&va, c"vaMaxNumEntrypoints")?,
                query_config_entrypoints: Vaapi::symbol(&va, c"vaQueryConfigEntrypoints")?,
                get_config_attributes: Vaapi::symbol(&va, c"vaGetConfigAttributes")?,
                create_config: Vaapi::symbol(&va, c"vaCreateConfig")?,
                destroy_config: Vaapi::symbol(&va, c"vaDestroyConfig")?,
                create_surfaces: Vaapi::symbol(&va, c"vaCreateSurfaces")?,
                destroy_surfaces: Vaapi::symbol(&va, c"vaDestroySurfaces")?,
                create_context: Vaapi::symbol(&va, c"vaCreateContext")?,
                destroy_context: Vaapi::symbol(&va, c"vaDestroyContext")?,
                create_buffer: Vaapi::symbol(&va, c"vaCreateBuffer")?,
                destroy_buffer: Vaapi::symbol(&va, c"vaDestroyBuffer")?,
                map_buffer: Vaapi::symbol(&va, c"vaMapBuffer")?,
                unmap_buffer: Vaapi::symbol(&va, c"vaUnmapBuffer")?,
                begin_picture: Vaapi::symbol(&va, c"vaBeginPicture")?,
                render_picture: Vaapi::symbol(&va, c"vaRenderPicture")?,
                end_picture: Vaapi::symbol(&va, c"vaEndPicture")?,
                sync_surface: Vaapi::symbol(&va, c"vaSyncSurface")?,
                derive_image: Vaapi::symbol(&va, c"vaDeriveImage")?,
                create_image: Vaapi::symbol(&va, c"vaCreateImage")?,
                destroy_image: Vaapi::symbol(&va, c"vaDestroyImage")?,
                put_image: Vaapi::symbol(&va, c"vaPutImage")?,
                set_info_callback: Vaapi::symbol(&va, c"vaSetInfoCallback").ok(),
                _drm: drm,
                _va: va,
            })
        }
    }

    pub(super) fn error(&self, step: &'static str, st: VaStatus) -> VaapiError {
        // SAFETY: vaErrorStr returns a static string for any status.
        let s = unsafe { (self.error_str)(st) };
        let text = if s.is_null() {
            String::from("unknown error")
        } else {
            // SAFETY: non-null static NUL-terminated string.
            unsafe { CStr::from_ptr(s) }.to_string_lossy().into_owned()
        };
        VaapiError::new(step, format!("{step} failed: {text} ({st:#x})"))
    }

    pub(super) fn check(&self, step: &'static str, st: VaStatus) -> Result<(), VaapiError> {
        if st == VA_STATUS_SUCCESS {
            Ok(())
        } else {
            Err(self.error(step, st))
        }
    }
}
