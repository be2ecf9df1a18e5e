/* cpu_eltwise.c — elementwise ops: relu, add, accumulate, dropout, option-A channel padding.
 *
 * Elementwise ops work on raw storage, so their output takes the layout of their main input;
 * a second input stored in another layout is converted first (cpu_data_as). Dropout draws its
 * keep decision from the NCHW index of each element, whatever the storage order, so its masks
 * match every other backend bit for bit. */
#include <omp.h>

#include "rng.h"
#include "cpu_internal.h"

/* Elements below which an op stays on one thread. */
#define PAR_MIN 32768

/* Operands of an elementwise kernel; each kernel uses the ones it needs over [lo, hi). */
typedef struct Ew {
    const float *a, *b;
    const unsigned char *mask;
    float *out;
    float scale;
} Ew;

typedef void (*EwKernel)(const Ew *e, long lo, long hi);

/* Run k over n elements, one contiguous share per thread. */
static void ew_run(EwKernel k, const Ew *e, long n) {
#pragma omp parallel if (n > PAR_MIN)
    {
        long lo, hi;
        cpu_split(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
        if (hi > lo) k(e, lo, hi);
    }
}

CPU_HOT static void k_relu(const Ew *e, long lo, long hi) {
    const float *a = e->a;
    float *o = e->out;
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        float v = a[i];
        o[i] = !(v <= 0.0f) ? v : 0.0f;   /* NaN passes, like torch.relu */
    }
}

/* a = y, b = dy */
CPU_HOT static void k_relu_bwd(const Ew *e, long lo, long hi) {
    const float *y = e->a, *g = e->b;
    float *o = e->out;
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        float gi = g[i];   /* loaded unconditionally so the select vectorises */
        o[i] = y[i] > 0.0f ? gi : 0.0f;
    }
}

CPU_HOT static void k_add(const Ew *e, long lo, long hi) {
    const float *a = e->a, *b = e->b;
    float *o = e->out;
#pragma omp simd
    for (long i = lo; i < hi; i++) o[i] = a[i] + b[i];
}

/* b = dy */
CPU_HOT static void k_dropout_bwd(const Ew *e, long lo, long hi) {
    const float *g = e->b;
    const unsigned char *m = e->mask;
    float *o = e->out;
#pragma omp simd
    for (long i = lo; i < hi; i++) {
        float gi = g[i] * e->scale;
        o[i] = m[i] ? gi : 0.0f;
    }
}

Status cpu_relu_forward(void *vctx, const Tensor *x, Tensor *y) {
    cpu_enter(vctx);
    Ew e = {.a = x->data, .out = y->data};
    ew_run(k_relu, &e, (long)tensor_numel(x));
    y->layout = cpu_layout(x);
    return ST_OK;
}

Status cpu_relu_backward(void *vctx, const Tensor *y, const Tensor *dy, Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int layout = cpu_layout(dy);
    Ew e = {.b = dy->data, .out = dx->data};
    TRY(cpu_data_as(ctx, y, layout, CPU_SCRATCH_A, (const void **)&e.a));
    ew_run(k_relu_bwd, &e, (long)tensor_numel(dy));
    dx->layout = layout;
    return ST_OK;
}

Status cpu_add(void *vctx, const Tensor *a, const Tensor *b, Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int layout = cpu_layout(a);
    Ew e = {.a = a->data, .out = y->data};
    TRY(cpu_data_as(ctx, b, layout, CPU_SCRATCH_A, (const void **)&e.b));
    ew_run(k_add, &e, (long)tensor_numel(a));
    y->layout = layout;
    return ST_OK;
}

Status cpu_accumulate(void *vctx, Tensor *y, const Tensor *x) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    Ew e = {.a = y->data, .out = y->data};
    TRY(cpu_data_as(ctx, x, cpu_layout(y), CPU_SCRATCH_A, (const void **)&e.b));
    ew_run(k_add, &e, (long)tensor_numel(y));
    return ST_OK;
}

/* Dropout on `rows` rows of 16 consecutive stored elements; element (r, l) draws counter
 * ctr0 + r * row_step + l * lane_step. The (row_step, lane_step) pairs cover every case:
 * NCHW (16, 1), NCHW per channel within a plane (0, 0), blocked (1, H*W), blocked per
 * channel (0, 1). Vectorised across the 16 lanes, 64-bit multiplies and all. */
CPU_HOT static void k_dropout(const float *x, float *y, unsigned char *m, long rows,
                              uint64_t ctr0, uint64_t row_step, uint64_t lane_step,
                              uint64_t seed, float p, float scale) {
    for (long r = 0; r < rows; r++) {
        uint64_t base = ctr0 + (uint64_t)r * row_step;
#pragma omp simd
        for (int l = 0; l < 16; l++) {
            int keep = rng_uniform(seed, RNG_STREAM_DROPOUT, base + (uint64_t)l * lane_step) >= p;
            float v = x[r * 16 + l] * scale;
            m[r * 16 + l] = (unsigned char)keep;
            y[r * 16 + l] = keep ? v : 0.0f;
        }
    }
}

/* The same for `len` < 16 leftover elements of an NCHW range (step 1, or 0 per channel). */
static void dropout_tail(const float *x, float *y, unsigned char *m, long len, uint64_t ctr0,
                         uint64_t step, uint64_t seed, float p, float scale) {
    for (long i = 0; i < len; i++) {
        int keep = rng_uniform(seed, RNG_STREAM_DROPOUT, ctr0 + (uint64_t)i * step) >= p;
        m[i] = (unsigned char)keep;
        y[i] = keep ? x[i] * scale : 0.0f;
    }
}

Status cpu_dropout_forward(void *vctx, float p, int per_channel, uint64_t seed, const Tensor *x,
                           Tensor *y, Tensor *mask) {
    cpu_enter(vctx);
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "cpu backend: dropout probability %g is outside [0, 1]",
                           (double)p);
    int layout = cpu_layout(x);
    const float *xd = x->data;
    float *yd = y->data;
    unsigned char *md = mask->data;
    float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    long hw = (long)x->h * x->w, n = (long)tensor_numel(x);
    if (layout == CPU_LAYOUT_BLK16) {
        /* chunk = one sample's block of 16 channels: hw rows of 16 lanes */
        long chunks = n / (hw * 16);
#pragma omp parallel for schedule(static)
        for (long k = 0; k < chunks; k++) {
            long nn = k / (x->c / 16), cb = k % (x->c / 16);
            uint64_t first = (uint64_t)(nn * x->c + cb * 16);
            long off = k * hw * 16;
            if (per_channel)
                k_dropout(xd + off, yd + off, md + off, hw, first, 0, 1, seed, p, scale);
            else
                k_dropout(xd + off, yd + off, md + off, hw, first * (uint64_t)hw, 1,
                          (uint64_t)hw, seed, p, scale);
        }
    } else if (per_channel) {
        long planes = (long)x->n * x->c;
#pragma omp parallel for schedule(static) if (n > PAR_MIN)
        for (long pl = 0; pl < planes; pl++) {
            long off = pl * hw, rows = hw / 16;
            k_dropout(xd + off, yd + off, md + off, rows, (uint64_t)pl, 0, 0, seed, p, scale);
            dropout_tail(xd + off + rows * 16, yd + off + rows * 16, md + off + rows * 16,
                         hw - rows * 16, (uint64_t)pl, 0, seed, p, scale);
        }
    } else {
#pragma omp parallel if (n > PAR_MIN)
        {
            long lo, hi;
            cpu_split(n, omp_get_num_threads(), omp_get_thread_num(), &lo, &hi);
            long rows = (hi - lo) / 16, end = lo + rows * 16;
            if (hi > lo) {
                k_dropout(xd + lo, yd + lo, md + lo, rows, (uint64_t)lo, 16, 1, seed, p, scale);
                dropout_tail(xd + end, yd + end, md + end, hi - end, (uint64_t)end, 1, seed, p,
                             scale);
            }
        }
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
    Ew e = {.b = dy->data, .mask = md, .out = dx->data,
            .scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f};
    ew_run(k_dropout_bwd, &e, (long)tensor_numel(dy));
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
