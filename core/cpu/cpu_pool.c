/* cpu_pool.c — max and average pooling, forward and backward, in either layout.
 *
 * Max pooling pads with -inf and takes the first maximum in window order (NaN wins), like
 * PyTorch. idx, when given, receives the argmax as PyTorch's return_indices does (h * W + w in
 * the plane, I32) or as the offset inside the window (U8), dense NCHW; backward finds the same
 * element again from x, so it never depends on idx. Average pooling divides by the full
 * window (count_include_pad). Global average pooling, the head of every CIFAR ResNet, has its
 * own vectorised path. Work is split by sample so threads never write the same cache line. */
#include <math.h>
#include <string.h>

#include "cpu_internal.h"

static int is_global_avg(const PoolDesc *d, const Tensor *x) {
    return d->kind == POOL_AVG && d->k == x->h && d->k == x->w && d->pad == 0;
}

/* x (N, C, H, W) any layout -> y (N, C, 1, 1) dense. */
static void global_avg_forward(const Tensor *x, Tensor *y) {
    int layout = cpu_layout(x);
    long hw = (long)x->h * x->w;
    const float *xd = x->data;
    float *yd = y->data;
    float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < x->n; n++) {
        if (layout == CPU_LAYOUT_BLK16) {
            for (int cb = 0; cb < x->c / 16; cb++) {
                const float *blk = xd + cpu_offset(x, layout, n, cb * 16, 0, 0);
                float s[16] = {0};
                for (long p = 0; p < hw; p++) {
#pragma omp simd
                    for (int l = 0; l < 16; l++) s[l] += blk[p * 16 + l];
                }
                float *out = yd + (size_t)n * (size_t)x->c + (size_t)cb * 16;
                for (int l = 0; l < 16; l++) out[l] = s[l] * inv;
            }
        } else {
            for (int c = 0; c < x->c; c++) {
                const float *pl = xd + ((size_t)n * (size_t)x->c + (size_t)c) * (size_t)hw;
                float s = 0.0f;
#pragma omp simd reduction(+ : s)
                for (long p = 0; p < hw; p++) s += pl[p];
                yd[(size_t)n * (size_t)x->c + (size_t)c] = s * inv;
            }
        }
    }
    y->layout = CPU_LAYOUT_NCHW;
}

static void global_avg_backward(const float *dyd, Tensor *dx) {
    int layout = cpu_preferred_layout(dx);
    long hw = (long)dx->h * dx->w;
    float *o = dx->data;
    float inv = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < dx->n; n++) {
        if (layout == CPU_LAYOUT_BLK16) {
            for (int cb = 0; cb < dx->c / 16; cb++) {
                float g[16];
                for (int l = 0; l < 16; l++)
                    g[l] = dyd[(size_t)n * (size_t)dx->c + (size_t)(cb * 16 + l)] * inv;
                float *blk = o + cpu_offset(dx, layout, n, cb * 16, 0, 0);
                for (long p = 0; p < hw; p++) {
#pragma omp simd
                    for (int l = 0; l < 16; l++) blk[p * 16 + l] = g[l];
                }
            }
        } else {
            for (int c = 0; c < dx->c; c++) {
                float g = dyd[(size_t)n * (size_t)dx->c + (size_t)c] * inv;
                float *pl = o + ((size_t)n * (size_t)dx->c + (size_t)c) * (size_t)hw;
                for (long p = 0; p < hw; p++) pl[p] = g;
            }
        }
    }
    dx->layout = layout;
}

/* Window of output row/column o along an axis of size `size`: [*lo, *hi). */
static inline void window(const PoolDesc *d, int o, int size, int *lo, int *hi) {
    int start = o * d->stride - d->pad;
    *lo = start < 0 ? 0 : start;
    *hi = start + d->k > size ? size : start + d->k;
}

/* Position (h * W + w) of the first maximum of window (oh, ow) in plane `xp` (step sx). */
static inline long argmax_in(const PoolDesc *d, const Tensor *x, const float *xp, size_t sx,
                             int oh, int ow, float *best_out) {
    int h0, h1, w0, w1;
    window(d, oh, x->h, &h0, &h1);
    window(d, ow, x->w, &w0, &w1);
    float best = -INFINITY;
    long at = -1;
    for (int h = h0; h < h1; h++)
        for (int w = w0; w < w1; w++) {
            float v = xp[((size_t)h * (size_t)x->w + (size_t)w) * sx];
            if (at < 0 || v > best || isnan(v)) {
                best = v;
                at = (long)h * x->w + w;
                if (isnan(v)) goto done;
            }
        }
done:
    *best_out = best;
    return at;
}

Status cpu_pool2d_forward(void *vctx, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx) {
    cpu_enter(vctx);
    if (d->kind == POOL_MAX && idx && idx->dtype == DT_U8 && d->k * d->k > 256)
        return status_fail(ST_ERR_ARG, "cpu backend: a %dx%d max pooling window does not fit a "
                           "u8 idx; use i32", d->k, d->k);
    if (is_global_avg(d, x)) {
        global_avg_forward(x, y);
        return ST_OK;
    }
    int lx = cpu_layout(x), ly = cpu_preferred_layout(y);
    size_t sx = cpu_wstep(lx), sy = cpu_wstep(ly);
    const float *xd = x->data;
    float *yd = y->data;
    float inv_area = 1.0f / (float)(d->k * d->k);
    int32_t *idx32 = d->kind == POOL_MAX && idx && idx->dtype == DT_I32 ? idx->data : NULL;
    uint8_t *idx8 = d->kind == POOL_MAX && idx && idx->dtype == DT_U8 ? idx->data : NULL;
#pragma omp parallel for schedule(static)
    for (int n = 0; n < y->n; n++) {
        for (int c = 0; c < y->c; c++) {
            const float *xp = xd + cpu_offset(x, lx, n, c, 0, 0);
            float *yp = yd + cpu_offset(y, ly, n, c, 0, 0);
            size_t iplane = ((size_t)n * (size_t)y->c + (size_t)c) * (size_t)y->h * (size_t)y->w;
            for (int oh = 0; oh < y->h; oh++)
                for (int ow = 0; ow < y->w; ow++) {
                    float v;
                    if (d->kind == POOL_MAX) {
                        long at = argmax_in(d, x, xp, sx, oh, ow, &v);
                        size_t o = iplane + (size_t)oh * (size_t)y->w + (size_t)ow;
                        if (idx32) idx32[o] = (int32_t)at;
                        if (idx8)
                            idx8[o] = (uint8_t)((at / x->w - (oh * d->stride - d->pad)) * d->k +
                                                at % x->w - (ow * d->stride - d->pad));
                    } else {
                        int h0, h1, w0, w1;
                        window(d, oh, x->h, &h0, &h1);
                        window(d, ow, x->w, &w0, &w1);
                        float s = 0.0f;
                        for (int h = h0; h < h1; h++)
                            for (int w = w0; w < w1; w++)
                                s += xp[((size_t)h * (size_t)x->w + (size_t)w) * sx];
                        v = s * inv_area;
                    }
                    yp[((size_t)oh * (size_t)y->w + (size_t)ow) * sy] = v;
                }
        }
    }
    y->layout = ly;
    if (idx) idx->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_pool2d_backward(void *vctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                           const Tensor *idx, const Tensor *dy, Tensor *dx) {
    (void)y;
    (void)idx;
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (is_global_avg(d, dx)) {
        const float *g;
        TRY(cpu_data_as(ctx, dy, CPU_LAYOUT_NCHW, CPU_SCRATCH_A, (const void **)&g));
        global_avg_backward(g, dx);
        return ST_OK;
    }
    int lx = cpu_layout(x), lg = cpu_layout(dy), lo = cpu_preferred_layout(dx);
    size_t sx = cpu_wstep(lx), sg = cpu_wstep(lg), so = cpu_wstep(lo);
    const float *xd = x->data, *gd = dy->data;
    float *od = dx->data;
    float inv_area = 1.0f / (float)(d->k * d->k);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < dx->n; n++) {
        for (int c = 0; c < dx->c; c++) {
            const float *xp = xd + cpu_offset(x, lx, n, c, 0, 0);
            const float *gp = gd + cpu_offset(dy, lg, n, c, 0, 0);
            float *op = od + cpu_offset(dx, lo, n, c, 0, 0);
            for (long p = 0; p < (long)dx->h * dx->w; p++) op[(size_t)p * so] = 0.0f;
            for (int oh = 0; oh < dy->h; oh++)
                for (int ow = 0; ow < dy->w; ow++) {
                    float g = gp[((size_t)oh * (size_t)dy->w + (size_t)ow) * sg];
                    if (d->kind == POOL_MAX) {
                        float v;
                        long at = argmax_in(d, x, xp, sx, oh, ow, &v);
                        if (at >= 0) op[(size_t)at * so] += g;
                    } else {
                        int h0, h1, w0, w1;
                        window(d, oh, dx->h, &h0, &h1);
                        window(d, ow, dx->w, &w0, &w1);
                        for (int h = h0; h < h1; h++)
                            for (int w = w0; w < w1; w++)
                                op[((size_t)h * (size_t)dx->w + (size_t)w) * so] += g * inv_area;
                    }
                }
        }
    }
    dx->layout = lo;
    return ST_OK;
}
