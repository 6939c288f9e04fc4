//! The slice of libva 1.x (`va.h`, `va_drm.h`, `va_enc_h264.h`) that [`super::VaapiEncoder`]
//! uses, written by hand from the public API's documented types. libva keeps its ABI stable
//! across 1.x (new fields only go into the `va_reserved` padding), so these match every libva 2
//! soname (`libva.so.2`, libva 1.1 to 1.22+).
//!
//! The tests pin every size and offset against numbers computed by hand (x86-64: `u32`/`i32`
//! and enums 4 bytes, pointers 8, `VA_PADDING_LOW` = 4) and, where the libva development
//! headers are installed, against the C compiler's own `sizeof`/`offsetof` of the real
//! structs (a C program is compiled and run at test time).

#![allow(dead_code)]

use std::ffi::{c_char, c_int, c_uint, c_void};

pub type VaDisplay = *mut c_void;
pub type VaStatus = c_int;
pub type VaGenericId = c_uint;
pub type VaConfigId = VaGenericId;
pub type VaContextId = VaGenericId;
pub type VaSurfaceId = VaGenericId;
pub type VaBufferId = VaGenericId;
pub type VaImageId = VaGenericId;

pub const VA_STATUS_SUCCESS: VaStatus = 0;
pub const VA_INVALID_ID: u32 = 0xffff_ffff;
/// `VA_PADDING_LOW`.
pub const PADDING_LOW: usize = 4;

// VAProfile
pub const VA_PROFILE_H264_MAIN: c_int = 6;
pub const VA_PROFILE_H264_HIGH: c_int = 7;
pub const VA_PROFILE_H264_CONSTRAINED_BASELINE: c_int = 13;
// VAEntrypoint
pub const VA_ENTRYPOINT_ENC_SLICE: c_int = 6;
pub const VA_ENTRYPOINT_ENC_SLICE_LP: c_int = 8;
// VAConfigAttribType
pub const VA_CONFIG_ATTRIB_RT_FORMAT: c_int = 0;
pub const VA_CONFIG_ATTRIB_RATE_CONTROL: c_int = 5;
pub const VA_CONFIG_ATTRIB_ENC_PACKED_HEADERS: c_int = 10;
pub const VA_ATTRIB_NOT_SUPPORTED: u32 = 0x8000_0000;
pub const VA_RT_FORMAT_YUV420: u32 = 0x0000_0001;
pub const VA_RC_CQP: u32 = 0x0000_0010;
pub const VA_ENC_PACKED_HEADER_SEQUENCE: u32 = 0x1;
pub const VA_ENC_PACKED_HEADER_PICTURE: u32 = 0x2;
pub const VA_ENC_PACKED_HEADER_SLICE: u32 = 0x4;
// VABufferType
pub const VA_ENC_CODED_BUFFER_TYPE: c_int = 21;
pub const VA_ENC_SEQUENCE_PARAMETER_BUFFER_TYPE: c_int = 22;
pub const VA_ENC_PICTURE_PARAMETER_BUFFER_TYPE: c_int = 23;
pub const VA_ENC_SLICE_PARAMETER_BUFFER_TYPE: c_int = 24;
pub const VA_ENC_PACKED_HEADER_PARAMETER_BUFFER_TYPE: c_int = 25;
pub const VA_ENC_PACKED_HEADER_DATA_BUFFER_TYPE: c_int = 26;
// VAEncPackedHeaderType
pub const VA_ENC_PACKED_HEADER_TYPE_SEQUENCE: u32 = 1;
pub const VA_ENC_PACKED_HEADER_TYPE_PICTURE: u32 = 2;
pub const VA_ENC_PACKED_HEADER_TYPE_SLICE: u32 = 3;
/// `VA_FOURCC('N','V','1','2')`.
pub const VA_FOURCC_NV12: u32 = 0x3231_564e;
/// `VA_PROGRESSIVE` (vaCreateContext flag).
pub const VA_PROGRESSIVE: c_int = 0x1;
// VAPictureH264 flags
pub const VA_PICTURE_H264_INVALID: u32 = 0x1;
pub const VA_PICTURE_H264_SHORT_TERM_REFERENCE: u32 = 0x8;

/// `VAConfigAttrib`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigAttrib {
    pub attrib_type: c_int,
    pub value: u32,
}

/// `VAImageFormat`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct ImageFormat {
    pub fourcc: u32,
    pub byte_order: u32,
    pub bits_per_pixel: u32,
    pub depth: u32,
    pub red_mask: u32,
    pub green_mask: u32,
    pub blue_mask: u32,
    pub alpha_mask: u32,
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VAImage`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct Image {
    pub image_id: VaImageId,
    pub format: ImageFormat,
    pub buf: VaBufferId,
    pub width: u16,
    pub height: u16,
    pub data_size: u32,
    pub num_planes: u32,
    pub pitches: [u32; 3],
    pub offsets: [u32; 3],
    pub num_palette_entries: i32,
    pub entry_bytes: i32,
    pub component_order: [i8; 4],
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VACodedBufferSegment` (a linked list in a mapped coded buffer).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct CodedBufferSegment {
    pub size: u32,
    pub bit_offset: u32,
    pub status: u32,
    pub reserved: u32,
    pub buf: *mut c_void,
    pub next: *mut c_void,
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VAPictureH264`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PictureH264 {
    pub picture_id: VaSurfaceId,
    pub frame_idx: u32,
    pub flags: u32,
    pub top_field_order_cnt: i32,
    pub bottom_field_order_cnt: i32,
    pub va_reserved: [u32; PADDING_LOW],
}

impl PictureH264 {
    pub const INVALID: PictureH264 = PictureH264 {
        picture_id: VA_INVALID_ID,
        frame_idx: 0,
        flags: VA_PICTURE_H264_INVALID,
        top_field_order_cnt: 0,
        bottom_field_order_cnt: 0,
        va_reserved: [0; PADDING_LOW],
    };
}

/// `VAEncSequenceParameterBufferH264`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EncSequenceParameterBufferH264 {
    pub seq_parameter_set_id: u8,
    pub level_idc: u8,
    pub intra_period: u32,
    pub intra_idr_period: u32,
    pub ip_period: u32,
    pub bits_per_second: u32,
    pub max_num_ref_frames: u32,
    pub picture_width_in_mbs: u16,
    pub picture_height_in_mbs: u16,
    /// Bitfield word: chroma_format_idc:2, frame_mbs_only_flag:1, mb_adaptive_frame_field_flag:1,
    /// seq_scaling_matrix_present_flag:1, direct_8x8_inference_flag:1,
    /// log2_max_frame_num_minus4:4, pic_order_cnt_type:2, log2_max_pic_order_cnt_lsb_minus4:4,
    /// delta_pic_order_always_zero_flag:1.
    pub seq_fields: u32,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
    pub num_ref_frames_in_pic_order_cnt_cycle: u8,
    pub offset_for_non_ref_pic: i32,
    pub offset_for_top_to_bottom_field: i32,
    pub offset_for_ref_frame: [i32; 256],
    pub frame_cropping_flag: u8,
    pub frame_crop_left_offset: u32,
    pub frame_crop_right_offset: u32,
    pub frame_crop_top_offset: u32,
    pub frame_crop_bottom_offset: u32,
    pub vui_parameters_present_flag: u8,
    /// Bitfield word: aspect_ratio_info_present_flag:1, timing_info_present_flag:1,
    /// bitstream_restriction_flag:1, log2_max_mv_length_horizontal:5,
    /// log2_max_mv_length_vertical:5, fixed_frame_rate_flag:1, low_delay_hrd_flag:1,
    /// motion_vectors_over_pic_boundaries_flag:1, reserved:16.
    pub vui_fields: u32,
    pub aspect_ratio_idc: u8,
    pub sar_width: u32,
    pub sar_height: u32,
    pub num_units_in_tick: u32,
    pub time_scale: u32,
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VAEncPictureParameterBufferH264`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EncPictureParameterBufferH264 {
    pub curr_pic: PictureH264,
    pub reference_frames: [PictureH264; 16],
    pub coded_buf: VaBufferId,
    pub pic_parameter_set_id: u8,
    pub seq_parameter_set_id: u8,
    pub last_picture: u8,
    pub frame_num: u16,
    pub pic_init_qp: u8,
    pub num_ref_idx_l0_active_minus1: u8,
    pub num_ref_idx_l1_active_minus1: u8,
    pub chroma_qp_index_offset: i8,
    pub second_chroma_qp_index_offset: i8,
    /// Bitfield word: idr_pic_flag:1, reference_pic_flag:2, entropy_coding_mode_flag:1,
    /// weighted_pred_flag:1, weighted_bipred_idc:2, constrained_intra_pred_flag:1,
    /// transform_8x8_mode_flag:1, deblocking_filter_control_present_flag:1,
    /// redundant_pic_cnt_present_flag:1, pic_order_present_flag:1,
    /// pic_scaling_matrix_present_flag:1.
    pub pic_fields: u32,
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VAEncSliceParameterBufferH264`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct EncSliceParameterBufferH264 {
    pub macroblock_address: u32,
    pub num_macroblocks: u32,
    pub macroblock_info: VaBufferId,
    pub slice_type: u8,
    pub pic_parameter_set_id: u8,
    pub idr_pic_id: u16,
    pub pic_order_cnt_lsb: u16,
    pub delta_pic_order_cnt_bottom: i32,
    pub delta_pic_order_cnt: [i32; 2],
    pub direct_spatial_mv_pred_flag: u8,
    pub num_ref_idx_active_override_flag: u8,
    pub num_ref_idx_l0_active_minus1: u8,
    pub num_ref_idx_l1_active_minus1: u8,
    pub ref_pic_list0: [PictureH264; 32],
    pub ref_pic_list1: [PictureH264; 32],
    pub luma_log2_weight_denom: u8,
    pub chroma_log2_weight_denom: u8,
    pub luma_weight_l0_flag: u8,
    pub luma_weight_l0: [i16; 32],
    pub luma_offset_l0: [i16; 32],
    pub chroma_weight_l0_flag: u8,
    pub chroma_weight_l0: [[i16; 2]; 32],
    pub chroma_offset_l0: [[i16; 2]; 32],
    pub luma_weight_l1_flag: u8,
    pub luma_weight_l1: [i16; 32],
    pub luma_offset_l1: [i16; 32],
    pub chroma_weight_l1_flag: u8,
    pub chroma_weight_l1: [[i16; 2]; 32],
    pub chroma_offset_l1: [[i16; 2]; 32],
    pub cabac_init_idc: u8,
    pub slice_qp_delta: i8,
    pub disable_deblocking_filter_idc: u8,
    pub slice_alpha_c0_offset_div2: i8,
    pub slice_beta_offset_div2: i8,
    pub va_reserved: [u32; PADDING_LOW],
}

/// `VAEncPackedHeaderParameterBuffer`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct EncPackedHeaderParameterBuffer {
    pub header_type: u32,
    pub bit_length: u32,
    pub has_emulation_bytes: u8,
    pub va_reserved: [u32; PADDING_LOW],
}

// Entry points (libva.so.2 unless noted).
pub type PfnGetDisplayDrm = unsafe extern "C" fn(c_int) -> VaDisplay; // libva-drm.so.2
pub type PfnInitialize = unsafe extern "C" fn(VaDisplay, *mut c_int, *mut c_int) -> VaStatus;
pub type PfnTerminate = unsafe extern "C" fn(VaDisplay) -> VaStatus;
pub type PfnQueryVendorString = unsafe extern "C" fn(VaDisplay) -> *const c_char;
pub type PfnErrorStr = unsafe extern "C" fn(VaStatus) -> *const c_char;
pub type PfnMaxNumEntrypoints = unsafe extern "C" fn(VaDisplay) -> c_int;
pub type PfnQueryConfigEntrypoints =
    unsafe extern "C" fn(VaDisplay, c_int, *mut c_int, *mut c_int) -> VaStatus;
pub type PfnGetConfigAttributes =
    unsafe extern "C" fn(VaDisplay, c_int, c_int, *mut ConfigAttrib, c_int) -> VaStatus;
pub type PfnCreateConfig = unsafe extern "C" fn(
    VaDisplay,
    c_int,
    c_int,
    *mut ConfigAttrib,
    c_int,
    *mut VaConfigId,
) -> VaStatus;
pub type PfnDestroyConfig = unsafe extern "C" fn(VaDisplay, VaConfigId) -> VaStatus;
pub type PfnCreateSurfaces = unsafe extern "C" fn(
    VaDisplay,
    c_uint,
    c_uint,
    c_uint,
    *mut VaSurfaceId,
    c_uint,
    *mut c_void,
    c_uint,
) -> VaStatus;
pub type PfnDestroySurfaces = unsafe extern "C" fn(VaDisplay, *mut VaSurfaceId, c_int) -> VaStatus;
pub type PfnCreateContext = unsafe extern "C" fn(
    VaDisplay,
    VaConfigId,
    c_int,
    c_int,
    c_int,
    *mut VaSurfaceId,
    c_int,
    *mut VaContextId,
) -> VaStatus;
pub type PfnDestroyContext = unsafe extern "C" fn(VaDisplay, VaContextId) -> VaStatus;
pub type PfnCreateBuffer = unsafe extern "C" fn(
    VaDisplay,
    VaContextId,
    c_int,
    c_uint,
    c_uint,
    *mut c_void,
    *mut VaBufferId,
) -> VaStatus;
pub type PfnDestroyBuffer = unsafe extern "C" fn(VaDisplay, VaBufferId) -> VaStatus;
pub type PfnMapBuffer = unsafe extern "C" fn(VaDisplay, VaBufferId, *mut *mut c_void) -> VaStatus;
pub type PfnUnmapBuffer = unsafe extern "C" fn(VaDisplay, VaBufferId) -> VaStatus;
pub type PfnBeginPicture = unsafe extern "C" fn(VaDisplay, VaContextId, VaSurfaceId) -> VaStatus;
pub type PfnRenderPicture =
    unsafe extern "C" fn(VaDisplay, VaContextId, *mut VaBufferId, c_int) -> VaStatus;
pub type PfnEndPicture = unsafe extern "C" fn(VaDisplay, VaContextId) -> VaStatus;
pub type PfnSyncSurface = unsafe extern "C" fn(VaDisplay, VaSurfaceId) -> VaStatus;
pub type PfnDeriveImage = unsafe extern "C" fn(VaDisplay, VaSurfaceId, *mut Image) -> VaStatus;
pub type PfnCreateImage =
    unsafe extern "C" fn(VaDisplay, *mut ImageFormat, c_int, c_int, *mut Image) -> VaStatus;
pub type PfnDestroyImage = unsafe extern "C" fn(VaDisplay, VaImageId) -> VaStatus;
pub type PfnPutImage = unsafe extern "C" fn(
    VaDisplay,
    VaSurfaceId,
    VaImageId,
    c_int,
    c_int,
    c_uint,
    c_uint,
    c_int,
    c_int,
    c_uint,
    c_uint,
) -> VaStatus;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    /// (C expression, our value) pairs checked against the real headers when present.
    fn layout_table() -> Vec<(&'static str, usize)> {
        vec![
            ("sizeof(VAConfigAttrib)", size_of::<ConfigAttrib>()),
            ("sizeof(VAImageFormat)", size_of::<ImageFormat>()),
            ("sizeof(VAImage)", size_of::<Image>()),
            ("offsetof(VAImage, buf)", offset_of!(Image, buf)),
            ("offsetof(VAImage, pitches)", offset_of!(Image, pitches)),
            ("offsetof(VAImage, offsets)", offset_of!(Image, offsets)),
            (
                "sizeof(VACodedBufferSegment)",
                size_of::<CodedBufferSegment>(),
            ),
            (
                "offsetof(VACodedBufferSegment, buf)",
                offset_of!(CodedBufferSegment, buf),
            ),
            (
                "offsetof(VACodedBufferSegment, next)",
                offset_of!(CodedBufferSegment, next),
            ),
            ("sizeof(VAPictureH264)", size_of::<PictureH264>()),
            (
                "sizeof(VAEncSequenceParameterBufferH264)",
                size_of::<EncSequenceParameterBufferH264>(),
            ),
            (
                "offsetof(VAEncSequenceParameterBufferH264, seq_fields)",
                offset_of!(EncSequenceParameterBufferH264, seq_fields),
            ),
            (
                "offsetof(VAEncSequenceParameterBufferH264, frame_cropping_flag)",
                offset_of!(EncSequenceParameterBufferH264, frame_cropping_flag),
            ),
            (
                "offsetof(VAEncSequenceParameterBufferH264, frame_crop_bottom_offset)",
                offset_of!(EncSequenceParameterBufferH264, frame_crop_bottom_offset),
            ),
            (
                "offsetof(VAEncSequenceParameterBufferH264, vui_fields)",
                offset_of!(EncSequenceParameterBufferH264, vui_fields),
            ),
            (
                "offsetof(VAEncSequenceParameterBufferH264, time_scale)",
                offset_of!(EncSequenceParameterBufferH264, time_scale),
            ),
            (
                "sizeof(VAEncPictureParameterBufferH264)",
                size_of::<EncPictureParameterBufferH264>(),
            ),
            (
                "offsetof(VAEncPictureParameterBufferH264, coded_buf)",
                offset_of!(EncPictureParameterBufferH264, coded_buf),
            ),
            (
                "offsetof(VAEncPictureParameterBufferH264, frame_num)",
                offset_of!(EncPictureParameterBufferH264, frame_num),
            ),
            (
                "offsetof(VAEncPictureParameterBufferH264, pic_init_qp)",
                offset_of!(EncPictureParameterBufferH264, pic_init_qp),
            ),
            (
                "offsetof(VAEncPictureParameterBufferH264, pic_fields)",
                offset_of!(EncPictureParameterBufferH264, pic_fields),
            ),
            (
                "sizeof(VAEncSliceParameterBufferH264)",
                size_of::<EncSliceParameterBufferH264>(),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, idr_pic_id)",
                offset_of!(EncSliceParameterBufferH264, idr_pic_id),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, RefPicList0)",
                offset_of!(EncSliceParameterBufferH264, ref_pic_list0),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, luma_weight_l0)",
                offset_of!(EncSliceParameterBufferH264, luma_weight_l0),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, chroma_weight_l0)",
                offset_of!(EncSliceParameterBufferH264, chroma_weight_l0),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, chroma_weight_l1)",
                offset_of!(EncSliceParameterBufferH264, chroma_weight_l1),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, cabac_init_idc)",
                offset_of!(EncSliceParameterBufferH264, cabac_init_idc),
            ),
            (
                "offsetof(VAEncSliceParameterBufferH264, slice_beta_offset_div2)",
                offset_of!(EncSliceParameterBufferH264, slice_beta_offset_div2),
            ),
            (
                "sizeof(VAEncPackedHeaderParameterBuffer)",
                size_of::<EncPackedHeaderParameterBuffer>(),
            ),
        ]
    }

    #[test]
    fn layouts_by_hand() {
        // VAConfigAttrib: enum + u32.
        assert_eq!(size_of::<ConfigAttrib>(), 8);
        // VAImageFormat: 8 x u32 + va_reserved[4].
        assert_eq!(size_of::<ImageFormat>(), 48);
        // VAImage: image_id, format (48) @4, buf @52, width/height (u16) @56/58,
        // data_size @60, num_planes @64, pitches[3] @68, offsets[3] @80,
        // num_palette_entries @92, entry_bytes @96, component_order[4] @100,
        // va_reserved[4] @104 -> 120.
        assert_eq!(offset_of!(Image, buf), 52);
        assert_eq!(offset_of!(Image, pitches), 68);
        assert_eq!(offset_of!(Image, offsets), 80);
        assert_eq!(size_of::<Image>(), 120);
        // VACodedBufferSegment: 4 x u32, buf @16, next @24, va_reserved[4] @32 -> 48.
        assert_eq!(offset_of!(CodedBufferSegment, next), 24);
        assert_eq!(size_of::<CodedBufferSegment>(), 48);
        // VAPictureH264: 5 x 4 + va_reserved[4] = 36.
        assert_eq!(size_of::<PictureH264>(), 36);
        // VAEncSequenceParameterBufferH264: 2 x u8 (padded to 4), 5 x u32 -> 24, 2 x u16
        // -> 28, seq_fields @28, 3 x u8 @32..34 (padded to 36), 2 x i32 -> 44,
        // offset_for_ref_frame[256] @44 (1024 -> 1068), frame_cropping_flag @1068, 4 crop u32
        // @1072..1087, vui_parameters_present_flag @1088, vui_fields @1092,
        // aspect_ratio_idc @1096, sar_width @1100, sar_height, num_units_in_tick,
        // time_scale @1112, va_reserved[4] @1116 -> 1132.
        assert_eq!(offset_of!(EncSequenceParameterBufferH264, intra_period), 4);
        assert_eq!(
            offset_of!(EncSequenceParameterBufferH264, picture_width_in_mbs),
            24
        );
        assert_eq!(offset_of!(EncSequenceParameterBufferH264, seq_fields), 28);
        assert_eq!(
            offset_of!(EncSequenceParameterBufferH264, offset_for_non_ref_pic),
            36
        );
        assert_eq!(
            offset_of!(EncSequenceParameterBufferH264, frame_cropping_flag),
            1068
        );
        assert_eq!(
            offset_of!(EncSequenceParameterBufferH264, frame_crop_bottom_offset),
            1084
        );
        assert_eq!(offset_of!(EncSequenceParameterBufferH264, vui_fields), 1092);
        assert_eq!(offset_of!(EncSequenceParameterBufferH264, time_scale), 1112);
        assert_eq!(size_of::<EncSequenceParameterBufferH264>(), 1132);
        // VAEncPictureParameterBufferH264: CurrPic (36), ReferenceFrames[16] @36 (576 ->
        // 612), coded_buf @612, 3 x u8 @616..618, frame_num (u16) @620, pic_init_qp @622,
        // 4 x u8/i8 @623..626 (padded to 628), pic_fields @628, va_reserved @632 -> 648.
        assert_eq!(offset_of!(EncPictureParameterBufferH264, coded_buf), 612);
        assert_eq!(offset_of!(EncPictureParameterBufferH264, frame_num), 620);
        assert_eq!(offset_of!(EncPictureParameterBufferH264, pic_init_qp), 622);
        assert_eq!(offset_of!(EncPictureParameterBufferH264, pic_fields), 628);
        assert_eq!(size_of::<EncPictureParameterBufferH264>(), 648);
        // VAEncSliceParameterBufferH264: 3 x u32 -> 12, slice_type @12, pps id @13,
        // idr_pic_id (u16) @14, pic_order_cnt_lsb @16 (padded to 20), 3 x i32 @20 -> 32,
        // 4 x u8 @32 -> 36, RefPicList0[32] @36 (1152 -> 1188), RefPicList1 @1188 -> 2340,
        // 3 x u8 @2340 (padded to 2344), luma_weight_l0 @2344, luma_offset_l0 @2408,
        // chroma_weight_l0_flag @2472, chroma_weight_l0 @2474, chroma_offset_l0 @2602,
        // luma_weight_l1_flag @2730, luma_weight_l1 @2732, luma_offset_l1 @2796,
        // chroma_weight_l1_flag @2860, chroma_weight_l1 @2862, chroma_offset_l1 @2990,
        // cabac_init_idc @3118 .. slice_beta_offset_div2 @3122 (padded to 3124),
        // va_reserved @3124 -> 3140.
        assert_eq!(offset_of!(EncSliceParameterBufferH264, ref_pic_list0), 36);
        assert_eq!(offset_of!(EncSliceParameterBufferH264, ref_pic_list1), 1188);
        assert_eq!(
            offset_of!(EncSliceParameterBufferH264, luma_weight_l0),
            2344
        );
        assert_eq!(
            offset_of!(EncSliceParameterBufferH264, chroma_weight_l0),
            2474
        );
        assert_eq!(
            offset_of!(EncSliceParameterBufferH264, chroma_weight_l1),
            2862
        );
        assert_eq!(
            offset_of!(EncSliceParameterBufferH264, cabac_init_idc),
            3118
        );
        assert_eq!(
            offset_of!(EncSliceParameterBufferH264, slice_beta_offset_div2),
            3122
        );
        assert_eq!(size_of::<EncSliceParameterBufferH264>(), 3140);
        // VAEncPackedHeaderParameterBuffer: type, bit_length, has_emulation_bytes (padded to
        // 12), va_reserved[4] -> 28.
        assert_eq!(size_of::<EncPackedHeaderParameterBuffer>(), 28);
    }

    /// Compiles a C program against the installed libva headers and compares its
    /// `sizeof`/`offsetof` answers with ours. Fails where the headers or a C compiler are
    /// missing (CI installs both).
    #[test]
    fn layouts_match_the_installed_libva_headers() {
        let include = std::path::Path::new("/usr/include/va/va_enc_h264.h");
        assert!(
            include.exists(),
            "{} is missing: the VA-API layout test needs the libva development headers (apt install libva-dev)",
            include.display()
        );
        let table = layout_table();
        let mut src = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include <va/va.h>\n#include <va/va_enc_h264.h>\nint main(void) {\n",
        );
        for (expr, _) in &table {
            src.push_str(&format!("    printf(\"%zu\\n\", (size_t)({expr}));\n"));
        }
        src.push_str(
            "    printf(\"%u %u %u %u %u %u %u\\n\", (unsigned)VAProfileH264ConstrainedBaseline, (unsigned)VAEntrypointEncSliceLP, (unsigned)VAEncPackedHeaderDataBufferType, (unsigned)VA_FOURCC_NV12, (unsigned)VAConfigAttribEncPackedHeaders, (unsigned)VA_RC_CQP, (unsigned)VAEncPackedHeaderSlice);\n    return 0;\n}\n",
        );
        let dir = std::env::temp_dir().join(format!("stripecast-va-layout-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, exe) = (dir.join("layout.c"), dir.join("layout"));
        std::fs::write(&c, src).unwrap();
        let built = std::process::Command::new("cc")
            .arg(&c)
            .arg("-o")
            .arg(&exe)
            .output();
        match built {
            Ok(o) if o.status.success() => {}
            Ok(o) => panic!(
                "compiling the layout probe failed: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(e) => crate::encode::tool_missing(
                "cc",
                e,
                "the VA-API layout test needs a C compiler (apt install gcc)",
            ),
        }
        let out = std::process::Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        let text = String::from_utf8(out.stdout).unwrap();
        let mut lines = text.lines();
        for (expr, ours) in &table {
            let theirs: usize = lines.next().unwrap().parse().unwrap();
            assert_eq!(*ours, theirs, "{expr}");
        }
        let enums: Vec<u32> = lines
            .next()
            .unwrap()
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect();
        assert_eq!(
            enums,
            [
                VA_PROFILE_H264_CONSTRAINED_BASELINE as u32,
                VA_ENTRYPOINT_ENC_SLICE_LP as u32,
                VA_ENC_PACKED_HEADER_DATA_BUFFER_TYPE as u32,
                VA_FOURCC_NV12,
                VA_CONFIG_ATTRIB_ENC_PACKED_HEADERS as u32,
                VA_RC_CQP,
                VA_ENC_PACKED_HEADER_TYPE_SLICE,
            ]
        );
    }
}
