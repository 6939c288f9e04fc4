//! Which H.264 encoder a full-frame stream gets (NVENC, VA-API or x264), what this host offers,
//! and the wrapper that keeps a stream alive when a hardware encoder fails.
//!
//! Selection follows pixelflux's settings:
//! * `use_cpu` → x264, no hardware library is even opened;
//! * `vaapi_node >= 0` → VA-API on `/dev/dri/renderD{128 + vaapi_node}` (NVENC is not tried);
//! * `vaapi_node == -1` → NVENC when `libnvidia-encode.so.1` can be opened;
//! * anything that fails → x264 (`threads` 0), and [`StreamInfo::declined`] says why.
//!
//! Hardware encoders are meant for full-frame mode (one stream): consumer NVIDIA GPUs allow only
//! a few concurrent NVENC sessions and every VA-API context costs GPU memory, so striped mode
//! keeps one single-threaded x264 per stripe.
//!
//! A hardware encoder is wrapped in a [`FallbackEncoder`]: if it fails mid-stream, the stream
//! continues on x264 starting with an IDR (so a decoder never sees a broken reference chain),
//! and the reason is kept ([`FallbackEncoder::fallback_reason`], and in the shared
//! [`StreamInfo`]).

use std::sync::{Arc, Mutex};

pub mod nvenc;
pub mod vaapi;

use self::nvenc::{NvencConfig, NvencEncoder, NvencPreset, NvencProbe};
use self::vaapi::{VaapiConfig, VaapiEncoder, VaapiProbe};
use crate::encode::h264::x264::{X264Config, X264Encoder};
use crate::encode::{BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, StreamParams};

/// The encoder a request leads to (before anything is opened).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HardwareChoice {
    /// x264; `reason` says why no hardware encoder is tried (`None`: nothing to say).
    Software { reason: Option<String> },
    /// NVENC (the driver library is present).
    Nvenc,
    /// VA-API on `/dev/dri/renderD{128 + node}`.
    Vaapi { node: u32 },
}

/// What one full-frame H.264 stream asks for (mirrors the capture settings).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HwRequest {
    /// `fullcolor`: NVENC honours it where the GPU can; VA-API encodes 4:2:0.
    pub params: StreamParams,
    /// `vaapiRenderNodeIndex`: -1 = no VA-API (NVENC when present), 0..=63 = that render node.
    pub vaapi_node: i32,
    /// `useCpu`: never touch hardware.
    pub use_cpu: bool,
}

impl HwRequest {
    /// The x264 configuration of this request (also what a fallback opens).
    pub fn x264_config(&self) -> X264Config {
        X264Config {
            params: self.params,
            threads: 0,
        }
    }
}

/// What a stream ended up with; meant for users (`streamInfo()` in JavaScript).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    /// `x264`, `nvenc` or `vaapi`.
    pub encoder: &'static str,
    /// Whether `encoder` is a hardware encoder.
    pub hardware: bool,
    /// The GPU (NVENC: CUDA device name; VA-API: render node and driver).
    pub device: Option<String>,
    /// Why hardware was not used, or stopped being used, in order (empty when nothing failed).
    pub declined: Vec<String>,
    /// Deviations from the request by the encoder in use (e.g. 4:2:0 instead of 4:4:4).
    pub notes: Vec<String>,
}

impl StreamInfo {
    /// A hardware encoder that opened on `device`.
    fn hardware(encoder: &'static str, device: &str, notes: &[String]) -> Self {
        Self {
            encoder,
            hardware: true,
            device: Some(device.to_string()),
            declined: Vec::new(),
            notes: notes.to_vec(),
        }
    }

    /// A software encoder (`x264`, `jpeg`), with the reasons hardware was not used.
    pub fn software(encoder: &'static str, declined: Vec<String>) -> Self {
        StreamInfo {
            encoder,
            hardware: false,
            device: None,
            declined,
            notes: Vec::new(),
        }
    }
}

/// A [`StreamInfo`] that a [`FallbackEncoder`] keeps up to date.
pub type SharedStreamInfo = Arc<Mutex<StreamInfo>>;

/// The choice for `vaapi_node` / `use_cpu`, given whether the NVENC driver library opens
/// (`Err` carries the reason it does not). Pure: see [`choose`] for the host's answer.
pub fn choose_with(
    vaapi_node: i32,
    use_cpu: bool,
    nvenc_present: Result<(), String>,
) -> HardwareChoice {
    if use_cpu {
        return HardwareChoice::Software {
            reason: Some("useCpu is set".into()),
        };
    }
    if vaapi_node >= 0 {
        return HardwareChoice::Vaapi {
            node: vaapi_node as u32,
        };
    }
    match nvenc_present {
        Ok(()) => HardwareChoice::Nvenc,
        Err(reason) => HardwareChoice::Software {
            reason: Some(reason),
        },
    }
}

/// The choice this host makes for `vaapi_node` / `use_cpu` (opens the NVENC library to see
/// whether it is there, nothing more).
pub fn choose(vaapi_node: i32, use_cpu: bool) -> HardwareChoice {
    // Only look for the driver when its answer matters.
    let present = if use_cpu || vaapi_node >= 0 {
        Ok(())
    } else {
        nvenc::driver_present().map_err(|e| e.to_string())
    };
    choose_with(vaapi_node, use_cpu, present)
}

/// Opens the H.264 encoder for one full-frame stream; see the module documentation. Hardware
/// failures never fail this call: they end in x264 with the reason in
/// [`StreamInfo::declined`]. An error means x264 itself refused the request (e.g. odd sizes in
/// 4:2:0), which no encoder could serve.
pub fn open_h264(req: &HwRequest) -> Result<(Box<dyn Encoder>, StreamInfo), EncodeError> {
    let (enc, info) = open_h264_shared(req)?;
    let snapshot = info.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((enc, snapshot))
}

/// [`open_h264`], with the [`StreamInfo`] shared with the encoder so that a later fallback to
/// x264 shows up in it.
pub fn open_h264_shared(
    req: &HwRequest,
) -> Result<(Box<dyn Encoder>, SharedStreamInfo), EncodeError> {
    let mut declined = Vec::new();
    let hardware: Option<(Box<dyn Encoder>, StreamInfo)> = match choose(req.vaapi_node, req.use_cpu)
    {
        HardwareChoice::Software { reason } => {
            // `useCpu` is a request, not a failure.
            declined.extend(reason.filter(|_| !req.use_cpu));
            None
        }
        HardwareChoice::Nvenc => match NvencEncoder::open(&NvencConfig {
            params: req.params,
            preset: NvencPreset::default(),
            cuda_device: 0,
        }) {
            Ok(enc) => {
                let info = StreamInfo::hardware("nvenc", enc.device_name(), enc.notes());
                Some((Box::new(enc), info))
            }
            Err(e) => {
                declined.push(e.to_string());
                None
            }
        },
        HardwareChoice::Vaapi { node } => match VaapiEncoder::open(&VaapiConfig {
            params: req.params,
            node,
        }) {
            Ok(enc) => {
                let info = StreamInfo::hardware("vaapi", enc.device(), enc.notes());
                Some((Box::new(enc), info))
            }
            Err(e) => {
                declined.push(e.to_string());
                None
            }
        },
    };
    match hardware {
        Some((enc, info)) => {
            let shared = Arc::new(Mutex::new(info));
            let wrapped = FallbackEncoder::new(enc, req.x264_config(), shared.clone());
            Ok((Box::new(wrapped), shared))
        }
        None => {
            let enc = X264Encoder::new(req.x264_config())?;
            Ok((
                Box::new(enc),
                Arc::new(Mutex::new(StreamInfo::software("x264", declined))),
            ))
        }
    }
}

/// A hardware encoder that turns into x264 (once, for good) when it fails.
///
/// The failed call is retried on x264 as an IDR, so the picture is not lost and the stream
/// stays decodable; the hardware encoder is dropped (torn down) at that moment.
pub struct FallbackEncoder {
    primary: Option<Box<dyn Encoder>>,
    software: Option<X264Encoder>,
    x264: X264Config,
    reason: Option<String>,
    info: SharedStreamInfo,
}

impl FallbackEncoder {
    /// Wraps `primary`; `x264` is what to open on failure; `info` is updated then.
    pub fn new(primary: Box<dyn Encoder>, x264: X264Config, info: SharedStreamInfo) -> Self {
        FallbackEncoder {
            primary: Some(primary),
            software: None,
            x264,
            reason: None,
            info,
        }
    }

    /// Why the stream moved to x264 (`None` while the hardware encoder runs).
    pub fn fallback_reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The stream information this encoder keeps current.
    pub fn info(&self) -> SharedStreamInfo {
        self.info.clone()
    }
}

impl Encoder for FallbackEncoder {
    fn encode(
        &mut self,
        image: BgrxImage<'_>,
        request: EncodeRequest,
        out: &mut Vec<u8>,
    ) -> Result<EncodeOutcome, EncodeError> {
        let start = out.len();
        let mut switched = false;
        if let Some(primary) = self.primary.as_mut() {
            match primary.encode(image, request, out) {
                Ok(outcome) => return Ok(outcome),
                Err(e) => {
                    out.truncate(start);
                    let reason = format!(
                        "{} failed mid-stream ({e}); switched to x264",
                        primary.name()
                    );
                    // Tear the hardware session down now.
                    self.primary = None;
                    let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
                    info.encoder = "x264";
                    info.hardware = false;
                    info.device = None;
                    info.notes.clear();
                    info.declined.push(reason.clone());
                    self.reason = Some(reason);
                    switched = true;
                }
            }
        }
        if self.software.is_none() {
            self.software = Some(X264Encoder::new(self.x264)?);
            switched = true;
        }
        let sw = self.software.as_mut().expect("opened above");
        sw.encode(
            image,
            EncodeRequest {
                force_key: request.force_key || switched,
                ..request
            },
            out,
        )
    }

    fn name(&self) -> &'static str {
        match &self.primary {
            Some(p) => p.name(),
            None => "x264",
        }
    }
}

/// What this host offers for hardware H.264, without starting a capture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareReport {
    pub nvenc: NvencProbe,
    pub vaapi: VaapiProbe,
    /// What the default settings (`vaapiRenderNodeIndex: -1`, `useCpu: false`) would pick.
    pub default_choice: HardwareChoice,
}

impl HardwareReport {
    /// One human-readable line per thing that is missing, e.g.
    /// `nvenc: libnvidia-encode.so.1 not found`.
    pub fn reasons(&self) -> Vec<String> {
        self.nvenc
            .reason
            .iter()
            .cloned()
            .chain(self.vaapi.reason.iter().cloned())
            .chain(
                self.vaapi
                    .nodes
                    .iter()
                    .filter_map(|n| n.error.as_ref().map(|e| format!("vaapi: {}: {e}", n.path))),
            )
            .collect()
    }
}

/// Probes NVENC (libraries, API version, CUDA devices) and VA-API (render nodes, libva, per
/// node driver and H.264 encode support). Opens no encode session.
pub fn probe() -> HardwareReport {
    let nvenc = nvenc::probe();
    let vaapi = vaapi::probe();
    let default_choice = choose(-1, false);
    HardwareReport {
        nvenc,
        vaapi,
        default_choice,
    }
}

/// A hardware backend, named in its error messages.
pub trait Backend {
    const NAME: &'static str;
}

/// Why a hardware encoder could not be used: the step that failed (`load`, `cuInit`,
/// `vaInitialize`, ...) and a message for people, shown as `<backend>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepError<B: Backend> {
    step: &'static str,
    message: String,
    backend: std::marker::PhantomData<B>,
}

impl<B: Backend> StepError<B> {
    pub(crate) fn new(step: &'static str, message: impl Into<String>) -> Self {
        Self {
            step,
            message: message.into(),
            backend: std::marker::PhantomData,
        }
    }

    /// The API call (or `load` / `config` / `device` / `profile`) that failed.
    pub fn step(&self) -> &'static str {
        self.step
    }
}

impl<B: Backend> std::fmt::Display for StepError<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", B::NAME, self.message)
    }
}

impl<B: Backend + std::fmt::Debug> std::error::Error for StepError<B> {}

impl<B: Backend> From<StepError<B>> for EncodeError {
    fn from(e: StepError<B>) -> Self {
        EncodeError::H264(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::nal_unit_types;

    fn request() -> HwRequest {
        HwRequest {
            params: StreamParams {
                width: 320,
                height: 64,
                crf: 23,
                paint_over_crf: 18,
                rate_control: Default::default(),
                fullcolor: false,
                fps: 30.0,
                keyframe_interval_frames: 0,
            },
            vaapi_node: -1,
            use_cpu: false,
        }
    }

    fn frame(shift: u32) -> Vec<u8> {
        let (w, h) = (320u32, 64u32);
        let mut px = vec![0u8; (w * h * 4) as usize];
        for (i, p) in px.chunks_exact_mut(4).enumerate() {
            let (x, y) = (i as u32 % w, i as u32 / w);
            p.copy_from_slice(&[((x + shift) * 3) as u8, (y * 4) as u8, 128, 0]);
        }
        px
    }

    fn img(px: &[u8]) -> BgrxImage<'_> {
        BgrxImage::packed(px, 320, 64)
    }

    #[test]
    fn choice_follows_the_settings() {
        let missing = || Err("nvenc: libnvidia-encode.so.1 not found".to_string());
        assert_eq!(
            choose_with(-1, true, Ok(())),
            HardwareChoice::Software {
                reason: Some("useCpu is set".into())
            }
        );
        // useCpu wins over an explicit node.
        assert!(matches!(
            choose_with(3, true, Ok(())),
            HardwareChoice::Software { .. }
        ));
        assert_eq!(
            choose_with(2, false, missing()),
            HardwareChoice::Vaapi { node: 2 }
        );
        assert_eq!(choose_with(-1, false, Ok(())), HardwareChoice::Nvenc);
        assert_eq!(
            choose_with(-1, false, missing()),
            HardwareChoice::Software {
                reason: Some("nvenc: libnvidia-encode.so.1 not found".into())
            }
        );
    }

    #[test]
    fn use_cpu_opens_x264_without_declining_anything() {
        let (mut enc, info) = open_h264(&HwRequest {
            use_cpu: true,
            ..request()
        })
        .unwrap();
        assert_eq!(enc.name(), "x264");
        assert_eq!(info, StreamInfo::software("x264", Vec::new()));
        let mut out = Vec::new();
        let r = enc
            .encode(img(&frame(0)), EncodeRequest::default(), &mut out)
            .unwrap();
        assert!(r.key && r.produced);
    }

    #[test]
    fn missing_vaapi_node_falls_back_with_a_reason() {
        // Node 63 = /dev/dri/renderD191, which no test machine has.
        let (enc, info) = open_h264(&HwRequest {
            vaapi_node: 63,
            ..request()
        })
        .unwrap();
        assert_eq!(enc.name(), "x264");
        assert_eq!(info.encoder, "x264");
        assert!(!info.hardware);
        assert_eq!(info.declined.len(), 1, "{info:?}");
        assert!(
            info.declined[0].starts_with("vaapi: ") && info.declined[0].contains("renderD191"),
            "{info:?}"
        );
    }

    #[test]
    fn default_request_on_a_host_without_nvenc_is_x264_with_the_reason() {
        if nvenc::driver_present().is_ok() {
            eprintln!("skipped: this host has an NVENC driver");
            return;
        }
        let (enc, info) = open_h264(&request()).unwrap();
        assert_eq!(enc.name(), "x264");
        assert_eq!(
            info.declined,
            [format!("nvenc: {} not found", nvenc::NVENC_LIB_DEFAULT)]
        );
        let report = probe();
        assert!(!report.nvenc.available);
        assert!(matches!(
            report.default_choice,
            HardwareChoice::Software { .. }
        ));
        assert!(report
            .reasons()
            .iter()
            .any(|r| r.contains("libnvidia-encode.so.1 not found")));
    }

    #[test]
    fn x264_refusing_the_request_is_an_error() {
        let mut req = HwRequest {
            use_cpu: true,
            ..request()
        };
        req.params.width = 321;
        assert!(open_h264(&req).is_err());
    }

    /// Encodes `ok_frames` pictures (as fake NAL units) and then fails.
    struct Flaky {
        ok_frames: usize,
        calls: usize,
        dropped: Arc<Mutex<bool>>,
    }

    impl Encoder for Flaky {
        fn encode(
            &mut self,
            _image: BgrxImage<'_>,
            request: EncodeRequest,
            out: &mut Vec<u8>,
        ) -> Result<EncodeOutcome, EncodeError> {
            self.calls += 1;
            if self.calls > self.ok_frames {
                out.extend_from_slice(b"partial garbage");
                return Err(EncodeError::H264("fake: device lost".into()));
            }
            out.extend_from_slice(&[0, 0, 0, 1, 0x09, 0xf0]);
            Ok(EncodeOutcome {
                key: request.force_key,
                produced: true,
            })
        }

        fn name(&self) -> &'static str {
            "nvenc"
        }
    }

    impl Drop for Flaky {
        fn drop(&mut self) {
            *self.dropped.lock().unwrap() = true;
        }
    }

    #[test]
    fn mid_stream_failure_switches_to_x264_with_an_idr() {
        let dropped = Arc::new(Mutex::new(false));
        let info = Arc::new(Mutex::new(StreamInfo {
            encoder: "nvenc",
            hardware: true,
            device: Some("GPU".into()),
            declined: Vec::new(),
            notes: vec!["a note".into()],
        }));
        let mut enc = FallbackEncoder::new(
            Box::new(Flaky {
                ok_frames: 2,
                calls: 0,
                dropped: dropped.clone(),
            }),
            request().x264_config(),
            info.clone(),
        );
        let mut outs = Vec::new();
        for i in 0..4 {
            let mut out = vec![0xEE; 10]; // a header already in place stays
            let r = enc
                .encode(
                    img(&frame(i * 2)),
                    EncodeRequest {
                        force_key: i == 0,
                        paint_over: false,
                        ..Default::default()
                    },
                    &mut out,
                )
                .unwrap();
            assert_eq!(&out[..10], &[0xEE; 10]);
            outs.push((r, out[10..].to_vec(), enc.name()));
        }
        assert_eq!(outs[0].2, "nvenc");
        assert_eq!(outs[1].1, [0, 0, 0, 1, 0x09, 0xf0]);
        // Frame 3: the hardware failed, x264 took over with an IDR (SPS, PPS, IDR slice); the
        // partial output of the failed call is gone.
        let (r3, bytes3, name3) = &outs[2];
        assert!(r3.key && r3.produced);
        assert_eq!(*name3, "x264");
        let t = nal_unit_types(bytes3);
        assert!(t.contains(&7) && t.contains(&8) && t.contains(&5), "{t:?}");
        assert!(!bytes3.windows(7).any(|w| w == b"partial"));
        // Frame 4: an ordinary x264 P frame.
        assert!(!outs[3].0.key && outs[3].0.produced);
        // x264 with threads 0 may cut a picture into several slices.
        let t4 = nal_unit_types(&outs[3].1);
        assert!(!t4.is_empty() && t4.iter().all(|&t| t == 1), "{t4:?}");
        assert!(
            *dropped.lock().unwrap(),
            "the hardware encoder was torn down"
        );
        let reason = enc.fallback_reason().unwrap();
        assert!(
            reason.starts_with("nvenc failed mid-stream") && reason.contains("device lost"),
            "{reason}"
        );
        let info = info.lock().unwrap().clone();
        assert_eq!(info.encoder, "x264");
        assert!(!info.hardware && info.device.is_none() && info.notes.is_empty());
        assert_eq!(info.declined, [reason.to_string()]);
    }
}
