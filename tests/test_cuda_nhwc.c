/* test_cuda_nhwc.c — the CUDA backend's 16-bit channels-last kernels (core/cuda/kernels_nhwc.cu)
 * run on the CPU (tests/nhwc_emulate.cu executes their thread bodies) against the reference
 * backend. Needs no GPU: it checks what can be wrong without one — index arithmetic, the
 * split of the batchnorm sums over slices, channel blocks and threads, vector widths, rounding,
 * aliasing — for bf16 and fp16. Built only where the CUDA backend is built.
 *
 * The reference gets the inputs the kernels see (each value rounded to 16 bits), so what is
 * compared is the kernels' arithmetic and their one rounding of each output:
 *  - exact: pad_channels, max-pool values and indices, dropout masks, relu;
 *  - one rounding of a float result: |got - want| <= atol + 2^-8 |want| (bf16) or 2^-10 (fp16);
 *  - batchnorm statistics and parameter gradients (sums in another order): 1e-5 of the largest
 *    |value| + 1e-4 relative, as test_cuda_parity holds the fp32 kernels. */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "nhwc_emulate.h"
#include "op_check.h"
#include "rng.h"

static Backend REF;

static double rtol16(int half) { return half ? 1.0 / 1024 : 1.0 / 256; }

static double max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs((double)a[i]) > m ? fabs((double)a[i]) : m;
    return m;
}

/* A random activation: 16-bit channels-last for the emulator, and the same values as NCHW
 * floats for the reference. */
typedef struct {
    int n, c, h, w;
    uint16_t *s;   /* (n, h, w, c) */
    float *f;      /* (n, c, h, w) */
} Act;

static Act act_rand(int n, int c, int h, int w, uint64_t seed, float lo, float hi, int half) {
    Act a = {n, c, h, w, NULL, NULL};
    size_t count = (size_t)n * c * h * w;
    float *raw = host_alloc(count);
    rand_fill(raw, count, seed, lo, hi);
    a.s = calloc(count ? count : 1, sizeof *a.s);
    a.f = host_alloc(count);
    emu_to_nhwc16(raw, a.s, n, c, h * w, half);
    emu_from_nhwc16(a.s, a.f, n, c, h * w, half);
    free(raw);
    return a;
}

static Act act_empty(int n, int c, int h, int w) {
    Act a = {n, c, h, w, NULL, NULL};
    size_t count = (size_t)n * c * h * w;
    a.s = calloc(count ? count : 1, sizeof *a.s);
    a.f = host_alloc(count);
    return a;
}

static size_t act_count(const Act *a) { return (size_t)a->n * a->c * a->h * a->w; }

/* a.f = the values of a.s, NCHW */
static void act_decode(Act *a, int half) { emu_from_nhwc16(a->s, a->f, a->n, a->c, a->h * a->w, half); }

static void act_free(Act *a) {
    free(a->s);
    free(a->f);
    a->s = NULL;
    a->f = NULL;
}

static Tensor ref_of(const Act *a) { return t_from(&REF, a->n, a->c, a->h, a->w, a->f); }
static Tensor ref_vec(int c, const float *v) { return t_from(&REF, 1, c, 1, 1, v); }

static void check_act(const char *what, Act *got, const Tensor *want, int half) {
    act_decode(got, half);
    float *w = t_host(&REF, want);
    size_t n = act_count(got);
    check_array_(__FILE__, __LINE__, what, got->f, w, n, 1e-5 * max_abs(w, n), rtol16(half));
    free(w);
}

static void check_stat(const char *what, const float *got, const Tensor *want, int c) {
    float *w = t_host(&REF, want);
    check_array_(__FILE__, __LINE__, what, got, w, (size_t)c, 1e-5 * max_abs(w, (size_t)c), 1e-4);
    free(w);
}

/* ------------------------------------------------------------------------------------------
 * 16-bit values */

static void test_rounding(void) {
    /* bf16: round to nearest even, ties to even, NaN stays NaN, overflow to inf */
    CHECK_INT(emu_to16(1.0f, 0), 0x3f80);
    CHECK_INT(emu_to16(1.0f + 1.0f / 256, 0), 0x3f80);            /* tie, even stays */
    CHECK_INT(emu_to16(1.0f + 3.0f / 256, 0), 0x3f82);            /* tie, up to even */
    CHECK_INT(emu_to16(1.0f + 1.0f / 256 + 1.0f / 65536, 0), 0x3f81);
    CHECK_INT(emu_to16(-2.5f, 0), 0xc020);
    CHECK_INT(emu_to16(INFINITY, 0), 0x7f80);
    CHECK_INT(emu_to16(3.4e38f, 0), 0x7f80);
    CHECK(isnan(emu_from16(emu_to16(NAN, 0), 0)));
    CHECK(emu_from16(0x3f80, 0) == 1.0f && emu_from16(0xc020, 0) == -2.5f);
    /* fp16 */
    CHECK_INT(emu_to16(1.0f, 1), 0x3c00);
    CHECK_INT(emu_to16(-2.0f, 1), 0xc000);
    CHECK_INT(emu_to16(65520.0f, 1), 0x7c00);
    CHECK(emu_from16(0x3555, 1) > 0.333f && emu_from16(0x3555, 1) < 0.3334f);
    CHECK(isnan(emu_from16(emu_to16(NAN, 1), 1)));
}

/* ------------------------------------------------------------------------------------------
 * batchnorm and its fusions */

typedef struct { int n, c, h, w, P; } BnCase;

static void bn_case(const BnCase *k, int mode, int half) {
    char what[160];
    const int C = k->c, rows = k->n * k->h * k->w;
    const float momentum = 0.1f, eps = 1e-5f;
    Act x = act_rand(k->n, C, k->h, k->w, 11 + (uint64_t)C, -2.0f, 3.0f, half);
    Act r = act_rand(k->n, C, k->h, k->w, 12, -1.0f, 1.0f, half);
    float *gamma = host_alloc((size_t)C), *beta = host_alloc((size_t)C);
    float *rm = host_alloc((size_t)C), *rv = host_alloc((size_t)C);
    rand_fill(gamma, (size_t)C, 13, 0.5f, 1.5f);
    rand_fill(beta, (size_t)C, 14, -0.5f, 0.5f);
    rand_fill(rm, (size_t)C, 15, -0.1f, 0.1f);
    rand_fill(rv, (size_t)C, 16, 0.5f, 1.5f);
    /* a channel that is constant far from zero: the pivot keeps its variance exact */
    for (size_t i = 0; i < (size_t)rows; i++) {
        size_t at = i * (size_t)C + 1;
        x.s[at] = emu_to16(100.0f, half);
    }
    act_decode(&x, half);

    /* forward: emulated kernels */
    Act y = act_empty(k->n, C, k->h, k->w);
    float *erm = host_alloc((size_t)C), *erv = host_alloc((size_t)C);
    float *smean = host_alloc((size_t)C), *sinv = host_alloc((size_t)C);
    memcpy(erm, rm, sizeof(float) * (size_t)C);
    memcpy(erv, rv, sizeof(float) * (size_t)C);
    emu_bn_forward_train(x.s, mode == EMU_BN_ADD_RELU ? r.s : NULL, y.s, rows, C, k->P, mode,
                         half, gamma, beta, erm, erv, momentum, eps, smean, sinv);
    /* forward: reference */
    Tensor tx = ref_of(&x), tr = ref_of(&r), tg = ref_vec(C, gamma), tb = ref_vec(C, beta);
    Tensor trm = ref_vec(C, rm), trv = ref_vec(C, rv);
    Tensor ty = t_new(&REF, k->n, C, k->h, k->w, DT_F32);
    Tensor tsm = t_new(&REF, 1, C, 1, 1, DT_F32), tsi = t_new(&REF, 1, C, 1, 1, DT_F32);
    if (mode == EMU_BN_PLAIN)
        CHECK_OK(REF.ops->batchnorm_forward_train(REF.ctx, &tx, &tg, &tb, &trm, &trv, momentum,
                                                  eps, &ty, &tsm, &tsi));
    else if (mode == EMU_BN_RELU)
        CHECK_OK(REF.ops->batchnorm_relu_forward_train(REF.ctx, &tx, &tg, &tb, &trm, &trv,
                                                       momentum, eps, &ty, &tsm, &tsi));
    else
        CHECK_OK(REF.ops->batchnorm_add_relu_forward_train(REF.ctx, &tx, &tr, &tg, &tb, &trm,
                                                           &trv, momentum, eps, &ty, &tsm, &tsi));
    snprintf(what, sizeof what, "bn mode %d %s (%d, %d, %d, %d) P %d", mode,
             half ? "fp16" : "bf16", k->n, C, k->h, k->w, k->P);
    char sub[200];
    snprintf(sub, sizeof sub, "%s: y", what);
    {
        /* Channel 1 is constant (100): y there is x * scale + shift with scale = gamma / sqrt(eps),
         * about 3e4, so float leaves it 2^-24 * 3e6 ~ 2e-4 from beta, which the reference
         * computes exactly. It is held to that bound; the other channels to the usual one. */
        act_decode(&y, half);
        float *w = t_host(&REF, &ty);
        size_t count = act_count(&y), hw = (size_t)k->h * k->w;
        double bound = 8.0 * 100.0 * gamma[1] / sqrt(eps) / 16777216.0 + 2 * rtol16(half);
        int near = 1;
        for (size_t i = 0; i < count; i++)
            if ((i / hw) % (size_t)C == 1) {
                near &= fabs((double)y.f[i] - w[i]) <= bound * (1.0 + fabs((double)w[i]));
                y.f[i] = w[i];
            }
        CHECK(near);
        check_array_(__FILE__, __LINE__, sub, y.f, w, count, 1e-5 * max_abs(w, count),
                     rtol16(half));
        free(w);
    }
    snprintf(sub, sizeof sub, "%s: save_mean", what);
    check_stat(sub, smean, &tsm, C);
    snprintf(sub, sizeof sub, "%s: save_invstd", what);
    check_stat(sub, sinv, &tsi, C);
    snprintf(sub, sizeof sub, "%s: running_mean", what);
    check_stat(sub, erm, &trm, C);
    snprintf(sub, sizeof sub, "%s: running_var", what);
    check_stat(sub, erv, &trv, C);

    /* backward, from the emulated forward's output and statistics on both sides */
    Act dy = act_rand(k->n, C, k->h, k->w, 17, -1.0f, 1.0f, half);
    Act dy2 = act_rand(k->n, C, k->h, k->w, 18, -1.0f, 1.0f, half);
    Act dx = act_empty(k->n, C, k->h, k->w), dr = act_empty(k->n, C, k->h, k->w);
    float *dg = host_alloc((size_t)C), *db = host_alloc((size_t)C);
    act_decode(&y, half);
    const int add = mode == EMU_BN_ADD_RELU;
    emu_bn_backward(x.s, mode == EMU_BN_PLAIN ? NULL : y.s, dy.s, add ? dy2.s : NULL, rows, C,
                    k->P, mode, half, gamma, NULL, smean, sinv, dx.s, add ? dr.s : NULL, dg, db);
    Tensor tyy = ref_of(&y), tdy = ref_of(&dy), tdy2 = ref_of(&dy2);
    Tensor tsm2 = ref_vec(C, smean), tsi2 = ref_vec(C, sinv);
    Tensor tdx = t_new(&REF, k->n, C, k->h, k->w, DT_F32);
    Tensor tdr = t_new(&REF, k->n, C, k->h, k->w, DT_F32);
    Tensor tdg = t_new(&REF, 1, C, 1, 1, DT_F32), tdb = t_new(&REF, 1, C, 1, 1, DT_F32);
    if (mode == EMU_BN_PLAIN)
        CHECK_OK(REF.ops->batchnorm_backward(REF.ctx, &tx, &tdy, &tg, &tsm2, &tsi2, &tdx, &tdg,
                                             &tdb));
    else if (mode == EMU_BN_RELU)
        CHECK_OK(REF.ops->batchnorm_relu_backward(REF.ctx, &tx, &tyy, &tdy, &tg, &tb, &tsm2,
                                                  &tsi2, &tdx, &tdg, &tdb));
    else
        CHECK_OK(REF.ops->batchnorm_add_relu_backward(REF.ctx, &tx, &tyy, &tdy, &tdy2, &tg,
                                                      &tsm2, &tsi2, &tdx, &tdr, &tdg, &tdb));
    snprintf(sub, sizeof sub, "%s: dx", what);
    check_act(sub, &dx, &tdx, half);
    snprintf(sub, sizeof sub, "%s: dgamma", what);
    check_stat(sub, dg, &tdg, C);
    snprintf(sub, sizeof sub, "%s: dbeta", what);
    check_stat(sub, db, &tdb, C);
    if (add) {
        snprintf(sub, sizeof sub, "%s: dr", what);
        check_act(sub, &dr, &tdr, half);
        /* dr over dy and dx over dy2, as the model's buffer plan has them: the same values */
        size_t count = act_count(&x);
        uint16_t *a = malloc(count * sizeof *a), *b = malloc(count * sizeof *b);
        memcpy(a, dy.s, count * sizeof *a);
        memcpy(b, dy2.s, count * sizeof *b);
        emu_bn_backward(x.s, y.s, a, b, rows, C, k->P, mode, half, gamma, NULL, smean, sinv, b, a,
                        dg, db);
        CHECK(memcmp(a, dr.s, count * sizeof *a) == 0 && memcmp(b, dx.s, count * sizeof *b) == 0);
        free(a);
        free(b);
    }
    if (mode == EMU_BN_RELU) {
        /* the relu mask recomputed from x, gamma, beta and the statistics (no y): the forward
         * rounded each output the same way, so every result is bit for bit the y-read one */
        size_t count = act_count(&x);
        Act dx2 = act_empty(k->n, C, k->h, k->w);
        float *dg2 = host_alloc((size_t)C), *db2 = host_alloc((size_t)C);
        emu_bn_backward(x.s, NULL, dy.s, NULL, rows, C, k->P, mode, half, gamma, beta, smean,
                        sinv, dx2.s, NULL, dg2, db2);
        CHECK(memcmp(dx2.s, dx.s, count * sizeof *dx.s) == 0);
        CHECK(memcmp(dg2, dg, (size_t)C * sizeof *dg) == 0 &&
              memcmp(db2, db, (size_t)C * sizeof *db) == 0);
        act_free(&dx2);
        free(dg2);
        free(db2);
    }

    Tensor *ts[] = {&tx, &tr, &tg, &tb, &trm, &trv, &ty, &tsm, &tsi, &tyy, &tdy, &tdy2, &tsm2,
                    &tsi2, &tdx, &tdr, &tdg, &tdb};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++)
        t_free(&REF, ts[i]);
    Act *as[] = {&x, &r, &y, &dy, &dy2, &dx, &dr};
    for (size_t i = 0; i < sizeof as / sizeof as[0]; i++)
        act_free(as[i]);
    float *fs[] = {gamma, beta, rm, rv, erm, erv, smean, sinv, dg, db};
    for (size_t i = 0; i < sizeof fs / sizeof fs[0]; i++)
        free(fs[i]);
}

static void test_batchnorm(void) {
    const BnCase cases[] = {
        {4, 16, 5, 6, 3},    /* 8-wide vectors, 2 groups: 128 rows per pass */
        {3, 24, 4, 4, 1},    /* 3 groups: 85 rows per pass, one thread idle */
        {2, 12, 3, 5, 2},    /* 12 channels: single values */
        {1, 2064, 2, 2, 2},  /* 258 groups: two channel blocks */
        {8, 32, 8, 8, 0},    /* slices as an H100 (132 multiprocessors) gets them */
        {4, 64, 17, 17, 1},  /* 36-37 rows a thread: batched loads, a remainder, a flush */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (int half = 0; half < 2; half++)
            for (int mode = EMU_BN_PLAIN; mode <= EMU_BN_ADD_RELU; mode++) {
                BnCase k = cases[i];
                if (!k.P)
                    k.P = emu_bn_slices(k.n * k.h * k.w, k.c, 132);
                bn_case(&k, mode, half);
            }
}

/* ------------------------------------------------------------------------------------------
 * elementwise, dropout, option-A shortcut, pooling */

/* The two inputs and the output of an elementwise case, on both sides. */
static void free_case(Tensor *ta, Tensor *tb, Tensor *ty, Act *a, Act *b, Act *y) {
    Tensor *ts[] = {ta, tb, ty};
    for (int i = 0; i < 3; i++)
        t_free(&REF, ts[i]);
    act_free(a);
    act_free(b);
    act_free(y);
}

static void test_eltwise(int half) {
    const int n = 2, c = 8, h = 3, w = 5;   /* 240 values: vectors of 8 */
    Act a = act_rand(n, c, h, w, 21, -1.0f, 1.0f, half), b = act_rand(n, c, h, w, 22, -1.0f, 1.0f,
                                                                      half);
    Act y = act_empty(n, c, h, w);
    size_t count = act_count(&a);
    Tensor ta = ref_of(&a), tb = ref_of(&b), ty = t_new(&REF, n, c, h, w, DT_F32);

    emu_relu_forward(a.s, y.s, count, half);
    CHECK_OK(REF.ops->relu_forward(REF.ctx, &ta, &ty));
    check_act("relu", &y, &ty, half);
    emu_relu_backward(a.s, b.s, y.s, count, half);
    CHECK_OK(REF.ops->relu_backward(REF.ctx, &ta, &tb, &ty));
    check_act("relu backward", &y, &ty, half);
    emu_add(a.s, b.s, y.s, count, half);
    CHECK_OK(REF.ops->add(REF.ctx, &ta, &tb, &ty));
    check_act("add", &y, &ty, half);
    /* 15 values: single values */
    emu_add(a.s, b.s, y.s, 15, half);
    act_decode(&y, half);
    int ok = 1;
    for (int i = 0; i < 15; i++)
        ok &= y.s[i] == emu_to16(emu_from16(a.s[i], half) + emu_from16(b.s[i], half), half);
    CHECK(ok);
    memcpy(y.s, a.s, count * sizeof *y.s);
    emu_scale(y.s, count, 4.0f, half);
    ok = 1;
    for (size_t i = 0; i < count; i++)
        ok &= emu_from16(y.s[i], half) == 4.0f * emu_from16(a.s[i], half);
    CHECK(ok);

    free_case(&ta, &tb, &ty, &a, &b, &y);
}

/* Dropout, forward and backward, both forms: the mask, stored channels-last like the values,
 * holds at (row, channel) the reference's NCHW mask byte. The shapes take vectors of 8 channels
 * (C % 8 == 0) and single values, over several images. */
static void test_dropout(int half, int n, int c, int h, int w) {
    Act a = act_rand(n, c, h, w, 23, -1.0f, 1.0f, half), b = act_rand(n, c, h, w, 24, -1.0f, 1.0f,
                                                                      half);
    Act y = act_empty(n, c, h, w);
    const size_t count = act_count(&a);
    Tensor ta = ref_of(&a), tb = ref_of(&b), ty = t_new(&REF, n, c, h, w, DT_F32);
    for (int per_channel = 0; per_channel < 2; per_channel++) {
        uint8_t *mask = calloc(count, 1), *rm = malloc(count);
        Tensor tm = t_new(&REF, n, c, h, w, DT_U8);
        const float p = 0.3f, scale = 1.0f / (1.0f - p);
        emu_dropout_forward(a.s, y.s, mask, n, c, h, w, per_channel, p, scale, 77, half);
        CHECK_OK(REF.ops->dropout_forward(REF.ctx, p, per_channel, 77, &ta, &ty, &tm));
        CHECK_OK(REF.ops->download(REF.ctx, &tm, rm));
        size_t bad = 0;
        const size_t hw = (size_t)h * w;
        for (size_t r = 0; r < (size_t)n * hw; r++)
            for (int ch = 0; ch < c; ch++)
                bad += mask[r * c + ch] != rm[((r / hw) * c + ch) * hw + r % hw];
        CHECK_INT((int)bad, 0);
        check_act(per_channel ? "dropout2d" : "dropout", &y, &ty, half);
        emu_dropout_backward(mask, b.s, y.s, n, c, h, w, scale, half);
        CHECK_OK(REF.ops->dropout_backward(REF.ctx, p, &tm, &tb, &ty));
        check_act(per_channel ? "dropout2d backward" : "dropout backward", &y, &ty, half);
        free(rm);
        free(mask);
        t_free(&REF, &tm);
    }
    free_case(&ta, &tb, &ty, &a, &b, &y);
}

/* Filters to 16 bits channels-last through the one-block-per-plane kernel: every value rounded
 * once, the padding channels zero; gradients back to fp32 through its mirror; and which shapes
 * take them. */
static void test_planes(int half) {
    const struct {
        int planes, c, cdst, hw;
    } cases[] = {{5, 12, 16, 9}, {3, 640, 640, 9}, {4, 3, 8, 49}, {7, 40, 40, 1}, {2, 300, 304, 25}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        const int P = cases[k].planes, c = cases[k].c, cdst = cases[k].cdst, hw = cases[k].hw;
        const size_t nx = (size_t)P * c * hw, ny = (size_t)P * cdst * hw;
        float *x = host_alloc(nx);
        rand_fill(x, nx, 40 + k, -2.0f, 2.0f);
        uint16_t *y = calloc(ny, sizeof *y);
        emu_planes_to_lowp(x, y, P, c, cdst, hw, half);
        size_t bad = 0;
        for (int p = 0; p < P; p++)
            for (int at = 0; at < hw; at++)
                for (int ch = 0; ch < cdst; ch++) {
                    const uint16_t want =
                        ch < c ? emu_to16(x[((size_t)p * c + ch) * hw + at], half) : emu_to16(0, half);
                    bad += y[((size_t)p * hw + at) * cdst + ch] != want;
                }
        CHECK_INT((int)bad, 0);
        /* and back: every value exact (16 bits widen exactly), the padding channels dropped */
        float *back = host_alloc(nx);
        emu_planes_from_lowp(y, back, P, c, cdst, hw, half);
        bad = 0;
        for (int p = 0; p < P; p++)
            for (int ch = 0; ch < c; ch++)
                for (int at = 0; at < hw; at++) {
                    const size_t i = ((size_t)p * c + ch) * hw + at;
                    bad += back[i] != emu_from16(y[((size_t)p * hw + at) * cdst + ch], half);
                }
        CHECK_INT((int)bad, 0);
        free(back);
        free(x);
        free(y);
    }
    CHECK(emu_small_planes(640, 9) && emu_small_planes(2048, 1) && emu_small_planes(3, 9));
    CHECK(!emu_small_planes(16, 1024) && !emu_small_planes(640, 64) && !emu_small_planes(2048, 9));
}

static void test_pad(int half) {
    const int n = 2, cx = 8, h = 5, w = 6, cy = 16, s = 2, ho = 3, wo = 3;
    Act x = act_rand(n, cx, h, w, 31, -1.0f, 1.0f, half), y = act_empty(n, cy, ho, wo);
    Act dy = act_rand(n, cy, ho, wo, 32, -1.0f, 1.0f, half), dx = act_empty(n, cx, h, w);
    Tensor tx = ref_of(&x), ty = t_new(&REF, n, cy, ho, wo, DT_F32);
    Tensor tdy = ref_of(&dy), tdx = t_new(&REF, n, cx, h, w, DT_F32);
    emu_pad_forward(x.s, y.s, n, cx, h, w, cy, ho, wo, s, half);
    CHECK_OK(REF.ops->pad_channels_forward(REF.ctx, s, &tx, &ty));
    act_decode(&y, half);
    CHECK_TENSOR("pad_channels", &REF, &ty, y.f, act_count(&y), 0, 0);
    emu_pad_backward(dy.s, dx.s, n, cx, h, w, cy, ho, wo, s, half);
    CHECK_OK(REF.ops->pad_channels_backward(REF.ctx, s, &tdy, &tdx));
    act_decode(&dx, half);
    CHECK_TENSOR("pad_channels backward", &REF, &tdx, dx.f, act_count(&dx), 0, 0);
    Tensor *ts[] = {&tx, &ty, &tdy, &tdx};
    for (int i = 0; i < 4; i++)
        t_free(&REF, ts[i]);
    act_free(&x);
    act_free(&y);
    act_free(&dy);
    act_free(&dx);
}

static void pool_case(int is_max, int k, int stride, int pad, int h, int half, int idx_u8) {
    const int n = 2, c = 8, w = h + 1;
    const int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
    char what[96];
    snprintf(what, sizeof what, "%s pool k%d s%d p%d on %dx%d %s", is_max ? "max" : "avg", k,
             stride, pad, h, w, half ? "fp16" : "bf16");
    Act x = act_rand(n, c, h, w, 41, -1.0f, 1.0f, half), y = act_empty(n, c, ho, wo);
    Act dy = act_rand(n, c, ho, wo, 42, -1.0f, 1.0f, half), dx = act_empty(n, c, h, w);
    size_t outs = (size_t)n * c * ho * wo;
    int32_t *i32 = calloc(outs, sizeof *i32);
    uint8_t *i8 = calloc(outs, 1);
    PoolDesc d = {is_max ? POOL_MAX : POOL_AVG, k, stride, pad, NULL};
    Tensor tx = ref_of(&x), ty = t_new(&REF, n, c, ho, wo, DT_F32);
    Tensor tidx = t_new(&REF, n, c, ho, wo, idx_u8 ? DT_U8 : DT_I32);
    Tensor tdy = ref_of(&dy), tdx = t_new(&REF, n, c, h, w, DT_F32);
    emu_pool_forward(x.s, y.s, idx_u8 ? (void *)i8 : (void *)i32, idx_u8, n, c, h, w, ho, wo, k,
                     stride, pad, is_max, half);
    CHECK_OK(REF.ops->pool2d_forward(REF.ctx, &d, &tx, &ty, is_max ? &tidx : NULL));
    if (is_max) {
        act_decode(&y, half);
        CHECK_TENSOR(what, &REF, &ty, y.f, outs, 0, 0);
        void *ri = malloc(outs * 4);
        CHECK_OK(REF.ops->download(REF.ctx, &tidx, ri));
        CHECK(memcmp(idx_u8 ? (void *)i8 : (void *)i32, ri, outs * (idx_u8 ? 1 : 4)) == 0);
        free(ri);
    } else {
        check_act(what, &y, &ty, half);
    }
    emu_pool_backward(x.s, dy.s, dx.s, n, c, h, w, ho, wo, k, stride, pad, is_max, half);
    CHECK_OK(REF.ops->pool2d_backward(REF.ctx, &d, &tx, &ty, is_max ? &tidx : NULL, &tdy, &tdx));
    strncat(what, " backward", sizeof what - strlen(what) - 1);
    check_act(what, &dx, &tdx, half);
    Tensor *ts[] = {&tx, &ty, &tidx, &tdy, &tdx};
    for (int i = 0; i < 5; i++)
        t_free(&REF, ts[i]);
    act_free(&x);
    act_free(&y);
    act_free(&dy);
    act_free(&dx);
    free(i32);
    free(i8);
}

static void test_pool(int half) {
    pool_case(1, 3, 2, 1, 7, half, 0);   /* the ImageNet stem's max pool */
    pool_case(1, 2, 2, 0, 6, half, 1);
    pool_case(0, 2, 2, 0, 6, half, 0);
    pool_case(0, 4, 1, 0, 4, half, 0);   /* the CIFAR-100 net's "max4"-sized average */
    pool_case(0, 8, 1, 0, 8, half, 0);   /* global average on 8x8 (w 9: not square) */
}

int main(void) {
    CHECK_OK(backend_reference_create(&REF));
    test_rounding();
    test_batchnorm();
    for (int half = 0; half < 2; half++) {
        test_eltwise(half);
        test_dropout(half, 2, 8, 3, 5);
        test_dropout(half, 3, 40, 7, 5);
        test_dropout(half, 2, 12, 3, 3);
        test_planes(half);
        test_pad(half);
        test_pool(half);
    }
    backend_destroy(&REF);
    return check_report("test_cuda_nhwc");
}
