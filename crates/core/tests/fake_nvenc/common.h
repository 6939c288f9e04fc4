/* Shared helpers of the fake NVIDIA driver libraries used by tests/nvenc_fake.rs.
 *
 * The fakes read and write the NVENC 12.0 structs by byte offset. The offsets are the ones
 * stripecast's src/encode/hw/nvenc/sys/structs.rs pins in its layout tests (computed from the
 * public nvEncodeAPI.h 12.0 field lists); no NVIDIA header is used. Every call appends one line
 * to the file named by FAKE_NVENC_LOG; FAKE_NVENC_FAIL_AT=<call> (or <call>#<n> for the n-th
 * call of a session) makes that call fail. */
#ifndef FAKE_COMMON_H
#define FAKE_COMMON_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AT(p, off, type) (*(type *)((char *)(p) + (off)))
#define U32(p, off) AT(p, off, uint32_t)
#define I32(p, off) AT(p, off, int32_t)
#define U64(p, off) AT(p, off, uint64_t)
#define PTR(p, off) AT(p, off, void *)

static void logline(const char *fmt, ...) {
    const char *path = getenv("FAKE_NVENC_LOG");
    if (!path || !*path) return;
    FILE *f = fopen(path, "a");
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* Whether `name` (its `count`-th call where the spec has "#n") is to fail. */
static int should_fail(const char *name, int count) {
    const char *spec = getenv("FAKE_NVENC_FAIL_AT");
    if (!spec || !*spec) return 0;
    const char *hash = strchr(spec, '#');
    size_t n = hash ? (size_t)(hash - spec) : strlen(spec);
    if (strlen(name) != n || strncmp(spec, name, n) != 0) return 0;
    if (hash && atoi(hash + 1) != count) return 0;
    logline("%s FAIL", name);
    return 1;
}

static unsigned env_uint(const char *name, unsigned dflt) {
    const char *v = getenv(name);
    return v && *v ? (unsigned)strtoul(v, NULL, 0) : dflt;
}

#endif
