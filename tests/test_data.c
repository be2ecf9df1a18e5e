/* test_data.c — the dataset module: CIFAR-10/100 binary readers on files written here (labels,
 * pixels, coarse labels, counts from sizes, truncated and bad-label errors with offsets),
 * data-directory resolution and its error text, validation split and limits, the shapes
 * generator, and — when the shared copy of real CIFAR-10 is present — its counts and mean. */
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/dataset.h"
#include "check.h"

static char g_tmp[256];

static uint8_t pixel_of(int file, int rec, int byte) {
    return (uint8_t)((file * 131 + rec * 31 + byte * 7 + (byte >> 10) * 5) & 0xff);
}

/* Write `count` records: label bytes from `labels` (label_bytes per record), pixels from
 * pixel_of(file_id, record, byte); `extra` junk bytes at the end. */
static int write_records(const char *path, int label_bytes, int count, int file_id,
                         const uint8_t *labels, int extra) {
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    uint8_t px[3072];
    for (int r = 0; r < count; r++) {
        for (int b = 0; b < 3072; b++) px[b] = pixel_of(file_id, r, b);
        if (fwrite(labels + r * label_bytes, 1, (size_t)label_bytes, f) != (size_t)label_bytes ||
            fwrite(px, 1, sizeof px, f) != sizeof px) {
            fclose(f);
            return 0;
        }
    }
    for (int i = 0; i < extra; i++)
        if (fputc(0x55, f) == EOF) {
            fclose(f);
            return 0;
        }
    return fclose(f) == 0;
}

static void path_join(char *buf, size_t len, const char *a, const char *b) {
    int n = snprintf(buf, len, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "test_data: path too long: %s/%s\n", a, b);
        abort();
    }
}

static int make_dir(const char *p) { return mkdir(p, 0755) == 0; }

static const int C10_COUNTS[5] = {7, 5, 3, 4, 6};   /* 25 training images */
#define C10_TEST 9

static uint8_t c10_label(int file, int rec) { return (uint8_t)((file * 3 + rec * 7) % 10); }

/* A CIFAR-10 directory with five small training files and a test file. */
static int write_cifar10(const char *dir) {
    char p[512];
    uint8_t lab[64];
    for (int f = 0; f < 5; f++) {
        for (int r = 0; r < C10_COUNTS[f]; r++) lab[r] = c10_label(f, r);
        char name[32];
        snprintf(name, sizeof name, "data_batch_%d.bin", f + 1);
        path_join(p, sizeof p, dir, name);
        if (!write_records(p, 1, C10_COUNTS[f], f, lab, 0)) return 0;
    }
    for (int r = 0; r < C10_TEST; r++) lab[r] = c10_label(5, r);
    path_join(p, sizeof p, dir, "test_batch.bin");
    return write_records(p, 1, C10_TEST, 5, lab, 0);
}

#define C100_TRAIN 30
#define C100_TEST 11

static int write_cifar100(const char *dir) {
    char p[512];
    uint8_t lab[2 * 64];
    for (int r = 0; r < C100_TRAIN; r++) {
        lab[2 * r] = (uint8_t)(r % 20);
        lab[2 * r + 1] = (uint8_t)((r * 37) % 100);
    }
    path_join(p, sizeof p, dir, "train.bin");
    if (!write_records(p, 2, C100_TRAIN, 0, lab, 0)) return 0;
    for (int r = 0; r < C100_TEST; r++) {
        lab[2 * r] = (uint8_t)((r + 5) % 20);
        lab[2 * r + 1] = (uint8_t)(99 - r);
    }
    path_join(p, sizeof p, dir, "test.bin");
    return write_records(p, 2, C100_TEST, 1, lab, 0);
}

static int contains(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

#define CHECK_MSG(sub) do { if (contains(status_message(), (sub))) check_passed_++; else { \
    check_failed_++; fprintf(stderr, "%s:%d: message lacks \"%s\": %s\n", __FILE__, __LINE__, \
                             (sub), status_message()); } } while (0)

static void test_cifar10(const char *dir) {
    Dataset d;
    CHECK_OK(dataset_load_cifar10(dir, 1, &d));
    CHECK_INT(d.count, 25);
    CHECK_INT(d.num_classes, 10);
    CHECK(d.coarse_labels == NULL);
    CHECK_INT(d.num_coarse, 0);
    CHECK(d.class_names == CIFAR10_CLASSES);
    CHECK(contains(d.description, "CIFAR-10 train") && contains(d.description, "25 images"));
    int bad_label = 0, bad_px = 0, bad_src = 0, k = 0;
    for (int f = 0; f < 5; f++)
        for (int r = 0; r < C10_COUNTS[f]; r++, k++) {
            bad_label += d.labels[k] != c10_label(f, r);
            bad_src += d.source_index[k] != k;
            for (int b = 0; b < 3072; b++) bad_px += d.images[(size_t)k * 3072 + b] != pixel_of(f, r, b);
        }
    CHECK_INT(bad_label, 0);
    CHECK_INT(bad_px, 0);
    CHECK_INT(bad_src, 0);
    dataset_free(&d);
    dataset_free(&d);   /* free is idempotent and accepts NULL */
    dataset_free(NULL);

    CHECK_OK(dataset_load_cifar10(dir, 0, &d));
    CHECK_INT(d.count, C10_TEST);
    CHECK_INT(d.labels[4], c10_label(5, 4));
    CHECK_INT(d.images[8 * 3072 + 3071], pixel_of(5, 8, 3071));
    CHECK(strcmp(d.class_names[d.labels[0]], CIFAR10_CLASSES[c10_label(5, 0)]) == 0);
    dataset_free(&d);
}

static void test_cifar100(const char *dir) {
    Dataset d;
    CHECK_OK(dataset_load_cifar100(dir, 1, &d));
    CHECK_INT(d.count, C100_TRAIN);
    CHECK_INT(d.num_classes, 100);
    CHECK_INT(d.num_coarse, 20);
    CHECK(d.coarse_labels != NULL);
    CHECK(d.class_names == CIFAR100_CLASSES && d.coarse_names == CIFAR100_COARSE);
    int bad = 0;
    for (int r = 0; r < d.count; r++) {
        bad += d.coarse_labels[r] != r % 20;
        bad += d.labels[r] != (r * 37) % 100;
        bad += d.images[(size_t)r * 3072 + 1000] != pixel_of(0, r, 1000);
    }
    CHECK_INT(bad, 0);
    dataset_free(&d);
    CHECK_OK(dataset_load_cifar100(dir, 0, &d));
    CHECK_INT(d.count, C100_TEST);
    CHECK_INT(d.labels[10], 89);
    CHECK_INT(d.coarse_labels[10], 15);
    CHECK(strcmp(d.class_names[99], "worm") == 0 && strcmp(d.coarse_names[19], "vehicles_2") == 0);
    dataset_free(&d);
}

static void test_bad_files(void) {
    char dir[512], p[512], want[640];
    uint8_t lab[16] = {0};
    Dataset d;

    /* Truncated: 4 records plus 1234 bytes. */
    path_join(dir, sizeof dir, g_tmp, "trunc");
    CHECK(make_dir(dir));
    CHECK(write_cifar10(dir));
    path_join(p, sizeof p, dir, "data_batch_3.bin");
    CHECK(write_records(p, 1, 4, 2, lab, 1234));
    CHECK_INT(dataset_load_cifar10(dir, 1, &d), ST_ERR_FORMAT);
    CHECK(d.images == NULL && d.count == 0);
    snprintf(want, sizeof want, "%s: truncated or not a CIFAR-10 batch file: %d bytes is not a "
             "multiple of 3073 (last record starts at offset %d)", p, 4 * 3073 + 1234, 4 * 3073);
    CHECK_MSG(want);

    /* A CIFAR-100 file read as CIFAR-10 fails the size check (3074-byte records) or the label
     * check; here a label of 10 at record 2 of a CIFAR-10 file. */
    path_join(dir, sizeof dir, g_tmp, "badlabel");
    CHECK(make_dir(dir));
    CHECK(write_cifar10(dir));
    lab[2] = 10;
    path_join(p, sizeof p, dir, "test_batch.bin");
    CHECK(write_records(p, 1, 5, 0, lab, 0));
    CHECK_INT(dataset_load_cifar10(dir, 0, &d), ST_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: label 10 at offset %d (record 2)", p, 2 * 3073);
    CHECK_MSG(want);

    /* CIFAR-100: coarse label 20 at record 1; fine label 100 at record 3. */
    uint8_t lab2[16] = {0};
    lab2[2] = 20;
    path_join(p, sizeof p, dir, "train.bin");
    CHECK(write_records(p, 2, 4, 0, lab2, 0));
    CHECK_INT(dataset_load_cifar100(dir, 1, &d), ST_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: coarse label 20 at offset %d (record 1)", p, 3074);
    CHECK_MSG(want);
    lab2[2] = 0;
    lab2[7] = 100;
    CHECK(write_records(p, 2, 4, 0, lab2, 0));
    CHECK_INT(dataset_load_cifar100(dir, 1, &d), ST_ERR_FORMAT);
    snprintf(want, sizeof want, "%s: label 100 at offset %d (record 3)", p, 3 * 3074 + 1);
    CHECK_MSG(want);
    /* Wrong record size for CIFAR-100: 3 CIFAR-10 records = 9219 bytes, 9219 % 3074 != 0. */
    CHECK(write_records(p, 1, 3, 0, lab, 0));
    CHECK_INT(dataset_load_cifar100(dir, 1, &d), ST_ERR_FORMAT);
    CHECK_MSG("not a multiple of 3074 (last record starts at offset 6148)");

    /* Empty file. */
    CHECK(write_records(p, 2, 0, 0, lab2, 0));
    CHECK_INT(dataset_load_cifar100(dir, 1, &d), ST_ERR_FORMAT);
    CHECK_MSG("empty file");

    /* A missing training file names itself. */
    path_join(p, sizeof p, dir, "data_batch_4.bin");
    CHECK(unlink(p) == 0);
    CHECK_INT(dataset_load_cifar10(dir, 1, &d), ST_ERR_IO);
    CHECK_MSG(p);
    CHECK_MSG("scripts/fetch-cifar.sh");
    CHECK_INT(dataset_load_cifar10(NULL, 1, &d), ST_ERR_ARG);
}

static void base_config(Config *c, DatasetKind kind, const char *root) {
    memset(c, 0, sizeof *c);
    c->data.dataset = kind;
    snprintf(c->data.root, sizeof c->data.root, "%s", root);
    c->train.seed = 1;
    c->data.shapes_train = 1000;
    c->data.shapes_test = 200;
}

static void test_resolution(void) {
    char root[512], sub[512], p[512], want[1024];
    Config c;
    DataSplits s;

    /* data.root naming the parent of cifar-10-batches-bin, or the directory itself. */
    path_join(root, sizeof root, g_tmp, "rootA");
    CHECK(make_dir(root));
    path_join(sub, sizeof sub, root, "cifar-10-batches-bin");
    CHECK(make_dir(sub));
    CHECK(write_cifar10(sub));
    base_config(&c, DATASET_CIFAR10, root);
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK_INT(s.train.count, 25);
    CHECK_INT(s.val.count, 0);
    CHECK_INT(s.test.count, C10_TEST);
    CHECK(contains(s.train.description, sub));
    data_splits_free(&s);
    data_splits_free(&s);
    data_splits_free(NULL);
    base_config(&c, DATASET_CIFAR10, sub);
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK_INT(s.train.count, 25);
    data_splits_free(&s);

    /* An explicit root that does not hold the data: an error naming it, nothing else. */
    path_join(p, sizeof p, g_tmp, "nowhere");
    base_config(&c, DATASET_CIFAR100, p);
    CHECK_INT(dataset_load_splits(&c, &s), ST_ERR_IO);
    snprintf(want, sizeof want, "no CIFAR-100 data: looked in %s/cifar-100-binary", p);
    CHECK_MSG(want);
    CHECK_MSG("scripts/fetch-cifar.sh");
    CHECK(s.train.images == NULL);

    /* The search order without data.root, from a working directory whose ./data and
     * ../shared/data are under our temp dir. */
    char cwd[1024];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    char work[512], env[512];
    path_join(work, sizeof work, g_tmp, "work");
    CHECK(make_dir(work));
    CHECK(chdir(work) == 0);
    path_join(env, sizeof env, g_tmp, "envdir");
    CHECK(setenv("SHORTCUT_DATA", env, 1) == 0);
    base_config(&c, DATASET_CIFAR10, "");
    CHECK_INT(dataset_load_splits(&c, &s), ST_ERR_IO);
    snprintf(want, sizeof want, "no CIFAR-10 data: looked in %s/cifar-10-batches-bin, "
             "./data/cifar-10-batches-bin, ../shared/data/cifar-10-batches-bin. Run "
             "scripts/fetch-cifar.sh, or set data.root / $SHORTCUT_DATA", env);
    CHECK_MSG(want);

    /* ../shared/data is found last ... */
    CHECK(make_dir("../shared") && make_dir("../shared/data") &&
          make_dir("../shared/data/cifar-10-batches-bin"));
    CHECK(write_cifar10("../shared/data/cifar-10-batches-bin"));
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK(contains(s.train.description, "../shared/data/cifar-10-batches-bin"));
    data_splits_free(&s);
    /* ... ./data before it ... */
    CHECK(make_dir("data") && make_dir("data/cifar-10-batches-bin"));
    CHECK(write_cifar10("data/cifar-10-batches-bin"));
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK(contains(s.train.description, "./data/cifar-10-batches-bin"));
    data_splits_free(&s);
    /* ... and $SHORTCUT_DATA first. */
    path_join(p, sizeof p, env, "cifar-100-binary");
    CHECK(make_dir(env) && make_dir(p));
    CHECK(write_cifar100(p));
    path_join(p, sizeof p, env, "cifar-10-batches-bin");
    CHECK(make_dir(p));
    CHECK(write_cifar10(p));
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK(contains(s.train.description, p));
    data_splits_free(&s);
    c.data.dataset = DATASET_CIFAR100;
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK_INT(s.train.count, C100_TRAIN);
    CHECK_INT(s.test.count, C100_TEST);
    CHECK(s.train.coarse_labels != NULL && s.test.coarse_labels != NULL);
    data_splits_free(&s);
    CHECK(unsetenv("SHORTCUT_DATA") == 0);
    CHECK(chdir(cwd) == 0);
}

static int sorted_unique(const int *v, int n) {
    for (int i = 1; i < n; i++)
        if (v[i] <= v[i - 1]) return 0;
    return 1;
}

static void test_splits(void) {
    Config c;
    base_config(&c, DATASET_SHAPES, "");
    c.data.val_fraction = 0.1f;
    DataSplits s, s2;
    Dataset all;
    CHECK_OK(dataset_make_shapes(1000, 1, 1, &all));
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK_INT(s.train.count, 900);
    CHECK_INT(s.val.count, 100);
    CHECK_INT(s.test.count, 200);
    CHECK(s.train.class_names == SHAPES_CLASSES && s.val.class_names == SHAPES_CLASSES);
    CHECK(contains(s.val.description, "shapes val") && contains(s.val.description, "100 images"));
    /* Disjoint, covering, in file order, and every image and label is its source's. */
    CHECK(sorted_unique(s.train.source_index, s.train.count));
    CHECK(sorted_unique(s.val.source_index, s.val.count));
    uint8_t *seen = calloc(1000, 1);
    int bad = 0;
    for (int i = 0; i < s.train.count; i++) seen[s.train.source_index[i]]++;
    for (int i = 0; i < s.val.count; i++) seen[s.val.source_index[i]]++;
    for (int i = 0; i < 1000; i++) bad += seen[i] != 1;
    CHECK_INT(bad, 0);
    bad = 0;
    for (int i = 0; i < s.val.count; i++) {
        int k = s.val.source_index[i];
        bad += s.val.labels[i] != all.labels[k];
        bad += memcmp(s.val.images + (size_t)i * 3072, all.images + (size_t)k * 3072, 3072) != 0;
    }
    CHECK_INT(bad, 0);
    /* Same seed: same split; another seed: another split. */
    CHECK_OK(dataset_load_splits(&c, &s2));
    CHECK(memcmp(s.val.source_index, s2.val.source_index, 100 * sizeof(int)) == 0);
    data_splits_free(&s2);
    c.train.seed = 2;
    CHECK_OK(dataset_load_splits(&c, &s2));
    CHECK(memcmp(s.val.source_index, s2.val.source_index, 100 * sizeof(int)) != 0);
    data_splits_free(&s2);
    c.train.seed = 1;

    /* Limits take the first N after the split. */
    c.data.limit_train = 50;
    c.data.limit_test = 30;
    CHECK_OK(dataset_load_splits(&c, &s2));
    CHECK_INT(s2.train.count, 50);
    CHECK_INT(s2.val.count, 100);
    CHECK_INT(s2.test.count, 30);
    CHECK(memcmp(s2.train.source_index, s.train.source_index, 50 * sizeof(int)) == 0);
    CHECK(memcmp(s2.train.images, s.train.images, 50 * 3072) == 0);
    CHECK(memcmp(s2.test.labels, s.test.labels, 30) == 0);
    CHECK(contains(s2.train.description, "50 images"));
    data_splits_free(&s2);
    /* A limit above the count is no limit. */
    c.data.limit_train = 5000;
    CHECK_OK(dataset_load_splits(&c, &s2));
    CHECK_INT(s2.train.count, 900);
    data_splits_free(&s2);

    c.data.limit_train = 0;
    c.data.val_fraction = 1.0f;
    CHECK_INT(dataset_load_splits(&c, &s2), ST_ERR_CONFIG);
    CHECK_MSG("data.val_fraction");
    c.data.val_fraction = -0.1f;
    CHECK_INT(dataset_load_splits(&c, &s2), ST_ERR_CONFIG);
    c.data.val_fraction = 0.9999f;
    CHECK_INT(dataset_load_splits(&c, &s2), ST_ERR_CONFIG);
    CHECK_MSG("leaves no training images");
    free(seen);
    dataset_free(&all);
    data_splits_free(&s);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_shapes(void) {
    Dataset a, b, t, small;
    double t0 = now();
    CHECK_OK(dataset_make_shapes(5000, 7, 1, &a));
    double dt = now() - t0;
    printf("shapes: 5000 images in %.3f s\n", dt);
    CHECK(dt < 5.0);   /* ~0.15 s optimized; generous for sanitizer builds */
    CHECK_OK(dataset_make_shapes(5000, 7, 1, &b));
    CHECK(memcmp(a.images, b.images, 5000 * 3072) == 0);
    CHECK(memcmp(a.labels, b.labels, 5000) == 0);
    /* Image i depends on (seed, split, i) only: a shorter set is a prefix. */
    CHECK_OK(dataset_make_shapes(100, 7, 1, &small));
    CHECK(memcmp(a.images, small.images, 100 * 3072) == 0);
    dataset_free(&small);
    CHECK_OK(dataset_make_shapes(100, 8, 1, &small));
    int same = 0;
    for (int i = 0; i < 100; i++)
        same += memcmp(a.images + (size_t)i * 3072, small.images + (size_t)i * 3072, 3072) == 0;
    CHECK_INT(same, 0);
    dataset_free(&small);
    CHECK_OK(dataset_make_shapes(100, 7, 0, &t));
    same = 0;
    for (int i = 0; i < 100; i++)
        same += memcmp(a.images + (size_t)i * 3072, t.images + (size_t)i * 3072, 3072) == 0;
    CHECK_INT(same, 0);
    CHECK(contains(t.description, "shapes test"));
    dataset_free(&t);

    /* Balanced classes, valid labels, names. */
    int per[10] = {0}, bad = 0;
    for (int i = 0; i < a.count; i++) {
        if (a.labels[i] < 10) per[a.labels[i]]++;
        else bad++;
    }
    CHECK_INT(bad, 0);
    for (int k = 0; k < 10; k++) CHECK_INT(per[k], 500);
    CHECK_INT(a.num_classes, 10);
    CHECK(a.class_names == SHAPES_CLASSES && strcmp(SHAPES_CLASSES[9], "star") == 0);

    /* Not trivial: images vary within a class (colour, position, noise), the mean brightness
     * does not give the class away, and no image is flat. */
    double mean[10] = {0};
    int flat = 0;
    for (int i = 0; i < a.count; i++) {
        const uint8_t *im = a.images + (size_t)i * 3072;
        int lo = 255, hi = 0;
        long s = 0;
        for (int j = 0; j < 3072; j++) {
            if (im[j] < lo) lo = im[j];
            if (im[j] > hi) hi = im[j];
            s += im[j];
        }
        flat += hi - lo < 30;
        mean[a.labels[i]] += (double)s / 3072.0 / 500.0;
    }
    CHECK_INT(flat, 0);
    for (int k = 0; k < 10; k++) CHECK(mean[k] > 90 && mean[k] < 165);
    int dup = 0;
    for (int i = 10; i < 200; i++) dup += memcmp(a.images, a.images + (size_t)i * 3072, 3072) == 0;
    CHECK_INT(dup, 0);

    Dataset e;
    CHECK_OK(dataset_make_shapes(0, 1, 1, &e));
    CHECK_INT(e.count, 0);
    dataset_free(&e);
    CHECK_INT(dataset_make_shapes(-1, 1, 1, &e), ST_ERR_ARG);
    dataset_free(&a);
    dataset_free(&b);
}

/* The shared real CIFAR-10, if present: counts and the known per-channel mean. */
static void test_real_cifar10(void) {
    const char *roots[] = {"/work/shared/data", "../shared/data"};
    const char *root = NULL;
    char dir[512], p[512];
    for (int i = 0; i < 2 && !root; i++) {
        path_join(dir, sizeof dir, roots[i], "cifar-10-batches-bin");
        path_join(p, sizeof p, dir, "data_batch_1.bin");
        if (access(p, R_OK) == 0) root = roots[i];
    }
    if (!root) {
        printf("note: no real CIFAR-10 at /work/shared/data or ../shared/data; real-data checks "
               "skipped\n");
        return;
    }
    Dataset d;
    CHECK_OK(dataset_load_cifar10(dir, 1, &d));
    CHECK_INT(d.count, 50000);
    double sum[3] = {0, 0, 0};
    int per[10] = {0};
    for (int i = 0; i < d.count; i++) {
        const uint8_t *im = d.images + (size_t)i * 3072;
        for (int c = 0; c < 3; c++) {
            long s = 0;
            for (int j = 0; j < 1024; j++) s += im[c * 1024 + j];
            sum[c] += (double)s;
        }
        per[d.labels[i]]++;
    }
    const double want[3] = {0.49139968, 0.48215841, 0.44653091};
    for (int c = 0; c < 3; c++) CHECK_NEAR(sum[c] / 255.0 / (50000.0 * 1024.0), want[c], 1e-7, 0);
    for (int k = 0; k < 10; k++) CHECK_INT(per[k], 5000);
    dataset_free(&d);

    struct stat st;
    path_join(p, sizeof p, dir, "test_batch.bin");
    CHECK(stat(p, &st) == 0);
    CHECK_OK(dataset_load_cifar10(dir, 0, &d));
    CHECK_INT(d.count, (long long)st.st_size / 3073);
    dataset_free(&d);

    Config c;
    base_config(&c, DATASET_CIFAR10, root);
    c.data.val_fraction = 0.1f;
    c.data.limit_test = 500;
    DataSplits s;
    CHECK_OK(dataset_load_splits(&c, &s));
    CHECK_INT(s.train.count, 45000);
    CHECK_INT(s.val.count, 5000);
    CHECK_INT(s.test.count, (long long)st.st_size / 3073 < 500 ? (long long)st.st_size / 3073 : 500);
    printf("real data: %s; %s; %s\n", s.train.description, s.val.description, s.test.description);
    data_splits_free(&s);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

int main(void) {
    const char *base = getenv("TMPDIR");
    snprintf(g_tmp, sizeof g_tmp, "%s/test_data_XXXXXX", base && base[0] ? base : "/tmp");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char c10[512], c100[512];
    path_join(c10, sizeof c10, g_tmp, "c10");
    path_join(c100, sizeof c100, g_tmp, "c100");
    CHECK(make_dir(c10) && write_cifar10(c10));
    CHECK(make_dir(c100) && write_cifar100(c100));

    test_cifar10(c10);
    test_cifar100(c100);
    test_bad_files();
    test_resolution();
    test_splits();
    test_shapes();
    test_real_cifar10();

    if (nftw(g_tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "note: could not remove %s\n", g_tmp);
    return check_report("test_data");
}
