/* test_trainer.c — the trainer and session on the built-in shapes data: interrupted-then-resumed training equals uninterrupted training, a NaN loss
 * stops with the step and lr, live edits apply at the next step and are refused when invalid,
 * and the session obeys pause / step / resume / stop. (test_quick checks that learning works.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Download every parameter of a trainer's model into one host array. */
static float *weights_of(Trainer *t, size_t *count) {
    size_t total = 0;
    int n = model_param_count(t->model);
    for (int i = 0; i < n; i++) total += tensor_numel(&model_param(t->model, i)->value);
    float *all = malloc(total * sizeof(float));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        Param *p = model_param(t->model, i);
        t->backend.ops->download(t->backend.ctx, &p->value, all + off);
        off += tensor_numel(&p->value);
    }
    *count = total;
    return all;
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

    size_t na, nb;
    float *wa = weights_of(a, &na), *wb = weights_of(b, &nb);
    CHECK_INT(na, nb);
    size_t diff = 0;
    for (size_t i = 0; i < na && i < nb; i++) diff += wa[i] != wb[i];
    CHECK_INT(diff, 0);   /* bit-identical */
    free(wa);
    free(wb);
    trainer_destroy(a);
    trainer_destroy(b);
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
    session_post(s, CMD_SET, "train.lr=0.02\ntrain.schedule.type=constant");
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
    CHECK(snap->hist_len > 0);
    session_post(s, CMD_PAUSE, NULL);
    session_destroy(s);   /* stops and saves */
    char path[600];
    struct stat sb;
    snprintf(path, sizeof path, "%s/state.safetensors", dir);
    CHECK(stat(path, &sb) == 0);
    free(snap);
}

int main(void) {
    char tmp[] = "/tmp/shortcut_test_trainer_XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    test_resume_equals_uninterrupted(tmp);
    test_nan_stops_with_step_and_lr();
    test_edits();
    test_session(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmp);
    return check_report("test_trainer");
}
