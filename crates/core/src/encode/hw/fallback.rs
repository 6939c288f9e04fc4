//! A hardware encoder that turns into x264 when it fails, so the stream goes on.

use super::info::SharedEncoderInfo;
use crate::encode::h264::x264::{X264Config, X264Encoder};
use crate::encode::{BgrxImage, EncodeError, EncodeOutcome, EncodeRequest, Encoder, EncoderKind};

/// A hardware encoder that turns into x264 (once, for good) when it fails.
///
/// The failed call is retried on x264 as an IDR, so the picture is not lost and the stream
/// stays decodable; the hardware encoder is dropped (torn down) at that moment.
pub struct FallbackEncoder {
    primary: Option<Box<dyn Encoder>>,
    software: Option<X264Encoder>,
    x264: X264Config,
    reason: Option<String>,
    info: SharedEncoderInfo,
}

impl FallbackEncoder {
    /// Wraps `primary`; `x264` is what to open on failure; `info` is updated then.
    pub fn new(primary: Box<dyn Encoder>, x264: X264Config, info: SharedEncoderInfo) -> Self {
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
                        primary.kind()
                    );
                    // Tear the hardware session down now.
                    self.primary = None;
                    let mut info = self.info.lock().unwrap_or_else(|e| e.into_inner());
                    info.encoder = EncoderKind::X264;
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

    fn kind(&self) -> EncoderKind {
        match &self.primary {
            Some(p) => p.kind(),
            None => EncoderKind::X264,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::encode::hw::info::EncoderInfo;
    use crate::encode::StreamParams;
    use crate::wire::nal_unit_types;

    /// What a fallback opens for a 320x64 stream (`threads` 0, as for a full-frame stream).
    fn x264_config() -> X264Config {
        X264Config {
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
            threads: 0,
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
                joins_blocks: false,
            })
        }

        fn kind(&self) -> EncoderKind {
            EncoderKind::Nvenc
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
        let info = Arc::new(Mutex::new(EncoderInfo {
            encoder: EncoderKind::Nvenc,
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
            x264_config(),
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
            outs.push((r, out[10..].to_vec(), enc.kind()));
        }
        assert_eq!(outs[0].2, EncoderKind::Nvenc);
        assert_eq!(outs[1].1, [0, 0, 0, 1, 0x09, 0xf0]);
        // Frame 3: the hardware failed, x264 took over with an IDR (SPS, PPS, IDR slice); the
        // partial output of the failed call is gone.
        let (r3, bytes3, name3) = &outs[2];
        assert!(r3.key && r3.produced);
        assert_eq!(*name3, EncoderKind::X264);
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
        assert_eq!(info.encoder, EncoderKind::X264);
        assert!(!info.hardware && info.device.is_none() && info.notes.is_empty());
        assert_eq!(info.declined, [reason.to_string()]);
    }
}
