/* cpu_internal.h — shared state and helpers of the fast CPU backend (core/cpu/cpu_*.c).
 *
 * Not a public header: only the cpu_*.c files and the CPU parity test include it.
 *
 * Layouts. An F32 activation whose channel count is a multiple of 16 is kept in oneDNN's
 * blocked nChw16c layout (CPU_LAYOUT_BLK16): for each sample, blocks of 16 channels, and inside
 * a block the 16 channel values of one pixel are contiguous. oneDNN's AVX-512 convolutions
 * read and write it without reorders, and per-channel ops (batchnorm) vectorise over the 16
 * lanes. Everything else (parameters, inputs, vectors, logits) is dense NCHW. Ops set the
 * layout of every tensor they write; U8 dropout masks share the layout of their input.
 * With H*W == 1 the two layouts are the same bytes, so such tensors always count as NCHW.
 *
 * Threads. OpenMP's thread count is a per-thread setting, and the worker thread that runs
 * training is not the thread that created the backend, so every op calls cpu_enter() first. */
#ifndef SHORTCUT_CPU_INTERNAL_H
#define SHORTCUT_CPU_INTERNAL_H

#include <stddef.h>

#include <oneapi/dnnl/dnnl.h>

#include "backend.h"

enum { CPU_LAYOUT_NCHW = 0, CPU_LAYOUT_BLK16 = 1 };

/* Scratch slots: independent staging buffers an op may hold at the same time. */
enum { CPU_SCRATCH_A = 0, CPU_SCRATCH_B, CPU_SCRATCH_C, CPU_SCRATCH_DNNL, CPU_SCRATCH_SLOTS };

/* Convolution algorithm requests (oneDNN falls back to direct where a shape has no other). */
enum { CPU_CONV_DIRECT = 0, CPU_CONV_AUTO, CPU_CONV_WINOGRAD };

typedef struct CpuCtx {
    int threads;                 /* OpenMP threads every op runs with */
    int conv_alg;                /* CPU_CONV_*; plans are rebuilt when it changes */
    dnnl_engine_t engine;
    dnnl_stream_t stream;
    void *scratch[CPU_SCRATCH_SLOTS];
    size_t scratch_cap[CPU_SCRATCH_SLOTS];   /* bytes */
    char description[192];
} CpuCtx;

/* ---- cpu_backend.c ---- */
void cpu_enter(CpuCtx *ctx);
/* A 64-byte aligned buffer of at least `bytes` in `slot`, kept and grown across calls. */
Status cpu_scratch(CpuCtx *ctx, int slot, size_t bytes, void **out);
Status cpu_dnnl_fail(dnnl_status_t s, const char *what);
#define CPU_DNNL(call) do { dnnl_status_t s__ = (call); \
    if (s__ != dnnl_success) return cpu_dnnl_fail(s__, #call); } while (0)

/* ---- cpu_layout.c ---- */
/* The layout t's bytes are in (H*W == 1 and C % 16 != 0 always read as NCHW). */
static inline int cpu_layout(const Tensor *t) {
    return (t->layout == CPU_LAYOUT_BLK16 && t->c % 16 == 0 && t->h * t->w > 1)
               ? CPU_LAYOUT_BLK16 : CPU_LAYOUT_NCHW;
}
/* The layout the backend writes an activation of t's shape in. */
static inline int cpu_preferred_layout(const Tensor *t) {
    return (t->dtype == DT_F32 && t->c % 16 == 0 && t->h * t->w > 1)
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
/* Name of the oneDNN implementation the forward plan of d uses ("" before the first call). */
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

#endif
