/* test_loader.c — batches: every index once per epoch, the short last batch, batch content equal
 * to augment_apply of the right record, seek == iterate, prefetch on == off, setters discarding
 * what was prefetched, evaluation order, and argument errors. With skip_pixels (on-device
 * augmentation) the same labels, indices and records and no pixels, and a backend's augment op
 * (the reference backend's here) making exactly the pixels the host path makes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/backend.h"
#include "../core/loader.h"
#include "check.h"

#define COUNT 1003
#define BS 64

static const float MEAN[3] = {0.5f, 0.45f, 0.4f};
static const float STD[3] = {0.25f, 0.24f, 0.26f};

static LoaderOptions options(const Dataset *d, int train, int prefetch) {
    LoaderOptions o;
    memset(&o, 0, sizeof o);
    o.data = d;
    o.batch_size = BS;
    o.train = train;
    o.seed = 11;
    o.augment.crop_pad = 4;
    o.augment.pad_mode = PAD_REFLECT;
    o.augment.flip = 1;
    o.augment.cutout_holes = 1;
    o.augment.cutout_size = 8;
    memcpy(o.mean, MEAN, sizeof o.mean);
    memcpy(o.std, STD, sizeof o.std);
    o.prefetch = prefetch;
    return o;
}

/* An owned copy of a batch, to compare batches from different loaders. */
typedef struct Copy {
    int count, side, epoch;
    long position;
    float *images;
    int32_t labels[BS * 2];
    int indices[BS * 2];
    AugmentRecord records[BS * 2];
} Copy;

static void copy_batch(const Batch *b, Copy *c) {
    size_t n = (size_t)b->count * 3 * b->side * b->side;
    c->count = b->count;
    c->side = b->side;
    c->epoch = b->epoch;
    c->position = b->position;
    c->images = malloc(n * sizeof(float));
    memcpy(c->images, b->images, n * sizeof(float));
    memcpy(c->labels, b->labels, (size_t)b->count * sizeof(int32_t));
    memcpy(c->indices, b->indices, (size_t)b->count * sizeof(int));
    memcpy(c->records, b->records, (size_t)b->count * sizeof(AugmentRecord));
}

static int same_batch(const Copy *c, const Batch *b) {
    return c->count == b->count && c->side == b->side && c->epoch == b->epoch &&
           c->position == b->position &&
           memcmp(c->images, b->images, (size_t)b->count * 3 * b->side * b->side * sizeof(float)) == 0 &&
           memcmp(c->labels, b->labels, (size_t)b->count * sizeof(int32_t)) == 0 &&
           memcmp(c->indices, b->indices, (size_t)b->count * sizeof(int)) == 0 &&
           memcmp(c->records, b->records, (size_t)b->count * sizeof(AugmentRecord)) == 0;
}

/* Batch content is what augment_draw + augment_apply give for its indices. */
static int batch_matches_augment(const Batch *b, const Dataset *d, const LoaderOptions *o) {
    int S = augment_out_side(&o->augment);
    size_t plane = (size_t)3 * S * S;
    float *want = malloc(plane * sizeof(float));
    int ok = 1;
    for (int i = 0; i < b->count && ok; i++) {
        int k = b->indices[i];
        AugmentRecord r;
        if (o->train) augment_draw(&o->augment, o->seed, b->epoch, k, &r);
        else augment_identity(&o->augment, &r);
        augment_apply(&o->augment, o->mean, o->std, &r, d->images + (size_t)k * DATASET_PIXELS, want);
        ok = memcmp(&r, &b->records[i], sizeof r) == 0 && b->labels[i] == d->labels[k] &&
             memcmp(want, b->images + (size_t)i * plane, plane * sizeof(float)) == 0;
    }
    free(want);
    return ok;
}

static void test_epoch(const Dataset *d, int prefetch) {
    LoaderOptions o = options(d, 1, prefetch);
    Loader *l;
    CHECK_OK(loader_create(&o, &l));
    long nb = loader_batches_per_epoch(l);
    CHECK_INT(nb, (COUNT + BS - 1) / BS);
    int perm[COUNT];
    for (int e = 0; e < 2; e++) {
        int seen[COUNT] = {0};
        int content_bad = 0, order_bad = 0;
        loader_permutation(COUNT, o.seed, e, perm);
        for (long k = 0; k < nb; k++) {
            const Batch *b;
            CHECK_OK(loader_next(l, &b));
            if (!b) return;
            CHECK_INT(b->epoch, e);
            CHECK_INT(b->position, k * BS);
            CHECK_INT(b->count, k < nb - 1 ? BS : COUNT - (nb - 1) * BS);
            CHECK_INT(b->side, 32);
            for (int i = 0; i < b->count; i++) {
                seen[b->indices[i]]++;
                order_bad += b->indices[i] != perm[b->position + i];
            }
            if (k % 5 == 0 || k == nb - 1) content_bad += !batch_matches_augment(b, d, &o);
        }
        int once = 0;
        for (int i = 0; i < COUNT; i++) once += seen[i] == 1;
        CHECK_INT(once, COUNT);
        CHECK_INT(order_bad, 0);
        CHECK_INT(content_bad, 0);
    }
    /* Then the third epoch begins. */
    const Batch *b;
    CHECK_OK(loader_next(l, &b));
    CHECK_INT(b->epoch, 2);
    CHECK_INT(b->position, 0);
    loader_destroy(l);
}

static void test_permutation(void) {
    int a[COUNT], b[COUNT], c[COUNT];
    loader_permutation(COUNT, 5, 0, a);
    loader_permutation(COUNT, 5, 0, b);
    loader_permutation(COUNT, 5, 1, c);
    CHECK(memcmp(a, b, sizeof a) == 0);
    CHECK(memcmp(a, c, sizeof a) != 0);
    int seen[COUNT] = {0}, fixed = 0;
    for (int i = 0; i < COUNT; i++) {
        seen[a[i]]++;
        fixed += a[i] == i;
    }
    int once = 0;
    for (int i = 0; i < COUNT; i++) once += seen[i] == 1;
    CHECK_INT(once, COUNT);
    CHECK(fixed < 10);   /* a shuffle, not the identity (expected ~1) */
    /* Uniform over permutations: all 24 orders of 4 items about equally often across
     * epochs (expected 1000 each, standard deviation ~31). */
    int freq[256] = {0};
    for (int e = 0; e < 24000; e++) {
        int p[4];
        loader_permutation(4, 9, e, p);
        freq[p[0] * 64 + p[1] * 16 + p[2] * 4 + p[3]]++;
    }
    int orders = 0, skewed = 0;
    for (int k = 0; k < 256; k++)
        if (freq[k]) {
            orders++;
            skewed += freq[k] < 850 || freq[k] > 1150;
        }
    CHECK_INT(orders, 24);
    CHECK_INT(skewed, 0);
}

/* prefetch on and off hand out identical batches, and seeking to batch k of an epoch gives
 * what iterating to it gave. */
static void test_prefetch_and_seek(const Dataset *d) {
    LoaderOptions on = options(d, 1, 1), off = options(d, 1, 0);
    Loader *a, *b;
    CHECK_OK(loader_create(&on, &a));
    CHECK_OK(loader_create(&off, &b));
    long nb = loader_batches_per_epoch(a);
    static Copy saved[64];
    int n = (int)(2 * nb + 3), differ = 0;
    for (int k = 0; k < n; k++) {
        const Batch *ba, *bb;
        CHECK_OK(loader_next(a, &ba));
        CHECK_OK(loader_next(b, &bb));
        copy_batch(ba, &saved[k]);
        differ += !same_batch(&saved[k], bb);
    }
    CHECK_INT(differ, 0);
    /* Seek both (discarding a's prefetched batch) to several places, including the short
     * last batch and the next epoch. */
    const int targets[][2] = {{0, 3}, {1, 0}, {0, nb - 1}, {1, 5}, {2, 1}, {0, 0}};
    int bad = 0;
    for (size_t t = 0; t < sizeof targets / sizeof targets[0]; t++) {
        int e = targets[t][0];
        long k = targets[t][1];
        for (int m = 0; m < 2; m++) {
            Loader *l = m ? b : a;
            loader_seek(l, e, k);
            const Batch *x;
            CHECK_OK(loader_next(l, &x));
            bad += !same_batch(&saved[e * nb + k], x);
            CHECK_OK(loader_next(l, &x));   /* and the one after follows on */
            long k2 = k + 1 < nb ? e * nb + k + 1 : (e + 1) * nb;
            if (k2 < n) bad += !same_batch(&saved[k2], x);
        }
    }
    CHECK_INT(bad, 0);
    /* Seeking past the end of an epoch lands on the start of the next. */
    loader_seek(a, 0, nb);
    const Batch *x;
    CHECK_OK(loader_next(a, &x));
    CHECK(same_batch(&saved[nb], x));
    /* A different epoch gives different batches; the same position in a fresh loader with
     * the same seed gives the same. */
    CHECK(!same_batch(&saved[0], x));
    Loader *c;
    CHECK_OK(loader_create(&on, &c));
    CHECK_OK(loader_next(c, &x));
    CHECK(same_batch(&saved[0], x));
    loader_destroy(c);
    on.seed = 12;
    CHECK_OK(loader_create(&on, &c));
    CHECK_OK(loader_next(c, &x));
    CHECK(!same_batch(&saved[0], x));
    loader_destroy(c);
    for (int k = 0; k < n; k++) free(saved[k].images);
    loader_destroy(a);
    loader_destroy(b);
}

/* Changing augmentation or batch size mid-epoch applies from the next batch. */
static void test_setters(const Dataset *d) {
    for (int prefetch = 0; prefetch <= 1; prefetch++) {
        LoaderOptions o = options(d, 1, prefetch);
        Loader *l;
        CHECK_OK(loader_create(&o, &l));
        const Batch *b;
        CHECK_OK(loader_next(l, &b));
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->position, BS);
        /* The prefetched batch 2 was built with the old augmentation: it must be dropped. */
        o.augment.cutout_holes = 0;
        o.augment.pad_mode = PAD_ZEROS;
        o.augment.resize = 40;
        loader_set_augment(l, &o.augment);
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->position, 2 * BS);
        CHECK_INT(b->side, 40);
        CHECK_INT(b->records[0].holes, 0);
        CHECK(batch_matches_augment(b, d, &o));
        /* Batch size: the next batch starts where the last ended, with the new size. */
        loader_set_batch_size(l, 100);
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->position, 3 * BS);
        CHECK_INT(b->count, 100);
        CHECK(batch_matches_augment(b, d, &o));
        CHECK_INT(loader_batches_per_epoch(l), (COUNT + 99) / 100);
        loader_set_batch_size(l, 0);   /* ignored */
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->position, 3 * BS + 100);
        CHECK_INT(b->count, 100);
        /* The epoch ends with whatever is left. */
        long pos = b->position + b->count;
        while (pos + 100 < COUNT) {
            CHECK_OK(loader_next(l, &b));
            pos = b->position + b->count;
        }
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->count, COUNT - b->position);
        CHECK_INT(b->epoch, 0);
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->epoch, 1);
        CHECK_INT(b->position, 0);
        CHECK(batch_matches_augment(b, d, &o));
        loader_destroy(l);
    }
}

/* skip_pixels: the batch carries what a device needs to augment (indices, records, the
 * augmentation), equal to the host path's, and no pixels; the backend's augment op turns them
 * into the host path's pixels exactly. */
static void test_skip_pixels(const Dataset *d) {
    LoaderOptions host = options(d, 1, 1), dev = options(d, 1, 1);
    dev.skip_pixels = 1;
    Loader *lh, *ld;
    CHECK_OK(loader_create(&host, &lh));
    CHECK_OK(loader_create(&dev, &ld));
    Backend ref;
    CHECK_OK(backend_reference_create(&ref));
    Tensor pixels = {0}, out = {0};
    tensor_shape(&pixels, d->count, 3, DATASET_SIDE, DATASET_SIDE, DT_U8);
    CHECK_OK(ref.ops->tensor_alloc(ref.ctx, &pixels));
    CHECK_OK(ref.ops->upload(ref.ctx, &pixels, d->images));
    long per_epoch = loader_batches_per_epoch(lh);
    for (long i = 0; i < per_epoch + 2; i++) {   /* into the second epoch */
        const Batch *bh, *bd;
        CHECK_OK(loader_next(lh, &bh));
        CHECK_OK(loader_next(ld, &bd));
        CHECK(bd->images == NULL);
        CHECK(bd->count == bh->count && bd->epoch == bh->epoch && bd->position == bh->position);
        CHECK(memcmp(bd->indices, bh->indices, sizeof(int) * (size_t)bh->count) == 0);
        CHECK(memcmp(bd->labels, bh->labels, sizeof(int32_t) * (size_t)bh->count) == 0);
        CHECK(memcmp(bd->records, bh->records, sizeof(AugmentRecord) * (size_t)bh->count) == 0);
        CHECK(memcmp(&bd->augment, &dev.augment, sizeof dev.augment) == 0);
        tensor_shape(&out, bd->count, 3, bd->side, bd->side, DT_F32);
        CHECK_OK(ref.ops->tensor_alloc(ref.ctx, &out));
        CHECK_OK(ref.ops->augment(ref.ctx, &pixels, bd->indices, bd->records, bd->count,
                                  &bd->augment, dev.mean, dev.std, &out));
        CHECK(memcmp(out.data, bh->images, tensor_bytes(&out)) == 0);
    }
    int bad = d->count;   /* an index past the dataset is refused, not read */
    AugmentRecord rec;
    augment_identity(&dev.augment, &rec);
    tensor_shape(&out, 1, 3, 32, 32, DT_F32);
    CHECK_INT(ref.ops->augment(ref.ctx, &pixels, &bad, &rec, 1, &dev.augment, dev.mean, dev.std,
                               &out), ST_ERR_ARG);
    printf("bad index: %s\n", status_message());
    ref.ops->tensor_free(ref.ctx, &out);
    ref.ops->tensor_free(ref.ctx, &pixels);
    backend_destroy(&ref);
    loader_destroy(lh);
    loader_destroy(ld);
}

static void test_eval(const Dataset *d) {
    LoaderOptions o = options(d, 0, 1);
    o.augment.resize = 48;
    Loader *l;
    CHECK_OK(loader_create(&o, &l));
    long nb = loader_batches_per_epoch(l);
    int next = 0, bad = 0, content_bad = 0;
    for (long k = 0; k < nb; k++) {
        const Batch *b;
        CHECK_OK(loader_next(l, &b));
        CHECK_INT(b->side, 48);
        for (int i = 0; i < b->count; i++) {
            bad += b->indices[i] != next++;
            bad += b->records[i].flipped || b->records[i].holes || b->records[i].crop_x != 4;
        }
        content_bad += !batch_matches_augment(b, d, &o);
    }
    CHECK_INT(next, COUNT);
    CHECK_INT(bad, 0);
    CHECK_INT(content_bad, 0);
    /* Two passes are the same (evaluation ignores the epoch). */
    const Batch *b;
    CHECK_OK(loader_next(l, &b));
    CHECK_INT(b->epoch, 1);
    CHECK_INT(b->indices[5], 5);
    loader_destroy(l);
}

static void test_errors(const Dataset *d) {
    LoaderOptions o = options(d, 1, 1);
    Loader *l = (Loader *)&o;
    o.batch_size = 0;
    CHECK_INT(loader_create(&o, &l), ST_ERR_ARG);
    CHECK(l == NULL);
    o = options(d, 1, 1);
    o.std[1] = 0;
    CHECK_INT(loader_create(&o, &l), ST_ERR_ARG);
    Dataset empty;
    memset(&empty, 0, sizeof empty);
    o = options(&empty, 1, 1);
    CHECK_INT(loader_create(&o, &l), ST_ERR_ARG);
    CHECK_INT(loader_create(NULL, &l), ST_ERR_ARG);
    loader_destroy(NULL);
    CHECK_INT(loader_batches_per_epoch(NULL), 0);
    /* Destroy right after start, and with a prefetch in flight. */
    o = options(d, 1, 1);
    o.augment.resize = 224;
    CHECK_OK(loader_create(&o, &l));
    loader_destroy(l);
    CHECK_OK(loader_create(&o, &l));
    const Batch *b;
    CHECK_OK(loader_next(l, &b));
    CHECK_INT(b->side, 224);
    loader_destroy(l);
    /* A batch larger than the dataset is one short batch per epoch. */
    o = options(d, 1, 1);
    o.batch_size = 5000;
    CHECK_OK(loader_create(&o, &l));
    CHECK_INT(loader_batches_per_epoch(l), 1);
    CHECK_OK(loader_next(l, &b));
    CHECK_INT(b->count, COUNT);
    CHECK_OK(loader_next(l, &b));
    CHECK_INT(b->epoch, 1);
    loader_destroy(l);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void sleep_s(double s) {
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&t, &t) != 0) {}
}

/* Mean seconds loader_next takes in steady state when the caller spends `work` seconds per
 * step. */
static double mean_wait(const LoaderOptions *o, double work, int steps) {
    Loader *l;
    if (loader_create(o, &l) != ST_OK) return 1e9;
    const Batch *b;
    double waited = 0;
    /* Warm-up: the first build into each of the two buffers also faults its pages in. */
    for (int i = 0; i < 3; i++) {
        if (loader_next(l, &b) != ST_OK) waited = 1e9;
        sleep_s(work);
    }
    for (int i = 0; i < steps; i++) {
        double t0 = now();
        if (loader_next(l, &b) != ST_OK) waited = 1e9;
        waited += now() - t0;
        sleep_s(work);
    }
    loader_destroy(l);
    return waited / steps;
}

/* The prefetch thread really overlaps: while the caller "trains" for ten times the build time,
 * the next batch gets ready, so loader_next returns much faster than a build. The margin is wide
 * because the thread must get a core meanwhile: with twice the build time, a CI run beside
 * other builds once measured a wait of 0.48 ms for a 1.15 ms build. A failure is still
 * re-measured once before it counts. */
static void test_overlap(const Dataset *d) {
    LoaderOptions o = options(d, 1, 0);
    o.augment.resize = 160;   /* makes a build take milliseconds */
    double build = mean_wait(&o, 0, 4);
    o.prefetch = 1;
    double wait = mean_wait(&o, 10 * build, 6);
    if (!(wait < 0.4 * build)) wait = mean_wait(&o, 10 * build, 6);
    printf("batch build %.2f ms; loader_next with prefetch waits %.2f ms\n", build * 1e3, wait * 1e3);
    CHECK(wait < 0.4 * build);
}

int main(void) {
    Dataset d;
    CHECK_OK(dataset_make_shapes(COUNT, 3, 1, &d));
    test_permutation();
    test_epoch(&d, 0);
    test_epoch(&d, 1);
    test_prefetch_and_seek(&d);
    test_setters(&d);
    test_skip_pixels(&d);
    test_eval(&d);
    test_errors(&d);
    test_overlap(&d);
    dataset_free(&d);
    return check_report("test_loader");
}
