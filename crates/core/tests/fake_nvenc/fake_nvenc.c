/* A fake libnvidia-encode.so.1 (NVENC API 12.x) for tests/nvenc_fake.rs.
 *
 * It checks the version word of every struct it is handed (NVENCAPI_STRUCT_VERSION values of
 * API 12.0), logs each call with the values the test asserts on, and returns a canned
 * Annex-B bitstream: SPS + PPS + IDR slice for IDR pictures, one non-IDR slice otherwise (the
 * payload's last byte is the picture number). Environment:
 *   FAKE_NVENC_LOG          file to append the call log to
 *   FAKE_NVENC_FAIL_AT      <call> or <call>#<n>: that call fails (NV_ENC_ERR_GENERIC etc.)
 *   FAKE_NVENC_MAX_VERSION  what NvEncodeAPIGetMaxSupportedVersion reports (default 0xc2)
 *   FAKE_NVENC_NO444        1: NV_ENC_CAPS_SUPPORT_YUV444_ENCODE reports 0
 *   FAKE_NVENC_NO_RECONFIGURE 1: nvEncReconfigureEncoder fails */
#include "common.h"

/* NVENCSTATUS */
#define NV_ENC_SUCCESS 0
#define NV_ENC_ERR_INVALID_PTR 6
#define NV_ENC_ERR_INVALID_PARAM 8
#define NV_ENC_ERR_INVALID_CALL 9
#define NV_ENC_ERR_OUT_OF_MEMORY 10
#define NV_ENC_ERR_UNSUPPORTED_PARAM 12
#define NV_ENC_ERR_INVALID_VERSION 15
#define NV_ENC_ERR_GENERIC 20

/* NVENCAPI_STRUCT_VERSION(v) for API 12.0 = 12 | v << 16 | 7 << 28 (| 1 << 31 for some). */
#define SV(v) (12u | ((unsigned)(v) << 16) | (7u << 28))
#define SV_HI(v) (SV(v) | (1u << 31))

typedef struct {
    uint32_t d1;
    uint16_t d2, d3;
    uint8_t d4[8];
} GUID;

static const GUID H264 = {0x6bc82762, 0x4e63, 0x4ca4, {0xaa, 0x85, 0x1e, 0x50, 0xf3, 0x21, 0xf6, 0xbf}};
static const uint32_t PRESETS[7] = {0xfc0a8d3e, 0xf581cfb8, 0x36850110, 0x90a7b826,
                                    0x21c6e6b4, 0x8e75c279, 0x84848c12};

static int preset_number(GUID g) {
    for (int i = 0; i < 7; i++)
        if (g.d1 == PRESETS[i]) return i + 1;
    return 0;
}

static const char *profile_name(const GUID *g) {
    switch (g->d1) {
    case 0x0727bcaa: return "baseline";
    case 0x60b5c1d4: return "main";
    case 0xe7cbc309: return "high";
    case 0x7ac663cb: return "high444";
    case 0xbfd6f8e7: return "auto";
    default: return "?";
    }
}

typedef struct {
    uint32_t magic;
    uint32_t w, h, fmt, pitch;
    unsigned char *in;
    int in_locked;
    int input_live, output_live;
    char input_handle, output_handle; /* their addresses are the handles */
    int encodes;
    int pending_idr, pending_n, pending_valid;
    uint32_t qp_intra, qp_p;
    unsigned char out[64];
    char err[160];
} Session;

#define MAGIC 0x5E55104
#define SESSION(enc) Session *s = (Session *)(enc); \
    if (!s || s->magic != MAGIC) return NV_ENC_ERR_INVALID_PTR

static int fail(Session *s, const char *call, int count, int status) {
    if (!should_fail(call, count)) return NV_ENC_SUCCESS;
    if (s) snprintf(s->err, sizeof s->err, "fake failure in %s", call);
    return status;
}

int NvEncodeAPIGetMaxSupportedVersion(uint32_t *version) {
    *version = env_uint("FAKE_NVENC_MAX_VERSION", 0xc2);
    logline("NvEncodeAPIGetMaxSupportedVersion %#x", *version);
    return NV_ENC_SUCCESS;
}

static int open_session_ex(void *p, void **enc) {
    logline("nvEncOpenEncodeSessionEx version_ok=%d device_type=%u device_set=%d api=%#x",
            U32(p, 0) == SV(1), U32(p, 4), PTR(p, 8) != NULL, U32(p, 24));
    if (U32(p, 0) != SV(1)) return NV_ENC_ERR_INVALID_VERSION;
    if (fail(NULL, "nvEncOpenEncodeSessionEx", 1, NV_ENC_ERR_UNSUPPORTED_PARAM)) return NV_ENC_ERR_UNSUPPORTED_PARAM;
    if (U32(p, 4) != 1 || !PTR(p, 8) || U32(p, 24) != 12) return NV_ENC_ERR_INVALID_PARAM;
    Session *s = calloc(1, sizeof *s);
    s->magic = MAGIC;
    *enc = s;
    return NV_ENC_SUCCESS;
}

static int get_encode_caps(void *enc, GUID codec, void *caps, int *val) {
    SESSION(enc);
    uint32_t what = U32(caps, 4);
    logline("nvEncGetEncodeCaps caps=%u", what);
    if (U32(caps, 0) != SV(1)) return NV_ENC_ERR_INVALID_VERSION;
    if (memcmp(&codec, &H264, sizeof codec) != 0) return NV_ENC_ERR_INVALID_PARAM;
    int st = fail(s, "nvEncGetEncodeCaps", 1, NV_ENC_ERR_GENERIC);
    if (st) return st;
    switch (what) {
    case 16: case 17: *val = 4096; break;                        /* WIDTH_MAX, HEIGHT_MAX */
    case 33: *val = env_uint("FAKE_NVENC_NO444", 0) ? 0 : 1; break; /* SUPPORT_YUV444_ENCODE */
    default: *val = 0;
    }
    return NV_ENC_SUCCESS;
}

static int get_preset_config_ex(void *enc, GUID codec, GUID preset, uint32_t tuning, void *pc) {
    SESSION(enc);
    logline("nvEncGetEncodePresetConfigEx preset=P%d tuning=%u", preset_number(preset), tuning);
    if (U32(pc, 0) != SV_HI(4) || U32(pc, 8) != SV_HI(8)) return NV_ENC_ERR_INVALID_VERSION;
    if (memcmp(&codec, &H264, sizeof codec) != 0 || !preset_number(preset)) return NV_ENC_ERR_INVALID_PARAM;
    int st = fail(s, "nvEncGetEncodePresetConfigEx", 1, NV_ENC_ERR_UNSUPPORTED_PARAM);
    if (st) return st;
    char *cfg = (char *)pc + 8; /* NV_ENC_PRESET_CONFIG.presetCfg */
    /* What a driver's low-latency preset might hold, for the encoder to override. */
    U32(cfg, 20) = 250;                  /* gopLength */
    I32(cfg, 24) = 3;                    /* frameIntervalP */
    U32(cfg, 44) = 2;                    /* rcParams.rateControlMode = CBR */
    U32(cfg, 60) = 4000000;              /* rcParams.averageBitRate */
    U32(cfg, 76) = (1u << 3) | (1u << 5); /* rcParams: enableAQ, enableLookahead */
    U32(cfg, 140) = 1;                   /* rcParams.multiPass */
    U32(cfg, 168) = 1u << 6;             /* h264: outputAUD */
    U32(cfg, 176) = 250;                 /* h264.idrPeriod */
    U32(cfg, 228) = 3;                   /* h264.maxNumRefFrames */
    U32(cfg, 360) = 1;                   /* h264.chromaFormatIDC */
    return NV_ENC_SUCCESS;
}

static void log_config(const char *what, void *init, void *cfg) {
    logline("%s %ux%u fps=%u/%u ptd=%u async=%u tuning=%u preset=P%d profile=%s rc=%u "
            "qp=%u/%u/%u rcflags=%#x multipass=%u gop=%u fip=%d idr=%u h264flags=%#x chroma=%u "
            "vui=%u,%u,%u,%u,%u,%u,%u",
            what, U32(init, 36), U32(init, 40), U32(init, 52), U32(init, 56), U32(init, 64),
            U32(init, 60), U32(init, 136), preset_number(AT(init, 20, GUID)),
            profile_name(&AT(cfg, 4, GUID)), U32(cfg, 44), U32(cfg, 48), U32(cfg, 52),
            U32(cfg, 56), U32(cfg, 76), U32(cfg, 140), U32(cfg, 20), I32(cfg, 24), U32(cfg, 176),
            U32(cfg, 168), U32(cfg, 360), U32(cfg, 248), U32(cfg, 252), U32(cfg, 256),
            U32(cfg, 260), U32(cfg, 264), U32(cfg, 268), U32(cfg, 272));
}

static int initialize(void *enc, void *init) {
    SESSION(enc);
    void *cfg = PTR(init, 88); /* encodeConfig */
    if (U32(init, 0) != SV_HI(5)) return NV_ENC_ERR_INVALID_VERSION;
    if (!cfg || U32(cfg, 0) != SV_HI(8)) return NV_ENC_ERR_INVALID_VERSION;
    if (memcmp((char *)init + 4, &H264, sizeof(GUID)) != 0) return NV_ENC_ERR_INVALID_PARAM;
    log_config("nvEncInitializeEncoder", init, cfg);
    int st = fail(s, "nvEncInitializeEncoder", 1, NV_ENC_ERR_INVALID_PARAM);
    if (st) return st;
    s->w = U32(init, 36);
    s->h = U32(init, 40);
    s->qp_p = U32(cfg, 48);
    s->qp_intra = U32(cfg, 56);
    return NV_ENC_SUCCESS;
}

static int reconfigure(void *enc, void *rp) {
    SESSION(enc);
    void *init = (char *)rp + 8; /* reInitEncodeParams */
    void *cfg = PTR(init, 88);
    if (U32(rp, 0) != SV_HI(1) || U32(init, 0) != SV_HI(5) || !cfg || U32(cfg, 0) != SV_HI(8))
        return NV_ENC_ERR_INVALID_VERSION;
    uint32_t flags = U32(rp, 1816);
    logline("nvEncReconfigureEncoder qp=%u/%u/%u force_idr=%u reset=%u size=%ux%u", U32(cfg, 48),
            U32(cfg, 52), U32(cfg, 56), (flags >> 1) & 1, flags & 1, U32(init, 36), U32(init, 40));
    if (env_uint("FAKE_NVENC_NO_RECONFIGURE", 0)) {
        snprintf(s->err, sizeof s->err, "reconfiguration not supported by the fake");
        return NV_ENC_ERR_UNSUPPORTED_PARAM;
    }
    s->qp_p = U32(cfg, 48);
    s->qp_intra = U32(cfg, 56);
    return NV_ENC_SUCCESS;
}

static int create_input_buffer(void *enc, void *p) {
    SESSION(enc);
    logline("nvEncCreateInputBuffer %ux%u fmt=%#x", U32(p, 4), U32(p, 8), U32(p, 16));
    if (U32(p, 0) != SV(1)) return NV_ENC_ERR_INVALID_VERSION;
    int st = fail(s, "nvEncCreateInputBuffer", 1, NV_ENC_ERR_OUT_OF_MEMORY);
    if (st) return st;
    uint32_t fmt = U32(p, 16);
    if (U32(p, 4) != s->w || U32(p, 8) != s->h || (fmt != 0x1 && fmt != 0x1000))
        return NV_ENC_ERR_INVALID_PARAM;
    s->fmt = fmt;
    s->pitch = (s->w + 255) & ~255u; /* wider than the picture, as real drivers do */
    size_t size = (size_t)s->pitch * s->h * (fmt == 0x1 ? 3 : 6) / 2;
    s->in = malloc(size);
    memset(s->in, 0xAA, size);
    s->input_live = 1;
    PTR(p, 24) = &s->input_handle;
    return NV_ENC_SUCCESS;
}

static int create_bitstream_buffer(void *enc, void *p) {
    SESSION(enc);
    logline("nvEncCreateBitstreamBuffer");
    if (U32(p, 0) != SV(1)) return NV_ENC_ERR_INVALID_VERSION;
    int st = fail(s, "nvEncCreateBitstreamBuffer", 1, NV_ENC_ERR_OUT_OF_MEMORY);
    if (st) return st;
    s->output_live = 1;
    PTR(p, 16) = &s->output_handle;
    return NV_ENC_SUCCESS;
}

static int lock_input_buffer(void *enc, void *p) {
    SESSION(enc);
    if (U32(p, 0) != SV(1)) return NV_ENC_ERR_INVALID_VERSION;
    if (PTR(p, 8) != &s->input_handle || s->in_locked) return NV_ENC_ERR_INVALID_PARAM;
    int st = fail(s, "nvEncLockInputBuffer", s->encodes + 1, NV_ENC_ERR_GENERIC);
    if (st) return st;
    s->in_locked = 1;
    PTR(p, 16) = s->in;
    U32(p, 24) = s->pitch;
    return NV_ENC_SUCCESS;
}

static int unlock_input_buffer(void *enc, void *buffer) {
    SESSION(enc);
    if (buffer != &s->input_handle || !s->in_locked) return NV_ENC_ERR_INVALID_PARAM;
    s->in_locked = 0;
    size_t p = s->pitch, w = s->w, h = s->h, plane = p * h;
    const unsigned char *in = s->in;
    if (s->fmt == 0x1) { /* NV12: Y, then interleaved UV at pitch * height */
        logline("nvEncUnlockInputBuffer y=%u u=%u v=%u ylast=%u ulast=%u vlast=%u pad=%u", in[0],
                in[plane], in[plane + 1], in[(h - 1) * p + w - 1], in[plane + (h / 2 - 1) * p + w - 2],
                in[plane + (h / 2 - 1) * p + w - 1], in[w]);
    } else { /* YUV444: three planes */
        logline("nvEncUnlockInputBuffer y=%u u=%u v=%u ylast=%u ulast=%u vlast=%u pad=%u", in[0],
                in[plane], in[2 * plane], in[(h - 1) * p + w - 1], in[plane + (h - 1) * p + w - 1],
                in[2 * plane + (h - 1) * p + w - 1], in[w]);
    }
    return NV_ENC_SUCCESS;
}

static int encode_picture(void *enc, void *pic) {
    SESSION(enc);
    if (U32(pic, 0) != SV_HI(6)) return NV_ENC_ERR_INVALID_VERSION;
    uint32_t flags = U32(pic, 16);
    if (flags & 0x8) { /* EOS */
        logline("nvEncEncodePicture EOS");
        return NV_ENC_SUCCESS;
    }
    int n = ++s->encodes;
    int idr = n == 1 || (flags & 0x2);
    logline("nvEncEncodePicture n=%d flags=%#x type=%s frame=%u ts=%llu pitch_ok=%d fmt=%#x struct=%u qp=%u",
            n, flags, idr ? "IDR" : "P", U32(pic, 20), (unsigned long long)U64(pic, 24),
            U32(pic, 12) == s->pitch, U32(pic, 64), U32(pic, 68), idr ? s->qp_intra : s->qp_p);
    if (PTR(pic, 40) != &s->input_handle || PTR(pic, 48) != &s->output_handle ||
        U32(pic, 4) != s->w || U32(pic, 8) != s->h || U32(pic, 64) != s->fmt || U32(pic, 68) != 1)
        return NV_ENC_ERR_INVALID_PARAM;
    int st = fail(s, "nvEncEncodePicture", n, NV_ENC_ERR_GENERIC);
    if (st) return st;
    s->pending_idr = idr;
    s->pending_n = n;
    s->pending_valid = 1;
    return NV_ENC_SUCCESS;
}

static int lock_bitstream(void *enc, void *lb) {
    SESSION(enc);
    if (U32(lb, 0) != SV(2)) return NV_ENC_ERR_INVALID_VERSION;
    if (PTR(lb, 8) != &s->output_handle || !s->pending_valid) return NV_ENC_ERR_INVALID_CALL;
    int st = fail(s, "nvEncLockBitstream", s->pending_n, NV_ENC_ERR_GENERIC);
    if (st) return st;
    static const unsigned char idr[] = {0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda, 0, 0, 0, 1, 0x68,
                                        0xce, 0x3c, 0x80, 0, 0, 0, 1, 0x65, 0x88, 0x84};
    static const unsigned char p[] = {0, 0, 0, 1, 0x41, 0x9a, 0x02};
    size_t len = s->pending_idr ? sizeof idr : sizeof p;
    memcpy(s->out, s->pending_idr ? idr : p, len);
    s->out[len++] = (unsigned char)s->pending_n;
    U32(lb, 36) = (uint32_t)len;                    /* bitstreamSizeInBytes */
    PTR(lb, 56) = s->out;                           /* bitstreamBufferPtr */
    U32(lb, 64) = s->pending_idr ? 3 : 0;           /* pictureType: IDR / P */
    U32(lb, 72) = s->pending_idr ? s->qp_intra : s->qp_p; /* frameAvgQP */
    logline("nvEncLockBitstream size=%zu", len);
    return NV_ENC_SUCCESS;
}

static int unlock_bitstream(void *enc, void *buffer) {
    SESSION(enc);
    if (buffer != &s->output_handle) return NV_ENC_ERR_INVALID_PARAM;
    s->pending_valid = 0;
    logline("nvEncUnlockBitstream");
    return NV_ENC_SUCCESS;
}

static int destroy_input_buffer(void *enc, void *buffer) {
    SESSION(enc);
    logline("nvEncDestroyInputBuffer ok=%d", buffer == &s->input_handle && s->input_live);
    s->input_live = 0;
    free(s->in);
    s->in = NULL;
    return NV_ENC_SUCCESS;
}

static int destroy_bitstream_buffer(void *enc, void *buffer) {
    SESSION(enc);
    logline("nvEncDestroyBitstreamBuffer ok=%d", buffer == &s->output_handle && s->output_live);
    s->output_live = 0;
    return NV_ENC_SUCCESS;
}

static int destroy_encoder(void *enc) {
    SESSION(enc);
    logline("nvEncDestroyEncoder buffers_left=%d", s->input_live + s->output_live);
    s->magic = 0;
    free(s->in);
    free(s);
    return NV_ENC_SUCCESS;
}

static const char *last_error(void *enc) {
    Session *s = enc;
    return s && s->magic == MAGIC ? s->err : "";
}

int NvEncodeAPICreateInstance(void *fl) {
    logline("NvEncodeAPICreateInstance version_ok=%d", U32(fl, 0) == SV(2));
    if (U32(fl, 0) != SV(2)) return NV_ENC_ERR_INVALID_VERSION;
    if (should_fail("NvEncodeAPICreateInstance", 1)) return NV_ENC_ERR_GENERIC;
    /* NV_ENCODE_API_FUNCTION_LIST: entry i of the header's list sits at 8 + 8 * i. */
    PTR(fl, 64) = (void *)get_encode_caps;           /*  7 nvEncGetEncodeCaps */
    PTR(fl, 96) = (void *)initialize;                /* 11 nvEncInitializeEncoder */
    PTR(fl, 104) = (void *)create_input_buffer;      /* 12 nvEncCreateInputBuffer */
    PTR(fl, 112) = (void *)destroy_input_buffer;     /* 13 nvEncDestroyInputBuffer */
    PTR(fl, 120) = (void *)create_bitstream_buffer;  /* 14 nvEncCreateBitstreamBuffer */
    PTR(fl, 128) = (void *)destroy_bitstream_buffer; /* 15 nvEncDestroyBitstreamBuffer */
    PTR(fl, 136) = (void *)encode_picture;           /* 16 nvEncEncodePicture */
    PTR(fl, 144) = (void *)lock_bitstream;           /* 17 nvEncLockBitstream */
    PTR(fl, 152) = (void *)unlock_bitstream;         /* 18 nvEncUnlockBitstream */
    PTR(fl, 160) = (void *)lock_input_buffer;        /* 19 nvEncLockInputBuffer */
    PTR(fl, 168) = (void *)unlock_input_buffer;      /* 20 nvEncUnlockInputBuffer */
    PTR(fl, 224) = (void *)destroy_encoder;          /* 27 nvEncDestroyEncoder */
    PTR(fl, 240) = (void *)open_session_ex;          /* 29 nvEncOpenEncodeSessionEx */
    PTR(fl, 264) = (void *)reconfigure;              /* 32 nvEncReconfigureEncoder */
    PTR(fl, 304) = (void *)last_error;               /* 37 nvEncGetLastErrorString */
    PTR(fl, 320) = (void *)get_preset_config_ex;     /* 39 nvEncGetEncodePresetConfigEx */
    return NV_ENC_SUCCESS;
}
