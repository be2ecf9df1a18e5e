/* test_viewer.c — every view drawn offscreen (SDL software renderer into a surface) from a
 * ViewData with known content, checked by its pixels: augmented images un-normalized and in
 * place, a flipped one mirrored, the cutout square tinted exactly where the mask says, the crop
 * window dimming the original outside it; the misclassified grid shows exactly the wrong images,
 * most confident first, and filters by class; filter tiles are min-max normalized per filter or
 * over all, each weight one uniform block; the confusion matrix colours by row fraction or count
 * and a click on a cell opens its images; a saved PNG reads back as the picture drawn. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "augment.h"
#include "check.h"
#include "png_io.h"
#include "viewdata.h"
#include "viewer.h"

#define W 1000
#define H 700

static const float MEAN[3] = {0.5f, 0.4f, 0.3f};
static const float STD[3] = {0.25f, 0.2f, 0.3f};

typedef struct Pic {
    uint32_t *px;
    int w, h;
} Pic;

static Pic render(Viewer *v) {
    Pic p = {0};
    CHECK_OK(viewer_render(v));
    CHECK_OK(viewer_read_pixels(v, &p.px, &p.w, &p.h));
    return p;
}

static void rgb_at(const Pic *p, int x, int y, int out[3]) {
    uint32_t v = p->px[(size_t)y * p->w + x];
    out[0] = (v >> 16) & 255;
    out[1] = (v >> 8) & 255;
    out[2] = v & 255;
}

static int near3(const int a[3], const int b[3], int tol) {
    return abs(a[0] - b[0]) <= tol && abs(a[1] - b[1]) <= tol && abs(a[2] - b[2]) <= tol;
}

/* ---- samples ---- */

static uint8_t g_orig[4][DATASET_PIXELS];

static int orig(int i, int c, int y, int x) { return g_orig[i][c * 1024 + y * 32 + x]; }

/* Four images, pad 4 zeros: 0 plain, 1 flipped, 2 with an 8x8 hole at (10, 20), 3 shifted
 * right by the crop (window starts 4 pixels left of the image). */
static void make_samples(ViewData *vd, AugmentConfig *a) {
    memset(a, 0, sizeof *a);
    a->crop_pad = 4;
    a->pad_mode = PAD_ZEROS;
    a->flip = 1;
    a->cutout_holes = 1;
    a->cutout_size = 8;
    AugmentRecord rec[4];
    memset(rec, 0, sizeof rec);
    for (int i = 0; i < 4; i++) rec[i].crop_x = rec[i].crop_y = 4;
    rec[1].flipped = 1;
    rec[2].holes = 1;
    rec[2].hole_x[0] = 10;
    rec[2].hole_y[0] = 20;
    rec[2].hole_size = 8;
    rec[3].crop_x = 0;
    for (int i = 0; i < 4; i++)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    g_orig[i][c * 1024 + y * 32 + x] =
                        (uint8_t)(c == 0 ? 40 + 6 * x : c == 1 ? 30 + 6 * y : 60 + 40 * i);
    Batch b = {0};
    float *img = malloc(sizeof(float) * 4 * DATASET_PIXELS);
    int32_t labels[4] = {3, 5, 7, 1};
    int idx[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++) augment_apply(a, MEAN, STD, &rec[i], g_orig[i], img + i * DATASET_PIXELS);
    Dataset d = {0};
    d.count = 4;
    d.images = &g_orig[0][0];
    b.count = 4;
    b.side = 32;
    b.images = img;
    b.labels = labels;
    b.indices = idx;
    b.records = rec;
    b.epoch = 2;
    CHECK_OK(viewdata_capture_batch(vd, &b, &d, a, MEAN, STD, 123));
    free(img);
}

static void test_samples(void) {
    ViewData vd;
    viewdata_init(&vd);
    vd.num_classes = 10;
    vd.class_names = CIFAR10_CLASSES;
    snprintf(vd.name, sizeof vd.name, "pixels");
    AugmentConfig a;
    make_samples(&vd, &a);
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, W, H, &v));
    if (!v) return;
    CHECK_INT(viewer_tab(v), VIEWER_SAMPLES);
    viewer_act(v, VA_TOGGLE_OVERLAY);   /* off: the images as the network got them */
    Pic p = render(v);
    int r[4];
    CHECK(viewer_item_rect(v, 0, 0, r));
    int z = r[2] / 32;
    CHECK_INT(z, 3);   /* 96-pixel images for 32-pixel samples */
    CHECK_INT(r[3], 96);
    int plain = 1, mirrored = 1, hole = 1, outside = 1, shifted = 1, originals = 1, uniform = 1;
    int holes_seen = 0;
    for (int i = 0; i < 4; i++) {
        int ri[4], ro[4];
        CHECK(viewer_item_rect(v, i, 0, ri));
        CHECK(viewer_item_rect(v, i, 1, ro));
        CHECK(ro[0] > ri[0] + ri[2] - 1);   /* the original sits beside, not over */
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                int got[3], want[3], corner[3];
                /* the centre of the block that shows image pixel (x, y) */
                rgb_at(&p, ri[0] + x * z + 1, ri[1] + y * z + 1, got);
                rgb_at(&p, ri[0] + x * z, ri[1] + y * z, corner);
                uniform &= near3(got, corner, 0);
                int in_hole = i == 2 && x >= 6 && x < 14 && y >= 16 && y < 24;
                for (int c = 0; c < 3; c++) {
                    if (in_hole) want[c] = (int)lroundf(MEAN[c] * 255);
                    else if (i == 1) want[c] = orig(1, c, y, 31 - x);
                    else if (i == 3) want[c] = x >= 4 ? orig(3, c, y, x - 4) : 0;
                    else want[c] = orig(i, c, y, x);
                }
                int ok = near3(got, want, 1);
                if (in_hole) { hole &= ok; holes_seen++; }
                else if (i == 0) plain &= ok;
                else if (i == 1) mirrored &= ok;
                else if (i == 2) outside &= ok;
                else shifted &= ok;
                int o[3];
                rgb_at(&p, ro[0] + x * z + 1, ro[1] + y * z + 1, o);
                int ow[3] = {orig(i, 0, y, x), orig(i, 1, y, x), orig(i, 2, y, x)};
                originals &= near3(o, ow, 0);
            }
    }
    CHECK(plain);
    CHECK(mirrored);
    CHECK(hole);
    CHECK_INT(holes_seen, 64);
    CHECK(outside);
    CHECK(shifted);
    CHECK(originals);
    CHECK(uniform);
    free(p.px);

    /* overlay on: the mask's pixels, and only they, take the tint; the original is dimmed
     * outside the crop window (image 3: its window covers columns -4..27) */
    viewer_act(v, VA_TOGGLE_OVERLAY);
    p = render(v);
    int tinted = 1, untouched = 1, dimmed = 1, kept = 1;
    int ri[4], ro[4];
    CHECK(viewer_item_rect(v, 2, 0, ri));
    for (int y = 0; y < 32; y++)
        for (int x = 0; x < 32; x++) {
            int got[3];
            rgb_at(&p, ri[0] + x * z + 1, ri[1] + y * z + 1, got);
            int in_hole = x >= 6 && x < 14 && y >= 16 && y < 24;
            if (in_hole) {
                static const int tint[3] = {255, 0, 255};
                int want[3];
                for (int c = 0; c < 3; c++)
                    want[c] = (int)lroundf(0.4f * lroundf(MEAN[c] * 255) + 0.6f * tint[c]);
                tinted &= near3(got, want, 2);
            } else {
                int want[3] = {orig(2, 0, y, x), orig(2, 1, y, x), orig(2, 2, y, x)};
                untouched &= near3(got, want, 1);
            }
        }
    CHECK(viewer_item_rect(v, 3, 1, ro));
    for (int y = 1; y < 31; y++)
        for (int x = 1; x < 32; x++) {
            int got[3];
            rgb_at(&p, ro[0] + x * z + 1, ro[1] + y * z + 1, got);
            int full[3] = {orig(3, 0, y, x), orig(3, 1, y, x), orig(3, 2, y, x)};
            int half[3] = {full[0] / 2, full[1] / 2, full[2] / 2};
            if (x >= 28) dimmed &= near3(got, half, 0);
            else kept &= near3(got, full, 0);
        }
    CHECK(tinted);
    CHECK(untouched);
    CHECK(dimmed);
    CHECK(kept);
    free(p.px);

    /* without originals: one image per cell, and zoom changes the block size */
    viewer_act(v, VA_TOGGLE_ORIGINAL);
    CHECK(!viewer_item_rect(v, 0, 1, r));
    viewer_act(v, VA_ZOOM_IN);
    CHECK(viewer_item_rect(v, 0, 0, r));
    CHECK_INT(r[2], 128);
    viewer_close(v);
    viewdata_free(&vd);
}

/* ---- misclassified ---- */

/* Eight test images, each one solid colour nothing else on screen has. */
static const uint8_t COLOURS[8][3] = {{13, 201, 77},  {201, 13, 151}, {77, 151, 201},
                                      {151, 77, 13},  {19, 19, 233},  {233, 133, 19},
                                      {133, 233, 133}, {61, 7, 109}};

static void make_eval(ViewData *vd, Dataset *d, uint8_t *labels, int32_t *pred, float *prob) {
    memset(d, 0, sizeof *d);
    d->count = 8;
    d->num_classes = 10;
    d->images = malloc(8 * DATASET_PIXELS);
    d->labels = labels;
    for (int i = 0; i < 8; i++)
        for (int c = 0; c < 3; c++) memset(d->images + i * DATASET_PIXELS + c * 1024, COLOURS[i][c], 1024);
    long conf[100] = {0};
    int correct = 0;
    for (int i = 0; i < 8; i++) {
        conf[labels[i] * 10 + pred[i]]++;
        correct += labels[i] == pred[i];
    }
    CHECK_OK(viewdata_capture_eval(vd, 10, conf, pred, prob, d, correct / 8.0, 1.0, 50, 2));
}

static int has_colour(const Pic *p, int x0, int y0, const uint8_t c[3]) {
    for (int y = y0; y < p->h; y++)
        for (int x = x0; x < p->w; x++) {
            int got[3];
            rgb_at(p, x, y, got);
            if (got[0] == c[0] && got[1] == c[1] && got[2] == c[2]) return 1;
        }
    return 0;
}

static void test_mistakes(void) {
    ViewData vd;
    viewdata_init(&vd);
    vd.num_classes = 10;
    vd.class_names = CIFAR10_CLASSES;
    uint8_t labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    int32_t pred[8] = {0, 2, 2, 0, 5, 1, 0, 3};          /* wrong: 1, 3, 4, 6 */
    float prob[8] = {0.9f, 0.55f, 0.8f, 0.95f, 0.7f, 0.6f, 0.85f, 0.5f};
    Dataset d;
    make_eval(&vd, &d, labels, pred, prob);
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, W, H, &v));
    if (!v) return;
    viewer_act(v, VA_TAB_MISTAKES);
    CHECK_INT(viewer_tab(v), VIEWER_MISTAKES);
    Pic p = render(v);
    int order[4] = {3, 6, 4, 1};   /* by the wrong answer's probability */
    for (int k = 0; k < 4; k++) {
        int r[4];
        CHECK(viewer_item_rect(v, k, 0, r));
        int ok = 1;
        for (int y = r[1]; y < r[1] + r[3]; y += 7)
            for (int x = r[0]; x < r[0] + r[2]; x += 7) {
                int got[3], want[3] = {COLOURS[order[k]][0], COLOURS[order[k]][1], COLOURS[order[k]][2]};
                rgb_at(&p, x, y, got);
                ok &= near3(got, want, 0);
            }
        CHECK(ok);
    }
    int r[4];
    CHECK(!viewer_item_rect(v, 4, 0, r));
    /* exactly the wrong ones: no correctly classified image appears anywhere */
    int correct_shown = 0, wrong_shown = 0;
    for (int i = 0; i < 8; i++) {
        int s = has_colour(&p, 0, 0, COLOURS[i]);
        if (labels[i] == pred[i]) correct_shown += s;
        else wrong_shown += s;
    }
    CHECK_INT(correct_shown, 0);
    CHECK_INT(wrong_shown, 4);
    free(p.px);

    /* filter by true class: t steps to class 0 (airplane): only image 4 */
    viewer_act(v, VA_NEXT_TRUE);
    int t, pc, coarse;
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(t, 0);
    p = render(v);
    CHECK(has_colour(&p, 0, 0, COLOURS[4]));
    CHECK(!has_colour(&p, 0, 0, COLOURS[3]) && !has_colour(&p, 0, 0, COLOURS[6]) &&
          !has_colour(&p, 0, 0, COLOURS[1]));
    free(p.px);
    /* by predicted class 0 (t back to any, p to 0): images 3 and 6 */
    viewer_act(v, VA_CLEAR_FILTER);
    viewer_act(v, VA_NEXT_PRED);
    p = render(v);
    CHECK(has_colour(&p, 0, 0, COLOURS[3]) && has_colour(&p, 0, 0, COLOURS[6]));
    CHECK(!has_colour(&p, 0, 0, COLOURS[4]) && !has_colour(&p, 0, 0, COLOURS[1]));
    free(p.px);
    /* shift-p from "any" wraps to the last class; a clears */
    viewer_act(v, VA_CLEAR_FILTER);
    viewer_act(v, VA_PREV_PRED);
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(pc, 9);
    viewer_act(v, VA_CLEAR_FILTER);
    /* a click on the first image shows its mix-up (3 -> 0) only */
    CHECK(viewer_item_rect(v, 0, 0, r));
    viewer_click(v, r[0] + 5, r[1] + 5);
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(t, 3);
    CHECK_INT(pc, 0);
    CHECK(viewer_item_rect(v, 0, 0, r) && !viewer_item_rect(v, 1, 0, r));
    /* coarse classes exist only for CIFAR-100 */
    viewer_act(v, VA_TOGGLE_COARSE);
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(coarse, 0);
    CHECK(strstr(viewer_message(v), "CIFAR-100") != NULL);
    viewer_close(v);
    viewdata_free(&vd);
    free(d.images);
}

/* ---- filters ---- */

static void test_filters(void) {
    ViewData vd;
    viewdata_init(&vd);
    float w[2 * 27];
    for (int i = 0; i < 27; i++) {
        w[i] = -1.0f + 2.0f * i / 26.0f;
        w[27 + i] = 0.01f * (-1.0f + 2.0f * ((i * 7) % 27) / 26.0f);
    }
    CHECK_OK(viewdata_set_filters(&vd, w, 2, 3, 3, 10));
    CHECK_OK(viewdata_film_push(&vd, 0));
    for (int i = 0; i < 54; i++) w[i] = -w[i];
    CHECK_OK(viewdata_set_filters(&vd, w, 2, 3, 3, 20));
    CHECK_OK(viewdata_film_push(&vd, 1));
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, W, H, &v));
    if (!v) return;
    viewer_act(v, VA_TAB_FILTERS);
    Pic p = render(v);
    /* per filter: each tile spans 0..255; weight (y, x) is one uniform block */
    for (int f = 0; f < 2; f++) {
        int r[4];
        CHECK(viewer_item_rect(v, f, 0, r));
        int b = r[2] / 3;
        CHECK(b >= 8);
        int mn = 255, mx = 0, uniform = 1, exact = 1;
        float lo = 1e9f, hi = -1e9f;
        for (int i = 0; i < 27; i++) {
            if (w[f * 27 + i] < lo) lo = w[f * 27 + i];
            if (w[f * 27 + i] > hi) hi = w[f * 27 + i];
        }
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 3; x++) {
                int c0[3], c1[3];
                rgb_at(&p, r[0] + x * b, r[1] + y * b, c0);
                rgb_at(&p, r[0] + x * b + b - 1, r[1] + y * b + b - 1, c1);
                uniform &= near3(c0, c1, 0);
                for (int c = 0; c < 3; c++) {
                    if (c0[c] < mn) mn = c0[c];
                    if (c0[c] > mx) mx = c0[c];
                    float raw = w[f * 27 + c * 9 + y * 3 + x];
                    exact &= abs(c0[c] - (int)lroundf((raw - lo) / (hi - lo) * 255)) <= 1;
                }
            }
        CHECK(uniform);
        CHECK(exact);
        CHECK_INT(mn, 0);
        CHECK_INT(mx, 255);
    }
    /* the filmstrip: frame 0 holds the first weights, so its tile is the mirror image in value */
    int r0[4], r1[4];
    CHECK(!viewer_item_rect(v, 1, 3, r1));   /* two frames only */
    CHECK(viewer_item_rect(v, 1, 1, r0));
    CHECK(viewer_item_rect(v, 1, 2, r1));
    CHECK(r1[1] > r0[1]);
    {
        int a[3], b[3];
        rgb_at(&p, r0[0] + 1, r0[1] + 1, a);
        rgb_at(&p, r1[0] + 1, r1[1] + 1, b);
        for (int c = 0; c < 3; c++) CHECK(abs(a[c] + b[c] - 255) <= 2);
    }
    free(p.px);
    /* over all filters: the small one becomes mid-gray */
    viewer_act(v, VA_TOGGLE_NORMALIZE);
    p = render(v);
    int r[4];
    CHECK(viewer_item_rect(v, 1, 0, r));
    int gray = 1;
    for (int y = r[1]; y < r[1] + r[3]; y += 3)
        for (int x = r[0]; x < r[0] + r[2]; x += 3) {
            int got[3], mid[3] = {128, 128, 128};
            rgb_at(&p, x, y, got);
            gray &= near3(got, mid, 2);
        }
    CHECK(gray);
    CHECK(viewer_item_rect(v, 0, 0, r));
    int lo_seen = 0, hi_seen = 0;
    for (int y = r[1]; y < r[1] + r[3]; y++)
        for (int x = r[0]; x < r[0] + r[2]; x++) {
            int got[3];
            rgb_at(&p, x, y, got);
            for (int c = 0; c < 3; c++) {
                lo_seen |= got[c] == 0;
                hi_seen |= got[c] == 255;
            }
        }
    CHECK(lo_seen && hi_seen);
    free(p.px);
    viewer_close(v);
    viewdata_free(&vd);
}

/* ---- confusion ---- */

static int brightness(const int c[3]) { return c[0] * 3 + c[1] * 6 + c[2]; }

static void test_confusion(void) {
    ViewData vd;
    viewdata_init(&vd);
    vd.num_classes = 10;
    vd.class_names = CIFAR10_CLASSES;
    uint8_t labels[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    int32_t pred[8] = {0, 2, 2, 0, 5, 1, 0, 3};
    float prob[8] = {0.9f, 0.55f, 0.8f, 0.95f, 0.7f, 0.6f, 0.85f, 0.5f};
    Dataset d;
    make_eval(&vd, &d, labels, pred, prob);
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, W, H, &v));
    if (!v) return;
    viewer_act(v, VA_TAB_CONFUSION);
    Pic p = render(v);
    int r[4];
    CHECK(viewer_item_rect(v, 99, 0, r));
    CHECK(!viewer_item_rect(v, 100, 0, r));
    /* colour by fraction of the true class: (0,0) and (0,5) are 1/2 each, (1,1) 1/2, (2,2) 1/2,
     * (3,3) 1/2; (4, 4) is an empty row: 0 like any empty cell */
    int c00[3], c05[3], c03[3], c44[3], c22[3];
    CHECK(viewer_item_rect(v, 0, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c00);
    CHECK(viewer_item_rect(v, 5, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c05);
    CHECK(viewer_item_rect(v, 3, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c03);
    CHECK(viewer_item_rect(v, 44, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c44);
    CHECK(viewer_item_rect(v, 22, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c22);
    CHECK(near3(c00, c05, 0));
    CHECK(near3(c00, c22, 0));
    CHECK(near3(c03, c44, 0));
    CHECK(brightness(c00) > brightness(c03) + 100);
    free(p.px);
    /* by count: every cell with 1 image is the brightest */
    viewer_act(v, VA_TOGGLE_NORMALIZE);
    p = render(v);
    int c01[3];
    CHECK(viewer_item_rect(v, 1, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c01);
    CHECK(viewer_item_rect(v, 0, 0, r));
    rgb_at(&p, r[0] + 3, r[1] + 3, c00);
    CHECK(brightness(c00) > brightness(c01) + 100);
    free(p.px);
    /* a click on (3, 0) opens view 2 with exactly that mix-up */
    CHECK(viewer_item_rect(v, 30, 0, r));
    viewer_click(v, r[0] + r[2] / 2, r[1] + r[3] / 2);
    CHECK_INT(viewer_tab(v), VIEWER_MISTAKES);
    int t, pc, coarse;
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(t, 3);
    CHECK_INT(pc, 0);
    p = render(v);
    CHECK(has_colour(&p, 0, 0, COLOURS[3]));
    CHECK(!has_colour(&p, 0, 0, COLOURS[6]) && !has_colour(&p, 0, 0, COLOURS[4]));
    free(p.px);
    viewer_close(v);
    viewdata_free(&vd);
    free(d.images);
}

/* CIFAR-100: coarse classes fold the matrix and filter the mistakes. */
static void test_coarse(void) {
    ViewData vd;
    viewdata_init(&vd);
    vd.num_classes = 100;
    vd.num_coarse = 20;
    vd.class_names = CIFAR100_CLASSES;
    vd.coarse_names = CIFAR100_COARSE;
    for (int c = 0; c < 100; c++) vd.coarse_of[c] = c % 20;
    uint8_t labels[8] = {0, 1, 2, 3, 20, 21, 22, 23};
    int32_t pred[8] = {20, 1, 3, 3, 0, 41, 22, 24};      /* wrong: 0 (0->0 coarse), 2, 4, 5, 7 */
    float prob[8] = {0.9f, 0.5f, 0.8f, 0.9f, 0.7f, 0.6f, 0.8f, 0.5f};
    Dataset d;
    memset(&d, 0, sizeof d);
    d.count = 8;
    d.images = calloc(8, DATASET_PIXELS);
    d.labels = labels;
    long *conf = calloc(100 * 100, sizeof(long));
    for (int i = 0; i < 8; i++) conf[labels[i] * 100 + pred[i]]++;
    CHECK_OK(viewdata_capture_eval(&vd, 100, conf, pred, prob, &d, 3 / 8.0, 1.0, 5, 1));
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, W, H, &v));
    if (!v) return;
    viewer_act(v, VA_TAB_CONFUSION);
    int r[4];
    CHECK(viewer_item_rect(v, 100 * 100 - 1, 0, r));
    viewer_act(v, VA_TOGGLE_COARSE);
    CHECK(viewer_item_rect(v, 20 * 20 - 1, 0, r));
    CHECK(!viewer_item_rect(v, 20 * 20, 0, r));
    /* coarse (0, 0) holds 0->20 and 20->0 (both coarse 0 -> 0): a click shows both */
    CHECK(viewer_item_rect(v, 0, 0, r));
    viewer_click(v, r[0] + 2, r[1] + 2);
    int t, pc, coarse;
    viewer_mistake_filter(v, &t, &pc, &coarse);
    CHECK_INT(coarse, 1);
    CHECK_INT(t, 0);
    CHECK_INT(pc, 0);
    CHECK(viewer_item_rect(v, 1, 0, r));
    CHECK(!viewer_item_rect(v, 2, 0, r));
    Pic p = render(v);
    free(p.px);
    viewer_close(v);
    viewdata_free(&vd);
    free(conf);
    free(d.images);
}

/* A saved PNG is the picture drawn; an empty viewer says it waits for data. */
static void test_png_and_empty(void) {
    ViewData vd;
    viewdata_init(&vd);
    AugmentConfig a;
    make_samples(&vd, &a);
    Viewer *v;
    CHECK_OK(viewer_create_offscreen(&vd, 640, 400, &v));
    if (!v) return;
    char path[] = "/tmp/test_viewer_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
    CHECK_OK(viewer_save_png(v, path));
    Pic p = render(v);
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    CHECK_OK(png_read_rgb(path, &rgb, &w, &h));
    CHECK_INT(w, 640);
    CHECK_INT(h, 400);
    int same = rgb != NULL;
    for (int i = 0; same && i < w * h; i++) {
        int c[3];
        rgb_at(&p, i % w, i / w, c);
        same &= c[0] == rgb[3 * i] && c[1] == rgb[3 * i + 1] && c[2] == rgb[3 * i + 2];
    }
    CHECK(same);
    free(rgb);
    free(p.px);
    unlink(path);
    viewer_close(v);
    viewdata_free(&vd);

    ViewData empty;
    viewdata_init(&empty);
    CHECK_OK(viewer_create_offscreen(&empty, 640, 400, &v));
    if (!v) return;
    for (int tab = VA_TAB_SAMPLES; tab <= VA_TAB_CONFUSION; tab++) {
        viewer_act(v, (ViewerAction)tab);
        int r[4];
        CHECK(!viewer_item_rect(v, 0, 0, r));
        p = render(v);
        free(p.px);
    }
    viewer_close(v);
}

int main(void) {
    if (access("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", R_OK) != 0 && !getenv("SHORTCUT_FONT"))
        CHECK_SKIP("no DejaVuSans.ttf (apt-get install fonts-dejavu-core) and no SHORTCUT_FONT");
    test_samples();
    test_mistakes();
    test_filters();
    test_confusion();
    test_coarse();
    test_png_and_empty();
    return check_report("test_viewer");
}
