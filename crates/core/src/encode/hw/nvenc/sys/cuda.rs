//! The CUDA driver entry points (`libcuda.so.1`) that make a context for NVENC.

use std::ffi::{c_char, c_int, c_uint, c_void};

/// `CUresult` (a C enum).
pub type CuResult = c_int;
pub const CUDA_SUCCESS: CuResult = 0;
/// `CUdevice` (an `int` ordinal).
pub type CuDevice = c_int;
/// `CUcontext` (an opaque pointer).
pub type CuContext = *mut c_void;

/// `cuInit(unsigned int Flags)`.
pub type PfnCuInit = unsafe extern "C" fn(c_uint) -> CuResult;
/// `cuDeviceGetCount(int *count)`.
pub type PfnCuDeviceGetCount = unsafe extern "C" fn(*mut c_int) -> CuResult;
/// `cuDeviceGet(CUdevice *device, int ordinal)`.
pub type PfnCuDeviceGet = unsafe extern "C" fn(*mut CuDevice, c_int) -> CuResult;
/// `cuDeviceGetName(char *name, int len, CUdevice dev)`.
pub type PfnCuDeviceGetName = unsafe extern "C" fn(*mut c_char, c_int, CuDevice) -> CuResult;
/// `cuCtxCreate_v2(CUcontext *pctx, unsigned int flags, CUdevice dev)`.
pub type PfnCuCtxCreate = unsafe extern "C" fn(*mut CuContext, c_uint, CuDevice) -> CuResult;
/// `cuCtxDestroy_v2(CUcontext ctx)`.
pub type PfnCuCtxDestroy = unsafe extern "C" fn(CuContext) -> CuResult;
/// `cuCtxPushCurrent_v2(CUcontext ctx)`.
pub type PfnCuCtxPushCurrent = unsafe extern "C" fn(CuContext) -> CuResult;
/// `cuCtxPopCurrent_v2(CUcontext *pctx)`.
pub type PfnCuCtxPopCurrent = unsafe extern "C" fn(*mut CuContext) -> CuResult;
/// `cuGetErrorName(CUresult error, const char **pStr)`.
pub type PfnCuGetErrorName = unsafe extern "C" fn(CuResult, *mut *const c_char) -> CuResult;
