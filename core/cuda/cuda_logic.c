/* cuda_logic.c — the GPU-free decisions of the CUDA backend (see cuda_logic.h).
 *
 * Invariants: no CUDA headers; every function is deterministic in its arguments (the cache's
 * hit/miss counters aside), so tests/test_cuda_logic.c pins each rule down on a CPU machine. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_logic.h"

/* ------------------------------------------------------------------------------------------
 * precision */

const char *cuda_precision_name(CudaPrecision p) {
    switch (p) {
    case CUDA_PREC_FP32: return "fp32";
    case CUDA_PREC_BF16: return "bf16";
    case CUDA_PREC_FP16: return "fp16";
    }
    return "?";
}

static void set_note(char *note, size_t len, const char *fmt, int major, int minor) {
    if (note && len)
        snprintf(note, len, fmt, major, minor);
}

Status cuda_precision_resolve(int requested, int cc_major, int cc_minor, CudaPrecision *out,
                              char *note, size_t note_len) {
    if (note && note_len)
        note[0] = '\0';
    const int cc = cc_major * 10 + cc_minor;
    switch (requested) {
    case CUDA_REQ_AUTO:
        if (cc >= 80) {
            *out = CUDA_PREC_BF16;
        } else {
            *out = CUDA_PREC_FP32;
            set_note(note, note_len, "precision auto: sm_%d%d has no bf16 tensor cores, computing "
                     "in fp32", cc_major, cc_minor);
        }
        return ST_OK;
    case CUDA_REQ_FP32:
        *out = CUDA_PREC_FP32;
        return ST_OK;
    case CUDA_REQ_BF16:
        if (cc >= 80) {
            *out = CUDA_PREC_BF16;
        } else {
            *out = CUDA_PREC_FP32;
            set_note(note, note_len, "precision bf16 needs sm_80 or newer (this GPU is sm_%d%d), "
                     "computing in fp32", cc_major, cc_minor);
        }
        return ST_OK;
    case CUDA_REQ_FP16:
        if (cc >= 70) {
            *out = CUDA_PREC_FP16;
        } else {
            *out = CUDA_PREC_FP32;
            set_note(note, note_len, "precision fp16 needs sm_70 or newer (this GPU is sm_%d%d), "
                     "computing in fp32", cc_major, cc_minor);
        }
        return ST_OK;
    }
    return status_fail(ST_ERR_ARG, "cuda backend: unknown precision request %d (valid: auto, "
                       "fp32, bf16, fp16)", requested);
}

/* ------------------------------------------------------------------------------------------
 * algorithm choice */

int cuda_algo_pick(const CudaAlgoPerf *perf, int n, size_t ws_limit, int need_det) {
    int best = -1;
    for (int i = 0; i < n; i++) {
        const CudaAlgoPerf *p = &perf[i];
        if (!p->ok || p->memory > ws_limit || (need_det && !p->deterministic))
            continue;
        if (!(p->time_ms >= 0.0f))   /* cuDNN reports -1 (or NaN) for algorithms it skipped */
            continue;
        if (best < 0 || p->time_ms < perf[best].time_ms)
            best = i;
    }
    return best;
}

size_t cuda_workspace_budget(size_t want, size_t free_bytes, size_t cap) {
    const size_t mib = (size_t)1 << 20;
    size_t b = want;
    if (b > free_bytes / 2)
        b = free_bytes / 2;
    if (b > cap)
        b = cap;
    if (b >= want)
        return want;   /* everything asked for fits: no rounding needed */
    return b / mib * mib;
}

/* ------------------------------------------------------------------------------------------
 * cache */

CudaConvKey cuda_conv_key(int kind, int n, int c, int h, int w, int k, int kh, int kw, int stride,
                          int pad, int precision, int deterministic) {
    CudaConvKey key;
    memset(&key, 0, sizeof key);
    key.kind = kind;
    key.n = n;
    key.c = c;
    key.h = h;
    key.w = w;
    key.k = k;
    key.kh = kh;
    key.kw = kw;
    key.stride = stride;
    key.pad = pad;
    key.precision = precision;
    key.deterministic = deterministic;
    return key;
}

const CudaAlgoChoice *cuda_algo_cache_find(CudaAlgoCache *c, const CudaConvKey *key) {
    for (int i = 0; i < c->count; i++)
        if (memcmp(&c->entries[i].key, key, sizeof *key) == 0) {
            c->hits++;
            return &c->entries[i].choice;
        }
    c->misses++;
    return NULL;
}

Status cuda_algo_cache_put(CudaAlgoCache *c, const CudaConvKey *key, const CudaAlgoChoice *v) {
    for (int i = 0; i < c->count; i++)
        if (memcmp(&c->entries[i].key, key, sizeof *key) == 0) {
            c->entries[i].choice = *v;
            return ST_OK;
        }
    if (c->count == c->cap) {
        int cap = c->cap ? 2 * c->cap : 32;
        CudaAlgoCacheEntry *e = realloc(c->entries, (size_t)cap * sizeof *e);
        if (!e)
            return status_fail(ST_ERR_OOM, "cuda backend: out of host memory for the "
                               "convolution algorithm cache (%d entries)", cap);
        c->entries = e;
        c->cap = cap;
    }
    c->entries[c->count].key = *key;
    c->entries[c->count].choice = *v;
    c->count++;
    return ST_OK;
}

void cuda_algo_cache_clear(CudaAlgoCache *c) {
    if (!c)
        return;
    free(c->entries);
    c->entries = NULL;
    c->count = c->cap = 0;
}

/* ------------------------------------------------------------------------------------------
 * messages */

void cuda_format_bytes(char *buf, size_t len, size_t bytes) {
    const double kib = 1024.0, mib = kib * 1024.0, gib = mib * 1024.0;
    double b = (double)bytes;
    if (b >= gib)
        snprintf(buf, len, "%.2f GiB", b / gib);
    else if (b >= mib)
        snprintf(buf, len, "%.1f MiB", b / mib);
    else if (b >= kib)
        snprintf(buf, len, "%.1f KiB", b / kib);
    else
        snprintf(buf, len, "%zu B", bytes);
}

const char *cuda_short_path(const char *path) {
    if (!path)
        return "?";
    const char *best = NULL;
    for (const char *p = strstr(path, "core/"); p; p = strstr(p + 1, "core/"))
        if (p == path || p[-1] == '/')
            best = p;
    if (best)
        return best;
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

void cuda_format_call_error(char *buf, size_t len, const char *call, const char *file, int line,
                            const char *name, const char *text) {
    snprintf(buf, len, "cuda backend: %s failed at %s:%d: %s (%s)", call ? call : "?",
             cuda_short_path(file), line, text ? text : "no description", name ? name : "?");
}

void cuda_format_oom(char *buf, size_t len, const char *what, const Tensor *shape, size_t bytes,
                     size_t free_bytes, size_t total_bytes) {
    char need[32], fr[32], tot[32], desc[96] = "";
    cuda_format_bytes(need, sizeof need, bytes);
    if (shape)
        snprintf(desc, sizeof desc, " (%d, %d, %d, %d) %s", shape->n, shape->c, shape->h,
                 shape->w, dtype_name(shape->dtype));
    char avail[96] = "";
    if (total_bytes) {
        cuda_format_bytes(fr, sizeof fr, free_bytes);
        cuda_format_bytes(tot, sizeof tot, total_bytes);
        snprintf(avail, sizeof avail, ", %s of %s free", fr, tot);
    }
    snprintf(buf, len, "cuda backend: out of GPU memory: %s%s needs %s%s; use a smaller batch "
             "size or a smaller model", what ? what : "allocation", desc, need, avail);
}
