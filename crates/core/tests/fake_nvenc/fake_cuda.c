/* A fake libcuda.so.1: just enough of the CUDA driver API for an NVENC session. */
#include "common.h"

#define CUDA_SUCCESS 0
#define CUDA_ERROR_INVALID_VALUE 1
#define CUDA_ERROR_NO_DEVICE 100

typedef struct {
    uint32_t magic;
    int pushes;
    int pops;
} FakeCtx;

static __thread FakeCtx *stack[32];
static __thread int depth;

int cuInit(unsigned flags) {
    logline("cuInit flags=%u", flags);
    return should_fail("cuInit", 1) ? CUDA_ERROR_NO_DEVICE : CUDA_SUCCESS;
}

int cuDeviceGetCount(int *count) {
    *count = (int)env_uint("FAKE_CUDA_DEVICES", 1);
    logline("cuDeviceGetCount %d", *count);
    return CUDA_SUCCESS;
}

int cuDeviceGet(int *dev, int ordinal) {
    logline("cuDeviceGet %d", ordinal);
    if (should_fail("cuDeviceGet", 1) || ordinal < 0 || ordinal >= (int)env_uint("FAKE_CUDA_DEVICES", 1))
        return CUDA_ERROR_INVALID_VALUE;
    *dev = ordinal;
    return CUDA_SUCCESS;
}

int cuDeviceGetName(char *name, int len, int dev) {
    snprintf(name, (size_t)len, "Fake NVENC GPU %d", dev);
    return CUDA_SUCCESS;
}

int cuCtxCreate_v2(void **pctx, unsigned flags, int dev) {
    logline("cuCtxCreate flags=%u dev=%d", flags, dev);
    if (should_fail("cuCtxCreate", 1)) return CUDA_ERROR_INVALID_VALUE;
    FakeCtx *c = calloc(1, sizeof *c);
    c->magic = 0xC0DA;
    *pctx = c;
    stack[depth++] = c; /* current after creation */
    return CUDA_SUCCESS;
}

int cuCtxPushCurrent_v2(void *ctx) {
    FakeCtx *c = ctx;
    if (!c || c->magic != 0xC0DA || depth == 32) return CUDA_ERROR_INVALID_VALUE;
    c->pushes++;
    stack[depth++] = c;
    return CUDA_SUCCESS;
}

int cuCtxPopCurrent_v2(void **pctx) {
    if (depth == 0) return CUDA_ERROR_INVALID_VALUE;
    FakeCtx *c = stack[--depth];
    c->pops++;
    if (pctx) *pctx = c;
    return CUDA_SUCCESS;
}

int cuCtxDestroy_v2(void *ctx) {
    FakeCtx *c = ctx;
    if (!c || c->magic != 0xC0DA) return CUDA_ERROR_INVALID_VALUE;
    /* The creation made the context current once; everything after is push/pop pairs. */
    logline("cuCtxDestroy balanced=%d pushes=%d", c->pops == c->pushes + 1, c->pushes);
    c->magic = 0;
    free(c);
    return CUDA_SUCCESS;
}

int cuGetErrorName(int error, const char **str) {
    *str = error == CUDA_ERROR_NO_DEVICE ? "CUDA_ERROR_NO_DEVICE"
         : error == CUDA_ERROR_INVALID_VALUE ? "CUDA_ERROR_INVALID_VALUE"
         : "CUDA_ERROR_UNKNOWN";
    return CUDA_SUCCESS;
}
