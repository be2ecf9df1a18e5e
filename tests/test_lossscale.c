/* test_lossscale.c — the dynamic loss scale's rule (core/lossscale.h): the start value, halving
 * on overflow, doubling after the growth interval, its bounds, and giving up. */
#include <math.h>

#include "../core/lossscale.h"
#include "check.h"

static void test_start(void) {
    LossScaler s;
    loss_scaler_start(&s, 65536);
    CHECK_INT(s.active, 1);
    CHECK_INT(s.log2, 16);
    CHECK_INT(s.growth_interval, LOSS_SCALE_GROWTH_INTERVAL);
    CHECK(loss_scaler_value(&s) == 65536.0f);
    loss_scaler_start(&s, 1000);   /* rounded to the nearest power of two */
    CHECK_INT(s.log2, 10);
    loss_scaler_start(&s, 1500);
    CHECK_INT(s.log2, 11);
    loss_scaler_start(&s, 0.25);
    CHECK_INT(s.log2, -2);
    CHECK(loss_scaler_value(&s) == 0.25f);
    loss_scaler_start(&s, 1e30);   /* clamped */
    CHECK_INT(s.log2, LOSS_SCALE_MAX_LOG2);
    loss_scaler_start(&s, 1e-30);
    CHECK_INT(s.log2, LOSS_SCALE_MIN_LOG2);
    loss_scaler_stop(&s);
    CHECK_INT(s.active, 0);
    CHECK(loss_scaler_value(&s) == 1.0f);
    CHECK_INT(loss_scaler_update(&s, 0), LOSS_SCALE_KEPT);   /* inactive: nothing moves */
    CHECK_INT(s.skipped, 0);
}

static void test_update(void) {
    LossScaler s;
    loss_scaler_start(&s, 1024);
    s.growth_interval = 3;
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_GREW);   /* the third good step in a row */
    CHECK_INT(s.log2, 11);
    CHECK_INT(s.good_steps, 0);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(loss_scaler_update(&s, 0), LOSS_SCALE_SHRANK);   /* overflow: halve, restart count */
    CHECK_INT(s.log2, 10);
    CHECK_INT(s.good_steps, 0);
    CHECK_INT(s.skipped, 1);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_GREW);
    CHECK_INT(s.log2, 11);

    /* at the top it stays */
    loss_scaler_start(&s, 1e30);
    s.growth_interval = 1;
    CHECK_INT(loss_scaler_update(&s, 1), LOSS_SCALE_KEPT);
    CHECK_INT(s.log2, LOSS_SCALE_MAX_LOG2);

    /* from 2^-22, three overflows: 2^-23, 2^-24, then give up */
    loss_scaler_start(&s, ldexp(1.0, -22));
    CHECK_INT(loss_scaler_update(&s, 0), LOSS_SCALE_SHRANK);
    CHECK_INT(loss_scaler_update(&s, 0), LOSS_SCALE_SHRANK);
    CHECK_INT(s.log2, LOSS_SCALE_MIN_LOG2);
    CHECK_INT(loss_scaler_update(&s, 0), LOSS_SCALE_GAVE_UP);
    CHECK_INT(s.log2, LOSS_SCALE_MIN_LOG2);
    CHECK_INT(s.skipped, 3);
}

int main(void) {
    test_start();
    test_update();
    return check_report("test_lossscale");
}
