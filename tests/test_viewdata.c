/* test_viewdata.c — what the viewer is given: a captured batch equals what the loader produced
 * (images, originals by index, records, cutout masks), un-normalizing gives the original back and
 * a flip mirrors it; mistakes are exactly the wrong predictions, most confident first, and filter
 * by fine or coarse class; filter tiles are min-max normalized per filter or over all; the
 * filmstrip keeps one frame per epoch; copies move only changed parts; the exchange captures
 * only when asked, at most once per interval, from a real trainer, and a paused session
 * answers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "config.h"
#include "loader.h"
#include "session.h"
#include "trainer.h"
#include "viewdata.h"

static const float MEAN[3] = {0.5f, 0.4f, 0.3f};
static const float STD[3] = {0.25f, 0.2f, 0.3f};

/* A dataset of `n` images whose pixel (c, y, x) of image i is a known function. */
static void make_dataset(Dataset *d, int n) {
    memset(d, 0, sizeof *d);
    d->count = n;
    d->num_classes = 10;
    d->images = malloc((size_t)n * DATASET_PIXELS);
    d->labels = malloc((size_t)n);
    d->source_index = malloc(sizeof(int) * (size_t)n);
    d->class_names = CIFAR10_CLASSES;
    for (int i = 0; i < n; i++) {
        d->labels[i] = (uint8_t)(i % 10);
        d->source_index[i] = 1000 + i;
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 32; x++)
                    d->images[(size_t)i * DATASET_PIXELS + (size_t)c * 1024 + y * 32 + x] =
                        (uint8_t)((c == 0 ? 7 * x : c == 1 ? 7 * y : 11 * i + x + y) & 0xff);
    }
}

static uint8_t orig_px(const Dataset *d, int i, int c, int y, int x) {
    return d->images[(size_t)i * DATASET_PIXELS + (size_t)c * 1024 + y * 32 + x];
}

/* Training batches of 16 from d: flips and one 8-pixel cutout hole, crops of `crop_pad`. */
static LoaderOptions batch_options(const Dataset *d, int crop_pad) {
    LoaderOptions o = {0};
    o.data = d;
    o.batch_size = 16;
    o.train = 1;
    o.seed = 5;
    o.augment.crop_pad = crop_pad;
    o.augment.flip = 1;
    o.augment.cutout_holes = 1;
    o.augment.cutout_size = 8;
    memcpy(o.mean, MEAN, sizeof o.mean);
    memcpy(o.std, STD, sizeof o.std);
    return o;
}

static void test_capture_batch(void) {
    Dataset d;
    make_dataset(&d, 40);
    /* no crop shift: the augmented image is the original, maybe mirrored */
    LoaderOptions o = batch_options(&d, 0);
    Loader *l;
    CHECK_OK(loader_create(&o, &l));
    const Batch *b;
    CHECK_OK(loader_next(l, &b));

    ViewData vd;
    viewdata_init(&vd);
    viewdata_set_classes(&vd, &d);
    CHECK_OK(viewdata_capture_batch(&vd, b, &d, &o.augment, MEAN, STD, 7));
    CHECK(vd.samples_id != 0);
    CHECK_INT(vd.sample_count, 16);
    CHECK_INT(vd.sample_side, 32);
    CHECK_INT(vd.sample_step, 7);
    CHECK(memcmp(vd.sample_images, b->images, sizeof(float) * 16 * 3 * 1024) == 0);
    int flipped = 0, unflipped = 0, mask_ok = 1, orig_ok = 1, rgb_ok = 1, mirror_ok = 1, hole_ok = 1;
    uint8_t mask[1024], rgb[3 * 1024];
    for (int i = 0; i < 16; i++) {
        int idx = b->indices[i];
        CHECK_INT(vd.sample_indices[i], idx);
        CHECK_INT(vd.sample_labels[i], d.labels[idx]);
        orig_ok &= memcmp(vd.sample_originals + (size_t)i * DATASET_PIXELS,
                          d.images + (size_t)idx * DATASET_PIXELS, DATASET_PIXELS) == 0;
        augment_cutout_mask(&o.augment, &b->records[i], mask);
        mask_ok &= memcmp(vd.sample_masks + (size_t)i * 1024, mask, 1024) == 0;
        int f = b->records[i].flipped;
        flipped += f != 0;
        unflipped += f == 0;
        viewdata_sample_rgb(&vd, i, rgb);
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                for (int c = 0; c < 3; c++) {
                    int got = rgb[3 * (y * 32 + x) + c];
                    if (mask[y * 32 + x]) {
                        /* cutout zeroes after normalization: the mean colour shows */
                        hole_ok &= abs(got - (int)lroundf(MEAN[c] * 255)) <= 1;
                        continue;
                    }
                    int want = orig_px(&d, idx, c, y, f ? 31 - x : x);
                    if (abs(got - want) > 1) {
                        if (f) mirror_ok = 0;
                        else rgb_ok = 0;
                    }
                }
    }
    CHECK(orig_ok);
    CHECK(mask_ok);
    CHECK(rgb_ok);
    CHECK(mirror_ok);
    CHECK(hole_ok);
    CHECK(flipped > 0 && unflipped > 0);   /* the seed gives both kinds in 16 draws */
    viewdata_free(&vd);
    loader_destroy(l);
    dataset_free(&d);
}

/* A batch augmented on the device carries no pixels (LoaderOptions.skip_pixels): the capture
 * makes the same images on the host from the batch's records. */
static void test_capture_device_batch(void) {
    Dataset d;
    make_dataset(&d, 40);
    LoaderOptions o = batch_options(&d, 4);
    o.augment.pad_mode = PAD_REFLECT;
    LoaderOptions od = o;
    od.skip_pixels = 1;
    Loader *lh, *ld;
    CHECK_OK(loader_create(&o, &lh));
    CHECK_OK(loader_create(&od, &ld));
    const Batch *bh, *bd;
    CHECK_OK(loader_next(lh, &bh));
    CHECK_OK(loader_next(ld, &bd));
    CHECK(bd->images == NULL);
    ViewData vd;
    viewdata_init(&vd);
    viewdata_set_classes(&vd, &d);
    CHECK_OK(viewdata_capture_batch(&vd, bd, &d, &o.augment, MEAN, STD, 3));
    CHECK_INT(vd.sample_count, 16);
    CHECK(memcmp(vd.sample_images, bh->images, sizeof(float) * 16 * 3 * 1024) == 0);
    viewdata_free(&vd);
    loader_destroy(lh);
    loader_destroy(ld);
    dataset_free(&d);
}

static void test_capture_eval(void) {
    Dataset d;
    make_dataset(&d, 8);
    static const char *const coarse_names[2] = {"low", "high"};
    uint8_t coarse[8];
    for (int i = 0; i < 8; i++) coarse[i] = d.labels[i] >= 5;   /* labels 0..7 */
    d.coarse_labels = coarse;
    d.num_coarse = 2;
    d.coarse_names = coarse_names;
    /* predictions: wrong at 1 (p .5), 3 (p .9), 4 (p .7), 6 (p .9): ties keep index order */
    int32_t pred[8] = {0, 5, 2, 0, 6, 5, 1, 7};
    float prob[8] = {0.8f, 0.5f, 0.6f, 0.9f, 0.7f, 0.99f, 0.9f, 0.4f};
    long conf[100] = {0};
    for (int i = 0; i < 8; i++) conf[d.labels[i] * 10 + pred[i]]++;
    ViewData vd;
    viewdata_init(&vd);
    viewdata_set_classes(&vd, &d);
    CHECK_INT(vd.coarse_of[3], 0);
    CHECK_INT(vd.coarse_of[6], 1);
    CHECK_OK(viewdata_capture_eval(&vd, 10, conf, pred, prob, &d, 0.5, 1.2, 99, 3));
    CHECK_INT(vd.wrong_count, 4);
    int order[4] = {3, 6, 4, 1};
    for (int k = 0; k < 4 && k < vd.wrong_count; k++) {
        int i = order[k];
        CHECK_INT(vd.wrong[k].index, i);
        CHECK_INT(vd.wrong[k].source_index, 1000 + i);
        CHECK_INT(vd.wrong[k].label, d.labels[i]);
        CHECK_INT(vd.wrong[k].predicted, pred[i]);
        CHECK(memcmp(vd.wrong_images + (size_t)k * DATASET_PIXELS,
                     d.images + (size_t)i * DATASET_PIXELS, DATASET_PIXELS) == 0);
    }
    CHECK_INT(vd.confusion[1 * 10 + 5], 1);
    CHECK_INT(vd.eval_step, 99);
    int idx[8];
    CHECK_INT(viewdata_mistakes_select(&vd, -1, -1, 0, idx), 4);
    CHECK_INT(viewdata_mistakes_select(&vd, 3, -1, 0, idx), 1);
    CHECK_INT(idx[0], 0);
    CHECK_INT(viewdata_mistakes_select(&vd, -1, 5, 0, NULL), 1);
    CHECK_INT(viewdata_mistakes_select(&vd, 6, 0, 0, NULL), 0);
    /* coarse: 1 -> 5 is low -> high; 3 -> 0 low -> low; 4 -> 6 low -> high; 6 -> 1 high -> low */
    CHECK_INT(viewdata_mistakes_select(&vd, 0, 1, 1, idx), 2);
    CHECK_INT(viewdata_mistakes_select(&vd, 0, 0, 1, NULL), 1);
    CHECK_INT(viewdata_mistakes_select(&vd, 1, -1, 1, NULL), 1);
    d.coarse_labels = NULL;
    viewdata_free(&vd);
    dataset_free(&d);
}

static void test_filter_tiles(void) {
    /* two 3x3 RGB filters: one spans [-1, 1], one [-0.01, 0.01] */
    float w[2 * 27];
    for (int i = 0; i < 27; i++) {
        w[i] = -1.0f + 2.0f * i / 26.0f;
        w[27 + i] = 0.01f * (-1.0f + 2.0f * ((i * 7) % 27) / 26.0f);
    }
    uint8_t rgb[27];
    viewdata_filter_rgb(w, 2, 3, 3, 1, 1, rgb);
    int mn = 255, mx = 0;
    for (int p = 0; p < 9; p++)
        for (int c = 0; c < 3; c++) {
            int v = rgb[3 * p + c];
            if (v < mn) mn = v;
            if (v > mx) mx = v;
            float raw = w[27 + c * 9 + p];
            CHECK(abs(v - (int)lroundf((raw + 0.01f) / 0.02f * 255)) <= 1);
        }
    CHECK_INT(mn, 0);
    CHECK_INT(mx, 255);
    viewdata_filter_rgb(w, 2, 3, 3, 1, 0, rgb);   /* over both: the small filter is mid-gray */
    for (int i = 0; i < 27; i++) CHECK(abs(rgb[i] - 128) <= 2);
    viewdata_filter_rgb(w, 2, 3, 3, 0, 0, rgb);
    CHECK_INT(rgb[0], 0);        /* w[0] = -1, red of pixel 0 */
    CHECK_INT(rgb[3 * 8 + 2], 255);  /* w[26] = 1, blue of pixel 8 */
    float flat[27];
    for (int i = 0; i < 27; i++) flat[i] = 0.3f;
    viewdata_filter_rgb(flat, 1, 3, 3, 0, 1, rgb);
    CHECK_INT(rgb[5], 128);
}

static void test_film_and_copy(void) {
    ViewData a, b;
    viewdata_init(&a);
    viewdata_init(&b);
    float w[4 * 3 * 9];
    for (int i = 0; i < 108; i++) w[i] = (float)i;
    CHECK_OK(viewdata_set_filters(&a, w, 4, 3, 3, 10));
    CHECK_OK(viewdata_film_push(&a, 0));
    w[0] = -5;
    CHECK_OK(viewdata_set_filters(&a, w, 4, 3, 3, 20));
    CHECK_OK(viewdata_film_push(&a, 0));   /* same epoch: replaces */
    CHECK_INT(a.film_len, 1);
    CHECK(a.film[0] == -5.0f);
    CHECK_OK(viewdata_film_push(&a, 1));
    CHECK_INT(a.film_len, 2);
    CHECK_INT(a.film_epoch[1], 1);

    CHECK_OK(viewdata_copy(&b, &a));
    CHECK(b.filters_id == a.filters_id && b.film_id == a.film_id);
    CHECK_INT(b.film_len, 2);
    CHECK(memcmp(b.film, a.film, sizeof(float) * 2 * 108) == 0);
    CHECK(memcmp(b.filters, a.filters, sizeof(float) * 108) == 0);
    /* an unchanged part is not copied again: scribble on b, copy, the scribble stays */
    b.filters[1] = 777;
    CHECK_OK(viewdata_copy(&b, &a));
    CHECK(b.filters[1] == 777.0f);
    w[1] = 42;
    CHECK_OK(viewdata_set_filters(&a, w, 4, 3, 3, 30));
    CHECK_OK(viewdata_copy(&b, &a));
    CHECK(b.filters[1] == 42.0f);

    /* a new stem shape starts the strip over */
    float w7[2 * 3 * 49] = {0};
    CHECK_OK(viewdata_set_filters(&a, w7, 2, 3, 7, 40));
    CHECK_OK(viewdata_film_push(&a, 2));
    CHECK_INT(a.film_len, 1);
    CHECK_INT(a.film_k, 7);
    /* a full strip drops its oldest frame */
    for (int e = 3; e < VIEW_FILM_MAX + 5; e++) CHECK_OK(viewdata_film_push(&a, e));
    CHECK_INT(a.film_len, VIEW_FILM_MAX);
    CHECK_INT(a.film_epoch[VIEW_FILM_MAX - 1], VIEW_FILM_MAX + 4);
    CHECK_INT(a.film_epoch[0], 5);
    viewdata_free(&a);
    viewdata_free(&b);
}

static void tiny_config(Config *c) {
    config_defaults(c);
    snprintf(c->name, sizeof c->name, "viewtiny");
    c->data.shapes_train = 96;
    c->data.shapes_test = 40;
    c->data.augment.cutout_holes = 1;
    c->data.augment.cutout_size = 8;
    c->model.num_stages = 1;
    c->model.stem_width = 4;
    c->model.stages[0] = (StageConfig){1, 4, 1};
    c->train.batch_size = 32;
    c->train.epochs = 3;
    c->train.threads = 1;
    snprintf(c->train.device, sizeof c->train.device, "cpu");
}

static void test_exchange_on_trainer(void) {
    Config c;
    tiny_config(&c);
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (!t) return;
    ViewExchange *vx;
    CHECK_OK(view_exchange_create(0.25, &vx));
    ViewData *v = malloc(sizeof *v);
    viewdata_init(v);

    /* nothing asked: no capture, but the filmstrip has its initial frame */
    CHECK_INT(view_exchange_service(vx, t, 100.0), 0);
    CHECK_INT(view_exchange_captures(vx), 0);
    CHECK_INT(view_exchange_copy(vx, v), 0);

    StepResult r;
    CHECK_OK(trainer_step(t, &r));
    view_exchange_request(vx, VIEW_WANT_SAMPLES | VIEW_WANT_FILTERS);
    CHECK(view_exchange_due(vx, 100.0));
    CHECK_INT(view_exchange_service(vx, t, 100.0), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK_INT(view_exchange_copy(vx, v), 0);   /* nothing new */
    CHECK(v->samples_id != 0 && v->filters_id != 0 && v->eval_id == 0);
    CHECK_INT(v->sample_count, 32);
    CHECK_INT(v->global_step, 1);
    CHECK(v->class_names == SHAPES_CLASSES);
    CHECK(memcmp(v->sample_images, t->last_batch->images, sizeof(float) * 32 * 3 * 1024) == 0);
    uint8_t mask[1024];
    int holes = 0, masks_ok = 1;
    for (int i = 0; i < 32; i++) {
        augment_cutout_mask(&c.data.augment, &t->last_batch->records[i], mask);
        masks_ok &= memcmp(mask, v->sample_masks + (size_t)i * 1024, 1024) == 0;
        for (int p = 0; p < 1024; p++) holes += mask[p];
    }
    CHECK(masks_ok);
    CHECK(holes > 32 * 16);   /* 8x8 holes, clipped at borders */
    CHECK_INT(v->film_len, 1);
    CHECK_INT(v->film_epoch[0], 0);
    CHECK_INT(v->filt_out, 4);
    CHECK_INT(v->filt_k, 3);

    /* the rate limit: asked again at once, the worker waits for the interval */
    CHECK_OK(trainer_step(t, &r));
    view_exchange_request(vx, VIEW_WANT_SAMPLES);
    CHECK(!view_exchange_due(vx, 100.1));
    for (int i = 0; i < 50; i++) CHECK_INT(view_exchange_service(vx, t, 100.1 + i * 0.001), 0);
    CHECK_INT(view_exchange_captures(vx), 1);
    CHECK_INT(view_exchange_service(vx, t, 100.3), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK_INT(v->sample_step, 2);
    /* asked while nothing changed: no copy is made */
    view_exchange_request(vx, VIEW_WANT_SAMPLES);
    CHECK_INT(view_exchange_service(vx, t, 101.0), 0);

    /* an epoch ends with an evaluation: the mistakes are the wrong predictions */
    while (t->batch_in_epoch != 0 || t->epoch == 0) {
        CHECK_OK(trainer_step(t, &r));
        if (r.epoch_finished) CHECK_OK(trainer_end_epoch(t, 1, 0));
    }
    view_exchange_request(vx, VIEW_WANT_EVAL | VIEW_WANT_FILTERS);
    CHECK_INT(view_exchange_service(vx, t, 102.0), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK(v->eval_id != 0);
    CHECK_INT(v->eval_count, 40);
    int wrong = 0;
    long total = 0;
    for (int i = 0; i < 40; i++) wrong += t->last_eval.predicted[i] != t->data.test.labels[i];
    for (int i = 0; i < 100; i++) total += v->confusion[i];
    CHECK_INT(v->wrong_count, wrong);
    CHECK_INT(total, 40);
    for (int k = 1; k < v->wrong_count; k++) CHECK(v->wrong[k - 1].probability >= v->wrong[k].probability);
    CHECK_NEAR(v->eval_accuracy, 1.0 - wrong / 40.0, 1e-9, 0);
    CHECK_INT(v->film_len, 2);
    CHECK_INT(v->film_epoch[1], 1);
    CHECK(v->test_acc >= 0);

    /* an augmentation edit shows on the next batch, and not on the one before it */
    const char *edit[] = {"data.augment.cutout_size=4"};
    CHECK_OK(trainer_apply_edit(t, edit, 1));
    view_exchange_request(vx, VIEW_WANT_SAMPLES);
    CHECK_INT(view_exchange_service(vx, t, 103.0), 1);   /* no step yet: the old batch */
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK_INT(v->augment.cutout_size, 8);
    CHECK_OK(trainer_step(t, &r));
    view_exchange_request(vx, VIEW_WANT_SAMPLES);
    CHECK_INT(view_exchange_service(vx, t, 104.0), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK_INT(v->augment.cutout_size, 4);
    int small = 1;
    for (int i = 0; i < v->sample_count; i++) {
        int n = 0;
        for (int p = 0; p < 1024; p++) n += v->sample_masks[(size_t)i * 1024 + p];
        small &= n <= 16 && v->sample_records[i].hole_size == 4;
    }
    CHECK(small);

    viewdata_free(v);
    free(v);
    view_exchange_destroy(vx);
    trainer_destroy(t);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A paused session sleeps between commands; a viewer's request still gets an answer. */
static void test_paused_session_answers(void) {
    SessionOptions o = {0};
    tiny_config(&o.config);
    o.start_paused = 1;
    Session *s;
    CHECK_OK(session_start(&o, &s));
    if (!s) return;
    ViewExchange *vx = session_view_exchange(s);
    CHECK(vx != NULL);
    ViewData v;
    viewdata_init(&v);
    double t0 = now_s();
    while (now_s() - t0 < 20 && !v.filters_id) {
        view_exchange_request(vx, VIEW_WANT_FILTERS);
        CHECK(view_exchange_copy(vx, &v) >= 0);
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    CHECK(v.filters_id != 0);
    CHECK_INT(v.global_step, 0);
    CHECK_INT(v.samples_id, 0);   /* no step yet: no batch to show */
    Snapshot *snap = malloc(sizeof *snap);
    session_snapshot(s, snap);
    CHECK_INT(snap->state, RUN_PAUSED);
    free(snap);
    viewdata_free(&v);
    session_destroy(s);
}

/* On a GPU, what the viewer is given is what the GPU trained on: the batch augmented there (its
 * pixels never reach the host) equals the samples the exchange recomputes on the host from the
 * same records, the filters are the stem weights, and an evaluation's mistakes are the
 * predictions'. Skipped without a CUDA device. */
static void test_exchange_on_gpu_trainer(void) {
    CUDA_DEVICE_OR_RETURN("viewer data from a GPU trainer");
    Config c;
    tiny_config(&c);
    snprintf(c.train.device, sizeof c.train.device, "cuda");
    Trainer *t;
    CHECK_OK(trainer_create(&c, NULL, &t));
    if (!t) return;
    CHECK_INT(t->device_augment, 1);
    ViewExchange *vx;
    CHECK_OK(view_exchange_create(0.25, &vx));
    ViewData *v = malloc(sizeof *v);
    viewdata_init(v);
    StepResult r;
    CHECK_OK(trainer_step(t, &r));
    view_exchange_request(vx, VIEW_WANT_SAMPLES | VIEW_WANT_FILTERS);
    CHECK_INT(view_exchange_service(vx, t, 100.0), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    CHECK_INT(v->sample_count, 32);
    const size_t px = (size_t)32 * 3 * 1024;
    float *trained = malloc(sizeof(float) * px);
    CHECK_OK(t->backend.ops->download(t->backend.ctx, &t->x, trained));
    size_t off = 0;
    for (size_t i = 0; i < px; i++) off += fabsf(trained[i] - v->sample_images[i]) > 1e-5f;
    CHECK_INT((int)off, 0);
    const Param *stem = model_stem_weight(t->model);
    const size_t nw = tensor_numel(&stem->value);
    float *w = malloc(sizeof(float) * nw);
    CHECK_OK(t->backend.ops->download(t->backend.ctx, &stem->value, w));
    CHECK(memcmp(w, v->filters, sizeof(float) * nw) == 0);
    while (t->batch_in_epoch != 0 || t->epoch == 0) {
        CHECK_OK(trainer_step(t, &r));
        if (r.epoch_finished) CHECK_OK(trainer_end_epoch(t, 1, 0));
    }
    view_exchange_request(vx, VIEW_WANT_EVAL);
    CHECK_INT(view_exchange_service(vx, t, 102.0), 1);
    CHECK_INT(view_exchange_copy(vx, v), 1);
    int wrong = 0;
    for (int i = 0; i < 40; i++) wrong += t->last_eval.predicted[i] != t->data.test.labels[i];
    CHECK_INT(v->eval_count, 40);
    CHECK_INT(v->wrong_count, wrong);
    printf("viewer data from a GPU trainer: 32 samples as trained, %d of 40 wrong\n", wrong);
    free(trained);
    free(w);
    viewdata_free(v);
    free(v);
    view_exchange_destroy(vx);
    trainer_destroy(t);
}

int main(void) {
    test_capture_batch();
    test_capture_device_batch();
    test_capture_eval();
    test_filter_tiles();
    test_film_and_copy();
    test_exchange_on_trainer();
    test_exchange_on_gpu_trainer();
    test_paused_session_answers();
    return check_report("test_viewdata");
}
