/* cpu_conv_gemm.c — convolutions and GEMM for builds without oneDNN: im2col + OpenBLAS sgemm.
 *
 * The portable fallback of cpu_conv_dnnl.c (the build compiles one of the two). Samples are
 * split over the backend's OpenMP threads; each thread unfolds one sample at a time into its
 * own column buffer (K = Cin*kh*kw rows, P = Ho*Wo columns) and runs a single-threaded sgemm,
 * so OpenBLAS's own thread pool stays idle instead of fighting OpenMP for the cores.
 * Backward-weights sums per-thread partial gradients in thread order, so results do not
 * depend on timing. Everything here is NCHW; blocked inputs (which only a test can create in
 * this build) are converted first. No plans: ConvDesc.plan stays NULL. */
#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

#include "cpu_internal.h"

Status cpu_conv_init(CpuCtx *ctx) {
    ctx->conv = NULL;
    openblas_set_num_threads(1);
    return ST_OK;
}

void cpu_conv_release(CpuCtx *ctx) { ctx->conv = NULL; }

int cpu_conv_blocked(void) { return 0; }

/* OpenBLAS has no bf16 GEMM we use: this build computes in fp32 on every CPU. */
int cpu_conv_bf16_support(void) { return CPU_BF16_NONE; }

void cpu_conv_library(char *buf, size_t len) {
    const char *isa = __builtin_cpu_supports("avx512f") ? "avx512"
                      : __builtin_cpu_supports("avx2") ? "avx2" : "sse";
    snprintf(buf, len, "%s, im2col + OpenBLAS (%s)", isa, openblas_get_corename());
}

Status cpu_sgemm(CpuCtx *ctx, char transa, char transb, long m, long n, long k, float alpha,
                 const float *a, long lda, const float *b, long ldb, float beta, float *c,
                 long ldc) {
    (void)ctx;
    cblas_sgemm(CblasRowMajor, transa == 'T' ? CblasTrans : CblasNoTrans,
                transb == 'T' ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k,
                alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
    return ST_OK;
}

void cpu_plan_free(void *vctx, void *plan) {
    (void)vctx;
    (void)plan;
}

const char *cpu_conv_impl(const ConvDesc *d, int which) {
    (void)d;
    return which >= 0 && which < 3 ? "im2col+sgemm" : "";
}

/* Geometry of one call. */
typedef struct Geom {
    int cin, h, w, cout, ho, wo, kh, kw, stride, pad;
    long k, p;   /* GEMM sizes: K = cin*kh*kw, P = ho*wo */
} Geom;

static Geom geom(const ConvDesc *d, int h, int w) {
    Geom g = {.cin = d->c_in, .h = h, .w = w, .cout = d->c_out, .kh = d->kh, .kw = d->kw,
              .stride = d->stride, .pad = d->pad};
    g.ho = conv_out_size(h, d->kh, d->stride, d->pad);
    g.wo = conv_out_size(w, d->kw, d->stride, d->pad);
    g.k = (long)g.cin * g.kh * g.kw;
    g.p = (long)g.ho * g.wo;
    return g;
}

/* A 1x1 stride-1 unpadded convolution reads the sample itself as its column matrix. */
static int is_pointwise(const Geom *g) {
    return g->kh == 1 && g->kw == 1 && g->stride == 1 && g->pad == 0;
}

/* col[(ci*kh + i)*kw + j][oh*wo + ow] = x[ci][oh*s - pad + i][ow*s - pad + j], 0 outside. */
static void im2col(const Geom *g, const float *x, float *col) {
    for (int ci = 0; ci < g->cin; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                float *row = col + (((long)ci * g->kh + i) * g->kw + j) * g->p;
                for (int oh = 0; oh < g->ho; oh++) {
                    int ih = oh * g->stride - g->pad + i;
                    float *out = row + (long)oh * g->wo;
                    if (ih < 0 || ih >= g->h) {
                        memset(out, 0, sizeof(float) * (size_t)g->wo);
                        continue;
                    }
                    const float *in = x + ((long)ci * g->h + ih) * g->w;
                    for (int ow = 0; ow < g->wo; ow++) {
                        int iw = ow * g->stride - g->pad + j;
                        out[ow] = iw >= 0 && iw < g->w ? in[iw] : 0.0f;
                    }
                }
            }
}

/* The transpose of im2col: dx[ci][ih][iw] = sum of the col entries that read it. */
static void col2im(const Geom *g, const float *col, float *dx) {
    memset(dx, 0, sizeof(float) * (size_t)g->cin * (size_t)g->h * (size_t)g->w);
    for (int ci = 0; ci < g->cin; ci++)
        for (int i = 0; i < g->kh; i++)
            for (int j = 0; j < g->kw; j++) {
                const float *row = col + (((long)ci * g->kh + i) * g->kw + j) * g->p;
                for (int oh = 0; oh < g->ho; oh++) {
                    int ih = oh * g->stride - g->pad + i;
                    if (ih < 0 || ih >= g->h) continue;
                    float *out = dx + ((long)ci * g->h + ih) * g->w;
                    const float *in = row + (long)oh * g->wo;
                    for (int ow = 0; ow < g->wo; ow++) {
                        int iw = ow * g->stride - g->pad + j;
                        if (iw >= 0 && iw < g->w) out[iw] += in[ow];
                    }
                }
            }
}

/* Per-thread column buffers (plus `extra` floats each), one slot for all threads. */
static Status thread_buffers(CpuCtx *ctx, const Geom *g, long extra, float **out, long *stride) {
    *stride = ((is_pointwise(g) ? 0 : g->k * g->p) + extra + 15) & ~15L;
    return cpu_scratch(ctx, CPU_SCRATCH_CONV,
                       sizeof(float) * (size_t)*stride * (size_t)omp_get_max_threads(),
                       (void **)out);
}

Status cpu_conv2d_forward(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                          const Tensor *b, Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (d->has_bias && !b)
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_forward: the convolution has a bias "
                           "but no bias tensor was passed");
    Geom g = geom(d, x->h, x->w);
    const float *xd, *wd = w->data, *bd = d->has_bias ? b->data : NULL;
    TRY(cpu_data_as(ctx, x, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&xd));
    float *bufs, *yd = y->data;
    long stride;
    TRY(thread_buffers(ctx, &g, 0, &bufs, &stride));
    long in_size = (long)g.cin * g.h * g.w;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++) {
        const float *xn = xd + n * in_size;
        float *col = bufs + omp_get_thread_num() * stride;
        if (is_pointwise(&g)) col = (float *)xn;
        else im2col(&g, xn, col);
        float *yn = yd + (long)n * g.cout * g.p;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g.cout, (blasint)g.p,
                    (blasint)g.k, 1.0f, wd, (blasint)g.k, col, (blasint)g.p, 0.0f, yn,
                    (blasint)g.p);
        if (bd)
            for (int co = 0; co < g.cout; co++)
                for (long p = 0; p < g.p; p++) yn[co * g.p + p] += bd[co];
    }
    y->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_conv2d_backward_data(void *vctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    Geom g = geom(d, dx->h, dx->w);
    const float *gd, *wd = w->data;
    TRY(cpu_data_as(ctx, dy, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&gd));
    float *bufs, *od = dx->data;
    long stride;
    TRY(thread_buffers(ctx, &g, 0, &bufs, &stride));
    long in_size = (long)g.cin * g.h * g.w;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < dx->n; n++) {
        float *dxn = od + n * in_size;
        float *col = is_pointwise(&g) ? dxn : bufs + omp_get_thread_num() * stride;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (blasint)g.k, (blasint)g.p,
                    g.cout, 1.0f, wd, (blasint)g.k, gd + (long)n * g.cout * g.p, (blasint)g.p,
                    0.0f, col, (blasint)g.p);
        if (!is_pointwise(&g)) col2im(&g, col, dxn);
    }
    dx->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_conv2d_backward_filter(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                  Tensor *dw, Tensor *db) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (d->has_bias && !db)
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_backward_filter: the convolution "
                           "has a bias but no bias gradient tensor was passed");
    Geom g = geom(d, x->h, x->w);
    const float *xd, *gd;
    TRY(cpu_data_as(ctx, x, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&xd));
    TRY(cpu_data_as(ctx, dy, CPU_LAYOUT_NCHW, CPU_SCRATCH_B, (const void **)&gd));
    long wsize = (long)g.cout * g.k;
    float *bufs;
    long stride;
    TRY(thread_buffers(ctx, &g, wsize + g.cout, &bufs, &stride));
    long in_size = (long)g.cin * g.h * g.w;
    int used = 1;
#pragma omp parallel
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
#pragma omp single
        used = nt;
        float *part = bufs + t * stride, *bpart = part + wsize;
        float *col = bpart + g.cout;
        memset(part, 0, sizeof(float) * (size_t)(wsize + g.cout));
#pragma omp for schedule(static)
        for (int n = 0; n < x->n; n++) {
            const float *xn = xd + n * in_size, *gn = gd + (long)n * g.cout * g.p;
            const float *c = xn;
            if (!is_pointwise(&g)) {
                im2col(&g, xn, col);
                c = col;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g.cout, (blasint)g.k,
                        (blasint)g.p, 1.0f, gn, (blasint)g.p, c, (blasint)g.p, 1.0f, part,
                        (blasint)g.k);
            for (int co = 0; co < g.cout; co++) {
                float s = 0.0f;
                for (long p = 0; p < g.p; p++) s += gn[co * g.p + p];
                bpart[co] += s;
            }
        }
    }
    float *dwd = dw->data, *dbd = db ? db->data : NULL;
    for (long i = 0; i < wsize; i++) {
        float s = 0.0f;
        for (int t = 0; t < used; t++) s += bufs[t * stride + i];
        dwd[i] = s;
    }
    for (int co = 0; dbd && co < g.cout; co++) {
        float s = 0.0f;
        for (int t = 0; t < used; t++) s += bufs[t * stride + wsize + co];
        dbd[co] = s;
    }
    dw->layout = CPU_LAYOUT_NCHW;
    if (db) db->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}
