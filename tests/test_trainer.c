/* test_trainer.c — the trainer and session on the built-in shapes data: interrupted-then-resumed
 * training equals uninterrupted training, a NaN loss stops with the step and lr, live edits
 * apply at the next step and are refused when invalid, and the session obeys pause / step /
 * resume / stop. The workbench's commands: the LR finder leaves the run bit-identical and
 * suggests from its sweep, a rebuild carries every tensor whose name and shape match (with its
 * momentum), restart starts over in a new directory with the edited config, and edits leave
 * markers at their step. precision: bf16 trains like fp32 (or says why it cannot). (test_quick
 * checks that learning works.) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "checkpoint.h"
#include "config.h"
#include "session.h"
#include "trainer.h"

/* A small, fast config: narrow resnet on 512 shapes images. */
static void tiny_config(Config *c) {
    config_defaults(c);
    snprintf(c->name, sizeof c->name, "tiny");
    c->data.shapes_train = 1024;
    c->data.shapes_test = 256;
    c->model.num_stages = 2;
    c->model.stem_width = 8;
    c->model.stages[0] = (StageConfig){1, 8, 1};
    c->model.stages[1] = (StageConfig){1, 16, 2};
    c->train.batch_size = 32;
    c->train.epochs = 2;
    c->train.threads = 1;
    snprintf(c->train.device, sizeof c->train.device, "cpu");
}

/* Download every parameter of a trainer's model (BN running statistics too, or only what is
 * trained: those move in every forward) into one host array. */
static float *params_of(Trainer *t, int with_buffers, size_t *count) {
    size_t total = 0;
    int n = model_param_count(t->model);
    for (int i = 0; i < n; i++)
        if (with_buffers || model_param(t->model, i)->kind != PARAM_BUFFER)
            total += tensor_numel(&model_param(t->model, i)->value);
    float *all = malloc(total * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        Param *p = model_param(t->model, i);
        if (!with_buffers && p->kind == PARAM_BUFFER) continue;
        CHECK_OK(t->backend.ops->download(t->backend.ctx, &p->value, all + off));
        off += tensor_numel(&p->value);
    }
    *count = total;
    return all;
}

static float *weights_of(Trainer *t, size_t *count) { return params_of(t, 1, count); }

/* Elements that differ between two arrays of the same length. */
static size_t differences(const float *a, const float *b, size_t n) {
    size_t diff = 0;
    for (size_t i = 0; i < n; i++) diff += a[i] != b[i];
    return diff;
}

/* Parameters and buffers that differ between two trainers' models (of one architecture). */
static size_t model_differences(Trainer *a, Trainer *b) {
    size_t na, nb;
    float *wa = weights_of(a, &na), *wb = weights_of(b, &nb);
    CHECK_INT(na, nb);
    size_t diff = differences(wa, wb, na < nb ? na : nb);
    free(wa);
    free(wb);
    return diff;
}

static void run_steps(Trainer *t, long steps) {
    for (long i = 0; i < steps; i++) {
        StepResult r;
        Status st = trainer_step(t, &r);
        CHECK_OK(st);
        if (st != ST_OK) return;
        if (r.epoch_finished) CHECK_OK(trainer_end_epoch(t, 0, 0));
    }
}

static void test_resume_equals_uninterrupted(const char *tmp) {
    Config c;
    tiny_config(&c);
    c.model.dropout = 0.0f;
    c.train.checkpoint_every = 0;
    c.train.eval_every = 0;
    char dir_a[512], dir_b[512];
    snprintf(dir_a, sizeof dir_a, "%s/a", tmp);
    snprintf(dir_b, sizeof dir_b, "%s/b", tmp);

    Trainer *a;
    CHECK_OK(trainer_create(&c, dir_a, &a));
    long spe = trainer_steps_per_epoch(a);
    long total = 2 * spe, cut = spe + 3;   /* stop in the middle of the second epoch */
    run_steps(a, total);

    Trainer *b;
    CHECK_OK(trainer_create(&c, dir_b, &b));
    run_steps(b, cut);
    CHECK_OK(trainer_save(b));
    trainer_destroy(b);
    CHECK_OK(trainer_resume(dir_b, NULL, 0, &b));
    CHECK_INT(b->global_step, cut);
    CHECK_INT(b->epoch, 1);
    CHECK_INT(b->batch_in_epoch, 3);
    run_steps(b, total - cut);

    CHECK_INT(model_differences(a, b), 0);   /* bit-identical */
    trainer_destroy(a);
    trainer_destroy(b);
}

/* Mean loss over `steps` steps and the final weights of a run with precision p. */
static double train_with_precision(Precision p, long steps, float **weights, size_t *count,
                                   char *device, size_t device_cap) {
    Config c;
    tiny_config(&c);
    c.model.stem_width = 16;   /* widths of 16 keep activations blocked: bf16 applies */
    c.model.stages[0] = (StageConfig){1, 16, 1};
    c.model.stages[1] = (StageConfig){1, 32, 2};
    c.model.dropout = 0.0f;
    c.data.shapes_train = 512;   /* a few passes over few images: the loss falls fast */
    c.train.schedule.kind = SCHEDULE_CONSTANT;
    c.train.lr = 0.05f;
    c.train.threads = 2;
    c.train.precision = p;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (!t) return NAN;
    snprintf(device, device_cap, "%s", t->device_line);
    double sum = 0;
    for (long i = 0; i < steps; i++) {
        StepResult r;
        if (trainer_step(t, &r) != ST_OK) {
            CHECK(0);
            break;
        }
        if (i >= steps / 2) sum += r.loss;   /* the second half: past the first drop */
    }
    *weights = weights_of(t, count);
    trainer_destroy(t);
    return sum / (double)(steps - steps / 2);
}

/* precision: bf16 trains like fp32 on the CPU where the CPU has bf16 kernels (and computes
 * something else: the weights differ), and says it fell back to fp32 where it has none. */
static void test_bf16_training(void) {
    float *w32, *w16;
    size_t n32, n16;
    char dev32[256], dev16[256];
    double l32 = train_with_precision(PRECISION_FP32, 96, &w32, &n32, dev32, sizeof dev32);
    double l16 = train_with_precision(PRECISION_BF16, 96, &w16, &n16, dev16, sizeof dev16);
    printf("fp32: mean loss %.4f (%s)\nbf16: mean loss %.4f (%s)\n", l32, dev32, l16, dev16);
    CHECK(strstr(dev32, ", fp32") != NULL);
    CHECK(isfinite(l16));
    CHECK(l32 < 2.25);              /* learning happened (chance: ln 10 = 2.30) */
    CHECK_NEAR(l16, l32, 0.05, 0);  /* and bf16 followed it */
    CHECK_INT(n16, n32);
    size_t diff = differences(w32, w16, n32 < n16 ? n32 : n16);
    if (strstr(dev16, ", bf16 (")) {
        CHECK(diff > n32 / 2);   /* rounded inputs change nearly every weight a little */
    } else {
        printf("bf16 not available here: %s\n", dev16);
        CHECK(strstr(dev16, ", fp32 (bf16 asked") != NULL);
        CHECK_INT(diff, 0);
    }
    free(w32);
    free(w16);
}

/* Dynamic loss scaling. Scaling by 2^k and unscaling by 2^-k are exact in fp32, so a scaled
 * run must equal an unscaled one bit for bit, losses and weights; an overflowing step must
 * leave the weights alone and halve the scale; good steps grow it; a resume keeps it. */
static Trainer *scaling_trainer(LossScaling mode, const char *dir) {
    Config c;
    tiny_config(&c);
    c.model.dropout = 0.0f;
    c.train.checkpoint_every = 0;
    c.train.eval_every = 0;
    c.train.loss_scaling = mode;
    Trainer *t = NULL;
    CHECK_OK(trainer_create(&c, dir, &t));
    return t;
}

/* The backend's all_finite with an override: the tests need an overflow on demand (at any
 * representable scale these small fp32 nets may not overflow at all). all_finite itself is
 * checked against the reference in the parity tests. */
static const BackendOps *g_real_ops;
static BackendOps g_overflow_ops;
static int g_force_overflow;

static Status overflowing_all_finite(void *ctx, int count, Tensor *const *ts, int *finite) {
    Status st = g_real_ops->all_finite(ctx, count, ts, finite);
    if (g_force_overflow) *finite = 0;
    return st;
}

static void test_loss_scaling(const char *tmp) {
    const long steps = 12;
    Trainer *plain = scaling_trainer(LOSS_SCALING_NONE, NULL);
    Trainer *scaled = scaling_trainer(LOSS_SCALING_DYNAMIC, NULL);
    if (!plain || !scaled) return;
    scaled->scaler.growth_interval = 5;   /* two growths within the run */
    long same_loss = 0;
    for (long i = 0; i < steps; i++) {
        StepResult a, b;
        CHECK_OK(trainer_step(plain, &a));
        CHECK_OK(trainer_step(scaled, &b));
        same_loss += a.loss == b.loss;
        CHECK_INT(b.skipped, 0);
        CHECK_INT(a.loss_scale_log2, 0);
        CHECK_INT(b.loss_scale_log2, 16 + (int)(i / 5));   /* 65536, then doubling */
    }
    CHECK_INT(same_loss, steps);
    CHECK_INT(scaled->scaler.log2, 18);
    CHECK_INT(model_differences(plain, scaled), 0);   /* bit-identical */

    /* Overflowing gradients: the step is skipped, weights untouched, and the scale halves;
     * at the smallest scale the run stops with the step and lr. */
    g_real_ops = scaled->backend.ops;
    g_overflow_ops = *g_real_ops;
    g_overflow_ops.all_finite = overflowing_all_finite;
    scaled->backend.ops = &g_overflow_ops;
    g_force_overflow = 1;
    size_t na, nb;
    float *before = params_of(scaled, 0, &na);
    StepResult r;
    CHECK_OK(trainer_step(scaled, &r));
    CHECK_INT(r.skipped, 1);
    CHECK_INT(r.loss_scale_log2, 18);
    CHECK_INT(scaled->scaler.log2, 17);
    CHECK_INT(scaled->scaler.skipped, 1);
    CHECK_INT(scaled->scaler.good_steps, 0);
    CHECK(isfinite(r.loss));
    float *after = params_of(scaled, 0, &nb);
    CHECK_INT(na, nb);
    CHECK_INT(differences(before, after, na), 0);   /* weights untouched by the skipped step */
    CHECK(na > 1000);
    free(before);
    free(after);
    scaled->scaler.log2 = LOSS_SCALE_MIN_LOG2;
    Status st = trainer_step(scaled, &r);
    CHECK_INT(st, ST_ERR_NUMERIC);
    CHECK(strstr(status_message(), "even at loss scale 2^-24") != NULL);
    printf("gave up: %s\n", status_message());
    g_force_overflow = 0;
    scaled->backend.ops = g_real_ops;
    trainer_destroy(plain);
    trainer_destroy(scaled);

    /* auto scales with fp16 only; a live edit turns scaling on and off. */
    Trainer *t = scaling_trainer(LOSS_SCALING_AUTO, NULL);
    if (!t) return;
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(t->scaler.active, 0);
    const char *on[] = {"train.loss_scaling=dynamic", "train.loss_scale_init=1000"};
    CHECK_OK(trainer_apply_edit(t, on, 2));
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(t->scaler.active, 1);
    CHECK_INT(r.loss_scale_log2, 10);   /* 1000 rounds to 1024 */
    const char *off[] = {"train.loss_scaling=none"};
    CHECK_OK(trainer_apply_edit(t, off, 1));
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(t->scaler.active, 0);
    CHECK_INT(r.loss_scale_log2, 0);
    trainer_destroy(t);

    /* A resume continues with the saved scale, not the configured first one. */
    char dir[512];
    snprintf(dir, sizeof dir, "%s/scaled", tmp);
    t = scaling_trainer(LOSS_SCALING_DYNAMIC, dir);
    if (!t) return;
    run_steps(t, 2);
    t->scaler.log2 = 9;
    t->scaler.good_steps = 7;
    t->scaler.skipped = 3;
    CHECK_OK(trainer_save(t));
    trainer_destroy(t);
    CHECK_OK(trainer_resume(dir, NULL, 0, &t));
    if (!t) return;
    CHECK_INT(t->scaler.active, 1);
    CHECK_INT(t->scaler.log2, 9);
    CHECK_INT(t->scaler.good_steps, 7);
    CHECK_INT(t->scaler.skipped, 3);
    trainer_destroy(t);
    const char *none[] = {"train.loss_scaling=none"};
    CHECK_OK(trainer_resume(dir, none, 1, &t));
    if (t) {
        CHECK_INT(t->scaler.active, 0);
        trainer_destroy(t);
    }
}

/* On-device augmentation: the reference backend has the augment op, so its trainer keeps the
 * training images on the backend and the loader skips the pixels; the cpu backend augments on
 * the host. Both must train on the same pixels: the same losses, step after step. */
static void test_device_augment(void) {
    Config c;
    tiny_config(&c);
    c.model.dropout = 0.0f;
    c.data.augment.cutout_holes = 1;
    c.data.augment.cutout_size = 8;
    Trainer *host, *dev;
    CHECK_OK(trainer_create(&c, NULL, &host));
    snprintf(c.train.device, sizeof c.train.device, "reference");
    CHECK_OK(trainer_create(&c, NULL, &dev));
    if (!host || !dev) return;
    CHECK_INT(host->device_augment, 0);
    CHECK_INT(dev->device_augment, 1);
    for (int i = 0; i < 2; i++) {
        StepResult a, b;
        CHECK_OK(trainer_step(host, &a));
        CHECK_OK(trainer_step(dev, &b));
        CHECK(host->last_batch->images != NULL && dev->last_batch->images == NULL);
        printf("step %d: host-augmented loss %.6f, device-augmented %.6f\n", i, a.loss, b.loss);
        CHECK_NEAR(b.loss, a.loss, 1e-4, 1e-4);
    }
    trainer_destroy(host);
    trainer_destroy(dev);
}

/* Evaluation on the device (the reference backend has the augment slot) makes the same
 * batches as the host path: equal results, image for image; with a resize too. */
static void test_device_eval(void) {
    for (int resize = 0; resize <= 40; resize += 40) {
        Config c;
        tiny_config(&c);
        c.data.shapes_test = 100;   /* not a multiple of the batch: a short last batch */
        c.data.augment.resize = resize;
        snprintf(c.train.device, sizeof c.train.device, "reference");
        Trainer *t;
        CHECK_OK(trainer_create(&c, NULL, &t));
        if (!t) return;
        run_steps(t, 2);
        EvalResult host, dev;
        t->eval_on_device = 0;
        CHECK_OK(trainer_evaluate(t, &t->data.test, &host));
        CHECK(t->eval_pixels[0].data == NULL);
        t->eval_on_device = 1;
        CHECK_OK(trainer_evaluate(t, &t->data.test, &dev));
        CHECK(t->eval_pixels[0].data != NULL && t->eval_sets[0] == &t->data.test);
        eval_result_free(&dev);
        CHECK_OK(trainer_evaluate(t, &t->data.test, &dev));   /* uploaded once, used again */
        CHECK(t->eval_sets[1] == NULL);
        CHECK_INT(dev.count, host.count);
        CHECK(dev.loss == host.loss);
        CHECK(dev.accuracy == host.accuracy);
        long same = 0;
        for (int i = 0; i < host.count && i < dev.count; i++)
            same += dev.predicted[i] == host.predicted[i] &&
                    dev.probability[i] == host.probability[i];
        CHECK_INT(same, host.count);
        printf("device eval (resize %d): loss %.6f accuracy %.3f, same as the host's\n", resize,
               dev.loss, dev.accuracy);
        eval_result_free(&host);
        eval_result_free(&dev);
        trainer_destroy(t);
    }
}

static void test_nan_stops_with_step_and_lr(void) {
    Config c;
    tiny_config(&c);
    c.train.lr = 1e30f;
    c.train.schedule.kind = SCHEDULE_CONSTANT;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    Status st = ST_OK;
    for (int i = 0; i < 20 && st == ST_OK; i++) {
        StepResult r;
        st = trainer_step(t, &r);
    }
    CHECK_INT(st, ST_ERR_NUMERIC);
    printf("nan message: %s\n", status_message());
    CHECK(strstr(status_message(), "loss became") != NULL);
    CHECK(strstr(status_message(), "step") != NULL);
    CHECK(strstr(status_message(), "lr 1e+30") != NULL);
    trainer_destroy(t);
}

static void test_edits(void) {
    Config c;
    tiny_config(&c);
    c.train.schedule.kind = SCHEDULE_CONSTANT;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    run_steps(t, 2);
    const char *ok[] = {"train.lr=0.01", "train.momentum=0.5"};
    CHECK_OK(trainer_apply_edit(t, ok, 2));
    StepResult r;
    CHECK_OK(trainer_step(t, &r));
    CHECK_NEAR(r.lr, 0.01, 1e-9, 0);
    const char *bad[] = {"train.lr=0.2", "train.batch_size=0"};
    CHECK(trainer_apply_edit(t, bad, 2) != ST_OK);
    CHECK_NEAR(t->cfg.train.lr, 0.01, 1e-9, 0);   /* all-or-nothing */
    const char *arch[] = {"model.stem_width=4"};
    CHECK(trainer_apply_edit(t, arch, 1) == ST_ERR_CONFIG);
    const char *batch[] = {"train.batch_size=16"};
    long images = t->batch_in_epoch * 32;
    CHECK_OK(trainer_apply_edit(t, batch, 1));
    CHECK_INT(t->batch_in_epoch, images / 16);
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(r.batch, 16);
    trainer_destroy(t);
}

/* A batch size raised past what the device holds is refused at the next step, and training
 * goes on at the old size from the same position. train.memory_limit_mb stands in for a full
 * GPU: the backend fails the allocation with ST_ERR_OOM, as cudaMalloc's failure does. */
static void test_batch_refused_on_oom(void) {
    Config c;
    tiny_config(&c);
    c.train.memory_limit_mb = 64;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    run_steps(t, 2);
    const long step = t->global_step, in_epoch = t->batch_in_epoch;
    const char *raise[] = {"train.batch_size=1024"};
    CHECK_OK(trainer_apply_edit(t, raise, 1));
    StepResult r;
    CHECK_INT(trainer_step(t, &r), ST_ERR_OOM);
    printf("refused: %s\n", status_message());
    CHECK(strstr(status_message(), "batch_size 1024 refused, training goes on at 32") != NULL);
    /* the flat pool buffer the limit stopped is named as what it is */
    CHECK(strstr(status_message(), "activations of a batch of 1024: ") != NULL);
    CHECK(strstr(status_message(), "train.memory_limit_mb") != NULL);
    CHECK_INT(trainer_take_refused(t), 1024);
    CHECK_INT(trainer_take_refused(t), 0);
    CHECK_INT(t->cfg.train.batch_size, 32);
    CHECK_INT(t->global_step, step);
    CHECK_INT(t->batch_in_epoch, in_epoch);
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(r.batch, 32);
    /* a raise that fits trains at once; raising the limit live lets the refused size through */
    const char *fits[] = {"train.batch_size=64"};
    CHECK_OK(trainer_apply_edit(t, fits, 1));
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(r.batch, 64);
    const char *more[] = {"train.memory_limit_mb=4096", "train.batch_size=1024"};
    CHECK_OK(trainer_apply_edit(t, more, 2));
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(r.batch, 1024);
    trainer_destroy(t);

    /* the run's first step has no size to go back to: its OOM is an error */
    c.train.memory_limit_mb = 1;
    CHECK_OK(trainer_create(&c, NULL, &t));
    CHECK_INT(trainer_step(t, &r), ST_ERR_OOM);
    CHECK_INT(trainer_take_refused(t), 0);
    trainer_destroy(t);
}

/* What `shortcut info` says training needs (model_training_bytes) is what a memory limit lets
 * through: 10% above it trains, 15% below it does not. */
static void test_training_bytes_estimate(void) {
    Config c;
    tiny_config(&c);
    c.train.batch_size = 512;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (!t) return;
    long long per_image, fixed;
    model_training_bytes(t->model, &per_image, &fixed);
    trainer_destroy(t);
    const double need = (double)per_image * 512 + (double)fixed, mib = 1024.0 * 1024.0;
    printf("training bytes at batch 512: %.1f MB estimated\n", need / 1e6);
    CHECK(need > 8 * mib);   /* large enough for 1 MiB steps of the limit to matter little */
    c.train.memory_limit_mb = (int)(need * 1.10 / mib) + 1;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (t) {
        run_steps(t, 2);
        trainer_destroy(t);
    }
    c.train.memory_limit_mb = (int)(need * 0.85 / mib);
    Status st = trainer_create(&c, NULL, &t);
    if (st == ST_OK) {
        StepResult r;
        st = trainer_step(t, &r);
        trainer_destroy(t);
    }
    CHECK_INT(st, ST_ERR_OOM);
}

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The same on a GPU, with no limit but the device's own memory: a batch of 65,536 images needs
 * about 200 GB of activations, more than an H100 or H200 holds. After cudaMalloc fails, the
 * device must stay usable and train at the old size. Skipped without a CUDA device. */
static void test_batch_refused_on_gpu(void) {
    CUDA_DEVICE_OR_RETURN("batch refusal on a GPU");
    Config c;
    tiny_config(&c);
    snprintf(c.train.device, sizeof c.train.device, "cuda");
    c.data.shapes_train = 65536;
    c.model.stem_width = 64;
    c.model.stages[0] = (StageConfig){1, 64, 1};
    c.model.stages[1] = (StageConfig){1, 128, 2};
    c.train.batch_size = 64;
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (!t) return;
    run_steps(t, 2);
    const char *raise[] = {"train.batch_size=65536"};
    CHECK_OK(trainer_apply_edit(t, raise, 1));
    StepResult r;
    double t0 = now_seconds();
    CHECK_INT(trainer_step(t, &r), ST_ERR_OOM);
    printf("refused on the GPU after %.1f s: %s\n", now_seconds() - t0, status_message());
    CHECK(strstr(status_message(), "batch_size 65536 refused, training goes on at 64") != NULL);
    CHECK_INT(trainer_take_refused(t), 65536);
    CHECK_OK(trainer_step(t, &r));
    CHECK_INT(r.batch, 64);
    CHECK(isfinite(r.loss));
    trainer_destroy(t);
}

/* train.threads 0 follows other programs' load (cpushare.h): explicit counts and
 * deterministic runs never do. A window in which others used a whole core is made by moving
 * the trainer's last sample back by 1.5 s of one busy core, so the test does not depend on
 * what else the machine runs. */
static void test_threads_follow_load(void) {
    Config c;
    tiny_config(&c);
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    CHECK(!t->share_cores);   /* threads 1: fixed */
    CHECK_INT(trainer_fit_threads(t, 1e6), 0);
    trainer_destroy(t);
    c.train.deterministic = 1;
    c.train.threads = 0;
    CHECK_OK(trainer_create(&c, NULL, &t));
    CHECK(!t->share_cores);
    trainer_destroy(t);
    c.train.deterministic = 0;
    CHECK_OK(trainer_create(&c, NULL, &t));
    CHECK(t->share_cores);
    CHECK_INT(t->share.threads, cpushare_cores());
    CpuLoadSample now;
    long hz = sysconf(_SC_CLK_TCK);
    if (t->share.max_threads < 2 || !cpuload_sample(&now) || hz <= 0) {
        printf("one core or no /proc/stat: thread sharing not exercised\n");
        trainer_destroy(t);
        return;
    }
    CpuLoadSample then = now;
    then.total -= (long long)(1.5 * (double)hz * (double)now.cpus);
    then.busy -= (long long)(1.5 * (double)hz);
    t->share.last = then;
    t->share.last_s = 1000.0;
    CHECK_INT(trainer_fit_threads(t, 1001.5), 1);
    CHECK_INT(t->share.threads, t->share.max_threads - 1);
    CHECK(strstr(t->device_line, "other programs are busy") != NULL);
    StepResult r;
    CHECK_OK(trainer_step(t, &r));   /* trains on with fewer threads */
    /* a live edit to an explicit count ends the sharing; back to 0 starts it afresh */
    const char *two[] = {"train.threads=2"};
    CHECK_OK(trainer_apply_edit(t, two, 1));
    CHECK(!t->share_cores);
    CHECK(strstr(t->device_line, "other programs") == NULL);
    const char *all[] = {"train.threads=0"};
    CHECK_OK(trainer_apply_edit(t, all, 1));
    CHECK(t->share_cores);
    CHECK_INT(t->share.threads, t->share.max_threads);
    trainer_destroy(t);
}

static void test_session(const char *tmp) {
    SessionOptions o = {0};
    tiny_config(&o.config);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/session", tmp);
    o.run_dir = dir;
    o.start_paused = 1;
    Session *s;
    CHECK_OK(session_start(&o, &s));
    Snapshot *snap = malloc(sizeof *snap);
    uint64_t seq = 0;
    for (int i = 0; i < 100; i++) {   /* wait for the worker to be ready */
        seq = session_wait(s, seq, 100);
        session_snapshot(s, snap);
        if (snap->state == RUN_PAUSED) break;
    }
    CHECK_INT(snap->state, RUN_PAUSED);
    CHECK_INT(snap->global_step, 0);
    session_post(s, CMD_STEP, NULL);
    for (int i = 0; i < 100 && snap->global_step < 1; i++) {
        seq = session_wait(s, seq, 100);
        session_snapshot(s, snap);
    }
    CHECK_INT(snap->global_step, 1);
    CHECK_INT(snap->state, RUN_PAUSED);
    CHECK(strstr(snap->device, "1 thread,") != NULL);
    session_post(s, CMD_SET, "train.lr=0.02\ntrain.schedule.type=constant\ntrain.threads=2");
    session_post(s, CMD_SET, "train.batch_size=-3");
    session_post(s, CMD_RESUME, NULL);
    for (int i = 0; i < 200 && snap->global_step < 5; i++) {
        seq = session_wait(s, seq, 100);
        session_snapshot(s, snap);
    }
    CHECK(snap->global_step >= 5);
    CHECK_NEAR(snap->lr, 0.02, 1e-9, 0);
    int refused = 0, set_logged = 0;
    for (int i = 0; i < snap->log_len; i++) {
        refused += snap->log[i].is_error && strstr(snap->log[i].text, "batch_size") != NULL;
        set_logged += strstr(snap->log[i].text, "set train.lr=0.02 (from step 1)") != NULL;
    }
    CHECK_INT(refused, 1);
    CHECK_INT(set_logged, 1);
    CHECK(strstr(snap->device, "2 threads,") != NULL);   /* the edit's device line */
    CHECK(snap->hist_len > 0);
    session_post(s, CMD_PAUSE, NULL);
    session_destroy(s);   /* stops and saves */
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    CHECK(stat(path, &sb) == 0);
    free(snap);
}

/* The finder trains a copy: the run afterwards is bit-identical to a run without it. */
static int finder_calls;
static double finder_last_lr;
static int count_finder_points(void *user, int i, double lr, double loss, double smooth) {
    (void)user; (void)loss; (void)smooth;
    CHECK_INT(i, finder_calls);
    CHECK(lr > finder_last_lr);
    finder_last_lr = lr;
    finder_calls++;
    return 0;
}

static void test_lr_find_leaves_run_unchanged(void) {
    Config c;
    tiny_config(&c);
    c.model.dropout = 0.0f;
    c.train.eval_every = 0;
    Trainer *a, *b;
    CHECK_OK(trainer_create(&c, NULL, &a));
    CHECK_OK(trainer_create(&c, NULL, &b));
    run_steps(a, 4);
    run_steps(b, 2);
    LrFindOptions o = {.start_lr = 1e-4, .end_lr = 100, .steps = 12, .diverge = 4};
    LrFindResult r;
    finder_calls = 0;
    finder_last_lr = 0;
    CHECK_OK(trainer_lr_find(b, &o, count_finder_points, NULL, &r));
    CHECK_INT(finder_calls, r.steps_done);
    CHECK(r.steps_done >= 5 && r.steps_done <= 12);
    CHECK(r.suggested_lr > 0 && r.suggested_lr < 100);
    CHECK_NEAR(r.suggested_lr, r.min_loss_lr / 10, 0, 1e-12);
    CHECK_INT(b->global_step, 2);
    run_steps(b, 2);
    CHECK_INT(model_differences(a, b), 0);
    LrFindOptions bad = {.start_lr = 1, .end_lr = 0.1, .steps = 10};
    CHECK(trainer_lr_find(b, &bad, NULL, NULL, &r) == ST_ERR_ARG);
    trainer_destroy(a);
    trainer_destroy(b);
}

static void test_lr_suggest(void) {
    /* A valley in log lr: loss = (log10 lr)^2 falls until lr = 1, fastest at the left end. */
    double lr[50], loss[50];
    for (int i = 0; i < 50; i++) {
        lr[i] = pow(10.0, -4.0 + 6.0 * i / 49.0);
        double x = log10(lr[i]);
        loss[i] = x < 0 ? x * x : 3 * x;
    }
    LrFindResult r;
    trainer_lr_suggest(lr, loss, 50, &r);
    CHECK_NEAR(r.min_loss_lr, 1.0, 0, 0.25);   /* the grid point nearest 1 */
    CHECK_NEAR(r.suggested_lr, r.min_loss_lr / 10, 0, 1e-12);
    CHECK(r.steepest_lr < 1e-2);   /* x^2 falls fastest far from its minimum */
    trainer_lr_suggest(lr, loss, 3, &r);
    CHECK(r.suggested_lr == 0);
}

static void param_host(Trainer *t, const char *name, float *out, size_t cap) {
    Param *p = model_find_param(t->model, name);
    CHECK(p != NULL);
    if (!p) return;
    CHECK(tensor_numel(&p->value) <= cap);
    CHECK_OK(t->backend.ops->download(t->backend.ctx, &p->value, out));
}

static void test_rebuild(void) {
    Config c;
    tiny_config(&c);
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    run_steps(t, 2);
    static float before[16 * 16 * 9], after[16 * 16 * 9];
    param_host(t, "stages.1.0.conv2.weight", before, sizeof before / sizeof *before);
    int old_count = model_param_count(t->model);
    const char *deeper[] = {"model.stages=[{blocks: 2, width: 8, stride: 1}, "
                            "{blocks: 1, width: 16, stride: 2}]"};
    RebuildResult r;
    CHECK_OK(trainer_rebuild(t, deeper, 1, &r));
    CHECK_INT(r.total, model_param_count(t->model));
    /* The new block stages.0.1 brings 2 convs + 2 BNs (4 tensors each): 10 new tensors. */
    CHECK_INT(r.total - r.carried, 10);
    CHECK_INT(r.carried, old_count);
    CHECK(r.momentum_carried > 0);
    CHECK_INT(t->cfg.model.stages[0].blocks, 2);
    param_host(t, "stages.1.0.conv2.weight", after, sizeof after / sizeof *after);
    CHECK(memcmp(before, after, sizeof before) == 0);
    CHECK_INT(t->global_step, 2);
    run_steps(t, 1);
    CHECK_INT(t->global_step, 3);
    const char *not_model[] = {"train.lr=0.1"};
    CHECK(trainer_rebuild(t, not_model, 1, &r) == ST_ERR_CONFIG);
    const char *bad[] = {"model.family=wrn", "model.depth=27"};
    CHECK(trainer_rebuild(t, bad, 2, &r) == ST_ERR_CONFIG);
    printf("rebuild refused: %s\n", status_message());
    CHECK(t->cfg.model.family == FAMILY_CUSTOM);
    const char *wider[] = {"model.stem_width=12"};
    CHECK_OK(trainer_rebuild(t, wider, 1, &r));
    CHECK(r.carried < r.total);   /* the stem and the first convs changed shape */
    run_steps(t, 1);
    const char *shorter[] = {"train.epochs=0"};
    CHECK(trainer_apply_edit(t, shorter, 1) != ST_OK);
    trainer_destroy(t);
}

static void wait_until(Session *s, Snapshot *snap, int (*done)(const Snapshot *), int tries) {
    uint64_t seq = 0;
    for (int i = 0; i < tries; i++) {
        session_snapshot(s, snap);
        if (done(snap)) return;
        seq = session_wait(s, snap->seq, 100);
    }
    (void)seq;
}
static int is_paused(const Snapshot *s) { return s->state == RUN_PAUSED; }
static int two_steps(const Snapshot *s) { return s->global_step == 2; }
static int finder_over(const Snapshot *s) {
    return s->lrf_state != LRF_NONE && s->lrf_state != LRF_RUNNING;
}
static int rebuilt(const Snapshot *s) { return s->rebuild_total > 0; }
static int restarted(const Snapshot *s) { return s->run_id == 1 && s->state == RUN_PAUSED; }

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = calloc(1, 1 << 16);
    if (buf && fread(buf, 1, (1 << 16) - 1, f) == 0) buf[0] = 0;
    fclose(f);
    return buf;
}

static int log_has(const Snapshot *s, const char *text) {
    for (int i = 0; i < s->log_len; i++)
        if (strstr(s->log[i].text, text)) return 1;
    return 0;
}

static void test_session_workbench_commands(const char *tmp) {
    SessionOptions o = {0};
    tiny_config(&o.config);
    char dir[512], dir2[512], path[600];
    snprintf(dir, sizeof dir, "%s/wb", tmp);
    snprintf(dir2, sizeof dir2, "%s/wb-2", tmp);
    o.run_dir = dir;
    o.start_paused = 1;
    Session *s;
    CHECK_OK(session_start(&o, &s));
    Snapshot *snap = malloc(sizeof *snap);
    wait_until(s, snap, is_paused, 100);
    CHECK_INT(snap->state, RUN_PAUSED);
    session_post(s, CMD_STEP, NULL);
    session_post(s, CMD_STEP, NULL);   /* two presses are two steps */
    wait_until(s, snap, two_steps, 300);
    CHECK_INT(session_post(s, CMD_SET, "train.lr=0.03"), 1);
    session_post(s, CMD_LR_FIND, "start=1e-4 end=1 steps=8");
    wait_until(s, snap, finder_over, 300);
    CHECK_INT(snap->lrf_state, LRF_DONE);
    CHECK_INT(snap->lrf_len, 8);
    CHECK(snap->lrf_lr[7] > snap->lrf_lr[0]);
    CHECK_INT(snap->global_step, 2);   /* the finder did not move the run */
    CHECK_INT(snap->hist_step0, 0);
    CHECK_INT(snap->hist_len, 2);
    CHECK_INT(snap->mark_len, 1);
    CHECK_INT(snap->marks[0].step, 2);
    CHECK(strcmp(snap->marks[0].label, "lr=0.03") == 0);
    session_post(s, CMD_LR_FIND, "start=abc");
    session_post(s, CMD_REBUILD, "model.stem_width=12");
    wait_until(s, snap, rebuilt, 300);
    CHECK(snap->rebuild_carried > 0 && snap->rebuild_carried < snap->rebuild_total);
    CHECK(log_has(snap, "rebuilt the model (model.stem_width=12) (from step 2): carried"));
    CHECK(log_has(snap, "lr finder: cannot read 'start=abc'"));
    CHECK_INT(snap->mark_len, 2);
    CHECK_INT(snap->config.model.stem_width, 12);
    session_post(s, CMD_RESTART, "");   /* refused: the run has a directory */
    session_post(s, CMD_RESTART, dir2);
    session_post(s, CMD_PAUSE, NULL);
    wait_until(s, snap, restarted, 300);
    CHECK_INT(snap->run_id, 1);
    CHECK_INT(snap->global_step, 0);
    CHECK_INT(snap->mark_len, 1);
    CHECK(strcmp(snap->run_dir, dir2) == 0);
    CHECK(log_has(snap, "restart refused: needs a new run directory"));
    CHECK_INT(snap->config.model.stem_width, 12);   /* the edited config carries over */
    session_destroy(s);
    struct stat sb;
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    CHECK(stat(path, &sb) == 0);   /* the first run was saved before the restart */
    snprintf(path, sizeof path, "%s/config.yaml", dir2);
    CHECK(stat(path, &sb) == 0);
    snprintf(path, sizeof path, "%s/log.txt", dir);
    char *log = read_text(path);
    CHECK(log && strstr(log, "set train.lr=0.03 (from step 2)"));
    free(log);
    free(snap);
}

/* `test_trainer gpu` runs only the GPU case (for timing it on a GPU machine). */
int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "gpu") == 0) {
        test_batch_refused_on_gpu();
        return check_report("test_trainer gpu");
    }
    char tmp[] = "/tmp/shortcut_test_trainer_XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    test_resume_equals_uninterrupted(tmp);
    test_nan_stops_with_step_and_lr();
    test_bf16_training();
    test_loss_scaling(tmp);
    test_device_augment();
    test_device_eval();
    test_edits();
    test_batch_refused_on_oom();
    test_training_bytes_estimate();
    test_batch_refused_on_gpu();
    test_threads_follow_load();
    test_session(tmp);
    test_lr_find_leaves_run_unchanged();
    test_lr_suggest();
    test_rebuild();
    test_session_workbench_commands(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmp);
    return check_report("test_trainer");
}
