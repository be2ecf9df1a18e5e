/* test_cpu_parity.c — every op of the fast CPU backend against the reference backend.
 *
 * Both backends get the same random inputs; outputs are downloaded (dense NCHW) and compared
 * op by op. The fast backend keeps activations with C % 16 == 0 in a blocked layout, so every
 * op whose inputs can arrive that way runs with each input in each layout (cpu_relayout) —
 * including mismatched pairs, which take the conversion path. Convolutions run under every
 * algorithm setting (direct, oneDNN's choice, Winograd wherever possible, the default rule);
 * in a build without oneDNN the same checks cover the im2col + OpenBLAS path.
 *
 * Tolerances (fp32 against the reference's double accumulation):
 *   convolution, linear, batchnorm:  |got - want| <= 1e-4 * max|want| + 1e-4 * |want|
 *     (sums of up to a few thousand products; relative to the tensor's scale so that outputs
 *     that cancel to near zero do not demand more digits than fp32 has)
 *   pooling averages, loss:          1e-5 of the same form
 *   relu, add, accumulate, copy, pad, max pooling, dropout masks and values, SGD: exact
 *     (same float operations in the same order), dropout masks compared bit for bit.
 *   bf16 convolutions (train.precision: bf16):  2e-2 of the sum form
 *     (inputs and weights rounded to 8 significant bits, products summed in fp32: each term
 *     is off by up to 2^-8 relative, and the sum's error stays well inside 1% of its scale).
 *
 * Under DNNL_MAX_CPU_ISA=AVX2 (a second ctest entry) oneDNN behaves as on a laptop without
 * AVX-512: direct AVX2 kernels, no Winograd, no bf16, and the precision fallback is checked. */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "cpu/cpu_internal.h"
#include "op_check.h"

#define TOL_SUM 1e-4
#define TOL_AVG 1e-5
#define TOL_BF16 2e-2

static Backend R, C;   /* reference, fast cpu */

/* The same tensor on both backends. */
typedef struct Pair {
    Tensor r, c;
} Pair;

static uint64_t g_seed = 1000;

static Pair pair_new(int n, int c, int h, int w, DType dt) {
    Pair p = {t_new(&R, n, c, h, w, dt), t_new(&C, n, c, h, w, dt)};
    return p;
}

/* Random values in [lo, hi) on both; the cpu copy stored in `layout`. */
static Pair pair_rand(int n, int c, int h, int w, float lo, float hi, int layout) {
    Pair p = pair_new(n, c, h, w, DT_F32);
    float *host = host_alloc(tensor_numel(&p.r));
    rand_fill(host, tensor_numel(&p.r), g_seed++, lo, hi);
    CHECK_OK(R.ops->upload(R.ctx, &p.r, host));
    CHECK_OK(C.ops->upload(C.ctx, &p.c, host));
    CHECK_OK(cpu_relayout(C.ctx, &p.c, layout));
    free(host);
    return p;
}

static void pair_free(Pair *p) {
    t_free(&R, &p->r);
    t_free(&C, &p->c);
}

static void pair_layout(Pair *p, int layout) { CHECK_OK(cpu_relayout(C.ctx, &p->c, layout)); }

/* Compare the two sides with tolerance tol * max|ref| + tol * |ref| (tol 0: exact). */
static void compare_(const char *file, int line, const char *what, const Pair *p, double tol) {
    size_t n = tensor_numel(&p->r);
    if (p->r.dtype != DT_F32) {
        size_t bytes = tensor_bytes(&p->r);
        unsigned char *a = malloc(bytes ? bytes : 1), *b = malloc(bytes ? bytes : 1);
        if (!a || !b) {
            fprintf(stderr, "out of memory\n");
            exit(1);
        }
        CHECK_OK(R.ops->download(R.ctx, &p->r, a));
        CHECK_OK(C.ops->download(C.ctx, &p->c, b));
        if (memcmp(a, b, bytes) == 0) {
            check_passed_++;
        } else {
            check_failed_++;
            size_t i = 0;
            while (a[i] == b[i]) i++;
            fprintf(stderr, "%s:%d: %s: bytes differ first at %zu\n", file, line, what, i);
        }
        free(a);
        free(b);
        return;
    }
    float *want = t_host(&R, &p->r), *got = t_host(&C, &p->c);
    double mx = 0;
    for (size_t i = 0; i < n; i++) mx = fmax(mx, fabs(want[i]));
    check_array_(file, line, what, got, want, n, tol * mx, tol);
    free(want);
    free(got);
}
#define COMPARE(what, p, tol) compare_(__FILE__, __LINE__, what, p, tol)

static const char *lname(int layout) { return layout == CPU_LAYOUT_BLK16 ? "blk16" : "nchw"; }

/* Layouts an activation of c channels can have on the cpu side. */
static int layout_count(int c, int h, int w) { return c % 16 == 0 && h * w > 1 ? 2 : 1; }

/* ------------------------------------------------------------------------------------------ */

static void test_memory(void) {
    Pair a = pair_rand(3, 32, 5, 7, -2, 2, CPU_LAYOUT_BLK16);
    COMPARE("upload + relayout + download", &a, 0);
    CHECK(a.c.layout == CPU_LAYOUT_BLK16);
    Pair b = pair_new(3, 32, 5, 7, DT_F32);
    CHECK_OK(R.ops->copy(R.ctx, &b.r, &a.r));
    CHECK_OK(C.ops->copy(C.ctx, &b.c, &a.c));
    COMPARE("copy of a blocked tensor", &b, 0);
    CHECK_OK(R.ops->fill(R.ctx, &b.r, -0.75f));
    CHECK_OK(C.ops->fill(C.ctx, &b.c, -0.75f));
    COMPARE("fill", &b, 0);
    double sr, sc;
    int nr, nc;
    CHECK_OK(R.ops->sum_squares(R.ctx, &a.r, &sr, &nr));
    CHECK_OK(C.ops->sum_squares(C.ctx, &a.c, &sc, &nc));
    CHECK_NEAR(sc, sr, 0, 1e-12);
    CHECK_INT(nc, nr);

    /* a U8 tensor in the blocked layout downloads as NCHW */
    Tensor u = t_new(&C, 2, 16, 3, 3, DT_U8);
    uint8_t host[288], back[288];
    for (int i = 0; i < 288; i++) host[i] = (uint8_t)(i * 7);
    CHECK_OK(C.ops->upload(C.ctx, &u, host));
    CHECK_OK(cpu_relayout(C.ctx, &u, CPU_LAYOUT_BLK16));
    CHECK_OK(C.ops->download(C.ctx, &u, back));
    CHECK(memcmp(host, back, sizeof host) == 0);
    t_free(&C, &u);

    /* kept capacity */
    void *before = a.c.data;
    tensor_shape(&a.c, 1, 32, 5, 7, DT_F32);
    CHECK_OK(C.ops->tensor_alloc(C.ctx, &a.c));
    CHECK(a.c.data == before);
    CHECK((uintptr_t)a.c.data % 64 == 0);
    tensor_shape(&a.c, 3, 32, 5, 7, DT_F32);
    pair_free(&a);
    pair_free(&b);
}

/* ------------------------------------------------------------------------------------------ */

typedef struct ConvShape {
    int n, cin, h, w, cout, k, stride, pad, bias;
} ConvShape;

static void conv_case(const ConvShape *s, int lx, int ldy, ConvDesc *dc, double tol) {
    ConvDesc dr = {.c_in = s->cin, .c_out = s->cout, .kh = s->k, .kw = s->k,
                   .stride = s->stride, .pad = s->pad, .has_bias = s->bias};
    if (!dc->c_in) *dc = dr;
    int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
    int wo = conv_out_size(s->w, s->k, s->stride, s->pad);
    Pair x = pair_rand(s->n, s->cin, s->h, s->w, -1, 1, lx);
    Pair w = pair_rand(s->cout, s->cin, s->k, s->k, -0.5f, 0.5f, CPU_LAYOUT_NCHW);
    Pair b = pair_rand(1, s->cout, 1, 1, -1, 1, CPU_LAYOUT_NCHW);
    Pair y = pair_new(s->n, s->cout, ho, wo, DT_F32);
    Pair dy = pair_rand(s->n, s->cout, ho, wo, -1, 1, ldy);
    Pair dx = pair_new(s->n, s->cin, s->h, s->w, DT_F32);
    Pair dw = pair_new(s->cout, s->cin, s->k, s->k, DT_F32);
    Pair db = pair_new(1, s->cout, 1, 1, DT_F32);
    char what[160];
    snprintf(what, sizeof what, "conv (%d,%d,%d,%d)->%d k%d s%d p%d bias%d x:%s dy:%s alg %d "
             "bf16 %d", s->n, s->cin, s->h, s->w, s->cout, s->k, s->stride, s->pad, s->bias,
             lname(lx), lname(ldy), ((CpuCtx *)C.ctx)->conv_alg, ((CpuCtx *)C.ctx)->bf16);
    char msg[256];

    CHECK_OK(R.ops->conv2d_forward(R.ctx, &dr, &x.r, &w.r, s->bias ? &b.r : NULL, &y.r));
    CHECK_OK(C.ops->conv2d_forward(C.ctx, dc, &x.c, &w.c, s->bias ? &b.c : NULL, &y.c));
    snprintf(msg, sizeof msg, "%s forward", what);
    COMPARE(msg, &y, tol);

    CHECK_OK(R.ops->conv2d_backward_data(R.ctx, &dr, &dy.r, &w.r, &dx.r));
    CHECK_OK(C.ops->conv2d_backward_data(C.ctx, dc, &dy.c, &w.c, &dx.c));
    snprintf(msg, sizeof msg, "%s backward data", what);
    COMPARE(msg, &dx, tol);

    CHECK_OK(R.ops->conv2d_backward_filter(R.ctx, &dr, &x.r, &dy.r, &dw.r, s->bias ? &db.r : NULL));
    CHECK_OK(C.ops->conv2d_backward_filter(C.ctx, dc, &x.c, &dy.c, &dw.c, s->bias ? &db.c : NULL));
    snprintf(msg, sizeof msg, "%s backward weights", what);
    COMPARE(msg, &dw, tol);
    if (s->bias) {
        snprintf(msg, sizeof msg, "%s backward bias", what);
        COMPARE(msg, &db, tol);
    }
    Pair *all[] = {&x, &w, &b, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_conv(int alg) {
    int keep = ((CpuCtx *)C.ctx)->conv_alg;
    ((CpuCtx *)C.ctx)->conv_alg = alg;
    static const ConvShape shapes[] = {
        {2, 3, 32, 32, 16, 3, 1, 1, 0},    /* CIFAR stem */
        {1, 16, 9, 7, 16, 3, 1, 1, 1},     /* batch 1, odd sizes, bias */
        {3, 16, 8, 8, 32, 3, 2, 1, 0},     /* downsampling 3x3 */
        {3, 16, 9, 9, 32, 1, 2, 0, 0},     /* 1x1 projection, odd input */
        {2, 5, 11, 11, 7, 3, 2, 1, 1},     /* odd channels, plain layouts only */
        {2, 3, 23, 23, 16, 7, 2, 3, 0},    /* ImageNet-style stem */
        {2, 32, 6, 6, 24, 3, 1, 1, 0},     /* blocked in, plain out */
        {4, 24, 5, 5, 32, 3, 1, 0, 1},     /* plain in, blocked out, no padding */
        {2, 64, 4, 4, 64, 3, 1, 1, 0},     /* a resnet20 stage-3 block at small batch */
        {2, 32, 2, 2, 32, 3, 2, 1, 0},     /* down to a 1x1 map */
        {3, 64, 1, 1, 32, 1, 1, 0, 1},     /* on a 1x1 map */
        {2, 16, 5, 32, 16, 3, 1, 1, 0},    /* 32 wide, 16 out: mirrored forward (rule) */
        {2, 32, 3, 32, 16, 3, 1, 1, 0},    /* mirrored, channels swapped unequal */
        {1, 16, 4, 32, 16, 5, 1, 2, 0},    /* mirrored 5x5 */
        {3, 16, 13, 11, 16, 3, 1, 1, 0},   /* Winograd 16->16: partial tiles at both edges */
        {2, 16, 2, 37, 16, 3, 1, 1, 0},    /* one short tile row, a short last chunk of 8 tiles */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const ConvShape *s = &shapes[i];
        int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
        int wo = conv_out_size(s->w, s->k, s->stride, s->pad);
        for (int lx = 0; lx < layout_count(s->cin, s->h, s->w); lx++)
            for (int ldy = 0; ldy < layout_count(s->cout, ho, wo); ldy++) {
                ConvDesc d = {0};
                conv_case(s, lx, ldy, &d, TOL_SUM);
                /* the same descriptor again with another batch rebuilds its plan */
                ConvShape t = *s;
                t.n = s->n + 2;
                conv_case(&t, lx, ldy, &d, TOL_SUM);
                C.ops->plan_free(C.ctx, d.plan);
            }
    }
    C.ops->plan_free(C.ctx, NULL);
    ((CpuCtx *)C.ctx)->conv_alg = keep;
}

/* The layouts the backend itself produces must reach oneDNN's own convolution kernels ("jit..."),
 * never its reference loops (a thousand times slower; on AVX2, blocked nChw16c activations did)
 * nor its im2col + GEMM fallback (on AVX2, NCHW activations did, until those primitives were
 * given open formats). Run under both ctest entries; the OpenBLAS build has neither. */
static void test_conv_fast_path(void) {
    int dnnl = strstr(C.ops->describe(C.ctx), "oneDNN") != NULL;
    static const ConvShape shapes[] = {
        {4, 3, 32, 32, 16, 3, 1, 1, 0},    /* CIFAR stem */
        {4, 16, 32, 32, 16, 3, 1, 1, 0},   /* stage 1 */
        {4, 16, 32, 32, 32, 3, 2, 1, 0},   /* downsampling 3x3 */
        {4, 16, 32, 32, 32, 1, 2, 0, 0},   /* 1x1 projection */
        {4, 64, 8, 8, 64, 3, 1, 1, 0},     /* stage 3 (Winograd on AVX-512) */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const ConvShape *s = &shapes[i];
        Tensor probe = {.n = s->n, .c = s->cin, .h = s->h, .w = s->w, .dtype = DT_F32};
        int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
        Tensor probe_out = {.n = s->n, .c = s->cout, .h = ho, .w = ho, .dtype = DT_F32};
        ConvDesc d = {0};
        conv_case(s, cpu_preferred_layout(&probe), cpu_preferred_layout(&probe_out), &d, TOL_SUM);
        for (int dir = 0; dir < 3; dir++) {
            const char *impl = cpu_conv_impl(&d, dir);
            /* stage 1's forward and backward-data run on our Winograd kernel where blocked and
             * the CPU has AVX-512; elsewhere its forward runs as its mirror's backward-data */
            int wino16 = strncmp(impl, "wino16", 6) == 0;
            int mirrored = strncmp(impl, "mirror:", 7) == 0;
            if (mirrored) impl += 7;
            if (dnnl && dir < 2 && s->cin == 16 && s->cout == 16 && s->stride == 1) {
                int blocked = cpu_preferred_layout(&probe) == CPU_LAYOUT_BLK16;
                ConvDesc stage1 = {.c_in = 16, .c_out = 16, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
                CHECK(wino16 == (blocked && cpu_wino16_fits(&stage1)));
                if (dir == 0 && !wino16) CHECK(mirrored == blocked);
            }
            int fast = wino16 || (impl[0] && (dnnl ? strncmp(impl, "jit", 3) == 0
                                                   : strncmp(impl, "ref", 3) != 0));
            if (!fast)
                fprintf(stderr, "conv %d->%d k%d s%d direction %d: slow implementation %s\n",
                        s->cin, s->cout, s->k, s->stride, dir, impl);
            CHECK(fast);
        }
        C.ops->plan_free(C.ctx, d.plan);
    }
}

/* The precision setting: what describe() reports, and which convolutions compute in bf16. */
static void test_precision(void) {
    CpuCtx *ctx = C.ctx;
    int support = cpu_conv_bf16_support();
    printf("bf16 support: %s\n", support == CPU_BF16_AMX      ? "AMX"
                                 : support == CPU_BF16_AVX512 ? "AVX512-BF16"
                                                              : "none");
    CHECK_OK(C.ops->set_precision(C.ctx, PRECISION_FP16, 0));
    CHECK(strstr(C.ops->describe(C.ctx), ", fp32 (fp16 asked") != NULL);
    CHECK_INT(ctx->bf16, CPU_BF16_OFF);
    CHECK_OK(C.ops->set_precision(C.ctx, PRECISION_BF16, 0));
    const char *line = C.ops->describe(C.ctx);
    printf("precision bf16: %s\n", line);
    if (support == CPU_BF16_NONE) {
        CHECK(strstr(line, ", fp32 (bf16 asked, but this CPU has neither") != NULL);
        CHECK_INT(ctx->bf16, CPU_BF16_OFF);
    } else {
        CHECK(strstr(line, ", bf16 (most convolutions") != NULL);
        CHECK_INT(ctx->bf16, support == CPU_BF16_AMX ? CPU_BF16_ALL : CPU_BF16_DATA);
    }
    CHECK_OK(C.ops->set_precision(C.ctx, PRECISION_AUTO, 0));
    CHECK_INT(ctx->bf16, support == CPU_BF16_AMX ? CPU_BF16_ALL : CPU_BF16_OFF);
    CHECK_OK(C.ops->set_precision(C.ctx, PRECISION_FP32, 0));
    CHECK(strstr(C.ops->describe(C.ctx), ", fp32") != NULL);
    CHECK_INT(ctx->bf16, CPU_BF16_OFF);
}

/* 1 when direction `which` of d last ran a bf16 kernel. */
static int ran_bf16(const ConvDesc *d, int which) {
    return strstr(cpu_conv_impl(d, which), "bf16") != NULL;
}

/* bf16 convolutions against the fp32 reference: every shape whose activations are blocked,
 * with all three directions in bf16 (the AMX rule) and then forward and backward-data only
 * (the AVX512-BF16 rule). The 3-channel stem stays fp32 either way. */
static void test_conv_bf16(void) {
    CpuCtx *ctx = C.ctx;
    if (cpu_conv_bf16_support() == CPU_BF16_NONE || !cpu_conv_blocked()) {
        printf("bf16 convolutions: skipped (this CPU or build has no bf16 kernels)\n");
        return;
    }
    static const ConvShape shapes[] = {
        {2, 16, 9, 7, 16, 3, 1, 1, 1},     /* odd sizes, bias */
        {3, 16, 8, 8, 32, 3, 2, 1, 0},     /* downsampling 3x3 */
        {3, 16, 9, 9, 32, 1, 2, 0, 0},     /* 1x1 projection */
        {2, 64, 6, 6, 64, 3, 1, 1, 1},     /* a stage-3 block: Winograd under the fp32 rule */
        {4, 32, 12, 12, 48, 3, 1, 1, 0},   /* 48 channels: three blocks of 16 */
    };
    int keep = ctx->bf16;
    for (int rule = CPU_BF16_ALL; rule >= CPU_BF16_DATA; rule--) {
        ctx->bf16 = rule;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            const ConvShape *s = &shapes[i];
            ConvDesc d = {0};
            conv_case(s, CPU_LAYOUT_BLK16, CPU_LAYOUT_BLK16, &d, TOL_BF16);
            char msg[160];
            snprintf(msg, sizeof msg, "bf16 rule %d, conv %d->%d k%d: %s / %s / %s", rule,
                     s->cin, s->cout, s->k, cpu_conv_impl(&d, 0), cpu_conv_impl(&d, 1),
                     cpu_conv_impl(&d, 2));
            int ok = ran_bf16(&d, 0) && ran_bf16(&d, 1) &&
                     ran_bf16(&d, 2) == (rule == CPU_BF16_ALL);
            if (!ok) fprintf(stderr, "unexpected kernels: %s\n", msg);
            CHECK(ok);
            C.ops->plan_free(C.ctx, d.plan);
        }
        /* the stem: 3 NCHW channels in, computed in fp32 whatever the rule */
        ConvShape stem = {2, 3, 32, 32, 16, 3, 1, 1, 0};
        ConvDesc d = {0};
        conv_case(&stem, CPU_LAYOUT_NCHW, CPU_LAYOUT_BLK16, &d, TOL_SUM);
        CHECK(!ran_bf16(&d, 0) && !ran_bf16(&d, 2));
        C.ops->plan_free(C.ctx, d.plan);
    }
    ctx->bf16 = keep;
}

/* ------------------------------------------------------------------------------------------ */

/* A batchnorm's parameters and the outputs its forward writes, on both backends. */
typedef struct BnSet {
    Pair g, be, rm, rv;          /* gamma, beta, running mean and variance */
    Pair y, sm, si, yi;          /* train output, saved mean and invstd, inference output */
} BnSet;

static BnSet bn_set_new(int n, int c, int h, int w) {
    BnSet b;
    b.g = pair_rand(1, c, 1, 1, 0.5f, 1.5f, CPU_LAYOUT_NCHW);
    b.be = pair_rand(1, c, 1, 1, -0.5f, 0.5f, CPU_LAYOUT_NCHW);
    b.rm = pair_rand(1, c, 1, 1, -0.1f, 0.1f, CPU_LAYOUT_NCHW);
    b.rv = pair_rand(1, c, 1, 1, 0.9f, 1.1f, CPU_LAYOUT_NCHW);
    b.y = pair_new(n, c, h, w, DT_F32);
    b.sm = pair_new(1, c, 1, 1, DT_F32);
    b.si = pair_new(1, c, 1, 1, DT_F32);
    b.yi = pair_new(n, c, h, w, DT_F32);
    return b;
}

static void bn_set_free(BnSet *b) {
    Pair *all[] = {&b->g, &b->be, &b->rm, &b->rv, &b->y, &b->sm, &b->si, &b->yi};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

/* relu: the fused batchnorm + relu ops (the reference composes the two ops). */
static void bn_case(int n, int c, int h, int w, float offset, int lx, int ldy, int relu) {
    char what[128], msg[256];
    snprintf(what, sizeof what, "batchnorm%s (%d,%d,%d,%d) mean %g x:%s dy:%s",
             relu ? "+relu" : "", n, c, h, w, (double)offset, lname(lx), lname(ldy));
    const BackendOps *ro = R.ops, *co = C.ops;
    __typeof__(ro->batchnorm_forward_train)
        r_train = relu ? ro->batchnorm_relu_forward_train : ro->batchnorm_forward_train,
        c_train = relu ? co->batchnorm_relu_forward_train : co->batchnorm_forward_train;
    __typeof__(ro->batchnorm_forward_infer)
        r_infer = relu ? ro->batchnorm_relu_forward_infer : ro->batchnorm_forward_infer,
        c_infer = relu ? co->batchnorm_relu_forward_infer : co->batchnorm_forward_infer;
    Pair x = pair_rand(n, c, h, w, offset - 2, offset + 3, lx);
    BnSet b = bn_set_new(n, c, h, w);
    CHECK_OK(r_train(R.ctx, &x.r, &b.g.r, &b.be.r, &b.rm.r, &b.rv.r, 0.1f, 1e-5f, &b.y.r,
                     &b.sm.r, &b.si.r));
    CHECK_OK(c_train(C.ctx, &x.c, &b.g.c, &b.be.c, &b.rm.c, &b.rv.c, 0.1f, 1e-5f, &b.y.c,
                     &b.sm.c, &b.si.c));
    snprintf(msg, sizeof msg, "%s train y", what);
    COMPARE(msg, &b.y, TOL_SUM);
    snprintf(msg, sizeof msg, "%s save_mean", what);
    COMPARE(msg, &b.sm, TOL_SUM);
    snprintf(msg, sizeof msg, "%s save_invstd", what);
    COMPARE(msg, &b.si, TOL_SUM);
    snprintf(msg, sizeof msg, "%s running_mean", what);
    COMPARE(msg, &b.rm, TOL_SUM);
    snprintf(msg, sizeof msg, "%s running_var", what);
    COMPARE(msg, &b.rv, TOL_SUM);

    CHECK_OK(r_infer(R.ctx, &x.r, &b.g.r, &b.be.r, &b.rm.r, &b.rv.r, 1e-5f, &b.yi.r));
    CHECK_OK(c_infer(C.ctx, &x.c, &b.g.c, &b.be.c, &b.rm.c, &b.rv.c, 1e-5f, &b.yi.c));
    snprintf(msg, sizeof msg, "%s infer y", what);
    COMPARE(msg, &b.yi, TOL_SUM);

    Pair dy = pair_rand(n, c, h, w, -1, 1, ldy);
    Pair dx = pair_new(n, c, h, w, DT_F32), dg = pair_new(1, c, 1, 1, DT_F32);
    Pair db = pair_new(1, c, 1, 1, DT_F32);
    if (relu) {
        CHECK_OK(ro->batchnorm_relu_backward(R.ctx, &x.r, &b.y.r, &dy.r, &b.g.r, &b.be.r,
                                             &b.sm.r, &b.si.r, &dx.r, &dg.r, &db.r));
        CHECK_OK(co->batchnorm_relu_backward(C.ctx, &x.c, &b.y.c, &dy.c, &b.g.c, &b.be.c,
                                             &b.sm.c, &b.si.c, &dx.c, &dg.c, &db.c));
    } else {
        CHECK_OK(ro->batchnorm_backward(R.ctx, &x.r, &dy.r, &b.g.r, &b.sm.r, &b.si.r, &dx.r, &dg.r,
                                        &db.r));
        CHECK_OK(co->batchnorm_backward(C.ctx, &x.c, &dy.c, &b.g.c, &b.sm.c, &b.si.c, &dx.c, &dg.c,
                                        &db.c));
    }
    snprintf(msg, sizeof msg, "%s dx", what);
    COMPARE(msg, &dx, TOL_SUM);
    snprintf(msg, sizeof msg, "%s dgamma", what);
    COMPARE(msg, &dg, TOL_SUM);
    snprintf(msg, sizeof msg, "%s dbeta", what);
    COMPARE(msg, &db, TOL_SUM);
    bn_set_free(&b);
    Pair *all[] = {&x, &dy, &dx, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

/* The fused residual tail y = relu(batchnorm(x) + r) against the reference's three ops, with
 * r and the gradients in either layout, with and without a second gradient dy2, and with dx
 * written over dy and dr over dy2 (the aliasing the model's buffer plan uses). */
static void bn_tail_case(int n, int c, int h, int w, int lx, int lr, int with_dy2, int alias) {
    char what[160], msg[256];
    snprintf(what, sizeof what, "batchnorm+add+relu (%d,%d,%d,%d) x:%s r,dy:%s%s%s", n, c, h, w,
             lname(lx), lname(lr), with_dy2 ? " +dy2" : "", alias ? " aliased" : "");
    const BackendOps *ro = R.ops, *co = C.ops;
    Pair x = pair_rand(n, c, h, w, -2, 3, lx), r = pair_rand(n, c, h, w, -1, 1, lr);
    BnSet b = bn_set_new(n, c, h, w);
    CHECK_OK(ro->batchnorm_add_relu_forward_train(R.ctx, &x.r, &r.r, &b.g.r, &b.be.r, &b.rm.r,
                                                  &b.rv.r, 0.1f, 1e-5f, &b.y.r, &b.sm.r, &b.si.r));
    CHECK_OK(co->batchnorm_add_relu_forward_train(C.ctx, &x.c, &r.c, &b.g.c, &b.be.c, &b.rm.c,
                                                  &b.rv.c, 0.1f, 1e-5f, &b.y.c, &b.sm.c, &b.si.c));
    snprintf(msg, sizeof msg, "%s train y", what);
    COMPARE(msg, &b.y, TOL_SUM);
    snprintf(msg, sizeof msg, "%s running_var", what);
    COMPARE(msg, &b.rv, TOL_SUM);
    CHECK_OK(ro->batchnorm_add_relu_forward_infer(R.ctx, &x.r, &r.r, &b.g.r, &b.be.r, &b.rm.r,
                                                  &b.rv.r, 1e-5f, &b.yi.r));
    CHECK_OK(co->batchnorm_add_relu_forward_infer(C.ctx, &x.c, &r.c, &b.g.c, &b.be.c, &b.rm.c,
                                                  &b.rv.c, 1e-5f, &b.yi.c));
    snprintf(msg, sizeof msg, "%s infer y", what);
    COMPARE(msg, &b.yi, TOL_SUM);

    Pair dy = pair_rand(n, c, h, w, -1, 1, lr), dy2 = pair_rand(n, c, h, w, -1, 1, lr);
    Pair dxo = pair_new(n, c, h, w, DT_F32), dro = pair_new(n, c, h, w, DT_F32);
    Pair dg = pair_new(1, c, 1, 1, DT_F32), db = pair_new(1, c, 1, 1, DT_F32);
    Pair *dx = alias ? &dy : &dxo, *dr = alias && with_dy2 ? &dy2 : &dro;
    CHECK_OK(ro->batchnorm_add_relu_backward(R.ctx, &x.r, &b.y.r, &dy.r, with_dy2 ? &dy2.r : NULL,
                                             &b.g.r, &b.sm.r, &b.si.r, &dx->r, &dr->r, &dg.r,
                                             &db.r));
    CHECK_OK(co->batchnorm_add_relu_backward(C.ctx, &x.c, &b.y.c, &dy.c, with_dy2 ? &dy2.c : NULL,
                                             &b.g.c, &b.sm.c, &b.si.c, &dx->c, &dr->c, &dg.c,
                                             &db.c));
    snprintf(msg, sizeof msg, "%s dr", what);
    COMPARE(msg, dr, TOL_SUM);
    snprintf(msg, sizeof msg, "%s dx", what);
    COMPARE(msg, dx, TOL_SUM);
    snprintf(msg, sizeof msg, "%s dgamma", what);
    COMPARE(msg, &dg, TOL_SUM);
    snprintf(msg, sizeof msg, "%s dbeta", what);
    COMPARE(msg, &db, TOL_SUM);
    bn_set_free(&b);
    Pair *all[] = {&x, &r, &dy, &dy2, &dxo, &dro, &dg, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_batchnorm(void) {
    static const int shapes[][5] = {
        /* n, c, h, w, offset */
        {1, 16, 5, 3, 0}, {4, 32, 8, 8, 0}, {3, 5, 7, 7, 0}, {5, 24, 1, 1, 0},
        {2, 16, 4, 4, 50}, {1, 3, 33, 17, 0}, {8, 64, 8, 8, 1},
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *s = shapes[i];
        int nl = layout_count(s[1], s[2], s[3]);
        for (int lx = 0; lx < nl; lx++)
            for (int ldy = 0; ldy < nl; ldy++)
                for (int relu = 0; relu < 2; relu++)
                    bn_case(s[0], s[1], s[2], s[3], (float)s[4], lx, ldy, relu);
        for (int lx = 0; lx < nl; lx++)
            for (int lr = 0; lr < nl; lr++)
                for (int v = 0; v < 4; v++)
                    bn_tail_case(s[0], s[1], s[2], s[3], lx, lr, v & 1, v >> 1);
    }
    /* one value per channel cannot be normalized in training */
    Tensor x = t_new(&C, 1, 16, 1, 1, DT_F32), p = t_new(&C, 1, 16, 1, 1, DT_F32);
    CHECK(C.ops->batchnorm_forward_train(C.ctx, &x, &p, &p, &p, &p, 0.1f, 1e-5f, &x, &p, &p) ==
          ST_ERR_ARG);
    t_free(&C, &x);
    t_free(&C, &p);
}

/* ------------------------------------------------------------------------------------------ */

static void eltwise_case(int n, int c, int h, int w, int la, int lb) {
    char what[128], msg[256];
    snprintf(what, sizeof what, "(%d,%d,%d,%d) a:%s b:%s", n, c, h, w, lname(la), lname(lb));
    Pair a = pair_rand(n, c, h, w, -1, 1, la), b = pair_rand(n, c, h, w, -1, 1, lb);
    Pair y = pair_new(n, c, h, w, DT_F32);

    CHECK_OK(R.ops->relu_forward(R.ctx, &a.r, &y.r));
    CHECK_OK(C.ops->relu_forward(C.ctx, &a.c, &y.c));
    snprintf(msg, sizeof msg, "relu %s", what);
    COMPARE(msg, &y, 0);
    CHECK_OK(R.ops->relu_backward(R.ctx, &y.r, &b.r, &a.r));
    CHECK_OK(C.ops->relu_backward(C.ctx, &y.c, &b.c, &a.c));
    snprintf(msg, sizeof msg, "relu backward %s", what);
    COMPARE(msg, &a, 0);
    /* in place: y = relu(y), dx = dy */
    CHECK_OK(R.ops->relu_forward(R.ctx, &b.r, &b.r));
    CHECK_OK(C.ops->relu_forward(C.ctx, &b.c, &b.c));
    snprintf(msg, sizeof msg, "relu in place %s", what);
    COMPARE(msg, &b, 0);
    CHECK_OK(R.ops->relu_backward(R.ctx, &y.r, &a.r, &a.r));
    CHECK_OK(C.ops->relu_backward(C.ctx, &y.c, &a.c, &a.c));
    snprintf(msg, sizeof msg, "relu backward in place %s", what);
    COMPARE(msg, &a, 0);

    pair_free(&a);
    pair_free(&b);
    a = pair_rand(n, c, h, w, -1, 1, la);
    b = pair_rand(n, c, h, w, -1, 1, lb);
    CHECK_OK(R.ops->add(R.ctx, &a.r, &b.r, &y.r));
    CHECK_OK(C.ops->add(C.ctx, &a.c, &b.c, &y.c));
    snprintf(msg, sizeof msg, "add %s", what);
    COMPARE(msg, &y, 0);
    CHECK_OK(R.ops->accumulate(R.ctx, &a.r, &b.r));
    CHECK_OK(C.ops->accumulate(C.ctx, &a.c, &b.c));
    snprintf(msg, sizeof msg, "accumulate %s", what);
    COMPARE(msg, &a, 0);
    CHECK_OK(R.ops->copy(R.ctx, &y.r, &b.r));
    CHECK_OK(C.ops->copy(C.ctx, &y.c, &b.c));
    CHECK_OK(R.ops->add(R.ctx, &a.r, &y.r, &y.r));
    CHECK_OK(C.ops->add(C.ctx, &a.c, &y.c, &y.c));
    snprintf(msg, sizeof msg, "add into its second input %s", what);
    COMPARE(msg, &y, 0);

    static const float ps[] = {0.0f, 0.3f, 0.5f, 1.0f};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++)
        for (int per_channel = 0; per_channel < 2; per_channel++) {
            Pair m = pair_new(n, c, h, w, DT_U8);
            uint64_t seed = 77 + i * 2 + (uint64_t)per_channel;
            CHECK_OK(R.ops->dropout_forward(R.ctx, ps[i], per_channel, seed, &a.r, &y.r, &m.r));
            CHECK_OK(C.ops->dropout_forward(C.ctx, ps[i], per_channel, seed, &a.c, &y.c, &m.c));
            snprintf(msg, sizeof msg, "dropout p=%g per_channel=%d %s", (double)ps[i],
                     per_channel, what);
            COMPARE(msg, &y, 0);
            COMPARE(msg, &m, 0);
            CHECK_OK(R.ops->dropout_backward(R.ctx, ps[i], &m.r, &b.r, &y.r));
            CHECK_OK(C.ops->dropout_backward(C.ctx, ps[i], &m.c, &b.c, &y.c));
            snprintf(msg, sizeof msg, "dropout backward p=%g per_channel=%d %s", (double)ps[i],
                     per_channel, what);
            COMPARE(msg, &y, 0);
            pair_free(&m);
        }
    pair_free(&a);
    pair_free(&b);
    pair_free(&y);
}

static void pad_case(int n, int cin, int cout, int h, int w, int stride, int lx, int ldy) {
    char what[128];
    snprintf(what, sizeof what, "pad_channels (%d,%d,%d,%d)->%d s%d x:%s dy:%s", n, cin, h, w,
             cout, stride, lname(lx), lname(ldy));
    int ho = (h + stride - 1) / stride, wo = (w + stride - 1) / stride;
    Pair x = pair_rand(n, cin, h, w, -1, 1, lx), y = pair_new(n, cout, ho, wo, DT_F32);
    CHECK_OK(R.ops->pad_channels_forward(R.ctx, stride, &x.r, &y.r));
    CHECK_OK(C.ops->pad_channels_forward(C.ctx, stride, &x.c, &y.c));
    COMPARE(what, &y, 0);
    Pair dy = pair_rand(n, cout, ho, wo, -1, 1, ldy);
    CHECK_OK(R.ops->pad_channels_backward(R.ctx, stride, &dy.r, &x.r));
    CHECK_OK(C.ops->pad_channels_backward(C.ctx, stride, &dy.c, &x.c));
    COMPARE(what, &x, 0);
    pair_free(&x);
    pair_free(&y);
    pair_free(&dy);
}

static void test_eltwise(void) {
    static const int shapes[][4] = {{2, 16, 8, 8}, {1, 5, 3, 7}, {3, 32, 5, 5}, {2, 48, 1, 1}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const int *s = shapes[i];
        int nl = layout_count(s[1], s[2], s[3]);
        for (int la = 0; la < nl; la++)
            for (int lb = 0; lb < nl; lb++) eltwise_case(s[0], s[1], s[2], s[3], la, lb);
    }
    for (int lx = 0; lx < 2; lx++)
        for (int ldy = 0; ldy < 2; ldy++) {
            pad_case(2, 16, 32, 9, 7, 2, lx, ldy);
            pad_case(1, 16, 48, 4, 4, 1, lx, ldy);
        }
    pad_case(3, 5, 9, 5, 6, 2, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */

static void pool_case(PoolKind kind, int k, int stride, int pad, int n, int c, int h, int w,
                      int lx, int ldy, int ties) {
    PoolDesc dr = {.kind = kind, .k = k, .stride = stride, .pad = pad}, dc = dr;
    int ho = conv_out_size(h, k, stride, pad), wo = conv_out_size(w, k, stride, pad);
    char what[160], msg[256];
    snprintf(what, sizeof what, "%s pool k%d s%d p%d (%d,%d,%d,%d)%s x:%s dy:%s",
             kind == POOL_MAX ? "max" : "avg", k, stride, pad, n, c, h, w, ties ? " ties" : "",
             lname(lx), lname(ldy));
    Pair x = pair_rand(n, c, h, w, -1, 1, lx);
    if (ties) {   /* few distinct values, so windows hold equal maxima */
        float *hx = t_host(&R, &x.r);
        for (size_t i = 0; i < tensor_numel(&x.r); i++) hx[i] = (float)(int)(hx[i] * 2.0f);
        CHECK_OK(R.ops->upload(R.ctx, &x.r, hx));
        CHECK_OK(C.ops->upload(C.ctx, &x.c, hx));
        pair_layout(&x, lx);
        free(hx);
    }
    Pair y = pair_new(n, c, ho, wo, DT_F32), idx = pair_new(n, c, ho, wo, DT_I32);
    CHECK_OK(R.ops->pool2d_forward(R.ctx, &dr, &x.r, &y.r, kind == POOL_MAX ? &idx.r : NULL));
    CHECK_OK(C.ops->pool2d_forward(C.ctx, &dc, &x.c, &y.c, kind == POOL_MAX ? &idx.c : NULL));
    snprintf(msg, sizeof msg, "%s forward", what);
    COMPARE(msg, &y, kind == POOL_MAX ? 0 : TOL_AVG);
    if (kind == POOL_MAX) {
        snprintf(msg, sizeof msg, "%s idx", what);
        COMPARE(msg, &idx, 0);
    }
    Pair dy = pair_rand(n, c, ho, wo, -1, 1, ldy), dx = pair_new(n, c, h, w, DT_F32);
    CHECK_OK(R.ops->pool2d_backward(R.ctx, &dr, &x.r, &y.r, &idx.r, &dy.r, &dx.r));
    CHECK_OK(C.ops->pool2d_backward(C.ctx, &dc, &x.c, &y.c, &idx.c, &dy.c, &dx.c));
    snprintf(msg, sizeof msg, "%s backward", what);
    COMPARE(msg, &dx, TOL_AVG);
    Pair *all[] = {&x, &y, &idx, &dy, &dx};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
    C.ops->plan_free(C.ctx, dc.plan);
}

static void test_pool(void) {
    for (int lx = 0; lx < 2; lx++)
        for (int ldy = 0; ldy < 2; ldy++) {
            pool_case(POOL_MAX, 3, 2, 1, 2, 16, 9, 9, lx, ldy, 0);
            pool_case(POOL_MAX, 3, 2, 1, 2, 16, 9, 9, lx, ldy, 1);
            pool_case(POOL_MAX, 4, 1, 0, 2, 32, 4, 4, lx, 0, 0);      /* CIFAR-100 head -> 1x1 */
            pool_case(POOL_AVG, 3, 1, 1, 2, 16, 5, 5, lx, ldy, 0);
            pool_case(POOL_AVG, 8, 1, 0, 3, 64, 8, 8, lx, 0, 0);      /* global average */
        }
    pool_case(POOL_MAX, 2, 2, 0, 1, 5, 6, 7, 0, 0, 1);
    pool_case(POOL_AVG, 7, 1, 0, 2, 10, 7, 7, 0, 0, 0);
    pool_case(POOL_AVG, 2, 2, 0, 1, 3, 5, 5, 0, 0, 0);
}

/* ------------------------------------------------------------------------------------------ */

static void linear_case(int n, int c, int h, int w, int m, int bias, int want_dx, int lx) {
    char what[128], msg[256];
    snprintf(what, sizeof what, "linear (%d,%d,%d,%d)->%d bias%d dx%d x:%s", n, c, h, w, m, bias,
             want_dx, lname(lx));
    int k = c * h * w;
    Pair x = pair_rand(n, c, h, w, -1, 1, lx), wt = pair_rand(m, k, 1, 1, -0.3f, 0.3f, 0);
    Pair b = pair_rand(1, m, 1, 1, -1, 1, 0), y = pair_new(n, m, 1, 1, DT_F32);
    CHECK_OK(R.ops->linear_forward(R.ctx, &x.r, &wt.r, bias ? &b.r : NULL, &y.r));
    CHECK_OK(C.ops->linear_forward(C.ctx, &x.c, &wt.c, bias ? &b.c : NULL, &y.c));
    snprintf(msg, sizeof msg, "%s forward", what);
    COMPARE(msg, &y, TOL_SUM);
    Pair dy = pair_rand(n, m, 1, 1, -1, 1, 0), dx = pair_new(n, c, h, w, DT_F32);
    Pair dw = pair_new(m, k, 1, 1, DT_F32), db = pair_new(1, m, 1, 1, DT_F32);
    CHECK_OK(R.ops->linear_backward(R.ctx, &x.r, &wt.r, &dy.r, want_dx ? &dx.r : NULL, &dw.r,
                                    bias ? &db.r : NULL));
    CHECK_OK(C.ops->linear_backward(C.ctx, &x.c, &wt.c, &dy.c, want_dx ? &dx.c : NULL, &dw.c,
                                    bias ? &db.c : NULL));
    if (want_dx) {
        snprintf(msg, sizeof msg, "%s dx", what);
        COMPARE(msg, &dx, TOL_SUM);
    }
    snprintf(msg, sizeof msg, "%s dw", what);
    COMPARE(msg, &dw, TOL_SUM);
    if (bias) {
        snprintf(msg, sizeof msg, "%s db", what);
        COMPARE(msg, &db, TOL_SUM);
    }
    Pair *all[] = {&x, &wt, &b, &y, &dy, &dx, &dw, &db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void xent_case(int n, int k, float smoothing, int with_grad) {
    char what[96], msg[256];
    snprintf(what, sizeof what, "softmax_xent n%d k%d s%g", n, k, (double)smoothing);
    Pair z = pair_rand(n, k, 1, 1, -8, 8, 0);
    Pair lab = pair_new(n, 1, 1, 1, DT_I32);
    int32_t *hl = malloc(sizeof(int32_t) * (size_t)n);
    if (!hl) exit(1);
    for (int i = 0; i < n; i++) hl[i] = (int32_t)rng_below(5, 99, (uint64_t)i, (uint32_t)k);
    CHECK_OK(R.ops->upload(R.ctx, &lab.r, hl));
    CHECK_OK(C.ops->upload(C.ctx, &lab.c, hl));
    Pair loss = pair_new(n, 1, 1, 1, DT_F32), pred = pair_new(n, 1, 1, 1, DT_I32);
    Pair prob = pair_new(n, 1, 1, 1, DT_F32), dz = pair_new(n, k, 1, 1, DT_F32);
    CHECK_OK(R.ops->softmax_xent(R.ctx, &z.r, &lab.r, smoothing, &loss.r, &pred.r, &prob.r,
                                 with_grad ? &dz.r : NULL));
    CHECK_OK(C.ops->softmax_xent(C.ctx, &z.c, &lab.c, smoothing, &loss.c, &pred.c, &prob.c,
                                 with_grad ? &dz.c : NULL));
    snprintf(msg, sizeof msg, "%s loss", what);
    COMPARE(msg, &loss, TOL_AVG);
    snprintf(msg, sizeof msg, "%s pred", what);
    COMPARE(msg, &pred, 0);
    snprintf(msg, sizeof msg, "%s prob", what);
    COMPARE(msg, &prob, TOL_AVG);
    if (with_grad) {
        snprintf(msg, sizeof msg, "%s dlogits", what);
        COMPARE(msg, &dz, TOL_AVG);
    }
    /* a label outside the classes is an error, not a read out of bounds */
    hl[0] = k;
    CHECK_OK(C.ops->upload(C.ctx, &lab.c, hl));
    CHECK(C.ops->softmax_xent(C.ctx, &z.c, &lab.c, smoothing, &loss.c, &pred.c, &prob.c, NULL) ==
          ST_ERR_ARG);
    free(hl);
    Pair *all[] = {&z, &lab, &loss, &pred, &prob, &dz};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) pair_free(all[i]);
}

static void test_dense(void) {
    for (int lx = 0; lx < 2; lx++) {
        linear_case(5, 16, 3, 3, 10, 1, 1, lx);
        linear_case(1, 32, 2, 2, 7, 0, 0, lx);
    }
    linear_case(128, 64, 1, 1, 10, 1, 1, 0);
    linear_case(3, 5, 1, 1, 100, 1, 1, 0);
    xent_case(7, 10, 0.0f, 1);
    xent_case(128, 100, 0.1f, 1);
    xent_case(1, 3, 0.0f, 0);
}

/* ------------------------------------------------------------------------------------------ */

static void test_sgd(void) {
    static const int sizes[] = {5, 40000, 300, 16};
    enum { P = 4 };
    static const SgdParams variants[] = {
        {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f, .first_step = 1},
        {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f},
        {.lr = 0.05f, .momentum = 0.9f, .weight_decay = 1e-3f, .nesterov = 1},
        {.lr = 0.01f, .momentum = 0.5f, .dampening = 0.3f},
        {.lr = 0.2f, .weight_decay = 1e-4f},
        {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f, .loss_scale_log2 = 16},
        {.lr = 0.2f, .weight_decay = 1e-4f, .loss_scale_log2 = -3},
    };
    Pair p[P], g[P], m[P];
    for (int i = 0; i < P; i++) {
        p[i] = pair_rand(sizes[i], 1, 1, 1, -1, 1, 0);
        m[i] = pair_rand(sizes[i], 1, 1, 1, -1, 1, 0);
        g[i] = pair_new(sizes[i], 1, 1, 1, DT_F32);
    }
    for (size_t v = 0; v < sizeof variants / sizeof variants[0]; v++) {
        Tensor *pr[P], *gr[P], *mr[P], *pc[P], *gc[P], *mc[P];
        for (int i = 0; i < P; i++) {
            pair_free(&g[i]);
            g[i] = pair_rand(sizes[i], 1, 1, 1, -1, 1, 0);
            pr[i] = &p[i].r; gr[i] = &g[i].r; mr[i] = &m[i].r;
            pc[i] = &p[i].c; gc[i] = &g[i].c; mc[i] = &m[i].c;
        }
        CHECK_OK(R.ops->sgd_update(R.ctx, P, pr, gr, mr, &variants[v]));
        CHECK_OK(C.ops->sgd_update(C.ctx, P, pc, gc, mc, &variants[v]));
        for (int i = 0; i < P; i++) {
            char msg[64];
            snprintf(msg, sizeof msg, "sgd variant %zu param %d", v, i);
            COMPARE(msg, &p[i], 0);
            if (variants[v].momentum != 0.0f) COMPARE(msg, &m[i], 0);
        }
    }
    for (int i = 0; i < P; i++) {
        pair_free(&p[i]);
        pair_free(&g[i]);
        pair_free(&m[i]);
    }
}

/* Loss scaling's two ops: scale exactly as the reference; all_finite sees a NaN or an infinity
 * anywhere in any tensor, in either layout. */
static void test_loss_scaling_ops(void) {
    Pair a = pair_rand(4, 32, 5, 5, -3, 3, CPU_LAYOUT_BLK16);
    CHECK_OK(R.ops->scale(R.ctx, &a.r, 65536.0f));
    CHECK_OK(C.ops->scale(C.ctx, &a.c, 65536.0f));
    COMPARE("scale", &a, 0);
    Pair b = pair_rand(7, 3, 1, 1, -1, 1, 0), c = pair_rand(300001, 1, 1, 1, -1, 1, 0);
    Tensor *ts[3] = {&a.c, &b.c, &c.c};
    int finite = -1;
    CHECK_OK(C.ops->all_finite(C.ctx, 3, ts, &finite));
    CHECK_INT(finite, 1);
    const float bad[3] = {INFINITY, -INFINITY, NAN};
    for (int k = 0; k < 3; k++) {
        float *h = host_alloc(tensor_numel(&c.r));
        CHECK_OK(R.ops->download(R.ctx, &c.r, h));
        float keep = h[300000 - 7 * k];
        h[300000 - 7 * k] = bad[k];
        CHECK_OK(C.ops->upload(C.ctx, &c.c, h));
        CHECK_OK(R.ops->upload(R.ctx, &c.r, h));
        finite = -1;
        CHECK_OK(C.ops->all_finite(C.ctx, 3, ts, &finite));
        CHECK_INT(finite, 0);
        finite = -1;
        CHECK_OK(R.ops->all_finite(R.ctx, 1, (Tensor *[]){&c.r}, &finite));
        CHECK_INT(finite, 0);
        h[300000 - 7 * k] = keep;
        CHECK_OK(C.ops->upload(C.ctx, &c.c, h));
        free(h);
    }
    CHECK_OK(C.ops->all_finite(C.ctx, 0, NULL, &finite));
    CHECK_INT(finite, 1);
    pair_free(&a);
    pair_free(&b);
    pair_free(&c);
}

/* ------------------------------------------------------------------------------------------ */

static void test_threads(void) {
    /* one thread and all threads give the same results as the reference */
    for (int t = 1; t >= 0; t--) {
        C.ops->set_threads(C.ctx, t);
        ConvShape s = {4, 16, 8, 8, 16, 3, 1, 1, 0};
        ConvDesc d = {0};
        conv_case(&s, CPU_LAYOUT_BLK16, CPU_LAYOUT_BLK16, &d, TOL_SUM);
        C.ops->plan_free(C.ctx, d.plan);
        bn_case(4, 16, 6, 6, 0, CPU_LAYOUT_BLK16, CPU_LAYOUT_BLK16, 0);
    }
    const char *desc = C.ops->describe(C.ctx);
    CHECK(strncmp(desc, "cpu: ", 5) == 0);
    printf("%s\n", desc);
}

int main(void) {
    CHECK_OK(backend_reference_create(&R));
    CHECK_OK(backend_cpu_create(0, &C));
    if (!C.ops) return check_report("test_cpu_parity");
    test_memory();
    test_conv(CPU_CONV_DIRECT);
    test_conv(CPU_CONV_AUTO);
    test_conv(CPU_CONV_WINOGRAD);
    test_conv(CPU_CONV_RULE);
    test_conv_fast_path();
    test_precision();
    test_conv_bf16();
    test_batchnorm();
    test_eltwise();
    test_pool();
    test_dense();
    test_sgd();
    test_loss_scaling_ops();
    test_threads();
    backend_destroy(&C);
    backend_destroy(&R);
    return check_report("test_cpu_parity");
}
