/* cpu_bn.c — batch normalization (train forward, inference forward, backward), PyTorch semantics.
 *
 * Work is split into chunks that each belong to one sample: a 16-channel block (nChw16c:
 * rows of 16 lanes, one channel per lane) or one channel plane (NCHW: the plane read as rows of
 * 16 consecutive pixels, all lanes the same channel, plus a scalar tail). Both run the same
 * 16-lane vector kernels (AVX-512 where the machine has it, see CPU_HOT). Statistics are exact
 * two-pass moments per chunk (the chunk stays in cache), combined across samples in double
 * with Chan's formula, so large means do not cancel the variance away.
 *
 * The fused batchnorm + relu ops (a batchnorm whose only consumer is a relu) run the same
 * passes with the relu folded in: the forward's normalise pass clamps, and both backward
 * passes mask dy where the forward's pre-activation (x - mean) * scale + beta was not
 * positive, recomputed from x with the forward's own float operations (the scale is made
 * from the saved float invstd for that), so they need not read the relu's output. That saves
 * the relu's own passes over the tensor and its parallel regions (forward one read and one
 * write, backward two reads and a write) and the backward's two reads of the output.
 *
 * The fused residual tail y = relu(batchnorm(x) + r) goes further: its normalise pass reads r
 * and writes y (the add's and the relu's passes are gone, and the batchnorm's own output is
 * never stored), and the backward's first pass forms g = (dy + dy2) masked by y, writes it
 * once as the gradient at r and sums it, so the second pass reads g instead of dy and y. The
 * relu's backward, the add's copy and the model's accumulate for the output's second consumer
 * (dy2) all disappear. Every float operation is the unfused ops' own, in the same order, so
 * fused and unfused runs agree bit for bit (test_model). */
#include <math.h>

#include "cpu_internal.h"

typedef struct Chunks {
    long count;      /* chunks in the tensor */
    long per_n;      /* chunks per sample */
    long rows;       /* full 16-lane rows per chunk */
    long tail;       /* NCHW: pixels after the last full row */
    long len;        /* floats per chunk */
    int blocked;
} Chunks;

static Chunks chunks_of(const Tensor *t, int layout) {
    Chunks k;
    long hw = (long)t->h * t->w;
    k.blocked = layout == CPU_LAYOUT_BLK16;
    k.per_n = k.blocked ? t->c / 16 : t->c;
    k.count = (long)t->n * k.per_n;
    k.rows = k.blocked ? hw : hw / 16;
    k.tail = k.blocked ? 0 : hw % 16;
    k.len = k.blocked ? hw * 16 : hw;
    return k;
}

/* Channel of lane l in chunk i. */
static inline int chunk_channel(const Chunks *k, long i, int l) {
    long cpos = i % k->per_n;
    return k->blocked ? (int)(cpos * 16 + l) : (int)cpos;
}

/* Per-lane values for chunk i taken from a per-channel array. */
static inline void lanes_load(const Chunks *k, long i, const float *per_channel, float out[16]) {
    for (int l = 0; l < 16; l++) out[l] = per_channel[chunk_channel(k, i, l)];
}

/* ---- 16-lane kernels over `rows` rows of 16 floats (two accumulators hide add latency) ---- */

typedef int CpuV16i __attribute__((vector_size(64)));

/* Macros, not functions: a function taking or returning a 64-byte vector would have a different
 * ABI in each target_clones clone. Arguments are evaluated twice: pass plain variables.
 * V_RELU: relu of 16 lanes, NaN passing like torch.relu (and cpu_eltwise.c's relu).
 * V_MASK: g where y > 0, else 0 (relu's backward, y its output). */
#define V_RELU(v) ((CpuV16)((CpuV16i)(v) & ~((v) <= (CpuV16){0})))
#define V_MASK(g, y) ((CpuV16)((CpuV16i)(g) & ((y) > (CpuV16){0})))
static inline float s_relu(float v) { return !(v <= 0.0f) ? v : 0.0f; }

/* The fused relu's pre-activation (x - mu) * a + b per lane: the forward's scale and beta. */
typedef struct Relu {
    float a[16], b[16];
} Relu;

CPU_HOT static void k_sum(const float *x, long rows, float out[16]) {
    CpuV16 s0 = {0}, s1 = {0};
    long r = 0;
    for (; r + 1 < rows; r += 2) {
        s0 += CPU_V16_LOAD(x + r * 16);
        s1 += CPU_V16_LOAD(x + r * 16 + 16);
    }
    if (r < rows) s0 += CPU_V16_LOAD(x + r * 16);
    CPU_V16_STORE(out, s0 + s1);
}

CPU_HOT static void k_sqdev(const float *x, long rows, const float mu[16], float out[16]) {
    CpuV16 m = CPU_V16_LOAD(mu), s0 = {0}, s1 = {0};
    long r = 0;
    for (; r + 1 < rows; r += 2) {
        CpuV16 d0 = CPU_V16_LOAD(x + r * 16) - m, d1 = CPU_V16_LOAD(x + r * 16 + 16) - m;
        s0 += d0 * d0;
        s1 += d1 * d1;
    }
    if (r < rows) {
        CpuV16 d = CPU_V16_LOAD(x + r * 16) - m;
        s0 += d * d;
    }
    CPU_V16_STORE(out, s0 + s1);
}

/* Sums of g and g * (x - mu) over `rows` rows. rl (fused relu): g = dy where the pre-activation
 * is positive. gout (residual tail): g = dy + dy2 (dy2 may be NULL) where its output y is
 * positive, also stored in gout. Neither: g = dy. The cases are separate loops so that none
 * carries another's branches. */
CPU_HOT static void k_dot(const float *dy, const float *dy2, const float *y, const float *x,
                          float *gout, long rows, const float mu[16], const Relu *rl,
                          float sdy[16], float sdyx[16]) {
    CpuV16 m = CPU_V16_LOAD(mu), a0 = {0}, a1 = {0}, b0 = {0}, b1 = {0};
    long r = 0;
    if (rl) {
        CpuV16 va = CPU_V16_LOAD(rl->a), vb = CPU_V16_LOAD(rl->b);
        for (; r + 1 < rows; r += 2) {
            CpuV16 d0 = CPU_V16_LOAD(x + r * 16) - m, d1 = CPU_V16_LOAD(x + r * 16 + 16) - m;
            CpuV16 v0 = d0 * va + vb, v1 = d1 * va + vb;
            CpuV16 g0 = CPU_V16_LOAD(dy + r * 16), g1 = CPU_V16_LOAD(dy + r * 16 + 16);
            g0 = V_MASK(g0, v0);
            g1 = V_MASK(g1, v1);
            a0 += g0;
            a1 += g1;
            b0 += g0 * d0;
            b1 += g1 * d1;
        }
        if (r < rows) {
            CpuV16 d = CPU_V16_LOAD(x + r * 16) - m, v = d * va + vb;
            CpuV16 g = CPU_V16_LOAD(dy + r * 16);
            g = V_MASK(g, v);
            a0 += g;
            b0 += g * d;
        }
    } else if (gout) {
        for (; r + 1 < rows; r += 2) {
            CpuV16 g0 = CPU_V16_LOAD(dy + r * 16), y0 = CPU_V16_LOAD(y + r * 16);
            CpuV16 g1 = CPU_V16_LOAD(dy + r * 16 + 16), y1 = CPU_V16_LOAD(y + r * 16 + 16);
            if (dy2) {
                g0 += CPU_V16_LOAD(dy2 + r * 16);
                g1 += CPU_V16_LOAD(dy2 + r * 16 + 16);
            }
            g0 = V_MASK(g0, y0);
            g1 = V_MASK(g1, y1);
            CPU_V16_STORE(gout + r * 16, g0);
            CPU_V16_STORE(gout + r * 16 + 16, g1);
            a0 += g0;
            a1 += g1;
            b0 += g0 * (CPU_V16_LOAD(x + r * 16) - m);
            b1 += g1 * (CPU_V16_LOAD(x + r * 16 + 16) - m);
        }
        if (r < rows) {
            CpuV16 g = CPU_V16_LOAD(dy + r * 16), yv = CPU_V16_LOAD(y + r * 16);
            if (dy2) g += CPU_V16_LOAD(dy2 + r * 16);
            g = V_MASK(g, yv);
            CPU_V16_STORE(gout + r * 16, g);
            a0 += g;
            b0 += g * (CPU_V16_LOAD(x + r * 16) - m);
        }
    } else {
        for (; r + 1 < rows; r += 2) {
            CpuV16 g0 = CPU_V16_LOAD(dy + r * 16), g1 = CPU_V16_LOAD(dy + r * 16 + 16);
            a0 += g0;
            a1 += g1;
            b0 += g0 * (CPU_V16_LOAD(x + r * 16) - m);
            b1 += g1 * (CPU_V16_LOAD(x + r * 16 + 16) - m);
        }
        if (r < rows) {
            CpuV16 g = CPU_V16_LOAD(dy + r * 16);
            a0 += g;
            b0 += g * (CPU_V16_LOAD(x + r * 16) - m);
        }
    }
    CPU_V16_STORE(sdy, a0 + a1);
    CPU_V16_STORE(sdyx, b0 + b1);
}

/* y = (x - mu) * a + b (centering first keeps large means from cancelling), relu'd when
 * `relu`; with res (the residual tail), relu((x - mu) * a + b + res). */
CPU_HOT static void k_affine(const float *x, const float *res, float *y, long rows,
                             const float mu[16], const float a[16], const float b[16], int relu) {
    CpuV16 m = CPU_V16_LOAD(mu), va = CPU_V16_LOAD(a), vb = CPU_V16_LOAD(b);
    if (res) {
        for (long r = 0; r < rows; r++) {
            CpuV16 v = (CPU_V16_LOAD(x + r * 16) - m) * va + vb;
            v += CPU_V16_LOAD(res + r * 16);
            CPU_V16_STORE(y + r * 16, V_RELU(v));
        }
    } else if (relu) {
        for (long r = 0; r < rows; r++) {
            CpuV16 v = (CPU_V16_LOAD(x + r * 16) - m) * va + vb;
            CPU_V16_STORE(y + r * 16, V_RELU(v));
        }
    } else {
        for (long r = 0; r < rows; r++)
            CPU_V16_STORE(y + r * 16, (CPU_V16_LOAD(x + r * 16) - m) * va + vb);
    }
}

/* dx = g * a + (x - mu) * c1 + c0, g = dy masked by the fused relu's pre-activation (rl,
 * NULL: none). */
CPU_HOT static void k_bwd(const float *dy, const Relu *rl, const float *x, float *dx, long rows,
                          const float mu[16], const float a[16], const float c1[16],
                          const float c0[16]) {
    CpuV16 m = CPU_V16_LOAD(mu), va = CPU_V16_LOAD(a), v1 = CPU_V16_LOAD(c1);
    CpuV16 v0 = CPU_V16_LOAD(c0);
    if (rl) {
        CpuV16 ra = CPU_V16_LOAD(rl->a), rb = CPU_V16_LOAD(rl->b);
        for (long r = 0; r < rows; r++) {
            CpuV16 d = CPU_V16_LOAD(x + r * 16) - m, v = d * ra + rb;
            CpuV16 g = CPU_V16_LOAD(dy + r * 16);
            g = V_MASK(g, v);
            CPU_V16_STORE(dx + r * 16, g * va + d * v1 + v0);
        }
    } else {
        for (long r = 0; r < rows; r++) {
            CpuV16 g = CPU_V16_LOAD(dy + r * 16);
            CPU_V16_STORE(dx + r * 16, g * va + (CPU_V16_LOAD(x + r * 16) - m) * v1 + v0);
        }
    }
}

/* ---- per chunk: the kernels plus, for NCHW planes, the pixels after the last full row and
 * the fold of the 16 lanes (all one channel) into one value ---- */

static void fold_lanes(const Chunks *k, float v[16], float tail) {
    if (k->blocked) return;
    float t = tail;
    for (int l = 0; l < 16; l++) t += v[l];
    for (int l = 0; l < 16; l++) v[l] = t;
}

static void chunk_sum(const Chunks *k, const float *x, float out[16]) {
    k_sum(x, k->rows, out);
    float t = 0;
    for (long j = 0; j < k->tail; j++) t += x[k->rows * 16 + j];
    fold_lanes(k, out, t);
}

static void chunk_sqdev(const Chunks *k, const float *x, const float mu[16], float out[16]) {
    k_sqdev(x, k->rows, mu, out);
    float t = 0;
    for (long j = 0; j < k->tail; j++) {
        float d = x[k->rows * 16 + j] - mu[0];
        t += d * d;
    }
    fold_lanes(k, out, t);
}

static void chunk_dot(const Chunks *k, const float *dy, const float *dy2, const float *y,
                      const float *x, float *gout, const float mu[16], const Relu *rl,
                      float sdy[16], float sdyx[16]) {
    k_dot(dy, dy2, y, x, gout, k->rows, mu, rl, sdy, sdyx);
    float ta = 0, tb = 0;
    for (long j = 0; j < k->tail; j++) {
        long o = k->rows * 16 + j;
        float g = dy2 ? dy[o] + dy2[o] : dy[o];
        if (y && !(y[o] > 0.0f)) g = 0.0f;
        if (rl && !((x[o] - mu[0]) * rl->a[0] + rl->b[0] > 0.0f)) g = 0.0f;
        if (gout) gout[o] = g;
        ta += g;
        tb += g * (x[o] - mu[0]);
    }
    fold_lanes(k, sdy, ta);
    fold_lanes(k, sdyx, tb);
}

static void chunk_affine(const Chunks *k, const float *x, const float *res, float *y,
                         const float mu[16], const float a[16], const float b[16], int relu) {
    k_affine(x, res, y, k->rows, mu, a, b, relu);
    for (long j = 0; j < k->tail; j++) {
        long o = k->rows * 16 + j;
        float v = (x[o] - mu[0]) * a[0] + b[0];
        if (res) v += res[o];
        y[o] = relu ? s_relu(v) : v;
    }
}

static void chunk_bwd(const Chunks *k, const float *dy, const Relu *rl, const float *x,
                      float *dx, const float mu[16], const float a[16], const float c1[16],
                      const float c0[16]) {
    k_bwd(dy, rl, x, dx, k->rows, mu, a, c1, c0);
    for (long j = 0; j < k->tail; j++) {
        long o = k->rows * 16 + j;
        float g = rl && !((x[o] - mu[0]) * rl->a[0] + rl->b[0] > 0.0f) ? 0.0f : dy[o];
        dx[o] = g * a[0] + (x[o] - mu[0]) * c1[0] + c0[0];
    }
}

/* Store chunk i's per-lane values into a per-(sample, channel) array [n][c]. */
static inline void partial_store(const Chunks *k, long i, int c, const float v[16], double *out) {
    long n = i / k->per_n;
    if (k->blocked)
        for (int l = 0; l < 16; l++) out[n * c + chunk_channel(k, i, l)] = v[l];
    else
        out[n * c + chunk_channel(k, i, 0)] = v[0];
}

/* y = (x - center[c]) * scale[c] + shift[c] over all chunks, relu'd when `relu`; with res
 * (the residual tail, relu set) res is added before the relu. */
static void affine_all(const Chunks *k, const float *x, const float *res, float *y,
                       const float *center, const float *scale, const float *shift, int relu) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < k->count; i++) {
        float mu[16], a[16], b[16];
        lanes_load(k, i, center, mu);
        lanes_load(k, i, scale, a);
        lanes_load(k, i, shift, b);
        chunk_affine(k, x + i * k->len, res ? res + i * k->len : NULL, y + i * k->len, mu, a, b,
                     relu);
    }
}

/* r: the residual tail's other input (relu set), NULL without one. */
static Status bn_forward_train(CpuCtx *ctx, const Tensor *x, const Tensor *r, const Tensor *gamma,
                               const Tensor *beta, Tensor *running_mean, Tensor *running_var,
                               float momentum, float eps, Tensor *y, Tensor *save_mean,
                               Tensor *save_invstd, int relu) {
    cpu_enter(ctx);
    int c = x->c;
    long hw = (long)x->h * x->w, m = (long)x->n * hw;
    if (m < 2)
        return status_fail(ST_ERR_ARG, "cpu backend: batchnorm in training needs more than one "
                           "value per channel (got batch %d of %dx%d maps): use a larger batch",
                           x->n, x->h, x->w);
    int layout = cpu_layout(x);
    Chunks k = chunks_of(x, layout);
    double *pmean, *pm2;
    float *scale;
    TRY(cpu_scratch(ctx, CPU_SCRATCH_B, sizeof(double) * 2 * (size_t)x->n * (size_t)c,
                    (void **)&pmean));
    TRY(cpu_scratch(ctx, CPU_SCRATCH_C, sizeof(float) * (size_t)c, (void **)&scale));
    pm2 = pmean + (size_t)x->n * (size_t)c;
    const float *xd = x->data, *rd = NULL;
    if (r) TRY(cpu_data_as(ctx, r, layout, CPU_SCRATCH_A, (const void **)&rd));

#pragma omp parallel for schedule(static)
    for (long i = 0; i < k.count; i++) {
        const float *xc = xd + i * k.len;
        float s[16], mu[16], q[16];
        chunk_sum(&k, xc, s);
        for (int l = 0; l < 16; l++) mu[l] = s[l] / (float)hw;
        chunk_sqdev(&k, xc, mu, q);
        partial_store(&k, i, c, mu, pmean);
        partial_store(&k, i, c, q, pm2);
    }

    const float *g = gamma->data, *bt = beta->data;
    float *rm = running_mean->data, *rv = running_var->data;
    float *sm = save_mean->data, *si = save_invstd->data;
    for (int ch = 0; ch < c; ch++) {
        double mean = 0, m2 = 0;
        for (int n = 0; n < x->n; n++) mean += pmean[(long)n * c + ch];
        mean /= x->n;
        for (int n = 0; n < x->n; n++) {
            double d = pmean[(long)n * c + ch] - mean;
            m2 += pm2[(long)n * c + ch] + (double)hw * d * d;
        }
        double var = m2 / (double)m;
        double invstd = 1.0 / sqrt(var + (double)eps);
        rm[ch] = (float)((1.0 - momentum) * rm[ch] + momentum * mean);
        rv[ch] = (float)((1.0 - momentum) * rv[ch] + momentum * (m2 / (double)(m - 1)));
        sm[ch] = (float)mean;
        si[ch] = (float)invstd;
        scale[ch] = g[ch] * si[ch];   /* from the saved float: the fused backward remakes it */
    }
    affine_all(&k, xd, rd, y->data, sm, scale, bt, relu);
    y->layout = layout;
    save_mean->layout = save_invstd->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_batchnorm_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                   const Tensor *beta, Tensor *running_mean, Tensor *running_var,
                                   float momentum, float eps, Tensor *y, Tensor *save_mean,
                                   Tensor *save_invstd) {
    return bn_forward_train(ctx, x, NULL, gamma, beta, running_mean, running_var, momentum, eps,
                            y, save_mean, save_invstd, 0);
}

Status cpu_batchnorm_relu_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                        const Tensor *beta, Tensor *running_mean,
                                        Tensor *running_var, float momentum, float eps, Tensor *y,
                                        Tensor *save_mean, Tensor *save_invstd) {
    return bn_forward_train(ctx, x, NULL, gamma, beta, running_mean, running_var, momentum, eps,
                            y, save_mean, save_invstd, 1);
}

Status cpu_batchnorm_add_relu_forward_train(void *ctx, const Tensor *x, const Tensor *r,
                                            const Tensor *gamma, const Tensor *beta,
                                            Tensor *running_mean, Tensor *running_var,
                                            float momentum, float eps, Tensor *y,
                                            Tensor *save_mean, Tensor *save_invstd) {
    return bn_forward_train(ctx, x, r, gamma, beta, running_mean, running_var, momentum, eps, y,
                            save_mean, save_invstd, 1);
}

static Status bn_forward_infer(CpuCtx *ctx, const Tensor *x, const Tensor *r,
                               const Tensor *gamma, const Tensor *beta,
                               const Tensor *running_mean, const Tensor *running_var, float eps,
                               Tensor *y, int relu) {
    cpu_enter(ctx);
    int c = x->c, layout = cpu_layout(x);
    float *scale;
    const float *rd = NULL;
    if (r) TRY(cpu_data_as(ctx, r, layout, CPU_SCRATCH_A, (const void **)&rd));
    TRY(cpu_scratch(ctx, CPU_SCRATCH_C, sizeof(float) * (size_t)c, (void **)&scale));
    const float *g = gamma->data, *rv = running_var->data;
    for (int ch = 0; ch < c; ch++) scale[ch] = (float)(g[ch] / sqrt((double)rv[ch] + (double)eps));
    Chunks k = chunks_of(x, layout);
    affine_all(&k, x->data, rd, y->data, running_mean->data, scale, beta->data, relu);
    y->layout = layout;
    return ST_OK;
}

Status cpu_batchnorm_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                   const Tensor *beta, const Tensor *running_mean,
                                   const Tensor *running_var, float eps, Tensor *y) {
    return bn_forward_infer(ctx, x, NULL, gamma, beta, running_mean, running_var, eps, y, 0);
}

Status cpu_batchnorm_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                        const Tensor *beta, const Tensor *running_mean,
                                        const Tensor *running_var, float eps, Tensor *y) {
    return bn_forward_infer(ctx, x, NULL, gamma, beta, running_mean, running_var, eps, y, 1);
}

Status cpu_batchnorm_add_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *r,
                                            const Tensor *gamma, const Tensor *beta,
                                            const Tensor *running_mean, const Tensor *running_var,
                                            float eps, Tensor *y) {
    return bn_forward_infer(ctx, x, r, gamma, beta, running_mean, running_var, eps, y, 1);
}

/* relu_beta: the fused relu's batchnorm shift (NULL without one); the mask is recomputed from
 * x. The residual tail instead passes its output y, masking dy (plus dy2, may be NULL), and
 * dr, where the first pass writes the masked sum g for the second to read back. */
static Status bn_backward(CpuCtx *ctx, const Tensor *x, const Tensor *y, const Tensor *dy,
                          const Tensor *dy2, const Tensor *gamma, const Tensor *relu_beta,
                          const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                          Tensor *dr, Tensor *dgamma, Tensor *dbeta) {
    cpu_enter(ctx);
    int c = x->c, layout = cpu_layout(x);
    long m = (long)x->n * x->h * x->w;
    Chunks k = chunks_of(x, layout);
    const float *dyd, *dy2d = NULL, *yd = NULL;
    float *gd = dr ? dr->data : NULL;
    TRY(cpu_data_as(ctx, dy, layout, CPU_SCRATCH_A, (const void **)&dyd));
    if (dy2) TRY(cpu_data_as(ctx, dy2, layout, CPU_SCRATCH_E, (const void **)&dy2d));
    if (y) TRY(cpu_data_as(ctx, y, layout, CPU_SCRATCH_D, (const void **)&yd));
    double *psdy, *psdyx;
    float *coef;
    TRY(cpu_scratch(ctx, CPU_SCRATCH_B, sizeof(double) * 2 * (size_t)x->n * (size_t)c,
                    (void **)&psdy));
    TRY(cpu_scratch(ctx, CPU_SCRATCH_C, sizeof(float) * 4 * (size_t)c, (void **)&coef));
    psdyx = psdy + (size_t)x->n * (size_t)c;
    const float *xd = x->data, *mean = save_mean->data, *invstd = save_invstd->data;
    const float *g = gamma->data, *rb = relu_beta ? relu_beta->data : NULL;
    float *ca = coef, *c1 = coef + c, *c0 = coef + 2 * c, *rs = coef + 3 * c;
    for (int ch = 0; ch < c; ch++) rs[ch] = g[ch] * invstd[ch];   /* the forward's scale */

#pragma omp parallel for schedule(static)
    for (long i = 0; i < k.count; i++) {
        float mu[16], a[16], b[16];
        Relu rl;
        lanes_load(&k, i, mean, mu);
        if (rb) {
            lanes_load(&k, i, rs, rl.a);
            lanes_load(&k, i, rb, rl.b);
        }
        chunk_dot(&k, dyd + i * k.len, dy2d ? dy2d + i * k.len : NULL,
                  yd ? yd + i * k.len : NULL, xd + i * k.len, gd ? gd + i * k.len : NULL, mu,
                  rb ? &rl : NULL, a, b);
        partial_store(&k, i, c, a, psdy);
        partial_store(&k, i, c, b, psdyx);
    }

    float *dg = dgamma->data, *db = dbeta->data;
    for (int ch = 0; ch < c; ch++) {
        double sdy = 0, sdyx = 0;
        for (int n = 0; n < x->n; n++) {
            sdy += psdy[(long)n * c + ch];
            sdyx += psdyx[(long)n * c + ch];
        }
        double is = invstd[ch], a = g[ch] * is;
        db[ch] = (float)sdy;
        dg[ch] = (float)(sdyx * is);
        ca[ch] = (float)a;
        c1[ch] = (float)(-a * is * is * sdyx / (double)m);
        c0[ch] = (float)(-a * sdy / (double)m);
    }
    float *dxd = dx->data;
    if (gd) {   /* the second pass reads the masked sum the first one stored */
        dyd = gd;
        dr->layout = layout;
    }
#pragma omp parallel for schedule(static)
    for (long i = 0; i < k.count; i++) {
        float mu[16], a[16], b[16], z[16];
        Relu rl;
        lanes_load(&k, i, mean, mu);
        lanes_load(&k, i, ca, a);
        lanes_load(&k, i, c1, b);
        lanes_load(&k, i, c0, z);
        if (rb) {
            lanes_load(&k, i, rs, rl.a);
            lanes_load(&k, i, rb, rl.b);
        }
        chunk_bwd(&k, dyd + i * k.len, rb ? &rl : NULL, xd + i * k.len, dxd + i * k.len, mu, a,
                  b, z);
    }
    dx->layout = layout;
    dgamma->layout = dbeta->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

Status cpu_batchnorm_backward(void *ctx, const Tensor *x, const Tensor *dy, const Tensor *gamma,
                              const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                              Tensor *dgamma, Tensor *dbeta) {
    return bn_backward(ctx, x, NULL, dy, NULL, gamma, NULL, save_mean, save_invstd, dx, NULL,
                       dgamma, dbeta);
}

Status cpu_batchnorm_relu_backward(void *ctx, const Tensor *x, const Tensor *y, const Tensor *dy,
                                   const Tensor *gamma, const Tensor *beta,
                                   const Tensor *save_mean, const Tensor *save_invstd, Tensor *dx,
                                   Tensor *dgamma, Tensor *dbeta) {
    (void)y;   /* the mask is recomputed from x */
    return bn_backward(ctx, x, NULL, dy, NULL, gamma, beta, save_mean, save_invstd, dx, NULL,
                       dgamma, dbeta);
}

Status cpu_batchnorm_add_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                       const Tensor *dy, const Tensor *dy2, const Tensor *gamma,
                                       const Tensor *save_mean, const Tensor *save_invstd,
                                       Tensor *dx, Tensor *dr, Tensor *dgamma, Tensor *dbeta) {
    if (!y || !dr)
        return status_fail(ST_ERR_ARG, "cpu backend: batchnorm_add_relu_backward needs the "
                           "output y and a dr tensor");
    return bn_backward(ctx, x, y, dy, dy2, gamma, NULL, save_mean, save_invstd, dx, dr, dgamma,
                       dbeta);
}
