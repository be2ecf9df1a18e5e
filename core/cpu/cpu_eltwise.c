/* cpu_eltwise.c — elementwise ops: relu, add, accumulate, dropout, option-A channel padding.
 *
 * Elementwise ops work on raw storage, so their output takes the layout of their main input;
 * a second input stored in another layout is converted first (cpu_data_as). Dropout draws its
 * keep decision from the NCHW index of each element, whatever the storage order, so its masks
 * match every other backend bit for bit. */
#include <string.h>

#include "rng.h"
#include "cpu_internal.h"

/* Elements per parallel task: small tensors stay on one thread. */
#define PAR_MIN 32768

Status cpu_relu_forward(void *vctx, const Tensor *x, Tensor *y) {
    cpu_enter(vctx);
    const float *a = x->data;
    float *o = y->data;
    long n = (long)tensor_numel(x);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) {
        float v = a[i];
        o[i] = !(v <= 0.0f) ? v : 0.0f;   /* NaN passes, like torch.relu */
    }
    y->layout = cpu_layout(x);
    return ST_OK;
}

Status cpu_relu_backward(void *vctx, const Tensor *y, const Tensor *dy, Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int layout = cpu_layout(dy);
    const float *yd, *g = dy->data;
    TRY(cpu_data_as(ctx, y, layout, CPU_SCRATCH_A, (const void **)&yd));
    float *o = dx->data;
    long n = (long)tensor_numel(dy);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) {
        float gi = g[i];   /* loaded unconditionally so the select vectorises */
        o[i] = yd[i] > 0.0f ? gi : 0.0f;
    }
    dx->layout = layout;
    return ST_OK;
}

Status cpu_add(void *vctx, const Tensor *a, const Tensor *b, Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int layout = cpu_layout(a);
    const float *ad = a->data, *bd;
    TRY(cpu_data_as(ctx, b, layout, CPU_SCRATCH_A, (const void **)&bd));
    float *o = y->data;
    long n = (long)tensor_numel(a);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) o[i] = ad[i] + bd[i];
    y->layout = layout;
    return ST_OK;
}

Status cpu_accumulate(void *vctx, Tensor *y, const Tensor *x) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    const float *xd;
    TRY(cpu_data_as(ctx, x, cpu_layout(y), CPU_SCRATCH_A, (const void **)&xd));
    float *o = y->data;
    long n = (long)tensor_numel(y);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) o[i] += xd[i];
    return ST_OK;
}

/* NCHW index of storage position `pos` (per_channel: the index of its (n, c) plane). */
static inline uint64_t dropout_counter(const Tensor *x, int blocked, long pos, int per_channel) {
    long hw = (long)x->h * x->w;
    long n, c, p;
    if (blocked) {
        long lane = pos & 15, pix = pos >> 4;
        p = pix % hw;
        long blk = pix / hw;
        long cb = blk % (x->c / 16);
        n = blk / (x->c / 16);
        c = cb * 16 + lane;
    } else {
        p = pos % hw;
        c = (pos / hw) % x->c;
        n = pos / (hw * x->c);
    }
    return per_channel ? (uint64_t)(n * x->c + c) : (uint64_t)((n * x->c + c) * hw + p);
}

Status cpu_dropout_forward(void *vctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                           Tensor *y, Tensor *mask) {
    cpu_enter(vctx);
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "cpu backend: dropout probability %g is outside [0, 1]",
                           (double)p);
    int layout = cpu_layout(x), blocked = layout == CPU_LAYOUT_BLK16;
    const float *xd = x->data;
    float *yd = y->data;
    unsigned char *md = mask->data;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    long n = (long)tensor_numel(x);
#pragma omp parallel for schedule(static) if (n > PAR_MIN / 8)
    for (long i = 0; i < n; i++) {
        uint64_t ctr = blocked || per_channel ? dropout_counter(x, blocked, i, per_channel)
                                              : (uint64_t)i;
        int keep = rng_uniform(seed, RNG_STREAM_DROPOUT, ctr) >= p;
        float v = xd[i] * scale;
        md[i] = (unsigned char)keep;
        yd[i] = keep ? v : 0.0f;
    }
    y->layout = mask->layout = layout;
    return ST_OK;
}

Status cpu_dropout_backward(void *vctx, float p, const Tensor *mask, const Tensor *dy, Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int layout = cpu_layout(dy);
    const unsigned char *md;
    TRY(cpu_data_as(ctx, mask, layout, CPU_SCRATCH_A, (const void **)&md));
    const float *g = dy->data;
    float *o = dx->data;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    long n = (long)tensor_numel(dy);
#pragma omp parallel for simd schedule(static) if (n > PAR_MIN)
    for (long i = 0; i < n; i++) {
        float gi = g[i] * scale;
        o[i] = md[i] ? gi : 0.0f;
    }
    dx->layout = layout;
    return ST_OK;
}

/* Option-A shortcut. Forward: y[n, c + pad, h, w] = x[n, c, h*s, w*s], zero elsewhere;
 * backward writes the transpose. One sample per task keeps threads off each other's lines. */
Status cpu_pad_channels_forward(void *vctx, int stride, const Tensor *x, Tensor *y) {
    cpu_enter(vctx);
    int lx = cpu_layout(x), ly = cpu_preferred_layout(y);
    int pad = (y->c - x->c) / 2;
    const float *xd = x->data;
    float *yd = y->data;
    size_t sx = cpu_wstep(lx), sy = cpu_wstep(ly);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < y->n; n++) {
        for (int c = 0; c < y->c; c++) {
            int cx = c - pad;
            for (int h = 0; h < y->h; h++) {
                float *row = yd + cpu_offset(y, ly, n, c, h, 0);
                if (cx < 0 || cx >= x->c || h * stride >= x->h) {
                    for (int w = 0; w < y->w; w++) row[(size_t)w * sy] = 0.0f;
                    continue;
                }
                const float *src = xd + cpu_offset(x, lx, n, cx, h * stride, 0);
                for (int w = 0; w < y->w; w++)
                    row[(size_t)w * sy] = w * stride < x->w ? src[(size_t)w * stride * sx] : 0.0f;
            }
        }
    }
    y->layout = ly;
    return ST_OK;
}

Status cpu_pad_channels_backward(void *vctx, int stride, const Tensor *dy, Tensor *dx) {
    cpu_enter(vctx);
    int ly = cpu_layout(dy), lx = cpu_preferred_layout(dx);
    int pad = (dy->c - dx->c) / 2;
    const float *g = dy->data;
    float *o = dx->data;
    size_t sx = cpu_wstep(lx), sy = cpu_wstep(ly);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < dx->n; n++) {
        for (int c = 0; c < dx->c; c++) {
            for (int h = 0; h < dx->h; h++) {
                float *row = o + cpu_offset(dx, lx, n, c, h, 0);
                int hy = h / stride;
                if (h % stride != 0 || hy >= dy->h) {
                    for (int w = 0; w < dx->w; w++) row[(size_t)w * sx] = 0.0f;
                    continue;
                }
                const float *src = g + cpu_offset(dy, ly, n, c + pad, hy, 0);
                for (int w = 0; w < dx->w; w++)
                    row[(size_t)w * sx] = (w % stride == 0 && w / stride < dy->w)
                                              ? src[(size_t)(w / stride) * sy] : 0.0f;
            }
        }
    }
    dx->layout = lx;
    return ST_OK;
}
