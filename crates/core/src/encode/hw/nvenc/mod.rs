//! H.264 on NVIDIA GPUs through NVENC, with the driver's libraries opened at run time.
//!
//! Nothing NVIDIA is linked: `libnvidia-encode.so.1` and `libcuda.so.1` are opened with
//! `libloading` when an encoder is opened (or [`probe`] runs), so the addon loads and runs
//! everywhere and a host without the driver simply reports why NVENC is unavailable. The
//! paths can be overridden with the environment variables [`NVENC_LIB_ENV`] and
//! [`CUDA_LIB_ENV`] (the tests point them at a fake driver).
//!
//! One [`NvencEncoder`] is one H.264 stream of fixed size:
//! * API: NVENC 12.0 structs ([`sys`]); the driver must report at least 12.0 through
//!   `NvEncodeAPIGetMaxSupportedVersion` (NVIDIA Linux driver 520.56.06 or newer).
//! * Device: a CUDA context (`cuCtxCreate_v2` on device `cuda_device`), pushed around every
//!   NVENC call so the encoder can move between threads (it is never used by two at once).
//! * Preset `P1`..`P7` (default [`NvencPreset::P4`]) with `NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY`
//!   from `nvEncGetEncodePresetConfigEx`, then: no B-frames (`frameIntervalP = 1`), infinite GOP
//!   (IDRs only on request) unless `keyframe_interval_frames` is set, SPS/PPS repeated on every
//!   IDR (`repeatSPSPPS`) and also requested with `NV_ENC_PIC_FLAG_OUTPUT_SPSPPS` on forced ones,
//!   picture-type decision by the driver (`enablePTD`), one output picture per input.
//! * Rate control: constant QP derived from the CRF by [`qp_for_crf`]. A paint-over picture is
//!   an IDR coded at the paint-over QP: the encoder is reconfigured (`nvEncReconfigureEncoder`
//!   with `forceIDR`) for that picture and back for the next one. Should the driver refuse the
//!   reconfiguration, paint-overs become plain IDRs at the normal QP (recorded in `notes`).
//! * Colour: the BGRX input is converted on the CPU by [`crate::encode::colour`] (BT.709
//!   limited range, like x264) and uploaded as NV12, or as planar YUV 4:4:4 when `fullcolor`
//!   is asked for and the GPU reports `NV_ENC_CAPS_SUPPORT_YUV444_ENCODE` (profile High 4:4:4;
//!   otherwise 4:2:0 and a note says so). The VUI signals BT.709 primaries, transfer and
//!   matrix, limited range. ARGB input (the GPU converts) is not used because NVENC's RGB→YUV
//!   matrix is not documented; converting ourselves keeps every H.264 stream the same colours.
//! * Buffers: one host input buffer (`nvEncCreateInputBuffer`, locked and filled per frame) and
//!   one bitstream buffer; encoding is synchronous.
//! * Teardown (`Drop`): end-of-stream picture, destroy the input and bitstream buffers, destroy
//!   the session, then the CUDA context. The driver libraries stay loaded for the life of the
//!   process once opened (libcuda runs worker threads after `cuInit`).

pub mod sys;

use std::ffi::{c_char, c_int, c_void, CStr};
use std::ptr;

use libloading::Library;

use self::sys::*;
use super::dylib::{self, zeroed, LoadLibrary};
use super::step::{Backend, StepError};
use crate::encode::colour::{write_nv12, ChromaLayout, YuvPlanes};
use crate::encode::h264::policy::{self, MAX_QP};
use crate::encode::{
    encode_or_truncate, BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind,
    StreamParams,
};

/// Environment variable overriding the NVENC library (default [`NVENC_LIB_DEFAULT`]).
pub const NVENC_LIB_ENV: &str = "STRIPECAST_NVENC_LIB";
/// Environment variable overriding the CUDA driver library (default [`CUDA_LIB_DEFAULT`]).
pub const CUDA_LIB_ENV: &str = "STRIPECAST_CUDA_LIB";
pub const NVENC_LIB_DEFAULT: &str = "libnvidia-encode.so.1";
pub const CUDA_LIB_DEFAULT: &str = "libcuda.so.1";

/// NVENC speed/quality preset (P1 fastest .. P7 best).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NvencPreset {
    P1,
    P2,
    P3,
    /// A balanced default: at 1080p it runs far above 60 fps on every NVENC generation from
    /// Turing on, at clearly better quality than P1.
    #[default]
    P4,
    P5,
    P6,
    P7,
}

impl NvencPreset {
    fn index(self) -> usize {
        self as usize
    }
}

/// How to open an [`NvencEncoder`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NvencConfig {
    /// `crf` and `paint_over_crf` (the QPs of paint-over IDRs) are mapped to constant QPs by
    /// [`qp_for_crf`]; `fullcolor` falls back to 4:2:0 (with a note) when the GPU cannot.
    pub params: StreamParams,
    pub preset: NvencPreset,
    /// CUDA device ordinal.
    pub cuda_device: u32,
}

/// NVENC's constant QPs for a CRF value: P and I/IDR from [`policy::quantisers`], and B two
/// coarser (unused: no B-frames). A paint-over's session QPs are those of `paint_over_crf`, so
/// its IDR is coded at [`policy::paint_over_qp`].
pub fn qp_for_crf(crf: u8) -> Qp {
    let q = policy::quantisers(crf);
    Qp {
        qp_inter_p: q.p.into(),
        qp_inter_b: (q.p + 2).min(MAX_QP).into(),
        qp_intra: q.idr.into(),
    }
}

/// The Nvenc backend, for [`StepError`] messages (`nvenc: ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nvenc;

impl Backend for Nvenc {
    const KIND: EncoderKind = EncoderKind::Nvenc;
}

/// Why NVENC could not be used: the failing step and a message for people.
pub type NvencError = StepError<Nvenc>;

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
struct Cuda {
    init: PfnCuInit,
    device_get_count: PfnCuDeviceGetCount,
    device_get: PfnCuDeviceGet,
    device_get_name: PfnCuDeviceGetName,
    ctx_create: PfnCuCtxCreate,
    ctx_destroy: PfnCuCtxDestroy,
    push: PfnCuCtxPushCurrent,
    pop: PfnCuCtxPopCurrent,
    error_name: Option<PfnCuGetErrorName>,
    _lib: Library,
}

impl Cuda {
    fn load() -> Result<Self, NvencError> {
        let lib = open_library(CUDA_LIB_ENV, CUDA_LIB_DEFAULT)?;
        // SAFETY: the types are the CUDA driver API's prototypes (see sys.rs).
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

    fn check(&self, call: &'static str, r: CuResult) -> Result<(), NvencError> {
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
    fn init_count(&self) -> Result<c_int, NvencError> {
        // SAFETY: plain driver calls with valid out-pointers.
        self.check("cuInit", unsafe { (self.init)(0) })?;
        let mut n: c_int = 0;
        self.check("cuDeviceGetCount", unsafe {
            (self.device_get_count)(&mut n)
        })?;
        Ok(n)
    }

    fn device(&self, ordinal: u32) -> Result<(CuDevice, String), NvencError> {
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
struct Api {
    fl: Box<FunctionList>,
    /// What the driver reported: (major, minor).
    driver_api: (u32, u32),
    cuda: Cuda,
    _nvenc: Library,
}

/// The driver's NvEncodeAPIGetMaxSupportedVersion value as (major, minor).
fn split_version(v: u32) -> (u32, u32) {
    (v >> 4, v & 0xf)
}

impl Api {
    fn load() -> Result<Self, NvencError> {
        let lib = open_library(NVENC_LIB_ENV, NVENC_LIB_DEFAULT)?;
        // SAFETY: prototypes from the NVENC header (see sys.rs).
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

/// An NVENC H.264 session; see the module documentation.
pub struct NvencEncoder {
    ctx: CuContext,
    enc: *mut c_void,
    input: *mut c_void,
    output: *mut c_void,
    buffer_fmt: u32,
    planes: YuvPlanes,
    init: Box<InitializeParams>,
    config: Box<Config>,
    qp: Qp,
    paint_over_qp: Qp,
    /// The session is currently reconfigured to the paint-over QP.
    paint_over_active: bool,
    /// nvEncReconfigureEncoder worked (or has not been tried).
    can_reconfigure: bool,
    frames: u64,
    cfg: NvencConfig,
    device: String,
    notes: Vec<String>,
    // Dropped last (the libraries themselves stay loaded, see `dylib::keep_loaded`).
    api: Api,
}

// SAFETY: the raw handles (CUDA context, NVENC session and its buffers) are only used through
// `&mut self`, never from two threads at once, and every use pushes the CUDA context onto the
// calling thread first (and pops it after), which is how the CUDA driver API lets a context
// move between threads. The function pointers and libraries are immutable after loading.
unsafe impl Send for NvencEncoder {}

/// Pops the CUDA context pushed by [`NvencEncoder::push`] when dropped.
struct Pushed(PfnCuCtxPopCurrent);

impl Drop for Pushed {
    fn drop(&mut self) {
        let mut ctx: CuContext = ptr::null_mut();
        // SAFETY: pops the context this guard pushed on this thread.
        unsafe { (self.0)(&mut ctx) };
    }
}

impl NvencEncoder {
    /// Loads the driver, creates a CUDA context and an NVENC H.264 session for `cfg`.
    pub fn open(cfg: &NvencConfig) -> Result<Self, NvencError> {
        let StreamParams {
            width,
            height,
            crf,
            paint_over_crf,
            // Always a constant quantiser here (see `qp_for_crf`).
            rate_control: _,
            fullcolor,
            fps,
            keyframe_interval_frames: _,
        } = cfg.params;
        if width == 0 || height == 0 || width > 8192 || height > 8192 {
            return Err(NvencError::new(
                "config",
                format!("picture {width}x{height} is outside 1..=8192"),
            ));
        }
        if crf > MAX_QP || paint_over_crf > MAX_QP {
            return Err(NvencError::new(
                "config",
                format!("crf {crf} / paint-over crf {paint_over_crf} outside 0..=51"),
            ));
        }
        if !policy::valid_fps(fps) {
            return Err(NvencError::new(
                "config",
                format!("fps {fps} outside (0, 1000]"),
            ));
        }
        let api = Api::load()?;
        let count = api.cuda.init_count()?;
        if count <= 0 {
            return Err(NvencError::new("cuDeviceGetCount", "no CUDA device"));
        }
        let (dev, device) = api.cuda.device(cfg.cuda_device)?;
        let mut ctx: CuContext = ptr::null_mut();
        // SAFETY: valid out-pointer; flags 0 (automatic scheduling).
        api.cuda.check("cuCtxCreate", unsafe {
            (api.cuda.ctx_create)(&mut ctx, 0, dev)
        })?;
        // cuCtxCreate made the context current here; it is pushed around each use instead.
        let mut popped: CuContext = ptr::null_mut();
        // SAFETY: pops the context just created on this thread.
        unsafe { (api.cuda.pop)(&mut popped) };

        // From here on `Drop` cleans up whatever exists.
        let layout = if fullcolor {
            ChromaLayout::I444
        } else {
            ChromaLayout::I420
        };
        let planes = YuvPlanes::new(width, height, layout)
            .map_err(|e| NvencError::new("config", e.to_string()))?;
        let mut this = NvencEncoder {
            ctx,
            enc: ptr::null_mut(),
            input: ptr::null_mut(),
            output: ptr::null_mut(),
            buffer_fmt: NV_ENC_BUFFER_FORMAT_NV12,
            planes,
            // SAFETY: all-zero is valid for these plain-data structs.
            init: unsafe { zeroed() },
            config: unsafe { zeroed() },
            qp: qp_for_crf(crf),
            paint_over_qp: qp_for_crf(paint_over_crf),
            paint_over_active: false,
            can_reconfigure: true,
            frames: 0,
            cfg: *cfg,
            device,
            notes: Vec::new(),
            api,
        };
        this.start()?;
        Ok(this)
    }

    /// The CUDA device the session runs on.
    pub fn device_name(&self) -> &str {
        &self.device
    }

    /// The driver's NVENC API version, (major, minor).
    pub fn driver_api(&self) -> (u32, u32) {
        self.api.driver_api
    }

    /// Deviations from what was asked (e.g. 4:2:0 instead of 4:4:4).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The chroma layout actually encoded.
    pub fn chroma(&self) -> ChromaLayout {
        self.planes.layout()
    }

    fn push(&self) -> Result<Pushed, NvencError> {
        let cuda = &self.api.cuda;
        // SAFETY: `ctx` is a live context created by this encoder.
        cuda.check("cuCtxPushCurrent", unsafe { (cuda.push)(self.ctx) })?;
        Ok(Pushed(cuda.pop))
    }

    fn last_error(&self) -> String {
        let Some(f) = self.api.fl.nv_enc_get_last_error_string else {
            return String::new();
        };
        if self.enc.is_null() {
            return String::new();
        }
        // SAFETY: `enc` is a live session; the driver returns a NUL-terminated string or null.
        let s = unsafe { f(self.enc) };
        if s.is_null() {
            return String::new();
        }
        // SAFETY: non-null, NUL-terminated.
        let s = unsafe { CStr::from_ptr(s) }
            .to_string_lossy()
            .trim()
            .to_string();
        if s.is_empty() {
            s
        } else {
            format!(": {s}")
        }
    }

    fn check(&self, call: &'static str, st: NvEncStatus) -> Result<(), NvencError> {
        if st == NV_ENC_SUCCESS {
            return Ok(());
        }
        Err(NvencError::new(
            call,
            format!(
                "{call} failed: {} ({st}){}",
                status_name(st),
                self.last_error()
            ),
        ))
    }

    /// Session, configuration and buffers.
    fn start(&mut self) -> Result<(), NvencError> {
        let fl = *self.api.fl;
        let _ctx = self.push()?;
        // SAFETY (whole function): every struct handed to the driver is zeroed, versioned and
        // outlives the call; function pointers were checked non-null in Api::load.
        let mut open = unsafe { zeroed::<OpenEncodeSessionExParams>() };
        open.version = NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER;
        open.device_type = NV_ENC_DEVICE_TYPE_CUDA;
        open.device = self.ctx;
        open.api_version = NVENCAPI_VERSION;
        let mut enc: *mut c_void = ptr::null_mut();
        let st = unsafe { fl.nv_enc_open_encode_session_ex.unwrap()(&mut *open, &mut enc) };
        if st != NV_ENC_SUCCESS || enc.is_null() {
            // A failed open may still hand back a session that must be destroyed.
            self.enc = enc;
            return Err(NvencError::new(
                "nvEncOpenEncodeSessionEx",
                format!(
                    "nvEncOpenEncodeSessionEx failed: {} ({st}){}",
                    status_name(st),
                    if st == 1 || st == 2 {
                        " (this GPU has no usable NVENC engine)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        self.enc = enc;

        let caps = |what: u32| -> Result<c_int, NvencError> {
            let mut p = unsafe { zeroed::<CapsParam>() };
            p.version = NV_ENC_CAPS_PARAM_VER;
            p.caps_to_query = what;
            let mut v: c_int = 0;
            let st = unsafe {
                fl.nv_enc_get_encode_caps.unwrap()(enc, NV_ENC_CODEC_H264_GUID, &mut *p, &mut v)
            };
            self.check("nvEncGetEncodeCaps", st).map(|()| v)
        };
        let StreamParams {
            width,
            height,
            fps,
            keyframe_interval_frames,
            ..
        } = self.cfg.params;
        let (max_w, max_h) = (caps(NV_ENC_CAPS_WIDTH_MAX)?, caps(NV_ENC_CAPS_HEIGHT_MAX)?);
        if (max_w > 0 && width as c_int > max_w) || (max_h > 0 && height as c_int > max_h) {
            return Err(NvencError::new(
                "nvEncGetEncodeCaps",
                format!("{width}x{height} is larger than this GPU's H.264 maximum {max_w}x{max_h}"),
            ));
        }
        let mut fullcolor = self.cfg.params.fullcolor;
        if fullcolor && caps(NV_ENC_CAPS_SUPPORT_YUV444_ENCODE)? == 0 {
            fullcolor = false;
            self.notes.push(format!(
                "nvenc: {} cannot encode H.264 4:4:4; encoding 4:2:0",
                self.device
            ));
            self.planes = YuvPlanes::new(width, height, ChromaLayout::I420)
                .map_err(|e| NvencError::new("config", e.to_string()))?;
        }
        self.buffer_fmt = if fullcolor {
            NV_ENC_BUFFER_FORMAT_YUV444
        } else {
            NV_ENC_BUFFER_FORMAT_NV12
        };

        let preset = NV_ENC_PRESET_GUIDS[self.cfg.preset.index()];
        let mut pc = unsafe { zeroed::<PresetConfig>() };
        pc.version = NV_ENC_PRESET_CONFIG_VER;
        pc.preset_cfg.version = NV_ENC_CONFIG_VER;
        let st = unsafe {
            fl.nv_enc_get_encode_preset_config_ex.unwrap()(
                enc,
                NV_ENC_CODEC_H264_GUID,
                preset,
                NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY,
                &mut *pc,
            )
        };
        self.check("nvEncGetEncodePresetConfigEx", st)?;
        *self.config = pc.preset_cfg;
        // The driver places the interval's IDRs (`enablePTD`); forced ones are asked for per
        // picture.
        let gop = policy::gop_length(keyframe_interval_frames, NVENC_INFINITE_GOPLENGTH);
        apply_config(&mut self.config, gop, self.qp, fullcolor);

        let (fps_num, fps_den) = policy::fps_fraction(fps);
        let init = &mut *self.init;
        init.version = NV_ENC_INITIALIZE_PARAMS_VER;
        init.encode_guid = NV_ENC_CODEC_H264_GUID;
        init.preset_guid = preset;
        init.encode_width = width;
        init.encode_height = height;
        init.dar_width = width;
        init.dar_height = height;
        init.frame_rate_num = fps_num;
        init.frame_rate_den = fps_den;
        init.enable_encode_async = 0;
        init.enable_ptd = 1;
        init.encode_config = &mut *self.config;
        init.tuning_info = NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY;
        let st = unsafe { fl.nv_enc_initialize_encoder.unwrap()(enc, init) };
        self.check("nvEncInitializeEncoder", st)?;

        let mut cib = unsafe { zeroed::<CreateInputBuffer>() };
        cib.version = NV_ENC_CREATE_INPUT_BUFFER_VER;
        cib.width = width;
        cib.height = height;
        cib.buffer_fmt = self.buffer_fmt;
        let st = unsafe { fl.nv_enc_create_input_buffer.unwrap()(enc, &mut *cib) };
        self.check("nvEncCreateInputBuffer", st)?;
        self.input = cib.input_buffer;

        let mut cbb = unsafe { zeroed::<CreateBitstreamBuffer>() };
        cbb.version = NV_ENC_CREATE_BITSTREAM_BUFFER_VER;
        let st = unsafe { fl.nv_enc_create_bitstream_buffer.unwrap()(enc, &mut *cbb) };
        self.check("nvEncCreateBitstreamBuffer", st)?;
        self.output = cbb.bitstream_buffer;
        if self.input.is_null() || self.output.is_null() {
            return Err(NvencError::new(
                "nvEncCreateBitstreamBuffer",
                "the driver returned a null buffer",
            ));
        }
        Ok(())
    }

    /// Switches the session's constant QPs (forcing the next picture to an IDR if asked).
    fn reconfigure(&mut self, qp: Qp, force_idr: bool) -> Result<(), NvencError> {
        let Some(f) = self.api.fl.nv_enc_reconfigure_encoder else {
            return Err(NvencError::new(
                "nvEncReconfigureEncoder",
                "the driver has no nvEncReconfigureEncoder",
            ));
        };
        self.config.rc_params.const_qp = qp;
        // SAFETY: zeroed plain data, versioned; `init.encode_config` points at `self.config`.
        let mut rp = unsafe { zeroed::<ReconfigureParams>() };
        rp.version = NV_ENC_RECONFIGURE_PARAMS_VER;
        rp.re_init_encode_params = *self.init;
        rp.re_init_encode_params.encode_config = &mut *self.config;
        rp.flags = if force_idr { RECONFIGURE_FORCE_IDR } else { 0 };
        // SAFETY: live session, valid struct.
        let st = unsafe { f(self.enc, &mut *rp) };
        self.check("nvEncReconfigureEncoder", st)
    }

    fn encode_frame(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, NvencError> {
        self.planes
            .convert(image)
            .map_err(|e| NvencError::new("convert", e.to_string()))?;
        let fl = *self.api.fl;
        let _ctx = self.push()?;
        let StreamParams { width, height, .. } = self.cfg.params;
        let (w, h) = (width as usize, height as usize);

        // Upload.
        // SAFETY: zeroed + versioned struct; the input buffer belongs to this session.
        let mut lock = unsafe { zeroed::<LockInputBuffer>() };
        lock.version = NV_ENC_LOCK_INPUT_BUFFER_VER;
        lock.input_buffer = self.input;
        let st = unsafe { fl.nv_enc_lock_input_buffer.unwrap()(self.enc, &mut *lock) };
        self.check("nvEncLockInputBuffer", st)?;
        let pitch = lock.pitch as usize;
        let upload = if lock.buffer_data_ptr.is_null() || pitch < w {
            Err(NvencError::new(
                "nvEncLockInputBuffer",
                format!("the driver returned a bad buffer (pitch {pitch} for width {w})"),
            ))
        } else {
            let len = pitch
                * h
                * if self.buffer_fmt == NV_ENC_BUFFER_FORMAT_NV12 {
                    3
                } else {
                    6
                }
                / 2;
            // SAFETY: a locked NV12 input buffer holds `pitch * height * 3/2` bytes, a YUV444
            // one `pitch * height * 3`, valid until unlocked below; nothing else aliases it.
            let dst =
                unsafe { std::slice::from_raw_parts_mut(lock.buffer_data_ptr.cast::<u8>(), len) };
            if self.buffer_fmt == NV_ENC_BUFFER_FORMAT_NV12 {
                write_nv12(&self.planes, dst, (0, pitch), (pitch * h, pitch));
            } else {
                write_yuv444(&self.planes, dst, pitch);
            }
            Ok(())
        };
        let st = unsafe { fl.nv_enc_unlock_input_buffer.unwrap()(self.enc, self.input) };
        upload?;
        self.check("nvEncUnlockInputBuffer", st)?;

        // A paint-over is an IDR at the paint-over QP.
        let paint = request.paint_over && self.paint_over_qp != self.qp && self.can_reconfigure;
        if paint != self.paint_over_active {
            let qp = if paint { self.paint_over_qp } else { self.qp };
            match self.reconfigure(qp, paint) {
                Ok(()) => self.paint_over_active = paint,
                Err(e) => {
                    self.can_reconfigure = false;
                    self.paint_over_active = false;
                    self.notes.push(format!(
                        "{e}; paint-overs are plain IDRs at the normal QP from now on"
                    ));
                    // The session keeps whatever QP it had; put it back if it was raised.
                    if !paint {
                        self.config.rc_params.const_qp = self.qp;
                    }
                }
            }
        }

        let key = policy::forced_idr(request, self.frames == 0);
        // SAFETY: zeroed + versioned; buffers belong to this session.
        let mut pic = unsafe { zeroed::<PicParams>() };
        pic.version = NV_ENC_PIC_PARAMS_VER;
        pic.input_width = width;
        pic.input_height = height;
        pic.input_pitch = pitch as u32;
        pic.encode_pic_flags = if key {
            NV_ENC_PIC_FLAG_FORCEIDR | NV_ENC_PIC_FLAG_OUTPUT_SPSPPS
        } else {
            0
        };
        pic.frame_idx = self.frames as u32;
        pic.input_time_stamp = self.frames;
        pic.input_buffer = self.input;
        pic.output_bitstream = self.output;
        pic.buffer_fmt = self.buffer_fmt;
        pic.picture_struct = NV_ENC_PIC_STRUCT_FRAME;
        let st = unsafe { fl.nv_enc_encode_picture.unwrap()(self.enc, &mut *pic) };
        self.frames += 1;
        if st == NV_ENC_ERR_NEED_MORE_INPUT {
            return Ok(EncodeOutcome {
                key: false,
                produced: false,
            });
        }
        self.check("nvEncEncodePicture", st)?;

        // SAFETY: zeroed + versioned; the bitstream buffer belongs to this session.
        let mut lb = unsafe { zeroed::<LockBitstream>() };
        lb.version = NV_ENC_LOCK_BITSTREAM_VER;
        lb.output_bitstream = self.output;
        let st = unsafe { fl.nv_enc_lock_bitstream.unwrap()(self.enc, &mut *lb) };
        self.check("nvEncLockBitstream", st)?;
        let size = lb.bitstream_size_in_bytes as usize;
        if size > 0 && !lb.bitstream_buffer_ptr.is_null() {
            // SAFETY: the locked bitstream holds `bitstreamSizeInBytes` bytes until unlocked.
            out.extend_from_slice(unsafe {
                std::slice::from_raw_parts(lb.bitstream_buffer_ptr.cast::<u8>(), size)
            });
        }
        let st = unsafe { fl.nv_enc_unlock_bitstream.unwrap()(self.enc, self.output) };
        self.check("nvEncUnlockBitstream", st)?;
        Ok(EncodeOutcome {
            key: lb.picture_type == NV_ENC_PIC_TYPE_IDR,
            produced: size > 0,
        })
    }
}

/// The encoder settings applied on top of the preset (see the module documentation).
fn apply_config(c: &mut Config, gop: u32, qp: Qp, fullcolor: bool) {
    c.version = NV_ENC_CONFIG_VER;
    c.profile_guid = if fullcolor {
        NV_ENC_H264_PROFILE_HIGH_444_GUID
    } else {
        NV_ENC_H264_PROFILE_HIGH_GUID
    };
    c.gop_length = gop;
    c.frame_interval_p = 1;
    let rc = &mut c.rc_params;
    rc.rate_control_mode = NV_ENC_PARAMS_RC_CONSTQP;
    rc.const_qp = qp;
    rc.multi_pass = NV_ENC_MULTI_PASS_DISABLED;
    rc.flags &= !(RC_ENABLE_AQ
        | RC_ENABLE_TEMPORAL_AQ
        | RC_ENABLE_LOOKAHEAD
        | RC_ENABLE_MIN_QP
        | RC_ENABLE_MAX_QP
        | RC_ENABLE_INITIAL_RC_QP);
    rc.flags |= RC_ZERO_REORDER_DELAY;
    rc.average_bit_rate = 0;
    rc.max_bit_rate = 0;
    // SAFETY: the H.264 member is the active one for the H.264 codec GUID, and every bit
    // pattern is a valid ConfigH264.
    let h = unsafe { &mut c.encode_codec_config.h264 };
    h.idr_period = gop;
    h.flags |= H264_REPEAT_SPSPPS;
    // No access unit delimiters (x264 writes none either), no intra refresh, no LTR.
    h.flags &=
        !(H264_OUTPUT_AUD | H264_DISABLE_SPSPPS | H264_ENABLE_INTRA_REFRESH | H264_ENABLE_LTR);
    h.chroma_format_idc = if fullcolor { 3 } else { 1 };
    let vui = &mut h.h264_vui_parameters;
    vui.video_signal_type_present_flag = 1;
    vui.video_format = NV_ENC_VUI_VIDEO_FORMAT_UNSPECIFIED;
    vui.video_full_range_flag = 0;
    vui.colour_description_present_flag = 1;
    vui.colour_primaries = NV_ENC_VUI_COLOR_PRIMARIES_BT709;
    vui.transfer_characteristics = NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT709;
    vui.colour_matrix = NV_ENC_VUI_MATRIX_COEFFS_BT709;
}

/// Writes I444 planes as three consecutive planes of `height` rows, `pitch` bytes apart.
fn write_yuv444(planes: &YuvPlanes, dst: &mut [u8], pitch: usize) {
    let (w, h) = (planes.width() as usize, planes.height() as usize);
    for (i, plane) in [planes.y(), planes.u(), planes.v()].into_iter().enumerate() {
        let base = i * pitch * h;
        for (row, src) in plane.chunks_exact(w).enumerate() {
            dst[base + row * pitch..base + row * pitch + w].copy_from_slice(src);
        }
    }
}

impl Drop for NvencEncoder {
    fn drop(&mut self) {
        let fl = *self.api.fl;
        let cuda = &self.api.cuda;
        // SAFETY: teardown of handles this encoder created, each exactly once, with the
        // context current; null handles were never created.
        unsafe {
            if (cuda.push)(self.ctx) == CUDA_SUCCESS {
                if !self.enc.is_null() {
                    if !self.input.is_null() && !self.output.is_null() && self.frames > 0 {
                        // End of stream: lets the driver finish anything in flight.
                        let mut eos = zeroed::<PicParams>();
                        eos.version = NV_ENC_PIC_PARAMS_VER;
                        eos.encode_pic_flags = NV_ENC_PIC_FLAG_EOS;
                        fl.nv_enc_encode_picture.unwrap()(self.enc, &mut *eos);
                    }
                    if !self.input.is_null() {
                        fl.nv_enc_destroy_input_buffer.unwrap()(self.enc, self.input);
                    }
                    if !self.output.is_null() {
                        fl.nv_enc_destroy_bitstream_buffer.unwrap()(self.enc, self.output);
                    }
                    fl.nv_enc_destroy_encoder.unwrap()(self.enc);
                }
                let mut popped: CuContext = ptr::null_mut();
                (cuda.pop)(&mut popped);
            }
            (cuda.ctx_destroy)(self.ctx);
        }
    }
}

impl Encoder for NvencEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        encode_or_truncate(out, |out| self.encode_frame(image, request, out))
    }

    fn kind(&self) -> EncoderKind {
        EncoderKind::Nvenc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crf_maps_to_constant_qps() {
        assert_eq!(
            qp_for_crf(23),
            Qp {
                qp_inter_p: 23,
                qp_inter_b: 25,
                qp_intra: 20
            }
        );
        assert_eq!(qp_for_crf(0).qp_intra, 0);
        assert_eq!(qp_for_crf(51).qp_inter_b, 51);
        assert_eq!(qp_for_crf(200).qp_inter_p, 51);
    }

    #[test]
    fn version_split() {
        assert_eq!(split_version(0xc2), (12, 2));
        assert_eq!(split_version(0x90), (9, 0));
    }

    #[test]
    fn config_overrides_the_preset() {
        // SAFETY: all-zero is valid.
        let mut c = unsafe { zeroed::<Config>() };
        c.gop_length = 250;
        c.frame_interval_p = 3;
        c.rc_params.rate_control_mode = 2;
        c.rc_params.flags = RC_ENABLE_AQ | RC_ENABLE_LOOKAHEAD;
        c.rc_params.multi_pass = 1;
        c.encode_codec_config.h264.idr_period = 250;
        apply_config(&mut c, NVENC_INFINITE_GOPLENGTH, qp_for_crf(23), true);
        assert_eq!(c.version, NV_ENC_CONFIG_VER);
        assert_eq!(c.profile_guid, NV_ENC_H264_PROFILE_HIGH_444_GUID);
        assert_eq!(c.gop_length, NVENC_INFINITE_GOPLENGTH);
        assert_eq!(c.frame_interval_p, 1);
        assert_eq!(c.rc_params.rate_control_mode, NV_ENC_PARAMS_RC_CONSTQP);
        assert_eq!(c.rc_params.flags, RC_ZERO_REORDER_DELAY);
        assert_eq!(c.rc_params.multi_pass, 0);
        // SAFETY: H.264 member.
        let h = unsafe { c.encode_codec_config.h264 };
        assert_eq!(h.idr_period, NVENC_INFINITE_GOPLENGTH);
        assert_ne!(h.flags & H264_REPEAT_SPSPPS, 0);
        assert_eq!(h.chroma_format_idc, 3);
        assert_eq!(h.h264_vui_parameters.colour_matrix, 1);
        assert_eq!(h.h264_vui_parameters.video_full_range_flag, 0);
    }

    fn planes_of(w: u32, h: u32, layout: ChromaLayout) -> YuvPlanes {
        let mut px = vec![0u8; (w * h * 4) as usize];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            p.copy_from_slice(&[(x * 37) as u8, (y * 11) as u8, (x * y) as u8, 0]);
        }
        let mut planes = YuvPlanes::new(w, h, layout).unwrap();
        planes.convert(BgrxImage::packed(&px, w, h)).unwrap();
        planes
    }

    #[test]
    fn yuv444_upload_writes_three_planes_at_pitch() {
        let (w, h, pitch) = (5u32, 3u32, 8usize);
        let planes = planes_of(w, h, ChromaLayout::I444);
        let mut dst = vec![0u8; pitch * h as usize * 3];
        write_yuv444(&planes, &mut dst, pitch);
        for (i, plane) in [planes.y(), planes.u(), planes.v()].into_iter().enumerate() {
            for y in 0..h as usize {
                let at = i * pitch * 3 + y * pitch;
                assert_eq!(&dst[at..at + 5], &plane[y * 5..y * 5 + 5]);
            }
        }
    }

    #[test]
    fn bad_configs_are_refused_before_loading_anything() {
        let mut cfg = NvencConfig {
            params: StreamParams {
                width: 0,
                height: 64,
                crf: 23,
                paint_over_crf: 18,
                rate_control: Default::default(),
                fullcolor: false,
                fps: 30.0,
                keyframe_interval_frames: 0,
            },
            preset: NvencPreset::P4,
            cuda_device: 0,
        };
        let e = NvencEncoder::open(&cfg).err().unwrap();
        assert_eq!(e.step(), "config");
        cfg.params.width = 64;
        cfg.params.crf = 60;
        let e = NvencEncoder::open(&cfg).err().unwrap();
        assert_eq!(e.step(), "config");
    }
}
