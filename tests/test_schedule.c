/* test_schedule.c — learning-rate schedules against hand-computed values and PyTorch 1.13.
 *
 * The TORCH_* tables were produced once with /usr/bin/python3 and torch 1.13 (CPU) by stepping
 * the scheduler once per iteration and recording optimizer.param_groups[0]['lr'] before each
 * step; the generating calls are written above each table so they can be re-run:
 *
 *   def run(opt, sched, n):   # lr seen by steps 0..n-1
 *       out = []
 *       for _ in range(n): out.append(opt.param_groups[0]['lr']); opt.step(); sched.step()
 *       return out
 *
 * The schedule under test is a pure function, so the checks also ask for steps in scrambled
 * order and twice, and compare bit for bit. */
#include <string.h>

#include "../core/schedule.h"
#include "check.h"

/* MultiStepLR(SGD(lr=0.1), milestones=[3, 6, 8], gamma=0.2), stepped once per epoch. */
static const double TORCH_MULTISTEP[11] = {
    0.10000000000000001, 0.10000000000000001, 0.10000000000000001, 0.020000000000000004,
    0.020000000000000004, 0.020000000000000004, 0.004000000000000001, 0.004000000000000001,
    0.00080000000000000026, 0.00080000000000000026, 0.00080000000000000026,
};
/* CosineAnnealingLR(SGD(lr=0.1), T_max=28, eta_min=0.001), stepped per iteration, 29 values. */
static const double TORCH_COSINE[29] = {
    0.10000000000000001, 0.099688754389715514, 0.098758931653000259, 0.097222224850264188,
    0.095097958961169737, 0.092412847861800054, 0.08920065838216748, 0.085501785668734107,
    0.081362745192007327, 0.07683558778750918, 0.071977245086319142, 0.066848813566780796,
    0.06151478623083758, 0.056042241567113744, 0.050500000000000017, 0.04495775843288629,
    0.039485213769162454, 0.034151186433219238, 0.029022754913680889, 0.024164412212490854,
    0.0196372548079927, 0.015498214331265907, 0.011799341617832543, 0.0085871521381999365,
    0.0059020410388302578, 0.0037777751497358051, 0.0022410683469997255, 0.0013112456102844913,
    0.001,
};
/* OneCycleLR(SGD(lr=0.4), max_lr=0.4, total_steps=45, pct_start=0.3, div_factor=25,
 *            final_div_factor=1e4, anneal_strategy='cos', three_phase=False). */
static const double TORCH_ONECYCLE[45] = {
    0.016000000000000014, 0.022032033063302869, 0.039749117431578218, 0.068038023535088976,
    0.10512125536403266, 0.1486687370800101, 0.19594422025037184, 0.24397721240045919,
    0.28974962398049398, 0.33038540603174849, 0.36333126291998991, 0.38651708529054429,
    0.39848602265237976, 0.39975138523824749, 0.39776617418036475, 0.39381548198398664,
    0.3879385724030851, 0.38019385280538953, 0.37065829369372583, 0.35942666373857873,
    0.34661058792446781, 0.33233743817070183, 0.31674906745202019, 0.3000004,
    0.28225789159643988, 0.26369787526101673, 0.24450480877451572, 0.22486944145453336,
    0.20498691840306121, 0.18505484106679002, 0.16527130338515608, 0.14583292304377352,
    0.12693288739954048, 0.10875903349789329, 0.09149198126385924, 0.075303338420094804,
    0.060353994972239922, 0.046792524211758918, 0.034753706127820513, 0.024357187903212969,
    0.015706294806887951, 0.0088870033010164714, 0.0039670865682815137, 0.00099544095154001041,
    1.5999999999999999e-06,
};
/* OneCycleLR(SGD(lr=0.05), max_lr=0.05, total_steps=30, pct_start=0.25, div_factor=10,
 *            final_div_factor=100, anneal_strategy='cos', three_phase=False):
 * phase 1 ends at the fractional step 6.5. */
static const double TORCH_ONECYCLE2[30] = {
    0.0049999999999999975, 0.0075772394228027784, 0.014718543198548997, 0.024787924694255233,
    0.035478609958457058, 0.044341491833849778, 0.049346190892086174, 0.049939162155239115,
    0.049454236328326802, 0.048493823204128067, 0.047076616131651705, 0.045230199434514312,
    0.042990511513457813, 0.040401145346258313, 0.037512500000000004, 0.034380799670562408,
    0.031066999342601702, 0.027635598370109649, 0.024153385069855048, 0.020688136762768417,
    0.017307300565485691, 0.01407668060894279, 0.011059157235818101, 0.0083134631061875242,
    0.0058930400331035264, 0.003844998798493262, 0.0022092021953760408, 0.0010174891439404855,
    0.00029305498317928023, 5.0000000000000002e-05,
};
/* ChainedScheduler([LinearLR(SGD(lr=0.2), start_factor=0.25, total_iters=10),
 *                   MultiStepLR(milestones=[6, 15], gamma=0.5)]), per iteration: a warmup
 * that multiplies a step schedule whose first milestone falls inside the warmup. */
static const double TORCH_WARMUP_MULTISTEP[20] = {
    0.050000000000000003, 0.065000000000000002, 0.080000000000000002, 0.095000000000000001,
    0.11, 0.12499999999999999, 0.069999999999999993, 0.077499999999999999,
    0.084999999999999992, 0.092499999999999985, 0.099999999999999992, 0.099999999999999992,
    0.099999999999999992, 0.099999999999999992, 0.099999999999999992, 0.049999999999999996,
    0.049999999999999996, 0.049999999999999996, 0.049999999999999996, 0.049999999999999996,
};

/* Float fields (gamma 0.2f, 1e4f, ...) carry ~6e-8 relative rounding into the lr. */
#define RTOL 2e-6

static void test_defaults_and_names(void) {
    ScheduleConfig s;
    memset(&s, 0xAB, sizeof s);
    schedule_defaults(&s);
    CHECK_INT(s.kind, SCHEDULE_CONSTANT);
    CHECK_INT(s.num_milestones, 0);
    CHECK_INT(s.num_knots, 0);
    CHECK_NEAR(s.gamma, 0.1, 0, 1e-7);
    CHECK_NEAR(s.warmup_epochs, 0, 0, 0);
    CHECK_NEAR(s.warmup_start, 0, 0, 0);
    CHECK_NEAR(s.min_lr, 0, 0, 0);
    CHECK_NEAR(s.pct_start, 0.3, 0, 1e-7);
    CHECK_NEAR(s.div_factor, 25, 0, 0);
    CHECK_NEAR(s.final_div_factor, 1e4, 0, 0);

    const char *names[] = {"constant", "multistep", "cosine", "onecycle", "piecewise"};
    for (int k = 0; k < SCHEDULE_KIND_COUNT; k++) {
        CHECK(strcmp(schedule_kind_name((ScheduleKind)k), names[k]) == 0);
        CHECK_INT(schedule_kind_parse(names[k]), k);
    }
    CHECK_INT(schedule_kind_parse("cosin"), -1);
    CHECK_INT(schedule_kind_parse("Cosine"), -1);
    CHECK_INT(schedule_kind_parse(""), -1);
    CHECK_INT(schedule_kind_parse(NULL), -1);
    CHECK(strcmp(schedule_kind_name((ScheduleKind)99), "unknown") == 0);
}

static void test_constant(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    for (long k = 0; k < 100; k += 7) CHECK_NEAR(schedule_lr(&s, 0.05, k, 10, 10), 0.05, 0, 0);
    /* Geometry out of range is clamped, not undefined. */
    CHECK_NEAR(schedule_lr(&s, 0.05, -3, 0, 0), 0.05, 0, 0);
}

static void test_multistep(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_MULTISTEP;
    s.num_milestones = 3;
    s.milestones[0] = 3; s.milestones[1] = 6; s.milestones[2] = 8;
    s.gamma = 0.2f;
    /* Per-epoch torch values hold for every step inside that epoch. */
    const long spe = 5;
    for (int e = 0; e < 11; e++)
        for (long j = 0; j < spe; j++)
            CHECK_NEAR(schedule_lr(&s, 0.1, e * spe + j, spe, 10), TORCH_MULTISTEP[e], 0, RTOL);

    /* Fractional milestones switch at the first step at or after them: 0.5 epoch of 4 steps
     * is step 2, 2.5 epochs is step 10; 0.1 epoch of 10 steps is step 1 despite 0.1f > 0.1. */
    s.num_milestones = 2;
    s.milestones[0] = 0.5f; s.milestones[1] = 2.5f;
    s.gamma = 0.1f;
    CHECK_NEAR(schedule_lr(&s, 1.0, 1, 4, 4), 1.0, 0, 0);
    CHECK_NEAR(schedule_lr(&s, 1.0, 2, 4, 4), 0.1, 0, RTOL);
    CHECK_NEAR(schedule_lr(&s, 1.0, 9, 4, 4), 0.1, 0, RTOL);
    CHECK_NEAR(schedule_lr(&s, 1.0, 10, 4, 4), 0.01, 0, RTOL);
    s.num_milestones = 1;
    s.milestones[0] = 0.1f;
    CHECK_NEAR(schedule_lr(&s, 1.0, 0, 10, 4), 1.0, 0, 0);
    CHECK_NEAR(schedule_lr(&s, 1.0, 1, 10, 4), 0.1, 0, RTOL);

    /* The He et al. resnet20 recipe: 391 steps per epoch, drops at epochs 82 and 123. */
    s.num_milestones = 2;
    s.milestones[0] = 82; s.milestones[1] = 123;
    CHECK_NEAR(schedule_lr(&s, 0.1, 82 * 391 - 1, 391, 164), 0.1, 0, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 82 * 391, 391, 164), 0.01, 0, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 123 * 391 - 1, 391, 164), 0.01, 0, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 123 * 391, 391, 164), 0.001, 0, RTOL);
}

static void test_cosine(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_COSINE;
    s.min_lr = 0.001f;
    /* 4 epochs of 7 steps = torch's 28 iterations; step 28 is the end (eta_min). */
    for (long k = 0; k < 29; k++)
        CHECK_NEAR(schedule_lr(&s, 0.1, k, 7, 4), TORCH_COSINE[k], 1e-9, RTOL);
    /* Past the end it holds min_lr instead of rising again. */
    CHECK_NEAR(schedule_lr(&s, 0.1, 40, 7, 4), 0.001, 1e-9, RTOL);

    /* By hand, with warmup: lr 0.1, 1 epoch of warmup from 0, 5 epochs of 10 steps.
     * Warmup: 0.1 * t; cosine over epochs [1, 5]: at t = 3 it is half way, 0.05. */
    s.min_lr = 0.0f;
    s.warmup_epochs = 1.0f;
    s.warmup_start = 0.0f;
    CHECK_NEAR(schedule_lr(&s, 0.1, 0, 10, 5), 0.0, 1e-12, 0);
    CHECK_NEAR(schedule_lr(&s, 0.1, 5, 10, 5), 0.05, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 9, 10, 5), 0.09, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 10, 10, 5), 0.1, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 20, 10, 5), 0.05 * (1 + cos(M_PI * 0.25)), 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 30, 10, 5), 0.05, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 50, 10, 5), 0.0, 1e-12, 0);
    CHECK_NEAR(schedule_lr(&s, 0.1, 70, 10, 5), 0.0, 1e-12, 0);
    /* warmup_start 0.5: starts at half the lr, linear to the full lr. */
    s.warmup_start = 0.5f;
    CHECK_NEAR(schedule_lr(&s, 0.1, 0, 10, 5), 0.05, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 5, 10, 5), 0.075, 1e-12, RTOL);
    /* Warmup as long as the run: the cosine part is empty, so after it only min_lr is left. */
    s.warmup_epochs = 5.0f;
    s.min_lr = 0.002f;
    CHECK_NEAR(schedule_lr(&s, 0.1, 25, 10, 5), 0.075, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.1, 50, 10, 5), 0.002, 1e-12, RTOL);
}

static void test_onecycle(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_ONECYCLE;   /* defaults: pct 0.3, div 25, final 1e4 */
    for (long k = 0; k < 45; k++)
        CHECK_NEAR(schedule_lr(&s, 0.4, k, 9, 5), TORCH_ONECYCLE[k], 1e-12, RTOL);
    /* Hand values: start lr/25, peak lr at step pct*total - 1 = 12.5 (between steps), end
     * lr/25/1e4; after the last step it stays there. */
    CHECK_NEAR(schedule_lr(&s, 0.4, 0, 9, 5), 0.4 / 25, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.4, 44, 9, 5), 0.4 / 25 / 1e4, 1e-12, RTOL);
    CHECK_NEAR(schedule_lr(&s, 0.4, 100, 9, 5), 0.4 / 25 / 1e4, 1e-12, RTOL);

    s.pct_start = 0.25f;
    s.div_factor = 10.0f;
    s.final_div_factor = 100.0f;
    for (long k = 0; k < 30; k++)
        CHECK_NEAR(schedule_lr(&s, 0.05, k, 10, 3), TORCH_ONECYCLE2[k], 1e-12, RTOL);
}

static void test_piecewise(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_PIECEWISE;
    /* No knots: the base lr. */
    CHECK_NEAR(schedule_lr(&s, 0.3, 5, 10, 5), 0.3, 0, 0);
    s.num_knots = 3;
    s.knot_epoch[0] = 0; s.knot_lr[0] = 0.0f;
    s.knot_epoch[1] = 2; s.knot_lr[1] = 0.2f;
    s.knot_epoch[2] = 5; s.knot_lr[2] = 0.02f;
    /* Knot lrs are absolute: base_lr has no effect. */
    CHECK_NEAR(schedule_lr(&s, 123.0, 0, 10, 8), 0.0, 1e-12, 0);
    CHECK_NEAR(schedule_lr(&s, 123.0, 10, 10, 8), 0.1, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 20, 10, 8), 0.2, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 35, 10, 8), 0.11, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 50, 10, 8), 0.02, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 79, 10, 8), 0.02, 1e-9, RTOL);
    /* Flat before the first knot. */
    s.knot_epoch[0] = 1; s.knot_lr[0] = 0.05f;
    CHECK_NEAR(schedule_lr(&s, 123.0, 3, 10, 8), 0.05, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 15, 10, 8), 0.125, 1e-9, RTOL);
    /* One knot: constant. */
    s.num_knots = 1;
    CHECK_NEAR(schedule_lr(&s, 123.0, 0, 10, 8), 0.05, 1e-9, RTOL);
    CHECK_NEAR(schedule_lr(&s, 123.0, 70, 10, 8), 0.05, 1e-9, RTOL);
}

static void test_warmup_composes(void) {
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_MULTISTEP;
    s.num_milestones = 2;
    s.milestones[0] = 1.5f;    /* iteration 6 at 4 steps per epoch */
    s.milestones[1] = 3.75f;   /* iteration 15 */
    s.gamma = 0.5f;
    s.warmup_epochs = 2.5f;    /* 10 iterations */
    s.warmup_start = 0.25f;
    for (long k = 0; k < 20; k++)
        CHECK_NEAR(schedule_lr(&s, 0.2, k, 4, 5), TORCH_WARMUP_MULTISTEP[k], 1e-12, RTOL);

    /* Constant + warmup is torch LinearLR alone: 0.25 -> 1 over 10 iterations. */
    s.kind = SCHEDULE_CONSTANT;
    for (long k = 0; k < 14; k++) {
        double f = k < 10 ? 0.25 + 0.75 * (double)k / 10.0 : 1.0;
        CHECK_NEAR(schedule_lr(&s, 0.2, k, 4, 5), 0.2 * f, 1e-12, RTOL);
    }
}

/* Same arguments give the same value in any order of asking: nothing is accumulated. */
static void test_purity(void) {
    enum { N = 60 };
    ScheduleConfig kinds[5];
    for (int i = 0; i < 5; i++) {
        schedule_defaults(&kinds[i]);
        kinds[i].kind = (ScheduleKind)i;
        kinds[i].warmup_epochs = 1.5f;
        kinds[i].warmup_start = 0.1f;
    }
    kinds[SCHEDULE_MULTISTEP].num_milestones = 2;
    kinds[SCHEDULE_MULTISTEP].milestones[0] = 2;
    kinds[SCHEDULE_MULTISTEP].milestones[1] = 4;
    kinds[SCHEDULE_COSINE].min_lr = 0.001f;
    kinds[SCHEDULE_PIECEWISE].num_knots = 2;
    kinds[SCHEDULE_PIECEWISE].knot_epoch[1] = 6;
    kinds[SCHEDULE_PIECEWISE].knot_lr[0] = 0.3f;
    kinds[SCHEDULE_PIECEWISE].knot_lr[1] = 0.01f;

    for (int i = 0; i < 5; i++) {
        ScheduleConfig before = kinds[i];
        double forward[N], again;
        for (long k = 0; k < N; k++) forward[k] = schedule_lr(&kinds[i], 0.1, k, 10, 6);
        int same = 1;
        for (long k = N - 1; k >= 0; k--)
            if (schedule_lr(&kinds[i], 0.1, k, 10, 6) != forward[k]) same = 0;
        for (long j = 0; j < N; j++) {
            long k = (j * 37 + 11) % N;   /* a scrambled visiting order */
            again = schedule_lr(&kinds[i], 0.1, k, 10, 6);
            if (again != forward[k]) same = 0;
        }
        CHECK(same);
        CHECK(memcmp(&before, &kinds[i], sizeof before) == 0);
        /* A schedule swapped in mid-run agrees with the one that ran from the start. */
        ScheduleConfig copy = kinds[i];
        CHECK(schedule_lr(&copy, 0.1, 37, 10, 6) == forward[37]);
    }
}

int main(void) {
    test_defaults_and_names();
    test_constant();
    test_multistep();
    test_cosine();
    test_onecycle();
    test_piecewise();
    test_warmup_composes();
    test_purity();
    return check_report("test_schedule");
}
