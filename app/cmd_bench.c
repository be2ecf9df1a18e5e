/* cmd_bench.c — `shortcut bench`: training and inference throughput of a config's model.
 *
 * Measures the engine, not the data pipeline, the same way ../shared/bench/torch_reference.py
 * measures PyTorch: one fixed random batch reused every iteration, warm-up iterations, then
 * timed windows; the reported img_per_s is the median over windows. Training = forward +
 * cross-entropy + backward + SGD (momentum 0.9, wd 5e-4). Output: one key=value line per mode.
 * With train.deterministic set, each mode is measured a second time without it, and the line
 * gives the cost of determinism (on the CPU backend, whose kernels are deterministic anyway,
 * about zero; on CUDA, the price of cuDNN's deterministic algorithms). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "augment.h"
#include "backend.h"
#include "cli.h"
#include "cpushare.h"
#include "model.h"
#include "rng.h"

static void usage(FILE *f) {
    fprintf(f, "usage: shortcut bench [CONFIG.yaml] [--batch N] [--threads N] [--windows N]\n"
               "                      [--window-seconds S] [--mode train|infer|both] [--set k=v]...\n"
               "\nPrints one line per mode: mode=train|infer model= batch= threads= img_per_s=\n"
               "(median over windows) min= max= ms_per_iter= eff_gflops= deterministic=\n"
               "foreign_cpu_pct= (the most other programs used of the CPUs in any window) device=.\n"
               "With --set train.deterministic=true, also nondeterministic_img_per_s= and\n"
               "deterministic_cost_pct= (the speed given up for bit-identical reruns).\n");
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct Bench {
    Backend *b;
    Model *m;
    Tensor x, labels, loss, pred, prob, dlogits;
    Tensor **params, **grads, **moms;
    int count;
    int first;
} Bench;

static Status bench_iter(Bench *bn, int train) {
    const BackendOps *o = bn->b->ops;
    void *ctx = bn->b->ctx;
    const Tensor *logits;
    TRY(model_forward(bn->m, &bn->x, train, 1234, &logits));
    if (!train) return ST_OK;
    TRY(o->softmax_xent(ctx, logits, &bn->labels, 0.0f, &bn->loss, &bn->pred, &bn->prob, &bn->dlogits));
    TRY(model_backward(bn->m, &bn->dlogits));
    SgdParams sp = {.lr = 0.01f, .momentum = 0.9f, .weight_decay = 5e-4f, .first_step = bn->first};
    bn->first = 0;
    return o->sgd_update(ctx, bn->count, bn->params, bn->grads, bn->moms, &sp);
}

static Status bench_setup(Bench *bn, int batch, int side, int classes) {
    const BackendOps *o = bn->b->ops;
    void *ctx = bn->b->ctx;
    tensor_shape(&bn->x, batch, 3, side, side, DT_F32);
    tensor_shape(&bn->labels, batch, 1, 1, 1, DT_I32);
    tensor_shape(&bn->loss, batch, 1, 1, 1, DT_F32);
    tensor_shape(&bn->pred, batch, 1, 1, 1, DT_I32);
    tensor_shape(&bn->prob, batch, 1, 1, 1, DT_F32);
    tensor_shape(&bn->dlogits, batch, classes, 1, 1, DT_F32);
    Tensor *all[] = {&bn->x, &bn->labels, &bn->loss, &bn->pred, &bn->prob, &bn->dlogits};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) TRY(o->tensor_alloc(ctx, all[i]));
    size_t nx = tensor_numel(&bn->x);
    float *hx = malloc(nx * sizeof(float));
    int32_t *hl = malloc((size_t)batch * sizeof(int32_t));
    if (!hx || !hl) { free(hx); free(hl); return status_fail(ST_ERR_OOM, "out of memory"); }
    for (size_t i = 0; i < nx; i++) hx[i] = rng_normal(7, RNG_STREAM_INIT, i);
    for (int i = 0; i < batch; i++) hl[i] = (int32_t)rng_below(7, RNG_STREAM_SHUFFLE, (uint64_t)i, (uint32_t)classes);
    Status st = o->upload(ctx, &bn->x, hx);
    if (st == ST_OK) st = o->upload(ctx, &bn->labels, hl);
    free(hx);
    free(hl);
    TRY(st);
    int n = model_param_count(bn->m);
    bn->params = calloc((size_t)n, sizeof(Tensor *));
    bn->grads = calloc((size_t)n, sizeof(Tensor *));
    bn->moms = calloc((size_t)n, sizeof(Tensor *));
    if (!bn->params || !bn->grads || !bn->moms) return status_fail(ST_ERR_OOM, "out of memory");
    for (int i = 0; i < n; i++) {
        Param *p = model_param(bn->m, i);
        if (p->kind == PARAM_BUFFER) continue;
        tensor_shape(&p->momentum, p->value.n, p->value.c, p->value.h, p->value.w, DT_F32);
        TRY(o->tensor_alloc(ctx, &p->momentum));
        TRY(o->fill(ctx, &p->momentum, 0.0f));
        bn->params[bn->count] = &p->value;
        bn->grads[bn->count] = &p->grad;
        bn->moms[bn->count] = &p->momentum;
        bn->count++;
    }
    bn->first = 1;
    return ST_OK;
}

static void bench_free(Bench *bn) {
    const BackendOps *o = bn->b->ops;
    Tensor *all[] = {&bn->x, &bn->labels, &bn->loss, &bn->pred, &bn->prob, &bn->dlogits};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) o->tensor_free(bn->b->ctx, all[i]);
    for (int i = 0; i < bn->count; i++) o->tensor_free(bn->b->ctx, bn->moms[i]);
    free(bn->params);
    free(bn->grads);
    free(bn->moms);
}

/* Wait until the backend has finished queued work: a download of a small result blocks until
 * every earlier op ran (asynchronous devices), so timings measure compute, not queueing. */
static Status bench_sync(Bench *bn) {
    float v[1];
    Tensor one = bn->loss;
    one.n = 1;
    return bn->b->ops->download(bn->b->ctx, &one, v);
}

/* Warm up, calibrate iterations per window, time `windows` windows; returns the median rate
 * and the largest share of the CPUs (%) other programs used in a window. */
static Status run_mode(Bench *bn, int train, int batch, int windows, double window_s,
                       double *median, double *lo, double *hi, double *ms_per_iter,
                       double *foreign_pct) {
    for (int i = 0; i < 2; i++) TRY(bench_iter(bn, train));
    TRY(bench_sync(bn));
    double t0 = now_s();
    TRY(bench_iter(bn, train));
    TRY(bench_sync(bn));
    double t_iter = now_s() - t0;
    int iters = (int)fmax(1.0, round(window_s / fmax(t_iter, 1e-6)));
    double *rates = malloc(sizeof(double) * (size_t)windows);
    if (!rates) return status_fail(ST_ERR_OOM, "out of memory");
    *foreign_pct = 0;
    for (int w = 0; w < windows; w++) {
        CpuLoadSample load0, load1;
        int have_load = cpuload_sample(&load0);
        double s = now_s();
        for (int i = 0; i < iters; i++) {
            Status st = bench_iter(bn, train);
            if (st != ST_OK) { free(rates); return st; }
        }
        Status st = bench_sync(bn);
        if (st != ST_OK) { free(rates); return st; }
        rates[w] = batch * iters / (now_s() - s);
        if (have_load && cpuload_sample(&load1))
            *foreign_pct = fmax(*foreign_pct, cpuload_foreign_pct(&load0, &load1));
    }
    qsort(rates, (size_t)windows, sizeof(double), cmp_double);
    *median = windows % 2 ? rates[windows / 2] : 0.5 * (rates[windows / 2 - 1] + rates[windows / 2]);
    *lo = rates[0];
    *hi = rates[windows - 1];
    *ms_per_iter = 1000.0 * batch / *median;
    free(rates);
    return ST_OK;
}

int cmd_bench(int argc, char **argv) {
    SetList sets = {0};
    const char *path = NULL, *mode = "both";
    long batch = 0, threads = 0, windows = 5;
    double window_s = 3.0;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--batch") || !strcmp(a, "--threads") || !strcmp(a, "--windows") ||
            !strcmp(a, "--window-seconds") || !strcmp(a, "--mode")) {
            if (i + 1 >= argc) return cli_usage_error("bench", "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--mode")) {
                if (strcmp(v, "train") && strcmp(v, "infer") && strcmp(v, "both"))
                    return cli_usage_error("bench", "--mode must be train, infer or both");
                mode = v;
                continue;
            }
            if (!strcmp(a, "--window-seconds")) {
                window_s = atof(v);
                if (!(window_s > 0)) return cli_usage_error("bench", "--window-seconds must be > 0");
                continue;
            }
            long x = cli_parse_long(v);
            if (x < 0) return cli_usage_error("bench", "%s must be a positive integer, got '%s'", a, v);
            if (!strcmp(a, "--batch")) batch = x;
            else if (!strcmp(a, "--threads")) threads = x;
            else windows = x;
            continue;
        }
        if (a[0] == '-') return cli_usage_error("bench", "unknown option '%s'", a);
        if (path) return cli_usage_error("bench", "more than one config given");
        path = a;
    }
    Config cfg;
    int rc = cli_load_config(path, &sets, &cfg);
    if (rc) return rc;
    if (batch <= 0) batch = cfg.train.batch_size;
    if (threads <= 0) threads = cfg.train.threads;
    if (threads <= 0) threads = sysconf(_SC_NPROCESSORS_ONLN);   /* "all cores", as the line says */
    Backend b;
    int fell_back = 0;
    Status st = backend_create(cfg.train.device, (int)threads, &b, &fell_back);
    if (st != ST_OK) return cli_fail(st);
    /* as training logs it: a bench meant for the GPU says why it measures the CPU */
    if (fell_back) fprintf(stderr, "device auto: %s; benchmarking the CPU\n", status_message());
    if (b.ops->set_precision) {
        st = b.ops->set_precision(b.ctx, (int)cfg.train.precision, cfg.train.deterministic);
        if (st != ST_OK) { backend_destroy(&b); return cli_fail(st); }
    }
    int classes = cfg.model.num_classes > 0 ? cfg.model.num_classes
                                            : (cfg.data.dataset == DATASET_CIFAR100 ? 100 : 10);
    int side = augment_out_side(&cfg.data.augment);
    Bench bn = {.b = &b};
    st = model_build(&cfg.model, classes, side, &b, cfg.train.seed, &bn.m);
    if (st == ST_OK) st = bench_setup(&bn, (int)batch, side, classes);
    if (st != ST_OK) {
        if (bn.m) bench_free(&bn);
        model_destroy(bn.m);
        backend_destroy(&b);
        return cli_fail(st);
    }
    long long macs = model_total_macs(bn.m);
    const char *modes[2] = {"train", "infer"};
    for (int k = 0; k < 2 && st == ST_OK; k++) {
        if (strcmp(mode, "both") && strcmp(mode, modes[k])) continue;
        double med = 0, lo = 0, hi = 0, ms = 0, foreign = 0, foreign2 = 0;
        st = run_mode(&bn, k == 0, (int)batch, (int)windows, window_s, &med, &lo, &hi, &ms,
                      &foreign);
        if (st != ST_OK) break;
        double flops = (k == 0 ? 6.0 : 2.0) * (double)macs * med;
        char cost[128] = "";
        if (cfg.train.deterministic && b.ops->set_precision) {
            /* the same again with the backend free to pick nondeterministic algorithms */
            double med2 = 0, lo2, hi2, ms2;
            st = b.ops->set_precision(b.ctx, (int)cfg.train.precision, 0);
            if (st == ST_OK)
                st = run_mode(&bn, k == 0, (int)batch, (int)windows, window_s, &med2, &lo2, &hi2,
                              &ms2, &foreign2);
            if (st == ST_OK)
                st = b.ops->set_precision(b.ctx, (int)cfg.train.precision, 1);
            if (st != ST_OK) break;
            snprintf(cost, sizeof cost,
                     " nondeterministic_img_per_s=%.2f deterministic_cost_pct=%.1f", med2, med2 > 0 ? 100.0 * (med2 - med) / med2 : 0.0);
        }
        foreign = fmax(foreign, foreign2);
        printf("mode=%s model=%s batch=%ld threads=%ld img_per_s=%.2f min=%.2f max=%.2f "
               "ms_per_iter=%.1f eff_gflops=%.1f params=%lld macs_per_img=%lld side=%d "
               "data=synthetic deterministic=%d%s foreign_cpu_pct=%.1f device=\"%s\"\n",
               modes[k], cfg.name[0] ? cfg.name : "model", batch, threads, med, lo, hi, ms,
               flops / 1e9, model_num_trainable(bn.m), macs, side, cfg.train.deterministic ? 1 : 0,
               cost, foreign, b.ops->describe(b.ctx));
        fflush(stdout);
        /* These machines are shared: a figure taken beside a busy program says little. */
        if (foreign > 10.0)
            fprintf(stderr, "shortcut bench: note: other programs used up to %.0f%% of the CPUs "
                    "while mode=%s was measured; its figures are likely low: measure again when "
                    "the machine is quiet\n", foreign, modes[k]);
    }
    bench_free(&bn);
    model_destroy(bn.m);
    backend_destroy(&b);
    return st == ST_OK ? 0 : cli_fail(st);
}
