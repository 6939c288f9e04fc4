//! The NVENC 12.0 parameter structs (`#[repr(C)]`, header field order) and their bitfield masks.

use std::ffi::c_void;

use super::Guid;

/// `NV_ENC_CAPS_PARAM`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CapsParam {
    pub version: u32,
    pub caps_to_query: u32,
    pub reserved: [u32; 62],
}

/// `NV_ENC_CREATE_INPUT_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CreateInputBuffer {
    pub version: u32,
    pub width: u32,
    pub height: u32,
    /// Deprecated (`NV_ENC_MEMORY_HEAP`); 0.
    pub memory_heap: u32,
    pub buffer_fmt: u32,
    pub reserved: u32,
    pub input_buffer: *mut c_void,
    pub p_sys_mem_buffer: *mut c_void,
    pub reserved1: [u32; 57],
    pub reserved2: [*mut c_void; 63],
}

/// `NV_ENC_CREATE_BITSTREAM_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct CreateBitstreamBuffer {
    pub version: u32,
    /// Deprecated; 0.
    pub size: u32,
    /// Deprecated; 0.
    pub memory_heap: u32,
    pub reserved: u32,
    pub bitstream_buffer: *mut c_void,
    pub bitstream_buffer_ptr: *mut c_void,
    pub reserved1: [u32; 58],
    pub reserved2: [*mut c_void; 64],
}

/// `NV_ENC_QP`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Qp {
    pub qp_inter_p: u32,
    pub qp_inter_b: u32,
    pub qp_intra: u32,
}

/// `NV_ENC_RC_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct RcParams {
    pub version: u32,
    pub rate_control_mode: u32,
    pub const_qp: Qp,
    pub average_bit_rate: u32,
    pub max_bit_rate: u32,
    pub vbv_buffer_size: u32,
    pub vbv_initial_delay: u32,
    /// Bitfield word: see the `RC_*` masks.
    pub flags: u32,
    pub min_qp: Qp,
    pub max_qp: Qp,
    pub initial_rc_qp: Qp,
    pub temporallayer_idx_mask: u32,
    pub temporal_layer_qp: [u8; 8],
    pub target_quality: u8,
    pub target_quality_lsb: u8,
    pub lookahead_depth: u16,
    pub low_delay_key_frame_scale: u8,
    pub y_dc_qp_index_offset: i8,
    pub u_dc_qp_index_offset: i8,
    pub v_dc_qp_index_offset: i8,
    pub qp_map_mode: u32,
    pub multi_pass: u32,
    pub alpha_layer_bitrate_ratio: u32,
    pub cb_qp_index_offset: i8,
    pub cr_qp_index_offset: i8,
    pub reserved2: u16,
    pub reserved: [u32; 4],
}

// NV_ENC_RC_PARAMS bitfield: enableMinQP:1, enableMaxQP:1, enableInitialRCQP:1, enableAQ:1,
// reservedBitField1:1, enableLookahead:1, disableIadapt:1, disableBadapt:1, enableTemporalAQ:1,
// zeroReorderDelay:1, enableNonRefP:1, strictGOPTarget:1, aqStrength:4, reserved:16.
pub const RC_ENABLE_MIN_QP: u32 = 1 << 0;
pub const RC_ENABLE_MAX_QP: u32 = 1 << 1;
pub const RC_ENABLE_INITIAL_RC_QP: u32 = 1 << 2;
pub const RC_ENABLE_AQ: u32 = 1 << 3;
pub const RC_ENABLE_LOOKAHEAD: u32 = 1 << 5;
pub const RC_ENABLE_TEMPORAL_AQ: u32 = 1 << 8;
pub const RC_ZERO_REORDER_DELAY: u32 = 1 << 9;

/// `NV_ENC_CONFIG_H264_VUI_PARAMETERS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct H264VuiParameters {
    pub overscan_info_present_flag: u32,
    pub overscan_info: u32,
    pub video_signal_type_present_flag: u32,
    pub video_format: u32,
    pub video_full_range_flag: u32,
    pub colour_description_present_flag: u32,
    pub colour_primaries: u32,
    pub transfer_characteristics: u32,
    pub colour_matrix: u32,
    pub chroma_sample_location_flag: u32,
    pub chroma_sample_location_top: u32,
    pub chroma_sample_location_bot: u32,
    pub bitstream_restriction_flag: u32,
    pub timing_info_present_flag: u32,
    pub num_unit_in_ticks: u32,
    pub time_scale: u32,
    pub reserved: [u32; 12],
}

/// `NV_ENC_CONFIG_H264`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ConfigH264 {
    /// Bitfield word: see the `H264_*` masks.
    pub flags: u32,
    pub level: u32,
    pub idr_period: u32,
    pub separate_colour_plane_flag: u32,
    pub disable_deblocking_filter_idc: u32,
    pub num_temporal_layers: u32,
    pub sps_id: u32,
    pub pps_id: u32,
    pub adaptive_transform_mode: u32,
    pub fmo_mode: u32,
    pub bdirect_mode: u32,
    pub entropy_coding_mode: u32,
    pub stereo_mode: u32,
    pub intra_refresh_period: u32,
    pub intra_refresh_cnt: u32,
    pub max_num_ref_frames: u32,
    pub slice_mode: u32,
    pub slice_mode_data: u32,
    pub h264_vui_parameters: H264VuiParameters,
    pub ltr_num_frames: u32,
    pub ltr_trust_mode: u32,
    pub chroma_format_idc: u32,
    pub max_temporal_layers: u32,
    pub use_b_frames_as_ref: u32,
    pub num_ref_l0: u32,
    pub num_ref_l1: u32,
    pub reserved1: [u32; 267],
    pub reserved2: [*mut c_void; 64],
}

// NV_ENC_CONFIG_H264 bitfield, from bit 0: enableTemporalSVC, enableStereoMVC,
// hierarchicalPFrames, hierarchicalBFrames, outputBufferingPeriodSEI, outputPictureTimingSEI,
// outputAUD, disableSPSPPS, outputFramePackingSEI, outputRecoveryPointSEI, enableIntraRefresh,
// enableConstrainedEncoding, repeatSPSPPS, enableVFR, enableLTR, ...
pub const H264_OUTPUT_AUD: u32 = 1 << 6;
pub const H264_DISABLE_SPSPPS: u32 = 1 << 7;
pub const H264_ENABLE_INTRA_REFRESH: u32 = 1 << 10;
pub const H264_REPEAT_SPSPPS: u32 = 1 << 12;
pub const H264_ENABLE_LTR: u32 = 1 << 14;

/// `NV_ENC_CODEC_CONFIG` (a union). Largest member: `NV_ENC_CONFIG_H264`, 1792 bytes (HEVC
/// 1560, AV1 1552, the ME-only configs 1536, `reserved[320]` 1280).
#[repr(C)]
#[derive(Clone, Copy)]
pub union CodecConfig {
    pub h264: ConfigH264,
    pub size: [u64; 224],
}

/// `NV_ENC_CONFIG`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Config {
    pub version: u32,
    pub profile_guid: Guid,
    pub gop_length: u32,
    pub frame_interval_p: i32,
    pub mono_chrome_encoding: u32,
    pub frame_field_mode: u32,
    pub mv_precision: u32,
    pub rc_params: RcParams,
    pub encode_codec_config: CodecConfig,
    pub reserved: [u32; 278],
    pub reserved2: [*mut c_void; 64],
}

/// `NVENC_EXTERNAL_ME_HINT_COUNTS_PER_BLOCKTYPE`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeHintCountsPerBlocktype {
    pub counts: u32,
    pub reserved1: [u32; 3],
}

/// `NV_ENC_INITIALIZE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct InitializeParams {
    pub version: u32,
    pub encode_guid: Guid,
    pub preset_guid: Guid,
    pub encode_width: u32,
    pub encode_height: u32,
    pub dar_width: u32,
    pub dar_height: u32,
    pub frame_rate_num: u32,
    pub frame_rate_den: u32,
    pub enable_encode_async: u32,
    pub enable_ptd: u32,
    /// Bitfield word: reportSliceOffsets, enableSubFrameWrite, enableExternalMEHints,
    /// enableMEOnlyMode, enableWeightedPrediction, enableOutputInVidmem, reserved:26.
    pub flags: u32,
    pub priv_data_size: u32,
    pub priv_data: *mut c_void,
    pub encode_config: *mut Config,
    pub max_encode_width: u32,
    pub max_encode_height: u32,
    pub max_me_hint_counts_per_block: [MeHintCountsPerBlocktype; 2],
    pub tuning_info: u32,
    pub buffer_format: u32,
    pub reserved: [u32; 287],
    pub reserved2: [*mut c_void; 64],
}

/// `NV_ENC_RECONFIGURE_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ReconfigureParams {
    pub version: u32,
    pub re_init_encode_params: InitializeParams,
    /// Bitfield word: resetEncoder:1, forceIDR:1, reserved:30.
    pub flags: u32,
}
pub const RECONFIGURE_RESET_ENCODER: u32 = 1 << 0;
pub const RECONFIGURE_FORCE_IDR: u32 = 1 << 1;

/// `NV_ENC_PRESET_CONFIG`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PresetConfig {
    pub version: u32,
    pub preset_cfg: Config,
    pub reserved1: [u32; 255],
    pub reserved2: [*mut c_void; 64],
}

/// `NV_ENC_TIME_CODE`: displayPicStruct + 3 x `NV_ENC_CLOCK_TIMESTAMP_SET` (a bitfield word
/// and `timeOffset`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct TimeCode {
    pub display_pic_struct: u32,
    pub clock_timestamp: [[u32; 2]; 3],
}

/// `NV_ENC_PIC_PARAMS_H264`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PicParamsH264 {
    pub display_poc_syntax: u32,
    pub reserved3: u32,
    pub ref_pic_flag: u32,
    pub colour_plane_id: u32,
    pub force_intra_refresh_with_frame_cnt: u32,
    /// Bitfield word: constrainedFrame, sliceModeDataUpdate, ltrMarkFrame, ltrUseFrames.
    pub flags: u32,
    pub slice_type_data: *mut u8,
    pub slice_type_array_cnt: u32,
    pub sei_payload_array_cnt: u32,
    pub sei_payload_array: *mut c_void,
    pub slice_mode: u32,
    pub slice_mode_data: u32,
    pub ltr_mark_frame_idx: u32,
    pub ltr_use_frame_bitmap: u32,
    pub ltr_usage_mode: u32,
    pub force_intra_slice_count: u32,
    pub force_intra_slice_idx: *mut u32,
    /// `NV_ENC_PIC_PARAMS_H264_EXT` (union of `NV_ENC_PIC_PARAMS_MVC`, 128 bytes with its 8
    /// pointers, and `reserved1[32]`).
    pub h264_ext_pic_params: [u64; 16],
    pub time_code: TimeCode,
    pub reserved: [u32; 203],
    pub reserved2: [*mut c_void; 61],
}

/// `NV_ENC_CODEC_PIC_PARAMS` (a union). Largest member: `NV_ENC_PIC_PARAMS_AV1`, 1552 bytes
/// (H.264 and HEVC 1536, `reserved[256]` 1024).
#[repr(C)]
#[derive(Clone, Copy)]
pub union CodecPicParams {
    pub h264: PicParamsH264,
    pub size: [u64; 194],
}

/// `NV_ENC_PIC_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct PicParams {
    pub version: u32,
    pub input_width: u32,
    pub input_height: u32,
    pub input_pitch: u32,
    pub encode_pic_flags: u32,
    pub frame_idx: u32,
    pub input_time_stamp: u64,
    pub input_duration: u64,
    pub input_buffer: *mut c_void,
    pub output_bitstream: *mut c_void,
    pub completion_event: *mut c_void,
    pub buffer_fmt: u32,
    pub picture_struct: u32,
    pub picture_type: u32,
    pub codec_pic_params: CodecPicParams,
    pub me_hint_counts_per_block: [MeHintCountsPerBlocktype; 2],
    pub me_external_hints: *mut c_void,
    pub reserved1: [u32; 6],
    pub reserved2: [*mut c_void; 2],
    pub qp_delta_map: *mut i8,
    pub qp_delta_map_size: u32,
    pub reserved_bit_fields: u32,
    pub me_hint_ref_pic_dist: [u16; 2],
    pub alpha_buffer: *mut c_void,
    pub me_external_sb_hints: *mut c_void,
    pub me_sb_hints_count: u32,
    pub reserved3: [u32; 285],
    pub reserved4: [*mut c_void; 58],
}

/// `NV_ENC_LOCK_BITSTREAM`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LockBitstream {
    pub version: u32,
    /// Bitfield word: doNotWait:1, ltrFrame:1, getRCStats:1, reserved:29.
    pub flags: u32,
    pub output_bitstream: *mut c_void,
    pub slice_offsets: *mut u32,
    pub frame_idx: u32,
    pub hw_encode_status: u32,
    pub num_slices: u32,
    pub bitstream_size_in_bytes: u32,
    pub output_time_stamp: u64,
    pub output_duration: u64,
    pub bitstream_buffer_ptr: *mut c_void,
    pub picture_type: u32,
    pub picture_struct: u32,
    pub frame_avg_qp: u32,
    pub frame_satd: u32,
    pub ltr_frame_idx: u32,
    pub ltr_frame_bitmap: u32,
    pub temporal_id: u32,
    pub reserved: [u32; 12],
    pub intra_mb_count: u32,
    pub inter_mb_count: u32,
    pub average_mvx: i32,
    pub average_mvy: i32,
    pub alpha_layer_size_in_bytes: u32,
    pub reserved1: [u32; 218],
    pub reserved2: [*mut c_void; 64],
}

/// `NV_ENC_LOCK_INPUT_BUFFER`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct LockInputBuffer {
    pub version: u32,
    /// Bitfield word: doNotWait:1, reserved:31.
    pub flags: u32,
    pub input_buffer: *mut c_void,
    pub buffer_data_ptr: *mut c_void,
    pub pitch: u32,
    pub reserved1: [u32; 251],
    pub reserved2: [*mut c_void; 64],
}

/// `NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct OpenEncodeSessionExParams {
    pub version: u32,
    pub device_type: u32,
    pub device: *mut c_void,
    pub reserved: *mut c_void,
    pub api_version: u32,
    pub reserved1: [u32; 253],
    pub reserved2: [*mut c_void; 64],
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, offset_of, size_of};

    #[test]
    fn small_struct_layouts() {
        // NV_ENC_CAPS_PARAM: version, capsToQuery, reserved[62] -> 64 x 4.
        assert_eq!(size_of::<CapsParam>(), 256);
        // NV_ENC_CREATE_INPUT_BUFFER: 6 x u32 (24), inputBuffer @24, pSysMemBuffer @32,
        // reserved1[57] @40 (228 -> 268, padded to 272), reserved2[63] @272 (504) -> 776.
        assert_eq!(offset_of!(CreateInputBuffer, buffer_fmt), 16);
        assert_eq!(offset_of!(CreateInputBuffer, input_buffer), 24);
        assert_eq!(offset_of!(CreateInputBuffer, reserved2), 272);
        assert_eq!(size_of::<CreateInputBuffer>(), 776);
        // NV_ENC_CREATE_BITSTREAM_BUFFER: 4 x u32, bitstreamBuffer @16, bitstreamBufferPtr @24,
        // reserved1[58] @32 (232 -> 264), reserved2[64] @264 (512) -> 776.
        assert_eq!(offset_of!(CreateBitstreamBuffer, bitstream_buffer), 16);
        assert_eq!(offset_of!(CreateBitstreamBuffer, reserved2), 264);
        assert_eq!(size_of::<CreateBitstreamBuffer>(), 776);
        // NV_ENC_LOCK_INPUT_BUFFER: version, bitfield, inputBuffer @8, bufferDataPtr @16,
        // pitch @24, reserved1[251] @28 (1004 -> 1032), reserved2[64] @1032 -> 1544.
        assert_eq!(offset_of!(LockInputBuffer, buffer_data_ptr), 16);
        assert_eq!(offset_of!(LockInputBuffer, pitch), 24);
        assert_eq!(size_of::<LockInputBuffer>(), 1544);
        // NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS: version, deviceType, device @8, reserved @16,
        // apiVersion @24, reserved1[253] @28 (1012 -> 1040), reserved2[64] @1040 -> 1552.
        assert_eq!(offset_of!(OpenEncodeSessionExParams, device), 8);
        assert_eq!(offset_of!(OpenEncodeSessionExParams, api_version), 24);
        assert_eq!(size_of::<OpenEncodeSessionExParams>(), 1552);
    }

    #[test]
    fn rc_params_and_h264_config_layouts() {
        // NV_ENC_RC_PARAMS: version, rateControlMode, constQP (3 x u32) @8, averageBitRate @20,
        // maxBitRate, vbvBufferSize, vbvInitialDelay, bitfield @36, minQP @40, maxQP @52,
        // initialRCQP @64, temporallayerIdxMask @76, temporalLayerQP[8] @80, targetQuality @88,
        // targetQualityLSB @89, lookaheadDepth @90, lowDelayKeyFrameScale @92, 3 x i8 @93..95,
        // qpMapMode @96, multiPass @100, alphaLayerBitrateRatio @104, cb/cr offsets @108/109,
        // reserved2 (u16) @110, reserved[4] @112 -> 128.
        assert_eq!(offset_of!(RcParams, const_qp), 8);
        assert_eq!(offset_of!(RcParams, flags), 36);
        assert_eq!(offset_of!(RcParams, lookahead_depth), 90);
        assert_eq!(offset_of!(RcParams, qp_map_mode), 96);
        assert_eq!(offset_of!(RcParams, multi_pass), 100);
        assert_eq!(size_of::<RcParams>(), 128);
        // VUI: 16 x u32 + reserved[12] = 28 x 4.
        assert_eq!(size_of::<H264VuiParameters>(), 112);
        // NV_ENC_CONFIG_H264: bitfield, level @4, idrPeriod @8, ... sliceModeData @68
        // (18 x u32), VUI @72 (112 -> 184), ltrNumFrames @184, ltrTrustMode, chromaFormatIDC
        // @192, maxTemporalLayers, useBFramesAsRef, numRefL0, numRefL1 -> 212, reserved1[267]
        // (1068 -> 1280), reserved2[64] @1280 -> 1792.
        assert_eq!(offset_of!(ConfigH264, idr_period), 8);
        assert_eq!(offset_of!(ConfigH264, max_num_ref_frames), 60);
        assert_eq!(offset_of!(ConfigH264, h264_vui_parameters), 72);
        assert_eq!(offset_of!(ConfigH264, chroma_format_idc), 192);
        assert_eq!(offset_of!(ConfigH264, reserved2), 1280);
        assert_eq!(size_of::<ConfigH264>(), 1792);
        assert_eq!(size_of::<CodecConfig>(), 1792);
        assert_eq!(align_of::<CodecConfig>(), 8);
    }

    #[test]
    fn config_preset_and_initialize_layouts() {
        // NV_ENC_CONFIG: version, profileGUID @4 (16 -> 20), gopLength @20, frameIntervalP @24,
        // monoChromeEncoding, frameFieldMode, mvPrecision -> 40, rcParams @40 (128 -> 168),
        // encodeCodecConfig @168 (1792 -> 1960), reserved[278] (1112 -> 3072),
        // reserved2[64] @3072 -> 3584.
        assert_eq!(offset_of!(Config, profile_guid), 4);
        assert_eq!(offset_of!(Config, gop_length), 20);
        assert_eq!(offset_of!(Config, frame_interval_p), 24);
        assert_eq!(offset_of!(Config, rc_params), 40);
        assert_eq!(offset_of!(Config, encode_codec_config), 168);
        assert_eq!(offset_of!(Config, reserved2), 3072);
        assert_eq!(size_of::<Config>(), 3584);
        // NV_ENC_PRESET_CONFIG: version, presetCfg @8 (aligned 8; 3584 -> 3592),
        // reserved1[255] (1020 -> 4612, padded to 4616), reserved2[64] -> 5128.
        assert_eq!(offset_of!(PresetConfig, preset_cfg), 8);
        assert_eq!(size_of::<PresetConfig>(), 5128);
        // NV_ENC_INITIALIZE_PARAMS: version, encodeGUID @4, presetGUID @20, encodeWidth @36,
        // encodeHeight @40, darWidth, darHeight, frameRateNum @52, frameRateDen @56,
        // enableEncodeAsync @60, enablePTD @64, bitfield @68, privDataSize @72, privData @80,
        // encodeConfig @88, maxEncodeWidth @96, maxEncodeHeight @100,
        // maxMEHintCountsPerBlock[2] @104 (32 -> 136), tuningInfo @136, bufferFormat @140,
        // reserved[287] @144 (1148 -> 1292, padded to 1296), reserved2[64] -> 1808.
        assert_eq!(offset_of!(InitializeParams, preset_guid), 20);
        assert_eq!(offset_of!(InitializeParams, encode_width), 36);
        assert_eq!(offset_of!(InitializeParams, frame_rate_num), 52);
        assert_eq!(offset_of!(InitializeParams, enable_ptd), 64);
        assert_eq!(offset_of!(InitializeParams, priv_data), 80);
        assert_eq!(offset_of!(InitializeParams, encode_config), 88);
        assert_eq!(offset_of!(InitializeParams, tuning_info), 136);
        assert_eq!(offset_of!(InitializeParams, reserved2), 1296);
        assert_eq!(size_of::<InitializeParams>(), 1808);
        // NV_ENC_RECONFIGURE_PARAMS: version, reInitEncodeParams @8 (1808 -> 1816),
        // bitfield @1816 -> 1820, padded to 1824.
        assert_eq!(offset_of!(ReconfigureParams, re_init_encode_params), 8);
        assert_eq!(offset_of!(ReconfigureParams, flags), 1816);
        assert_eq!(size_of::<ReconfigureParams>(), 1824);
    }

    #[test]
    fn picture_and_bitstream_layouts() {
        // NV_ENC_PIC_PARAMS_H264: 5 x u32 + bitfield (24), sliceTypeData @24,
        // sliceTypeArrayCnt @32, seiPayloadArrayCnt @36, seiPayloadArray @40, sliceMode @48
        // .. forceIntraSliceCount @68, forceIntraSliceIdx @72, h264ExtPicParams @80 (128 ->
        // 208), timeCode @208 (28 -> 236), reserved[203] (812 -> 1048), reserved2[61] -> 1536.
        assert_eq!(offset_of!(PicParamsH264, slice_type_data), 24);
        assert_eq!(offset_of!(PicParamsH264, h264_ext_pic_params), 80);
        assert_eq!(offset_of!(PicParamsH264, time_code), 208);
        assert_eq!(offset_of!(PicParamsH264, reserved2), 1048);
        assert_eq!(size_of::<PicParamsH264>(), 1536);
        // NV_ENC_PIC_PARAMS_AV1, the union's largest member: 5 x u32, numTileColumns,
        // numTileRows (28, padded to 32), tileWidths, tileHeights, obuPayloadArrayCnt,
        // reserved, obuPayloadArray, filmGrainParams -> 72, reserved2[247] (988 -> 1060,
        // padded to 1064), reserved3[61] (488) -> 1552.
        assert_eq!(size_of::<CodecPicParams>(), 1552);
        // NV_ENC_PIC_PARAMS: version, inputWidth, inputHeight, inputPitch, encodePicFlags @16,
        // frameIdx @20, inputTimeStamp @24, inputDuration @32, inputBuffer @40,
        // outputBitstream @48, completionEvent @56, bufferFmt @64, pictureStruct @68,
        // pictureType @72, codecPicParams @80 (1552 -> 1632), meHintCountsPerBlock[2] (32 ->
        // 1664), meExternalHints @1664, reserved1[6] @1672, reserved2[2] @1696,
        // qpDeltaMap @1712, qpDeltaMapSize @1720, reservedBitFields @1724,
        // meHintRefPicDist[2] @1728, alphaBuffer @1736, meExternalSbHints @1744,
        // meSbHintsCount @1752, reserved3[285] @1756 (1140 -> 2896), reserved4[58] -> 3360.
        assert_eq!(offset_of!(PicParams, encode_pic_flags), 16);
        assert_eq!(offset_of!(PicParams, input_time_stamp), 24);
        assert_eq!(offset_of!(PicParams, input_buffer), 40);
        assert_eq!(offset_of!(PicParams, output_bitstream), 48);
        assert_eq!(offset_of!(PicParams, buffer_fmt), 64);
        assert_eq!(offset_of!(PicParams, picture_struct), 68);
        assert_eq!(offset_of!(PicParams, codec_pic_params), 80);
        assert_eq!(offset_of!(PicParams, me_external_hints), 1664);
        assert_eq!(offset_of!(PicParams, qp_delta_map), 1712);
        assert_eq!(offset_of!(PicParams, alpha_buffer), 1736);
        assert_eq!(offset_of!(PicParams, me_sb_hints_count), 1752);
        assert_eq!(offset_of!(PicParams, reserved4), 2896);
        assert_eq!(size_of::<PicParams>(), 3360);
        // NV_ENC_LOCK_BITSTREAM: version, bitfield, outputBitstream @8, sliceOffsets @16,
        // frameIdx @24, hwEncodeStatus, numSlices, bitstreamSizeInBytes @36,
        // outputTimeStamp @40, outputDuration @48, bitstreamBufferPtr @56, pictureType @64,
        // pictureStruct, frameAvgQP @72, frameSatd, ltrFrameIdx, ltrFrameBitmap, temporalId,
        // reserved[12] @92, intraMBCount @140 .. alphaLayerSizeInBytes @156,
        // reserved1[218] @160 (872 -> 1032), reserved2[64] -> 1544.
        assert_eq!(offset_of!(LockBitstream, output_bitstream), 8);
        assert_eq!(offset_of!(LockBitstream, bitstream_size_in_bytes), 36);
        assert_eq!(offset_of!(LockBitstream, bitstream_buffer_ptr), 56);
        assert_eq!(offset_of!(LockBitstream, picture_type), 64);
        assert_eq!(offset_of!(LockBitstream, frame_avg_qp), 72);
        assert_eq!(offset_of!(LockBitstream, reserved1), 160);
        assert_eq!(size_of::<LockBitstream>(), 1544);
    }
}
