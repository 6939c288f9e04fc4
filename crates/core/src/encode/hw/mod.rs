//! Which H.264 encoder a full-frame stream gets (NVENC, VA-API or x264), and opening it.
//!
//! Selection follows pixelflux's settings:
//! * `use_cpu` → x264, no hardware library is even opened;
//! * `vaapi_node >= 0` → VA-API on `/dev/dri/renderD{128 + vaapi_node}` (NVENC is not tried);
//! * `vaapi_node == -1` → NVENC when `libnvidia-encode.so.1` can be opened;
//! * anything that fails → x264 (`threads` 0), and [`EncoderInfo::declined`] says why.
//!
//! Hardware encoders are meant for full-frame mode (one stream): consumer NVIDIA GPUs allow only
//! a few concurrent NVENC sessions and every VA-API context costs GPU memory, so striped mode
//! keeps one single-threaded x264 per stripe.
//!
//! A hardware encoder is wrapped in a [`FallbackEncoder`]: if it fails mid-stream, the stream
//! continues on x264 starting with an IDR (so a decoder never sees a broken reference chain),
//! and the reason is kept ([`FallbackEncoder::fallback_reason`], and in the shared
//! [`EncoderInfo`]). [`probe`] reports what the host offers without opening anything.
//!
//! Imports run one way, so no module needs one that needs it back: this facade uses the
//! backends ([`nvenc`], [`vaapi`]), [`fallback`] and x264; [`probe`] uses the facade's
//! [`choose`]; the backends use only leaves ([`step`], the shared H.264 rules, colour
//! conversion), never the facade.

mod dylib;
pub mod fallback;
mod info;
pub mod nvenc;
pub mod probe;
pub mod step;
pub mod vaapi;

use std::sync::{Arc, Mutex};

use self::fallback::FallbackEncoder;
pub use self::info::{EncoderInfo, SharedEncoderInfo};
use self::nvenc::{NvencConfig, NvencEncoder, NvencPreset};
use self::vaapi::{VaapiConfig, VaapiEncoder};
use crate::encode::h264::x264::{X264Config, X264Encoder};
use crate::encode::{EncodeError, Encoder, EncoderKind, StreamParams};

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

impl HardwareChoice {
    /// The encoder this choice opens when nothing fails.
    pub fn encoder(&self) -> EncoderKind {
        match self {
            HardwareChoice::Software { .. } => EncoderKind::X264,
            HardwareChoice::Nvenc => EncoderKind::Nvenc,
            HardwareChoice::Vaapi { .. } => EncoderKind::Vaapi,
        }
    }
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
/// [`EncoderInfo::declined`]. An error means x264 itself refused the request (e.g. odd sizes in
/// 4:2:0), which no encoder could serve.
pub fn open_h264(req: &HwRequest) -> Result<(Box<dyn Encoder>, EncoderInfo), EncodeError> {
    let (enc, info) = open_h264_shared(req)?;
    let snapshot = info.lock().unwrap_or_else(|e| e.into_inner()).clone();
    Ok((enc, snapshot))
}

/// [`open_h264`], with the [`EncoderInfo`] shared with the encoder so that a later fallback to
/// x264 shows up in it.
pub fn open_h264_shared(
    req: &HwRequest,
) -> Result<(Box<dyn Encoder>, SharedEncoderInfo), EncodeError> {
    let mut declined = Vec::new();
    let hardware: Option<(Box<dyn Encoder>, EncoderInfo)> =
        match choose(req.vaapi_node, req.use_cpu) {
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
                    let info =
                        EncoderInfo::hardware(EncoderKind::Nvenc, enc.device_name(), enc.notes());
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
                    let info = EncoderInfo::hardware(EncoderKind::Vaapi, enc.device(), enc.notes());
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
                Arc::new(Mutex::new(EncoderInfo::software(
                    EncoderKind::X264,
                    declined,
                ))),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{BgrxImage, EncodeRequest};

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
        assert_eq!(enc.kind(), EncoderKind::X264);
        assert_eq!(info, EncoderInfo::software(EncoderKind::X264, Vec::new()));
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
        assert_eq!(enc.kind(), EncoderKind::X264);
        assert_eq!(info.encoder, EncoderKind::X264);
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
        assert_eq!(enc.kind(), EncoderKind::X264);
        assert_eq!(
            info.declined,
            [format!("nvenc: {} not found", nvenc::NVENC_LIB_DEFAULT)]
        );
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
}
