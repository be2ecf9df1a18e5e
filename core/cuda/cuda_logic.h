/* cuda_logic.h — the CUDA backend's decisions that need no GPU, tested on any machine.
 *
 * Owns: resolving `precision: auto|fp32|bf16|fp16` against a device's compute capability,
 * picking a convolution algorithm from cuDNN's measured candidates (workspace limit,
 * determinism), the per-shape algorithm cache, the workspace budget, and the wording of device
 * errors (failed call with file:line, out of memory with the size asked for).
 *
 * Pure C: no CUDA, cuDNN or cuBLAS header is included here. It is compiled into the core in
 * every build (with or without CUDA), so tests/test_cuda_logic.c always runs. Algorithm ids,
 * math types and status codes are plain ints here; cuda_conv.c maps them to cuDNN's enums. */
#ifndef SHORTCUT_CUDA_LOGIC_H
#define SHORTCUT_CUDA_LOGIC_H

#include <stddef.h>

#include "status.h"
#include "tensor.h"

/* ---- precision ---- */

/* What convolutions compute in; everything else (batchnorm, loss, optimizer, master weights)
 * stays fp32. */
typedef enum CudaPrecision { CUDA_PREC_FP32 = 0, CUDA_PREC_BF16, CUDA_PREC_FP16 } CudaPrecision;

/* The request values are config.h's Precision: 0 auto, 1 fp32, 2 bf16, 3 fp16. */
enum { CUDA_REQ_AUTO = 0, CUDA_REQ_FP32 = 1, CUDA_REQ_BF16 = 2, CUDA_REQ_FP16 = 3 };

/* Resolve a request for a device of compute capability cc_major.cc_minor:
 *   auto -> bf16 on sm_80 and newer, else fp32;  fp32 -> fp32;
 *   bf16 -> bf16 on sm_80+, else fp32;  fp16 -> fp16 on sm_70+, else fp32.
 * A fallback writes a one-line reason into note (else note is ""); an unknown request is
 * ST_ERR_ARG. note may be NULL. */
Status cuda_precision_resolve(int requested, int cc_major, int cc_minor, CudaPrecision *out,
                              char *note, size_t note_len);
const char *cuda_precision_name(CudaPrecision p);   /* "fp32", "bf16", "fp16" */

/* ---- convolution algorithm choice ---- */

/* One candidate as cuDNN's Find reports it. */
typedef struct CudaAlgoPerf {
    int algo;            /* cudnnConvolution*Algo_t value */
    int ok;              /* cuDNN ran it successfully */
    float time_ms;
    size_t memory;       /* workspace bytes it needs */
    int deterministic;   /* CUDNN_DETERMINISTIC */
    int math;            /* cudnnMathType_t it ran with */
} CudaAlgoPerf;

/* Index into perf[0..n) of the algorithm to run: the fastest that succeeded, needs at most
 * ws_limit bytes of workspace and, when need_det, is deterministic. Ties go to the earlier
 * entry. -1 when none qualifies. perf need not be sorted. */
int cuda_algo_pick(const CudaAlgoPerf *perf, int n, size_t ws_limit, int need_det);

/* Bytes of workspace to offer cuDNN's Find: what the hungriest algorithm asks for, but at most
 * half of the free device memory and at most cap bytes, rounded down to 1 MiB (never below 0). */
size_t cuda_workspace_budget(size_t want, size_t free_bytes, size_t cap);

/* ---- the per-shape algorithm cache ---- */

enum { CUDA_CONV_FWD = 0, CUDA_CONV_BWD_DATA = 1, CUDA_CONV_BWD_FILTER = 2 };

/* Everything an algorithm choice depends on. Build keys with cuda_conv_key() so padding and
 * unused fields are zero and keys compare with memcmp. */
typedef struct CudaConvKey {
    int kind;                 /* CUDA_CONV_* */
    int n, c, h, w;           /* input (N, Cin, H, W) */
    int k, kh, kw;            /* output channels, kernel */
    int stride, pad;
    int precision;            /* CudaPrecision */
    int deterministic;
} CudaConvKey;

CudaConvKey cuda_conv_key(int kind, int n, int c, int h, int w, int k, int kh, int kw, int stride,
                          int pad, int precision, int deterministic);

typedef struct CudaAlgoChoice {
    int algo;
    int math;
    size_t memory;   /* workspace bytes */
} CudaAlgoChoice;

typedef struct CudaAlgoCacheEntry {
    CudaConvKey key;
    CudaAlgoChoice choice;
} CudaAlgoCacheEntry;

typedef struct CudaAlgoCache {
    CudaAlgoCacheEntry *entries;
    int count, cap;
    long hits, misses;   /* lookups answered / not answered (for `shortcut bench` and tests) */
} CudaAlgoCache;

/* The cached choice for key, or NULL (counts a hit or a miss). */
const CudaAlgoChoice *cuda_algo_cache_find(CudaAlgoCache *c, const CudaConvKey *key);
/* Insert or replace. ST_ERR_OOM when the table cannot grow. */
Status cuda_algo_cache_put(CudaAlgoCache *c, const CudaConvKey *key, const CudaAlgoChoice *v);
/* Forget every entry (keeps nothing allocated); NULL is fine. */
void cuda_algo_cache_clear(CudaAlgoCache *c);

/* ---- messages ---- */

/* "1.50 GiB", "12.0 MiB", "3.0 KiB", "512 B". */
void cuda_format_bytes(char *buf, size_t len, size_t bytes);

/* The path from "core/" on (or the file name), so messages do not carry build-machine paths. */
const char *cuda_short_path(const char *path);

/* "cuda backend: <call> failed at <file>:<line>: <text> (<name>)". */
void cuda_format_call_error(char *buf, size_t len, const char *call, const char *file, int line,
                            const char *name, const char *text);

/* Out of device memory, with the size asked for and what to do, e.g.
 * "cuda backend: out of GPU memory: tensor (512, 640, 32, 32) f32 needs 1.25 GiB, 0.50 GiB of
 * 79.10 GiB free; use a smaller batch size or a narrower model". shape may be NULL; free/total
 * of 0 means unknown and are left out. */
void cuda_format_oom(char *buf, size_t len, const char *what, const Tensor *shape, size_t bytes,
                     size_t free_bytes, size_t total_bytes);

#endif
