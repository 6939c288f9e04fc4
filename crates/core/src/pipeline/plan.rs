//! Planning a capture: how a config cuts the region into streams and which encoder it expects
//! (plain data, made without touching the host), then, separately, the factory that opens
//! those encoders.

use std::sync::{Arc, Mutex};

use super::control::InfoSlot;
use crate::encode::h264::x264::{X264Config, X264Encoder};
use crate::encode::hw::{
    self, open_h264_shared, EncoderInfo, HardwareChoice, HwRequest, SharedEncoderInfo,
};
use crate::encode::jpeg::{JpegConfig, JpegEncoder, WorkspacePool};
use crate::encode::{EncodeError, Encoder, EncoderKind, StreamParams};
use crate::geometry::{stripes, Region, Stripe};
use crate::settings::{Config, OutputMode};
use crate::wire::PayloadKind;

/// Makes the encoder for one stream (a stripe, or the whole region in full-frame mode).
pub type EncoderFactory =
    Box<dyn Fn(&Stripe, u32) -> Result<Box<dyn Encoder>, EncodeError> + Send + Sync>;

/// How a config cuts a region into streams and encodes them.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub layout: Vec<Stripe>,
    pub kind: PayloadKind,
    /// One H.264 stream for the whole region.
    pub full_frame: bool,
    /// The encoder expected (a hardware one may still fall back to x264; `streamInfo()` says
    /// what it is).
    pub encoder: EncoderKind,
    /// Adjustments to the request (e.g. hardware encoding forcing full-frame).
    pub notes: Vec<String>,
    /// Moved rows go out as copy messages (`scrollCopies`, JPEG with headers only).
    pub scroll_copies: bool,
}

impl Plan {
    /// One H.264 stream for the whole region (which damage throttling leaves alone).
    pub fn full_frame_h264(&self) -> bool {
        self.kind == PayloadKind::H264 && self.full_frame
    }
}

/// The hardware encoder `config` leads to on this host: H.264 looks for NVENC (opens its
/// driver library) unless told otherwise; JPEG looks for nothing.
pub fn hardware_choice(config: &Config) -> HardwareChoice {
    match config.layout.mode {
        OutputMode::H264 => hw::choose(config.hardware.vaapi_node, config.hardware.use_cpu),
        OutputMode::Jpeg => HardwareChoice::Software { reason: None },
    }
}

/// Plans a capture of `region` with `config`, given the hardware `choice`. Pure.
pub fn plan(config: &Config, region: Region, choice: &HardwareChoice) -> Plan {
    // JPEG and striped H.264 cut the region the same way; full-frame H.264 is one stripe.
    let striped = || {
        let rows = config.layout.stripe_rows().for_height(region.height);
        stripes(region.height, rows)
    };
    match config.layout.mode {
        OutputMode::Jpeg => {
            let mut notes = Vec::new();
            let omitted = config.delivery.omit_headers;
            if config.layout.scroll_copies && omitted {
                notes.push(
                    "scrollCopies ignored: a copy is a header, and omitStripeHeaders is set".into(),
                );
            }
            Plan {
                layout: striped(),
                kind: PayloadKind::Jpeg,
                full_frame: false,
                encoder: EncoderKind::Jpeg,
                notes,
                scroll_copies: config.layout.scroll_copies && !omitted,
            }
        }
        OutputMode::H264 => {
            let mut notes = Vec::new();
            if config.layout.jpeg_tiles {
                notes.push("jpegTiles ignored: H.264 encodes whole stripes".into());
            }
            if config.layout.scroll_copies {
                notes.push(
                    "scrollCopies ignored: H.264 streams cannot take pixels from elsewhere".into(),
                );
            }
            let hardware = !matches!(choice, HardwareChoice::Software { .. });
            // Hardware encoders encode whole frames (GPUs allow few sessions): striped output
            // is only possible in software.
            let full_frame = config.layout.h264_fullframe || hardware;
            if hardware && !config.layout.h264_fullframe {
                notes.push(
                    "h264Fullframe false ignored: hardware H.264 encoding is full-frame".into(),
                );
            }
            let (layout, encoder) = if full_frame {
                let whole = Stripe {
                    index: 0,
                    y: 0,
                    height: region.height,
                };
                (vec![whole], choice.encoder())
            } else {
                (striped(), EncoderKind::X264)
            };
            Plan {
                layout,
                kind: PayloadKind::H264,
                full_frame,
                encoder,
                notes,
                scroll_copies: false,
            }
        }
    }
}

fn static_info(encoder: EncoderKind) -> SharedEncoderInfo {
    Arc::new(Mutex::new(EncoderInfo::software(encoder, Vec::new())))
}

/// The factory that opens `plan`'s encoders for `config`, and where they report what they
/// are (`slot`: set here for JPEG and striped x264, by the factory for full-frame H.264,
/// whose hardware encoder is only known once opened).
pub fn encoders(config: &Config, plan: &Plan, slot: &InfoSlot) -> EncoderFactory {
    let set_slot =
        |info: SharedEncoderInfo| *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
    if plan.kind == PayloadKind::Jpeg {
        let jpeg = JpegConfig {
            quality: config.jpeg.quality,
            paint_over_quality: config.jpeg.paint_over_quality,
            subsampling: config.jpeg.subsampling,
        };
        set_slot(static_info(EncoderKind::Jpeg));
        let pool = Arc::new(WorkspacePool::default());
        return Box::new(move |_, _| {
            Ok(Box::new(JpegEncoder::with_pool(jpeg, pool.clone())) as Box<dyn Encoder>)
        });
    }
    let (h264, fps) = (&config.h264, config.pacing.fps);
    // The size is each stream's own (set by the factories).
    let params = StreamParams {
        width: 0,
        height: 0,
        crf: h264.crf,
        paint_over_crf: h264.paint_over_crf_or_default(),
        rate_control: h264.rate_control,
        fullcolor: config.layout.h264_fullcolor,
        fps,
        keyframe_interval_frames: (h264.keyframe_interval_s * fps).round() as u32,
    };
    let (vaapi_node, use_cpu) = (config.hardware.vaapi_node, config.hardware.use_cpu);
    if plan.full_frame {
        // One stream for the region: the hardware encoder when there is one, else x264 with
        // threads sized to the machine.
        let slot = slot.clone();
        return Box::new(move |stripe: &Stripe, width: u32| {
            let (enc, info) = open_h264_shared(&HwRequest {
                params: StreamParams {
                    width,
                    height: stripe.height,
                    ..params
                },
                vaapi_node,
                use_cpu,
            })?;
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(info);
            Ok(enc)
        });
    }
    // One single-threaded x264 stream per stripe; parallelism comes from encoding several
    // stripes at once.
    set_slot(static_info(EncoderKind::X264));
    Box::new(move |stripe: &Stripe, width: u32| {
        let enc = X264Encoder::new(X264Config {
            params: StreamParams {
                width,
                height: stripe.height,
                ..params
            },
            threads: 1,
        })?;
        Ok(Box::new(enc) as Box<dyn Encoder>)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::CaptureOptions;

    fn config(f: impl FnOnce(&mut CaptureOptions)) -> Config {
        let mut o = CaptureOptions::default();
        f(&mut o);
        o.validate().unwrap()
    }

    const HD: Region = Region {
        x: 0,
        y: 0,
        width: 1920,
        height: 1080,
    };

    #[test]
    fn jpeg_and_striped_h264_cut_stripes_full_frame_is_one_stream() {
        let sw = HardwareChoice::Software { reason: None };
        let jpeg = plan(&config(|o| o.output_mode = Some(0)), HD, &sw);
        assert_eq!((jpeg.layout.len(), jpeg.layout[0].height), (9, 128));
        assert_eq!(
            (jpeg.kind, jpeg.encoder, jpeg.full_frame),
            (PayloadKind::Jpeg, EncoderKind::Jpeg, false)
        );
        let striped = plan(&config(|o| o.h264_fullframe = Some(false)), HD, &sw);
        assert_eq!((striped.layout.len(), striped.layout[0].height), (4, 272));
        assert!(!striped.full_frame_h264());
        let full = plan(&config(|_| {}), HD, &sw);
        assert_eq!(
            full.layout,
            vec![Stripe {
                index: 0,
                y: 0,
                height: 1080
            }]
        );
        assert!(full.full_frame_h264() && !full.encoder.is_hardware());
        assert_eq!(full.encoder, EncoderKind::X264);
    }

    #[test]
    fn hardware_makes_striped_requests_full_frame_and_says_so() {
        let c = config(|o| {
            o.h264_fullframe = Some(false);
            o.jpeg_tiles = Some(true);
        });
        let p = plan(&c, HD, &HardwareChoice::Vaapi { node: 0 });
        assert!(p.full_frame_h264() && p.encoder.is_hardware());
        assert_eq!(p.encoder, EncoderKind::Vaapi);
        assert_eq!(p.notes.len(), 2, "{:?}", p.notes);
        assert!(p
            .notes
            .iter()
            .any(|n| n.contains("h264Fullframe false ignored")));
        assert!(p.notes.iter().any(|n| n.contains("jpegTiles ignored")));
        assert_eq!(
            plan(&c, HD, &HardwareChoice::Nvenc).encoder,
            EncoderKind::Nvenc
        );
    }

    #[test]
    fn scroll_copies_are_jpeg_with_headers_only_and_say_so() {
        let sw = HardwareChoice::Software { reason: None };
        let on = |f: fn(&mut crate::settings::CaptureOptions)| {
            plan(
                &config(|o| {
                    o.scroll_copies = Some(true);
                    f(o)
                }),
                HD,
                &sw,
            )
        };
        let jpeg = on(|o| o.output_mode = Some(0));
        assert!(jpeg.scroll_copies && jpeg.notes.is_empty());
        let h264 = on(|_| {});
        assert!(!h264.scroll_copies);
        assert!(
            h264.notes[0].contains("scrollCopies ignored"),
            "{:?}",
            h264.notes
        );
        let bare = on(|o| {
            o.output_mode = Some(0);
            o.omit_stripe_headers = Some(true);
        });
        assert!(!bare.scroll_copies && bare.notes[0].contains("omitStripeHeaders"));
        assert!(!plan(&config(|o| o.output_mode = Some(0)), HD, &sw).scroll_copies);
    }

    #[test]
    fn jpeg_never_looks_for_hardware() {
        let c = config(|o| o.output_mode = Some(0));
        assert_eq!(
            hardware_choice(&c),
            HardwareChoice::Software { reason: None }
        );
    }
}
