//! Render nodes, and a VA display on one with the H.264 encode entrypoints it offers.

use std::ffi::{c_int, c_void, CStr};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr;

use super::libva::Va;
use super::sys::*;
use super::VaapiError;
use crate::encode::h264::bitstream::Profile;

/// The render node for `vaapiRenderNodeIndex` `node`: `/dev/dri/renderD{128 + node}`.
pub fn render_node_path(node: u32) -> PathBuf {
    PathBuf::from(format!("/dev/dri/renderD{}", 128 + node))
}

/// The render nodes present: (index, path), sorted.
pub fn render_nodes() -> Vec<(u32, PathBuf)> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev/dri")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n: u32 = name.to_str()?.strip_prefix("renderD")?.parse().ok()?;
            Some((n.checked_sub(128)?, e.path()))
        })
        .collect();
    nodes.sort();
    nodes
}

unsafe extern "C" fn quiet(_: *mut c_void, _: *const std::ffi::c_char) {}

/// An initialised VA display on an open render node.
pub(super) struct Display {
    pub(super) dpy: VaDisplay,
    /// vaInitialize's (major, minor).
    pub(super) version: (i32, i32),
    pub(super) vendor: String,
    // Closed after vaTerminate (field order: `dpy` is terminated in Drop first).
    _file: File,
}

impl Display {
    pub(super) fn open(va: &Va, path: &Path) -> Result<Self, VaapiError> {
        if !path.exists() {
            return Err(VaapiError::new(
                "device",
                format!("{} does not exist", path.display()),
            ));
        }
        let file = File::options()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| {
                VaapiError::new("device", format!("cannot open {}: {e}", path.display()))
            })?;
        // SAFETY: a valid open file descriptor, kept open for the display's life.
        let dpy = unsafe { (va.get_display_drm)(file.as_raw_fd()) };
        if dpy.is_null() {
            return Err(VaapiError::new(
                "vaGetDisplayDRM",
                format!(
                    "vaGetDisplayDRM found no VA display on {} (not a DRM render node?)",
                    path.display()
                ),
            ));
        }
        if let Some(set) = va.set_info_callback {
            // SAFETY: a no-op callback silences libva's informational messages for this display.
            unsafe { set(dpy, Some(quiet), ptr::null_mut()) };
        }
        let (mut major, mut minor) = (0, 0);
        // SAFETY: valid display and out-pointers.
        let st = unsafe { (va.initialize)(dpy, &mut major, &mut minor) };
        if st != VA_STATUS_SUCCESS {
            // SAFETY: a display that failed to initialise is still terminated to free it.
            unsafe { (va.terminate)(dpy) };
            return Err(va.error("vaInitialize", st));
        }
        // SAFETY: initialised display; the vendor string is owned by libva.
        let v = unsafe { (va.query_vendor_string)(dpy) };
        let vendor = if v.is_null() {
            String::new()
        } else {
            // SAFETY: non-null NUL-terminated string.
            unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
        };
        Ok(Display {
            dpy,
            version: (major, minor),
            vendor,
            _file: file,
        })
    }

    /// The encode entrypoints `profile` offers.
    pub(super) fn encode_entrypoints(&self, va: &Va, profile: c_int) -> Vec<c_int> {
        // SAFETY: initialised display.
        let max = unsafe { (va.max_num_entrypoints)(self.dpy) }.max(0) as usize;
        let mut list = vec![0 as c_int; max.max(16)];
        let mut n: c_int = 0;
        // SAFETY: `list` holds at least vaMaxNumEntrypoints entries.
        let st =
            unsafe { (va.query_config_entrypoints)(self.dpy, profile, list.as_mut_ptr(), &mut n) };
        if st != VA_STATUS_SUCCESS {
            return Vec::new();
        }
        list.truncate(n.max(0) as usize);
        list.retain(|&e| e == VA_ENTRYPOINT_ENC_SLICE || e == VA_ENTRYPOINT_ENC_SLICE_LP);
        list
    }

    pub(super) fn terminate(&mut self, va: &Va) {
        if !self.dpy.is_null() {
            // SAFETY: initialised display, terminated once.
            unsafe { (va.terminate)(self.dpy) };
            self.dpy = ptr::null_mut();
        }
    }
}

pub(super) const PROFILES: [(Profile, c_int, &str); 3] = [
    (Profile::High, VA_PROFILE_H264_HIGH, "High"),
    (Profile::Main, VA_PROFILE_H264_MAIN, "Main"),
    (
        Profile::ConstrainedBaseline,
        VA_PROFILE_H264_CONSTRAINED_BASELINE,
        "ConstrainedBaseline",
    ),
];

pub(super) fn entrypoint_name(e: c_int) -> &'static str {
    if e == VA_ENTRYPOINT_ENC_SLICE_LP {
        "EncSliceLP"
    } else {
        "EncSlice"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_node_paths() {
        assert_eq!(render_node_path(0), PathBuf::from("/dev/dri/renderD128"));
        assert_eq!(render_node_path(63), PathBuf::from("/dev/dri/renderD191"));
        for (i, p) in render_nodes() {
            assert_eq!(render_node_path(i), p);
        }
    }
}
