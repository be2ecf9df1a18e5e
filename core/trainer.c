/* trainer.c — one training run, step by step (see trainer.h).
 *
 * Owns: backend, datasets, loader, model, optimizer state, the run directory's files
 * (config.yaml, metrics.csv, model.safetensors, state.safetensors). Position is
 * (epoch, batch_in_epoch, global_step); everything random is a function of (seed, position), so
 * a run resumed from its state file continues exactly like an uninterrupted one. */
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "fileio.h"
#include "rng.h"
#include "schedule.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

long trainer_steps_per_epoch(const Trainer *t) {
    long n = t->data.train.count, b = t->cfg.train.batch_size;
    return (n + b - 1) / b;
}

double trainer_current_lr(const Trainer *t) {
    long spe = trainer_steps_per_epoch(t);
    long step = (long)t->epoch * spe + t->batch_in_epoch;
    return schedule_lr(&t->cfg.train.schedule, t->cfg.train.lr, step, spe, t->cfg.train.epochs);
}

int trainer_done(const Trainer *t) { return t->epoch >= t->cfg.train.epochs; }

/* ---- construction ---- */

static Status open_metrics(Trainer *t, int append) {
    if (!t->run_dir[0]) return ST_OK;
    char path[CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/metrics.csv", t->run_dir);
    struct stat sb;
    int exists = append && stat(path, &sb) == 0 && sb.st_size > 0;
    t->metrics = fopen(path, exists ? "a" : "w");
    if (!t->metrics)
        return status_fail(ST_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    if (!exists) {
        fprintf(t->metrics, "epoch,step,lr,train_loss,train_acc,val_loss,val_acc,test_loss,"
                            "test_acc,images_per_s,elapsed_s\n");
        fflush(t->metrics);
    }
    return ST_OK;
}

static Status ensure_host_buffers(Trainer *t, int n) {
    if (n <= t->host_cap) return ST_OK;
    float *l = realloc(t->host_loss, sizeof(float) * (size_t)n);
    if (l) t->host_loss = l;
    int32_t *p = realloc(t->host_pred, sizeof(int32_t) * (size_t)n);
    if (p) t->host_pred = p;
    float *q = realloc(t->host_prob, sizeof(float) * (size_t)n);
    if (q) t->host_prob = q;
    if (!l || !p || !q) return status_fail(ST_ERR_OOM, "out of memory for a batch of %d", n);
    t->host_cap = n;
    return ST_OK;
}

/* Shape and (re)allocate the per-batch tensors for n images. */
static Status shape_batch(Trainer *t, int n, int side) {
    const BackendOps *o = t->backend.ops;
    void *ctx = t->backend.ctx;
    int k = model_num_classes(t->model);
    tensor_shape(&t->x, n, 3, side, side, DT_F32);
    tensor_shape(&t->labels, n, 1, 1, 1, DT_I32);
    tensor_shape(&t->loss, n, 1, 1, 1, DT_F32);
    tensor_shape(&t->pred, n, 1, 1, 1, DT_I32);
    tensor_shape(&t->prob, n, 1, 1, 1, DT_F32);
    tensor_shape(&t->dlogits, n, k, 1, 1, DT_F32);
    TRY(o->tensor_alloc(ctx, &t->x));
    TRY(o->tensor_alloc(ctx, &t->labels));
    TRY(o->tensor_alloc(ctx, &t->loss));
    TRY(o->tensor_alloc(ctx, &t->pred));
    TRY(o->tensor_alloc(ctx, &t->prob));
    TRY(o->tensor_alloc(ctx, &t->dlogits));
    return ensure_host_buffers(t, n);
}

/* Momentum buffers (zeroed) for every trainable parameter of `m`, and the arrays the fused SGD
 * update takes. The arrays are malloc'd; the buffers belong to the model's params. */
static Status optimizer_setup(Backend *be, Model *m, Tensor ***params, Tensor ***grads,
                              Tensor ***moms, int *count_out) {
    int n = model_param_count(m), count = 0;
    for (int i = 0; i < n; i++)
        if (model_param(m, i)->kind != PARAM_BUFFER) count++;
    *params = calloc((size_t)count + 1, sizeof(Tensor *));
    *grads = calloc((size_t)count + 1, sizeof(Tensor *));
    *moms = calloc((size_t)count + 1, sizeof(Tensor *));
    if (!*params || !*grads || !*moms)
        return status_fail(ST_ERR_OOM, "out of memory for the optimizer");
    const BackendOps *o = be->ops;
    for (int i = 0, j = 0; i < n; i++) {
        Param *p = model_param(m, i);
        if (p->kind == PARAM_BUFFER) continue;
        Tensor *mt = &p->momentum;
        tensor_shape(mt, p->value.n, p->value.c, p->value.h, p->value.w, DT_F32);
        TRY(o->tensor_alloc(be->ctx, mt));
        TRY(o->fill(be->ctx, mt, 0.0f));
        (*params)[j] = &p->value;
        (*grads)[j] = &p->grad;
        (*moms)[j] = mt;
        j++;
    }
    *count_out = count;
    return ST_OK;
}

static Status create_optimizer(Trainer *t) {
    return optimizer_setup(&t->backend, t->model, &t->opt_params, &t->opt_grads, &t->opt_moms,
                           &t->opt_count);
}

/* The loader settings a trainer uses for `set`: training order and augmentation when `train`,
 * file order and identity records otherwise. */
static LoaderOptions loader_options(const Trainer *t, const Dataset *set, int train) {
    LoaderOptions lo = {0};
    lo.data = set;
    lo.batch_size = t->cfg.train.batch_size;
    lo.train = train;
    lo.seed = t->cfg.train.seed;
    lo.augment = t->cfg.data.augment;
    memcpy(lo.mean, t->cfg.data.mean, sizeof lo.mean);
    memcpy(lo.std, t->cfg.data.std, sizeof lo.std);
    lo.prefetch = 1;
    lo.skip_pixels = train && t->device_augment;
    return lo;
}

static Status open_loader(Trainer *t) {
    loader_destroy(t->loader);
    t->loader = NULL;
    LoaderOptions lo = loader_options(t, &t->data.train, 1);
    TRY(loader_create(&lo, &t->loader));
    loader_seek(t->loader, t->epoch, t->batch_in_epoch);
    return ST_OK;
}

/* Backends without set_precision (the reference) compute in fp32; a bf16/fp16 request is kept
 * in the config (it applies on another backend) and the device line says what actually runs.
 * Backends with it describe their own precision. */
static void describe_device(Trainer *t) {
    Precision p = t->cfg.train.precision;
    const char *what = t->backend.ops->describe(t->backend.ctx);
    char shared[64] = "";
    if (t->share_cores && t->share.threads < t->share.max_threads)
        snprintf(shared, sizeof shared, " (%d of %d cores: other programs are busy)",
                 t->share.threads, t->share.max_threads);
    if (t->backend.ops->set_precision) {
        snprintf(t->device_line, sizeof t->device_line, "%s%s", what, shared);
        return;
    }
    char extra[96] = "";
    if (p == PRECISION_BF16 || p == PRECISION_FP16)
        snprintf(extra, sizeof extra, " (precision %s: the %s backend computes in fp32 only)",
                 config_precision_name(p), t->backend.ops->name);
    snprintf(t->device_line, sizeof t->device_line, "%s%s, fp32%s", what, shared, extra);
}

/* Whether the thread count follows the load (trainer.h, share_cores), and its fresh start. */
static void share_reset(Trainer *t) {
    t->share_cores = t->cfg.train.threads == 0 && !t->cfg.train.deterministic &&
                     t->backend.ops->set_threads != NULL;
    cpushare_init(&t->share, cpushare_cores());
}

int trainer_fit_threads(Trainer *t, double now_s) {
    if (!t->share_cores || t->share.max_threads < 2) return 0;
    if (!cpushare_poll(&t->share, now_s)) return 0;
    t->backend.ops->set_threads(t->backend.ctx, t->share.threads);
    describe_device(t);
    return 1;
}

/* Backends that augment on their device get the training images once, as U8 (trainer.h). When
 * the device has no room for them, training goes on with host augmentation and the device line
 * says so. */
static Status upload_train_pixels(Trainer *t) {
    const BackendOps *o = t->backend.ops;
    t->device_augment = 0;
    if (!o->augment || t->eval_only) return ST_OK;
    tensor_shape(&t->train_pixels, t->data.train.count, 3, DATASET_SIDE, DATASET_SIDE, DT_U8);
    Status st = o->tensor_alloc(t->backend.ctx, &t->train_pixels);
    if (st == ST_OK) st = o->upload(t->backend.ctx, &t->train_pixels, t->data.train.images);
    if (st == ST_ERR_OOM) {
        o->tensor_free(t->backend.ctx, &t->train_pixels);
        size_t len = strlen(t->device_line);
        snprintf(t->device_line + len, sizeof t->device_line - len, " (augmenting on the host: "
                 "no device memory for the %d training images)", t->data.train.count);
        return ST_OK;
    }
    TRY(st);
    t->device_augment = 1;
    return ST_OK;
}

/* The device copy of an evaluation set's pixels, uploaded on its first evaluation; NULL when
 * evaluation makes its batches on the host: no augment slot, switched off, or no device memory
 * (then it stays on the host for this set, as training does). */
static const Tensor *eval_pixels(Trainer *t, const Dataset *set, Status *st) {
    const BackendOps *o = t->backend.ops;
    *st = ST_OK;
    if (!o->augment || !t->eval_on_device || set->count == 0) return NULL;
    for (int i = 0; i < 2; i++)
        if (t->eval_sets[i] == set) return t->eval_pixels[i].data ? &t->eval_pixels[i] : NULL;
    int slot = !t->eval_sets[0] ? 0 : !t->eval_sets[1] ? 1 : -1;
    if (slot < 0) return NULL;   /* a third set: evaluated on the host */
    Tensor *p = &t->eval_pixels[slot];
    t->eval_sets[slot] = set;
    tensor_shape(p, set->count, 3, DATASET_SIDE, DATASET_SIDE, DT_U8);
    *st = o->tensor_alloc(t->backend.ctx, p);
    if (*st == ST_OK) *st = o->upload(t->backend.ctx, p, set->images);
    if (*st == ST_ERR_OOM) {
        o->tensor_free(t->backend.ctx, p);
        *st = ST_OK;
        return NULL;
    }
    return *st == ST_OK ? p : NULL;
}

/* Loss scaling runs when asked for, and by default with fp16 convolutions. */
static int loss_scaling_wanted(const Config *c) {
    return c->train.loss_scaling == LOSS_SCALING_DYNAMIC ||
           (c->train.loss_scaling == LOSS_SCALING_AUTO && c->train.precision == PRECISION_FP16);
}

/* Start or stop the scaler when the config (a live edit) says so; a running scaler keeps its
 * scale. */
static void scaler_follow_config(Trainer *t) {
    int want = loss_scaling_wanted(&t->cfg);
    if (want && !t->scaler.active)
        loss_scaler_start(&t->scaler, t->cfg.train.loss_scale_init);
    else if (!want && t->scaler.active)
        loss_scaler_stop(&t->scaler);
}

/* train.memory_limit_mb to a backend that can hold to it (the reference backend cannot). */
static void apply_memory_limit(Trainer *t) {
    if (t->backend.ops->set_memory_limit)
        t->backend.ops->set_memory_limit(t->backend.ctx,
                                         (size_t)t->cfg.train.memory_limit_mb << 20);
}

/* Everything except the weights and the optimizer position: backend, data, model (freshly
 * initialized), optimizer buffers, the loss scaler. */
static Status build(Trainer *t) {
    TRY(backend_create(t->cfg.train.device, t->cfg.train.threads, &t->backend,
                       &t->backend_fell_back));
    if (t->backend_fell_back)
        snprintf(t->fallback_reason, sizeof t->fallback_reason, "%s", status_message());
    if (t->backend.ops->set_precision)
        TRY(t->backend.ops->set_precision(t->backend.ctx, (int)t->cfg.train.precision,
                                          t->cfg.train.deterministic));
    apply_memory_limit(t);
    share_reset(t);
    describe_device(t);
    TRY(dataset_load_splits(&t->cfg, &t->data));
    if (t->data.train.count == 0)
        return status_fail(ST_ERR_CONFIG, "the training set is empty (data.limit_train / "
                                          "data.val_fraction leave no images)");
    TRY(upload_train_pixels(t));
    t->eval_on_device = 1;   /* where the backend can: eval_pixels() */
    int side = augment_out_side(&t->cfg.data.augment);
    TRY(model_build(&t->cfg.model, t->data.train.num_classes, side, &t->backend,
                    t->cfg.train.seed, &t->model));
    TRY(create_optimizer(t));
    t->last_test_acc = t->last_test_loss = t->last_val_acc = t->last_val_loss = -1;
    t->best_test_acc = -1;
    t->last_checkpoint_step = -1;
    scaler_follow_config(t);
    return ST_OK;
}

Status trainer_create(const Config *cfg, const char *run_dir, Trainer **out) {
    *out = NULL;
    TRY(config_validate(cfg));
    Trainer *t = calloc(1, sizeof *t);
    if (!t) return status_fail(ST_ERR_OOM, "out of memory creating the trainer");
    t->cfg = *cfg;
    snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir ? run_dir : "");
    Status st = build(t);
    if (st == ST_OK && t->run_dir[0]) {
        st = fileio_mkdir_p(t->run_dir);
        if (st == ST_OK) {
            char path[CONFIG_PATH_LEN + 32];
            snprintf(path, sizeof path, "%s/config.yaml", t->run_dir);
            st = config_save(&t->cfg, path);
        }
        if (st == ST_OK) st = open_metrics(t, 0);
    }
    if (st == ST_OK) st = open_loader(t);
    if (st != ST_OK) {
        trainer_destroy(t);
        return st;
    }
    *out = t;
    return ST_OK;
}

void trainer_destroy(Trainer *t) {
    if (!t) return;
    loader_destroy(t->loader);
    if (t->backend.ops) {
        const BackendOps *o = t->backend.ops;
        Tensor *bufs[] = {&t->x,       &t->labels,      &t->loss,          &t->pred,
                          &t->prob,    &t->dlogits,     &t->train_pixels,  &t->eval_pixels[0],
                          &t->eval_pixels[1]};
        for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
            o->tensor_free(t->backend.ctx, bufs[i]);
        if (t->model) {
            for (int i = 0; i < model_param_count(t->model); i++)
                o->tensor_free(t->backend.ctx, &model_param(t->model, i)->momentum);
        }
    }
    model_destroy(t->model);
    backend_destroy(&t->backend);
    data_splits_free(&t->data);
    eval_result_free(&t->last_eval);
    if (t->metrics) fclose(t->metrics);
    free(t->opt_params);
    free(t->opt_grads);
    free(t->opt_moms);
    free(t->host_loss);
    free(t->host_pred);
    free(t->host_prob);
    free(t);
}

/* ---- one step ---- */

static uint64_t dropout_seed(const Trainer *t) {
    return rng_u64(t->cfg.train.seed, RNG_STREAM_DROPOUT, (uint64_t)t->global_step);
}

/* Forward, loss, backward and SGD update of one batch on `m` (the run's model, or the LR
 * finder's copy) with its optimizer arrays. A non-finite loss returns before the backward pass
 * with *finite = 0 and the weights untouched. */
typedef struct OptimizerView {
    Tensor **params, **grads, **moms;
    int count;
    int *started;               /* momentum buffers hold state */
    LossScaler *scaler;         /* NULL or inactive: no loss scaling */
} OptimizerView;

static Status train_on_batch(Trainer *t, Model *m, const OptimizerView *ov, const Batch *b,
                             double lr, uint64_t dseed, double *loss_out, long *correct_out,
                             int *finite, LossScaleEvent *scale_event) {
    const BackendOps *o = t->backend.ops;
    void *ctx = t->backend.ctx;
    TRY(shape_batch(t, b->count, b->side));
    if (b->images)
        TRY(o->upload(ctx, &t->x, b->images));
    else   /* the loader skipped the pixels: make them from the records on the device */
        TRY(o->augment(ctx, &t->train_pixels, b->indices, b->records, b->count, &b->augment,
                       t->cfg.data.mean, t->cfg.data.std, &t->x));
    TRY(o->upload(ctx, &t->labels, b->labels));

    const Tensor *logits;
    TRY(model_forward(m, &t->x, 1, dseed, &logits));
    TRY(o->softmax_xent(ctx, logits, &t->labels, t->cfg.train.label_smoothing, &t->loss, &t->pred,
                        &t->prob, &t->dlogits));
    TRY(o->download(ctx, &t->loss, t->host_loss));
    TRY(o->download(ctx, &t->pred, t->host_pred));
    double loss = 0;
    long correct = 0;
    for (int i = 0; i < b->count; i++) {
        loss += t->host_loss[i];
        correct += t->host_pred[i] == b->labels[i];
    }
    loss /= b->count;
    *loss_out = loss;
    *correct_out = correct;
    *finite = isfinite(loss) != 0;
    *scale_event = LOSS_SCALE_KEPT;
    if (!*finite) return ST_OK;

    LossScaler *ls = ov->scaler && ov->scaler->active ? ov->scaler : NULL;
    const int scale_log2 = ls ? ls->log2 : 0;
    if (ls) TRY(o->scale(ctx, &t->dlogits, loss_scaler_value(ls)));
    TRY(model_backward(m, &t->dlogits));
    if (ls) {
        int grads_finite;
        TRY(o->all_finite(ctx, ov->count, ov->grads, &grads_finite));
        *scale_event = loss_scaler_update(ls, grads_finite);
        if (!grads_finite) return ST_OK;   /* skipped: weights and momentum untouched */
    }
    SgdParams sp = {
        .lr = (float)lr,
        .momentum = t->cfg.train.momentum,
        .dampening = 0.0f,
        .weight_decay = t->cfg.train.weight_decay,
        .nesterov = t->cfg.train.nesterov,
        .first_step = !*ov->started,
        .loss_scale_log2 = scale_log2,
    };
    TRY(o->sgd_update(ctx, ov->count, ov->params, ov->grads, ov->moms, &sp));
    *ov->started = 1;
    return ST_OK;
}

/* The loader onto t->cfg.train.batch_size, at batch `batch_in_epoch` of the current epoch. */
static void set_batch_size(Trainer *t, long batch_in_epoch) {
    loader_set_batch_size(t->loader, t->cfg.train.batch_size);
    t->batch_in_epoch = batch_in_epoch;
    loader_seek(t->loader, t->epoch, t->batch_in_epoch);
}

/* The step at a batch size raised since the last step ran out of memory: go back to the size
 * that last trained, at the same position, so the run stays usable (the edit is refused, not
 * the run). The failed size's buffers are released first so the old size finds its memory
 * again. What the failed forward did to batchnorm running statistics before it ran out (one
 * update of the layers it reached) stays. */
static Status refuse_batch(Trainer *t) {
    char why[512];
    snprintf(why, sizeof why, "%s", status_message());
    const int asked = t->cfg.train.batch_size, back = t->ok_batch_size;
    const BackendOps *o = t->backend.ops;
    model_release_activations(t->model);
    Tensor *batch[] = {&t->x, &t->labels, &t->loss, &t->pred, &t->prob, &t->dlogits};
    for (size_t i = 0; i < sizeof batch / sizeof batch[0]; i++)
        o->tensor_free(t->backend.ctx, batch[i]);
    /* the raise moved the position onto its own grid of batches; take the old one back */
    t->cfg.train.batch_size = back;
    set_batch_size(t, t->ok_batch_in_epoch);
    t->refused_batch = asked;
    return status_fail(ST_ERR_OOM, "batch_size %d refused, training goes on at %d: %s", asked,
                       back, why);
}

int trainer_take_refused(Trainer *t) {
    int n = t->refused_batch;
    t->refused_batch = 0;
    return n;
}

Status trainer_step(Trainer *t, StepResult *res) {
    double t0 = now_s();
    long spe = trainer_steps_per_epoch(t);
    double lr = trainer_current_lr(t);

    const Batch *b;
    TRY(loader_next(t->loader, &b));
    if (b->epoch != t->epoch || b->position != t->batch_in_epoch * (long)t->cfg.train.batch_size)
        return status_fail(ST_ERR_ARG, "internal: loader at epoch %d position %ld, trainer at "
                           "epoch %d batch %ld", b->epoch, b->position, t->epoch, t->batch_in_epoch);
    scaler_follow_config(t);
    OptimizerView ov = {t->opt_params, t->opt_grads, t->opt_moms, t->opt_count, &t->sgd_started,
                        &t->scaler};
    double loss;
    long correct;
    int finite;
    LossScaleEvent ev;
    const int scale_log2 = t->scaler.active ? t->scaler.log2 : 0;
    Status st = train_on_batch(t, t->model, &ov, b, lr, dropout_seed(t), &loss, &correct,
                               &finite, &ev);
    if (st == ST_ERR_OOM && t->ok_batch_size > 0 && t->ok_batch_size != t->cfg.train.batch_size)
        return refuse_batch(t);
    TRY(st);
    if (!finite)
        return status_fail(ST_ERR_NUMERIC,
                           "loss became %s at epoch %d, step %ld (lr %.4g): training stopped; "
                           "the last good checkpoint is kept. Lower train.lr or add warmup",
                           isnan(loss) ? "NaN" : "infinite", t->epoch + 1, t->global_step, lr);
    if (ev == LOSS_SCALE_GAVE_UP)
        return status_fail(ST_ERR_NUMERIC,
                           "gradients were not finite at epoch %d, step %ld (lr %.4g) even at "
                           "loss scale 2^%d: training stopped; the last good checkpoint is kept. "
                           "Lower train.lr or add warmup", t->epoch + 1, t->global_step, lr,
                           scale_log2);
    res->skipped = ev == LOSS_SCALE_SHRANK;
    res->loss_scale_log2 = scale_log2;

    t->last_batch = b;
    t->epoch_loss_sum += loss * b->count;
    t->epoch_correct += correct;
    t->epoch_seen += b->count;
    t->global_step++;
    t->batch_in_epoch++;
    res->epoch_finished = 0;
    if (t->batch_in_epoch >= spe) {
        t->epoch++;
        t->batch_in_epoch = 0;
        res->epoch_finished = 1;
    }
    t->ok_batch_size = t->cfg.train.batch_size;
    t->ok_batch_in_epoch = t->batch_in_epoch;
    res->loss = loss;
    res->accuracy = (double)correct / b->count;
    res->lr = lr;
    res->batch = b->count;
    res->seconds = now_s() - t0;
    t->elapsed_s += res->seconds;
    t->epoch_seconds += res->seconds;
    return ST_OK;
}

/* ---- evaluation ---- */

void eval_result_free(EvalResult *r) {
    if (!r) return;
    free(r->confusion);
    free(r->predicted);
    free(r->probability);
    memset(r, 0, sizeof *r);
}

void trainer_keep_eval(Trainer *t, EvalResult *r) {
    eval_result_free(&t->last_eval);
    t->last_eval = *r;
    memset(r, 0, sizeof *r);
    t->last_eval_serial++;
    t->last_eval_step = t->global_step;
    t->last_eval_epoch = t->epoch;
}

Status trainer_evaluate(Trainer *t, const Dataset *set, EvalResult *res) {
    memset(res, 0, sizeof *res);
    const BackendOps *o = t->backend.ops;
    void *ctx = t->backend.ctx;
    int k = model_num_classes(t->model);
    res->num_classes = k;
    res->count = set->count;
    res->confusion = calloc((size_t)k * (size_t)k, sizeof(long));
    res->predicted = malloc(sizeof(int32_t) * (size_t)(set->count ? set->count : 1));
    res->probability = malloc(sizeof(float) * (size_t)(set->count ? set->count : 1));
    if (!res->confusion || !res->predicted || !res->probability) {
        eval_result_free(res);
        return status_fail(ST_ERR_OOM, "out of memory for evaluation");
    }
    if (set->count == 0) return ST_OK;
    Status st;
    const Tensor *pixels = eval_pixels(t, set, &st);
    if (st != ST_OK) { eval_result_free(res); return st; }
    LoaderOptions lo = loader_options(t, set, 0);
    lo.skip_pixels = pixels != NULL;
    Loader *l;
    st = loader_create(&lo, &l);
    if (st != ST_OK) { eval_result_free(res); return st; }
    double loss_sum = 0;
    long correct = 0;
    long batches = loader_batches_per_epoch(l);
    for (long bi = 0; bi < batches && st == ST_OK; bi++) {
        const Batch *b;
        const Tensor *logits;
        st = loader_next(l, &b);
        if (st == ST_OK) st = shape_batch(t, b->count, b->side);
        if (st == ST_OK && pixels)
            st = o->augment(ctx, pixels, b->indices, b->records, b->count, &b->augment,
                            t->cfg.data.mean, t->cfg.data.std, &t->x);
        else if (st == ST_OK)
            st = o->upload(ctx, &t->x, b->images);
        if (st == ST_OK) st = o->upload(ctx, &t->labels, b->labels);
        if (st == ST_OK) st = model_forward(t->model, &t->x, 0, 0, &logits);
        if (st == ST_OK)
            st = o->softmax_xent(ctx, logits, &t->labels, 0.0f, &t->loss, &t->pred, &t->prob, NULL);
        if (st == ST_OK) st = o->download(ctx, &t->loss, t->host_loss);
        if (st == ST_OK) st = o->download(ctx, &t->pred, t->host_pred);
        if (st == ST_OK) st = o->download(ctx, &t->prob, t->host_prob);
        if (st != ST_OK) break;
        for (int i = 0; i < b->count; i++) {
            long idx = b->position + i;
            int y = b->labels[i], p = t->host_pred[i];
            loss_sum += t->host_loss[i];
            correct += p == y;
            res->confusion[(size_t)y * (size_t)k + (size_t)p]++;
            res->predicted[idx] = p;
            res->probability[idx] = t->host_prob[i];
        }
    }
    loader_destroy(l);
    if (st != ST_OK) { eval_result_free(res); return st; }
    res->loss = loss_sum / set->count;
    res->accuracy = (double)correct / set->count;
    return ST_OK;
}

Status trainer_end_epoch(Trainer *t, int force_eval, int force_checkpoint) {
    int every = t->cfg.train.eval_every;
    int do_eval = force_eval || (every > 0 && t->epoch % every == 0);
    double val_loss = -1, val_acc = -1;
    if (do_eval) {
        EvalResult r;
        TRY(trainer_evaluate(t, &t->data.test, &r));
        t->last_test_acc = r.accuracy;
        t->last_test_loss = r.loss;
        if (r.accuracy > t->best_test_acc) t->best_test_acc = r.accuracy;
        trainer_keep_eval(t, &r);
        if (t->data.val.count > 0) {
            TRY(trainer_evaluate(t, &t->data.val, &r));
            t->last_val_acc = val_acc = r.accuracy;
            t->last_val_loss = val_loss = r.loss;
            eval_result_free(&r);
        }
    }
    if (t->metrics) {
        double n = t->epoch_seen ? (double)t->epoch_seen : 1;
        fprintf(t->metrics, "%d,%ld,%.6g,%.6f,%.6f,", t->epoch, t->global_step,
                trainer_current_lr(t), t->epoch_loss_sum / n, (double)t->epoch_correct / n);
        if (val_acc >= 0) fprintf(t->metrics, "%.6f,%.6f,", val_loss, val_acc);
        else fprintf(t->metrics, ",,");
        if (do_eval) fprintf(t->metrics, "%.6f,%.6f,", t->last_test_loss, t->last_test_acc);
        else fprintf(t->metrics, ",,");
        fprintf(t->metrics, "%.1f,%.3f\n", t->epoch_seen / (t->epoch_seconds > 0 ? t->epoch_seconds : 1),
                t->elapsed_s);
        if (fflush(t->metrics) != 0)
            return status_fail(ST_ERR_IO, "%s/metrics.csv: write failed: %s", t->run_dir,
                               strerror(errno));
    }
    t->epoch_loss_sum = 0;
    t->epoch_correct = t->epoch_seen = 0;
    t->epoch_seconds = 0;
    int cevery = t->cfg.train.checkpoint_every;
    if (t->run_dir[0] && (force_checkpoint || (cevery > 0 && t->epoch % cevery == 0)))
        TRY(trainer_save(t));
    return ST_OK;
}

/* ---- live edits ---- */

Status trainer_apply_edit(Trainer *t, const char *const *assignments, int count) {
    Config next = t->cfg;
    for (int i = 0; i < count; i++) TRY(config_set(&next, assignments[i]));
    TRY(config_validate(&next));
    /* What cannot change under a running model and dataset. */
    if (memcmp(&next.model, &t->cfg.model, sizeof next.model) != 0)
        return status_fail(ST_ERR_CONFIG, "model.*: the architecture cannot change by an edit; "
                                          "rebuild the model (workbench architecture editor) or "
                                          "start a new run");
    DataConfig a = next.data, b = t->cfg.data;
    a.augment = b.augment;
    if (memcmp(&a, &b, sizeof a) != 0)
        return status_fail(ST_ERR_CONFIG, "data.*: only data.augment.* can change during a run; "
                                          "start a new run for another dataset, split or "
                                          "normalization");
    if (strcmp(next.train.device, t->cfg.train.device) != 0 ||
        next.train.precision != t->cfg.train.precision || next.train.seed != t->cfg.train.seed ||
        next.train.deterministic != t->cfg.train.deterministic)
        return status_fail(ST_ERR_CONFIG, "train.device, train.precision, train.seed and "
                                          "train.deterministic are fixed for a run; start a new "
                                          "run to change them");
    if (next.train.epochs != t->cfg.train.epochs && next.train.epochs <= t->epoch)
        return status_fail(ST_ERR_CONFIG, "train.epochs: %d epochs are already done; the run can "
                           "be shortened to %d at the least", t->epoch, t->epoch + 1);
    int batch_changed = next.train.batch_size != t->cfg.train.batch_size;
    int augment_changed = memcmp(&next.data.augment, &t->cfg.data.augment, sizeof next.data.augment);
    long images_done = t->batch_in_epoch * (long)t->cfg.train.batch_size;
    int threads_changed = next.train.threads != t->cfg.train.threads;
    int limit_changed = next.train.memory_limit_mb != t->cfg.train.memory_limit_mb;
    if (threads_changed && t->backend.ops->set_threads)
        t->backend.ops->set_threads(t->backend.ctx, next.train.threads);
    t->cfg = next;
    if (limit_changed) apply_memory_limit(t);
    if (threads_changed) {
        share_reset(t);
        describe_device(t);
    }
    if (augment_changed) loader_set_augment(t->loader, &t->cfg.data.augment);
    if (batch_changed) {
        /* Keep the position in the epoch in images; the batch grid moves to the new size. */
        set_batch_size(t, images_done / t->cfg.train.batch_size);
    }
    return ST_OK;
}

/* ---- checkpoints ---- */

/* Everything a resume needs besides tensors, as strings ("%.17g" so doubles round-trip). */
static Status state_scalars(const Trainer *t, SafetensorsMeta *m, const char *config_yaml) {
    TRY(safetensors_meta_set(m, CHECKPOINT_META_CONFIG, config_yaml));
    TRY(safetensors_meta_setf(m, "epoch", "%d", t->epoch));
    TRY(safetensors_meta_setf(m, "batch_in_epoch", "%ld", t->batch_in_epoch));
    TRY(safetensors_meta_setf(m, "global_step", "%ld", t->global_step));
    TRY(safetensors_meta_setf(m, "batch_size", "%d", t->cfg.train.batch_size));
    TRY(safetensors_meta_setf(m, "sgd_started", "%d", t->sgd_started));
    if (t->scaler.active) {   /* absent: no scaling when saved (and in files before it) */
        TRY(safetensors_meta_setf(m, "loss_scale_log2", "%d", t->scaler.log2));
        TRY(safetensors_meta_setf(m, "loss_scale_good_steps", "%ld", t->scaler.good_steps));
        TRY(safetensors_meta_setf(m, "loss_scale_skipped", "%ld", t->scaler.skipped));
    }
    TRY(safetensors_meta_setf(m, "elapsed_s", "%.17g", t->elapsed_s));
    TRY(safetensors_meta_setf(m, "epoch_seconds", "%.17g", t->epoch_seconds));
    TRY(safetensors_meta_setf(m, "epoch_loss_sum", "%.17g", t->epoch_loss_sum));
    TRY(safetensors_meta_setf(m, "epoch_correct", "%ld", t->epoch_correct));
    TRY(safetensors_meta_setf(m, "epoch_seen", "%ld", t->epoch_seen));
    TRY(safetensors_meta_setf(m, "best_test_acc", "%.17g", t->best_test_acc));
    TRY(safetensors_meta_setf(m, "last_test_acc", "%.17g", t->last_test_acc));
    TRY(safetensors_meta_setf(m, "last_test_loss", "%.17g", t->last_test_loss));
    TRY(safetensors_meta_setf(m, "last_val_acc", "%.17g", t->last_val_acc));
    TRY(safetensors_meta_setf(m, "last_val_loss", "%.17g", t->last_val_loss));
    return ST_OK;
}

Status trainer_save(Trainer *t) {
    if (!t->run_dir[0]) return status_fail(ST_ERR_ARG, "this run has no run directory to save to");
    char path[CONFIG_PATH_LEN + 32];
    char *yaml = config_to_yaml(&t->cfg);
    if (!yaml) return status_fail(ST_ERR_OOM, "out of memory writing the config");
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    /* The state file is self-contained (weights, optimizer, position, config): a resume reads
     * only it, so a crash between the writes below can never pair mismatched files. */
    Status st = state_scalars(t, &meta, yaml);
    if (st == ST_OK) {
        snprintf(path, sizeof path, "%s/state.safetensors", t->run_dir);
        st = checkpoint_save_state(path, t->model, &t->backend, &meta);
    }
    if (st == ST_OK) {
        safetensors_meta_free(&meta);
        st = safetensors_meta_set(&meta, CHECKPOINT_META_CONFIG, yaml);
        if (st == ST_OK) st = safetensors_meta_setf(&meta, "global_step", "%ld", t->global_step);
        if (st == ST_OK) st = safetensors_meta_setf(&meta, "epoch", "%d", t->epoch);
    }
    if (st == ST_OK) {
        snprintf(path, sizeof path, "%s/model.safetensors", t->run_dir);
        st = checkpoint_save_model(path, t->model, &t->backend, &meta);
    }
    if (st == ST_OK) {
        snprintf(path, sizeof path, "%s/config.yaml", t->run_dir);
        st = fileio_write_atomic(path, yaml, strlen(yaml));
    }
    safetensors_meta_free(&meta);
    free(yaml);
    if (st == ST_OK) t->last_checkpoint_step = t->global_step;
    return st;
}

/* Resume and eval may change where data lives and which device runs, but not what is trained. */
static Status check_resume_overrides(const Config *saved, const Config *next, const char *origin) {
    DataConfig a = saved->data, b = next->data;
    memcpy(a.root, b.root, sizeof a.root);
    a.augment = b.augment;
    if (memcmp(&saved->model, &next->model, sizeof saved->model) != 0 || memcmp(&a, &b, sizeof a) != 0 ||
        saved->train.seed != next->train.seed)
        return status_fail(ST_ERR_CONFIG, "%s: model.*, data.* (other than data.root and "
                                          "data.augment.*) and train.seed cannot change when "
                                          "continuing a run; start a new run instead", origin);
    return ST_OK;
}

static Status config_from_meta(const SafetensorsMeta *meta, const char *origin,
                               const char *const *overrides, int n, Config *cfg) {
    const char *yaml = safetensors_meta_get(meta, CHECKPOINT_META_CONFIG);
    if (!yaml)
        return status_fail(ST_ERR_FORMAT, "%s: has no stored config (not written by shortcut?)",
                           origin);
    Config saved;
    TRY(config_load_string(yaml, origin, &saved));
    *cfg = saved;
    for (int i = 0; i < n; i++) TRY(config_set(cfg, overrides[i]));
    TRY(config_validate(cfg));
    return check_resume_overrides(&saved, cfg, origin);
}

/* The config stored in a checkpoint's header (only the header is read), plus overrides. */
static Status read_config_of(const char *path, const char *const *overrides, int n, Config *cfg) {
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    Status st = safetensors_read_metadata(path, &meta);
    if (st == ST_OK) st = config_from_meta(&meta, path, overrides, n, cfg);
    safetensors_meta_free(&meta);
    return st;
}

/* The loss scale where the saved run left it, when it was scaling and still is; otherwise the
 * scaler stays as build() set it from the config. */
static Status resume_loss_scale(Trainer *t, const SafetensorsMeta *meta, const char *path) {
    if (!safetensors_meta_get(meta, "loss_scale_log2") || !loss_scaling_wanted(&t->cfg))
        return ST_OK;
    long long log2v = 0, good = 0, skipped = 0;
    TRY(checkpoint_meta_long(meta, path, "loss_scale_log2", &log2v));
    TRY(checkpoint_meta_long(meta, path, "loss_scale_good_steps", &good));
    TRY(checkpoint_meta_long(meta, path, "loss_scale_skipped", &skipped));
    if (log2v < LOSS_SCALE_MIN_LOG2 || log2v > LOSS_SCALE_MAX_LOG2 || good < 0 || skipped < 0)
        return status_fail(ST_ERR_FORMAT, "%s: loss scale state out of range (2^%lld, %lld good "
                           "steps, %lld skipped)", path, log2v, good, skipped);
    loss_scaler_start(&t->scaler, 1.0);
    t->scaler.log2 = (int)log2v;
    t->scaler.good_steps = (long)good;
    t->scaler.skipped = (long)skipped;
    return ST_OK;
}

Status trainer_resume(const char *run_dir, const char *const *overrides, int num_overrides,
                      Trainer **out) {
    *out = NULL;
    char path[CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/state.safetensors", run_dir);
    Config cfg;
    TRY(read_config_of(path, overrides, num_overrides, &cfg));

    Trainer *t = calloc(1, sizeof *t);
    if (!t) return status_fail(ST_ERR_OOM, "out of memory creating the trainer");
    t->cfg = cfg;
    snprintf(t->run_dir, sizeof t->run_dir, "%s", run_dir);
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    int momentum_loaded = 0;
    Status st = build(t);
    if (st == ST_OK) st = checkpoint_load_state(path, t->model, &t->backend, &meta, &momentum_loaded);
    long long epoch = 0, bie = 0, step = 0, bs = 0, started = 0, correct = 0, seen = 0;
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "epoch", &epoch);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "batch_in_epoch", &bie);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "global_step", &step);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "batch_size", &bs);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "sgd_started", &started);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "epoch_correct", &correct);
    if (st == ST_OK) st = checkpoint_meta_long(&meta, path, "epoch_seen", &seen);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "elapsed_s", &t->elapsed_s);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "epoch_seconds", &t->epoch_seconds);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "epoch_loss_sum", &t->epoch_loss_sum);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "best_test_acc", &t->best_test_acc);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "last_test_acc", &t->last_test_acc);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "last_test_loss", &t->last_test_loss);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "last_val_acc", &t->last_val_acc);
    if (st == ST_OK) st = checkpoint_meta_double(&meta, path, "last_val_loss", &t->last_val_loss);
    if (st == ST_OK) st = resume_loss_scale(t, &meta, path);
    safetensors_meta_free(&meta);
    if (st == ST_OK && started && !momentum_loaded)
        st = status_fail(ST_ERR_FORMAT, "%s: optimizer state is missing its momentum buffers", path);
    if (st == ST_OK) {
        t->epoch = (int)epoch;
        t->global_step = (long)step;
        t->sgd_started = (int)started;
        t->epoch_correct = (long)correct;
        t->epoch_seen = (long)seen;
        /* Position in images is what matters; an override of the batch size moves the grid. */
        t->batch_in_epoch = (long)(bie * bs / t->cfg.train.batch_size);
        t->last_checkpoint_step = t->global_step;
        st = open_metrics(t, 1);
    }
    if (st == ST_OK) st = open_loader(t);
    if (st != ST_OK) {
        trainer_destroy(t);
        return st;
    }
    *out = t;
    return ST_OK;
}

Status trainer_open_for_eval(const char *run_dir, const char *const *overrides, int num_overrides,
                             Trainer **out) {
    *out = NULL;
    char path[CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", run_dir);
    Config cfg;
    TRY(read_config_of(path, overrides, num_overrides, &cfg));
    Trainer *t = calloc(1, sizeof *t);
    if (!t) return status_fail(ST_ERR_OOM, "out of memory creating the trainer");
    t->cfg = cfg;
    t->eval_only = 1;
    Status st = build(t);
    if (st == ST_OK) st = checkpoint_load_model(path, t->model, &t->backend, NULL);
    if (st != ST_OK) {
        trainer_destroy(t);
        return st;
    }
    *out = t;
    return ST_OK;
}

/* ---- architecture rebuild ---- */

static void free_opt_arrays(Tensor **p, Tensor **g, Tensor **m) {
    free(p);
    free(g);
    free(m);
}

Status trainer_rebuild(Trainer *t, const char *const *assignments, int count, RebuildResult *r) {
    memset(r, 0, sizeof *r);
    Config next = t->cfg;
    for (int i = 0; i < count; i++) {
        if (strncmp(assignments[i], "model.", 6) != 0)
            return status_fail(ST_ERR_CONFIG, "rebuild: '%s' is not a model.* key; change it with "
                               "an edit instead", assignments[i]);
        TRY(config_set(&next, assignments[i]));
    }
    TRY(config_validate(&next));
    int side = augment_out_side(&next.data.augment);
    Model *m2 = NULL;
    Tensor **p = NULL, **g = NULL, **mo = NULL;
    int n_opt = 0, copied = 0;
    Status st = model_build(&next.model, t->data.train.num_classes, side, &t->backend,
                            next.train.seed, &m2);
    if (st == ST_OK) st = optimizer_setup(&t->backend, m2, &p, &g, &mo, &n_opt);
    if (st == ST_OK) st = model_copy_matching(m2, t->model, &copied);
    /* Momentum goes with the weights it belongs to, so a carried layer keeps its velocity. */
    int moms = 0;
    const BackendOps *o = t->backend.ops;
    for (int i = 0; st == ST_OK && i < model_param_count(m2); i++) {
        Param *d = model_param(m2, i);
        if (d->kind == PARAM_BUFFER) continue;
        const Param *s = model_find_param(t->model, d->name);
        if (!s || !s->momentum.data || s->value.n != d->value.n || s->value.c != d->value.c ||
            s->value.h != d->value.h || s->value.w != d->value.w)
            continue;
        st = o->copy(t->backend.ctx, &d->momentum, &s->momentum);
        if (st == ST_OK) moms++;
    }
    if (st != ST_OK) {
        free_opt_arrays(p, g, mo);
        model_destroy(m2);
        return st;
    }
    for (int i = 0; i < model_param_count(t->model); i++)
        o->tensor_free(t->backend.ctx, &model_param(t->model, i)->momentum);
    model_destroy(t->model);
    free_opt_arrays(t->opt_params, t->opt_grads, t->opt_moms);
    t->model = m2;
    t->opt_params = p;
    t->opt_grads = g;
    t->opt_moms = mo;
    t->opt_count = n_opt;
    t->cfg = next;
    r->carried = copied;
    r->total = model_param_count(m2);
    r->momentum_carried = moms;
    r->params = model_num_trainable(m2);
    r->macs = model_total_macs(m2);
    return ST_OK;
}

/* ---- learning-rate finder ---- */

void trainer_lr_suggest(const double *lr, const double *smooth, int n, LrFindResult *r) {
    r->suggested_lr = r->steepest_lr = r->min_loss_lr = 0;
    if (n < 5) return;
    /* The first tenth is mostly the smoothing filling up. */
    int skip = n / 10, imin = skip;
    for (int i = skip; i < n; i++)
        if (isfinite(smooth[i]) && smooth[i] < smooth[imin]) imin = i;
    r->min_loss_lr = lr[imin];
    /* Where the loss still falls clearly: an order of magnitude below its minimum. */
    r->suggested_lr = lr[imin] / 10.0;
    /* The slope over a window of a twentieth of the sweep (point to point, the noise of single
     * batches decides), and only within three decades below the minimum: far below it the loss
     * does not move and its wiggles are noise too. */
    int w = n / 20 > 1 ? n / 20 : 1, isteep = -1;
    double best = 0;
    for (int i = skip > w ? skip : w; i < imin && i + w < n; i++) {
        if (lr[i] < lr[imin] * 1e-3) continue;
        double dx = log(lr[i + w]) - log(lr[i - w]);
        if (dx <= 0 || !isfinite(smooth[i + w]) || !isfinite(smooth[i - w])) continue;
        double slope = (smooth[i + w] - smooth[i - w]) / dx;
        if (isteep < 0 || slope < best) { best = slope; isteep = i; }
    }
    r->steepest_lr = isteep >= 0 ? lr[isteep] : r->suggested_lr;
}

Status trainer_lr_find(Trainer *t, const LrFindOptions *opt, LrFindCallback cb, void *user,
                       LrFindResult *r) {
    memset(r, 0, sizeof *r);
    int n = opt->steps;
    if (n < 5 || n > 100000 || !(opt->start_lr > 0) || !(opt->end_lr > opt->start_lr))
        return status_fail(ST_ERR_ARG, "lr finder: needs 5 or more steps and 0 < start < end "
                           "(got %d steps, %g to %g)", n, opt->start_lr, opt->end_lr);
    double *lrs = calloc((size_t)n, sizeof(double));
    double *smooth = calloc((size_t)n, sizeof(double));
    if (!lrs || !smooth) {
        free(lrs);
        free(smooth);
        return status_fail(ST_ERR_OOM, "lr finder: out of memory");
    }
    /* The copy: same architecture and weights (BN statistics included), fresh momentum, its
     * own loader. The run's model, optimizer, loader and position are never touched, so the
     * run continues as if the finder had not happened. */
    model_release_activations(t->model);
    Model *m = NULL;
    Loader *l = NULL;
    Tensor **p = NULL, **g = NULL, **mo = NULL;
    int n_opt = 0, started = 0, copied = 0;
    Status st = model_build(&t->cfg.model, t->data.train.num_classes,
                            augment_out_side(&t->cfg.data.augment), &t->backend,
                            t->cfg.train.seed, &m);
    if (st == ST_OK) st = optimizer_setup(&t->backend, m, &p, &g, &mo, &n_opt);
    if (st == ST_OK) st = model_copy_matching(m, t->model, &copied);
    if (st == ST_OK) {
        LoaderOptions lo = loader_options(t, &t->data.train, 1);
        st = loader_create(&lo, &l);
        if (st == ST_OK) loader_seek(l, t->epoch, t->batch_in_epoch);
    }
    LossScaler scaler = {0};   /* the finder's own, started afresh like a new run's */
    if (loss_scaling_wanted(&t->cfg)) loss_scaler_start(&scaler, t->cfg.train.loss_scale_init);
    OptimizerView ov = {p, g, mo, n_opt, &started, &scaler};
    double ema = 0, weight = 0, best = INFINITY;
    int done = 0;
    for (int i = 0; st == ST_OK && i < n; i++) {
        double lr = opt->start_lr * pow(opt->end_lr / opt->start_lr, (double)i / (double)(n - 1));
        const Batch *b;
        double loss;
        long correct;
        int finite;
        st = loader_next(l, &b);
        if (st != ST_OK) break;
        uint64_t dseed = rng_u64(t->cfg.train.seed ^ 0x4c52u, RNG_STREAM_DROPOUT, (uint64_t)i);
        LossScaleEvent ev;
        st = train_on_batch(t, m, &ov, b, lr, dseed, &loss, &correct, &finite, &ev);
        if (st != ST_OK) break;
        if (ev == LOSS_SCALE_GAVE_UP) finite = 0;   /* diverged, as a non-finite loss is */
        ema = 0.98 * ema + 0.02 * (finite ? loss : INFINITY);
        weight = 0.98 * weight + 0.02;
        double sm = finite ? ema / weight : INFINITY;
        lrs[i] = lr;
        smooth[i] = sm;
        done = i + 1;
        if (sm < best) best = sm;
        int stop = cb ? cb(user, i, lr, finite ? loss : NAN, sm) : 0;
        if (!finite || (opt->diverge > 0 && i > n / 10 && sm > opt->diverge * best)) {
            r->diverged = 1;
            break;
        }
        if (stop) {
            r->cancelled = 1;
            break;
        }
    }
    loader_destroy(l);
    for (int i = 0; m && i < model_param_count(m); i++)
        t->backend.ops->tensor_free(t->backend.ctx, &model_param(m, i)->momentum);
    model_destroy(m);
    free_opt_arrays(p, g, mo);
    r->steps_done = done;
    /* The diverged tail says nothing about where to train. */
    if (st == ST_OK) trainer_lr_suggest(lrs, smooth, r->diverged && done > 0 ? done - 1 : done, r);
    free(lrs);
    free(smooth);
    return st;
}
