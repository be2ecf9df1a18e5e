/* bench_ops.c — throughput figures of the fast CPU backend (a benchmark, not a test).
 *
 * Usage: bench_ops [--threads N] [--batch N] [--reps N] [--steps N] [--windows N]
 *                  [--only convs|ops|step|wino|bf16]
 *                  [--alg direct|auto|winograd|rule]   (default: the backend's, rule)
 *                  [--precision fp32|bf16|bf16-all]    (default fp32; bf16 = the backend's
 *                  rule for this CPU, bf16-all = bf16 wherever a kernel exists, as on AMX)
 *                  [--unfused]   (step: batchnorm, add and relu as separate ops, no fusion)
 *
 *   convs  every convolution shape of resnet20 at the batch: forward, backward-data and
 *          backward-weights GFLOP/s (2 * MACs / median time) and the oneDNN implementation,
 *          next to the sgemm ceiling: OpenBLAS cblas_sgemm on the GEMM an im2col convolution
 *          would run (M = Cout, N = batch * Ho * Wo, K = Cin * k * k), im2col itself not timed.
 *   wino   (only when asked) 3x3 stride-1 convolutions over a range of widths and map sizes,
 *          direct against Winograd per direction: the measurements behind the backend's rule.
 *   bf16   (only when asked; builds with oneDNN, SHORTCUT_WITH_DNNL) the resnet20 shapes with
 *          bf16 data and weights through oneDNN directly: the kernels' ceiling, without the
 *          fp32 -> bf16 copies the backend makes around them (--precision bf16 measures those).
 *   ops    the memory-bound ops at resnet20's largest activation (batch, 16, 32, 32): ms and
 *          effective GB/s (bytes each op must read + write once).
 *   step   a whole resnet20 training step (1x1 projection shortcuts, like the model in
 *          ../shared/bench/torch_reference.py): forward + softmax cross-entropy + backward +
 *          SGD (lr 0.1, momentum 0.9, wd 5e-4) on one fixed random batch; img/s as the median
 *          over --windows windows of --steps steps each, after 3 warm-up steps, and where
 *          the time goes, per op, from a timing shim around the backend's op table.
 * Every figure line is key=value so runs can be diffed. The machine may be shared: each timed
 * figure comes with foreign_cpu_pct, the largest share of all CPUs that other processes used
 * during its measurements (from /proc/stat); rerun when it is more than a few percent.
 * OpenBLAS runs its own thread pool, whose spinning threads would steal the cores from the
 * backend's OpenMP threads, so the sgemm ceilings are measured first, in a child process. */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backend.h"
#include "cpushare.h"
#include "cpu/cpu_internal.h"
#include "model.h"
#include "rng.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Share (%) of the allowed CPUs that other processes used since `l` (core/cpushare.h). */
static double load_foreign_pct(CpuLoadSample l) {
    CpuLoadSample e;
    if (!cpuload_sample(&e)) return 0.0;
    return cpuload_foreign_pct(&l, &e);
}

static CpuLoadSample load_start(void) {
    CpuLoadSample l;
    cpuload_sample(&l);
    return l;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void die_if(Status st, const char *what) {
    if (st == ST_OK) return;
    fprintf(stderr, "bench_ops: %s: %s\n", what, status_message());
    exit(1);
}

static Tensor tnew(Backend *b, int n, int c, int h, int w, DType dt, float lo, float hi,
                   uint64_t seed) {
    Tensor t;
    memset(&t, 0, sizeof t);
    tensor_shape(&t, n, c, h, w, dt);
    die_if(b->ops->tensor_alloc(b->ctx, &t), "tensor_alloc");
    if (dt == DT_F32) {
        size_t cnt = tensor_numel(&t);
        float *host = malloc(cnt * sizeof(float));
        if (!host) die_if(ST_ERR_OOM, "host buffer");
        for (size_t i = 0; i < cnt; i++) host[i] = lo + (hi - lo) * rng_uniform(seed, 97, i);
        die_if(b->ops->upload(b->ctx, &t, host), "upload");
        free(host);
    }
    return t;
}

/* ---- convolutions -------------------------------------------------------------------------- */

typedef struct Shape {
    const char *name;
    int cin, h, cout, k, stride, pad, uses;   /* uses: how many resnet20 layers have it */
} Shape;

static const Shape RESNET20[] = {
    {"stem 3->16 32x32", 3, 32, 16, 3, 1, 1, 1},
    {"s1 16->16 32x32", 16, 32, 16, 3, 1, 1, 6},
    {"s2 16->32 32x32/2", 16, 32, 32, 3, 2, 1, 1},
    {"s2 proj 1x1/2", 16, 32, 32, 1, 2, 0, 1},
    {"s2 32->32 16x16", 32, 16, 32, 3, 1, 1, 5},
    {"s3 32->64 16x16/2", 32, 16, 64, 3, 2, 1, 1},
    {"s3 proj 1x1/2", 32, 16, 64, 1, 2, 0, 1},
    {"s3 64->64 8x8", 64, 8, 64, 3, 1, 1, 5},
};

#define QUIET_PCT 5.0    /* a block counts when other processes used at most this much CPU */
#define MAX_TRIES 30     /* blocks tried before settling for the quietest one */

static double g_foreign_max;   /* largest foreign load of the blocks time_reps kept */

/* Median time of `reps` calls, from the first block run while the machine was quiet (or the
 * quietest of MAX_TRIES blocks). */
static double time_reps(int reps, Status (*fn)(void *), void *arg) {
    double t[64], best = 0, best_foreign = 1e9;
    if (reps > 64) reps = 64;
    die_if(fn(arg), "warm-up");
    for (int attempt = 0; attempt < MAX_TRIES && best_foreign > QUIET_PCT; attempt++) {
        CpuLoadSample l = load_start();
        for (int r = 0; r < reps; r++) {
            double t0 = now_s();
            die_if(fn(arg), "timed call");
            t[r] = now_s() - t0;
        }
        double f = load_foreign_pct(l);
        if (f < best_foreign) {
            best_foreign = f;
            best = median(t, reps);
        }
    }
    if (best_foreign > g_foreign_max) g_foreign_max = best_foreign;
    return best;
}

typedef struct ConvRun {
    Backend *b;
    ConvDesc d;
    Tensor x, w, y, dy, dx, dw;
    int dir;
} ConvRun;

static Status conv_call(void *arg) {
    ConvRun *r = arg;
    const BackendOps *o = r->b->ops;
    if (r->dir == 0) return o->conv2d_forward(r->b->ctx, &r->d, &r->x, &r->w, NULL, &r->y);
    if (r->dir == 1) return o->conv2d_backward_data(r->b->ctx, &r->d, &r->dy, &r->w, &r->dx);
    return o->conv2d_backward_filter(r->b->ctx, &r->d, &r->x, &r->dy, &r->dw, NULL);
}

static double sgemm_gflops(int m, int n, int k, int reps) {
    float *a = aligned_alloc(64, ((size_t)m * k * 4 + 63) & ~(size_t)63);
    float *b = aligned_alloc(64, ((size_t)k * n * 4 + 63) & ~(size_t)63);
    float *c = aligned_alloc(64, ((size_t)m * n * 4 + 63) & ~(size_t)63);
    if (!a || !b || !c) die_if(ST_ERR_OOM, "sgemm buffers");
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = rng_uniform(1, 1, i) - 0.5f;
    for (size_t i = 0; i < (size_t)k * n; i++) b[i] = rng_uniform(2, 1, i) - 0.5f;
    double t[64];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
    for (int r = 0; r < reps; r++) {
        double t0 = now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, 0.0f,
                    c, n);
        t[r] = now_s() - t0;
    }
    free(a);
    free(b);
    free(c);
    return 2.0 * m * n * (double)k / median(t, reps) * 1e-9;
}

#define N_SHAPES (sizeof RESNET20 / sizeof RESNET20[0])

/* OpenBLAS GFLOP/s for each shape's im2col GEMM, measured in a child process (see top). */
static void sgemm_ceilings(int batch, int reps, int threads, double out[N_SHAPES]) {
    int fd[2];
    for (size_t i = 0; i < N_SHAPES; i++) out[i] = NAN;
    if (pipe(fd) != 0) {
        fprintf(stderr, "bench_ops: pipe: %s (sgemm ceilings skipped)\n", strerror(errno));
        return;
    }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "bench_ops: fork: %s (sgemm ceilings skipped)\n", strerror(errno));
        close(fd[0]);
        close(fd[1]);
        return;
    }
    if (pid == 0) {
        close(fd[0]);
        openblas_set_num_threads(threads);
        double g[N_SHAPES];
        for (size_t i = 0; i < N_SHAPES; i++) {
            const Shape *s = &RESNET20[i];
            int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
            g[i] = sgemm_gflops(s->cout, batch * ho * ho, s->cin * s->k * s->k, reps);
        }
        ssize_t w = write(fd[1], g, sizeof g);
        _exit(w == (ssize_t)sizeof g ? 0 : 1);
    }
    close(fd[1]);
    ssize_t got = read(fd[0], out, sizeof(double) * N_SHAPES);
    close(fd[0]);
    int wst = 0;
    if (waitpid(pid, &wst, 0) < 0 || got != (ssize_t)(sizeof(double) * N_SHAPES)) {
        fprintf(stderr, "bench_ops: the sgemm child failed (sgemm ceilings skipped)\n");
        for (size_t i = 0; i < N_SHAPES; i++) out[i] = NAN;
    }
}

static void bench_convs(Backend *b, int batch, int reps, const double *gemm) {
    printf("# convolutions, batch %d: GFLOP/s = 2*MACs/median time; sgemm = OpenBLAS on the "
           "im2col GEMM\n", batch);
    double total_t = 0, total_flop = 0;
    for (size_t i = 0; i < N_SHAPES; i++) {
        const Shape *s = &RESNET20[i];
        int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
        ConvRun r;
        memset(&r, 0, sizeof r);
        r.b = b;
        r.d = (ConvDesc){.c_in = s->cin, .c_out = s->cout, .kh = s->k, .kw = s->k,
                         .stride = s->stride, .pad = s->pad};
        r.x = tnew(b, batch, s->cin, s->h, s->h, DT_F32, -1, 1, 1);
        r.w = tnew(b, s->cout, s->cin, s->k, s->k, DT_F32, -0.1f, 0.1f, 2);
        r.y = tnew(b, batch, s->cout, ho, ho, DT_F32, 0, 0, 0);
        r.dx = tnew(b, batch, s->cin, s->h, s->h, DT_F32, 0, 0, 0);
        r.dw = tnew(b, s->cout, s->cin, s->k, s->k, DT_F32, 0, 0, 0);
        /* activations in the layout the backend itself produces: run a forward first */
        r.dir = 0;
        die_if(conv_call(&r), "forward");
        die_if(cpu_relayout(b->ctx, &r.x, cpu_preferred_layout(&r.x)), "relayout");
        r.dy = tnew(b, batch, s->cout, ho, ho, DT_F32, -1, 1, 3);
        die_if(cpu_relayout(b->ctx, &r.dy, cpu_preferred_layout(&r.dy)), "relayout");
        double flop = 2.0 * batch * s->cout * ho * ho * (double)s->cin * s->k * s->k;
        double t[3];
        g_foreign_max = 0;
        for (int dir = 0; dir < 3; dir++) {
            r.dir = dir;
            t[dir] = time_reps(reps, conv_call, &r);
        }
        printf("conv=\"%s\" fwd_gflops=%.1f bwd_data_gflops=%.1f bwd_weights_gflops=%.1f "
               "fwd_ms=%.3f bwd_data_ms=%.3f bwd_weights_ms=%.3f sgemm_gflops=%.1f "
               "impl=%s,%s,%s foreign_cpu_pct=%.1f\n",
               s->name, flop / t[0] * 1e-9, flop / t[1] * 1e-9, flop / t[2] * 1e-9, t[0] * 1e3,
               t[1] * 1e3, t[2] * 1e3, gemm[i], cpu_conv_impl(&r.d, 0), cpu_conv_impl(&r.d, 1),
               cpu_conv_impl(&r.d, 2), g_foreign_max);
        /* the stem's backward-data is never needed in training (the input has no gradient) */
        double step_t = t[0] + t[2] + (i == 0 ? 0 : t[1]);
        total_t += s->uses * step_t;
        total_flop += s->uses * flop * (i == 0 ? 2 : 3);
        b->ops->plan_free(b->ctx, r.d.plan);
        Tensor *all[] = {&r.x, &r.w, &r.y, &r.dy, &r.dx, &r.dw};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) b->ops->tensor_free(b->ctx, all[j]);
    }
    printf("convs_per_step_ms=%.2f convs_gflops=%.1f convs_only_img_per_s=%.0f\n", total_t * 1e3,
           total_flop / total_t * 1e-9, batch / total_t);
}

/* ---- Winograd against direct, 3x3 stride 1, the basis of the backend's choice ------------- */

static void bench_wino(Backend *b, int batch, int reps) {
    static const int shapes[][2] = {   /* channels, side */
        {16, 32}, {32, 32}, {64, 32}, {160, 32},
        {32, 16}, {64, 16}, {128, 16}, {320, 16},
        {16, 8}, {64, 8}, {256, 8}, {640, 8}, {512, 4},
    };
    CpuCtx *ctx = b->ctx;
    int keep = ctx->conv_alg;
    printf("# 3x3 stride-1 convolutions, batch %d: ms direct / Winograd per direction\n", batch);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        int c = shapes[i][0], h = shapes[i][1];
        double flop = 2.0 * batch * c * h * h * (double)c * 9;
        int nb = batch;
        if (flop > 40e9) nb = (int)(batch * 40e9 / flop) < 2 ? 2 : (int)(batch * 40e9 / flop);
        ConvRun r;
        memset(&r, 0, sizeof r);
        r.b = b;
        r.d = (ConvDesc){.c_in = c, .c_out = c, .kh = 3, .kw = 3, .stride = 1, .pad = 1};
        r.x = tnew(b, nb, c, h, h, DT_F32, -1, 1, 1);
        r.w = tnew(b, c, c, 3, 3, DT_F32, -0.1f, 0.1f, 2);
        r.y = tnew(b, nb, c, h, h, DT_F32, 0, 0, 0);
        r.dx = tnew(b, nb, c, h, h, DT_F32, 0, 0, 0);
        r.dw = tnew(b, c, c, 3, 3, DT_F32, 0, 0, 0);
        r.dy = tnew(b, nb, c, h, h, DT_F32, -1, 1, 3);
        die_if(cpu_relayout(b->ctx, &r.x, cpu_preferred_layout(&r.x)), "relayout");
        die_if(cpu_relayout(b->ctx, &r.dy, cpu_preferred_layout(&r.dy)), "relayout");
        double t[2][3];
        g_foreign_max = 0;
        for (int alg = 0; alg < 2; alg++) {
            ctx->conv_alg = alg ? CPU_CONV_WINOGRAD : CPU_CONV_DIRECT;
            for (int dir = 0; dir < 3; dir++) {
                r.dir = dir;
                t[alg][dir] = time_reps(reps, conv_call, &r);
            }
        }
        printf("wino c=%d side=%d batch=%d fwd_ms=%.2f/%.2f bwd_data_ms=%.2f/%.2f "
               "bwd_weights_ms=%.2f/%.2f speedup=%.2f,%.2f,%.2f foreign_cpu_pct=%.1f\n", c, h, nb,
               t[0][0] * 1e3, t[1][0] * 1e3, t[0][1] * 1e3, t[1][1] * 1e3, t[0][2] * 1e3,
               t[1][2] * 1e3, t[0][0] / t[1][0], t[0][1] / t[1][1], t[0][2] / t[1][2],
               g_foreign_max);
        b->ops->plan_free(b->ctx, r.d.plan);
        Tensor *all[] = {&r.x, &r.w, &r.y, &r.dy, &r.dx, &r.dw};
        for (size_t j = 0; j < sizeof all / sizeof all[0]; j++) b->ops->tensor_free(b->ctx, all[j]);
    }
    ctx->conv_alg = keep;
}

/* ---- bf16 convolution kernels alone (the ceiling of --precision bf16) ---------------------- */

#ifdef SHORTCUT_WITH_DNNL
#include <oneapi/dnnl/dnnl.h>

#define DN(call) do { dnnl_status_t s__ = (call); if (s__ != dnnl_success) { \
    fprintf(stderr, "bench_ops: %s failed (%d)\n", #call, (int)s__); exit(1); } } while (0)

typedef struct Bf16Run {
    dnnl_stream_t stream;
    dnnl_primitive_t prim;
    dnnl_exec_arg_t args[5];
    int nargs;
} Bf16Run;

static Status bf16_call(void *arg) {
    Bf16Run *r = arg;
    if (dnnl_primitive_execute(r->prim, r->stream, r->nargs, r->args) != dnnl_success ||
        dnnl_stream_wait(r->stream) != dnnl_success)
        return status_fail(ST_ERR_DEVICE, "bf16 convolution failed");
    return ST_OK;
}

static dnnl_memory_t bf16_mem(dnnl_engine_t eng, dnnl_primitive_desc_t pd, dnnl_query_t q) {
    dnnl_memory_t m;
    DN(dnnl_memory_create(&m, dnnl_primitive_desc_query_md(pd, q, 0), eng, DNNL_MEMORY_ALLOCATE));
    void *h;
    DN(dnnl_memory_get_data_handle(m, &h));
    memset(h, 0, dnnl_memory_desc_get_size(dnnl_primitive_desc_query_md(pd, q, 0)));
    return m;
}

/* Median times (s) of the three directions of one shape in bf16 at `batch`. */
static void bf16_shape(dnnl_engine_t eng, dnnl_stream_t stream, const Shape *s, int batch,
                       int reps, double t[3], const char *impl[3]) {
    int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
    dnnl_memory_desc_t src, wt, dst, wt_f32;
    dnnl_dims_t sd = {batch, s->cin, s->h, s->h}, wd = {s->cout, s->cin, s->k, s->k};
    dnnl_dims_t dd = {batch, s->cout, ho, ho};
    DN(dnnl_memory_desc_init_by_tag(&src, 4, sd, dnnl_bf16, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&wt, 4, wd, dnnl_bf16, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&wt_f32, 4, wd, dnnl_f32, dnnl_format_tag_any));
    DN(dnnl_memory_desc_init_by_tag(&dst, 4, dd, dnnl_bf16, dnnl_format_tag_any));
    dnnl_dims_t st = {s->stride, s->stride}, pd_ = {s->pad, s->pad};
    dnnl_convolution_desc_t fd, bd, wdsc;
    DN(dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, dnnl_convolution_direct,
                                          &src, &wt, NULL, &dst, st, pd_, pd_));
    DN(dnnl_convolution_backward_data_desc_init(&bd, dnnl_convolution_direct, &src, &wt, &dst,
                                                st, pd_, pd_));
    DN(dnnl_convolution_backward_weights_desc_init(&wdsc, dnnl_convolution_direct, &src,
                                                   &wt_f32, NULL, &dst, st, pd_, pd_));
    dnnl_primitive_desc_t pds[3];
    DN(dnnl_primitive_desc_create(&pds[0], &fd, NULL, eng, NULL));
    DN(dnnl_primitive_desc_create(&pds[1], &bd, NULL, eng, pds[0]));
    DN(dnnl_primitive_desc_create(&pds[2], &wdsc, NULL, eng, pds[0]));
    static const dnnl_query_t q[3][3] = {
        {dnnl_query_src_md, dnnl_query_weights_md, dnnl_query_dst_md},
        {dnnl_query_diff_dst_md, dnnl_query_weights_md, dnnl_query_diff_src_md},
        {dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md}};
    static const int a[3][3] = {
        {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST},
        {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC},
        {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}};
    for (int dir = 0; dir < 3; dir++) {
        Bf16Run r = {.stream = stream, .nargs = 3};
        DN(dnnl_primitive_create(&r.prim, pds[dir]));
        const char *name = NULL;
        DN(dnnl_primitive_desc_query(pds[dir], dnnl_query_impl_info_str, 0, &name));
        impl[dir] = name && strncmp(name, "jit_bf16", 8) == 0 ? "jit_bf16" : name ? name : "?";
        for (int j = 0; j < 3; j++)
            r.args[j] = (dnnl_exec_arg_t){a[dir][j], bf16_mem(eng, pds[dir], q[dir][j])};
        t[dir] = time_reps(reps, bf16_call, &r);
        for (int j = 0; j < 3; j++) dnnl_memory_destroy(r.args[j].memory);
        dnnl_primitive_destroy(r.prim);
    }
    for (int dir = 0; dir < 3; dir++) dnnl_primitive_desc_destroy(pds[dir]);
}

/* Each resnet20 shape, then the wide 3x3 layers of WRN (batch cut as in bench_wino, so the
 * fp32 figures of `--only wino` compare), with bf16 activations and weights (f32 weight
 * gradients, as mixed precision training keeps them), oneDNN choosing every format, direct
 * algorithm (oneDNN has no bf16 Winograd). */
static void bench_bf16(int batch, int reps) {
    dnnl_engine_t eng;
    dnnl_stream_t stream;
    DN(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DN(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));
    printf("# bf16 convolutions, batch %d (bf16 data and weights, f32 weight gradients)\n", batch);
    double total_t = 0, total_flop = 0, t[3];
    const char *impl[3];
    for (size_t i = 0; i < N_SHAPES; i++) {
        const Shape *s = &RESNET20[i];
        int ho = conv_out_size(s->h, s->k, s->stride, s->pad);
        double flop = 2.0 * batch * s->cout * ho * ho * (double)s->cin * s->k * s->k;
        g_foreign_max = 0;
        bf16_shape(eng, stream, s, batch, reps, t, impl);
        printf("bf16 conv=\"%s\" fwd_gflops=%.1f bwd_data_gflops=%.1f bwd_weights_gflops=%.1f "
               "impl=%s,%s,%s foreign_cpu_pct=%.1f\n", s->name, flop / t[0] * 1e-9,
               flop / t[1] * 1e-9, flop / t[2] * 1e-9, impl[0], impl[1], impl[2], g_foreign_max);
        double step_t = t[0] + t[2] + (i == 0 ? 0 : t[1]);
        total_t += s->uses * step_t;
        total_flop += s->uses * flop * (i == 0 ? 2 : 3);
    }
    printf("bf16 convs_per_step_ms=%.2f convs_gflops=%.1f\n", total_t * 1e3,
           total_flop / total_t * 1e-9);
    static const int wide[][2] = {{160, 32}, {320, 16}, {640, 8}};   /* WRN-28-10 */
    for (size_t i = 0; i < sizeof wide / sizeof wide[0]; i++) {
        int c = wide[i][0], h = wide[i][1];
        double flop = 2.0 * batch * c * h * h * (double)c * 9;
        int nb = flop > 40e9 ? (int)(batch * 40e9 / flop) : batch;
        if (nb < 2) nb = 2;
        flop = 2.0 * nb * c * h * h * (double)c * 9;
        Shape s = {"wide", c, h, c, 3, 1, 1, 1};
        g_foreign_max = 0;
        bf16_shape(eng, stream, &s, nb, reps, t, impl);
        printf("bf16 wide c=%d side=%d batch=%d fwd_ms=%.2f bwd_data_ms=%.2f bwd_weights_ms=%.2f "
               "gflops=%.0f,%.0f,%.0f foreign_cpu_pct=%.1f\n", c, h, nb, t[0] * 1e3, t[1] * 1e3,
               t[2] * 1e3, flop / t[0] * 1e-9, flop / t[1] * 1e-9, flop / t[2] * 1e-9,
               g_foreign_max);
    }
    dnnl_stream_destroy(stream);
    dnnl_engine_destroy(eng);
}
#endif

/* ---- memory-bound ops ---------------------------------------------------------------------- */

typedef struct OpRun {
    Backend *b;
    Tensor x, y, dy, dx, g, be, rm, rv, sm, si, dg, db, mask;
    int which;
} OpRun;

static Status op_call(void *arg) {
    OpRun *r = arg;
    const BackendOps *o = r->b->ops;
    void *c = r->b->ctx;
    switch (r->which) {
    case 0: return o->batchnorm_forward_train(c, &r->x, &r->g, &r->be, &r->rm, &r->rv, 0.1f,
                                              1e-5f, &r->y, &r->sm, &r->si);
    case 1: return o->batchnorm_backward(c, &r->x, &r->dy, &r->g, &r->sm, &r->si, &r->dx, &r->dg,
                                         &r->db);
    case 2: return o->relu_forward(c, &r->x, &r->y);
    case 3: return o->relu_backward(c, &r->x, &r->dy, &r->dx);
    case 4: return o->add(c, &r->x, &r->dy, &r->y);
    case 5: return o->accumulate(c, &r->y, &r->x);
    case 6: return o->copy(c, &r->y, &r->x);
    case 7: return o->dropout_forward(c, 0.3f, 0, 42, &r->x, &r->y, &r->mask);
    default: return o->dropout_backward(c, 0.3f, &r->mask, &r->dy, &r->dx);
    }
}

static void bench_ops(Backend *b, int batch, int reps) {
    static const char *names[] = {"batchnorm_forward_train", "batchnorm_backward", "relu_forward",
                                  "relu_backward", "add", "accumulate", "copy", "dropout_forward",
                                  "dropout_backward"};
    /* tensor passes of minimal traffic (a U8 mask counts a quarter) */
    static const double touches[] = {3, 5, 2, 3, 3, 3, 2, 2.25, 2.25};
    OpRun r;
    memset(&r, 0, sizeof r);
    r.b = b;
    int c = 16, h = 32;
    r.x = tnew(b, batch, c, h, h, DT_F32, -1, 2, 4);
    r.dy = tnew(b, batch, c, h, h, DT_F32, -1, 1, 5);
    r.y = tnew(b, batch, c, h, h, DT_F32, 0, 0, 0);
    r.dx = tnew(b, batch, c, h, h, DT_F32, 0, 0, 0);
    r.mask = tnew(b, batch, c, h, h, DT_U8, 0, 0, 0);
    die_if(cpu_relayout(b->ctx, &r.x, cpu_preferred_layout(&r.x)), "relayout");
    die_if(cpu_relayout(b->ctx, &r.dy, cpu_preferred_layout(&r.dy)), "relayout");
    Tensor *vec[] = {&r.g, &r.be, &r.rm, &r.rv, &r.sm, &r.si, &r.dg, &r.db};
    for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++)
        *vec[i] = tnew(b, 1, c, 1, 1, DT_F32, 0.5f, 1.5f, 6 + i);
    double bytes = (double)tensor_bytes(&r.x);
    printf("# memory-bound ops on (%d, %d, %d, %d) blocked, %.1f MB per tensor\n", batch, c, h, h,
           bytes / 1e6);
    for (int w = 0; w < 9; w++) {
        r.which = w;
        g_foreign_max = 0;
        double t = time_reps(reps, op_call, &r);
        printf("op=%s ms=%.3f gb_per_s=%.1f foreign_cpu_pct=%.1f\n", names[w], t * 1e3,
               touches[w] * bytes / t * 1e-9, g_foreign_max);
    }
    Tensor *all[] = {&r.x, &r.y, &r.dy, &r.dx, &r.g, &r.be, &r.rm, &r.rv, &r.sm, &r.si, &r.dg,
                     &r.db, &r.mask};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) b->ops->tensor_free(b->ctx, all[i]);
}

/* ---- whole training step, with a timing shim ----------------------------------------------- */

enum { K_CONV_F, K_CONV_BD, K_CONV_BW, K_BN_F, K_BN_B, K_BNR_F, K_BNR_B, K_BNAR_F, K_BNAR_B,
       K_RELU_F, K_RELU_B, K_ADD, K_ACC, K_COPY, K_POOL_F, K_POOL_B, K_LINEAR, K_XENT, K_SGD,
       K_KINDS };
static const char *KIND_NAMES[K_KINDS] = {
    "conv_fwd", "conv_bwd_data", "conv_bwd_weights", "bn_fwd", "bn_bwd", "bn_relu_fwd",
    "bn_relu_bwd", "bn_add_relu_fwd", "bn_add_relu_bwd", "relu_fwd", "relu_bwd", "add",
    "accumulate", "copy", "pool_fwd", "pool_bwd", "linear", "softmax_xent", "sgd"};
static double g_kind_s[K_KINDS];
static const BackendOps *g_inner;

#define TIMED(kind, call) do { double t0__ = now_s(); Status st__ = (call); \
    g_kind_s[kind] += now_s() - t0__; return st__; } while (0)

static Status sh_conv_f(void *c, ConvDesc *d, const Tensor *x, const Tensor *w, const Tensor *b,
                        Tensor *y) { TIMED(K_CONV_F, g_inner->conv2d_forward(c, d, x, w, b, y)); }
static Status sh_conv_bd(void *c, ConvDesc *d, const Tensor *dy, const Tensor *w, Tensor *dx) {
    TIMED(K_CONV_BD, g_inner->conv2d_backward_data(c, d, dy, w, dx));
}
static Status sh_conv_bw(void *c, ConvDesc *d, const Tensor *x, const Tensor *dy, Tensor *dw,
                         Tensor *db) {
    TIMED(K_CONV_BW, g_inner->conv2d_backward_filter(c, d, x, dy, dw, db));
}
static Status sh_bn_f(void *c, const Tensor *x, const Tensor *g, const Tensor *b, Tensor *rm,
                      Tensor *rv, float mom, float eps, Tensor *y, Tensor *sm, Tensor *si) {
    TIMED(K_BN_F, g_inner->batchnorm_forward_train(c, x, g, b, rm, rv, mom, eps, y, sm, si));
}
static Status sh_bn_b(void *c, const Tensor *x, const Tensor *dy, const Tensor *g,
                      const Tensor *sm, const Tensor *si, Tensor *dx, Tensor *dg, Tensor *db) {
    TIMED(K_BN_B, g_inner->batchnorm_backward(c, x, dy, g, sm, si, dx, dg, db));
}
static Status sh_bnr_f(void *c, const Tensor *x, const Tensor *g, const Tensor *b, Tensor *rm,
                       Tensor *rv, float mom, float eps, Tensor *y, Tensor *sm, Tensor *si) {
    TIMED(K_BNR_F, g_inner->batchnorm_relu_forward_train(c, x, g, b, rm, rv, mom, eps, y, sm, si));
}
static Status sh_bnr_b(void *c, const Tensor *x, const Tensor *y, const Tensor *dy,
                       const Tensor *g, const Tensor *b, const Tensor *sm, const Tensor *si,
                       Tensor *dx, Tensor *dg, Tensor *db) {
    TIMED(K_BNR_B, g_inner->batchnorm_relu_backward(c, x, y, dy, g, b, sm, si, dx, dg, db));
}
static Status sh_bnar_f(void *c, const Tensor *x, const Tensor *r, const Tensor *g,
                        const Tensor *b, Tensor *rm, Tensor *rv, float mom, float eps, Tensor *y,
                        Tensor *sm, Tensor *si) {
    TIMED(K_BNAR_F,
          g_inner->batchnorm_add_relu_forward_train(c, x, r, g, b, rm, rv, mom, eps, y, sm, si));
}
static Status sh_bnar_b(void *c, const Tensor *x, const Tensor *y, const Tensor *dy,
                        const Tensor *dy2, const Tensor *g, const Tensor *sm, const Tensor *si,
                        Tensor *dx, Tensor *dr, Tensor *dg, Tensor *db) {
    TIMED(K_BNAR_B,
          g_inner->batchnorm_add_relu_backward(c, x, y, dy, dy2, g, sm, si, dx, dr, dg, db));
}
static Status sh_relu_f(void *c, const Tensor *x, Tensor *y) {
    TIMED(K_RELU_F, g_inner->relu_forward(c, x, y));
}
static Status sh_relu_b(void *c, const Tensor *y, const Tensor *dy, Tensor *dx) {
    TIMED(K_RELU_B, g_inner->relu_backward(c, y, dy, dx));
}
static Status sh_add(void *c, const Tensor *a, const Tensor *b, Tensor *y) {
    TIMED(K_ADD, g_inner->add(c, a, b, y));
}
static Status sh_acc(void *c, Tensor *y, const Tensor *x) {
    TIMED(K_ACC, g_inner->accumulate(c, y, x));
}
static Status sh_copy(void *c, Tensor *d, const Tensor *s) {
    TIMED(K_COPY, g_inner->copy(c, d, s));
}
static Status sh_pool_f(void *c, PoolDesc *d, const Tensor *x, Tensor *y, Tensor *idx) {
    TIMED(K_POOL_F, g_inner->pool2d_forward(c, d, x, y, idx));
}
static Status sh_pool_b(void *c, PoolDesc *d, const Tensor *x, const Tensor *y, const Tensor *idx,
                        const Tensor *dy, Tensor *dx) {
    TIMED(K_POOL_B, g_inner->pool2d_backward(c, d, x, y, idx, dy, dx));
}
static Status sh_lin_f(void *c, const Tensor *x, const Tensor *w, const Tensor *b, Tensor *y) {
    TIMED(K_LINEAR, g_inner->linear_forward(c, x, w, b, y));
}
static Status sh_lin_b(void *c, const Tensor *x, const Tensor *w, const Tensor *dy, Tensor *dx,
                       Tensor *dw, Tensor *db) {
    TIMED(K_LINEAR, g_inner->linear_backward(c, x, w, dy, dx, dw, db));
}
static Status sh_xent(void *c, const Tensor *z, const Tensor *l, float s, Tensor *loss, Tensor *p,
                      Tensor *pr, Tensor *dz) {
    TIMED(K_XENT, g_inner->softmax_xent(c, z, l, s, loss, p, pr, dz));
}
static Status sh_sgd(void *c, int n, Tensor *const *p, Tensor *const *g, Tensor *const *m,
                     const SgdParams *sp) {
    TIMED(K_SGD, g_inner->sgd_update(c, n, p, g, m, sp));
}

/* unfused: without the fused ops (batchnorm + relu, batchnorm + add + relu), so the model
 * runs the layers one by one */
static BackendOps shim_ops(const BackendOps *inner, int unfused) {
    g_inner = inner;
    BackendOps o = *inner;
    if (unfused || !inner->batchnorm_relu_forward_train) {
        o.batchnorm_relu_forward_train = NULL;
        o.batchnorm_relu_forward_infer = NULL;
        o.batchnorm_relu_backward = NULL;
    } else {
        o.batchnorm_relu_forward_train = sh_bnr_f;
        o.batchnorm_relu_backward = sh_bnr_b;
    }
    if (unfused || !inner->batchnorm_add_relu_forward_train) {
        o.batchnorm_add_relu_forward_train = NULL;
        o.batchnorm_add_relu_forward_infer = NULL;
        o.batchnorm_add_relu_backward = NULL;
    } else {
        o.batchnorm_add_relu_forward_train = sh_bnar_f;
        o.batchnorm_add_relu_backward = sh_bnar_b;
    }
    o.conv2d_forward = sh_conv_f;
    o.conv2d_backward_data = sh_conv_bd;
    o.conv2d_backward_filter = sh_conv_bw;
    o.batchnorm_forward_train = sh_bn_f;
    o.batchnorm_backward = sh_bn_b;
    o.relu_forward = sh_relu_f;
    o.relu_backward = sh_relu_b;
    o.add = sh_add;
    o.accumulate = sh_acc;
    o.copy = sh_copy;
    o.pool2d_forward = sh_pool_f;
    o.pool2d_backward = sh_pool_b;
    o.linear_forward = sh_lin_f;
    o.linear_backward = sh_lin_b;
    o.softmax_xent = sh_xent;
    o.sgd_update = sh_sgd;
    return o;
}

static Status train_step(Backend *b, Model *m, const Tensor *x, const Tensor *labels,
                         Tensor *loss, Tensor *pred, Tensor *prob, Tensor *dz, int count,
                         Tensor **ps, Tensor **gs, Tensor **ms, int step_no) {
    const Tensor *logits;
    TRY(model_forward(m, x, 1, (uint64_t)step_no, &logits));
    TRY(b->ops->softmax_xent(b->ctx, logits, labels, 0.0f, loss, pred, prob, dz));
    TRY(model_backward(m, dz));
    SgdParams sp = {.lr = 0.1f, .momentum = 0.9f, .weight_decay = 5e-4f,
                    .first_step = step_no == 0};
    return b->ops->sgd_update(b->ctx, count, ps, gs, ms, &sp);
}

static void bench_step(Backend *inner, int batch, int steps, int windows, int unfused) {
    BackendOps shim = shim_ops(inner->ops, unfused);
    Backend sb = {&shim, inner->ctx};
    Backend *b = &sb;
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.family = FAMILY_RESNET_CIFAR;
    mc.depth = 20;
    mc.shortcut = SHORTCUT_CONV1X1;
    mc.num_classes = 10;
    Model *m;
    die_if(model_build(&mc, 10, 32, b, 1, &m), "model_build");
    Tensor x = tnew(b, batch, 3, 32, 32, DT_F32, -2, 2, 11);
    Tensor labels = tnew(b, batch, 1, 1, 1, DT_I32, 0, 0, 0);
    int32_t *hl = malloc(sizeof(int32_t) * (size_t)batch);
    if (!hl) die_if(ST_ERR_OOM, "labels");
    for (int i = 0; i < batch; i++) hl[i] = (int32_t)rng_below(3, 3, (uint64_t)i, 10);
    die_if(b->ops->upload(b->ctx, &labels, hl), "upload labels");
    free(hl);
    Tensor loss = tnew(b, batch, 1, 1, 1, DT_F32, 0, 0, 0);
    Tensor pred = tnew(b, batch, 1, 1, 1, DT_I32, 0, 0, 0);
    Tensor prob = tnew(b, batch, 1, 1, 1, DT_F32, 0, 0, 0);
    Tensor dz = tnew(b, batch, 10, 1, 1, DT_F32, 0, 0, 0);
    int np = model_param_count(m), count = 0;
    Tensor **ps = calloc((size_t)np, sizeof *ps), **gs = calloc((size_t)np, sizeof *gs);
    Tensor **ms = calloc((size_t)np, sizeof *ms);
    if (!ps || !gs || !ms) die_if(ST_ERR_OOM, "param lists");
    for (int i = 0; i < np; i++) {
        Param *p = model_param(m, i);
        if (p->kind == PARAM_BUFFER) continue;
        tensor_shape(&p->momentum, p->value.n, p->value.c, p->value.h, p->value.w, DT_F32);
        die_if(b->ops->tensor_alloc(b->ctx, &p->momentum), "momentum");
        die_if(b->ops->fill(b->ctx, &p->momentum, 0.0f), "fill");
        ps[count] = &p->value;
        gs[count] = &p->grad;
        ms[count] = &p->momentum;
        count++;
    }
    /* Windows of `steps` steps; only windows in which other processes used at most
     * QUIET_PCT of the CPUs count, until `windows` of them are in (or 10x as many tried). */
    double *rate = malloc(sizeof(double) * (size_t)windows * 10);
    float *hloss = malloc(sizeof(float) * (size_t)batch);
    if (!rate || !hloss) die_if(ST_ERR_OOM, "times");
    double kind_quiet[K_KINDS] = {0}, quiet_s = 0, foreign_max = 0;
    float first_loss = 0, last_loss = 0;
    int quiet = 0, tried = 0, step_no = 0;
    for (int wu = 0; wu < 3; wu++) die_if(train_step(b, m, &x, &labels, &loss, &pred, &prob, &dz,
                                                    count, ps, gs, ms, step_no++), "warm-up step");
    die_if(b->ops->download(b->ctx, &loss, hloss), "download loss");
    first_loss = hloss[0];
    while (quiet < windows && tried < windows * 10) {
        double kind0[K_KINDS];
        memcpy(kind0, g_kind_s, sizeof kind0);
        CpuLoadSample l = load_start();
        double t0 = now_s();
        for (int s = 0; s < steps; s++)
            die_if(train_step(b, m, &x, &labels, &loss, &pred, &prob, &dz, count, ps, gs, ms,
                              step_no++), "step");
        double dt = now_s() - t0, f = load_foreign_pct(l);
        tried++;
        if (f > QUIET_PCT) continue;
        if (f > foreign_max) foreign_max = f;
        rate[quiet++] = batch * steps / dt;
        quiet_s += dt;
        for (int k = 0; k < K_KINDS; k++) kind_quiet[k] += g_kind_s[k] - kind0[k];
    }
    die_if(b->ops->download(b->ctx, &loss, hloss), "download loss");
    last_loss = hloss[0];
    double macs = (double)model_total_macs(m);
    printf("# resnet20 training step, batch %d: %d quiet windows of %d steps (of %d tried)\n",
           batch, quiet, steps, tried);
    if (quiet == 0) {
        printf("step img_per_s=nan (the machine was never quiet; rerun later)\n");
    } else {
        double lo = rate[0], hi = rate[0];
        for (int i = 1; i < quiet; i++) {
            lo = fmin(lo, rate[i]);
            hi = fmax(hi, rate[i]);
        }
        double med = median(rate, quiet);
        double steps_done = (double)quiet * steps;
        printf("step img_per_s=%.1f min=%.1f max=%.1f ms_per_step=%.2f eff_gflops=%.1f "
               "loss_first=%.4f loss_last=%.4f foreign_cpu_pct_max=%.1f\n", med, lo, hi,
               batch / med * 1e3, 6.0 * macs * med * 1e-9, (double)first_loss,
               (double)last_loss, foreign_max);
        double accounted = 0;
        for (int k = 0; k < K_KINDS; k++) {
            accounted += kind_quiet[k];
            if (kind_quiet[k] > 0)
                printf("  part=%s ms_per_step=%.2f share=%.1f%%\n", KIND_NAMES[k],
                       kind_quiet[k] / steps_done * 1e3, 100.0 * kind_quiet[k] / quiet_s);
        }
        printf("  part=other ms_per_step=%.2f share=%.1f%%\n",
               (quiet_s - accounted) / steps_done * 1e3, 100.0 * (quiet_s - accounted) / quiet_s);
    }
    free(rate);
    free(hloss);
    free(ps);
    free(gs);
    free(ms);
    Tensor *all[] = {&x, &labels, &loss, &pred, &prob, &dz};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) b->ops->tensor_free(b->ctx, all[i]);
    model_destroy(m);
}

int main(int argc, char **argv) {
    int threads = 0, batch = 128, reps = 15, steps = 8, windows = 7;
    const char *only = NULL, *alg = NULL, *precision = NULL;
    int unfused = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--threads") == 0) threads = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0) batch = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--reps") == 0) reps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--steps") == 0) steps = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--windows") == 0) windows = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--only") == 0) only = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--alg") == 0) alg = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--precision") == 0) precision = argv[++i];
        else if (strcmp(argv[i], "--unfused") == 0) unfused = 1;
        else {
            fprintf(stderr, "usage: bench_ops [--threads N] [--batch N] [--reps N] [--steps N] "
                            "[--windows N] [--only convs|ops|step|wino|bf16]\n"
                            "                 [--alg direct|auto|winograd|rule] "
                            "[--precision fp32|bf16|bf16-all] [--unfused]\n");
            return 2;
        }
    }
    if (batch < 2 || reps < 1 || steps < 1 || windows < 1) {
        fprintf(stderr, "bench_ops: batch must be >= 2, reps, steps and windows >= 1\n");
        return 2;
    }
    double gemm[N_SHAPES];
    int nthreads = threads > 0 ? threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (!only || strcmp(only, "convs") == 0) sgemm_ceilings(batch, reps, nthreads, gemm);
    Backend b;
    die_if(backend_cpu_create(threads, &b), "backend_cpu_create");
    if (alg) {
        CpuCtx *ctx = b.ctx;
        if (strcmp(alg, "direct") == 0) ctx->conv_alg = CPU_CONV_DIRECT;
        else if (strcmp(alg, "auto") == 0) ctx->conv_alg = CPU_CONV_AUTO;
        else if (strcmp(alg, "winograd") == 0) ctx->conv_alg = CPU_CONV_WINOGRAD;
        else if (strcmp(alg, "rule") == 0) ctx->conv_alg = CPU_CONV_RULE;
        else {
            fprintf(stderr, "bench_ops: --alg must be direct, auto, winograd or rule\n");
            return 2;
        }
    }
    if (precision) {
        CpuCtx *ctx = b.ctx;
        int all = strcmp(precision, "bf16-all") == 0;
        if (!all && strcmp(precision, "bf16") != 0 && strcmp(precision, "fp32") != 0) {
            fprintf(stderr, "bench_ops: --precision must be fp32, bf16 or bf16-all\n");
            return 2;
        }
        die_if(b.ops->set_precision(b.ctx, strcmp(precision, "fp32") ? PRECISION_BF16
                                                                      : PRECISION_FP32, 0),
               "set_precision");
        if (all && ctx->bf16 == CPU_BF16_OFF) {
            fprintf(stderr, "bench_ops: this CPU has no bf16 kernels: %s\n",
                    b.ops->describe(b.ctx));
            return 2;
        }
        if (all) ctx->bf16 = CPU_BF16_ALL;
    }
    printf("# %s, convolution algorithm %d, bf16 rule %d\n", b.ops->describe(b.ctx),
           ((CpuCtx *)b.ctx)->conv_alg, ((CpuCtx *)b.ctx)->bf16);
    if (!only || strcmp(only, "convs") == 0) bench_convs(&b, batch, reps, gemm);
    if (only && strcmp(only, "wino") == 0) bench_wino(&b, batch, reps);
#ifdef SHORTCUT_WITH_DNNL
    if (only && strcmp(only, "bf16") == 0) bench_bf16(batch, reps);
#endif
    if (!only || strcmp(only, "ops") == 0) bench_ops(&b, batch, reps);
    if (!only || strcmp(only, "step") == 0) bench_step(&b, batch, steps, windows, unfused);
    backend_destroy(&b);
    return 0;
}
