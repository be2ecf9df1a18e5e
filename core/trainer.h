/* trainer.h — one training run: backend, data, model, optimizer, schedule, metrics, checkpoints.
 *
 * The Trainer is single-threaded and synchronous: trainer_step() runs exactly one optimizer step
 * and returns. Threads, commands and snapshots live one level up in session.h; the headless
 * `shortcut train`, the workbench and the tests all drive a Trainer through a Session (tests may
 * also call it directly). Position in the run is (epoch, batch index within the epoch); the
 * learning rate is schedule_lr() of that position, so changing the schedule or the batch size
 * mid-run only changes the future. */
#ifndef SHORTCUT_TRAINER_H
#define SHORTCUT_TRAINER_H

#include <stdio.h>

#include "backend.h"
#include "config.h"
#include "cpushare.h"
#include "dataset.h"
#include "loader.h"
#include "lossscale.h"
#include "model.h"
#include "status.h"

typedef struct StepResult {
    double loss;          /* mean loss of the batch */
    double accuracy;      /* fraction correct in the batch */
    double lr;            /* learning rate used for this step */
    int batch;            /* images in the batch */
    double seconds;       /* wall time of the step incl. waiting for data */
    int epoch_finished;   /* 1 when this step completed an epoch */
    int skipped;          /* loss scaling: the gradients overflowed, the update was skipped */
    int loss_scale_log2;  /* loss scaling: the scale this step used was 2^this */
} StepResult;

typedef struct EvalResult {
    double loss;
    double accuracy;
    int count;
    int num_classes;
    long *confusion;      /* (num_classes x num_classes) row = true, col = predicted; malloc'd */
    int32_t *predicted;   /* (count) per image; malloc'd */
    float *probability;   /* (count) softmax probability of the prediction; malloc'd */
} EvalResult;

typedef struct Trainer {
    Config cfg;                 /* current config (edits applied) */
    char run_dir[CONFIG_PATH_LEN]; /* "" = do not write anything */
    Backend backend;
    int backend_fell_back;      /* device auto wanted cuda and fell back */
    char fallback_reason[200];  /* why CUDA was not used (when backend_fell_back) */
    char device_line[256];      /* "cpu: ..., fp32" for status lines */
    DataSplits data;
    Loader *loader;
    Model *model;

    /* On-device augmentation (backends with BackendOps.augment, e.g. CUDA): the training
     * images live on the backend as U8 (count, 3, 32, 32), uploaded once; the loader then
     * builds only labels, indices and records, and each step's pixels are made on the device. */
    int device_augment;
    Tensor train_pixels;
    int eval_only;              /* opened by trainer_open_for_eval: never trains */
    /* Evaluation the same way: each evaluated set (test, validation) is uploaded as U8 on its
     * first evaluation, and batches are made on the device from identity records (resize and
     * normalization only). eval_on_device 0 keeps evaluation on the host (tests compare). */
    int eval_on_device;
    const Dataset *eval_sets[2];
    Tensor eval_pixels[2];

    /* train.threads 0 on a backend with host threads: the count follows what other programs
     * leave free (cpushare.h; trainer_fit_threads). Off for explicit counts and for
     * train.deterministic, since oneDNN splits its sums by thread. */
    int share_cores;
    CpuShare share;

    /* batch tensors on the backend */
    Tensor x;                   /* (N, 3, S, S) */
    Tensor labels;              /* (N) I32 */
    Tensor loss, pred, prob;    /* (N) */
    Tensor dlogits;             /* (N, K) */
    float *host_loss;           /* (cap) */
    int32_t *host_pred;
    float *host_prob;
    int host_cap;

    /* optimizer */
    int sgd_started;            /* momentum buffers hold state */
    LossScaler scaler;          /* dynamic loss scaling (train.loss_scaling; lossscale.h) */
    Tensor **opt_params, **opt_grads, **opt_moms;
    int opt_count;

    /* position */
    int epoch;                  /* epochs completed */
    long batch_in_epoch;        /* steps done in the current epoch */
    long global_step;
    int ok_batch_size;          /* the batch size of the last step that trained (0: none yet) */
    long ok_batch_in_epoch;     /* and batch_in_epoch after it (a refusal goes back there) */
    int refused_batch;          /* a batch size the last step refused (trainer_take_refused) */
    double elapsed_s;           /* training wall time so far (carried across resumes) */
    double epoch_seconds;       /* training wall time in the current epoch */

    /* running epoch metrics */
    double epoch_loss_sum;
    long epoch_correct, epoch_seen;

    FILE *metrics;              /* run_dir/metrics.csv, appended */
    double last_test_acc, last_test_loss, last_val_acc, last_val_loss, best_test_acc;
    long last_checkpoint_step;

    /* for the viewer (core/viewdata.h): the batch of the last step (owned by the loader, valid
     * until the next step; NULL before the first) and the last test-set evaluation */
    const Batch *last_batch;
    EvalResult last_eval;       /* count 0: none yet */
    long last_eval_serial;      /* increases whenever last_eval is replaced */
    long last_eval_step;
    int last_eval_epoch;
} Trainer;

/* Build everything from a validated config. run_dir may be NULL or "" (nothing is written); else
 * it is created and config.yaml is written. */
Status trainer_create(const Config *cfg, const char *run_dir, Trainer **out);

/* Reopen a run directory written by trainer_save(): its config.yaml (then `overrides`, each a
 * "key=value" --set string, may be NULL), weights and resume state; continues exactly where it
 * stopped. */
Status trainer_resume(const char *run_dir, const char *const *overrides, int num_overrides,
                      Trainer **out);

/* Open a run directory read-only for evaluation: its config (plus overrides), its
 * model.safetensors weights; writes nothing. */
Status trainer_open_for_eval(const char *run_dir, const char *const *overrides, int num_overrides,
                             Trainer **out);

void trainer_destroy(Trainer *t);

/* Steps per epoch for the current batch size. */
long trainer_steps_per_epoch(const Trainer *t);
/* Learning rate at the current position. */
double trainer_current_lr(const Trainer *t);
/* 1 when epoch >= cfg.epochs. */
int trainer_done(const Trainer *t);

/* Between steps: with share_cores set, sample the CPU load (about once a second) and move the
 * backend's thread count to what fits beside other programs. Returns 1 when it changed (the
 * device line then says so). */
int trainer_fit_threads(Trainer *t, double now_s);

/* One optimizer step. A non-finite loss stops with ST_ERR_NUMERIC (message names epoch, step,
 * lr) before the weights are updated. */
Status trainer_step(Trainer *t, StepResult *res);

/* Evaluate on a dataset (t->data.test, t->data.val, ...) in inference mode. `res` fields are
 * malloc'd; release with eval_result_free. */
Status trainer_evaluate(Trainer *t, const Dataset *set, EvalResult *res);
void eval_result_free(EvalResult *r);
/* Keep `r` as the trainer's last test evaluation (for the viewer); takes ownership of its
 * arrays and leaves *r empty. */
void trainer_keep_eval(Trainer *t, EvalResult *r);

/* End-of-epoch bookkeeping: evaluate when due, append a metrics.csv row, checkpoint when due.
 * Called by the session after a step that finished an epoch (and at the end of the run). */
Status trainer_end_epoch(Trainer *t, int force_eval, int force_checkpoint);

/* Write model.safetensors (weights + resolved config), state.safetensors (optimizer + position)
 * and config.yaml into run_dir, each atomically. */
Status trainer_save(Trainer *t);

/* Apply "key=value" edits between steps (any config key); validates the result and refuses the
 * whole edit, leaving the config unchanged, when it is invalid. Side effects (batch size,
 * augmentation, threads) are applied to the loader and backend. */
Status trainer_apply_edit(Trainer *t, const char *const *assignments, int count);

/* When trainer_step failed with ST_ERR_OOM because a batch size raised since the last step
 * needs more memory than the device (or train.memory_limit_mb) has, the trainer has already
 * gone back to the batch size that last trained, and the run goes on from the same position:
 * this returns the refused size once (0 otherwise), and status_message() says why. */
int trainer_take_refused(Trainer *t);

/* Rebuild the model from edited model.* keys ("model.depth=16", ...) between steps: build the
 * new architecture, carry over every parameter (and its momentum) whose name and shape still
 * match, keep the position, optimizer settings and data. Refuses keys outside model.* and an
 * invalid result, leaving everything unchanged. */
typedef struct RebuildResult {
    int carried;                /* parameter tensors (BN buffers included) copied over */
    int total;                  /* parameter tensors of the new model */
    int momentum_carried;       /* momentum buffers copied over */
    long long params;           /* trainable elements of the new model */
    long long macs;             /* per image */
} RebuildResult;
Status trainer_rebuild(Trainer *t, const char *const *assignments, int count, RebuildResult *r);

/* Learning-rate finder (fastai's lr_find): on a copy of the model (weights and BN statistics,
 * fresh momentum) and its own loader, train `steps` steps with the lr rising exponentially from
 * start_lr to end_lr, recording the loss. The run itself (weights, optimizer, loader, position)
 * is untouched: training afterwards is bit-identical to training without the finder. */
typedef struct LrFindOptions {
    double start_lr, end_lr;
    int steps;
    double diverge;             /* stop when the smoothed loss exceeds diverge x its best; 0 never */
} LrFindOptions;

typedef struct LrFindResult {
    int steps_done;
    int diverged, cancelled;
    double suggested_lr;        /* min_loss_lr / 10; 0 when there are too few points */
    double steepest_lr;         /* steepest fall of the smoothed loss against log lr (over a
                                 * window of steps/20 points, within 3 decades below the
                                 * minimum), so single batches do not decide */
    double min_loss_lr;         /* lr at the lowest smoothed loss */
} LrFindResult;

/* Called after each finder step with its lr, raw loss (NaN when non-finite) and smoothed loss
 * (bias-corrected EMA, beta 0.98); a nonzero return cancels the sweep. */
typedef int (*LrFindCallback)(void *user, int index, double lr, double loss, double smooth);
Status trainer_lr_find(Trainer *t, const LrFindOptions *opt, LrFindCallback cb, void *user,
                       LrFindResult *r);

/* The suggestion from a sweep: lr (increasing) and smoothed loss, n points. Pure. */
void trainer_lr_suggest(const double *lr, const double *smooth, int n, LrFindResult *r);

#endif
