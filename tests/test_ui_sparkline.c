/* test_ui_sparkline.c — sparkline rendering: levels, glyphs (Unicode and ASCII), multi-row
 * cells, gaps, resampling and smoothing. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "sparkline.h"

static void test_levels(void) {
    CHECK_INT(spark_level(0.0f, 0.0f, 1.0f, 8), 0);
    CHECK_INT(spark_level(1.0f, 0.0f, 1.0f, 8), 7);
    CHECK_INT(spark_level(0.5f, 0.0f, 1.0f, 8), 4);
    CHECK_INT(spark_level(-3.0f, 0.0f, 1.0f, 8), 0);    /* clipped */
    CHECK_INT(spark_level(9.0f, 0.0f, 1.0f, 8), 7);
    CHECK_INT(spark_level(NAN, 0.0f, 1.0f, 8), -1);     /* a gap */
    CHECK_INT(spark_level(2.0f, 2.0f, 2.0f, 8), 4);     /* flat series: the middle */
    CHECK_INT(spark_level(0.99f, 0.0f, 1.0f, 16), 15);
}

static void test_render_one_row(void) {
    float v[9] = {0, 1, 2, 3, 4, 5, 6, 7, NAN};
    char buf[64];
    char *out[1] = {buf};
    CHECK_INT(spark_render(v, 9, 1, 0, 7, 0, out, sizeof buf), 0);
    CHECK(strcmp(buf, "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588 ") == 0);
    CHECK_INT(spark_render(v, 9, 1, 0, 7, 1, out, sizeof buf), 0);
    CHECK(strcmp(buf, "_.-:=+*# ") == 0);
    CHECK_INT(spark_render(v, 9, 1, 0, 7, 0, out, 10), -1);   /* too small for 9 UTF-8 glyphs */
}

static void test_render_two_rows(void) {
    /* 16 levels over two rows: the max fills both cells, the min is one eighth of the bottom. */
    float v[3] = {0, 15, 8};
    char top[32], bottom[32];
    char *out[2] = {top, bottom};
    CHECK_INT(spark_render(v, 3, 2, 0, 15, 1, out, sizeof top), 0);
    CHECK(strcmp(top, " #_") == 0);
    CHECK(strcmp(bottom, "_##") == 0);
}

static void test_resample(void) {
    float v[6] = {1, 3, 5, 7, NAN, NAN}, out[3];
    CHECK_INT(spark_resample(v, 6, 3, 0, out), 2);
    CHECK_NEAR(out[0], 2, 1e-6, 0);
    CHECK_NEAR(out[1], 6, 1e-6, 0);
    CHECK(isnan(out[2]));
    float e[2] = {0.2f, 0.8f}, wide[5];
    CHECK_INT(spark_resample(e, 2, 5, 1, wide), 5);   /* per-epoch values fill the width */
    CHECK_NEAR(wide[0], 0.2, 1e-6, 0);
    CHECK_NEAR(wide[2], 0.2, 1e-6, 0);
    CHECK_NEAR(wide[3], 0.8, 1e-6, 0);
    CHECK_INT(spark_resample(e, 2, 5, 0, wide), 2);   /* per-step values grow from the left */
    CHECK(isnan(wide[4]));
    float lo, hi;
    CHECK_INT(spark_range(v, 6, &lo, &hi), 1);
    CHECK_NEAR(lo, 1, 0, 0);
    CHECK_NEAR(hi, 7, 0, 0);
    float none[2] = {NAN, INFINITY};
    CHECK_INT(spark_range(none, 2, &lo, &hi), 0);
}

static void test_smooth(void) {
    float v[4] = {2, NAN, 4, 4}, out[4];
    spark_smooth(v, 4, 0.5, out);
    CHECK_NEAR(out[0], 2, 1e-6, 0);       /* bias correction: the first value is itself */
    CHECK_NEAR(out[1], 2, 1e-6, 0);       /* a gap repeats the last value */
    /* ema = 0.5*(0.5*2) + 0.5*4 = 2.5, weight 0.75 -> 3.333 */
    CHECK_NEAR(out[2], 10.0 / 3.0, 1e-5, 0);
    spark_smooth(v, 4, 0.5, v);           /* in place */
    CHECK_NEAR(v[0], 2, 1e-6, 0);
}

int main(void) {
    test_levels();
    test_render_one_row();
    test_render_two_rows();
    test_resample();
    test_smooth();
    return check_report("test_ui_sparkline");
}
