/* test_ui_schedule.c — schedule-editor math: rescaling milestones and knots when the run length
 * changes (keep epochs / keep fraction, the past never moves), knot edits with their locks and
 * limits, the conversion to piecewise following the old curve, and the list formats config_set
 * reads back. Plus the status line's layout at 80 columns. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "schedule_math.h"
#include "status_line.h"

static void multistep(ScheduleConfig *s, int n, const float *m) {
    schedule_defaults(s);
    s->kind = SCHEDULE_MULTISTEP;
    s->num_milestones = n;
    for (int i = 0; i < n; i++) s->milestones[i] = m[i];
}

static void test_rescale(void) {
    ScheduleConfig s;
    float m[3] = {30, 60, 90};
    multistep(&s, 3, m);
    CHECK_INT(sched_rescale(&s, 100, 200, 50, RESCALE_KEEP_EPOCHS), 0);
    CHECK_NEAR(s.milestones[2], 90, 0, 0);
    /* Keep the fraction: 60 -> 120, 90 -> 180; 30 is in the past (now = 50) and stays. */
    CHECK_INT(sched_rescale(&s, 100, 200, 50, RESCALE_KEEP_FRACTION), 2);
    CHECK_NEAR(s.milestones[0], 30, 0, 0);
    CHECK_NEAR(s.milestones[1], 120, 0, 0);
    CHECK_NEAR(s.milestones[2], 180, 0, 0);
    /* Shortening: a future milestone never moves into the past, and order is kept. */
    multistep(&s, 3, m);
    sched_rescale(&s, 100, 40, 35, RESCALE_KEEP_FRACTION);
    CHECK_NEAR(s.milestones[0], 30, 0, 0);
    CHECK_NEAR(s.milestones[1], 35, 1e-6, 0);              /* 24 -> clamped to now */
    CHECK_NEAR(s.milestones[2], 36, 1e-5, 0);              /* 36 stays after it */
    CHECK(s.milestones[1] > s.milestones[0] && s.milestones[2] > s.milestones[1]);
    float twin[2] = {60, 61};
    multistep(&s, 2, twin);
    sched_rescale(&s, 100, 10, 50, RESCALE_KEEP_FRACTION);   /* both would land before now */
    CHECK_NEAR(s.milestones[0], 50, 1e-6, 0);
    CHECK_NEAR(s.milestones[1], 50 + SCHED_MIN_GAP, 1e-5, 0);
    CHECK(sched_has_future_positions(&s, 49));
    CHECK(!sched_has_future_positions(&s, 51));
}

static void piecewise(ScheduleConfig *s) {
    schedule_defaults(s);
    s->kind = SCHEDULE_PIECEWISE;
    s->num_knots = 3;
    s->knot_epoch[0] = 0; s->knot_lr[0] = 0.1f;
    s->knot_epoch[1] = 5; s->knot_lr[1] = 0.05f;
    s->knot_epoch[2] = 10; s->knot_lr[2] = 0.0f;
}

static void test_knots(void) {
    ScheduleConfig s;
    piecewise(&s);
    char msg[200];
    /* A knot in the past is locked. */
    CHECK_INT(sched_knot_set(&s, 0, 1, 0.2, 2.0, 10, msg, sizeof msg), -1);
    CHECK(strstr(msg, "past") != NULL);
    CHECK_NEAR(s.knot_lr[0], 0.1, 1e-7, 0);
    /* Moving stays between the neighbours and not before now; lr >= 0. */
    CHECK_INT(sched_knot_set(&s, 1, 20, -1, 2.0, 10, msg, sizeof msg), 0);
    CHECK_NEAR(s.knot_epoch[1], 10 - SCHED_MIN_GAP, 1e-5, 0);
    CHECK_NEAR(s.knot_lr[1], 0, 0, 0);
    CHECK_INT(sched_knot_set(&s, 1, 0.5, 0.02, 2.0, 10, msg, sizeof msg), 0);
    CHECK_NEAR(s.knot_epoch[1], 2.0, 1e-6, 0);
    /* Add keeps the order; too close or in the past is refused. */
    int at = -1;
    CHECK_INT(sched_knot_add(&s, 6, 0.03, 2.0, 10, &at, msg, sizeof msg), 0);
    CHECK_INT(at, 2);
    CHECK_INT(s.num_knots, 4);
    for (int i = 1; i < s.num_knots; i++) CHECK(s.knot_epoch[i] > s.knot_epoch[i - 1]);
    CHECK_INT(sched_knot_add(&s, 1, 0.03, 2.0, 10, &at, msg, sizeof msg), -1);
    CHECK_INT(sched_knot_add(&s, 6.001, 0.03, 2.0, 10, &at, msg, sizeof msg), -1);
    /* Delete: not a past one, never the last one. */
    CHECK_INT(sched_knot_delete(&s, 0, 2.0, msg, sizeof msg), -1);
    CHECK_INT(sched_knot_delete(&s, 2, 2.0, msg, sizeof msg), 0);
    CHECK_INT(s.num_knots, 3);
    ScheduleConfig one;
    schedule_defaults(&one);
    one.kind = SCHEDULE_PIECEWISE;
    one.num_knots = 1;
    one.knot_epoch[0] = 5;
    CHECK_INT(sched_knot_delete(&one, 0, 0, msg, sizeof msg), -1);
}

static void test_to_piecewise(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_COSINE;
    s.warmup_epochs = 1;
    long spe = 100;
    int epochs = 10;
    double base = 0.1, now = 3.0;
    ScheduleConfig p = s;
    sched_to_piecewise(&p, base, spe, epochs, now, 8);
    CHECK_INT(p.kind, SCHEDULE_PIECEWISE);
    CHECK_INT(p.num_knots, 9);          /* one at 0, eight from now to the end, 1 epoch apart */
    CHECK_NEAR(p.knot_epoch[1], now, 1e-6, 0);
    CHECK_NEAR(p.knot_epoch[8], epochs, 1e-6, 0);
    /* The future follows the old curve: equal at the knots, close between them. */
    for (int k = 1; k < 8; k++)
        CHECK_NEAR(sched_lr_at_epoch(&p, base, spe, epochs, p.knot_epoch[k]),
                   sched_lr_at_epoch(&s, base, spe, epochs, p.knot_epoch[k]), 1e-6, 1e-4);
    double worst = 0;
    for (double e = now; e < epochs; e += 0.25) {
        double d = fabs(sched_lr_at_epoch(&p, base, spe, epochs, e) - sched_lr_at_epoch(&s, base, spe, epochs, e));
        if (d > worst) worst = d;
    }
    CHECK(worst < 0.01);
    /* What the editor sends reads back through config_set. */
    Config c;
    config_defaults(&c);
    char knots[1024], line[1200];
    sched_format_knots(&p, knots, sizeof knots);
    snprintf(line, sizeof line, "train.schedule.knots=%s", knots);
    CHECK_OK(config_set(&c, line));
    CHECK_INT(c.train.schedule.num_knots, p.num_knots);
    CHECK_NEAR(c.train.schedule.knot_lr[3], p.knot_lr[3], 0, 1e-5);
    float m[2] = {2.5f, 7};
    multistep(&s, 2, m);
    char ms[128];
    sched_format_milestones(&s, ms, sizeof ms);
    CHECK(strcmp(ms, "[2.5, 7]") == 0);
    snprintf(line, sizeof line, "train.schedule.milestones=%s", ms);
    CHECK_OK(config_set(&c, line));
    CHECK_NEAR(c.train.schedule.milestones[0], 2.5, 0, 0);
}

static void test_status_line(void) {
    static Snapshot s;
    memset(&s, 0, sizeof s);
    s.state = RUN_RUNNING;
    snprintf(s.device, sizeof s.device, "cpu: AMD EPYC, 2 threads, im2col + OpenBLAS (Haswell), fp32");
    s.epoch = 1; s.epochs = 4; s.global_step = 123;
    s.images_per_s = 812; s.eta_s = 83; s.elapsed_s = 45; s.checkpoint_age_s = 12;
    char dev[64], line[400];
    status_device_short(s.device, dev, sizeof dev);
    CHECK(strcmp(dev, "cpu fp32") == 0);
    status_device_short("cpu: AMD EPYC, oneDNN 2.6.3, fp32 (bf16 asked, but this CPU has neither "
                        "AVX512-BF16 nor AMX)", dev, sizeof dev);
    CHECK(strcmp(dev, "cpu fp32") == 0);
    status_device_short("cpu: AMD EPYC, 2 threads, avx512_bf16, oneDNN 2.6.3, bf16 (most "
                        "convolutions, forward and backward-data; AVX512-BF16 without AMX)", dev,
                        sizeof dev);
    CHECK(strcmp(dev, "cpu bf16") == 0);
    status_device_short("cuda: NVIDIA H100, 80 GiB, bf16", dev, sizeof dev);
    CHECK(strcmp(dev, "cuda bf16") == 0);
    status_line_format(&s, 72, line, sizeof line);
    printf("status: %s\n", line);
    CHECK(strstr(line, "epoch 2/4 step 123") != NULL);
    CHECK(strstr(line, "ETA 01:23") != NULL);
    CHECK((int)strlen(line) <= 72);
    status_line_format(&s, 30, line, sizeof line);   /* narrow: the least important go first */
    CHECK(strstr(line, "epoch 2/4") != NULL);
    CHECK(strstr(line, "ckpt") == NULL);
    CHECK((int)strlen(line) <= 30);
    CHECK(strcmp(status_state_word(&s, 0), "RUNNING") == 0);
    CHECK(strcmp(status_state_word(&s, 1), "STOPPING") == 0);
    s.state = RUN_ERROR;
    snprintf(s.last_error, sizeof s.last_error, "loss became NaN at epoch 2, step 130");
    status_line_format(&s, 40, line, sizeof line);
    CHECK(strncmp(line, "loss became NaN", 15) == 0);   /* the error comes first */
    char d[16];
    format_duration(3725, d, sizeof d);
    CHECK(strcmp(d, "1:02:05") == 0);
    format_duration(-1, d, sizeof d);
    CHECK(strcmp(d, "--:--") == 0);
}

int main(void) {
    test_rescale();
    test_knots();
    test_to_piecewise();
    test_status_line();
    return check_report("test_ui_schedule");
}
