/* cpu_internal.h — shared state and helpers of the fast CPU backend (core/cpu/cpu_*.c).
 *
 * Not a public header: only the cpu_*.c files, tests/test_cpu_parity.c and tests/bench_ops.c
 * include it. One backend context serves one thread at a time (the scratch buffers are shared).
 *
 * Layouts. An F32 activation whose channel count is a multiple of 16 is kept in oneDNN's
 * blocked nChw16c layout (CPU_LAYOUT_BLK16): for each sample, blocks of 16 channels, and inside
 * a block the 16 channel values of one pixel are contiguous. oneDNN's AVX-512 convolutions
 * read and write it without reorders, and per-channel ops (batchnorm) vectorise over the 16
 * lanes. Everything else (parameters, inputs, vectors, logits) is dense NCHW. Ops set the
 * layout of every tensor they write; U8 dropout masks share the layout of their input.
 * With H*W == 1 the two layouts are the same bytes, so such tensors always count as NCHW.
 *
 * Builds without oneDNN compile cpu_conv_gemm.c (im2col + OpenBLAS) instead of
 * cpu_conv_dnnl.c; that variant keeps every activation NCHW (cpu_conv_blocked() says which).
 *
 * Threads. OpenMP's thread count is a per-thread setting, and the worker thread that runs
 * training is not the thread that created the backend, so every op calls cpu_enter() first. */
#ifndef SHORTCUT_CPU_INTERNAL_H
#define SHORTCUT_CPU_INTERNAL_H

#include <stddef.h>

#include "backend.h"

enum { CPU_LAYOUT_NCHW = 0, CPU_LAYOUT_BLK16 = 1 };

/* Scratch slots: independent staging buffers an op may hold at the same time. */
enum { CPU_SCRATCH_A = 0, CPU_SCRATCH_B, CPU_SCRATCH_C, CPU_SCRATCH_D, CPU_SCRATCH_E,
       CPU_SCRATCH_CONV, CPU_SCRATCH_SLOTS };

/* Convolution algorithm: oneDNN's direct kernels, oneDNN's own choice, Winograd wherever a
 * shape allows it, or (the default) Winograd where a measured rule says it is faster
 * (cpu_conv.c). All fall back to direct where nothing else exists. */
enum { CPU_CONV_DIRECT = 0, CPU_CONV_AUTO, CPU_CONV_WINOGRAD, CPU_CONV_RULE };

/* Where convolutions compute in bf16 (train.precision: bf16). Inputs are rounded to bf16 at
 * the convolution, products accumulate in fp32 and every output (activation, gradient) is
 * written in fp32, so everything outside the convolutions (batchnorm statistics, the loss,
 * SGD on fp32 master weights) is unchanged. CPU_BF16_OFF: all fp32. CPU_BF16_DATA (AVX512-BF16
 * without AMX): forward and backward-data in bf16, backward-weights in fp32, where bf16 was
 * measured no faster. CPU_BF16_ALL (AMX): all three directions. */
enum { CPU_BF16_OFF = 0, CPU_BF16_DATA, CPU_BF16_ALL };

/* What the CPU offers for bf16 convolutions (cpu_conv_bf16_support). */
enum { CPU_BF16_NONE = 0, CPU_BF16_AVX512, CPU_BF16_AMX };

typedef struct CpuCtx {
    int threads;                 /* OpenMP threads every op runs with */
    int conv_alg;                /* CPU_CONV_*; plans are rebuilt when it changes */
    int bf16;                    /* CPU_BF16_*; plans are rebuilt when it changes */
    char precision_note[160];    /* describe(): what precision runs and why */
    void *conv;                  /* the convolution library's state (oneDNN engine, stream) */
    void *scratch[CPU_SCRATCH_SLOTS];
    size_t scratch_cap[CPU_SCRATCH_SLOTS];   /* bytes */
    size_t mem_limit, mem_used;  /* bytes of tensors allowed (0: any) and held (set_memory_limit) */
    char description[384];
} CpuCtx;

/* Hot loops are compiled three times, for AVX-512 (x86-64-v4), AVX2 (v3) and the baseline,
 * and the loader picks the best the machine has (GCC function multiversioning): the build
 * stays portable and laptops without AVX-512 still get AVX2. Parallel regions call these
 * kernels on their share of the work. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CPU_HOT
#endif

/* 16 floats: one row of the blocked layout, one AVX-512 register. GCC vector extensions
 * lower to whatever the clone's ISA offers. Loads and stores go through an unaligned,
 * may_alias type, so any float pointer works. */
typedef float CpuV16 __attribute__((vector_size(64)));
typedef float CpuV16u __attribute__((vector_size(64), aligned(4), may_alias));
#define CPU_V16_LOAD(p) (*(const CpuV16u *)(p))
#define CPU_V16_STORE(p, v) (*(CpuV16u *)(p) = (v))

/* [*lo, *hi) of part i of `parts` near-equal pieces of n elements, cut at multiples of 16. */
static inline void cpu_split(long n, int parts, int i, long *lo, long *hi) {
    long per = ((n + parts - 1) / parts + 15) & ~15L;
    *lo = per * i < n ? per * i : n;
    *hi = per * (i + 1) < n ? per * (i + 1) : n;
}

/* ---- cpu_backend.c ---- */
void cpu_enter(CpuCtx *ctx);
/* A 64-byte aligned buffer of at least `bytes` in `slot`, kept and grown across calls. */
Status cpu_scratch(CpuCtx *ctx, int slot, size_t bytes, void **out);

/* ---- cpu_conv_dnnl.c or cpu_conv_gemm.c: convolutions and GEMM ---- */
Status cpu_conv_init(CpuCtx *ctx);
void cpu_conv_release(CpuCtx *ctx);
/* 1 when convolutions read and write the blocked layout (oneDNN), 0 when everything is NCHW. */
int cpu_conv_blocked(void);
/* "avx512_bf16, oneDNN 2.6.3" / "avx2, im2col + OpenBLAS": for describe(). */
void cpu_conv_library(char *buf, size_t len);
/* CPU_BF16_NONE / _AVX512 / _AMX: bf16 convolution kernels this machine and build can run
 * (measured at run time: the same binary runs on laptops and servers). */
int cpu_conv_bf16_support(void);
/* Row-major C = alpha * op(A) * op(B) + beta * C with op = transpose for 'T'. */
Status cpu_sgemm(CpuCtx *ctx, char transa, char transb, long m, long n, long k, float alpha,
                 const float *a, long lda, const float *b, long ldb, float beta, float *c,
                 long ldc);

/* ---- cpu_wino16.c: Winograd F(4x4, 3x3) for 16 -> 16 channels (oneDNN builds) ---- */
/* 1 when d is a 16 -> 16 channel 3x3 convolution, stride 1, pad 1, no bias, and the CPU has
 * AVX-512. */
int cpu_wino16_fits(const ConvDesc *d);
/* out = conv(in, w) (mirror 0) or its backward-data, in = dy, out = dx (mirror 1), on blocked
 * (n, 16, h, w) activations; w is dense (16, 16, 3, 3). */
Status cpu_wino16_run(const float *in, float *out, const float *w, int mirror, int n, int h,
                      int w_);

/* ---- cpu_layout.c ---- */
/* The layout t's bytes are in (H*W == 1 and C % 16 != 0 always read as NCHW). */
static inline int cpu_layout(const Tensor *t) {
    return (t->layout == CPU_LAYOUT_BLK16 && t->c % 16 == 0 && t->h * t->w > 1)
               ? CPU_LAYOUT_BLK16 : CPU_LAYOUT_NCHW;
}
/* The layout the backend writes an activation of t's shape in. */
static inline int cpu_preferred_layout(const Tensor *t) {
    return (t->dtype == DT_F32 && t->c % 16 == 0 && t->h * t->w > 1 && cpu_conv_blocked())
               ? CPU_LAYOUT_BLK16 : CPU_LAYOUT_NCHW;
}
/* Element offset of (n, c, h, w) in t's layout; the step between w and w+1 is cpu_wstep(). */
static inline size_t cpu_offset(const Tensor *t, int layout, int n, int c, int h, int w) {
    if (layout == CPU_LAYOUT_BLK16)
        return ((((size_t)n * (size_t)(t->c / 16) + (size_t)(c / 16)) * (size_t)t->h + (size_t)h) *
                    (size_t)t->w + (size_t)w) * 16 + (size_t)(c & 15);
    return (((size_t)n * (size_t)t->c + (size_t)c) * (size_t)t->h + (size_t)h) * (size_t)t->w +
           (size_t)w;
}
static inline size_t cpu_wstep(int layout) { return layout == CPU_LAYOUT_BLK16 ? 16 : 1; }

/* Copy src (shape of t, element size of t's dtype) from layout `from` to layout `to`. */
void cpu_reorder(const Tensor *t, const void *src, int from, void *dst, int to);
/* t's data in `layout`: t->data itself when it already is, else a converted copy in `slot`. */
Status cpu_data_as(CpuCtx *ctx, const Tensor *t, int layout, int slot, const void **out);
/* Convert t in place to `layout` (through a scratch copy). */
Status cpu_relayout(CpuCtx *ctx, Tensor *t, int layout);

/* ---- op files ---- */
Status cpu_conv2d_forward(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                          const Tensor *b, Tensor *y);
Status cpu_conv2d_backward_data(void *ctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                Tensor *dx);
Status cpu_conv2d_backward_filter(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                  Tensor *dw, Tensor *db);
void cpu_plan_free(void *ctx, void *plan);
/* Implementation a plan of d uses for direction `which` (0 forward, 1 backward-data,
 * 2 backward-weights; "" before its first call). */
const char *cpu_conv_impl(const ConvDesc *d, int which);

Status cpu_batchnorm_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                   const Tensor *beta, Tensor *running_mean, Tensor *running_var,
                                   float momentum, float eps, Tensor *y, Tensor *save_mean,
                                   Tensor *save_invstd);
Status cpu_batchnorm_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                   const Tensor *beta, const Tensor *running_mean,
                                   const Tensor *running_var, float eps, Tensor *y);
Status cpu_batchnorm_backward(void *ctx, const Tensor *x, const Tensor *dy, const Tensor *gamma,
                              const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                              Tensor *dgamma, Tensor *dbeta);
Status cpu_batchnorm_relu_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                        const Tensor *beta, Tensor *running_mean,
                                        Tensor *running_var, float momentum, float eps, Tensor *y,
                                        Tensor *save_mean, Tensor *save_invstd);
Status cpu_batchnorm_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                        const Tensor *beta, const Tensor *running_mean,
                                        const Tensor *running_var, float eps, Tensor *y);
Status cpu_batchnorm_relu_backward(void *ctx, const Tensor *x, const Tensor *y, const Tensor *dy,
                                   const Tensor *gamma, const Tensor *beta,
                                   const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                                   Tensor *dgamma, Tensor *dbeta);
Status cpu_batchnorm_add_relu_forward_train(void *ctx, const Tensor *x, const Tensor *r,
                                            const Tensor *gamma, const Tensor *beta,
                                            Tensor *running_mean, Tensor *running_var,
                                            float momentum, float eps, Tensor *y,
                                            Tensor *save_mean, Tensor *save_invstd);
Status cpu_batchnorm_add_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *r,
                                            const Tensor *gamma, const Tensor *beta,
                                            const Tensor *running_mean, const Tensor *running_var,
                                            float eps, Tensor *y);
Status cpu_batchnorm_add_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                       const Tensor *dy, const Tensor *dy2, const Tensor *gamma,
                                       const Tensor *save_mean, const Tensor *save_invstd,
                                       Tensor *dx, Tensor *dr, Tensor *dgamma, Tensor *dbeta);

Status cpu_relu_forward(void *ctx, const Tensor *x, Tensor *y);
Status cpu_relu_backward(void *ctx, const Tensor *y, const Tensor *dy, Tensor *dx);
Status cpu_add(void *ctx, const Tensor *a, const Tensor *b, Tensor *y);
Status cpu_accumulate(void *ctx, Tensor *y, const Tensor *x);
Status cpu_dropout_forward(void *ctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                           Tensor *y, Tensor *mask);
Status cpu_dropout_backward(void *ctx, float p, const Tensor *mask, const Tensor *dy, Tensor *dx);
Status cpu_pad_channels_forward(void *ctx, int stride, const Tensor *x, Tensor *y);
Status cpu_pad_channels_backward(void *ctx, int stride, const Tensor *dy, Tensor *dx);

Status cpu_pool2d_forward(void *ctx, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx);
Status cpu_pool2d_backward(void *ctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                           const Tensor *idx, const Tensor *dy, Tensor *dx);

Status cpu_linear_forward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *b,
                          Tensor *y);
Status cpu_linear_backward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                           Tensor *dx, Tensor *dw, Tensor *db);
Status cpu_softmax_xent(void *ctx, const Tensor *logits, const Tensor *labels, float smoothing,
                        Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dlogits);

Status cpu_sgd_update(void *ctx, int count, Tensor *const *params, Tensor *const *grads,
                      Tensor *const *moms, const SgdParams *p);
Status cpu_sum_squares(void *ctx, const Tensor *t, double *out, int *nonfinite);
Status cpu_scale(void *ctx, Tensor *t, float s);
Status cpu_all_finite(void *ctx, int count, Tensor *const *ts, int *finite);

#endif
