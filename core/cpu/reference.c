/* reference.c — the "reference" backend: every BackendOps op as plain loops over dense NCHW
 * host memory.
 *
 * This is the oracle the fast CPU and CUDA backends are tested against, so it is written to be
 * obviously right rather than fast: one loop nest per formula, written the way the formula reads;
 * every sum (convolution, GEMM, batch statistics, loss) accumulated in double; gradients that
 * scatter (transposed convolution, pooling) accumulated in a double scratch buffer; every shape
 * and dtype checked, so a wrong call from model code fails with a message instead of reading out
 * of bounds. Semantics follow PyTorch (see core/backend.h).
 *
 * Invariants: storage is malloc'd host memory in dense NCHW (layout 0); fresh storage is filled
 * with all-one bytes (NaN floats, -1 ints) so a caller that reads an output it never wrote sees
 * NaN here rather than a plausible zero. The backend keeps no state: ctx is NULL. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "backend.h"
#include "rng.h"

#define ANY (-1)

static void fmt_dim(char *buf, size_t len, int v) {
    if (v == ANY)
        snprintf(buf, len, "*");
    else
        snprintf(buf, len, "%d", v);
}

/* Check that t is allocated, has dtype dt and shape (n, c, h, w); ANY matches every size. */
static Status need(const char *op, const char *what, const Tensor *t, DType dt, int n, int c,
                   int h, int w) {
    if (!t)
        return status_fail(ST_ERR_ARG, "reference %s: %s is NULL (the caller must pass it)", op,
                           what);
    if (!t->data && tensor_numel(t) > 0)
        return status_fail(ST_ERR_ARG,
                           "reference %s: %s is not allocated (call tensor_alloc first)", op, what);
    if (t->dtype != dt || (n != ANY && t->n != n) || (c != ANY && t->c != c) ||
        (h != ANY && t->h != h) || (w != ANY && t->w != w)) {
        char e[4][16];
        fmt_dim(e[0], sizeof e[0], n);
        fmt_dim(e[1], sizeof e[1], c);
        fmt_dim(e[2], sizeof e[2], h);
        fmt_dim(e[3], sizeof e[3], w);
        return status_fail(ST_ERR_ARG,
                           "reference %s: %s is %s (%d, %d, %d, %d), expected %s (%s, %s, %s, %s) "
                           "(a shape bug in the calling layer)",
                           op, what, dtype_name(t->dtype), t->n, t->c, t->h, t->w, dtype_name(dt),
                           e[0], e[1], e[2], e[3]);
    }
    return ST_OK;
}

static Status same_shape(const char *op, const char *what, const Tensor *t, const Tensor *like,
                         DType dt) {
    return need(op, what, t, dt, like->n, like->c, like->h, like->w);
}

/* A zeroed double buffer of n elements, for gradients that several outputs scatter into. */
static Status scratch(const char *op, size_t n, double **out) {
    *out = calloc(n ? n : 1, sizeof(double));
    if (!*out)
        return status_fail(ST_ERR_OOM, "reference %s: cannot allocate %zu bytes of scratch", op,
                           n * sizeof(double));
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * memory */

static Status ref_tensor_alloc(void *ctx, Tensor *t) {
    (void)ctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "reference tensor_alloc: tensor is NULL");
    if (t->n < 0 || t->c < 0 || t->h < 0 || t->w < 0)
        return status_fail(ST_ERR_ARG, "reference tensor_alloc: negative shape (%d, %d, %d, %d)",
                           t->n, t->c, t->h, t->w);
    if (t->dtype != DT_F32 && t->dtype != DT_I32 && t->dtype != DT_U8)
        return status_fail(ST_ERR_ARG, "reference tensor_alloc: unknown dtype %d", (int)t->dtype);
    size_t bytes = dtype_size(t->dtype);
    const int dims[4] = {t->n, t->c, t->h, t->w};
    for (int i = 0; i < 4; i++) {
        if (dims[i] > 0 && bytes > SIZE_MAX / (size_t)dims[i])
            return status_fail(ST_ERR_OOM,
                               "reference tensor_alloc: (%d, %d, %d, %d) is too large to address",
                               t->n, t->c, t->h, t->w);
        bytes *= (size_t)dims[i];
    }
    t->layout = 0;
    if (t->data && t->cap >= bytes)
        return ST_OK;
    size_t want = bytes ? bytes : 1;
    void *p = realloc(t->data, want);
    if (!p)
        return status_fail(ST_ERR_OOM,
                           "reference tensor_alloc: cannot allocate %zu bytes for (%d, %d, %d, "
                           "%d): out of host memory (reduce the batch size)",
                           want, t->n, t->c, t->h, t->w);
    memset(p, 0xff, want);
    t->data = p;
    t->cap = want;
    return ST_OK;
}

static void ref_tensor_free(void *ctx, Tensor *t) {
    (void)ctx;
    if (!t)
        return;
    free(t->data);
    t->data = NULL;
    t->cap = 0;
}

static Status ref_upload(void *ctx, Tensor *t, const void *host) {
    (void)ctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "reference upload: tensor is NULL");
    TRY(need("upload", "t", t, t->dtype, ANY, ANY, ANY, ANY));
    if (t->cap < tensor_bytes(t))
        return status_fail(ST_ERR_ARG, "reference upload: storage (%zu bytes) is smaller than "
                           "the shape needs (%zu); call tensor_alloc after reshaping",
                           t->cap, tensor_bytes(t));
    if (!host && tensor_bytes(t) > 0)
        return status_fail(ST_ERR_ARG, "reference upload: host pointer is NULL");
    if (tensor_bytes(t) > 0)
        memcpy(t->data, host, tensor_bytes(t));
    return ST_OK;
}

static Status ref_download(void *ctx, const Tensor *t, void *host) {
    (void)ctx;
    if (!t)
        return status_fail(ST_ERR_ARG, "reference download: tensor is NULL");
    TRY(need("download", "t", t, t->dtype, ANY, ANY, ANY, ANY));
    if (t->cap < tensor_bytes(t))
        return status_fail(ST_ERR_ARG, "reference download: storage (%zu bytes) is smaller than "
                           "the shape needs (%zu)", t->cap, tensor_bytes(t));
    if (!host && tensor_bytes(t) > 0)
        return status_fail(ST_ERR_ARG, "reference download: host pointer is NULL");
    if (tensor_bytes(t) > 0)
        memcpy(host, t->data, tensor_bytes(t));
    return ST_OK;
}

static Status ref_fill(void *ctx, Tensor *t, float v) {
    (void)ctx;
    TRY(need("fill", "t", t, DT_F32, ANY, ANY, ANY, ANY));
    float *p = t->data;
    size_t n = tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        p[i] = v;
    return ST_OK;
}

static Status ref_copy(void *ctx, Tensor *dst, const Tensor *src) {
    (void)ctx;
    if (!src)
        return status_fail(ST_ERR_ARG, "reference copy: src is NULL");
    TRY(need("copy", "src", src, src->dtype, ANY, ANY, ANY, ANY));
    TRY(same_shape("copy", "dst", dst, src, src->dtype));
    if (tensor_bytes(src) > 0)
        memmove(dst->data, src->data, tensor_bytes(src));
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * convolution: y[n,o,i,j] = b[o] + sum_{c,p,q} x[n, c, i*s - pad + p, j*s - pad + q] * w[o,c,p,q]
 * (x is zero outside its bounds). */

static Status conv_check(const char *op, const ConvDesc *d, const Tensor *x, int *ho, int *wo) {
    if (!d)
        return status_fail(ST_ERR_ARG, "reference %s: ConvDesc is NULL", op);
    if (d->c_in <= 0 || d->c_out <= 0 || d->kh <= 0 || d->kw <= 0 || d->stride <= 0 || d->pad < 0)
        return status_fail(ST_ERR_ARG,
                           "reference %s: invalid conv (c_in %d, c_out %d, kernel %dx%d, "
                           "stride %d, pad %d)",
                           op, d->c_in, d->c_out, d->kh, d->kw, d->stride, d->pad);
    TRY(need(op, "x", x, DT_F32, ANY, d->c_in, ANY, ANY));
    *ho = conv_out_size(x->h, d->kh, d->stride, d->pad);
    *wo = conv_out_size(x->w, d->kw, d->stride, d->pad);
    if (x->h + 2 * d->pad < d->kh || x->w + 2 * d->pad < d->kw)
        return status_fail(ST_ERR_ARG,
                           "reference %s: input %dx%d (pad %d) is smaller than the %dx%d kernel",
                           op, x->h, x->w, d->pad, d->kh, d->kw);
    return ST_OK;
}

static Status ref_conv2d_forward(void *ctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                                 const Tensor *b, Tensor *y) {
    (void)ctx;
    const char *op = "conv2d_forward";
    int ho, wo;
    TRY(conv_check(op, d, x, &ho, &wo));
    TRY(need(op, "w", w, DT_F32, d->c_out, d->c_in, d->kh, d->kw));
    if ((b != NULL) != (d->has_bias != 0))
        return status_fail(ST_ERR_ARG, "reference %s: bias %s but ConvDesc.has_bias is %d", op,
                           b ? "given" : "missing", d->has_bias);
    if (b)
        TRY(need(op, "b", b, DT_F32, 1, d->c_out, 1, 1));
    TRY(need(op, "y", y, DT_F32, x->n, d->c_out, ho, wo));

    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    float *Y = y->data;
    const int N = x->n, C = d->c_in, H = x->h, Wd = x->w, O = d->c_out;
    const int KH = d->kh, KW = d->kw, S = d->stride, P = d->pad;
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double acc = B ? B[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int p = 0; p < KH; p++) {
                            int ih = i * S - P + p;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int q = 0; q < KW; q++) {
                                int iw = j * S - P + q;
                                if (iw < 0 || iw >= Wd)
                                    continue;
                                acc += (double)X[(((size_t)n * C + c) * H + ih) * Wd + iw] *
                                       W[(((size_t)o * C + c) * KH + p) * KW + q];
                            }
                        }
                    Y[(((size_t)n * O + o) * ho + i) * wo + j] = (float)acc;
                }
    return ST_OK;
}

/* dx[n,c,ih,iw] = sum over every (o,i,j,p,q) whose forward term read x[n,c,ih,iw] of
 * dy[n,o,i,j] * w[o,c,p,q]: the forward loop with the multiply-add turned around. There is no
 * x here, so the input shape comes from dx. */
static Status ref_conv2d_backward_data(void *ctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                       Tensor *dx) {
    (void)ctx;
    const char *op = "conv2d_backward_data";
    int ho, wo;
    if (!dx)
        return status_fail(ST_ERR_ARG, "reference %s: dx is NULL", op);
    TRY(conv_check(op, d, dx, &ho, &wo));
    TRY(need(op, "w", w, DT_F32, d->c_out, d->c_in, d->kh, d->kw));
    TRY(need(op, "dy", dy, DT_F32, dx->n, d->c_out, ho, wo));

    const float *DY = dy->data, *W = w->data;
    const int N = dx->n, C = d->c_in, H = dx->h, Wd = dx->w, O = d->c_out;
    const int KH = d->kh, KW = d->kw, S = d->stride, P = d->pad;
    double *acc;
    TRY(scratch(op, tensor_numel(dx), &acc));
    for (int n = 0; n < N; n++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < ho; i++)
                for (int j = 0; j < wo; j++) {
                    double g = DY[(((size_t)n * O + o) * ho + i) * wo + j];
                    for (int c = 0; c < C; c++)
                        for (int p = 0; p < KH; p++) {
                            int ih = i * S - P + p;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int q = 0; q < KW; q++) {
                                int iw = j * S - P + q;
                                if (iw < 0 || iw >= Wd)
                                    continue;
                                acc[(((size_t)n * C + c) * H + ih) * Wd + iw] +=
                                    g * W[(((size_t)o * C + c) * KH + p) * KW + q];
                            }
                        }
                }
    float *DX = dx->data;
    for (size_t k = 0; k < tensor_numel(dx); k++)
        DX[k] = (float)acc[k];
    free(acc);
    return ST_OK;
}

static Status ref_conv2d_backward_filter(void *ctx, ConvDesc *d, const Tensor *x,
                                         const Tensor *dy, Tensor *dw, Tensor *db) {
    (void)ctx;
    const char *op = "conv2d_backward_filter";
    int ho, wo;
    TRY(conv_check(op, d, x, &ho, &wo));
    TRY(need(op, "dy", dy, DT_F32, x->n, d->c_out, ho, wo));
    TRY(need(op, "dw", dw, DT_F32, d->c_out, d->c_in, d->kh, d->kw));
    if ((db != NULL) != (d->has_bias != 0))
        return status_fail(ST_ERR_ARG, "reference %s: db %s but ConvDesc.has_bias is %d", op,
                           db ? "given" : "missing", d->has_bias);
    if (db)
        TRY(need(op, "db", db, DT_F32, 1, d->c_out, 1, 1));

    const float *X = x->data, *DY = dy->data;
    float *DW = dw->data;
    const int N = x->n, C = d->c_in, H = x->h, Wd = x->w, O = d->c_out;
    const int KH = d->kh, KW = d->kw, S = d->stride, P = d->pad;
    for (int o = 0; o < O; o++)
        for (int c = 0; c < C; c++)
            for (int p = 0; p < KH; p++)
                for (int q = 0; q < KW; q++) {
                    double acc = 0.0;
                    for (int n = 0; n < N; n++)
                        for (int i = 0; i < ho; i++) {
                            int ih = i * S - P + p;
                            if (ih < 0 || ih >= H)
                                continue;
                            for (int j = 0; j < wo; j++) {
                                int iw = j * S - P + q;
                                if (iw < 0 || iw >= Wd)
                                    continue;
                                acc += (double)X[(((size_t)n * C + c) * H + ih) * Wd + iw] *
                                       DY[(((size_t)n * O + o) * ho + i) * wo + j];
                            }
                        }
                    DW[(((size_t)o * C + c) * KH + p) * KW + q] = (float)acc;
                }
    if (db) {
        float *DB = db->data;
        for (int o = 0; o < O; o++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                for (int k = 0; k < ho * wo; k++)
                    acc += DY[((size_t)n * O + o) * ho * wo + k];
            DB[o] = (float)acc;
        }
    }
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * batch normalization over (N, H, W) per channel */

static Status bn_param(const char *op, const char *what, const Tensor *t, int c) {
    return need(op, what, t, DT_F32, 1, c, 1, 1);
}

static Status ref_batchnorm_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                          const Tensor *beta, Tensor *running_mean,
                                          Tensor *running_var, float momentum, float eps,
                                          Tensor *y, Tensor *save_mean, Tensor *save_invstd) {
    (void)ctx;
    const char *op = "batchnorm_forward_train";
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    const int N = x->n, C = x->c, HW = x->h * x->w;
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "running_mean", running_mean, C));
    TRY(bn_param(op, "running_var", running_var, C));
    TRY(bn_param(op, "save_mean", save_mean, C));
    TRY(bn_param(op, "save_invstd", save_invstd, C));
    TRY(same_shape(op, "y", y, x, DT_F32));
    const long long M = (long long)N * HW;
    if (M < 2)
        return status_fail(ST_ERR_ARG,
                           "reference %s: batch statistics need more than 1 value per channel "
                           "(input is %d x %d x %d x %d); use a batch larger than 1",
                           op, x->n, x->c, x->h, x->w);

    const float *X = x->data, *G = gamma->data, *Bt = beta->data;
    float *Y = y->data, *RM = running_mean->data, *RV = running_var->data;
    float *SM = save_mean->data, *SI = save_invstd->data;
    for (int c = 0; c < C; c++) {
        double sum = 0.0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++)
                sum += X[((size_t)n * C + c) * HW + k];
        double mean = sum / (double)M;
        double sq = 0.0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                double dev = X[((size_t)n * C + c) * HW + k] - mean;
                sq += dev * dev;
            }
        double var = sq / (double)M;                   /* biased: normalizes this batch */
        double unbiased = sq / (double)(M - 1);        /* what PyTorch keeps in running_var */
        double invstd = 1.0 / sqrt(var + (double)eps);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t at = ((size_t)n * C + c) * HW + k;
                Y[at] = (float)(((double)X[at] - mean) * invstd * G[c] + Bt[c]);
            }
        RM[c] = (float)((1.0 - momentum) * RM[c] + (double)momentum * mean);
        RV[c] = (float)((1.0 - momentum) * RV[c] + (double)momentum * unbiased);
        SM[c] = (float)mean;
        SI[c] = (float)invstd;
    }
    return ST_OK;
}

static Status ref_batchnorm_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                          const Tensor *beta, const Tensor *running_mean,
                                          const Tensor *running_var, float eps, Tensor *y) {
    (void)ctx;
    const char *op = "batchnorm_forward_infer";
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    const int N = x->n, C = x->c, HW = x->h * x->w;
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "beta", beta, C));
    TRY(bn_param(op, "running_mean", running_mean, C));
    TRY(bn_param(op, "running_var", running_var, C));
    TRY(same_shape(op, "y", y, x, DT_F32));
    const float *X = x->data, *G = gamma->data, *Bt = beta->data;
    const float *RM = running_mean->data, *RV = running_var->data;
    float *Y = y->data;
    for (int c = 0; c < C; c++) {
        double invstd = 1.0 / sqrt((double)RV[c] + (double)eps);
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t at = ((size_t)n * C + c) * HW + k;
                Y[at] = (float)(((double)X[at] - RM[c]) * invstd * G[c] + Bt[c]);
            }
    }
    return ST_OK;
}

/* With xhat = (x - mean) * invstd and M values per channel:
 *   dbeta = sum dy,  dgamma = sum dy * xhat,
 *   dx = gamma * invstd * (dy - dbeta / M - xhat * dgamma / M). */
static Status ref_batchnorm_backward(void *ctx, const Tensor *x, const Tensor *dy,
                                     const Tensor *gamma, const Tensor *save_mean,
                                     const Tensor *save_invstd, Tensor *dx, Tensor *dgamma,
                                     Tensor *dbeta) {
    (void)ctx;
    const char *op = "batchnorm_backward";
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    const int N = x->n, C = x->c, HW = x->h * x->w;
    TRY(same_shape(op, "dy", dy, x, DT_F32));
    TRY(bn_param(op, "gamma", gamma, C));
    TRY(bn_param(op, "save_mean", save_mean, C));
    TRY(bn_param(op, "save_invstd", save_invstd, C));
    TRY(same_shape(op, "dx", dx, x, DT_F32));
    TRY(bn_param(op, "dgamma", dgamma, C));
    TRY(bn_param(op, "dbeta", dbeta, C));
    const double M = (double)N * HW;
    const float *X = x->data, *DY = dy->data, *G = gamma->data;
    const float *SM = save_mean->data, *SI = save_invstd->data;
    float *DX = dx->data, *DG = dgamma->data, *DB = dbeta->data;
    for (int c = 0; c < C; c++) {
        double mean = SM[c], invstd = SI[c];
        double sum_dy = 0.0, sum_dy_xhat = 0.0;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t at = ((size_t)n * C + c) * HW + k;
                sum_dy += DY[at];
                sum_dy_xhat += DY[at] * ((X[at] - mean) * invstd);
            }
        for (int n = 0; n < N; n++)
            for (int k = 0; k < HW; k++) {
                size_t at = ((size_t)n * C + c) * HW + k;
                double xhat = (X[at] - mean) * invstd;
                DX[at] = (float)(G[c] * invstd * (DY[at] - sum_dy / M - xhat * sum_dy_xhat / M));
            }
        DG[c] = (float)sum_dy_xhat;
        DB[c] = (float)sum_dy;
    }
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * elementwise */

static Status ref_relu_forward(void *ctx, const Tensor *x, Tensor *y) {
    (void)ctx;
    TRY(need("relu_forward", "x", x, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape("relu_forward", "y", y, x, DT_F32));
    const float *X = x->data;
    float *Y = y->data;
    for (size_t i = 0; i < tensor_numel(x); i++)
        Y[i] = (X[i] > 0.0f || isnan(X[i])) ? X[i] : 0.0f;   /* NaN passes, like torch.relu */
    return ST_OK;
}

static Status ref_relu_backward(void *ctx, const Tensor *y, const Tensor *dy, Tensor *dx) {
    (void)ctx;
    TRY(need("relu_backward", "y", y, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape("relu_backward", "dy", dy, y, DT_F32));
    TRY(same_shape("relu_backward", "dx", dx, y, DT_F32));
    const float *Y = y->data, *DY = dy->data;
    float *DX = dx->data;
    for (size_t i = 0; i < tensor_numel(y); i++)
        DX[i] = Y[i] > 0.0f ? DY[i] : 0.0f;
    return ST_OK;
}

/* ---- batchnorm + relu: the two ops one after the other, which is the definition the fused
 * kernels of the other backends are tested against ---- */

static Status ref_batchnorm_relu_forward_train(void *ctx, const Tensor *x, const Tensor *gamma,
                                               const Tensor *beta, Tensor *running_mean,
                                               Tensor *running_var, float momentum, float eps,
                                               Tensor *y, Tensor *save_mean,
                                               Tensor *save_invstd) {
    TRY(ref_batchnorm_forward_train(ctx, x, gamma, beta, running_mean, running_var, momentum, eps,
                                    y, save_mean, save_invstd));
    return ref_relu_forward(ctx, y, y);
}

static Status ref_batchnorm_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *gamma,
                                               const Tensor *beta, const Tensor *running_mean,
                                               const Tensor *running_var, float eps, Tensor *y) {
    TRY(ref_batchnorm_forward_infer(ctx, x, gamma, beta, running_mean, running_var, eps, y));
    return ref_relu_forward(ctx, y, y);
}

static Status ref_batchnorm_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                          const Tensor *dy, const Tensor *gamma,
                                          const Tensor *beta, const Tensor *save_mean,
                                          const Tensor *save_invstd, Tensor *dx, Tensor *dgamma,
                                          Tensor *dbeta) {
    (void)beta;   /* the mask comes from y, the definition */
    TRY(need("batchnorm_relu_backward", "y", y, DT_F32, ANY, ANY, ANY, ANY));
    Tensor g = {0};   /* the gradient at the batchnorm's output */
    tensor_shape(&g, y->n, y->c, y->h, y->w, DT_F32);
    TRY(ref_tensor_alloc(ctx, &g));
    Status st = ref_relu_backward(ctx, y, dy, &g);
    if (st == ST_OK)
        st = ref_batchnorm_backward(ctx, x, &g, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
    ref_tensor_free(ctx, &g);
    return st;
}

static Status ref_add(void *ctx, const Tensor *a, const Tensor *b, Tensor *y) {
    (void)ctx;
    TRY(need("add", "a", a, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape("add", "b", b, a, DT_F32));
    TRY(same_shape("add", "y", y, a, DT_F32));
    const float *A = a->data, *B = b->data;
    float *Y = y->data;
    for (size_t i = 0; i < tensor_numel(a); i++)
        Y[i] = A[i] + B[i];
    return ST_OK;
}

static Status ref_accumulate(void *ctx, Tensor *y, const Tensor *x) {
    (void)ctx;
    TRY(need("accumulate", "x", x, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape("accumulate", "y", y, x, DT_F32));
    const float *X = x->data;
    float *Y = y->data;
    for (size_t i = 0; i < tensor_numel(x); i++)
        Y[i] += X[i];
    return ST_OK;
}

/* ---- a residual block's tail, y = relu(batchnorm(x) + r): batchnorm, add and relu one after
 * the other (backward: dy + dy2, relu_backward, batchnorm_backward), the definition the
 * fused kernels of the other backends are tested against ---- */

static Status ref_batchnorm_add_relu_forward_train(void *ctx, const Tensor *x, const Tensor *r,
                                                   const Tensor *gamma, const Tensor *beta,
                                                   Tensor *running_mean, Tensor *running_var,
                                                   float momentum, float eps, Tensor *y,
                                                   Tensor *save_mean, Tensor *save_invstd) {
    TRY(ref_batchnorm_forward_train(ctx, x, gamma, beta, running_mean, running_var, momentum, eps,
                                    y, save_mean, save_invstd));
    TRY(ref_add(ctx, y, r, y));
    return ref_relu_forward(ctx, y, y);
}

static Status ref_batchnorm_add_relu_forward_infer(void *ctx, const Tensor *x, const Tensor *r,
                                                   const Tensor *gamma, const Tensor *beta,
                                                   const Tensor *running_mean,
                                                   const Tensor *running_var, float eps,
                                                   Tensor *y) {
    TRY(ref_batchnorm_forward_infer(ctx, x, gamma, beta, running_mean, running_var, eps, y));
    TRY(ref_add(ctx, y, r, y));
    return ref_relu_forward(ctx, y, y);
}

static Status ref_batchnorm_add_relu_backward(void *ctx, const Tensor *x, const Tensor *y,
                                              const Tensor *dy, const Tensor *dy2,
                                              const Tensor *gamma, const Tensor *save_mean,
                                              const Tensor *save_invstd, Tensor *dx, Tensor *dr,
                                              Tensor *dgamma, Tensor *dbeta) {
    TRY(need("batchnorm_add_relu_backward", "y", y, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape("batchnorm_add_relu_backward", "dr", dr, y, DT_F32));
    if (!dy2)
        TRY(ref_relu_backward(ctx, y, dy, dr));
    else {
        Tensor g = {0};   /* dy + dy2, the whole gradient at y */
        tensor_shape(&g, y->n, y->c, y->h, y->w, DT_F32);
        TRY(ref_tensor_alloc(ctx, &g));
        Status st = ref_add(ctx, dy, dy2, &g);
        if (st == ST_OK)
            st = ref_relu_backward(ctx, y, &g, dr);
        ref_tensor_free(ctx, &g);
        TRY(st);
    }
    return ref_batchnorm_backward(ctx, x, dr, gamma, save_mean, save_invstd, dx, dgamma, dbeta);
}

/* ------------------------------------------------------------------------------------------
 * dropout */

static float dropout_scale(float p) { return p < 1.0f ? 1.0f / (1.0f - p) : 0.0f; }

static Status ref_dropout_forward(void *ctx, float p, int per_channel, uint64_t seed,
                                  const Tensor *x, Tensor *y, Tensor *mask) {
    (void)ctx;
    const char *op = "dropout_forward";
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "reference %s: p = %g is outside [0, 1]", op, (double)p);
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape(op, "y", y, x, DT_F32));
    TRY(same_shape(op, "mask", mask, x, DT_U8));
    const float *X = x->data;
    float *Y = y->data;
    uint8_t *K = mask->data;
    const float scale = dropout_scale(p);
    const size_t plane = (size_t)x->h * x->w, planes = (size_t)x->n * x->c;
    for (size_t pl = 0; pl < planes; pl++)
        for (size_t k = 0; k < plane; k++) {
            size_t i = pl * plane + k;
            uint64_t counter = per_channel ? pl : i;
            uint8_t keep = rng_uniform(seed, RNG_STREAM_DROPOUT, counter) >= p;
            K[i] = keep;
            Y[i] = keep ? X[i] * scale : 0.0f;
        }
    return ST_OK;
}

static Status ref_dropout_backward(void *ctx, float p, const Tensor *mask, const Tensor *dy,
                                   Tensor *dx) {
    (void)ctx;
    const char *op = "dropout_backward";
    if (!(p >= 0.0f && p <= 1.0f))
        return status_fail(ST_ERR_ARG, "reference %s: p = %g is outside [0, 1]", op, (double)p);
    TRY(need(op, "dy", dy, DT_F32, ANY, ANY, ANY, ANY));
    TRY(same_shape(op, "mask", mask, dy, DT_U8));
    TRY(same_shape(op, "dx", dx, dy, DT_F32));
    const uint8_t *K = mask->data;
    const float *DY = dy->data;
    float *DX = dx->data;
    const float scale = dropout_scale(p);
    for (size_t i = 0; i < tensor_numel(dy); i++)
        DX[i] = K[i] ? DY[i] * scale : 0.0f;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * pooling: window (i, j) covers rows i*s - pad .. i*s - pad + k - 1 (same for columns). Max
 * pooling treats padding as -inf (it never wins); average pooling divides by k*k whatever the
 * overlap (count_include_pad=True). */

static Status pool_check(const char *op, const PoolDesc *d, const Tensor *x, int *ho, int *wo) {
    if (!d)
        return status_fail(ST_ERR_ARG, "reference %s: PoolDesc is NULL", op);
    if (d->kind != POOL_MAX && d->kind != POOL_AVG)
        return status_fail(ST_ERR_ARG, "reference %s: unknown pool kind %d", op, (int)d->kind);
    if (d->k <= 0 || d->stride <= 0 || d->pad < 0 || 2 * d->pad > d->k)
        return status_fail(ST_ERR_ARG,
                           "reference %s: invalid pool (kernel %d, stride %d, pad %d); pad must be "
                           "at most half the kernel, as in PyTorch", op, d->k, d->stride, d->pad);
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    if (x->h + 2 * d->pad < d->k || x->w + 2 * d->pad < d->k)
        return status_fail(ST_ERR_ARG,
                           "reference %s: input %dx%d (pad %d) is smaller than the %dx%d window",
                           op, x->h, x->w, d->pad, d->k, d->k);
    *ho = conv_out_size(x->h, d->k, d->stride, d->pad);
    *wo = conv_out_size(x->w, d->k, d->stride, d->pad);
    return ST_OK;
}

/* The flat in-plane position (ih * W + iw) of the maximum of window (i, j) of one plane, with
 * PyTorch's tie and NaN rules: the first maximum in row-major order wins, a NaN always wins. */
static int window_argmax(const float *plane, int H, int W, const PoolDesc *d, int i, int j) {
    int best = -1;
    for (int p = 0; p < d->k; p++) {
        int ih = i * d->stride - d->pad + p;
        if (ih < 0 || ih >= H)
            continue;
        for (int q = 0; q < d->k; q++) {
            int iw = j * d->stride - d->pad + q;
            if (iw < 0 || iw >= W)
                continue;
            float v = plane[ih * W + iw];
            if (best < 0 || v > plane[best] || isnan(v))
                best = ih * W + iw;
        }
    }
    return best;
}

/* Sum of window (i, j) of one plane, padding counting as zeros. */
static double window_sum(const float *plane, int H, int W, const PoolDesc *d, int i, int j) {
    double acc = 0.0;
    for (int p = 0; p < d->k; p++) {
        int ih = i * d->stride - d->pad + p;
        if (ih < 0 || ih >= H)
            continue;
        for (int q = 0; q < d->k; q++) {
            int iw = j * d->stride - d->pad + q;
            if (iw >= 0 && iw < W)
                acc += plane[ih * W + iw];
        }
    }
    return acc;
}

/* idx, when given for max pooling, receives the argmax as PyTorch's return_indices does
 * (ih * W + iw within the plane) in I32, or as the offset p * k + q inside the window in U8.
 * Backward recomputes the argmax from x, so it never depends on idx. */
static Status ref_pool2d_forward(void *ctx, PoolDesc *d, const Tensor *x, Tensor *y,
                                 Tensor *idx) {
    (void)ctx;
    const char *op = "pool2d_forward";
    int ho, wo;
    TRY(pool_check(op, d, x, &ho, &wo));
    TRY(need(op, "y", y, DT_F32, x->n, x->c, ho, wo));
    int use_idx = d->kind == POOL_MAX && idx != NULL;
    if (use_idx) {
        if (idx->dtype != DT_I32 && idx->dtype != DT_U8)
            return status_fail(ST_ERR_ARG, "reference %s: idx must be i32 or u8, not %s", op,
                               dtype_name(idx->dtype));
        TRY(same_shape(op, "idx", idx, y, idx->dtype));
        if (idx->dtype == DT_U8 && d->k * d->k > 256)
            return status_fail(ST_ERR_ARG,
                               "reference %s: a %dx%d window does not fit a u8 idx; use i32", op,
                               d->k, d->k);
    }
    const int H = x->h, W = x->w;
    const size_t planes = (size_t)x->n * x->c;
    for (size_t pl = 0; pl < planes; pl++) {
        const float *X = (const float *)x->data + pl * H * W;
        float *Y = (float *)y->data + pl * ho * wo;
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                size_t o = (size_t)i * wo + j;
                if (d->kind == POOL_AVG) {
                    Y[o] = (float)(window_sum(X, H, W, d, i, j) / ((double)d->k * d->k));
                    continue;
                }
                int at = window_argmax(X, H, W, d, i, j);
                Y[o] = X[at];
                if (!use_idx)
                    continue;
                if (idx->dtype == DT_I32) {
                    ((int32_t *)idx->data)[pl * ho * wo + o] = at;
                } else {
                    int p = at / W - (i * d->stride - d->pad);
                    int q = at % W - (j * d->stride - d->pad);
                    ((uint8_t *)idx->data)[pl * ho * wo + o] = (uint8_t)(p * d->k + q);
                }
            }
    }
    return ST_OK;
}

static Status ref_pool2d_backward(void *ctx, PoolDesc *d, const Tensor *x, const Tensor *y,
                                  const Tensor *idx, const Tensor *dy, Tensor *dx) {
    (void)ctx;
    (void)idx;
    const char *op = "pool2d_backward";
    int ho, wo;
    TRY(pool_check(op, d, x, &ho, &wo));
    if (y)
        TRY(need(op, "y", y, DT_F32, x->n, x->c, ho, wo));
    TRY(need(op, "dy", dy, DT_F32, x->n, x->c, ho, wo));
    TRY(same_shape(op, "dx", dx, x, DT_F32));
    const int H = x->h, W = x->w;
    const size_t planes = (size_t)x->n * x->c;
    double *acc;
    TRY(scratch(op, tensor_numel(x), &acc));
    for (size_t pl = 0; pl < planes; pl++) {
        const float *X = (const float *)x->data + pl * H * W;
        const float *DY = (const float *)dy->data + pl * ho * wo;
        double *A = acc + pl * H * W;
        for (int i = 0; i < ho; i++)
            for (int j = 0; j < wo; j++) {
                double g = DY[i * wo + j];
                if (d->kind == POOL_MAX) {
                    A[window_argmax(X, H, W, d, i, j)] += g;
                    continue;
                }
                double share = g / ((double)d->k * d->k);
                for (int p = 0; p < d->k; p++) {
                    int ih = i * d->stride - d->pad + p;
                    if (ih < 0 || ih >= H)
                        continue;
                    for (int q = 0; q < d->k; q++) {
                        int iw = j * d->stride - d->pad + q;
                        if (iw >= 0 && iw < W)
                            A[ih * W + iw] += share;
                    }
                }
            }
    }
    float *DX = dx->data;
    for (size_t k = 0; k < tensor_numel(dx); k++)
        DX[k] = (float)acc[k];
    free(acc);
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * option-A shortcut: y[n, c + before, i, j] = x[n, c, i*s, j*s], zero elsewhere */

static Status pad_check(const char *op, int stride, const Tensor *x, const Tensor *y) {
    if (stride <= 0)
        return status_fail(ST_ERR_ARG, "reference %s: stride %d must be positive", op, stride);
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    TRY(need(op, "y", y, DT_F32, x->n, ANY, (x->h + stride - 1) / stride,
             (x->w + stride - 1) / stride));
    if (y->c < x->c)
        return status_fail(ST_ERR_ARG, "reference %s: output has %d channels, fewer than the "
                           "input's %d", op, y->c, x->c);
    return ST_OK;
}

static Status ref_pad_channels_forward(void *ctx, int stride, const Tensor *x, Tensor *y) {
    (void)ctx;
    TRY(pad_check("pad_channels_forward", stride, x, y));
    const int before = (y->c - x->c) / 2;
    const float *X = x->data;
    float *Y = y->data;
    for (int n = 0; n < y->n; n++)
        for (int c = 0; c < y->c; c++)
            for (int i = 0; i < y->h; i++)
                for (int j = 0; j < y->w; j++) {
                    int src = c - before;
                    size_t o = (((size_t)n * y->c + c) * y->h + i) * y->w + j;
                    Y[o] = (src >= 0 && src < x->c)
                               ? X[(((size_t)n * x->c + src) * x->h + i * stride) * x->w +
                                   j * stride]
                               : 0.0f;
                }
    return ST_OK;
}

static Status ref_pad_channels_backward(void *ctx, int stride, const Tensor *dy, Tensor *dx) {
    (void)ctx;
    TRY(pad_check("pad_channels_backward", stride, dx, dy));
    const int before = (dy->c - dx->c) / 2;
    const float *DY = dy->data;
    float *DX = dx->data;
    memset(DX, 0, tensor_bytes(dx));
    for (int n = 0; n < dx->n; n++)
        for (int c = 0; c < dx->c; c++)
            for (int i = 0; i < dy->h; i++)
                for (int j = 0; j < dy->w; j++)
                    DX[(((size_t)n * dx->c + c) * dx->h + i * stride) * dx->w + j * stride] =
                        DY[(((size_t)n * dy->c + c + before) * dy->h + i) * dy->w + j];
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * linear: y[n, m] = b[m] + sum_k x[n, k] * w[m, k] */

static Status ref_linear_forward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *b,
                                 Tensor *y) {
    (void)ctx;
    const char *op = "linear_forward";
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    const int N = x->n, K = x->c * x->h * x->w;
    TRY(need(op, "w", w, DT_F32, ANY, K, 1, 1));
    const int M = w->n;
    if (b)
        TRY(need(op, "b", b, DT_F32, 1, M, 1, 1));
    TRY(need(op, "y", y, DT_F32, N, M, 1, 1));
    const float *X = x->data, *W = w->data, *B = b ? b->data : NULL;
    float *Y = y->data;
    for (int n = 0; n < N; n++)
        for (int m = 0; m < M; m++) {
            double acc = B ? B[m] : 0.0;
            for (int k = 0; k < K; k++)
                acc += (double)X[(size_t)n * K + k] * W[(size_t)m * K + k];
            Y[(size_t)n * M + m] = (float)acc;
        }
    return ST_OK;
}

static Status ref_linear_backward(void *ctx, const Tensor *x, const Tensor *w, const Tensor *dy,
                                  Tensor *dx, Tensor *dw, Tensor *db) {
    (void)ctx;
    const char *op = "linear_backward";
    TRY(need(op, "x", x, DT_F32, ANY, ANY, ANY, ANY));
    const int N = x->n, K = x->c * x->h * x->w;
    TRY(need(op, "w", w, DT_F32, ANY, K, 1, 1));
    const int M = w->n;
    TRY(need(op, "dy", dy, DT_F32, N, M, 1, 1));
    if (dx)
        TRY(same_shape(op, "dx", dx, x, DT_F32));
    TRY(need(op, "dw", dw, DT_F32, M, K, 1, 1));
    if (db)
        TRY(need(op, "db", db, DT_F32, 1, M, 1, 1));
    const float *X = x->data, *W = w->data, *DY = dy->data;
    if (dx) {
        float *DX = dx->data;
        for (int n = 0; n < N; n++)
            for (int k = 0; k < K; k++) {
                double acc = 0.0;
                for (int m = 0; m < M; m++)
                    acc += (double)DY[(size_t)n * M + m] * W[(size_t)m * K + k];
                DX[(size_t)n * K + k] = (float)acc;
            }
    }
    float *DW = dw->data;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                acc += (double)DY[(size_t)n * M + m] * X[(size_t)n * K + k];
            DW[(size_t)m * K + k] = (float)acc;
        }
    if (db) {
        float *DB = db->data;
        for (int m = 0; m < M; m++) {
            double acc = 0.0;
            for (int n = 0; n < N; n++)
                acc += DY[(size_t)n * M + m];
            DB[m] = (float)acc;
        }
    }
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * softmax cross-entropy with label smoothing s over K classes:
 *   log p_k = z_k - logsumexp(z),  target t_k = (1 - s) [k == label] + s / K,
 *   loss = -sum_k t_k log p_k,  d(mean loss)/dz_k = (p_k - t_k) / N. */

static Status ref_softmax_xent(void *ctx, const Tensor *logits, const Tensor *labels,
                               float smoothing, Tensor *loss, Tensor *pred, Tensor *prob,
                               Tensor *dlogits) {
    (void)ctx;
    const char *op = "softmax_xent";
    TRY(need(op, "logits", logits, DT_F32, ANY, ANY, 1, 1));
    const int N = logits->n, K = logits->c;
    if (K < 1)
        return status_fail(ST_ERR_ARG, "reference %s: logits have no classes", op);
    if (!(smoothing >= 0.0f && smoothing <= 1.0f))
        return status_fail(ST_ERR_ARG, "reference %s: label smoothing %g is outside [0, 1]", op,
                           (double)smoothing);
    TRY(need(op, "labels", labels, DT_I32, N, 1, 1, 1));
    TRY(need(op, "loss", loss, DT_F32, N, 1, 1, 1));
    TRY(need(op, "pred", pred, DT_I32, N, 1, 1, 1));
    TRY(need(op, "prob", prob, DT_F32, N, 1, 1, 1));
    if (dlogits)
        TRY(need(op, "dlogits", dlogits, DT_F32, N, K, 1, 1));
    const float *Z = logits->data;
    const int32_t *L = labels->data;
    for (int n = 0; n < N; n++)
        if (L[n] < 0 || L[n] >= K)
            return status_fail(ST_ERR_ARG,
                               "reference %s: label %d of sample %d is outside [0, %d) (does the "
                               "dataset have more classes than the model?)", op, (int)L[n], n, K);
    float *LOSS = loss->data, *PROB = prob->data;
    int32_t *PRED = pred->data;
    const double s = smoothing;
    for (int n = 0; n < N; n++) {
        const float *z = Z + (size_t)n * K;
        int arg = 0;
        for (int k = 1; k < K; k++)
            if (z[k] > z[arg])
                arg = k;
        double mx = z[arg], sum = 0.0;
        for (int k = 0; k < K; k++)
            sum += exp((double)z[k] - mx);
        double lse = mx + log(sum);
        double sum_logp = 0.0;
        for (int k = 0; k < K; k++)
            sum_logp += (double)z[k] - lse;
        double nll = lse - (double)z[L[n]];
        LOSS[n] = (float)((1.0 - s) * nll - s / K * sum_logp);
        PRED[n] = arg;
        PROB[n] = (float)exp((double)z[arg] - lse);
        if (dlogits) {
            float *dz = (float *)dlogits->data + (size_t)n * K;
            for (int k = 0; k < K; k++) {
                double target = (1.0 - s) * (k == L[n]) + s / K;
                dz[k] = (float)((exp((double)z[k] - lse) - target) / N);
            }
        }
    }
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------
 * SGD, step for step what torch.optim.SGD does (in float, as it does) */

static Status ref_sgd_update(void *ctx, int count, Tensor *const *params, Tensor *const *grads,
                             Tensor *const *moms, const SgdParams *sp) {
    (void)ctx;
    const char *op = "sgd_update";
    if (count < 0 || !sp || (count > 0 && (!params || !grads)))
        return status_fail(ST_ERR_ARG, "reference %s: invalid arguments (count %d)", op, count);
    if (sp->momentum != 0.0f && count > 0 && !moms)
        return status_fail(ST_ERR_ARG, "reference %s: momentum %g needs momentum buffers", op,
                           (double)sp->momentum);
    if (sp->nesterov && (sp->momentum <= 0.0f || sp->dampening != 0.0f))
        return status_fail(ST_ERR_ARG,
                           "reference %s: nesterov needs momentum > 0 and zero dampening (got "
                           "momentum %g, dampening %g), as in torch.optim.SGD", op,
                           (double)sp->momentum, (double)sp->dampening);
    for (int t = 0; t < count; t++) {
        char what[32];
        snprintf(what, sizeof what, "params[%d]", t);
        TRY(need(op, what, params[t], DT_F32, ANY, ANY, ANY, ANY));
        snprintf(what, sizeof what, "grads[%d]", t);
        TRY(same_shape(op, what, grads[t], params[t], DT_F32));
        if (sp->momentum != 0.0f) {
            snprintf(what, sizeof what, "moms[%d]", t);
            TRY(same_shape(op, what, moms[t], params[t], DT_F32));
        }
    }
    const float unscale = ldexpf(1.0f, -sp->loss_scale_log2);
    for (int t = 0; t < count; t++) {
        float *P = params[t]->data;
        const float *G = grads[t]->data;
        float *BUF = sp->momentum != 0.0f ? moms[t]->data : NULL;
        for (size_t i = 0; i < tensor_numel(params[t]); i++) {
            float g = G[i];
            if (sp->loss_scale_log2 != 0)
                g = g * unscale;
            if (sp->weight_decay != 0.0f)
                g = g + sp->weight_decay * P[i];
            float d = g;
            if (BUF) {
                if (sp->first_step)
                    BUF[i] = g;
                else
                    BUF[i] = sp->momentum * BUF[i] + (1.0f - sp->dampening) * g;
                d = sp->nesterov ? g + sp->momentum * BUF[i] : BUF[i];
            }
            P[i] = P[i] - sp->lr * d;
        }
    }
    return ST_OK;
}

static Status ref_sum_squares(void *ctx, const Tensor *t, double *out, int *nonfinite) {
    (void)ctx;
    TRY(need("sum_squares", "t", t, DT_F32, ANY, ANY, ANY, ANY));
    if (!out || !nonfinite)
        return status_fail(ST_ERR_ARG, "reference sum_squares: output pointers are NULL");
    const float *X = t->data;
    double acc = 0.0;
    int bad = 0;
    for (size_t i = 0; i < tensor_numel(t); i++) {
        if (!isfinite(X[i]))
            bad = 1;
        acc += (double)X[i] * X[i];
    }
    *out = acc;
    *nonfinite = bad;
    return ST_OK;
}

static Status ref_scale(void *ctx, Tensor *t, float s) {
    (void)ctx;
    TRY(need("scale", "t", t, DT_F32, ANY, ANY, ANY, ANY));
    float *X = t->data;
    for (size_t i = 0; i < tensor_numel(t); i++)
        X[i] = X[i] * s;
    return ST_OK;
}

static Status ref_all_finite(void *ctx, int count, Tensor *const *ts, int *finite) {
    (void)ctx;
    if (count < 0 || !finite || (count > 0 && !ts))
        return status_fail(ST_ERR_ARG, "reference all_finite: invalid arguments (count %d)",
                           count);
    *finite = 1;
    for (int t = 0; t < count; t++) {
        char what[32];
        snprintf(what, sizeof what, "ts[%d]", t);
        TRY(need("all_finite", what, ts[t], DT_F32, ANY, ANY, ANY, ANY));
        const float *X = ts[t]->data;
        for (size_t i = 0; i < tensor_numel(ts[t]); i++)
            if (!isfinite(X[i]))
                *finite = 0;
    }
    return ST_OK;
}

static const char *ref_describe(void *ctx) {
    (void)ctx;
    return "reference (plain loops)";
}

/* Nothing to release: the reference backend keeps no state. */
static void ref_destroy(void *ctx) { (void)ctx; }

/* ---- augmentation ---- the dataset lives in this backend's (host) memory; each image is
 * exactly augment_apply(), the definition the CUDA kernel is tested against. This is what lets
 * the trainer's on-device augmentation path run, and be tested, without a GPU. */
static Status ref_augment(void *ctx, const Tensor *dataset, const int32_t *indices,
                          const AugmentRecord *recs, int n, const AugmentConfig *a,
                          const float mean[3], const float std[3], Tensor *out) {
    (void)ctx;
    if (!a || !mean || !std || n < 0 || (n > 0 && (!indices || !recs)))
        return status_fail(ST_ERR_ARG, "reference augment: invalid arguments (n %d)", n);
    TRY(need("augment", "dataset", dataset, DT_U8, ANY, 3, 32, 32));
    int side = augment_out_side(a);
    TRY(need("augment", "out", out, DT_F32, n, 3, side, side));
    const size_t plane = (size_t)3 * (size_t)side * (size_t)side;
    for (int i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= dataset->n)
            return status_fail(ST_ERR_ARG, "reference augment: image index %d (batch position "
                               "%d) is outside the dataset's %d images", (int)indices[i], i,
                               dataset->n);
        augment_apply(a, mean, std, &recs[i],
                      (const uint8_t *)dataset->data + (size_t)indices[i] * 3 * 32 * 32,
                      (float *)out->data + (size_t)i * plane);
    }
    return ST_OK;
}

static const BackendOps REFERENCE_OPS = {
    .name = "reference",
    .tensor_alloc = ref_tensor_alloc,
    .tensor_free = ref_tensor_free,
    .upload = ref_upload,
    .download = ref_download,
    .fill = ref_fill,
    .copy = ref_copy,
    .conv2d_forward = ref_conv2d_forward,
    .conv2d_backward_data = ref_conv2d_backward_data,
    .conv2d_backward_filter = ref_conv2d_backward_filter,
    .plan_free = NULL,   /* no plans: every call works from the shapes alone */
    .batchnorm_forward_train = ref_batchnorm_forward_train,
    .batchnorm_forward_infer = ref_batchnorm_forward_infer,
    .batchnorm_backward = ref_batchnorm_backward,
    .batchnorm_relu_forward_train = ref_batchnorm_relu_forward_train,
    .batchnorm_relu_forward_infer = ref_batchnorm_relu_forward_infer,
    .batchnorm_relu_backward = ref_batchnorm_relu_backward,
    .batchnorm_add_relu_forward_train = ref_batchnorm_add_relu_forward_train,
    .batchnorm_add_relu_forward_infer = ref_batchnorm_add_relu_forward_infer,
    .batchnorm_add_relu_backward = ref_batchnorm_add_relu_backward,
    .relu_forward = ref_relu_forward,
    .relu_backward = ref_relu_backward,
    .add = ref_add,
    .accumulate = ref_accumulate,
    .dropout_forward = ref_dropout_forward,
    .dropout_backward = ref_dropout_backward,
    .pool2d_forward = ref_pool2d_forward,
    .pool2d_backward = ref_pool2d_backward,
    .pad_channels_forward = ref_pad_channels_forward,
    .pad_channels_backward = ref_pad_channels_backward,
    .linear_forward = ref_linear_forward,
    .linear_backward = ref_linear_backward,
    .softmax_xent = ref_softmax_xent,
    .sgd_update = ref_sgd_update,
    .sum_squares = ref_sum_squares,
    .scale = ref_scale,
    .all_finite = ref_all_finite,
    .set_threads = NULL,   /* single-threaded by design */
    .describe = ref_describe,
    .destroy = ref_destroy,
    .augment = ref_augment,
};

Status backend_reference_create(Backend *out) {
    if (!out)
        return status_fail(ST_ERR_ARG, "backend_reference_create: out is NULL");
    out->ops = &REFERENCE_OPS;
    out->ctx = NULL;
    return ST_OK;
}
