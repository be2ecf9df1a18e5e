/* session.c — the worker thread, its command queue and the published snapshot.
 *
 * Invariants: only the worker touches the Trainer; `mu` guards `queue`, `snap` and `finished`;
 * nothing slow (a step, an evaluation, a save) runs with `mu` held. The worker keeps its own
 * working copy of the histories in `work` and publishes it by one memcpy per step. */
#include "session.h"

#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "trainer.h"
#include "viewdata.h"

#define QUEUE_CAP 64
#define SET_TEXT_LEN 2048

typedef struct Command {
    CommandKind kind;
    char text[SET_TEXT_LEN];
} Command;

struct Session {
    SessionOptions opt;
    Config config_copy;
    char run_dir[CONFIG_PATH_LEN];
    char resume_dir[CONFIG_PATH_LEN];
    char **overrides;

    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cmd_cond;    /* worker waits here for commands when idle */
    pthread_cond_t snap_cond;   /* observers wait here for new snapshots */

    Command queue[QUEUE_CAP];
    int q_head, q_len;
    int finished;
    int interrupt;              /* CMD_CANCEL or CMD_STOP posted: a running LR finder ends */

    Snapshot snap;              /* published; guarded by mu */
    Snapshot work;              /* worker's copy; only the worker touches it */
    double start_time;
    double ips_ema;
    double loss_ema;
    double loss_ema_weight;
    double last_save_time;
    uint64_t log_seq;
    FILE *log_file;             /* run_dir/log.txt, appended; NULL without a run dir */
    ViewExchange *view;         /* hands images to the viewer (viewdata.h); its own mutex */
    int view_wake;              /* guarded by mu: a viewer asked while the worker was idle */
};

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *run_state_name(RunState s) {
    switch (s) {
    case RUN_STARTING: return "starting";
    case RUN_RUNNING: return "running";
    case RUN_PAUSED: return "paused";
    case RUN_FINISHED: return "finished";
    case RUN_STOPPED: return "stopped";
    case RUN_ERROR: return "error";
    }
    return "?";
}

/* ---- worker-side helpers (no lock held unless stated) ---- */

static void work_log(Session *s, int is_error, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void work_log(Session *s, int is_error, const char *fmt, ...) {
    Snapshot *w = &s->work;
    if (w->log_len == SESSION_LOG) {
        memmove(&w->log[0], &w->log[1], sizeof(LogLine) * (SESSION_LOG - 1));
        w->log_len--;
    }
    LogLine *l = &w->log[w->log_len++];
    l->seq = ++s->log_seq;
    l->time_s = now_s() - s->start_time;
    l->step = w->global_step;
    l->is_error = is_error;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->text, sizeof l->text, fmt, ap);
    va_end(ap);
    if (is_error) snprintf(w->last_error, sizeof w->last_error, "%s", l->text);
    if (s->log_file) {
        /* Best effort: the run log is for people; training does not stop when it cannot be
         * written. */
        fprintf(s->log_file, "%9.1fs step %ld %s%s\n", l->time_s, l->step,
                is_error ? "ERROR " : "", l->text);
        fflush(s->log_file);
    }
}

static void publish(Session *s) {
    pthread_mutex_lock(&s->mu);
    s->work.seq = s->snap.seq + 1;
    memcpy(&s->snap, &s->work, sizeof s->snap);
    pthread_cond_broadcast(&s->snap_cond);
    pthread_mutex_unlock(&s->mu);
}

static void history_push(Snapshot *w, const StepResult *r, double ips) {
    /* Thin by two when full: keep every other point and double the stride, so the whole run
     * stays visible at a bounded cost. */
    if (w->hist_stride <= 0) w->hist_stride = 1;
    if (w->hist_len == 0) w->hist_step0 = w->global_step;
    if ((w->global_step - w->hist_step0) % w->hist_stride != 0) return;
    if (w->hist_len == SESSION_HISTORY) {
        for (int i = 0; i < SESSION_HISTORY / 2; i++) {
            w->hist_loss[i] = w->hist_loss[2 * i];
            w->hist_acc[i] = w->hist_acc[2 * i];
            w->hist_lr[i] = w->hist_lr[2 * i];
            w->hist_ips[i] = w->hist_ips[2 * i];
        }
        w->hist_len = SESSION_HISTORY / 2;
        w->hist_stride *= 2;
        if ((w->global_step - w->hist_step0) % w->hist_stride != 0) return;
    }
    w->hist_loss[w->hist_len] = (float)r->loss;
    w->hist_acc[w->hist_len] = (float)r->accuracy;
    w->hist_lr[w->hist_len] = (float)r->lr;
    w->hist_ips[w->hist_len] = (float)ips;
    w->hist_len++;
}

static void sync_position(Session *s, Trainer *t) {
    Snapshot *w = &s->work;
    w->config = t->cfg;
    w->epoch = t->epoch;
    w->epochs = t->cfg.train.epochs;
    w->batch_in_epoch = t->batch_in_epoch;
    w->steps_per_epoch = trainer_steps_per_epoch(t);
    w->global_step = t->global_step;
    w->lr = trainer_current_lr(t);
    w->elapsed_s = t->elapsed_s;
    w->test_acc = t->last_test_acc;
    w->test_loss = t->last_test_loss;
    w->best_test_acc = t->best_test_acc;
    w->val_acc = t->last_val_acc;
    w->val_loss = t->last_val_loss;
    w->checkpoint_age_s = s->last_save_time > 0 ? now_s() - s->last_save_time : -1;
    long remaining = (long)(t->cfg.train.epochs - t->epoch) * w->steps_per_epoch - t->batch_in_epoch;
    if (remaining < 0) remaining = 0;
    double steps_per_s = s->ips_ema > 0 ? s->ips_ema / t->cfg.train.batch_size : 0;
    w->eta_s = steps_per_s > 0 ? (double)remaining / steps_per_s : (remaining == 0 ? 0 : -1);
}

static void sync_epoch_history(Session *s, Trainer *t, double train_loss, double train_acc) {
    Snapshot *w = &s->work;
    if (w->ep_len == SESSION_EPOCHS) return;
    int i = w->ep_len++;
    w->ep_train_loss[i] = (float)train_loss;
    w->ep_train_acc[i] = (float)train_acc;
    w->ep_test_acc[i] = (float)t->last_test_acc;
    w->ep_test_loss[i] = (float)t->last_test_loss;
}

static int queue_pop(Session *s, Command *out) {
    pthread_mutex_lock(&s->mu);
    int got = s->q_len > 0;
    if (got) {
        *out = s->queue[s->q_head];
        s->q_head = (s->q_head + 1) % QUEUE_CAP;
        s->q_len--;
    }
    pthread_mutex_unlock(&s->mu);
    return got;
}

/* A viewer asked for data: wake the worker if it sleeps between commands (paused, finished). */
static void wake_for_view(void *arg) {
    Session *s = arg;
    pthread_mutex_lock(&s->mu);
    s->view_wake = 1;
    pthread_cond_signal(&s->cmd_cond);
    pthread_mutex_unlock(&s->mu);
}

static void wait_for_command(Session *s) {
    pthread_mutex_lock(&s->mu);
    while (s->q_len == 0 && !s->view_wake) pthread_cond_wait(&s->cmd_cond, &s->mu);
    s->view_wake = 0;
    pthread_mutex_unlock(&s->mu);
}

static void save_now(Session *s, Trainer *t) {
    if (!t->run_dir[0]) return;
    Status st = trainer_save(t);
    if (st == ST_OK) {
        s->last_save_time = now_s();
        work_log(s, 0, "checkpoint saved to %s (epoch %d, step %ld)", t->run_dir, t->epoch,
                 t->global_step);
    } else {
        work_log(s, 1, "checkpoint failed: %s", status_message());
    }
}

static void eval_now(Session *s, Trainer *t) {
    EvalResult r;
    Status st = trainer_evaluate(t, &t->data.test, &r);
    if (st != ST_OK) {
        work_log(s, 1, "evaluation failed: %s", status_message());
        return;
    }
    t->last_test_acc = r.accuracy;
    t->last_test_loss = r.loss;
    if (r.accuracy > t->best_test_acc) t->best_test_acc = r.accuracy;
    work_log(s, 0, "evaluation: test loss %.4f, accuracy %.2f%% (%d images)", r.loss,
             100.0 * r.accuracy, r.count);
    trainer_keep_eval(t, &r);
}

static void add_marker(Session *s, long step, const char *label) {
    Snapshot *w = &s->work;
    if (w->mark_len == SESSION_MARKS) {
        memmove(&w->marks[0], &w->marks[1], sizeof(Marker) * (SESSION_MARKS - 1));
        w->mark_len--;
    }
    Marker *m = &w->marks[w->mark_len++];
    m->step = step;
    snprintf(m->label, sizeof m->label, "%s", label);
}

/* Split "key=value" lines in place; empty lines are skipped. */
static int split_lines(char *buf, const char **items, int max) {
    int n = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line && n < max;
         line = strtok_r(NULL, "\n", &save))
        if (*line) items[n++] = line;
    return n;
}

/* "lr=0.02" for one key, "schedule" for a schedule edit, "lr=0.02 +2" for more. */
static void edit_label(const char *const *items, int n, char *out, size_t len) {
    int all_schedule = n > 0;
    for (int i = 0; i < n; i++)
        all_schedule &= strncmp(items[i], "train.schedule.", 15) == 0 ||
                        strncmp(items[i], "train.schedule=", 15) == 0 ||
                        strncmp(items[i], "train.lr=", 9) == 0;
    if (n == 0) { snprintf(out, len, "edit"); return; }
    if (all_schedule && n > 1) { snprintf(out, len, "schedule"); return; }
    const char *eq = strchr(items[0], '=');
    size_t keylen = eq ? (size_t)(eq - items[0]) : strlen(items[0]);
    const char *tail = items[0];
    for (size_t i = 0; i < keylen; i++)
        if (items[0][i] == '.') tail = items[0] + i + 1;
    if (n == 1) snprintf(out, len, "%s", tail);
    else snprintf(out, len, "%s +%d", tail, n - 1);
}

static void rebuild_now(Session *s, Trainer *t, const char *text) {
    char buf[SET_TEXT_LEN];
    snprintf(buf, sizeof buf, "%s", text);
    const char *items[64];
    int n = split_lines(buf, items, 64);
    char what[SET_TEXT_LEN];
    what[0] = 0;
    for (int i = 0; i < n; i++) {
        size_t used = strlen(what);
        snprintf(what + used, sizeof what - used, "%s%s", i ? ", " : "", items[i]);
    }
    RebuildResult r;
    Status st = trainer_rebuild(t, items, n, &r);
    if (st != ST_OK) {
        work_log(s, 1, "rebuild refused: %s", status_message());
        return;
    }
    s->work.num_params = r.params;
    s->work.rebuild_carried = r.carried;
    s->work.rebuild_total = r.total;
    work_log(s, 0, "rebuilt the model (%s) (from step %ld): carried %d of %d tensors whose name "
             "and shape match; %lld parameters", what, t->global_step, r.carried, r.total,
             r.params);
    add_marker(s, t->global_step, "rebuild");
}

typedef struct FinderProgress {
    Session *s;
} FinderProgress;

static int finder_point(void *user, int i, double lr, double loss, double smooth) {
    Session *s = ((FinderProgress *)user)->s;
    Snapshot *w = &s->work;
    if (i < SESSION_LRF_MAX) {
        w->lrf_lr[i] = (float)lr;
        w->lrf_loss[i] = (float)loss;
        w->lrf_smooth[i] = (float)smooth;
        w->lrf_len = i + 1;
    }
    publish(s);
    pthread_mutex_lock(&s->mu);
    int stop = s->interrupt;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* "start=1e-7 end=10 steps=100 diverge=4", any subset, any order. */
static Status parse_finder_options(const char *text, LrFindOptions *o) {
    o->start_lr = 1e-7;
    o->end_lr = 10;
    o->steps = 100;
    o->diverge = 4;
    char buf[SET_TEXT_LEN];
    snprintf(buf, sizeof buf, "%s", text ? text : "");
    for (char *save = NULL, *tok = strtok_r(buf, " \n", &save); tok;
         tok = strtok_r(NULL, " \n", &save)) {
        char *eq = strchr(tok, '=');
        char *end = NULL;
        double v = eq ? strtod(eq + 1, &end) : 0;
        if (!eq || end == eq + 1 || *end || !isfinite(v))
            return status_fail(ST_ERR_ARG, "lr finder: cannot read '%s' (expected start=, end=, "
                               "steps= or diverge= with a number)", tok);
        *eq = 0;
        if (!strcmp(tok, "start")) o->start_lr = v;
        else if (!strcmp(tok, "end")) o->end_lr = v;
        else if (!strcmp(tok, "steps")) o->steps = (int)v;
        else if (!strcmp(tok, "diverge")) o->diverge = v;
        else return status_fail(ST_ERR_ARG, "lr finder: unknown option '%s'", tok);
    }
    if (o->steps > SESSION_LRF_MAX)
        return status_fail(ST_ERR_ARG, "lr finder: at most %d steps (got %d)", SESSION_LRF_MAX,
                           o->steps);
    return ST_OK;
}

static void lr_find_now(Session *s, Trainer *t, const char *text) {
    Snapshot *w = &s->work;
    LrFindOptions o;
    Status st = parse_finder_options(text, &o);
    w->lrf_len = 0;
    w->lrf_suggested = w->lrf_steepest = w->lrf_min_loss_lr = 0;
    if (st != ST_OK) {
        w->lrf_state = LRF_FAILED;
        work_log(s, 1, "%s", status_message());
        return;
    }
    w->lrf_state = LRF_RUNNING;
    w->lrf_steps = o.steps;
    work_log(s, 0, "lr finder: %d steps, lr %.3g to %.3g, on a copy of the weights (the run "
             "waits)", o.steps, o.start_lr, o.end_lr);
    publish(s);
    FinderProgress fp = {s};
    LrFindResult r;
    st = trainer_lr_find(t, &o, finder_point, &fp, &r);
    if (st != ST_OK) {
        w->lrf_state = LRF_FAILED;
        work_log(s, 1, "lr finder failed: %s", status_message());
        return;
    }
    w->lrf_suggested = r.suggested_lr;
    w->lrf_steepest = r.steepest_lr;
    w->lrf_min_loss_lr = r.min_loss_lr;
    if (r.cancelled) {
        w->lrf_state = LRF_CANCELLED;
        work_log(s, 0, "lr finder cancelled after %d steps", r.steps_done);
    } else if (r.suggested_lr > 0) {
        w->lrf_state = LRF_DONE;
        work_log(s, 0, "lr finder: %d steps%s; suggested lr %.3g (lowest loss at %.3g, steepest "
                 "fall at %.3g)", r.steps_done, r.diverged ? " (stopped: loss diverged)" : "",
                 r.suggested_lr, r.min_loss_lr, r.steepest_lr);
    } else {
        w->lrf_state = LRF_DONE;
        work_log(s, 0, "lr finder: %d steps, too few for a suggestion; widen the range",
                 r.steps_done);
    }
}

static void reset_run_view(Session *s, Trainer *t) {
    Snapshot *w = &s->work;
    w->hist_len = 0;
    w->hist_stride = 1;
    w->hist_step0 = 0;
    w->ep_len = 0;
    w->mark_len = 0;
    w->loss = w->accuracy = w->loss_smooth = w->images_per_s = 0;
    w->rebuild_carried = w->rebuild_total = 0;
    w->last_error[0] = 0;
    w->last_status = ST_OK;
    w->run_id++;
    s->ips_ema = s->loss_ema = s->loss_ema_weight = 0;
    s->last_save_time = 0;
    snprintf(w->run_dir, sizeof w->run_dir, "%s", t->run_dir);
    snprintf(w->device, sizeof w->device, "%s", t->device_line);
    w->num_params = model_num_trainable(t->model);
}

static void open_run_log(Session *s, const Trainer *t) {
    if (!t->run_dir[0]) return;
    char path[CONFIG_PATH_LEN + 16];
    snprintf(path, sizeof path, "%s/log.txt", t->run_dir);
    s->log_file = fopen(path, "a");
    if (!s->log_file) work_log(s, 1, "%s: cannot write the run log; continuing without it", path);
}

/* A new run from fresh weights with the current config. The new trainer is built before the old
 * one goes, so a failure (no space for the new directory) leaves the old run as it was. */
static void restart_now(Session *s, Trainer **tp, const char *dir, RunState *state) {
    Trainer *old = *tp;
    if (old->run_dir[0] && !dir[0]) {
        work_log(s, 1, "restart refused: needs a new run directory (the current one is kept)");
        return;
    }
    if (old->run_dir[0] && !strcmp(dir, old->run_dir)) {
        work_log(s, 1, "restart refused: %s is the current run; give a new directory", dir);
        return;
    }
    if (*state != RUN_ERROR && old->global_step != old->last_checkpoint_step) save_now(s, old);
    Config cfg = old->cfg;
    Trainer *nt;
    Status st = trainer_create(&cfg, dir[0] ? dir : NULL, &nt);
    if (st != ST_OK) {
        work_log(s, 1, "restart failed: %s", status_message());
        return;
    }
    char old_dir[CONFIG_PATH_LEN];
    snprintf(old_dir, sizeof old_dir, "%s", old->run_dir);
    trainer_destroy(old);
    *tp = nt;
    if (s->log_file) fclose(s->log_file);
    s->log_file = NULL;
    reset_run_view(s, nt);
    open_run_log(s, nt);
    if (old_dir[0])
        work_log(s, 0, "restarted from fresh weights in %s (the previous run is saved in %s)",
                 nt->run_dir, old_dir);
    else
        work_log(s, 0, "restarted from fresh weights");
    add_marker(s, 0, "restart");
    *state = trainer_done(nt) ? RUN_FINISHED : RUN_RUNNING;
}

/* Apply one command. Returns 1 when the worker should end. */
static int apply_command(Session *s, Trainer **tp, const Command *c, RunState *state,
                         int *steps_pending) {
    Trainer *t = *tp;
    switch (c->kind) {
    case CMD_SET: {
        char buf[SET_TEXT_LEN];
        snprintf(buf, sizeof buf, "%s", c->text);
        const char *items[64];
        int n = split_lines(buf, items, 64);
        Status st = trainer_apply_edit(t, items, n);
        if (st != ST_OK) {
            work_log(s, 1, "edit refused: %s", status_message());
        } else {
            for (int i = 0; i < n; i++)
                work_log(s, 0, "set %s (from step %ld)", items[i], t->global_step);
            /* train.threads changes the device line */
            snprintf(s->work.device, sizeof s->work.device, "%s", t->device_line);
            char label[40];
            edit_label(items, n, label, sizeof label);
            add_marker(s, t->global_step, label);
            if (*state == RUN_FINISHED && !trainer_done(t)) *state = RUN_PAUSED;
            if (*state == RUN_PAUSED && trainer_done(t)) *state = RUN_FINISHED;
        }
        return 0;
    }
    case CMD_REBUILD: rebuild_now(s, t, c->text); return 0;
    case CMD_LR_FIND: lr_find_now(s, t, c->text); return 0;
    case CMD_CANCEL:
        pthread_mutex_lock(&s->mu);
        s->interrupt = 0;
        pthread_mutex_unlock(&s->mu);
        return 0;
    case CMD_RESTART: restart_now(s, tp, c->text, state); return 0;
    case CMD_PAUSE:
        *steps_pending = 0;
        if (*state == RUN_RUNNING) { *state = RUN_PAUSED; work_log(s, 0, "paused"); }
        return 0;
    case CMD_RESUME:
        if (*state == RUN_PAUSED || *state == RUN_ERROR) {
            if (trainer_done(t)) { *state = RUN_FINISHED; return 0; }
            *state = RUN_RUNNING;
            work_log(s, 0, "resumed");
        }
        return 0;
    case CMD_STEP:
        /* Each press is one step: steps queued while one runs are not merged. */
        if (*state != RUN_FINISHED && !trainer_done(t)) { (*steps_pending)++; *state = RUN_PAUSED; }
        return 0;
    case CMD_SAVE: save_now(s, t); return 0;
    case CMD_EVAL: eval_now(s, t); return 0;
    case CMD_STOP: return 1;
    }
    return 0;
}

static void run_one_step(Session *s, Trainer *t, RunState *state) {
    StepResult r;
    Status st = trainer_step(t, &r);
    if (st == ST_ERR_OOM && trainer_take_refused(t)) {
        work_log(s, 1, "%s", status_message());   /* the run goes on at the old batch size */
        add_marker(s, t->global_step, "batch refused");
        return;
    }
    if (st != ST_OK) {
        s->work.last_status = st;
        work_log(s, 1, "%s", status_message());
        *state = RUN_ERROR;
        return;
    }
    Snapshot *w = &s->work;
    if (r.skipped)
        work_log(s, 0, "step %ld: gradients overflowed at loss scale 2^%d: update skipped, "
                 "scale now 2^%d", t->global_step, r.loss_scale_log2, t->scaler.log2);
    if (trainer_fit_threads(t, now_s())) {
        snprintf(w->device, sizeof w->device, "%s", t->device_line);
        const CpuShare *c = &t->share;
        if (c->threads < c->max_threads)
            work_log(s, 0, "other programs are using %.1f of %d cores: training on %d thread%s "
                     "until they stop", c->foreign, c->max_threads, c->threads,
                     c->threads == 1 ? "" : "s");
        else
            work_log(s, 0, "the cores are free again: training on %d threads", c->threads);
    }
    double ips = r.seconds > 0 ? r.batch / r.seconds : 0;
    /* The first steps include one-time setup (buffer allocation, algorithm choice): do not let
     * them dominate the rate the ETA is computed from. */
    s->ips_ema = s->ips_ema <= 0 ? ips : 0.9 * s->ips_ema + 0.1 * ips;
    s->loss_ema = 0.98 * s->loss_ema + 0.02 * r.loss;
    s->loss_ema_weight = 0.98 * s->loss_ema_weight + 0.02;
    w->loss = r.loss;
    w->accuracy = r.accuracy;
    w->loss_smooth = s->loss_ema / s->loss_ema_weight;
    w->images_per_s = s->ips_ema;
    history_push(w, &r, ips);
    if (r.epoch_finished) {
        double train_loss = t->epoch_seen ? t->epoch_loss_sum / (double)t->epoch_seen : NAN;
        double train_acc = t->epoch_seen ? (double)t->epoch_correct / (double)t->epoch_seen : NAN;
        int last = trainer_done(t);
        st = trainer_end_epoch(t, last, last);
        if (st != ST_OK) {
            work_log(s, 1, "end of epoch %d: %s", t->epoch, status_message());
            *state = RUN_ERROR;
        } else {
            if (t->run_dir[0] && t->last_checkpoint_step == t->global_step) {
                s->last_save_time = now_s();
                work_log(s, 0, "checkpoint saved to %s (epoch %d, step %ld)", t->run_dir,
                         t->epoch, t->global_step);
            }
            if (t->last_test_acc >= 0)
                work_log(s, 0, "epoch %d/%d: train loss %.4f acc %.2f%%, test acc %.2f%%", t->epoch,
                         t->cfg.train.epochs, train_loss, 100 * train_acc, 100 * t->last_test_acc);
            else
                work_log(s, 0, "epoch %d/%d: train loss %.4f acc %.2f%%", t->epoch,
                         t->cfg.train.epochs, train_loss, 100 * train_acc);
        }
        sync_epoch_history(s, t, train_loss, train_acc);
        if (last && *state != RUN_ERROR) {
            *state = RUN_FINISHED;
            work_log(s, 0, "finished %d epochs", t->cfg.train.epochs);
        }
    }
}

static void *worker_main(void *arg) {
    Session *s = arg;
    Trainer *t = NULL;
    Status st;
    if (s->resume_dir[0]) {
        int n = s->opt.num_overrides;
        st = trainer_resume(s->resume_dir, (const char *const *)s->overrides, n, &t);
    } else {
        st = trainer_create(&s->config_copy, s->run_dir[0] ? s->run_dir : NULL, &t);
    }
    RunState state;
    if (st != ST_OK) {
        s->work.last_status = st;
        work_log(s, 1, "%s", status_message());
        s->work.state = RUN_STOPPED;
        publish(s);
        pthread_mutex_lock(&s->mu);
        s->finished = 1;
        pthread_cond_broadcast(&s->snap_cond);
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    open_run_log(s, t);
    snprintf(s->work.device, sizeof s->work.device, "%s", t->device_line);
    snprintf(s->work.run_dir, sizeof s->work.run_dir, "%s", t->run_dir);
    s->work.num_params = model_num_trainable(t->model);
    if (t->backend_fell_back)
        work_log(s, 0, "device auto: %s; training on the CPU", t->fallback_reason);
    work_log(s, 0, "%s", t->device_line);
    if (t->global_step > 0)
        work_log(s, 0, "resumed %s at epoch %d, step %ld", t->run_dir, t->epoch, t->global_step);
    state = s->opt.start_paused ? RUN_PAUSED : RUN_RUNNING;
    if (trainer_done(t)) state = RUN_FINISHED;
    /* Say so before the first step, which can take seconds on a large model. */
    s->work.state = state;
    sync_position(s, t);
    publish(s);
    int stop = 0, steps_pending = 0;
    for (;;) {
        Command c;
        int applied = 0;
        while (!stop && queue_pop(s, &c)) {
            stop = apply_command(s, &t, &c, &state, &steps_pending);
            applied = 1;
        }
        if (stop) break;
        if (applied) {
            /* Observers see an edit (and the state it set) now, not after the next step. */
            s->work.state = state;
            sync_position(s, t);
            publish(s);
        }
        if ((state == RUN_RUNNING || steps_pending > 0) && !trainer_done(t)) {
            if (steps_pending > 0) steps_pending--;
            run_one_step(s, t, &state);
            if (state == RUN_ERROR) steps_pending = 0;
        }
        if (state == RUN_RUNNING && trainer_done(t)) state = RUN_FINISHED;
        s->work.state = state;
        sync_position(s, t);
        publish(s);
        if (view_exchange_service(s->view, t, now_s()) < 0)
            work_log(s, 1, "viewer: %s", status_message());
        if ((state == RUN_FINISHED || state == RUN_ERROR) && s->opt.exit_when_done) break;
        if (state != RUN_RUNNING && steps_pending == 0) wait_for_command(s);
    }
    /* Always leave a resumable checkpoint behind, unless the run failed: then the last good
     * one must not be overwritten with weights that may be broken. */
    if (state != RUN_ERROR && t->global_step != t->last_checkpoint_step) save_now(s, t);
    if (stop) work_log(s, 0, "stopped at epoch %d, step %ld", t->epoch, t->global_step);
    s->work.state = state == RUN_ERROR ? RUN_ERROR : (stop ? RUN_STOPPED : state);
    sync_position(s, t);
    trainer_destroy(t);
    if (s->log_file) fclose(s->log_file);
    s->log_file = NULL;
    publish(s);
    pthread_mutex_lock(&s->mu);
    s->finished = 1;
    pthread_cond_broadcast(&s->snap_cond);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

Status session_start(const SessionOptions *opt, Session **out) {
    *out = NULL;
    Session *s = calloc(1, sizeof *s);
    if (!s) return status_fail(ST_ERR_OOM, "out of memory creating the session");
    s->opt = *opt;
    s->config_copy = opt->config;
    snprintf(s->run_dir, sizeof s->run_dir, "%s", opt->run_dir ? opt->run_dir : "");
    snprintf(s->resume_dir, sizeof s->resume_dir, "%s", opt->resume_dir ? opt->resume_dir : "");
    if (opt->num_overrides > 0) {
        s->overrides = calloc((size_t)opt->num_overrides, sizeof(char *));
        if (!s->overrides) { free(s); return status_fail(ST_ERR_OOM, "out of memory"); }
        for (int i = 0; i < opt->num_overrides; i++) s->overrides[i] = strdup(opt->overrides[i]);
    }
    s->opt.overrides = NULL;
    s->start_time = now_s();
    s->work.state = RUN_STARTING;
    s->work.config = opt->config;
    s->work.epochs = opt->config.train.epochs;
    s->work.hist_stride = 1;
    s->work.eta_s = -1;
    s->work.checkpoint_age_s = -1;
    s->work.test_acc = s->work.test_loss = s->work.best_test_acc = -1;
    s->work.val_acc = s->work.val_loss = -1;
    s->snap = s->work;
    if (pthread_mutex_init(&s->mu, NULL) != 0 || pthread_cond_init(&s->cmd_cond, NULL) != 0 ||
        pthread_cond_init(&s->snap_cond, NULL) != 0) {
        free(s);
        return status_fail(ST_ERR_DEVICE, "cannot create the session's mutex/condition variables");
    }
    Status vst = view_exchange_create(0.25, &s->view);
    if (vst != ST_OK) {
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cmd_cond);
        pthread_cond_destroy(&s->snap_cond);
        free(s);
        return vst;
    }
    view_exchange_set_waker(s->view, wake_for_view, s);
    if (pthread_create(&s->thread, NULL, worker_main, s) != 0) {
        view_exchange_destroy(s->view);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cmd_cond);
        pthread_cond_destroy(&s->snap_cond);
        free(s);
        return status_fail(ST_ERR_DEVICE, "cannot start the training thread");
    }
    s->thread_started = 1;
    *out = s;
    return ST_OK;
}

int session_post(Session *s, CommandKind kind, const char *text) {
    pthread_mutex_lock(&s->mu);
    int posted = s->q_len < QUEUE_CAP;
    if (posted) {
        Command *c = &s->queue[(s->q_head + s->q_len) % QUEUE_CAP];
        c->kind = kind;
        snprintf(c->text, sizeof c->text, "%s", text ? text : "");
        s->q_len++;
    }
    if (kind == CMD_CANCEL || kind == CMD_STOP) s->interrupt = 1;
    pthread_cond_signal(&s->cmd_cond);
    pthread_mutex_unlock(&s->mu);
    return posted;
}

void session_snapshot(Session *s, Snapshot *out) {
    pthread_mutex_lock(&s->mu);
    memcpy(out, &s->snap, sizeof *out);
    pthread_mutex_unlock(&s->mu);
}

uint64_t session_wait(Session *s, uint64_t seq, int timeout_ms) {
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) { deadline.tv_sec++; deadline.tv_nsec -= 1000000000L; }
    pthread_mutex_lock(&s->mu);
    while (s->snap.seq <= seq && !s->finished)
        if (pthread_cond_timedwait(&s->snap_cond, &s->mu, &deadline) != 0) break;
    uint64_t cur = s->snap.seq;
    pthread_mutex_unlock(&s->mu);
    return cur;
}

struct ViewExchange *session_view_exchange(Session *s) { return s ? s->view : NULL; }

int session_finished(Session *s) {
    pthread_mutex_lock(&s->mu);
    int f = s->finished;
    pthread_mutex_unlock(&s->mu);
    return f;
}

void session_destroy(Session *s) {
    if (!s) return;
    if (s->thread_started) {
        session_post(s, CMD_STOP, NULL);
        pthread_join(s->thread, NULL);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cmd_cond);
    pthread_cond_destroy(&s->snap_cond);
    view_exchange_destroy(s->view);
    for (int i = 0; i < s->opt.num_overrides; i++) free(s->overrides ? s->overrides[i] : NULL);
    free(s->overrides);
    free(s);
}
