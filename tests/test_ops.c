/* test_ops.c — every op of a backend against finite differences, hand-computed values and
 * PyTorch fixtures; plus backend selection.
 *
 * Usage: test_ops [reference|cpu|cuda]   (default: reference). The checks in run_all() only use
 * the op table (upload/download, never Tensor.data), so the same file tests every backend;
 * "cuda" without a usable device exits 77 (skipped). Fixture inputs come from fx_fill() and the
 * expected outputs from tests/fixtures/torch_fixtures.h (regenerate with
 * tests/fixtures/gen_torch_fixtures.py). Gradient checks use central differences on the scalar
 * objective J = sum(y * r) with a fixed random r, so the analytic gradient is the op's backward
 * applied to dy = r. Ops that are linear in an argument are checked with a large step (exact up
 * to rounding); nonlinear ones with inputs kept away from their kinks. */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "op_check.h"
#include "fixtures/torch_fixtures.h"

/* fixture comparisons: float sums in a different order than PyTorch's */
#define FIX_ATOL 2e-4
#define FIX_RTOL 2e-4

static int is_reference(const Backend *b) { return strcmp(b->ops->name, "reference") == 0; }

/* ------------------------------------------------------------------------------------------ */

static void test_memory(Backend *b) {
    const float src[6] = {1.0f, -2.0f, 3.5f, 0.0f, 5.0f, -6.0f};
    Tensor t = t_from(b, 1, 2, 3, 1, src);
    CHECK_TENSOR("upload/download f32", b, &t, src, 6, 0, 0);

    const int32_t ints[4] = {0, -1, 7, 123456};
    int32_t ints_back[4] = {0};
    Tensor ti = t_new(b, 4, 1, 1, 1, DT_I32);
    CHECK_OK(b->ops->upload(b->ctx, &ti, ints));
    CHECK_OK(b->ops->download(b->ctx, &ti, ints_back));
    CHECK(memcmp(ints, ints_back, sizeof ints) == 0);

    const uint8_t bytes[5] = {0, 1, 255, 7, 128};
    uint8_t bytes_back[5] = {0};
    Tensor tu = t_new(b, 1, 5, 1, 1, DT_U8);
    CHECK_OK(b->ops->upload(b->ctx, &tu, bytes));
    CHECK_OK(b->ops->download(b->ctx, &tu, bytes_back));
    CHECK(memcmp(bytes, bytes_back, sizeof bytes) == 0);

    Tensor c = t_new(b, 1, 2, 3, 1, DT_F32);
    CHECK_OK(b->ops->copy(b->ctx, &c, &t));
    CHECK_TENSOR("copy", b, &c, src, 6, 0, 0);
    CHECK_OK(b->ops->fill(b->ctx, &c, 2.5f));
    const float twos[6] = {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f};
    CHECK_TENSOR("fill", b, &c, twos, 6, 0, 0);
    CHECK_TENSOR("copy source untouched by fill", b, &t, src, 6, 0, 0);

    /* growing reallocates; shrinking keeps the buffer */
    Tensor g = t_new(b, 1, 1, 8, 8, DT_F32);
    void *before = g.data;
    size_t cap = g.cap;
    CHECK(cap >= 64 * sizeof(float));
    tensor_shape(&g, 1, 1, 2, 2, DT_F32);
    CHECK_OK(b->ops->tensor_alloc(b->ctx, &g));
    CHECK(g.data == before);
    CHECK(g.cap == cap);
    tensor_shape(&g, 3, 4, 16, 16, DT_F32);
    CHECK_OK(b->ops->tensor_alloc(b->ctx, &g));
    CHECK(g.cap >= tensor_bytes(&g));
    float *big = host_alloc(tensor_numel(&g));
    rand_fill(big, tensor_numel(&g), 1, -1, 1);
    CHECK_OK(b->ops->upload(b->ctx, &g, big));
    CHECK_TENSOR("grown tensor round trip", b, &g, big, tensor_numel(&g), 0, 0);
    free(big);

    /* sum of squares and the non-finite flag */
    double ss = -1;
    int nonfinite = -1;
    CHECK_OK(b->ops->sum_squares(b->ctx, &t, &ss, &nonfinite));
    CHECK_NEAR(ss, 1 + 4 + 12.25 + 0 + 25 + 36, 1e-9, 0);
    CHECK_INT(nonfinite, 0);
    const float withnan[6] = {1.0f, NAN, 0.0f, 0.0f, 0.0f, 0.0f};
    CHECK_OK(b->ops->upload(b->ctx, &c, withnan));
    CHECK_OK(b->ops->sum_squares(b->ctx, &c, &ss, &nonfinite));
    CHECK_INT(nonfinite, 1);
    const float withinf[6] = {1.0f, 0.0f, 0.0f, -INFINITY, 0.0f, 0.0f};
    CHECK_OK(b->ops->upload(b->ctx, &c, withinf));
    CHECK_OK(b->ops->sum_squares(b->ctx, &c, &ss, &nonfinite));
    CHECK_INT(nonfinite, 1);

    t_free(b, &t);
    t_free(b, &ti);
    t_free(b, &tu);
    t_free(b, &c);
    t_free(b, &g);
    t_free(b, &g);   /* twice is fine: free zeroes data */
    CHECK(g.data == NULL && g.cap == 0);
}

/* ------------------------------------------------------------------------------------------
 * convolution */

typedef struct ConvCase {
    Backend *b;
    ConvDesc d;
    Tensor x, w, bias, y;
    float *hx, *hw, *hb, *r;
} ConvCase;

static double conv_objective(void *u) {
    ConvCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->w, k->hw), NAN);
    if (k->d.has_bias)
        OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->bias, k->hb), NAN);
    OC_FAIL_RETURN(b->ops->conv2d_forward(b->ctx, &k->d, &k->x, &k->w,
                                          k->d.has_bias ? &k->bias : NULL, &k->y), NAN);
    return t_dot(b, &k->y, k->r);
}

static void plan_release(Backend *b, void **plan) {
    if (b->ops->plan_free && *plan)
        b->ops->plan_free(b->ctx, *plan);
    *plan = NULL;
}

static void conv_gradcheck(Backend *b, int n, int cin, int h, int w, int cout, int kh, int kw,
                           int stride, int pad, int bias) {
    ConvCase k;
    memset(&k, 0, sizeof k);
    k.b = b;
    k.d = (ConvDesc){.c_in = cin, .c_out = cout, .kh = kh, .kw = kw, .stride = stride,
                     .pad = pad, .has_bias = bias};
    int ho = conv_out_size(h, kh, stride, pad), wo = conv_out_size(w, kw, stride, pad);
    size_t nx = (size_t)n * cin * h * w, nw = (size_t)cout * cin * kh * kw;
    size_t ny = (size_t)n * cout * ho * wo;
    k.hx = host_alloc(nx);
    k.hw = host_alloc(nw);
    k.hb = host_alloc((size_t)cout);
    k.r = host_alloc(ny);
    uint64_t seed = (uint64_t)(n * 1000 + cin * 100 + kh * 10 + stride + pad * 7 + bias * 3);
    rand_fill(k.hx, nx, seed, -1, 1);
    rand_fill(k.hw, nw, seed + 1, -1, 1);
    rand_fill(k.hb, (size_t)cout, seed + 2, -1, 1);
    rand_fill(k.r, ny, seed + 3, -1, 1);
    k.x = t_new(b, n, cin, h, w, DT_F32);
    k.w = t_new(b, cout, cin, kh, kw, DT_F32);
    k.bias = t_new(b, 1, cout, 1, 1, DT_F32);
    k.y = t_new(b, n, cout, ho, wo, DT_F32);
    Tensor dy = t_from(b, n, cout, ho, wo, k.r);
    Tensor dx = t_new(b, n, cin, h, w, DT_F32);
    Tensor dw = t_new(b, cout, cin, kh, kw, DT_F32);
    Tensor db = t_new(b, 1, cout, 1, 1, DT_F32);

    CHECK(!isnan(conv_objective(&k)));
    CHECK_OK(b->ops->conv2d_backward_data(b->ctx, &k.d, &dy, &k.w, &dx));
    CHECK_OK(b->ops->conv2d_backward_filter(b->ctx, &k.d, &k.x, &dy, &dw, bias ? &db : NULL));
    float *gx = t_host(b, &dx), *gw = t_host(b, &dw), *gb = t_host(b, &db);

    char what[96];
    snprintf(what, sizeof what, "conv %dx%d s%d p%d bias%d (%d,%d,%d,%d) dx", kh, kw, stride, pad,
             bias, n, cin, h, w);
    GRADCHECK(what, conv_objective, &k, k.hx, gx, nx, 60, 0.25f, 1e-3, 1e-3);
    what[strlen(what) - 1] = 'w';
    GRADCHECK(what, conv_objective, &k, k.hw, gw, nw, 60, 0.25f, 1e-3, 1e-3);
    if (bias) {
        what[strlen(what) - 1] = 'b';
        GRADCHECK(what, conv_objective, &k, k.hb, gb, (size_t)cout, 60, 0.25f, 1e-3, 1e-3);
    }

    free(gx);
    free(gw);
    free(gb);
    free(k.hx);
    free(k.hw);
    free(k.hb);
    free(k.r);
    Tensor *ts[] = {&k.x, &k.w, &k.bias, &k.y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);
    plan_release(b, &k.d.plan);
}

static void test_conv(Backend *b) {
    /* hand: a 3x3 box filter over ones with zero padding counts the in-bounds neighbours */
    {
        float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1}, half = 0.5f;
        ConvDesc d = {.c_in = 1, .c_out = 1, .kh = 3, .kw = 3, .stride = 1, .pad = 1,
                      .has_bias = 1};
        Tensor x = t_from(b, 1, 1, 3, 3, ones), w = t_from(b, 1, 1, 3, 3, ones);
        Tensor bias = t_from(b, 1, 1, 1, 1, &half), y = t_new(b, 1, 1, 3, 3, DT_F32);
        CHECK_OK(b->ops->conv2d_forward(b->ctx, &d, &x, &w, &bias, &y));
        const float want[9] = {4.5f, 6.5f, 4.5f, 6.5f, 9.5f, 6.5f, 4.5f, 6.5f, 4.5f};
        /* a few ulps of slack: cuDNN may time a transform (FFT, Winograd) algorithm fastest,
         * whose fp32 rounding differs from direct summation (seen: 4.49999809 for 4.5) */
        CHECK_TENSOR("conv 3x3 box on ones", b, &y, want, 9, 1e-6, 1e-6);
        plan_release(b, &d.plan);
        t_free(b, &x);
        t_free(b, &w);
        t_free(b, &bias);
        t_free(b, &y);
    }
    /* hand: a 1x1 stride-2 conv picks every other pixel and mixes channels: y = 2 x0 - x1 */
    {
        float hx[32], hw[2] = {2.0f, -1.0f}, want[4];
        for (int i = 0; i < 16; i++) {
            hx[i] = (float)i;
            hx[16 + i] = (float)(i * i) / 8.0f;
        }
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) {
                int at = (2 * i) * 4 + 2 * j;
                want[i * 2 + j] = 2.0f * hx[at] - hx[16 + at];
            }
        ConvDesc d = {.c_in = 2, .c_out = 1, .kh = 1, .kw = 1, .stride = 2, .pad = 0};
        Tensor x = t_from(b, 1, 2, 4, 4, hx), w = t_from(b, 1, 2, 1, 1, hw);
        Tensor y = t_new(b, 1, 1, 2, 2, DT_F32);
        CHECK_OK(b->ops->conv2d_forward(b->ctx, &d, &x, &w, NULL, &y));
        CHECK_TENSOR("conv 1x1 stride 2", b, &y, want, 4, 1e-6, 0);
        plan_release(b, &d.plan);
        t_free(b, &x);
        t_free(b, &w);
        t_free(b, &y);
    }
    /* PyTorch: F.conv2d on (2,3,5,5), 3x3 stride 2 pad 1 with bias, and its gradients */
    {
        float hx[150], hw[108], hb[4], hdy[72];
        fx_fill(hx, 150, 1, 64, 0);
        fx_fill(hw, 108, 2, 128, 0);
        fx_fill(hb, 4, 3, 64, 0);
        fx_fill(hdy, 72, 4, 64, 0);
        ConvDesc d = {.c_in = 3, .c_out = 4, .kh = 3, .kw = 3, .stride = 2, .pad = 1,
                      .has_bias = 1};
        Tensor x = t_from(b, 2, 3, 5, 5, hx), w = t_from(b, 4, 3, 3, 3, hw);
        Tensor bias = t_from(b, 1, 4, 1, 1, hb), y = t_new(b, 2, 4, 3, 3, DT_F32);
        Tensor dy = t_from(b, 2, 4, 3, 3, hdy), dx = t_new(b, 2, 3, 5, 5, DT_F32);
        Tensor dw = t_new(b, 4, 3, 3, 3, DT_F32), db = t_new(b, 1, 4, 1, 1, DT_F32);
        CHECK_OK(b->ops->conv2d_forward(b->ctx, &d, &x, &w, &bias, &y));
        CHECK_OK(b->ops->conv2d_backward_data(b->ctx, &d, &dy, &w, &dx));
        CHECK_OK(b->ops->conv2d_backward_filter(b->ctx, &d, &x, &dy, &dw, &db));
        CHECK_TENSOR("torch conv y", b, &y, TF_CONV_Y, 72, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch conv dx", b, &dx, TF_CONV_DX, 150, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch conv dw", b, &dw, TF_CONV_DW, 108, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch conv db", b, &db, TF_CONV_DB, 4, FIX_ATOL, FIX_RTOL);
        plan_release(b, &d.plan);
        Tensor *ts[] = {&x, &w, &bias, &y, &dy, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
    /*             n cin  h  w cout kh kw s  p bias */
    conv_gradcheck(b, 2, 3, 5, 5, 4, 1, 1, 2, 0, 0);   /* 1x1 stride 2 (projection shortcut) */
    conv_gradcheck(b, 2, 3, 5, 5, 4, 1, 1, 2, 0, 1);
    conv_gradcheck(b, 2, 3, 6, 5, 4, 3, 3, 1, 1, 1);   /* 3x3 stride 1, H != W */
    conv_gradcheck(b, 2, 3, 6, 5, 4, 3, 3, 1, 1, 0);
    conv_gradcheck(b, 2, 3, 7, 7, 4, 3, 3, 2, 1, 0);   /* 3x3 stride 2 */
    conv_gradcheck(b, 2, 3, 8, 8, 2, 3, 3, 2, 1, 1);
    conv_gradcheck(b, 1, 3, 9, 9, 2, 7, 7, 2, 3, 1);   /* 7x7 stride 2 pad 3 (ImageNet stem) */
    conv_gradcheck(b, 1, 3, 9, 9, 2, 7, 7, 2, 3, 0);
    conv_gradcheck(b, 2, 2, 5, 6, 3, 3, 2, 1, 1, 1);   /* non-square kernel */
    conv_gradcheck(b, 2, 4, 4, 4, 3, 3, 3, 2, 0, 0);   /* stride 2 without padding drops a row */
}

/* ------------------------------------------------------------------------------------------
 * linear */

typedef struct LinCase {
    Backend *b;
    int has_bias;
    Tensor x, w, bias, y;
    float *hx, *hw, *hb, *r;
} LinCase;

static double linear_objective(void *u) {
    LinCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->w, k->hw), NAN);
    if (k->has_bias)
        OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->bias, k->hb), NAN);
    OC_FAIL_RETURN(b->ops->linear_forward(b->ctx, &k->x, &k->w, k->has_bias ? &k->bias : NULL,
                                          &k->y), NAN);
    return t_dot(b, &k->y, k->r);
}

static void test_linear(Backend *b) {
    /* PyTorch: F.linear on (3, 8), read here from a (3, 2, 2, 2) tensor (x is flattened) */
    {
        float hx[24], hw[40], hb[5], hdy[15];
        fx_fill(hx, 24, 90, 64, 0);
        fx_fill(hw, 40, 91, 128, 0);
        fx_fill(hb, 5, 92, 64, 0);
        fx_fill(hdy, 15, 93, 64, 0);
        Tensor x = t_from(b, 3, 2, 2, 2, hx), w = t_from(b, 5, 8, 1, 1, hw);
        Tensor bias = t_from(b, 1, 5, 1, 1, hb), y = t_new(b, 3, 5, 1, 1, DT_F32);
        Tensor dy = t_from(b, 3, 5, 1, 1, hdy), dx = t_new(b, 3, 2, 2, 2, DT_F32);
        Tensor dw = t_new(b, 5, 8, 1, 1, DT_F32), db = t_new(b, 1, 5, 1, 1, DT_F32);
        CHECK_OK(b->ops->linear_forward(b->ctx, &x, &w, &bias, &y));
        CHECK_OK(b->ops->linear_backward(b->ctx, &x, &w, &dy, &dx, &dw, &db));
        CHECK_TENSOR("torch linear y", b, &y, TF_LIN_Y, 15, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch linear dx", b, &dx, TF_LIN_DX, 24, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch linear dw", b, &dw, TF_LIN_DW, 40, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR("torch linear db", b, &db, TF_LIN_DB, 5, FIX_ATOL, FIX_RTOL);
        /* without dx (the first layer's input needs no gradient) dw and db are the same */
        CHECK_OK(b->ops->fill(b->ctx, &dw, 0.0f));
        CHECK_OK(b->ops->linear_backward(b->ctx, &x, &w, &dy, NULL, &dw, &db));
        CHECK_TENSOR("torch linear dw (dx NULL)", b, &dw, TF_LIN_DW, 40, FIX_ATOL, FIX_RTOL);
        /* without bias: y - b */
        float want[15];
        for (int n = 0; n < 3; n++)
            for (int m = 0; m < 5; m++)
                want[n * 5 + m] = TF_LIN_Y[n * 5 + m] - hb[m];
        CHECK_OK(b->ops->linear_forward(b->ctx, &x, &w, NULL, &y));
        CHECK_TENSOR("linear without bias", b, &y, want, 15, FIX_ATOL, FIX_RTOL);
        Tensor *ts[] = {&x, &w, &bias, &y, &dy, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
    for (int has_bias = 0; has_bias <= 1; has_bias++) {
        LinCase k;
        memset(&k, 0, sizeof k);
        k.b = b;
        k.has_bias = has_bias;
        const int N = 4, C = 3, H = 2, W = 2, M = 6, K = C * H * W;
        k.hx = host_alloc((size_t)N * K);
        k.hw = host_alloc((size_t)M * K);
        k.hb = host_alloc(M);
        k.r = host_alloc((size_t)N * M);
        rand_fill(k.hx, (size_t)N * K, 11, -1, 1);
        rand_fill(k.hw, (size_t)M * K, 12, -1, 1);
        rand_fill(k.hb, M, 13, -1, 1);
        rand_fill(k.r, (size_t)N * M, 14, -1, 1);
        k.x = t_new(b, N, C, H, W, DT_F32);
        k.w = t_new(b, M, K, 1, 1, DT_F32);
        k.bias = t_new(b, 1, M, 1, 1, DT_F32);
        k.y = t_new(b, N, M, 1, 1, DT_F32);
        Tensor dy = t_from(b, N, M, 1, 1, k.r), dx = t_new(b, N, C, H, W, DT_F32);
        Tensor dw = t_new(b, M, K, 1, 1, DT_F32), db = t_new(b, 1, M, 1, 1, DT_F32);
        CHECK(!isnan(linear_objective(&k)));
        CHECK_OK(b->ops->linear_backward(b->ctx, &k.x, &k.w, &dy, &dx, &dw,
                                         has_bias ? &db : NULL));
        float *gx = t_host(b, &dx), *gw = t_host(b, &dw), *gb = t_host(b, &db);
        GRADCHECK(has_bias ? "linear dx (bias)" : "linear dx", linear_objective, &k, k.hx, gx,
                  (size_t)N * K, 100, 0.25f, 1e-3, 1e-3);
        GRADCHECK(has_bias ? "linear dw (bias)" : "linear dw", linear_objective, &k, k.hw, gw,
                  (size_t)M * K, 100, 0.25f, 1e-3, 1e-3);
        if (has_bias)
            GRADCHECK("linear db", linear_objective, &k, k.hb, gb, M, 100, 0.25f, 1e-3, 1e-3);
        free(gx);
        free(gw);
        free(gb);
        free(k.hx);
        free(k.hw);
        free(k.hb);
        free(k.r);
        Tensor *ts[] = {&k.x, &k.w, &k.bias, &k.y, &dy, &dx, &dw, &db};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * relu, add, accumulate */

typedef struct EwCase {
    Backend *b;
    Tensor x, x2, y;
    float *hx, *hx2, *r;
} EwCase;

static double relu_objective(void *u) {
    EwCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->relu_forward(b->ctx, &k->x, &k->y), NAN);
    return t_dot(b, &k->y, k->r);
}

static double add_objective(void *u) {
    EwCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x2, k->hx2), NAN);
    OC_FAIL_RETURN(b->ops->add(b->ctx, &k->x, &k->x2, &k->y), NAN);
    return t_dot(b, &k->y, k->r);
}

static void test_elementwise(Backend *b) {
    const float hx[8] = {-2.0f, -0.5f, 0.0f, 0.5f, 3.0f, -0.0f, 1e-30f, -1e-30f};
    const float want[8] = {0, 0, 0, 0.5f, 3.0f, 0, 1e-30f, 0};
    Tensor x = t_from(b, 1, 2, 2, 2, hx), y = t_new(b, 1, 2, 2, 2, DT_F32);
    CHECK_OK(b->ops->relu_forward(b->ctx, &x, &y));
    CHECK_TENSOR("relu", b, &y, want, 8, 0, 0);
    CHECK_OK(b->ops->relu_forward(b->ctx, &x, &x));   /* in place */
    CHECK_TENSOR("relu in place", b, &x, want, 8, 0, 0);
    const float hdy[8] = {1, 2, 3, 4, 5, 6, 7, 8}, wantdx[8] = {0, 0, 0, 4, 5, 0, 7, 0};
    Tensor dy = t_from(b, 1, 2, 2, 2, hdy), dx = t_new(b, 1, 2, 2, 2, DT_F32);
    CHECK_OK(b->ops->relu_backward(b->ctx, &y, &dy, &dx));
    CHECK_TENSOR("relu backward", b, &dx, wantdx, 8, 0, 0);
    CHECK_OK(b->ops->relu_backward(b->ctx, &y, &dy, &dy));   /* dx aliases dy */
    CHECK_TENSOR("relu backward in place", b, &dy, wantdx, 8, 0, 0);

    const float ha[8] = {1, 2, 3, 4, 5, 6, 7, 8}, hb[8] = {0.5f, -2, 0, 1, 1, 1, -7, 0.25f};
    const float sum[8] = {1.5f, 0, 3, 5, 6, 7, 0, 8.25f};
    Tensor a = t_from(b, 1, 2, 2, 2, ha), bb = t_from(b, 1, 2, 2, 2, hb);
    CHECK_OK(b->ops->add(b->ctx, &a, &bb, &y));
    CHECK_TENSOR("add", b, &y, sum, 8, 0, 0);
    CHECK_OK(b->ops->add(b->ctx, &a, &bb, &a));   /* y aliases a */
    CHECK_TENSOR("add in place", b, &a, sum, 8, 0, 0);
    const float twice_b_plus_sum[8] = {2.5f, -4, 3, 7, 8, 9, -14, 8.75f};
    CHECK_OK(b->ops->accumulate(b->ctx, &a, &bb));
    CHECK_OK(b->ops->accumulate(b->ctx, &a, &bb));
    CHECK_TENSOR("accumulate", b, &a, twice_b_plus_sum, 8, 0, 0);
    CHECK_TENSOR("accumulate leaves x", b, &bb, hb, 8, 0, 0);
    Tensor *ts[] = {&x, &y, &dy, &dx, &a, &bb};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);

    /* gradient checks: relu with inputs at least 0.1 from its kink, step 0.05 */
    EwCase k;
    memset(&k, 0, sizeof k);
    k.b = b;
    const size_t n = 2 * 3 * 4 * 5;
    k.hx = host_alloc(n);
    k.hx2 = host_alloc(n);
    k.r = host_alloc(n);
    rand_fill(k.hx, n, 21, -1, 1);
    for (size_t i = 0; i < n; i++)
        k.hx[i] += k.hx[i] < 0 ? -0.1f : 0.1f;
    rand_fill(k.hx2, n, 22, -1, 1);
    rand_fill(k.r, n, 23, -1, 1);
    k.x = t_new(b, 2, 3, 4, 5, DT_F32);
    k.x2 = t_new(b, 2, 3, 4, 5, DT_F32);
    k.y = t_new(b, 2, 3, 4, 5, DT_F32);
    Tensor r = t_from(b, 2, 3, 4, 5, k.r), g = t_new(b, 2, 3, 4, 5, DT_F32);
    CHECK(!isnan(relu_objective(&k)));
    CHECK_OK(b->ops->relu_backward(b->ctx, &k.y, &r, &g));
    float *gx = t_host(b, &g);
    GRADCHECK("relu dx", relu_objective, &k, k.hx, gx, n, 120, 0.05f, 1e-4, 1e-4);
    free(gx);
    /* add passes dy through to both inputs unchanged */
    CHECK(!isnan(add_objective(&k)));
    GRADCHECK("add da", add_objective, &k, k.hx, k.r, n, 120, 0.25f, 1e-4, 1e-4);
    GRADCHECK("add db", add_objective, &k, k.hx2, k.r, n, 120, 0.25f, 1e-4, 1e-4);
    free(k.hx);
    free(k.hx2);
    free(k.r);
    Tensor *ts2[] = {&k.x, &k.x2, &k.y, &r, &g};
    for (size_t i = 0; i < sizeof ts2 / sizeof ts2[0]; i++)
        t_free(b, ts2[i]);
}

/* ------------------------------------------------------------------------------------------
 * dropout */

typedef struct DropCase {
    Backend *b;
    float p;
    int per_channel;
    uint64_t seed;
    Tensor x, y, mask;
    float *hx, *r;
} DropCase;

static double dropout_objective(void *u) {
    DropCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->dropout_forward(b->ctx, k->p, k->per_channel, k->seed, &k->x, &k->y,
                                           &k->mask), NAN);
    return t_dot(b, &k->y, k->r);
}

/* Runs dropout on x (N, C, H, W) filled with 1 + i/n; checks the mask against the documented
 * rng formula, the outputs against the mask, and returns the kept fraction. */
static double dropout_run(Backend *b, int N, int C, int H, int W, float p, int per_channel,
                          uint64_t seed, uint8_t *mask_out) {
    size_t n = (size_t)N * C * H * W, plane = (size_t)H * W;
    float *hx = host_alloc(n);
    for (size_t i = 0; i < n; i++)
        hx[i] = 1.0f + (float)i / (float)n;
    Tensor x = t_from(b, N, C, H, W, hx), y = t_new(b, N, C, H, W, DT_F32);
    Tensor mask = t_new(b, N, C, H, W, DT_U8);
    CHECK_OK(b->ops->dropout_forward(b->ctx, p, per_channel, seed, &x, &y, &mask));
    float *hy = t_host(b, &y);
    uint8_t *hm = malloc(n);
    CHECK(hm != NULL);
    if (!hm)
        exit(1);
    CHECK_OK(b->ops->download(b->ctx, &mask, hm));
    size_t kept = 0, mask_bad = 0, value_bad = 0;
    const float scale = p < 1.0f ? 1.0f / (1.0f - p) : 0.0f;
    for (size_t i = 0; i < n; i++) {
        uint64_t counter = per_channel ? i / plane : i;
        int keep = rng_uniform(seed, RNG_STREAM_DROPOUT, counter) >= p;
        if ((hm[i] != 0) != keep)
            mask_bad++;
        kept += keep;
        float want = keep ? hx[i] * scale : 0.0f;
        if (fabsf(hy[i] - want) > 1e-6f * fabsf(want))
            value_bad++;
    }
    CHECK_INT(mask_bad, 0);
    CHECK_INT(value_bad, 0);
    if (mask_out)
        memcpy(mask_out, hm, n);
    free(hm);
    free(hy);
    free(hx);
    t_free(b, &x);
    t_free(b, &y);
    t_free(b, &mask);
    return (double)kept / (double)n;
}

static void test_dropout(Backend *b) {
    /* the mask follows rng_uniform(seed, DROPOUT, i) >= p, so it is the same on every backend;
     * the kept fraction is near 1 - p (n = 200k: 0.01 is ~10 standard deviations) */
    double kept = dropout_run(b, 4, 5, 100, 100, 0.3f, 0, 42, NULL);
    CHECK_NEAR(kept, 0.7, 0.01, 0);
    kept = dropout_run(b, 2, 3, 4, 4, 0.0f, 0, 42, NULL);
    CHECK_NEAR(kept, 1.0, 0, 0);
    kept = dropout_run(b, 2, 3, 4, 4, 1.0f, 0, 42, NULL);
    CHECK_NEAR(kept, 0.0, 0, 0);

    /* same seed, same mask; another seed, another mask */
    const size_t n = 2 * 3 * 8 * 8;
    uint8_t m1[2 * 3 * 8 * 8], m2[2 * 3 * 8 * 8], m3[2 * 3 * 8 * 8];
    dropout_run(b, 2, 3, 8, 8, 0.5f, 0, 7, m1);
    dropout_run(b, 2, 3, 8, 8, 0.5f, 0, 7, m2);
    dropout_run(b, 2, 3, 8, 8, 0.5f, 0, 8, m3);
    CHECK(memcmp(m1, m2, n) == 0);
    CHECK(memcmp(m1, m3, n) != 0);

    /* dropout2d zeroes whole (n, c) planes; 4096 planes: 0.03 is ~4 standard deviations */
    uint8_t *pm = malloc((size_t)64 * 64 * 3 * 3);
    CHECK(pm != NULL);
    if (!pm)
        exit(1);
    kept = dropout_run(b, 64, 64, 3, 3, 0.2f, 1, 99, pm);
    CHECK_NEAR(kept, 0.8, 0.03, 0);
    size_t mixed = 0, dropped = 0;
    for (size_t pl = 0; pl < (size_t)64 * 64; pl++) {
        int first = pm[pl * 9];
        dropped += !first;
        for (int k = 1; k < 9; k++)
            if (pm[pl * 9 + k] != first)
                mixed++;
    }
    CHECK_INT(mixed, 0);
    CHECK(dropped > 0);
    free(pm);

    /* gradients with a fixed mask (J is linear in x for a fixed seed) */
    for (int per_channel = 0; per_channel <= 1; per_channel++) {
        DropCase k;
        memset(&k, 0, sizeof k);
        k.b = b;
        k.p = 0.4f;
        k.per_channel = per_channel;
        k.seed = 1234;
        const size_t m = 3 * 4 * 3 * 3;
        k.hx = host_alloc(m);
        k.r = host_alloc(m);
        rand_fill(k.hx, m, 31, -1, 1);
        rand_fill(k.r, m, 32, -1, 1);
        k.x = t_new(b, 3, 4, 3, 3, DT_F32);
        k.y = t_new(b, 3, 4, 3, 3, DT_F32);
        k.mask = t_new(b, 3, 4, 3, 3, DT_U8);
        Tensor dy = t_from(b, 3, 4, 3, 3, k.r), dx = t_new(b, 3, 4, 3, 3, DT_F32);
        CHECK(!isnan(dropout_objective(&k)));
        CHECK_OK(b->ops->dropout_backward(b->ctx, k.p, &k.mask, &dy, &dx));
        float *gx = t_host(b, &dx);
        GRADCHECK(per_channel ? "dropout2d dx" : "dropout dx", dropout_objective, &k, k.hx, gx,
                  m, 200, 0.25f, 1e-4, 1e-4);
        free(gx);
        free(k.hx);
        free(k.r);
        Tensor *ts[] = {&k.x, &k.y, &k.mask, &dy, &dx};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * pooling */

typedef struct PoolCase {
    Backend *b;
    PoolDesc d;
    Tensor x, y, idx;
    float *hx, *r;
} PoolCase;

static double pool_objective(void *u) {
    PoolCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->pool2d_forward(b->ctx, &k->d, &k->x, &k->y,
                                          k->d.kind == POOL_MAX ? &k->idx : NULL), NAN);
    return t_dot(b, &k->y, k->r);
}

static void pool_gradcheck(Backend *b, PoolKind kind, int n, int c, int h, int w, int kk,
                           int stride, int pad) {
    PoolCase k;
    memset(&k, 0, sizeof k);
    k.b = b;
    k.d = (PoolDesc){.kind = kind, .k = kk, .stride = stride, .pad = pad};
    int ho = conv_out_size(h, kk, stride, pad), wo = conv_out_size(w, kk, stride, pad);
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * ho * wo;
    k.hx = host_alloc(nx);
    k.r = host_alloc(ny);
    /* distinct values 1/64 apart within every 257 consecutive elements, so a step of 1e-3
     * never changes which element is a window's maximum */
    fx_fill(k.hx, nx, 5 + kk, 64, 0);
    rand_fill(k.r, ny, (uint64_t)(41 + kk + h), -1, 1);
    k.x = t_new(b, n, c, h, w, DT_F32);
    k.y = t_new(b, n, c, ho, wo, DT_F32);
    k.idx = t_new(b, n, c, ho, wo, DT_I32);
    Tensor dy = t_from(b, n, c, ho, wo, k.r), dx = t_new(b, n, c, h, w, DT_F32);
    CHECK(!isnan(pool_objective(&k)));
    CHECK_OK(b->ops->pool2d_backward(b->ctx, &k.d, &k.x, &k.y,
                                     kind == POOL_MAX ? &k.idx : NULL, &dy, &dx));
    float *gx = t_host(b, &dx);
    char what[80];
    snprintf(what, sizeof what, "%s pool %d/%d pad %d on (%d,%d,%d,%d) dx",
             kind == POOL_MAX ? "max" : "avg", kk, stride, pad, n, c, h, w);
    GRADCHECK(what, pool_objective, &k, k.hx, gx, nx, 300, kind == POOL_MAX ? 1e-3f : 0.25f,
              1e-3, 1e-3);
    free(gx);
    free(k.hx);
    free(k.r);
    plan_release(b, &k.d.plan);
    Tensor *ts[] = {&k.x, &k.y, &k.idx, &dy, &dx};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);
}

static void test_pool(Backend *b) {
    /* PyTorch: 3x3 stride 2 pad 1 max and average pooling of (2,3,7,7) and their gradients */
    for (int kind = 0; kind < 2; kind++) {
        float hx[294], hdy[96];
        fx_fill(hx, 294, 80, 128, 0);
        fx_fill(hdy, 96, 81, 64, 0);
        PoolDesc d = {.kind = kind == 0 ? POOL_MAX : POOL_AVG, .k = 3, .stride = 2, .pad = 1};
        Tensor x = t_from(b, 2, 3, 7, 7, hx), y = t_new(b, 2, 3, 4, 4, DT_F32);
        Tensor idx = t_new(b, 2, 3, 4, 4, DT_I32), dy = t_from(b, 2, 3, 4, 4, hdy);
        Tensor dx = t_new(b, 2, 3, 7, 7, DT_F32);
        Tensor *pidx = kind == 0 ? &idx : NULL;
        CHECK_OK(b->ops->pool2d_forward(b->ctx, &d, &x, &y, pidx));
        CHECK_OK(b->ops->pool2d_backward(b->ctx, &d, &x, &y, pidx, &dy, &dx));
        CHECK_TENSOR(kind == 0 ? "torch maxpool y" : "torch avgpool y", b, &y,
                     kind == 0 ? TF_MAXPOOL_Y : TF_AVGPOOL_Y, 96, FIX_ATOL, FIX_RTOL);
        CHECK_TENSOR(kind == 0 ? "torch maxpool dx" : "torch avgpool dx", b, &dx,
                     kind == 0 ? TF_MAXPOOL_DX : TF_AVGPOOL_DX, 294, FIX_ATOL, FIX_RTOL);
        plan_release(b, &d.plan);
        Tensor *ts[] = {&x, &y, &idx, &dy, &dx};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
    /* hand: max pooling pads with -inf, so an all-negative border stays negative */
    {
        const float hx[9] = {-9, -8, -7, -6, -5, -4, -3, -2, -1};
        const float want[9] = {-5, -4, -4, -2, -1, -1, -2, -1, -1};
        PoolDesc d = {.kind = POOL_MAX, .k = 3, .stride = 1, .pad = 1};
        Tensor x = t_from(b, 1, 1, 3, 3, hx), y = t_new(b, 1, 1, 3, 3, DT_F32);
        Tensor idx = t_new(b, 1, 1, 3, 3, DT_I32);
        CHECK_OK(b->ops->pool2d_forward(b->ctx, &d, &x, &y, &idx));
        CHECK_TENSOR("max pool -inf padding", b, &y, want, 9, 0, 0);
        plan_release(b, &d.plan);
        t_free(b, &x);
        t_free(b, &y);
        t_free(b, &idx);
    }
    /* hand: average pooling counts padding in the divisor (count_include_pad=True) */
    {
        const float ones[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
        const float want[4] = {4.0f / 9, 6.0f / 9, 6.0f / 9, 1.0f};
        PoolDesc d = {.kind = POOL_AVG, .k = 3, .stride = 2, .pad = 1};
        Tensor x = t_from(b, 1, 1, 4, 4, ones), y = t_new(b, 1, 1, 2, 2, DT_F32);
        CHECK_OK(b->ops->pool2d_forward(b->ctx, &d, &x, &y, NULL));
        CHECK_TENSOR("avg pool count_include_pad", b, &y, want, 4, 1e-7, 1e-6);
        plan_release(b, &d.plan);
        t_free(b, &x);
        t_free(b, &y);
    }
    /* hand: global average pooling is the plane mean */
    {
        float hx[2 * 3 * 5 * 5], want[6];
        rand_fill(hx, 150, 51, -2, 2);
        for (int p = 0; p < 6; p++) {
            double s = 0;
            for (int i = 0; i < 25; i++)
                s += hx[p * 25 + i];
            want[p] = (float)(s / 25);
        }
        PoolDesc d = {.kind = POOL_AVG, .k = 5, .stride = 1, .pad = 0};
        Tensor x = t_from(b, 2, 3, 5, 5, hx), y = t_new(b, 2, 3, 1, 1, DT_F32);
        CHECK_OK(b->ops->pool2d_forward(b->ctx, &d, &x, &y, NULL));
        CHECK_TENSOR("global avg pool", b, &y, want, 6, 1e-6, 1e-5);
        plan_release(b, &d.plan);
        t_free(b, &x);
        t_free(b, &y);
    }
    pool_gradcheck(b, POOL_MAX, 2, 2, 8, 8, 3, 2, 1);   /* ResNet-34 stem pool */
    pool_gradcheck(b, POOL_MAX, 1, 2, 5, 7, 3, 2, 1);   /* H != W */
    pool_gradcheck(b, POOL_MAX, 2, 3, 4, 4, 4, 1, 0);   /* CIFAR-100 head: MaxPool(4, 1) on 4x4 */
    pool_gradcheck(b, POOL_MAX, 1, 2, 6, 6, 4, 1, 0);   /* overlapping windows */
    pool_gradcheck(b, POOL_AVG, 2, 2, 7, 7, 3, 2, 1);
    pool_gradcheck(b, POOL_AVG, 1, 2, 6, 6, 2, 2, 0);
    pool_gradcheck(b, POOL_AVG, 2, 3, 5, 5, 5, 1, 0);   /* global */
    pool_gradcheck(b, POOL_AVG, 2, 2, 8, 8, 8, 1, 0);   /* global, the WRN/ResNet head */
}

/* ------------------------------------------------------------------------------------------
 * option-A shortcut */

typedef struct PadCase {
    Backend *b;
    int stride;
    Tensor x, y;
    float *hx, *r;
} PadCase;

static double pad_objective(void *u) {
    PadCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->pad_channels_forward(b->ctx, k->stride, &k->x, &k->y), NAN);
    return t_dot(b, &k->y, k->r);
}

static void test_pad_channels(Backend *b) {
    struct { int n, cin, h, w, cout, stride; } cases[] = {
        {2, 3, 5, 5, 7, 2},   /* odd side: 5 -> 3, like x[:, :, ::2, ::2] */
        {2, 4, 8, 6, 8, 2},
        {1, 2, 4, 4, 6, 1},
        {2, 3, 3, 3, 3, 1},   /* nothing to pad: identity */
    };
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        int N = cases[ci].n, Ci = cases[ci].cin, H = cases[ci].h, W = cases[ci].w;
        int Co = cases[ci].cout, s = cases[ci].stride;
        int Ho = (H + s - 1) / s, Wo = (W + s - 1) / s, before = (Co - Ci) / 2;
        PadCase k;
        memset(&k, 0, sizeof k);
        k.b = b;
        k.stride = s;
        size_t nx = (size_t)N * Ci * H * W, ny = (size_t)N * Co * Ho * Wo;
        k.hx = host_alloc(nx);
        k.r = host_alloc(ny);
        rand_fill(k.hx, nx, 61 + ci, -1, 1);
        rand_fill(k.r, ny, 71 + ci, -1, 1);
        float *want = host_alloc(ny);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < Co; c++)
                for (int i = 0; i < Ho; i++)
                    for (int j = 0; j < Wo; j++) {
                        int src = c - before;
                        want[(((size_t)n * Co + c) * Ho + i) * Wo + j] =
                            src >= 0 && src < Ci
                                ? k.hx[(((size_t)n * Ci + src) * H + i * s) * W + j * s]
                                : 0.0f;
                    }
        k.x = t_new(b, N, Ci, H, W, DT_F32);
        k.y = t_new(b, N, Co, Ho, Wo, DT_F32);
        Tensor dy = t_from(b, N, Co, Ho, Wo, k.r), dx = t_new(b, N, Ci, H, W, DT_F32);
        CHECK(!isnan(pad_objective(&k)));
        CHECK_TENSOR("pad_channels forward", b, &k.y, want, ny, 0, 0);
        CHECK_OK(b->ops->pad_channels_backward(b->ctx, s, &dy, &dx));
        float *gx = t_host(b, &dx);
        GRADCHECK("pad_channels dx", pad_objective, &k, k.hx, gx, nx, 200, 0.25f, 1e-4, 1e-4);
        free(gx);
        free(want);
        free(k.hx);
        free(k.r);
        Tensor *ts[] = {&k.x, &k.y, &dy, &dx};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * softmax cross-entropy */

typedef struct XentCase {
    Backend *b;
    float smoothing;
    Tensor z, labels, loss, pred, prob;
    float *hz;
} XentCase;

/* J = mean loss, which is what dlogits differentiates */
static double xent_objective(void *u) {
    XentCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->z, k->hz), NAN);
    OC_FAIL_RETURN(b->ops->softmax_xent(b->ctx, &k->z, &k->labels, k->smoothing, &k->loss,
                                        &k->pred, &k->prob, NULL), NAN);
    size_t n = (size_t)k->z.n;
    float *ones = host_alloc(n);
    for (size_t i = 0; i < n; i++)
        ones[i] = 1.0f / (float)n;
    double j = t_dot(b, &k->loss, ones);
    free(ones);
    return j;
}

/* Closed form of one row: loss = logsumexp(z) - (1 - s) z_y - (s / K) sum_k z_k. */
static double xent_closed(const float *z, int K, int y, double s) {
    double mx = z[0], sum = 0, zsum = 0;
    for (int k = 1; k < K; k++)
        mx = fmax(mx, z[k]);
    for (int k = 0; k < K; k++) {
        sum += exp(z[k] - mx);
        zsum += z[k];
    }
    return mx + log(sum) - (1 - s) * z[y] - s / K * zsum;
}

static void xent_run(Backend *b, int N, int K, const float *hz, const int32_t *hl, float s,
                     float *loss, int32_t *pred, float *prob, float *dz) {
    Tensor z = t_from(b, N, K, 1, 1, hz), labels = t_new(b, N, 1, 1, 1, DT_I32);
    Tensor tl = t_new(b, N, 1, 1, 1, DT_F32), tp = t_new(b, N, 1, 1, 1, DT_I32);
    Tensor tq = t_new(b, N, 1, 1, 1, DT_F32), tdz = t_new(b, N, K, 1, 1, DT_F32);
    CHECK_OK(b->ops->upload(b->ctx, &labels, hl));
    CHECK_OK(b->ops->softmax_xent(b->ctx, &z, &labels, s, &tl, &tp, &tq, &tdz));
    CHECK_OK(b->ops->download(b->ctx, &tl, loss));
    CHECK_OK(b->ops->download(b->ctx, &tp, pred));
    CHECK_OK(b->ops->download(b->ctx, &tq, prob));
    CHECK_OK(b->ops->download(b->ctx, &tdz, dz));
    Tensor *ts[] = {&z, &labels, &tl, &tp, &tq, &tdz};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);
}

static void test_xent(Backend *b) {
    /* hand: all-zero logits give log K whatever the smoothing, a uniform softmax, pred 0 */
    {
        float z[2 * 10] = {0}, loss[2], prob[2], dz[20];
        int32_t labels[2] = {3, 9}, pred[2];
        for (int si = 0; si < 2; si++) {
            float s = si ? 0.2f : 0.0f;
            xent_run(b, 2, 10, z, labels, s, loss, pred, prob, dz);
            CHECK_NEAR(loss[0], log(10.0), 1e-6, 0);
            CHECK_NEAR(loss[1], log(10.0), 1e-6, 0);
            CHECK_INT(pred[0], 0);
            CHECK_NEAR(prob[1], 0.1, 1e-7, 0);
            /* d(mean)/dz = (0.1 - target) / N; target = (1-s)[k==y] + s/10 */
            CHECK_NEAR(dz[3], (0.1 - (1 - s) - s / 10) / 2, 1e-7, 0);
            CHECK_NEAR(dz[4], (0.1 - s / 10) / 2, 1e-7, 0);
            CHECK_NEAR(dz[19], (0.1 - (1 - s) - s / 10) / 2, 1e-7, 0);
        }
    }
    /* closed form on random logits, including large ones (logsumexp must not overflow) */
    {
        enum { N = 6, K = 7 };
        float z[N * K], loss[N], prob[N], dz[N * K];
        int32_t labels[N] = {0, 6, 3, 3, 1, 5}, pred[N];
        rand_fill(z, N * K, 81, -4, 4);
        z[2 * K + 4] = 95.0f;   /* exp(95) overflows float */
        z[5 * K + 0] = -80.0f;
        for (int si = 0; si < 3; si++) {
            double s = si == 0 ? 0.0 : si == 1 ? 0.1 : 1.0;
            xent_run(b, N, K, z, labels, (float)s, loss, pred, prob, dz);
            for (int n = 0; n < N; n++) {
                CHECK_NEAR(loss[n], xent_closed(z + n * K, K, labels[n], s), 1e-5, 1e-5);
                int arg = 0;
                double denom = 0;
                for (int k = 1; k < K; k++)
                    if (z[n * K + k] > z[n * K + arg])
                        arg = k;
                for (int k = 0; k < K; k++)
                    denom += exp((double)z[n * K + k] - z[n * K + arg]);
                CHECK_INT(pred[n], arg);
                CHECK_NEAR(prob[n], 1.0 / denom, 1e-6, 1e-5);
                double rowsum = 0;
                for (int k = 0; k < K; k++)
                    rowsum += dz[n * K + k];
                CHECK_NEAR(rowsum, 0.0, 1e-6, 0);   /* softmax and target both sum to 1 */
            }
        }
    }
    /* PyTorch: F.cross_entropy(label_smoothing = 0 and 0.1) on (4, 5) */
    for (int si = 0; si < 2; si++) {
        float z[20], loss[4], prob[4], dz[20];
        int32_t labels[4] = {3, 0, 4, 1}, pred[4];
        fx_fill(z, 20, 70, 32, 0);
        xent_run(b, 4, 5, z, labels, si ? 0.1f : 0.0f, loss, pred, prob, dz);
        CHECK_ARRAY(si ? "torch xent loss s=0.1" : "torch xent loss", loss,
                    si ? TF_XENT1_LOSS : TF_XENT0_LOSS, 4, 1e-6, 1e-5);
        CHECK_ARRAY(si ? "torch xent dz s=0.1" : "torch xent dz", dz,
                    si ? TF_XENT1_DZ : TF_XENT0_DZ, 20, 1e-7, 1e-5);
        double mean = (loss[0] + loss[1] + loss[2] + loss[3]) / 4.0;
        CHECK_NEAR(mean, si ? TF_XENT1_MEAN[0] : TF_XENT0_MEAN[0], 1e-6, 1e-5);
    }
    /* gradient check of the mean loss */
    for (int si = 0; si < 2; si++) {
        XentCase k;
        memset(&k, 0, sizeof k);
        k.b = b;
        k.smoothing = si ? 0.1f : 0.0f;
        enum { N = 5, K = 6 };
        int32_t labels[N] = {1, 5, 0, 2, 2};
        k.hz = host_alloc(N * K);
        rand_fill(k.hz, N * K, 91, -2, 2);
        k.z = t_new(b, N, K, 1, 1, DT_F32);
        k.labels = t_new(b, N, 1, 1, 1, DT_I32);
        CHECK_OK(b->ops->upload(b->ctx, &k.labels, labels));
        k.loss = t_new(b, N, 1, 1, 1, DT_F32);
        k.pred = t_new(b, N, 1, 1, 1, DT_I32);
        k.prob = t_new(b, N, 1, 1, 1, DT_F32);
        Tensor dz = t_new(b, N, K, 1, 1, DT_F32);
        CHECK_OK(b->ops->upload(b->ctx, &k.z, k.hz));
        CHECK_OK(b->ops->softmax_xent(b->ctx, &k.z, &k.labels, k.smoothing, &k.loss, &k.pred,
                                      &k.prob, &dz));
        float *g = t_host(b, &dz);
        GRADCHECK(si ? "xent dz s=0.1" : "xent dz", xent_objective, &k, k.hz, g, N * K, 100,
                  1e-2f, 2e-4, 1e-2);
        free(g);
        free(k.hz);
        Tensor *ts[] = {&k.z, &k.labels, &k.loss, &k.pred, &k.prob, &dz};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * batchnorm backward (more in test_batchnorm.c) */

typedef struct BnCase {
    Backend *b;
    Tensor x, gamma, beta, rm, rv, y, sm, si;
    float *hx, *hg, *hb, *r;
} BnCase;

static double bn_objective(void *u) {
    BnCase *k = u;
    Backend *b = k->b;
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->x, k->hx), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->gamma, k->hg), NAN);
    OC_FAIL_RETURN(b->ops->upload(b->ctx, &k->beta, k->hb), NAN);
    OC_FAIL_RETURN(b->ops->batchnorm_forward_train(b->ctx, &k->x, &k->gamma, &k->beta, &k->rm,
                                                   &k->rv, 0.1f, 1e-5f, &k->y, &k->sm, &k->si),
                   NAN);
    return t_dot(b, &k->y, k->r);
}

static void test_batchnorm_grad(Backend *b) {
    const int N = 3, C = 2, H = 3, W = 2;
    const size_t n = (size_t)N * C * H * W;
    BnCase k;
    memset(&k, 0, sizeof k);
    k.b = b;
    k.hx = host_alloc(n);
    k.hg = host_alloc(C);
    k.hb = host_alloc(C);
    k.r = host_alloc(n);
    rand_fill(k.hx, n, 101, -2, 2);
    rand_fill(k.hg, C, 102, 0.5f, 1.5f);
    rand_fill(k.hb, C, 103, -1, 1);
    rand_fill(k.r, n, 104, -1, 1);
    k.x = t_new(b, N, C, H, W, DT_F32);
    k.y = t_new(b, N, C, H, W, DT_F32);
    k.gamma = t_new(b, 1, C, 1, 1, DT_F32);
    k.beta = t_new(b, 1, C, 1, 1, DT_F32);
    k.rm = t_new(b, 1, C, 1, 1, DT_F32);
    k.rv = t_new(b, 1, C, 1, 1, DT_F32);
    k.sm = t_new(b, 1, C, 1, 1, DT_F32);
    k.si = t_new(b, 1, C, 1, 1, DT_F32);
    CHECK_OK(b->ops->fill(b->ctx, &k.rm, 0.0f));
    CHECK_OK(b->ops->fill(b->ctx, &k.rv, 1.0f));
    Tensor dy = t_from(b, N, C, H, W, k.r), dx = t_new(b, N, C, H, W, DT_F32);
    Tensor dg = t_new(b, 1, C, 1, 1, DT_F32), db = t_new(b, 1, C, 1, 1, DT_F32);
    CHECK(!isnan(bn_objective(&k)));
    CHECK_OK(b->ops->batchnorm_backward(b->ctx, &k.x, &dy, &k.gamma, &k.sm, &k.si, &dx, &dg,
                                        &db));
    float *gx = t_host(b, &dx), *gg = t_host(b, &dg), *gb = t_host(b, &db);
    GRADCHECK("batchnorm dx", bn_objective, &k, k.hx, gx, n, 100, 1e-2f, 1e-3, 1e-2);
    GRADCHECK("batchnorm dgamma", bn_objective, &k, k.hg, gg, C, 100, 1e-2f, 1e-3, 1e-2);
    GRADCHECK("batchnorm dbeta", bn_objective, &k, k.hb, gb, C, 100, 1e-2f, 1e-3, 1e-2);
    free(gx);
    free(gg);
    free(gb);
    free(k.hx);
    free(k.hg);
    free(k.hb);
    free(k.r);
    Tensor *ts[] = {&k.x, &k.y, &k.gamma, &k.beta, &k.rm, &k.rv, &k.sm, &k.si, &dy, &dx, &dg, &db};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);
}

/* ------------------------------------------------------------------------------------------
 * SGD against torch.optim.SGD: three steps of two parameters */

static void test_sgd(Backend *b) {
    const SgdParams cfgs[3] = {
        {.lr = 0.1f, .momentum = 0.9f, .dampening = 0.0f, .weight_decay = 0.01f, .nesterov = 1},
        {.lr = 0.05f, .momentum = 0.8f, .dampening = 0.1f, .weight_decay = 0.001f, .nesterov = 0},
        {.lr = 0.2f, .momentum = 0.0f, .dampening = 0.0f, .weight_decay = 0.05f, .nesterov = 0},
    };
    const float *want_p[3] = {TF_SGD0_P, TF_SGD1_P, TF_SGD2_P};
    const float *want_buf[3] = {TF_SGD0_BUF, TF_SGD1_BUF, NULL};
    for (int ci = 0; ci < 3; ci++) {
        float h0[12], h1[5], g0[12], g1[5], got[17];
        fx_fill(h0, 12, 50, 64, 0);
        fx_fill(h1, 5, 51, 64, 0);
        Tensor p0 = t_from(b, 3, 4, 1, 1, h0), p1 = t_from(b, 1, 5, 1, 1, h1);
        Tensor gr0 = t_new(b, 3, 4, 1, 1, DT_F32), gr1 = t_new(b, 1, 5, 1, 1, DT_F32);
        Tensor m0 = t_new(b, 3, 4, 1, 1, DT_F32), m1 = t_new(b, 1, 5, 1, 1, DT_F32);
        Tensor *params[2] = {&p0, &p1}, *grads[2] = {&gr0, &gr1};
        Tensor *moms[2] = {&m0, &m1}, *no_moms[2] = {NULL, NULL};
        for (int s = 0; s < 3; s++) {
            fx_fill(g0, 12, 60 + 10 * s, 64, 0);
            fx_fill(g1, 5, 61 + 10 * s, 64, 0);
            CHECK_OK(b->ops->upload(b->ctx, &gr0, g0));
            CHECK_OK(b->ops->upload(b->ctx, &gr1, g1));
            SgdParams sp = cfgs[ci];
            sp.first_step = s == 0;
            CHECK_OK(b->ops->sgd_update(b->ctx, 2, params, grads,
                                        sp.momentum != 0 ? moms : no_moms, &sp));
            CHECK_OK(b->ops->download(b->ctx, &p0, got));
            CHECK_OK(b->ops->download(b->ctx, &p1, got + 12));
            char what[48];
            snprintf(what, sizeof what, "torch SGD config %d step %d", ci, s + 1);
            CHECK_ARRAY(what, got, want_p[ci] + 17 * s, 17, 1e-6, 1e-5);
        }
        if (want_buf[ci]) {
            CHECK_OK(b->ops->download(b->ctx, &m0, got));
            CHECK_OK(b->ops->download(b->ctx, &m1, got + 12));
            CHECK_ARRAY("torch SGD momentum buffers", got, want_buf[ci], 17, 1e-6, 1e-5);
        }
        Tensor *ts[] = {&p0, &p1, &gr0, &gr1, &m0, &m1};
        for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
            t_free(b, ts[i]);
    }
}

/* ------------------------------------------------------------------------------------------
 * what only the reference promises: it rejects malformed calls with a message */

static void test_reference_checks(Backend *b) {
    Tensor x = t_new(b, 2, 3, 4, 4, DT_F32), w = t_new(b, 5, 3, 3, 3, DT_F32);
    Tensor y = t_new(b, 2, 5, 3, 3, DT_F32);   /* wrong: pad 1 keeps 4x4 */
    CHECK_OK(b->ops->fill(b->ctx, &x, 1.0f));
    CHECK_OK(b->ops->fill(b->ctx, &w, 1.0f));
    ConvDesc d = {.c_in = 3, .c_out = 5, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
    CHECK_INT(b->ops->conv2d_forward(b->ctx, &d, &x, &w, NULL, &y), ST_ERR_ARG);
    CHECK(strstr(status_message(), "conv2d_forward") != NULL);
    CHECK(strstr(status_message(), "(2, 5, 4, 4)") != NULL);

    float z[6] = {0};
    int32_t bad_labels[2] = {1, 3};
    Tensor tz = t_from(b, 2, 3, 1, 1, z), tl = t_new(b, 2, 1, 1, 1, DT_I32);
    Tensor loss = t_new(b, 2, 1, 1, 1, DT_F32), pred = t_new(b, 2, 1, 1, 1, DT_I32);
    Tensor prob = t_new(b, 2, 1, 1, 1, DT_F32);
    CHECK_OK(b->ops->upload(b->ctx, &tl, bad_labels));
    CHECK_INT(b->ops->softmax_xent(b->ctx, &tz, &tl, 0.0f, &loss, &pred, &prob, NULL),
              ST_ERR_ARG);
    CHECK(strstr(status_message(), "label 3") != NULL);

    /* batch statistics of a single value are undefined (PyTorch raises too) */
    Tensor one = t_new(b, 1, 3, 1, 1, DT_F32), p3[6];
    for (int i = 0; i < 6; i++)
        p3[i] = t_new(b, 1, 3, 1, 1, DT_F32);
    Tensor oy = t_new(b, 1, 3, 1, 1, DT_F32);
    CHECK_INT(b->ops->batchnorm_forward_train(b->ctx, &one, &p3[0], &p3[1], &p3[2], &p3[3], 0.1f,
                                              1e-5f, &oy, &p3[4], &p3[5]), ST_ERR_ARG);

    /* fresh storage reads as NaN, so an output the caller forgot to write cannot look valid */
    float *fresh = t_host(b, &oy);
    CHECK(isnan(fresh[0]));
    free(fresh);

    Tensor *ts[] = {&x, &w, &y, &tz, &tl, &loss, &pred, &prob, &one, &oy};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(b, ts[i]);
    for (int i = 0; i < 6; i++)
        t_free(b, &p3[i]);

    /* max-pool indices as PyTorch's return_indices (i32) or window offsets (u8) */
    const float hx[16] = {16, 1, 2, 3, 4, 15, 6, 7, 8, 20, 10, 11, 12, 13, 14, 5};
    PoolDesc pd = {.kind = POOL_MAX, .k = 2, .stride = 2, .pad = 0};
    Tensor px = t_from(b, 1, 1, 4, 4, hx), py = t_new(b, 1, 1, 2, 2, DT_F32);
    Tensor i32 = t_new(b, 1, 1, 2, 2, DT_I32), u8 = t_new(b, 1, 1, 2, 2, DT_U8);
    int32_t gi[4];
    uint8_t gu[4];
    CHECK_OK(b->ops->pool2d_forward(b->ctx, &pd, &px, &py, &i32));
    CHECK_OK(b->ops->pool2d_forward(b->ctx, &pd, &px, &py, &u8));
    CHECK_OK(b->ops->download(b->ctx, &i32, gi));
    CHECK_OK(b->ops->download(b->ctx, &u8, gu));
    CHECK(gi[0] == 0 && gi[1] == 7 && gi[2] == 9 && gi[3] == 14);
    CHECK(gu[0] == 0 && gu[1] == 3 && gu[2] == 1 && gu[3] == 2);
    t_free(b, &px);
    t_free(b, &py);
    t_free(b, &i32);
    t_free(b, &u8);
}

/* ------------------------------------------------------------------------------------------ */

static void run_all(Backend *b) {
    test_memory(b);
    test_conv(b);
    test_linear(b);
    test_elementwise(b);
    test_dropout(b);
    test_pool(b);
    test_pad_channels(b);
    test_xent(b);
    test_batchnorm_grad(b);
    test_sgd(b);
    if (is_reference(b))
        test_reference_checks(b);
}

static void test_backend_selection(void) {
    Backend b;
    int fell_back = -1;
    CHECK_INT(backend_create("gpu0", 1, &b, &fell_back), ST_ERR_ARG);
    CHECK(strstr(status_message(), "'gpu0'") != NULL);
    CHECK(strstr(status_message(), "auto, cpu, cuda, reference") != NULL);
    CHECK(b.ops == NULL);
    CHECK_INT(backend_create(NULL, 1, &b, NULL), ST_ERR_ARG);

    CHECK_OK(backend_create("reference", 0, &b, &fell_back));
    CHECK_INT(fell_back, 0);
    CHECK(b.ops && strcmp(b.ops->name, "reference") == 0);
    CHECK(b.ops && strcmp(b.ops->describe(b.ctx), "reference (plain loops)") == 0);
    backend_destroy(&b);
    CHECK(b.ops == NULL);
    backend_destroy(&b);   /* twice, and NULL, are fine */
    backend_destroy(NULL);

    Status cuda = backend_create("cuda", 0, &b, NULL);
    if (cuda == ST_OK) {
        CHECK(strcmp(b.ops->name, "cuda") == 0);
        backend_destroy(&b);
    } else {
        CHECK_INT(cuda, ST_ERR_DEVICE);
        CHECK(strstr(status_message(), "cuda") != NULL);
    }
    /* auto never fails for want of CUDA: it falls back to cpu and says so */
    CHECK_OK(backend_create("auto", 1, &b, &fell_back));
    CHECK_INT(fell_back, cuda != ST_OK);
    CHECK(b.ops && strcmp(b.ops->name, cuda == ST_OK ? "cuda" : "cpu") == 0);
    backend_destroy(&b);
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "reference";
    test_backend_selection();
    Backend b;
    Status st = backend_create(name, 0, &b, NULL);
    if (st == ST_ERR_DEVICE && strcmp(name, "cuda") == 0)
        CHECK_SKIP("no CUDA device");
    CHECK_OK(st);
    if (st != ST_OK)
        return check_report("test_ops");
    printf("test_ops: %s\n", b.ops->describe(b.ctx));
    run_all(&b);
    backend_destroy(&b);
    return check_report("test_ops");
}
