/* test_batchnorm.c — batch normalization of a backend: train vs eval, running statistics
 * against PyTorch and against their definition, backward against finite differences, and a
 * constant channel (zero variance) that must not produce NaN.
 *
 * Usage: test_batchnorm [reference|cpu|cuda] (default: reference); "cuda" without a usable
 * device exits 77 (skipped). PyTorch numbers come from tests/fixtures/torch_fixtures.h. */
#include <string.h>

#include "backend.h"
#include "op_check.h"
#include "fixtures/torch_fixtures.h"

#define EPS 1e-5f

/* One BatchNorm2d layer's tensors on a backend. */
typedef struct Bn {
    Backend *b;
    int n, c, h, w;
    Tensor x, y, gamma, beta, rm, rv, sm, si, dy, dx, dg, db;
} Bn;

static void bn_init(Bn *l, Backend *b, int n, int c, int h, int w) {
    memset(l, 0, sizeof *l);
    l->b = b;
    l->n = n;
    l->c = c;
    l->h = h;
    l->w = w;
    l->x = t_new(b, n, c, h, w, DT_F32);
    l->y = t_new(b, n, c, h, w, DT_F32);
    l->dy = t_new(b, n, c, h, w, DT_F32);
    l->dx = t_new(b, n, c, h, w, DT_F32);
    Tensor *vec[] = {&l->gamma, &l->beta, &l->rm, &l->rv, &l->sm, &l->si, &l->dg, &l->db};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        *vec[i] = t_new(b, 1, c, 1, 1, DT_F32);
}

static void bn_free(Bn *l) {
    Tensor *all[] = {&l->x, &l->y, &l->dy, &l->dx, &l->gamma, &l->beta, &l->rm, &l->rv,
                     &l->sm, &l->si, &l->dg, &l->db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        t_free(l->b, all[i]);
}

static Status bn_train(Bn *l, float momentum) {
    return l->b->ops->batchnorm_forward_train(l->b->ctx, &l->x, &l->gamma, &l->beta, &l->rm,
                                              &l->rv, momentum, EPS, &l->y, &l->sm, &l->si);
}

static Status bn_eval(Bn *l) {
    return l->b->ops->batchnorm_forward_infer(l->b->ctx, &l->x, &l->gamma, &l->beta, &l->rm,
                                              &l->rv, EPS, &l->y);
}

static Status bn_backward(Bn *l) {
    return l->b->ops->batchnorm_backward(l->b->ctx, &l->x, &l->dy, &l->gamma, &l->sm, &l->si,
                                         &l->dx, &l->dg, &l->db);
}

/* Per-channel mean and biased / unbiased variance of host NCHW data, in double. */
static void channel_stats(const float *x, int n, int c, int hw, int ch, double *mean,
                          double *var_biased, double *var_unbiased) {
    double s = 0, sq = 0, m = (double)n * hw;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < hw; k++)
            s += x[((size_t)i * c + ch) * hw + k];
    *mean = s / m;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < hw; k++) {
            double d = x[((size_t)i * c + ch) * hw + k] - *mean;
            sq += d * d;
        }
    *var_biased = sq / m;
    *var_unbiased = sq / (m - 1);
}

/* ------------------------------------------------------------------------------------------ */

/* PyTorch BatchNorm2d: three train steps, then backward of the third, then eval. */
static void test_torch_fixture(Backend *b) {
    Bn l;
    bn_init(&l, b, 4, 3, 3, 3);
    float g[3], be[3], rm[3], rv[3], x[108], dy[108];
    fx_fill(g, 3, 20, 256, 1.0);
    fx_fill(be, 3, 21, 64, 0);
    fx_fill(rm, 3, 22, 64, 0);
    fx_fill(rv, 3, 23, 512, 0.75);
    CHECK_OK(b->ops->upload(b->ctx, &l.gamma, g));
    CHECK_OK(b->ops->upload(b->ctx, &l.beta, be));
    CHECK_OK(b->ops->upload(b->ctx, &l.rm, rm));
    CHECK_OK(b->ops->upload(b->ctx, &l.rv, rv));
    for (int s = 0; s < 3; s++) {
        fx_fill(x, 108, 10 + s, 32, 0);
        CHECK_OK(b->ops->upload(b->ctx, &l.x, x));
        CHECK_OK(bn_train(&l, 0.1f));
        char what[48];
        snprintf(what, sizeof what, "torch running_mean after step %d", s + 1);
        CHECK_TENSOR(what, b, &l.rm, TF_BN_RMEAN + 3 * s, 3, 1e-6, 1e-5);
        snprintf(what, sizeof what, "torch running_var after step %d", s + 1);
        CHECK_TENSOR(what, b, &l.rv, TF_BN_RVAR + 3 * s, 3, 1e-6, 1e-5);
    }
    CHECK_TENSOR("torch train output step 3", b, &l.y, TF_BN_Y3, 108, 1e-5, 1e-5);
    fx_fill(dy, 108, 30, 64, 0);
    CHECK_OK(b->ops->upload(b->ctx, &l.dy, dy));
    CHECK_OK(bn_backward(&l));
    CHECK_TENSOR("torch dx", b, &l.dx, TF_BN_DX, 108, 1e-5, 1e-4);
    CHECK_TENSOR("torch dgamma", b, &l.dg, TF_BN_DGAMMA, 3, 1e-5, 1e-5);
    CHECK_TENSOR("torch dbeta", b, &l.db, TF_BN_DBETA, 3, 1e-5, 1e-5);
    fx_fill(x, 108, 40, 32, 0);
    CHECK_OK(b->ops->upload(b->ctx, &l.x, x));
    CHECK_OK(bn_eval(&l));
    CHECK_TENSOR("torch eval output", b, &l.y, TF_BN_YEVAL, 108, 1e-5, 1e-5);
    /* eval leaves the running statistics alone */
    CHECK_TENSOR("running_mean after eval", b, &l.rm, TF_BN_RMEAN + 6, 3, 1e-6, 1e-5);
    CHECK_TENSOR("running_var after eval", b, &l.rv, TF_BN_RVAR + 6, 3, 1e-6, 1e-5);
    bn_free(&l);
}

/* Running statistics follow their definition for another momentum over five steps; train
 * mode normalizes with the batch, eval with the running statistics. */
static void test_train_vs_eval(Backend *b) {
    const int N = 5, C = 4, H = 3, W = 5, HW = H * W;
    const size_t n = (size_t)N * C * HW;
    const float momentum = 0.3f;
    Bn l;
    bn_init(&l, b, N, C, H, W);
    float g[4] = {1.5f, -0.5f, 1.0f, 2.0f}, be[4] = {0.25f, 0.0f, -1.0f, 3.0f};
    CHECK_OK(b->ops->upload(b->ctx, &l.gamma, g));
    CHECK_OK(b->ops->upload(b->ctx, &l.beta, be));
    CHECK_OK(b->ops->fill(b->ctx, &l.rm, 0.0f));
    CHECK_OK(b->ops->fill(b->ctx, &l.rv, 1.0f));
    double rm[4] = {0, 0, 0, 0}, rv[4] = {1, 1, 1, 1};
    float *x = host_alloc(n);
    for (int s = 0; s < 5; s++) {
        /* channel c has mean about c - 1 and spread about 1 + c / 2 */
        rand_fill(x, n, 200 + (uint64_t)s, -1, 1);
        for (int i = 0; i < N; i++)
            for (int c = 0; c < C; c++)
                for (int k = 0; k < HW; k++) {
                    float *v = &x[((size_t)i * C + c) * HW + k];
                    *v = (float)(c - 1) + (1.0f + 0.5f * (float)c) * *v;
                }
        CHECK_OK(b->ops->upload(b->ctx, &l.x, x));
        CHECK_OK(bn_train(&l, momentum));
        float *y = t_host(b, &l.y);
        for (int c = 0; c < C; c++) {
            double mean, vb, vu;
            channel_stats(x, N, C, HW, c, &mean, &vb, &vu);
            rm[c] = (1 - momentum) * rm[c] + momentum * mean;
            rv[c] = (1 - momentum) * rv[c] + momentum * vu;
            /* the train output of channel c has mean beta and biased variance
             * gamma^2 * var / (var + eps) */
            double ym, yvb, yvu;
            channel_stats(y, N, C, HW, c, &ym, &yvb, &yvu);
            CHECK_NEAR(ym, be[c], 1e-5, 0);
            CHECK_NEAR(yvb, (double)g[c] * g[c] * vb / (vb + EPS), 1e-5, 1e-5);
        }
        free(y);
    }
    float got_rm[4], got_rv[4], want_rm[4], want_rv[4];
    CHECK_OK(b->ops->download(b->ctx, &l.rm, got_rm));
    CHECK_OK(b->ops->download(b->ctx, &l.rv, got_rv));
    for (int c = 0; c < C; c++) {
        want_rm[c] = (float)rm[c];
        want_rv[c] = (float)rv[c];
    }
    CHECK_ARRAY("running_mean (momentum 0.3, 5 steps)", got_rm, want_rm, 4, 1e-6, 1e-5);
    CHECK_ARRAY("running_var unbiased (momentum 0.3, 5 steps)", got_rv, want_rv, 4, 1e-6, 1e-5);

    /* eval: (x - running_mean) / sqrt(running_var + eps) * gamma + beta */
    float *yt = t_host(b, &l.y);
    CHECK_OK(bn_eval(&l));
    float *ye = t_host(b, &l.y), *want = host_alloc(n);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < C; c++)
            for (int k = 0; k < HW; k++) {
                size_t at = ((size_t)i * C + c) * HW + k;
                want[at] = (float)((x[at] - rm[c]) / sqrt(rv[c] + EPS) * g[c] + be[c]);
            }
    CHECK_ARRAY("eval uses running statistics", ye, want, n, 1e-5, 1e-5);
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += fabsf(ye[i] - yt[i]) < 1e-3f;
    CHECK(same < n / 2);   /* batch and running statistics differ, so the outputs do */
    free(yt);
    free(ye);
    free(want);

    /* eval works on a single sample of 1x1 (no batch statistics needed) */
    Bn one;
    bn_init(&one, b, 1, C, 1, 1);
    const float x1[4] = {1, 2, 3, 4};
    CHECK_OK(b->ops->upload(b->ctx, &one.x, x1));
    CHECK_OK(b->ops->upload(b->ctx, &one.gamma, g));
    CHECK_OK(b->ops->upload(b->ctx, &one.beta, be));
    CHECK_OK(b->ops->upload(b->ctx, &one.rm, got_rm));
    CHECK_OK(b->ops->upload(b->ctx, &one.rv, got_rv));
    CHECK_OK(bn_eval(&one));
    float w1[4];
    for (int c = 0; c < C; c++)
        w1[c] = (float)((x1[c] - rm[c]) / sqrt(rv[c] + EPS) * g[c] + be[c]);
    CHECK_TENSOR("eval on one 1x1 sample", b, &one.y, w1, 4, 1e-5, 1e-5);
    bn_free(&one);
    free(x);
    bn_free(&l);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct BnGrad {
    Bn *l;
    float *hx, *hg, *hb, *r;
} BnGrad;

static double bn_objective(void *u) {
    BnGrad *k = u;
    Bn *l = k->l;
    Backend *b = l->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &l->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &l->gamma, k->hg), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &l->beta, k->hb), NAN);
    OC_FAIL_RETURN(bn_train(l, 0.1f), NAN);
    return t_dot(b, &l->y, k->r);
}

static void gradcheck_shape(Backend *b, int N, int C, int H, int W, uint64_t seed) {
    Bn l;
    bn_init(&l, b, N, C, H, W);
    BnGrad k = {.l = &l};
    size_t n = (size_t)N * C * H * W;
    k.hx = host_alloc(n);
    k.hg = host_alloc(C);
    k.hb = host_alloc(C);
    k.r = host_alloc(n);
    rand_fill(k.hx, n, seed, -2, 3);
    rand_fill(k.hg, C, seed + 1, -1.5f, 1.5f);
    rand_fill(k.hb, C, seed + 2, -1, 1);
    rand_fill(k.r, n, seed + 3, -1, 1);
    CHECK_OK(b->ops->fill(b->ctx, &l.rm, 0.0f));
    CHECK_OK(b->ops->fill(b->ctx, &l.rv, 1.0f));
    CHECK_OK(b->ops->upload(b->ctx, &l.dy, k.r));
    CHECK(!isnan(bn_objective(&k)));
    CHECK_OK(bn_backward(&l));
    float *gx = t_host(b, &l.dx), *gg = t_host(b, &l.dg), *gb = t_host(b, &l.db);
    char what[64];
    snprintf(what, sizeof what, "batchnorm (%d,%d,%d,%d) dx", N, C, H, W);
    GRADCHECK(what, bn_objective, &k, k.hx, gx, n, 150, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "batchnorm (%d,%d,%d,%d) dgamma", N, C, H, W);
    GRADCHECK(what, bn_objective, &k, k.hg, gg, C, 150, 1e-2f, 1e-3, 1e-2);
    snprintf(what, sizeof what, "batchnorm (%d,%d,%d,%d) dbeta", N, C, H, W);
    GRADCHECK(what, bn_objective, &k, k.hb, gb, C, 150, 1e-2f, 1e-3, 1e-2);
    /* the gradient of a normalized output sums to zero over each channel */
    for (int c = 0; c < C; c++) {
        double s = 0, mag = 0;
        for (int i = 0; i < N; i++)
            for (int q = 0; q < H * W; q++) {
                s += gx[((size_t)i * C + c) * H * W + q];
                mag += fabs(gx[((size_t)i * C + c) * H * W + q]);
            }
        CHECK_NEAR(s, 0.0, 1e-5 * (1 + mag), 0);
    }
    free(gx);
    free(gg);
    free(gb);
    free(k.hx);
    free(k.hg);
    free(k.hb);
    free(k.r);
    bn_free(&l);
}

/* ------------------------------------------------------------------------------------------ */

/* A channel whose values are all equal has variance 0: invstd is 1/sqrt(eps), the output is
 * beta, and nothing becomes NaN; a nearly constant channel far from 0 stays finite too. */
static void test_constant_channel(Backend *b) {
    const int N = 4, C = 3, H = 2, W = 3, HW = H * W;
    const size_t n = (size_t)N * C * HW;
    Bn l;
    bn_init(&l, b, N, C, H, W);
    float *x = host_alloc(n), *dy = host_alloc(n);
    rand_fill(x, n, 300, -1, 1);
    rand_fill(dy, n, 301, -1, 1);
    for (int i = 0; i < N; i++)
        for (int k = 0; k < HW; k++) {
            x[((size_t)i * C + 1) * HW + k] = 3.7f;                        /* constant */
            x[((size_t)i * C + 2) * HW + k] = 1000.0f + 1e-3f * (float)k;  /* nearly */
        }
    const float g[3] = {1.0f, 0.8f, 1.2f}, be[3] = {0.1f, -0.4f, 0.5f};
    CHECK_OK(b->ops->upload(b->ctx, &l.x, x));
    CHECK_OK(b->ops->upload(b->ctx, &l.gamma, g));
    CHECK_OK(b->ops->upload(b->ctx, &l.beta, be));
    CHECK_OK(b->ops->fill(b->ctx, &l.rm, 0.0f));
    CHECK_OK(b->ops->fill(b->ctx, &l.rv, 1.0f));
    CHECK_OK(bn_train(&l, 0.1f));
    CHECK_OK(b->ops->upload(b->ctx, &l.dy, dy));
    CHECK_OK(bn_backward(&l));
    double ss;
    int nonfinite;
    Tensor *outs[] = {&l.y, &l.rm, &l.rv, &l.sm, &l.si, &l.dx, &l.dg, &l.db};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) {
        CHECK_OK(b->ops->sum_squares(b->ctx, outs[i], &ss, &nonfinite));
        CHECK_INT(nonfinite, 0);
    }
    float *y = t_host(b, &l.y), *dx = t_host(b, &l.dx), rm[3], rv[3], dg[3], db[3];
    CHECK_OK(b->ops->download(b->ctx, &l.rm, rm));
    CHECK_OK(b->ops->download(b->ctx, &l.rv, rv));
    CHECK_OK(b->ops->download(b->ctx, &l.dg, dg));
    CHECK_OK(b->ops->download(b->ctx, &l.db, db));
    size_t y_bad = 0, dx_bad = 0;
    double sum_dy = 0;
    for (int i = 0; i < N; i++)
        for (int k = 0; k < HW; k++)
            sum_dy += dy[((size_t)i * C + 1) * HW + k];
    /* with xhat = 0, dx = gamma / sqrt(eps) * (dy - mean(dy)) */
    for (int i = 0; i < N; i++)
        for (int k = 0; k < HW; k++) {
            size_t at = ((size_t)i * C + 1) * HW + k;
            if (fabsf(y[at] - be[1]) > 1e-3f)   /* float sums may leave the mean an ulp off */
                y_bad++;
            double want = g[1] / sqrt((double)EPS) * (dy[at] - sum_dy / (N * HW));
            if (fabs(dx[at] - want) > 1e-3 * (1 + fabs(want)))
                dx_bad++;
        }
    CHECK_INT(y_bad, 0);
    CHECK_INT(dx_bad, 0);
    CHECK_NEAR(dg[1], 0.0, 5e-3, 0);
    CHECK_NEAR(db[1], sum_dy, 1e-5, 1e-5);
    CHECK_NEAR(rm[1], 0.1 * 3.7, 1e-6, 1e-6);
    CHECK_NEAR(rv[1], 0.9, 1e-6, 1e-6);   /* batch variance 0 enters with weight 0.1 */
    /* the nearly constant channel: mean 1000.0025, unbiased variance of 0,1e-3..5e-3 */
    double mean2, vb2, vu2;
    channel_stats(x, N, C, HW, 2, &mean2, &vb2, &vu2);
    CHECK_NEAR(rm[2], 0.1 * mean2, 1e-3, 1e-5);
    CHECK(rv[2] >= 0.9f && rv[2] < 0.9f + 1e-5f);
    free(y);
    free(dx);
    free(x);
    free(dy);
    bn_free(&l);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "reference";
    Backend b;
    Status st = backend_create(name, 0, &b, NULL);
    if (st == ST_ERR_DEVICE && strcmp(name, "cuda") == 0)
        CHECK_SKIP("no CUDA device");
    CHECK_OK(st);
    if (st != ST_OK)
        return check_report("test_batchnorm");
    printf("test_batchnorm: %s\n", b.ops->describe(b.ctx));
    test_torch_fixture(&b);
    test_train_vs_eval(&b);
    gradcheck_shape(&b, 3, 2, 3, 2, 400);
    gradcheck_shape(&b, 2, 3, 4, 3, 410);
    gradcheck_shape(&b, 8, 2, 1, 1, 420);   /* BN over the batch only (1x1 maps) */
    test_constant_channel(&b);
    backend_destroy(&b);
    return check_report("test_batchnorm");
}
