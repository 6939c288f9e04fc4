//! The slice of the NVENC API (NVIDIA Video Codec SDK **12.0**, `nvEncodeAPI.h`) and of the CUDA
//! driver API that [`super::NvencEncoder`] uses, written by hand from the public header's
//! documented facts (field order, types, version macros, GUIDs, enum values). No NVIDIA header
//! is needed to build, and nothing is linked: both libraries are opened at run time.
//!
//! # Why API 12.0
//! A client built for API `M.m` runs on every driver whose `NvEncodeAPIGetMaxSupportedVersion`
//! reports at least `M.m` (the driver keeps the older struct layouts). 12.0 is the oldest API
//! with everything used here (P1..P7 presets with tuning info through
//! `nvEncGetEncodePresetConfigEx`), so it reaches the widest range of drivers: Linux 520.56.06
//! and newer. 12.1 and 12.2 changed several struct versions and layouts for no feature we need.
//!
//! # Layouts
//! Every struct (`structs.rs`, and the function list in `functions.rs`) is `#[repr(C)]` with the
//! header's fields in the header's order, and its reserved tail arrays with the header's
//! lengths, so the driver can read and write the whole struct. The tests next to them pin
//! `size_of` and the offsets of every field the encoder touches. The expected numbers were
//! computed by hand from the 12.0 header (x86-64 SysV: `u32` and enums 4 bytes aligned 4, `u64`
//! and pointers 8 aligned 8, bitfields packed into one `u32`); each test names the fields that
//! lead to its numbers. `NV_ENC_PIC_PARAMS` (3360) and `NV_ENC_LOCK_BITSTREAM` (1544) match the
//! sizes other public bindings assert for 12.x. Unions are modelled as a union of the one member
//! we use plus a `[u64; N]` that gives the union its size and alignment (the largest member,
//! named in a comment).
//!
//! Bitfields are plain `u32` words with `const` bit masks (C bitfields are allocated from the
//! least significant bit on x86-64 GCC/Clang).

#![allow(dead_code)]

// Submodules by kind of declaration; everything is re-exported so users write `sys::X`.
mod cuda;
mod functions;
mod structs;

pub use self::cuda::*;
pub use self::functions::*;
pub use self::structs::*;

use std::ffi::c_int;

/// `NVENCAPI_MAJOR_VERSION` / `NVENCAPI_MINOR_VERSION` of the header these structs follow.
pub const API_MAJOR: u32 = 12;
pub const API_MINOR: u32 = 0;
/// `NVENCAPI_VERSION = major | (minor << 24)`.
pub const NVENCAPI_VERSION: u32 = API_MAJOR | (API_MINOR << 24);
/// What `NvEncodeAPIGetMaxSupportedVersion` must report at least: `(major << 4) | minor`.
pub const MIN_DRIVER_API: u32 = (API_MAJOR << 4) | API_MINOR;

/// `NVENCAPI_STRUCT_VERSION(ver) = NVENCAPI_VERSION | (ver << 16) | (0x7 << 28)`.
pub const fn struct_version(ver: u32) -> u32 {
    NVENCAPI_VERSION | (ver << 16) | (0x7 << 28)
}

pub const NV_ENC_CAPS_PARAM_VER: u32 = struct_version(1);
pub const NV_ENC_CREATE_INPUT_BUFFER_VER: u32 = struct_version(1);
pub const NV_ENC_CREATE_BITSTREAM_BUFFER_VER: u32 = struct_version(1);
pub const NV_ENC_RC_PARAMS_VER: u32 = struct_version(1);
pub const NV_ENC_CONFIG_VER: u32 = struct_version(8) | (1 << 31);
pub const NV_ENC_INITIALIZE_PARAMS_VER: u32 = struct_version(5) | (1 << 31);
pub const NV_ENC_RECONFIGURE_PARAMS_VER: u32 = struct_version(1) | (1 << 31);
pub const NV_ENC_PRESET_CONFIG_VER: u32 = struct_version(4) | (1 << 31);
pub const NV_ENC_PIC_PARAMS_VER: u32 = struct_version(6) | (1 << 31);
pub const NV_ENC_LOCK_BITSTREAM_VER: u32 = struct_version(2);
pub const NV_ENC_LOCK_INPUT_BUFFER_VER: u32 = struct_version(1);
pub const NV_ENC_OPEN_ENCODE_SESSION_EX_PARAMS_VER: u32 = struct_version(1);
pub const NV_ENCODE_API_FUNCTION_LIST_VER: u32 = struct_version(2);

/// `NVENC_INFINITE_GOPLENGTH`.
pub const NVENC_INFINITE_GOPLENGTH: u32 = 0xffff_ffff;

/// The header's non-Windows `GUID`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Guid {
    pub data1: u32,
    pub data2: u16,
    pub data3: u16,
    pub data4: [u8; 8],
}

const fn guid(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Guid {
    Guid {
        data1,
        data2,
        data3,
        data4,
    }
}

/// {6BC82762-4E63-4CA4-AA85-1E50F321F6BF}
pub const NV_ENC_CODEC_H264_GUID: Guid = guid(
    0x6bc8_2762,
    0x4e63,
    0x4ca4,
    [0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf],
);
/// {0727BCAA-78C4-4C83-8C2F-EF3DFF267C6A}
pub const NV_ENC_H264_PROFILE_BASELINE_GUID: Guid = guid(
    0x0727_bcaa,
    0x78c4,
    0x4c83,
    [0x8c, 0x2f, 0xef, 0x3d, 0xff, 0x26, 0x7c, 0x6a],
);
/// {60B5C1D4-67FE-4790-94D5-C4726D7B6E6D}
pub const NV_ENC_H264_PROFILE_MAIN_GUID: Guid = guid(
    0x60b5_c1d4,
    0x67fe,
    0x4790,
    [0x94, 0xd5, 0xc4, 0x72, 0x6d, 0x7b, 0x6e, 0x6d],
);
/// {E7CBC309-4F7A-4B89-AF2A-D537C92BE310}
pub const NV_ENC_H264_PROFILE_HIGH_GUID: Guid = guid(
    0xe7cb_c309,
    0x4f7a,
    0x4b89,
    [0xaf, 0x2a, 0xd5, 0x37, 0xc9, 0x2b, 0xe3, 0x10],
);
/// {7AC663CB-A598-4960-B844-339B261A7D52}
pub const NV_ENC_H264_PROFILE_HIGH_444_GUID: Guid = guid(
    0x7ac6_63cb,
    0xa598,
    0x4960,
    [0xb8, 0x44, 0x33, 0x9b, 0x26, 0x1a, 0x7d, 0x52],
);

/// Presets P1 (fastest) .. P7 (best quality).
pub const NV_ENC_PRESET_GUIDS: [Guid; 7] = [
    // {FC0A8D3E-45F8-4CF8-80C7-298871590EBF}
    guid(
        0xfc0a_8d3e,
        0x45f8,
        0x4cf8,
        [0x80, 0xc7, 0x29, 0x88, 0x71, 0x59, 0x0e, 0xbf],
    ),
    // {F581CFB8-88D6-4381-93F0-DF13F9C27DAB}
    guid(
        0xf581_cfb8,
        0x88d6,
        0x4381,
        [0x93, 0xf0, 0xdf, 0x13, 0xf9, 0xc2, 0x7d, 0xab],
    ),
    // {36850110-3A07-441F-94D5-3670631F91F6}
    guid(
        0x3685_0110,
        0x3a07,
        0x441f,
        [0x94, 0xd5, 0x36, 0x70, 0x63, 0x1f, 0x91, 0xf6],
    ),
    // {90A7B826-DF06-4862-B9D2-CD6D73A08681}
    guid(
        0x90a7_b826,
        0xdf06,
        0x4862,
        [0xb9, 0xd2, 0xcd, 0x6d, 0x73, 0xa0, 0x86, 0x81],
    ),
    // {21C6E6B4-297A-4CBA-998F-B6CBDE72ADE3}
    guid(
        0x21c6_e6b4,
        0x297a,
        0x4cba,
        [0x99, 0x8f, 0xb6, 0xcb, 0xde, 0x72, 0xad, 0xe3],
    ),
    // {8E75C279-6299-4AB6-8302-0B215A335CF5}
    guid(
        0x8e75_c279,
        0x6299,
        0x4ab6,
        [0x83, 0x02, 0x0b, 0x21, 0x5a, 0x33, 0x5c, 0xf5],
    ),
    // {84848C12-6F71-4C13-931B-53E283F57974}
    guid(
        0x8484_8c12,
        0x6f71,
        0x4c13,
        [0x93, 0x1b, 0x53, 0xe2, 0x83, 0xf5, 0x79, 0x74],
    ),
];

/// `NVENCSTATUS` (a C enum: `int`).
pub type NvEncStatus = c_int;
pub const NV_ENC_SUCCESS: NvEncStatus = 0;
pub const NV_ENC_ERR_INVALID_VERSION: NvEncStatus = 15;
pub const NV_ENC_ERR_NEED_MORE_INPUT: NvEncStatus = 17;

/// The `NVENCSTATUS` enumerator names, indexed by value (0 ..= 25).
const STATUS_NAMES: [&str; 26] = [
    "NV_ENC_SUCCESS",
    "NV_ENC_ERR_NO_ENCODE_DEVICE",
    "NV_ENC_ERR_UNSUPPORTED_DEVICE",
    "NV_ENC_ERR_INVALID_ENCODERDEVICE",
    "NV_ENC_ERR_INVALID_DEVICE",
    "NV_ENC_ERR_DEVICE_NOT_EXIST",
    "NV_ENC_ERR_INVALID_PTR",
    "NV_ENC_ERR_INVALID_EVENT",
    "NV_ENC_ERR_INVALID_PARAM",
    "NV_ENC_ERR_INVALID_CALL",
    "NV_ENC_ERR_OUT_OF_MEMORY",
    "NV_ENC_ERR_ENCODER_NOT_INITIALIZED",
    "NV_ENC_ERR_UNSUPPORTED_PARAM",
    "NV_ENC_ERR_LOCK_BUSY",
    "NV_ENC_ERR_NOT_ENOUGH_BUFFER",
    "NV_ENC_ERR_INVALID_VERSION",
    "NV_ENC_ERR_MAP_FAILED",
    "NV_ENC_ERR_NEED_MORE_INPUT",
    "NV_ENC_ERR_ENCODER_BUSY",
    "NV_ENC_ERR_EVENT_NOT_REGISTERD",
    "NV_ENC_ERR_GENERIC",
    "NV_ENC_ERR_INCOMPATIBLE_CLIENT_KEY",
    "NV_ENC_ERR_UNIMPLEMENTED",
    "NV_ENC_ERR_RESOURCE_REGISTER_FAILED",
    "NV_ENC_ERR_RESOURCE_NOT_REGISTERED",
    "NV_ENC_ERR_RESOURCE_NOT_MAPPED",
];

/// The enumerator name of an `NVENCSTATUS` value.
pub fn status_name(status: NvEncStatus) -> String {
    usize::try_from(status)
        .ok()
        .and_then(|i| STATUS_NAMES.get(i))
        .map(|s| (*s).to_string())
        .unwrap_or_else(|| format!("NVENCSTATUS {status}"))
}

// NV_ENC_PARAMS_RC_MODE
pub const NV_ENC_PARAMS_RC_CONSTQP: u32 = 0;
// NV_ENC_MULTI_PASS
pub const NV_ENC_MULTI_PASS_DISABLED: u32 = 0;
// NV_ENC_PIC_STRUCT
pub const NV_ENC_PIC_STRUCT_FRAME: u32 = 1;
// NV_ENC_PIC_TYPE
pub const NV_ENC_PIC_TYPE_P: u32 = 0;
pub const NV_ENC_PIC_TYPE_I: u32 = 2;
pub const NV_ENC_PIC_TYPE_IDR: u32 = 3;
// NV_ENC_BUFFER_FORMAT
pub const NV_ENC_BUFFER_FORMAT_NV12: u32 = 0x0000_0001;
pub const NV_ENC_BUFFER_FORMAT_YUV444: u32 = 0x0000_1000;
pub const NV_ENC_BUFFER_FORMAT_ARGB: u32 = 0x0100_0000;
// NV_ENC_PIC_FLAGS
pub const NV_ENC_PIC_FLAG_FORCEINTRA: u32 = 0x1;
pub const NV_ENC_PIC_FLAG_FORCEIDR: u32 = 0x2;
pub const NV_ENC_PIC_FLAG_OUTPUT_SPSPPS: u32 = 0x4;
pub const NV_ENC_PIC_FLAG_EOS: u32 = 0x8;
// NV_ENC_DEVICE_TYPE
pub const NV_ENC_DEVICE_TYPE_CUDA: u32 = 1;
// NV_ENC_TUNING_INFO
pub const NV_ENC_TUNING_INFO_LOW_LATENCY: u32 = 2;
pub const NV_ENC_TUNING_INFO_ULTRA_LOW_LATENCY: u32 = 3;
// NV_ENC_CAPS (enumerators counted from 0 in header order)
pub const NV_ENC_CAPS_WIDTH_MAX: u32 = 16;
pub const NV_ENC_CAPS_HEIGHT_MAX: u32 = 17;
pub const NV_ENC_CAPS_SUPPORT_YUV444_ENCODE: u32 = 33;
// NV_ENC_VUI_* values for BT.709
pub const NV_ENC_VUI_VIDEO_FORMAT_UNSPECIFIED: u32 = 5;
pub const NV_ENC_VUI_COLOR_PRIMARIES_BT709: u32 = 1;
pub const NV_ENC_VUI_TRANSFER_CHARACTERISTIC_BT709: u32 = 1;
pub const NV_ENC_VUI_MATRIX_COEFFS_BT709: u32 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{align_of, size_of};

    #[test]
    fn version_macros() {
        // NVENCAPI_VERSION = 12 | (0 << 24).
        assert_eq!(NVENCAPI_VERSION, 0x0000_000c);
        // STRUCT_VERSION(1) = 0x0000000c | 1 << 16 | 7 << 28.
        assert_eq!(struct_version(1), 0x7001_000c);
        assert_eq!(NV_ENCODE_API_FUNCTION_LIST_VER, 0x7002_000c);
        assert_eq!(NV_ENC_CONFIG_VER, 0xf008_000c);
        assert_eq!(NV_ENC_INITIALIZE_PARAMS_VER, 0xf005_000c);
        assert_eq!(NV_ENC_PRESET_CONFIG_VER, 0xf004_000c);
        assert_eq!(NV_ENC_PIC_PARAMS_VER, 0xf006_000c);
        assert_eq!(NV_ENC_RECONFIGURE_PARAMS_VER, 0xf001_000c);
        assert_eq!(NV_ENC_LOCK_BITSTREAM_VER, 0x7002_000c);
        assert_eq!(MIN_DRIVER_API, 0xc0);
    }

    #[test]
    fn guid_layout_and_values() {
        // uint32 + 2 x uint16 + uint8[8]
        assert_eq!(size_of::<Guid>(), 16);
        assert_eq!(align_of::<Guid>(), 4);
        assert_eq!(NV_ENC_PRESET_GUIDS[3].data1, 0x90a7_b826); // P4
        let all = [
            NV_ENC_CODEC_H264_GUID,
            NV_ENC_H264_PROFILE_BASELINE_GUID,
            NV_ENC_H264_PROFILE_MAIN_GUID,
            NV_ENC_H264_PROFILE_HIGH_GUID,
            NV_ENC_H264_PROFILE_HIGH_444_GUID,
        ]
        .into_iter()
        .chain(NV_ENC_PRESET_GUIDS);
        let set: std::collections::HashSet<_> = all.map(|g| (g.data1, g.data4)).collect();
        assert_eq!(set.len(), 12, "GUIDs must be distinct");
    }

    #[test]
    fn status_names() {
        assert_eq!(status_name(0), "NV_ENC_SUCCESS");
        assert_eq!(status_name(8), "NV_ENC_ERR_INVALID_PARAM");
        assert_eq!(status_name(15), "NV_ENC_ERR_INVALID_VERSION");
        assert_eq!(status_name(20), "NV_ENC_ERR_GENERIC");
        assert_eq!(status_name(99), "NVENCSTATUS 99");
    }
}
