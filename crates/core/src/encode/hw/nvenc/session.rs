//! The encoder type: opening the CUDA context and NVENC session with its buffers, and teardown.

use std::ffi::{c_int, c_void, CStr};
use std::ptr;

use super::config::{apply_config, qp_for_crf, NvencConfig};
use super::driver::Api;
use super::sys::*;
use super::NvencError;
use crate::encode::colour::{ChromaLayout, YuvPlanes};
use crate::encode::h264::policy::{self, MAX_QP};
use crate::encode::hw::dylib::zeroed;
use crate::encode::StreamParams;

/// An NVENC H.264 session; see the module documentation.
pub struct NvencEncoder {
    ctx: CuContext,
    pub(super) enc: *mut c_void,
    pub(super) input: *mut c_void,
    pub(super) output: *mut c_void,
    pub(super) buffer_fmt: u32,
    pub(super) planes: YuvPlanes,
    init: Box<InitializeParams>,
    pub(super) config: Box<Config>,
    pub(super) qp: Qp,
    pub(super) paint_over_qp: Qp,
    /// The session is currently reconfigured to the paint-over QP.
    pub(super) paint_over_active: bool,
    /// nvEncReconfigureEncoder worked (or has not been tried).
    pub(super) can_reconfigure: bool,
    pub(super) frames: u64,
    pub(super) cfg: NvencConfig,
    device: String,
    pub(super) notes: Vec<String>,
    // Dropped last (the libraries themselves stay loaded, see `dylib::keep_loaded`).
    pub(super) api: Api,
}

// SAFETY: the raw handles (CUDA context, NVENC session and its buffers) are only used through
// `&mut self`, never from two threads at once, and every use pushes the CUDA context onto the
// calling thread first (and pops it after), which is how the CUDA driver API lets a context
// move between threads. The function pointers and libraries are immutable after loading.
unsafe impl Send for NvencEncoder {}

/// Pops the CUDA context pushed by [`NvencEncoder::push`] when dropped.
pub(super) struct Pushed(PfnCuCtxPopCurrent);

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

    pub(super) fn push(&self) -> Result<Pushed, NvencError> {
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

    pub(super) fn check(&self, call: &'static str, st: NvEncStatus) -> Result<(), NvencError> {
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
    pub(super) fn reconfigure(&mut self, qp: Qp, force_idr: bool) -> Result<(), NvencError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::hw::nvenc::NvencPreset;

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
