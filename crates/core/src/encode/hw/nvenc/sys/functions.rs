//! NVENC's entry points: the function list `NvEncodeAPICreateInstance` fills, and the exports.

use std::ffi::{c_char, c_int, c_void};

use super::structs::{
    CapsParam, CreateBitstreamBuffer, CreateInputBuffer, InitializeParams, LockBitstream,
    LockInputBuffer, OpenEncodeSessionExParams, PicParams, PresetConfig, ReconfigureParams,
};
use super::{Guid, NvEncStatus};

type Encoder = *mut c_void;

pub type PfnOpenEncodeSessionEx =
    unsafe extern "C" fn(*mut OpenEncodeSessionExParams, *mut Encoder) -> NvEncStatus;
pub type PfnGetEncodeCaps =
    unsafe extern "C" fn(Encoder, Guid, *mut CapsParam, *mut c_int) -> NvEncStatus;
pub type PfnGetEncodePresetConfigEx =
    unsafe extern "C" fn(Encoder, Guid, Guid, u32, *mut PresetConfig) -> NvEncStatus;
pub type PfnInitializeEncoder = unsafe extern "C" fn(Encoder, *mut InitializeParams) -> NvEncStatus;
pub type PfnCreateInputBuffer =
    unsafe extern "C" fn(Encoder, *mut CreateInputBuffer) -> NvEncStatus;
pub type PfnDestroyBuffer = unsafe extern "C" fn(Encoder, *mut c_void) -> NvEncStatus;
pub type PfnCreateBitstreamBuffer =
    unsafe extern "C" fn(Encoder, *mut CreateBitstreamBuffer) -> NvEncStatus;
pub type PfnEncodePicture = unsafe extern "C" fn(Encoder, *mut PicParams) -> NvEncStatus;
pub type PfnLockBitstream = unsafe extern "C" fn(Encoder, *mut LockBitstream) -> NvEncStatus;
pub type PfnLockInputBuffer = unsafe extern "C" fn(Encoder, *mut LockInputBuffer) -> NvEncStatus;
pub type PfnDestroyEncoder = unsafe extern "C" fn(Encoder) -> NvEncStatus;
pub type PfnReconfigureEncoder =
    unsafe extern "C" fn(Encoder, *mut ReconfigureParams) -> NvEncStatus;
pub type PfnGetLastErrorString = unsafe extern "C" fn(Encoder) -> *const c_char;

/// An entry of the function list that this client never calls (only its slot matters).
pub type Unused = *const c_void;

/// `NV_ENCODE_API_FUNCTION_LIST`: filled by `NvEncodeAPICreateInstance`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FunctionList {
    pub version: u32,
    pub reserved: u32,
    pub nv_enc_open_encode_session: Unused,
    pub nv_enc_get_encode_guid_count: Unused,
    pub nv_enc_get_encode_profile_guid_count: Unused,
    pub nv_enc_get_encode_profile_guids: Unused,
    pub nv_enc_get_encode_guids: Unused,
    pub nv_enc_get_input_format_count: Unused,
    pub nv_enc_get_input_formats: Unused,
    pub nv_enc_get_encode_caps: Option<PfnGetEncodeCaps>,
    pub nv_enc_get_encode_preset_count: Unused,
    pub nv_enc_get_encode_preset_guids: Unused,
    pub nv_enc_get_encode_preset_config: Unused,
    pub nv_enc_initialize_encoder: Option<PfnInitializeEncoder>,
    pub nv_enc_create_input_buffer: Option<PfnCreateInputBuffer>,
    pub nv_enc_destroy_input_buffer: Option<PfnDestroyBuffer>,
    pub nv_enc_create_bitstream_buffer: Option<PfnCreateBitstreamBuffer>,
    pub nv_enc_destroy_bitstream_buffer: Option<PfnDestroyBuffer>,
    pub nv_enc_encode_picture: Option<PfnEncodePicture>,
    pub nv_enc_lock_bitstream: Option<PfnLockBitstream>,
    pub nv_enc_unlock_bitstream: Option<PfnDestroyBuffer>,
    pub nv_enc_lock_input_buffer: Option<PfnLockInputBuffer>,
    pub nv_enc_unlock_input_buffer: Option<PfnDestroyBuffer>,
    pub nv_enc_get_encode_stats: Unused,
    pub nv_enc_get_sequence_params: Unused,
    pub nv_enc_register_async_event: Unused,
    pub nv_enc_unregister_async_event: Unused,
    pub nv_enc_map_input_resource: Unused,
    pub nv_enc_unmap_input_resource: Unused,
    pub nv_enc_destroy_encoder: Option<PfnDestroyEncoder>,
    pub nv_enc_invalidate_ref_frames: Unused,
    pub nv_enc_open_encode_session_ex: Option<PfnOpenEncodeSessionEx>,
    pub nv_enc_register_resource: Unused,
    pub nv_enc_unregister_resource: Unused,
    pub nv_enc_reconfigure_encoder: Option<PfnReconfigureEncoder>,
    pub reserved1: Unused,
    pub nv_enc_create_mv_buffer: Unused,
    pub nv_enc_destroy_mv_buffer: Unused,
    pub nv_enc_run_motion_estimation_only: Unused,
    pub nv_enc_get_last_error_string: Option<PfnGetLastErrorString>,
    pub nv_enc_set_io_cuda_streams: Unused,
    pub nv_enc_get_encode_preset_config_ex: Option<PfnGetEncodePresetConfigEx>,
    pub nv_enc_get_sequence_param_ex: Unused,
    pub reserved2: [Unused; 277],
}

/// `NvEncodeAPIGetMaxSupportedVersion(uint32_t *version)`.
pub type PfnGetMaxSupportedVersion = unsafe extern "C" fn(*mut u32) -> NvEncStatus;
/// `NvEncodeAPICreateInstance(NV_ENCODE_API_FUNCTION_LIST *functionList)`.
pub type PfnCreateInstance = unsafe extern "C" fn(*mut FunctionList) -> NvEncStatus;

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::{offset_of, size_of};

    #[test]
    fn function_list_layout() {
        // version, reserved, then 41 pointers from nvEncOpenEncodeSession @8 to
        // nvEncGetSequenceParamEx @328 in header order (reserved1 @272 between
        // nvEncReconfigureEncoder and nvEncCreateMVBuffer), reserved2[277] @336 -> 2552.
        assert_eq!(offset_of!(FunctionList, nv_enc_open_encode_session), 8);
        assert_eq!(offset_of!(FunctionList, nv_enc_get_encode_caps), 64);
        assert_eq!(offset_of!(FunctionList, nv_enc_initialize_encoder), 96);
        assert_eq!(offset_of!(FunctionList, nv_enc_create_input_buffer), 104);
        assert_eq!(offset_of!(FunctionList, nv_enc_encode_picture), 136);
        assert_eq!(offset_of!(FunctionList, nv_enc_lock_bitstream), 144);
        assert_eq!(offset_of!(FunctionList, nv_enc_lock_input_buffer), 160);
        assert_eq!(offset_of!(FunctionList, nv_enc_destroy_encoder), 224);
        assert_eq!(offset_of!(FunctionList, nv_enc_open_encode_session_ex), 240);
        assert_eq!(offset_of!(FunctionList, nv_enc_reconfigure_encoder), 264);
        assert_eq!(offset_of!(FunctionList, nv_enc_get_last_error_string), 304);
        assert_eq!(
            offset_of!(FunctionList, nv_enc_get_encode_preset_config_ex),
            320
        );
        assert_eq!(offset_of!(FunctionList, reserved2), 336);
        assert_eq!(size_of::<FunctionList>(), 2552);
        // Option<fn> is a nullable pointer: zeroed memory is `None`.
        assert_eq!(size_of::<Option<PfnEncodePicture>>(), 8);
    }
}
