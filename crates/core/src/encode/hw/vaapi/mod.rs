//! H.264 on Intel / AMD GPUs through VA-API, with libva opened at run time.
//!
//! # Why libva is loaded with `libloading` (and not linked through `cros-libva`)
//! `cros-libva` links `libva.so.2` at build time, so the addon would fail to load on every
//! host without libva, even for users who never want VA-API. Opening `libva.so.2` and
//! `libva-drm.so.2` with `libloading` when an encoder is opened keeps the addon loadable
//! everywhere, makes "libva missing" an ordinary, reportable fallback reason, and needs no
//! libva headers or pkg-config at build time. The price is the hand-written ABI in [`sys`]
//! (checked against the installed headers by a test where they exist). The library names can
//! be overridden with [`LIBVA_ENV`] / [`LIBVA_DRM_ENV`].
//!
//! # The encode path
//! `/dev/dri/renderD{128+node}` → `vaGetDisplayDRM` → `vaInitialize`; profile High, else Main,
//! else Constrained Baseline, with `VAEntrypointEncSlice` (else `EncSliceLP`); 4:2:0
//! (`VA_RT_FORMAT_YUV420`); constant QP (`VA_RC_CQP`) from the CRF
//! ([`policy::quantisers`]); packed SPS / PPS / slice headers from [`bitstream`] when the
//! driver accepts them (BT.709 limited range VUI, `max_num_reorder_frames = 0`), otherwise the
//! driver writes its own. One input surface (NV12, uploaded from BGRX through
//! [`crate::encode::colour`] via `vaDeriveImage`, or `vaCreateImage` + `vaPutImage` where
//! deriving is not supported), two reconstructed surfaces used in turn (one reference frame,
//! P pictures only), one coded buffer. A paint-over is an IDR at the paint-over QP
//! (`slice_qp_delta`). 4:4:4 is not offered by VA-API drivers for
//! H.264 encode: `fullcolor` encodes 4:2:0 and says so in [`VaapiEncoder::notes`].
//!
//! # What is tested where
//! Without a GPU (CI): the bitstream headers (bit-exact, and against x264/FFmpeg), the struct
//! layouts (against the installed libva headers), the parameter buffers' bitfields, loading
//! the real libva, and the clean errors for a missing render node, a non-DRM device and a
//! missing libva. **Untested without hardware**: everything after `vaInitialize` succeeds —
//! config/surface/context creation, the upload, the picture submission and the coded output.
//! The code follows the libva API documentation and what FFmpeg's and libva-utils' encoders do.

pub mod sys;

use std::ffi::{c_int, c_void, CStr, OsString};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::ptr;

use libloading::Library;

use self::sys::*;
use super::dylib::{self, zeroed, LoadLibrary};
use super::step::{Backend, StepError};
use crate::encode::colour::{write_nv12, ChromaLayout, YuvPlanes};
use crate::encode::h264::bitstream::{
    self, stream_pps, stream_slice, stream_sps, Pps, Profile, Sps,
};
use crate::encode::h264::policy::{self, Quantisers, MAX_QP};
use crate::encode::{
    encode_or_truncate, BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind,
    StreamParams,
};

/// Environment variable overriding the libva library (default [`LIBVA_DEFAULT`]).
pub const LIBVA_ENV: &str = "STRIPECAST_LIBVA";
/// Environment variable overriding the libva DRM library (default [`LIBVA_DRM_DEFAULT`]).
pub const LIBVA_DRM_ENV: &str = "STRIPECAST_LIBVA_DRM";
pub const LIBVA_DEFAULT: &str = "libva.so.2";
pub const LIBVA_DRM_DEFAULT: &str = "libva-drm.so.2";

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

/// How to open a [`VaapiEncoder`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaapiConfig {
    /// `fullcolor` is not available through VA-API: 4:2:0 is encoded and a note says so.
    pub params: StreamParams,
    /// `vaapiRenderNodeIndex`: `/dev/dri/renderD{128 + node}`.
    pub node: u32,
}

/// The Vaapi backend, for [`StepError`] messages (`vaapi: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vaapi;

impl Backend for Vaapi {
    const KIND: EncoderKind = EncoderKind::Vaapi;
}

/// Why VA-API could not be used: the failing step and a message for people.
pub type VaapiError = StepError<Vaapi>;

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
struct Va {
    get_display_drm: PfnGetDisplayDrm,
    initialize: PfnInitialize,
    terminate: PfnTerminate,
    query_vendor_string: PfnQueryVendorString,
    error_str: PfnErrorStr,
    max_num_entrypoints: PfnMaxNumEntrypoints,
    query_config_entrypoints: PfnQueryConfigEntrypoints,
    get_config_attributes: PfnGetConfigAttributes,
    create_config: PfnCreateConfig,
    destroy_config: PfnDestroyConfig,
    create_surfaces: PfnCreateSurfaces,
    destroy_surfaces: PfnDestroySurfaces,
    create_context: PfnCreateContext,
    destroy_context: PfnDestroyContext,
    create_buffer: PfnCreateBuffer,
    destroy_buffer: PfnDestroyBuffer,
    map_buffer: PfnMapBuffer,
    unmap_buffer: PfnUnmapBuffer,
    begin_picture: PfnBeginPicture,
    render_picture: PfnRenderPicture,
    end_picture: PfnEndPicture,
    sync_surface: PfnSyncSurface,
    derive_image: PfnDeriveImage,
    create_image: PfnCreateImage,
    destroy_image: PfnDestroyImage,
    put_image: PfnPutImage,
    set_info_callback: Option<PfnSetCallback>,
    _drm: Library,
    _va: Library,
}

impl Va {
    fn load(libs: &VaLibraries) -> Result<Self, VaapiError> {
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

    fn error(&self, step: &'static str, st: VaStatus) -> VaapiError {
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

    fn check(&self, step: &'static str, st: VaStatus) -> Result<(), VaapiError> {
        if st == VA_STATUS_SUCCESS {
            Ok(())
        } else {
            Err(self.error(step, st))
        }
    }
}

unsafe extern "C" fn quiet(_: *mut c_void, _: *const std::ffi::c_char) {}

/// An initialised VA display on an open render node.
struct Display {
    dpy: VaDisplay,
    /// vaInitialize's (major, minor).
    version: (i32, i32),
    vendor: String,
    // Closed after vaTerminate (field order: `dpy` is terminated in Drop first).
    _file: File,
}

impl Display {
    fn open(va: &Va, path: &Path) -> Result<Self, VaapiError> {
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
    fn encode_entrypoints(&self, va: &Va, profile: c_int) -> Vec<c_int> {
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

    fn terminate(&mut self, va: &Va) {
        if !self.dpy.is_null() {
            // SAFETY: initialised display, terminated once.
            unsafe { (va.terminate)(self.dpy) };
            self.dpy = ptr::null_mut();
        }
    }
}

const PROFILES: [(Profile, c_int, &str); 3] = [
    (Profile::High, VA_PROFILE_H264_HIGH, "High"),
    (Profile::Main, VA_PROFILE_H264_MAIN, "Main"),
    (
        Profile::ConstrainedBaseline,
        VA_PROFILE_H264_CONSTRAINED_BASELINE,
        "ConstrainedBaseline",
    ),
];

fn entrypoint_name(e: c_int) -> &'static str {
    if e == VA_ENTRYPOINT_ENC_SLICE_LP {
        "EncSliceLP"
    } else {
        "EncSlice"
    }
}

/// One render node as [`probe`] saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaapiNode {
    /// `vaapiRenderNodeIndex` for this node.
    pub index: u32,
    pub path: String,
    /// VA-API version and driver vendor string, when the display initialised.
    pub driver: Option<String>,
    /// H.264 encode support, e.g. `High (EncSlice)`.
    pub h264_encode: Vec<String>,
    /// Why this node cannot encode H.264 (`None` when it can).
    pub error: Option<String>,
}

/// What [`probe`] found out about VA-API on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaapiProbe {
    /// Some render node can encode H.264.
    pub available: bool,
    /// libva and libva-drm could be loaded.
    pub libva_loaded: bool,
    pub nodes: Vec<VaapiNode>,
    /// Why VA-API is not available at all (`None` when some node can encode).
    pub reason: Option<String>,
}

/// Lists the render nodes and, when libva loads, what each one's driver offers for H.264
/// encoding. Creates no encode context.
pub fn probe() -> VaapiProbe {
    probe_with(&VaLibraries::from_env())
}

/// [`probe`] with explicit library names.
pub fn probe_with(libs: &VaLibraries) -> VaapiProbe {
    let nodes = render_nodes();
    let va = Va::load(libs);
    let libva_loaded = va.is_ok();
    let mut out = Vec::new();
    for (index, path) in &nodes {
        let mut node = VaapiNode {
            index: *index,
            path: path.display().to_string(),
            driver: None,
            h264_encode: Vec::new(),
            error: None,
        };
        match &va {
            Err(e) => node.error = Some(e.to_string()),
            Ok(va) => match Display::open(va, path) {
                Err(e) => node.error = Some(e.to_string()),
                Ok(mut d) => {
                    node.driver = Some(format!(
                        "VA-API {}.{} {}",
                        d.version.0, d.version.1, d.vendor
                    ));
                    for (_, profile, name) in PROFILES {
                        for e in d.encode_entrypoints(va, profile) {
                            node.h264_encode
                                .push(format!("{name} ({})", entrypoint_name(e)));
                        }
                    }
                    if node.h264_encode.is_empty() {
                        node.error = Some("the driver offers no H.264 encoding".into());
                    }
                    d.terminate(va);
                }
            },
        }
        out.push(node);
    }
    let available = out.iter().any(|n| n.error.is_none());
    let reason = if available {
        None
    } else if nodes.is_empty() {
        Some("vaapi: no render nodes in /dev/dri".to_string())
    } else if let Err(e) = &va {
        Some(e.to_string())
    } else {
        Some("vaapi: no render node can encode H.264".to_string())
    };
    VaapiProbe {
        available,
        libva_loaded,
        nodes: out,
        reason,
    }
}

/// `seq_fields` of the sequence parameter buffer for `sps`.
fn seq_fields(sps: &Sps) -> u32 {
    (sps.chroma_format_idc & 3)
        | 1 << 2 // frame_mbs_only_flag
        | u32::from(sps.direct_8x8_inference) << 5
        | (sps.log2_max_frame_num_minus4 & 0xf) << 6
        | (sps.pic_order_cnt_type & 3) << 10
        | (sps.log2_max_pic_order_cnt_lsb_minus4 & 0xf) << 12
}

/// The sequence parameter buffer matching `sps`.
fn sequence_params(sps: &Sps, keyint: u32) -> Box<EncSequenceParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncSequenceParameterBufferH264>() };
    p.seq_parameter_set_id = sps.sps_id as u8;
    p.level_idc = sps.level_idc;
    // Informational in constant-QP mode; IDRs are decided per picture.
    let period = policy::gop_length(keyint, u32::from(u16::MAX));
    p.intra_period = period;
    p.intra_idr_period = period;
    p.ip_period = 1;
    p.max_num_ref_frames = sps.max_num_ref_frames;
    p.picture_width_in_mbs = sps.width_in_mbs as u16;
    p.picture_height_in_mbs = sps.height_in_mbs as u16;
    p.seq_fields = seq_fields(sps);
    p.bit_depth_luma_minus8 = sps.bit_depth_luma_minus8 as u8;
    p.bit_depth_chroma_minus8 = sps.bit_depth_chroma_minus8 as u8;
    if let Some((l, r, t, b)) = sps.crop {
        p.frame_cropping_flag = 1;
        p.frame_crop_left_offset = l;
        p.frame_crop_right_offset = r;
        p.frame_crop_top_offset = t;
        p.frame_crop_bottom_offset = b;
    }
    if let Some(vui) = &sps.vui {
        p.vui_parameters_present_flag = 1;
        let mut f = 0u32;
        if let Some(br) = vui.bitstream_restriction {
            f |= 1 << 2
                | (br.log2_max_mv_length_horizontal & 0x1f) << 3
                | (br.log2_max_mv_length_vertical & 0x1f) << 8
                | u32::from(br.motion_vectors_over_pic_boundaries) << 15;
        }
        if let Some(t) = vui.timing {
            f |= 1 << 1 | u32::from(t.fixed_frame_rate) << 13;
            p.num_units_in_tick = t.num_units_in_tick;
            p.time_scale = t.time_scale;
        }
        p.vui_fields = f;
    }
    p
}

/// `pic_fields` of the picture parameter buffer.
fn pic_fields(idr: bool, pps: &Pps) -> u32 {
    u32::from(idr)
        | 1 << 1 // reference_pic_flag
        | u32::from(pps.entropy_coding_mode) << 3
        | u32::from(pps.deblocking_filter_control_present) << 9
}

/// The encoder's view of one picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PictureSetup {
    idr: bool,
    frame_num: u32,
    /// Picture order count (POC type 2: twice the pictures since the IDR).
    poc: i32,
    recon: VaSurfaceId,
    /// The previous reconstructed picture (P pictures).
    reference: Option<(VaSurfaceId, u32, i32)>,
    idr_pic_id: u32,
    qp: u8,
}

fn picture_params(
    s: &PictureSetup,
    pps: &Pps,
    coded: VaBufferId,
) -> Box<EncPictureParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncPictureParameterBufferH264>() };
    p.curr_pic = PictureH264 {
        picture_id: s.recon,
        frame_idx: s.frame_num,
        flags: 0,
        top_field_order_cnt: s.poc,
        bottom_field_order_cnt: s.poc,
        ..PictureH264::default()
    };
    p.reference_frames = [PictureH264::INVALID; 16];
    if let Some((surface, frame_num, poc)) = s.reference {
        p.reference_frames[0] = PictureH264 {
            picture_id: surface,
            frame_idx: frame_num,
            flags: VA_PICTURE_H264_SHORT_TERM_REFERENCE,
            top_field_order_cnt: poc,
            bottom_field_order_cnt: poc,
            ..PictureH264::default()
        };
    }
    p.coded_buf = coded;
    p.pic_parameter_set_id = pps.pps_id as u8;
    p.seq_parameter_set_id = pps.sps_id as u8;
    p.frame_num = s.frame_num as u16;
    p.pic_init_qp = (26 + pps.pic_init_qp_minus26) as u8;
    p.chroma_qp_index_offset = pps.chroma_qp_index_offset as i8;
    p.second_chroma_qp_index_offset = pps.chroma_qp_index_offset as i8;
    p.pic_fields = pic_fields(s.idr, pps);
    p
}

fn slice_params(
    s: &PictureSetup,
    pps: &Pps,
    mbs: u32,
    slice_qp_delta: i8,
) -> Box<EncSliceParameterBufferH264> {
    // SAFETY: all-zero is valid plain data.
    let mut p = unsafe { zeroed::<EncSliceParameterBufferH264>() };
    p.macroblock_address = 0;
    p.num_macroblocks = mbs;
    p.macroblock_info = VA_INVALID_ID;
    p.slice_type = if s.idr {
        bitstream::SLICE_I as u8
    } else {
        bitstream::SLICE_P as u8
    };
    p.pic_parameter_set_id = pps.pps_id as u8;
    p.idr_pic_id = s.idr_pic_id as u16;
    p.ref_pic_list0 = [PictureH264::INVALID; 32];
    p.ref_pic_list1 = [PictureH264::INVALID; 32];
    if let (false, Some((surface, frame_num, poc))) = (s.idr, s.reference) {
        p.ref_pic_list0[0] = PictureH264 {
            picture_id: surface,
            frame_idx: frame_num,
            flags: VA_PICTURE_H264_SHORT_TERM_REFERENCE,
            top_field_order_cnt: poc,
            bottom_field_order_cnt: poc,
            ..PictureH264::default()
        };
    }
    p.slice_qp_delta = slice_qp_delta;
    p
}

/// A VA-API H.264 encoder; see the module documentation.
pub struct VaapiEncoder {
    display: Display,
    config: VaConfigId,
    context: VaContextId,
    /// [input, recon A, recon B].
    surfaces: Vec<VaSurfaceId>,
    coded: VaBufferId,
    /// The image used when vaDeriveImage does not work.
    put_image: Option<Image>,
    derive: bool,
    entrypoint: c_int,
    /// VA_ENC_PACKED_HEADER_* bits the driver accepted.
    packed: u32,
    sps: Sps,
    pps: Pps,
    planes: YuvPlanes,
    cfg: VaapiConfig,
    qp_p: u8,
    qp_i: u8,
    paint_over_qp: u8,
    frames: u64,
    since_idr: u32,
    idr_pic_id: u32,
    /// The last reconstructed picture: (surface index, frame_num, poc).
    last: Option<(usize, u32, i32)>,
    device: String,
    notes: Vec<String>,
    // Dropped last.
    va: Va,
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

    /// Writes the converted planes into the input surface.
    fn upload(&mut self) -> Result<(), VaapiError> {
        let va = &self.va;
        let dpy = self.display.dpy;
        let src = self.surfaces[0];
        if self.derive {
            let mut img = Image::default();
            // SAFETY: valid display and surface.
            let st = unsafe { (va.derive_image)(dpy, src, &mut img) };
            if st == VA_STATUS_SUCCESS && img.format.fourcc == VA_FOURCC_NV12 {
                let r = self.write_image(&img);
                // SAFETY: the derived image is destroyed once.
                unsafe { (va.destroy_image)(dpy, img.image_id) };
                return r;
            }
            if st == VA_STATUS_SUCCESS {
                // SAFETY: as above.
                unsafe { (va.destroy_image)(dpy, img.image_id) };
            }
            self.derive = false;
        }
        if self.put_image.is_none() {
            let mut format = ImageFormat {
                fourcc: VA_FOURCC_NV12,
                byte_order: 1, // VA_LSB_FIRST
                bits_per_pixel: 12,
                ..ImageFormat::default()
            };
            let mut img = Image::default();
            // SAFETY: valid display and out-pointer.
            va.check("vaCreateImage", unsafe {
                (va.create_image)(
                    dpy,
                    &mut format,
                    self.cfg.params.width as c_int,
                    self.cfg.params.height as c_int,
                    &mut img,
                )
            })?;
            self.put_image = Some(img);
        }
        let img = self.put_image.expect("created above");
        self.write_image(&img)?;
        let (w, h) = (self.cfg.params.width, self.cfg.params.height);
        // SAFETY: valid surface and image of the surface's size.
        va.check("vaPutImage", unsafe {
            (va.put_image)(dpy, src, img.image_id, 0, 0, w, h, 0, 0, w, h)
        })
    }

    fn write_image(&self, img: &Image) -> Result<(), VaapiError> {
        let va = &self.va;
        let dpy = self.display.dpy;
        let mut data: *mut c_void = ptr::null_mut();
        // SAFETY: the image's buffer is mapped once and unmapped below.
        va.check("vaMapBuffer", unsafe {
            (va.map_buffer)(dpy, img.buf, &mut data)
        })?;
        let (w, h) = (
            self.cfg.params.width as usize,
            self.cfg.params.height as usize,
        );
        let (yp, cp) = (img.pitches[0] as usize, img.pitches[1] as usize);
        let (yo, co) = (img.offsets[0] as usize, img.offsets[1] as usize);
        let need = (yo + yp * h).max(co + cp * h / 2);
        let r = if data.is_null() || yp < w || cp < w || (img.data_size as usize) < need {
            Err(VaapiError::new(
                "vaMapBuffer",
                format!(
                    "unexpected NV12 image (pitches {yp}/{cp}, {} bytes)",
                    img.data_size
                ),
            ))
        } else {
            // SAFETY: the mapped buffer holds `data_size` bytes until unmapped.
            let buf = unsafe {
                std::slice::from_raw_parts_mut(data.cast::<u8>(), img.data_size as usize)
            };
            write_nv12(&self.planes, buf, (yo, yp), (co, cp));
            Ok(())
        };
        // SAFETY: mapped above.
        let st = unsafe { (va.unmap_buffer)(dpy, img.buf) };
        r?;
        va.check("vaUnmapBuffer", st)
    }

    fn create_buffer<T>(&self, kind: c_int, data: &T) -> Result<VaBufferId, VaapiError> {
        self.create_raw_buffer(kind, (data as *const T).cast(), std::mem::size_of::<T>())
    }

    fn create_raw_buffer(
        &self,
        kind: c_int,
        data: *const c_void,
        size: usize,
    ) -> Result<VaBufferId, VaapiError> {
        let mut id = VA_INVALID_ID;
        // SAFETY: libva copies `size` bytes from `data` into a new buffer.
        self.va.check("vaCreateBuffer", unsafe {
            (self.va.create_buffer)(
                self.display.dpy,
                self.context,
                kind,
                size as u32,
                1,
                data.cast_mut(),
                &mut id,
            )
        })?;
        Ok(id)
    }

    fn packed_header(
        &self,
        header_type: u32,
        bytes: &[u8],
        bits: usize,
        emulation: bool,
        out: &mut Vec<VaBufferId>,
    ) -> Result<(), VaapiError> {
        let param = EncPackedHeaderParameterBuffer {
            header_type,
            bit_length: bits as u32,
            has_emulation_bytes: u8::from(emulation),
            ..Default::default()
        };
        out.push(self.create_buffer(VA_ENC_PACKED_HEADER_PARAMETER_BUFFER_TYPE, &param)?);
        out.push(self.create_raw_buffer(
            VA_ENC_PACKED_HEADER_DATA_BUFFER_TYPE,
            bytes.as_ptr().cast(),
            bytes.len(),
        )?);
        Ok(())
    }

    fn encode_frame(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, VaapiError> {
        self.planes
            .convert(image)
            .map_err(|e| VaapiError::new("convert", e.to_string()))?;
        self.upload()?;
        let keyint = self.cfg.params.keyframe_interval_frames;
        let idr = policy::idr_due(request, self.last.is_none(), self.since_idr, keyint);
        if idr {
            self.since_idr = 0;
            if self.frames > 0 {
                self.idr_pic_id = (self.idr_pic_id + 1) % 65536;
            }
        }
        let frame_num = self.since_idr % 256;
        let poc = 2 * (self.since_idr % (1 << 15)) as i32;
        let recon_index = match self.last {
            Some((1, _, _)) => 2,
            _ => 1,
        };
        let setup = PictureSetup {
            idr,
            frame_num,
            poc,
            recon: self.surfaces[recon_index],
            reference: (!idr)
                .then_some(self.last)
                .flatten()
                .map(|(i, f, p)| (self.surfaces[i], f, p)),
            idr_pic_id: self.idr_pic_id,
            qp: if request.paint_over {
                self.paint_over_qp
            } else if idr {
                self.qp_i
            } else {
                self.qp_p
            },
        };
        let slice_qp_delta = i32::from(setup.qp) - i32::from(self.qp_p);
        let mbs = self.sps.width_in_mbs * self.sps.height_in_mbs;

        let mut buffers = Vec::with_capacity(9);
        let result = (|| -> Result<(), VaapiError> {
            if idr {
                let seq = sequence_params(&self.sps, keyint);
                buffers.push(self.create_buffer(VA_ENC_SEQUENCE_PARAMETER_BUFFER_TYPE, &*seq)?);
            }
            let pic = picture_params(&setup, &self.pps, self.coded);
            buffers.push(self.create_buffer(VA_ENC_PICTURE_PARAMETER_BUFFER_TYPE, &*pic)?);
            if idr && self.packed & VA_ENC_PACKED_HEADER_SEQUENCE != 0 {
                let nal = self.sps.nal();
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_SEQUENCE,
                    &nal,
                    nal.len() * 8,
                    true,
                    &mut buffers,
                )?;
            }
            if idr && self.packed & VA_ENC_PACKED_HEADER_PICTURE != 0 {
                let nal = self.pps.nal();
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_PICTURE,
                    &nal,
                    nal.len() * 8,
                    true,
                    &mut buffers,
                )?;
            }
            if self.packed & VA_ENC_PACKED_HEADER_SLICE != 0 {
                let header = stream_slice(idr, frame_num, self.idr_pic_id, slice_qp_delta);
                let (bytes, bits) = header.packed(&self.sps, &self.pps);
                self.packed_header(
                    VA_ENC_PACKED_HEADER_TYPE_SLICE,
                    &bytes,
                    bits,
                    false,
                    &mut buffers,
                )?;
            }
            let slice = slice_params(&setup, &self.pps, mbs, slice_qp_delta as i8);
            buffers.push(self.create_buffer(VA_ENC_SLICE_PARAMETER_BUFFER_TYPE, &*slice)?);

            let (va, dpy) = (&self.va, self.display.dpy);
            // SAFETY: valid context, input surface and buffers created above.
            va.check("vaBeginPicture", unsafe {
                (va.begin_picture)(dpy, self.context, self.surfaces[0])
            })?;
            va.check("vaRenderPicture", unsafe {
                (va.render_picture)(
                    dpy,
                    self.context,
                    buffers.as_mut_ptr(),
                    buffers.len() as c_int,
                )
            })?;
            va.check("vaEndPicture", unsafe {
                (va.end_picture)(dpy, self.context)
            })?;
            va.check("vaSyncSurface", unsafe {
                (va.sync_surface)(dpy, self.surfaces[0])
            })
        })();
        for id in buffers {
            // SAFETY: each parameter buffer is destroyed once, after the picture ended.
            unsafe { (self.va.destroy_buffer)(self.display.dpy, id) };
        }
        result?;

        let start = out.len();
        self.read_coded(out)?;
        self.frames += 1;
        self.since_idr += 1;
        self.last = Some((recon_index, frame_num, poc));
        Ok(EncodeOutcome {
            key: idr,
            produced: out.len() > start,
        })
    }

    /// Appends the coded buffer's segments to `out`.
    fn read_coded(&self, out: &mut Vec<u8>) -> Result<(), VaapiError> {
        let (va, dpy) = (&self.va, self.display.dpy);
        let mut seg: *mut c_void = ptr::null_mut();
        // SAFETY: the coded buffer is mapped once and unmapped below.
        va.check("vaMapBuffer", unsafe {
            (va.map_buffer)(dpy, self.coded, &mut seg)
        })?;
        let mut count = 0;
        while !seg.is_null() && count < 1024 {
            // SAFETY: a mapped coded buffer is a linked list of VACodedBufferSegment, each
            // pointing at `size` bytes, valid until unmapped.
            let s = unsafe { &*seg.cast::<CodedBufferSegment>() };
            if !s.buf.is_null() && s.size > 0 {
                out.extend_from_slice(unsafe {
                    std::slice::from_raw_parts(s.buf.cast::<u8>(), s.size as usize)
                });
            }
            seg = s.next;
            count += 1;
        }
        // SAFETY: mapped above.
        va.check("vaUnmapBuffer", unsafe {
            (va.unmap_buffer)(dpy, self.coded)
        })
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

impl Encoder for VaapiEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        encode_or_truncate(out, |out| self.encode_frame(image, request, out))
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Vaapi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn render_node_paths() {
        assert_eq!(render_node_path(0), PathBuf::from("/dev/dri/renderD128"));
        assert_eq!(render_node_path(63), PathBuf::from("/dev/dri/renderD191"));
        for (i, p) in render_nodes() {
            assert_eq!(render_node_path(i), p);
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
    fn probe_without_render_nodes_says_so() {
        let p = probe();
        if render_nodes().is_empty() {
            assert!(!p.available);
            assert!(p.nodes.is_empty());
            assert_eq!(
                p.reason.as_deref(),
                Some("vaapi: no render nodes in /dev/dri")
            );
        } else {
            assert_eq!(p.nodes.len(), render_nodes().len());
        }
    }

    #[test]
    fn bad_configs_are_refused_before_loading() {
        let mut cfg = config(0);
        cfg.params.width = 321;
        let e = VaapiEncoder::open(&cfg).err().unwrap();
        assert_eq!(e.step(), "config");
    }

    #[test]
    fn parameter_buffers_carry_the_headers_values() {
        let sps = stream_sps(Profile::High, 1920, 1080, 60.0);
        let pps = stream_pps(Profile::High, 23);
        let seq = sequence_params(&sps, 0);
        assert_eq!(seq.level_idc, 42);
        assert_eq!(
            (seq.picture_width_in_mbs, seq.picture_height_in_mbs),
            (120, 68)
        );
        // chroma 1 | frame_mbs_only << 2 | direct_8x8 << 5 | log2_max_frame_num_minus4 4 << 6
        // | poc type 2 << 10.
        assert_eq!(seq.seq_fields, 1 | 1 << 2 | 1 << 5 | 4 << 6 | 2 << 10);
        assert_eq!(seq.frame_cropping_flag, 1);
        assert_eq!(seq.frame_crop_bottom_offset, 4);
        assert_eq!(seq.vui_parameters_present_flag, 1);
        // bitstream_restriction << 2 | 15 << 3 | 15 << 8 | mv over boundaries << 15.
        assert_eq!(seq.vui_fields, 1 << 2 | 15 << 3 | 15 << 8 | 1 << 15);
        assert_eq!(seq.intra_period, 65535);
        assert_eq!(seq.ip_period, 1);

        let setup = PictureSetup {
            idr: false,
            frame_num: 5,
            poc: 10,
            recon: 7,
            reference: Some((8, 4, 8)),
            idr_pic_id: 2,
            qp: 23,
        };
        let pic = picture_params(&setup, &pps, 99);
        assert_eq!(pic.curr_pic.picture_id, 7);
        assert_eq!(pic.curr_pic.top_field_order_cnt, 10);
        assert_eq!(pic.reference_frames[0].picture_id, 8);
        assert_eq!(
            pic.reference_frames[0].flags,
            VA_PICTURE_H264_SHORT_TERM_REFERENCE
        );
        assert_eq!(pic.reference_frames[1], PictureH264::INVALID);
        assert_eq!(pic.coded_buf, 99);
        assert_eq!(pic.pic_init_qp, 23);
        assert_eq!(pic.frame_num, 5);
        // reference_pic_flag << 1 | CABAC << 3 | deblocking control << 9; not IDR.
        assert_eq!(pic.pic_fields, 1 << 1 | 1 << 3 | 1 << 9);
        let slice = slice_params(&setup, &pps, 8160, -3);
        assert_eq!(slice.num_macroblocks, 8160);
        assert_eq!(slice.slice_type, 0);
        assert_eq!(slice.ref_pic_list0[0].picture_id, 8);
        assert_eq!(slice.ref_pic_list0[1], PictureH264::INVALID);
        assert_eq!(slice.slice_qp_delta, -3);
        assert_eq!(slice.macroblock_info, VA_INVALID_ID);
        let idr = PictureSetup {
            idr: true,
            reference: None,
            ..setup
        };
        assert_eq!(picture_params(&idr, &pps, 1).pic_fields & 1, 1);
        let s = slice_params(&idr, &pps, 10, 0);
        assert_eq!(s.slice_type, 2);
        assert_eq!(s.idr_pic_id, 2);
        assert_eq!(s.ref_pic_list0[0], PictureH264::INVALID);
    }
}
