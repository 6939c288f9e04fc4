//! The encoder type: opening display, config, surfaces, context and coded buffer; teardown.

use std::ffi::c_int;
use std::path::Path;
use std::ptr;

use super::display::{entrypoint_name, render_node_path, Display, PROFILES};
use super::libva::{Va, VaLibraries};
use super::sys::*;
use super::VaapiError;
use crate::encode::colour::{ChromaLayout, YuvPlanes};
use crate::encode::h264::bitstream::{stream_pps, stream_sps, Pps, Sps};
use crate::encode::h264::policy::{self, Quantisers, MAX_QP};
use crate::encode::StreamParams;

/// How to open a [`VaapiEncoder`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaapiConfig {
    /// `fullcolor` is not available through VA-API: 4:2:0 is encoded and a note says so.
    pub params: StreamParams,
    /// `vaapiRenderNodeIndex`: `/dev/dri/renderD{128 + node}`.
    pub node: u32,
}

/// A VA-API H.264 encoder; see the module documentation.
pub struct VaapiEncoder {
    pub(super) display: Display,
    config: VaConfigId,
    pub(super) context: VaContextId,
    /// [input, recon A, recon B].
    pub(super) surfaces: Vec<VaSurfaceId>,
    pub(super) coded: VaBufferId,
    /// The image used when vaDeriveImage does not work.
    pub(super) put_image: Option<Image>,
    pub(super) derive: bool,
    entrypoint: c_int,
    /// VA_ENC_PACKED_HEADER_* bits the driver accepted.
    pub(super) packed: u32,
    pub(super) sps: Sps,
    pub(super) pps: Pps,
    pub(super) planes: YuvPlanes,
    pub(super) cfg: VaapiConfig,
    pub(super) qp_p: u8,
    pub(super) qp_i: u8,
    pub(super) paint_over_qp: u8,
    pub(super) frames: u64,
    pub(super) since_idr: u32,
    pub(super) idr_pic_id: u32,
    /// The last reconstructed picture: (surface index, frame_num, poc).
    pub(super) last: Option<(usize, u32, i32)>,
    device: String,
    notes: Vec<String>,
    // Dropped last.
    pub(super) va: Va,
}

// SAFETY: the VA display, context, surfaces and buffers are only used through `&mut self`,
// never from two threads at once; libva has no thread affinity for a display.
unsafe impl Send for VaapiEncoder {}

impl VaapiEncoder {
    /// Opens `/dev/dri/renderD{128 + config.node}` with the libraries from the environment.
    pub fn open(config: &VaapiConfig) -> Result<Self, VaapiError> {
        Self::open_with(
            config,
            &VaLibraries::from_env(),
            &render_node_path(config.node),
        )
    }

    /// Opens the encoder on the DRM device `device` with the libraries `libs`.
    pub fn open_with(
        config: &VaapiConfig,
        libs: &VaLibraries,
        device: &Path,
    ) -> Result<Self, VaapiError> {
        let StreamParams {
            width,
            height,
            crf,
            paint_over_crf,
            // Always a constant quantiser here (see `policy::quantisers`).
            rate_control: _,
            fullcolor,
            fps,
            keyframe_interval_frames: _,
        } = config.params;
        if width == 0 || height == 0 || width > 8192 || height > 8192 || width % 2 + height % 2 != 0
        {
            return Err(VaapiError::new(
                "config",
                format!("picture {width}x{height} must be even and within 2..=8192"),
            ));
        }
        if crf > MAX_QP || paint_over_crf > MAX_QP || !policy::valid_fps(fps) {
            return Err(VaapiError::new(
                "config",
                format!("crf {crf} / paint-over crf {paint_over_crf} / fps {fps} out of range"),
            ));
        }
        let va = Va::load(libs)?;
        if !device.exists() {
            return Err(VaapiError::new(
                "device",
                format!(
                    "{} does not exist (vaapiRenderNodeIndex {})",
                    device.display(),
                    config.node
                ),
            ));
        }
        let mut display = Display::open(&va, device)?;
        let chosen = PROFILES.iter().find_map(|&(profile, va_profile, name)| {
            let eps = display.encode_entrypoints(&va, va_profile);
            let ep = if eps.contains(&VA_ENTRYPOINT_ENC_SLICE) {
                VA_ENTRYPOINT_ENC_SLICE
            } else {
                *eps.first()?
            };
            Some((profile, va_profile, name, ep))
        });
        let Some((profile, va_profile, profile_name, entrypoint)) = chosen else {
            display.terminate(&va);
            return Err(VaapiError::new(
                "profile",
                format!(
                    "{} ({}) offers no H.264 encoding",
                    device.display(),
                    display.vendor
                ),
            ));
        };
        let Quantisers { p: qp_p, idr: qp_i } = policy::quantisers(crf);
        let planes = YuvPlanes::new(width, height, ChromaLayout::I420)
            .map_err(|e| VaapiError::new("config", e.to_string()))?;
        let mut notes = Vec::new();
        if fullcolor {
            notes.push("vaapi: H.264 4:4:4 is not available through VA-API; encoding 4:2:0".into());
        }
        let device_name = format!(
            "{} ({}, H.264 {profile_name} {})",
            device.display(),
            display.vendor,
            entrypoint_name(entrypoint)
        );
        let mut this = VaapiEncoder {
            display,
            config: VA_INVALID_ID,
            context: VA_INVALID_ID,
            surfaces: Vec::new(),
            coded: VA_INVALID_ID,
            put_image: None,
            derive: true,
            entrypoint,
            packed: 0,
            sps: stream_sps(profile, width, height, fps),
            pps: stream_pps(profile, qp_p),
            planes,
            cfg: *config,
            qp_p,
            qp_i,
            paint_over_qp: policy::paint_over_qp(paint_over_crf),
            frames: 0,
            since_idr: 0,
            idr_pic_id: 0,
            last: None,
            device: device_name,
            notes,
            va,
        };
        this.start(va_profile)?;
        Ok(this)
    }

    /// The render node, driver and profile in use.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Deviations from what was asked.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    fn start(&mut self, va_profile: c_int) -> Result<(), VaapiError> {
        let va = &self.va;
        let dpy = self.display.dpy;
        let mut attribs = [
            ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_RT_FORMAT,
                value: 0,
            },
            ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_RATE_CONTROL,
                value: 0,
            },
            ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_ENC_PACKED_HEADERS,
                value: 0,
            },
        ];
        // SAFETY: initialised display; the array length is passed.
        va.check("vaGetConfigAttributes", unsafe {
            (va.get_config_attributes)(dpy, va_profile, self.entrypoint, attribs.as_mut_ptr(), 3)
        })?;
        let supported = |a: &ConfigAttrib| a.value != VA_ATTRIB_NOT_SUPPORTED;
        if !supported(&attribs[0]) || attribs[0].value & VA_RT_FORMAT_YUV420 == 0 {
            return Err(VaapiError::new(
                "vaGetConfigAttributes",
                "the driver cannot encode 4:2:0",
            ));
        }
        if !supported(&attribs[1]) || attribs[1].value & VA_RC_CQP == 0 {
            return Err(VaapiError::new(
                "vaGetConfigAttributes",
                "the driver has no constant-QP rate control",
            ));
        }
        let wanted = VA_ENC_PACKED_HEADER_SEQUENCE
            | VA_ENC_PACKED_HEADER_PICTURE
            | VA_ENC_PACKED_HEADER_SLICE;
        self.packed = if supported(&attribs[2]) {
            attribs[2].value & wanted
        } else {
            0
        };
        if self.packed & VA_ENC_PACKED_HEADER_SEQUENCE == 0 {
            self.notes.push(
                "vaapi: the driver writes its own SPS (its VUI may not signal BT.709)".into(),
            );
        }
        let mut use_attribs = vec![
            ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_RT_FORMAT,
                value: VA_RT_FORMAT_YUV420,
            },
            ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_RATE_CONTROL,
                value: VA_RC_CQP,
            },
        ];
        if self.packed != 0 {
            use_attribs.push(ConfigAttrib {
                attrib_type: VA_CONFIG_ATTRIB_ENC_PACKED_HEADERS,
                value: self.packed,
            });
        }
        let mut config = VA_INVALID_ID;
        // SAFETY: valid display, attribute list and out-pointer.
        va.check("vaCreateConfig", unsafe {
            (va.create_config)(
                dpy,
                va_profile,
                self.entrypoint,
                use_attribs.as_mut_ptr(),
                use_attribs.len() as c_int,
                &mut config,
            )
        })?;
        self.config = config;
        let mut surfaces = [VA_INVALID_ID; 3];
        // SAFETY: valid display; three surfaces, no attributes.
        va.check("vaCreateSurfaces", unsafe {
            (va.create_surfaces)(
                dpy,
                VA_RT_FORMAT_YUV420,
                self.cfg.params.width,
                self.cfg.params.height,
                surfaces.as_mut_ptr(),
                3,
                ptr::null_mut(),
                0,
            )
        })?;
        self.surfaces = surfaces.to_vec();
        let mut context = VA_INVALID_ID;
        // SAFETY: valid config and surfaces.
        va.check("vaCreateContext", unsafe {
            (va.create_context)(
                dpy,
                config,
                self.cfg.params.width as c_int,
                self.cfg.params.height as c_int,
                VA_PROGRESSIVE,
                self.surfaces.as_mut_ptr(),
                3,
                &mut context,
            )
        })?;
        self.context = context;
        // An I picture at a low QP can exceed the raw 4:2:0 size; leave headroom.
        let coded_size =
            (self.cfg.params.width * self.cfg.params.height * 2).max(1 << 20) + (64 << 10);
        let mut coded = VA_INVALID_ID;
        // SAFETY: valid context; a coded buffer has no initial data.
        va.check("vaCreateBuffer", unsafe {
            (va.create_buffer)(
                dpy,
                context,
                VA_ENC_CODED_BUFFER_TYPE,
                coded_size,
                1,
                ptr::null_mut(),
                &mut coded,
            )
        })?;
        self.coded = coded;
        Ok(())
    }
}

impl Drop for VaapiEncoder {
    fn drop(&mut self) {
        let (va, dpy) = (&self.va, self.display.dpy);
        if !dpy.is_null() {
            // SAFETY: every handle was created by this encoder and is released once; invalid
            // ids were never created.
            unsafe {
                if let Some(img) = self.put_image.take() {
                    (va.destroy_image)(dpy, img.image_id);
                }
                if self.coded != VA_INVALID_ID {
                    (va.destroy_buffer)(dpy, self.coded);
                }
                if self.context != VA_INVALID_ID {
                    (va.destroy_context)(dpy, self.context);
                }
                if !self.surfaces.is_empty() {
                    (va.destroy_surfaces)(
                        dpy,
                        self.surfaces.as_mut_ptr(),
                        self.surfaces.len() as c_int,
                    );
                }
                if self.config != VA_INVALID_ID {
                    (va.destroy_config)(dpy, self.config);
                }
            }
        }
        self.display.terminate(&self.va);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::hw::vaapi::{probe_with, LIBVA_DRM_DEFAULT};

    fn config(node: u32) -> VaapiConfig {
        VaapiConfig {
            params: StreamParams {
                width: 320,
                height: 240,
                crf: 23,
                paint_over_crf: 18,
                rate_control: Default::default(),
                fullcolor: false,
                fps: 30.0,
                keyframe_interval_frames: 0,
            },
            node,
        }
    }

    #[test]
    fn missing_render_node_is_a_clean_error() {
        let e = VaapiEncoder::open(&config(63)).err().unwrap();
        // Either libva is missing here (then that is the reason) or the node is.
        assert!(matches!(e.step(), "device" | "load"), "{e}");
        if e.step() == "device" {
            assert_eq!(
                e.to_string(),
                "vaapi: /dev/dri/renderD191 does not exist (vaapiRenderNodeIndex 63)"
            );
        }
    }

    #[test]
    fn missing_libva_is_a_clean_error() {
        let libs = VaLibraries {
            libva: "/nonexistent/libva.so.2".into(),
            libva_drm: LIBVA_DRM_DEFAULT.into(),
        };
        let e = VaapiEncoder::open_with(&config(0), &libs, &render_node_path(0))
            .err()
            .unwrap();
        assert_eq!(e.step(), "load");
        assert_eq!(e.to_string(), "vaapi: /nonexistent/libva.so.2 not found");
        let p = probe_with(&libs);
        assert!(!p.libva_loaded && !p.available);
        assert!(p.reason.is_some());
    }

    /// Loads the real libva (where installed) and hands it a device that is not a DRM node:
    /// every symbol resolves and vaGetDisplayDRM's refusal becomes a clean error.
    #[test]
    fn real_libva_refuses_a_non_drm_device_cleanly() {
        let libs = VaLibraries::from_env();
        if Va::load(&libs).is_err() {
            eprintln!("skipped: libva is not installed");
            return;
        }
        let e = VaapiEncoder::open_with(&config(0), &libs, Path::new("/dev/null"))
            .err()
            .unwrap();
        assert!(
            matches!(e.step(), "vaGetDisplayDRM" | "vaInitialize"),
            "{e}"
        );
        assert!(e.to_string().starts_with("vaapi: va"), "{e}");
    }

    #[test]
    fn bad_configs_are_refused_before_loading() {
        let mut cfg = config(0);
        cfg.params.width = 321;
        let e = VaapiEncoder::open(&cfg).err().unwrap();
        assert_eq!(e.step(), "config");
    }
}
