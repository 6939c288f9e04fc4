//! What a session is configured with: preset, constant QPs, and the settings over the preset.

use super::sys::*;
use crate::encode::h264::policy::{self, MAX_QP};
use crate::encode::StreamParams;

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
    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// How to open an [`NvencEncoder`](super::NvencEncoder).
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

/// The encoder settings applied on top of the preset (see the module documentation).
pub(super) fn apply_config(c: &mut Config, gop: u32, qp: Qp, fullcolor: bool) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::hw::dylib::zeroed;

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
}
