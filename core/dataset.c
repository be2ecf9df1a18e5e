/* dataset.c — CIFAR-10 / CIFAR-100 binary readers, the data-directory search, validation
 * split and limits, and the class-name tables.
 *
 * Invariants: every Dataset owns its arrays (a split or a limit copies), record counts come from
 * file sizes and are never assumed, and every label is range-checked on load so nothing
 * downstream has to. source_index always refers to the order of the original files (train:
 * data_batch_1..5 concatenated), so the viewer can name an image whatever subset it ended in. */
#include "dataset.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "rng.h"

const char *const CIFAR10_CLASSES[10] = {
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

const char *const CIFAR100_CLASSES[100] = {
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
};

const char *const CIFAR100_COARSE[20] = {
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
};

/* The last member of each table must be non-NULL: a missing initializer would leave it NULL
 * and crash a printf much later. Checked at compile time through the initializer count. */
_Static_assert(sizeof CIFAR100_CLASSES / sizeof CIFAR100_CLASSES[0] == 100, "CIFAR-100 names");
_Static_assert(sizeof CIFAR100_COARSE / sizeof CIFAR100_COARSE[0] == 20, "CIFAR-100 coarse");

#define CIFAR10_DIR "cifar-10-batches-bin"
#define CIFAR100_DIR "cifar-100-binary"
#define CIFAR10_TRAIN_FILES 5

void dataset_free(Dataset *d) {
    if (!d) return;
    free(d->images);
    free(d->labels);
    free(d->coarse_labels);
    free(d->source_index);
    memset(d, 0, sizeof *d);
}

void data_splits_free(DataSplits *s) {
    if (!s) return;
    dataset_free(&s->train);
    dataset_free(&s->val);
    dataset_free(&s->test);
}

/* "CIFAR-10 train (/path, 45000 images)"; a long path is cut, which only shortens a label. */
static void describe(Dataset *d, const char *name, const char *split, const char *where) {
    int n = snprintf(d->description, sizeof d->description, "%s %s (%s, %d images)", name, split,
                     where, d->count);
    (void)n;
}

/* Allocate the arrays of a dataset of `count` images (count may be 0: the arrays are then
 * non-NULL 1-byte blocks so callers never special-case an empty set). */
static Status dataset_alloc(Dataset *d, int count, int with_coarse) {
    size_t n = count > 0 ? (size_t)count : 1;
    d->count = count;
    d->images = malloc(n * DATASET_PIXELS);
    d->labels = malloc(n);
    d->source_index = malloc(n * sizeof *d->source_index);
    d->coarse_labels = with_coarse ? malloc(n) : NULL;
    if (!d->images || !d->labels || !d->source_index || (with_coarse && !d->coarse_labels)) {
        dataset_free(d);
        return status_fail(ST_ERR_OOM, "dataset: cannot allocate %d images (%zu MB)", count,
                           n * DATASET_PIXELS >> 20);
    }
    return ST_OK;
}

/* ---- binary readers ---- */

typedef struct CifarFormat {
    const char *name;      /* "CIFAR-10" */
    int label_bytes;       /* 1, or 2 for CIFAR-100 (coarse, fine) */
    int num_classes;
    int num_coarse;
} CifarFormat;

static const CifarFormat FORMAT_C10 = {"CIFAR-10", 1, 10, 0};
static const CifarFormat FORMAT_C100 = {"CIFAR-100", 2, 100, 20};

/* Size in bytes of a regular file, or an error naming it. */
static Status file_size(const char *path, long long *size) {
    struct stat st;
    if (stat(path, &st) != 0)
        return status_fail(ST_ERR_IO, "%s: cannot open: %s (run scripts/fetch-cifar.sh, or set "
                           "data.root / $SHORTCUT_DATA)", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return status_fail(ST_ERR_IO, "%s: not a regular file", path);
    *size = (long long)st.st_size;
    return ST_OK;
}

/* Number of records in `path`, checking that the size is a whole number of records. */
static Status cifar_count(const char *path, const CifarFormat *f, int *count) {
    long long size = 0;
    TRY(file_size(path, &size));
    long long rec = f->label_bytes + DATASET_PIXELS;
    if (size == 0)
        return status_fail(ST_ERR_FORMAT, "%s: empty file: not a %s batch file (run "
                           "scripts/fetch-cifar.sh again)", path, f->name);
    if (size % rec != 0)
        return status_fail(ST_ERR_FORMAT, "%s: truncated or not a %s batch file: %lld bytes is "
                           "not a multiple of %lld (last record starts at offset %lld)", path,
                           f->name, size, rec, size / rec * rec);
    if (size / rec > 0x7fffffffLL / 2)
        return status_fail(ST_ERR_FORMAT, "%s: %lld records is more than a %s file can hold",
                           path, size / rec, f->name);
    *count = (int)(size / rec);
    return ST_OK;
}

/* Read `count` records of `path` into d at image `at`; source indices continue from `at`. */
static Status cifar_read(const char *path, const CifarFormat *f, Dataset *d, int at, int count) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return status_fail(ST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t rec = (size_t)f->label_bytes + DATASET_PIXELS;
    /* Read in chunks of records: one fread per record is slow and one per file needs a
     * second 150 MB buffer. */
    enum { CHUNK = 1024 };
    uint8_t *buf = malloc(CHUNK * rec);
    if (!buf) {
        fclose(fp);
        return status_fail(ST_ERR_OOM, "%s: cannot allocate a read buffer", path);
    }
    Status st = ST_OK;
    for (int done = 0; done < count && st == ST_OK;) {
        int n = count - done < CHUNK ? count - done : CHUNK;
        size_t got = fread(buf, rec, (size_t)n, fp);
        if (got != (size_t)n) {
            st = status_fail(ferror(fp) ? ST_ERR_IO : ST_ERR_FORMAT,
                             "%s: short read at offset %zu: %s", path,
                             (size_t)(done + (int)got) * rec,
                             ferror(fp) ? strerror(errno) : "file shrank while reading");
            break;
        }
        for (int i = 0; i < n; i++) {
            const uint8_t *r = buf + (size_t)i * rec;
            int k = at + done + i;
            int fine = r[f->label_bytes - 1];
            if (fine >= f->num_classes) {
                st = status_fail(ST_ERR_FORMAT, "%s: label %d at offset %zu (record %d) is out "
                                 "of range 0..%d: not a %s file?", path, fine,
                                 (size_t)(done + i) * rec + (size_t)(f->label_bytes - 1),
                                 done + i, f->num_classes - 1, f->name);
                break;
            }
            if (f->num_coarse) {
                if (r[0] >= f->num_coarse) {
                    st = status_fail(ST_ERR_FORMAT, "%s: coarse label %d at offset %zu (record "
                                     "%d) is out of range 0..%d: not a %s file?", path, r[0],
                                     (size_t)(done + i) * rec, done + i, f->num_coarse - 1,
                                     f->name);
                    break;
                }
                d->coarse_labels[k] = r[0];
            }
            d->labels[k] = (uint8_t)fine;
            d->source_index[k] = k;
            memcpy(d->images + (size_t)k * DATASET_PIXELS, r + f->label_bytes, DATASET_PIXELS);
        }
        done += n;
    }
    free(buf);
    if (fclose(fp) != 0 && st == ST_OK)
        st = status_fail(ST_ERR_IO, "%s: close failed: %s", path, strerror(errno));
    return st;
}

static Status join_path(char *buf, size_t len, const char *dir, const char *name) {
    int n = snprintf(buf, len, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= len)
        return status_fail(ST_ERR_ARG, "%s/%s: path too long", dir, name);
    return ST_OK;
}

/* Load the given files of one format, concatenated, into `out`. */
static Status cifar_load_files(const char *dir, const char *const *names, int nfiles,
                               const CifarFormat *f, const char *split, Dataset *out) {
    memset(out, 0, sizeof *out);
    char paths[CIFAR10_TRAIN_FILES][CONFIG_PATH_LEN + 32];
    int counts[CIFAR10_TRAIN_FILES];
    long long total = 0;
    for (int i = 0; i < nfiles; i++) {
        TRY(join_path(paths[i], sizeof paths[i], dir, names[i]));
        TRY(cifar_count(paths[i], f, &counts[i]));
        total += counts[i];
    }
    if (total > 0x7fffffffLL / 2)
        return status_fail(ST_ERR_FORMAT, "%s: %lld images is too many", dir, total);
    TRY(dataset_alloc(out, (int)total, f->num_coarse > 0));
    out->num_classes = f->num_classes;
    out->num_coarse = f->num_coarse;
    out->class_names = f->num_classes == 10 ? CIFAR10_CLASSES : CIFAR100_CLASSES;
    out->coarse_names = f->num_coarse ? CIFAR100_COARSE : NULL;
    int at = 0;
    for (int i = 0; i < nfiles; i++) {
        Status st = cifar_read(paths[i], f, out, at, counts[i]);
        if (st != ST_OK) {
            dataset_free(out);
            return st;
        }
        at += counts[i];
    }
    describe(out, f->name, split, dir);
    return ST_OK;
}

Status dataset_load_cifar10(const char *dir, int train, Dataset *out) {
    static const char *const train_files[CIFAR10_TRAIN_FILES] = {
        "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
        "data_batch_5.bin",
    };
    static const char *const test_files[1] = {"test_batch.bin"};
    if (!dir || !out) return status_fail(ST_ERR_ARG, "dataset_load_cifar10: NULL argument");
    return cifar_load_files(dir, train ? train_files : test_files, train ? CIFAR10_TRAIN_FILES : 1,
                            &FORMAT_C10, train ? "train" : "test", out);
}

Status dataset_load_cifar100(const char *dir, int train, Dataset *out) {
    static const char *const train_files[1] = {"train.bin"};
    static const char *const test_files[1] = {"test.bin"};
    if (!dir || !out) return status_fail(ST_ERR_ARG, "dataset_load_cifar100: NULL argument");
    return cifar_load_files(dir, train ? train_files : test_files, 1, &FORMAT_C100,
                            train ? "train" : "test", out);
}

/* ---- subsets ---- */

/* out = the images src[idx[0..n)] in that order, owning copies (description left to the
 * caller). */
static Status dataset_subset(const Dataset *src, const int *idx, int n, Dataset *out) {
    memset(out, 0, sizeof *out);
    TRY(dataset_alloc(out, n, src->coarse_labels != NULL));
    for (int i = 0; i < n; i++) {
        int k = idx[i];
        memcpy(out->images + (size_t)i * DATASET_PIXELS, src->images + (size_t)k * DATASET_PIXELS,
               DATASET_PIXELS);
        out->labels[i] = src->labels[k];
        out->source_index[i] = src->source_index[k];
        if (out->coarse_labels) out->coarse_labels[i] = src->coarse_labels[k];
    }
    out->num_classes = src->num_classes;
    out->num_coarse = src->num_coarse;
    out->class_names = src->class_names;
    out->coarse_names = src->coarse_names;
    return ST_OK;
}

/* Replace *d by its first `limit` images (limit <= 0 or >= count: unchanged). */
static Status dataset_limit(Dataset *d, int limit) {
    if (limit <= 0 || limit >= d->count) return ST_OK;
    int *idx = malloc((size_t)limit * sizeof *idx);
    if (!idx) return status_fail(ST_ERR_OOM, "dataset: cannot allocate %d indices", limit);
    for (int i = 0; i < limit; i++) idx[i] = i;
    Dataset small;
    Status st = dataset_subset(d, idx, limit, &small);
    free(idx);
    if (st != ST_OK) return st;
    dataset_free(d);
    *d = small;
    return ST_OK;
}

/* Move a seeded random `n_val` of `all` into val, the rest into train; both keep file order.
 * The held-out set depends only on (seed, count, n_val), so it is the same whatever the limits
 * or the augmentation. */
static Status dataset_split(Dataset *all, int n_val, unsigned long long seed, Dataset *train,
                            Dataset *val) {
    int n = all->count;
    int *perm = malloc((size_t)(n > 0 ? n : 1) * sizeof *perm);
    uint8_t *held = calloc((size_t)(n > 0 ? n : 1), 1);
    int *tr = malloc((size_t)(n > 0 ? n : 1) * sizeof *tr);
    int *va = malloc((size_t)(n_val > 0 ? n_val : 1) * sizeof *va);
    Status st = ST_OK;
    if (!perm || !held || !tr || !va) {
        st = status_fail(ST_ERR_OOM, "dataset: cannot allocate the validation split");
        goto done;
    }
    /* Partial Fisher-Yates: the first n_val entries are a uniform random subset. */
    for (int i = 0; i < n; i++) perm[i] = i;
    for (int i = 0; i < n_val; i++) {
        int j = i + (int)rng_below(seed, RNG_STREAM_SPLIT, (uint64_t)i, (uint32_t)(n - i));
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
    for (int i = 0; i < n_val; i++) held[perm[i]] = 1;
    int nt = 0, nv = 0;
    for (int i = 0; i < n; i++) {
        if (held[i]) va[nv++] = i;
        else tr[nt++] = i;
    }
    st = dataset_subset(all, tr, nt, train);
    if (st == ST_OK) {
        st = dataset_subset(all, va, nv, val);
        if (st != ST_OK) dataset_free(train);
    }
done:
    free(perm);
    free(held);
    free(tr);
    free(va);
    return st;
}

/* ---- data directory ---- */

static Status copy_path(char *dst, size_t len, const char *src) {
    int n = snprintf(dst, len, "%s", src);
    if (n < 0 || (size_t)n >= len) return status_fail(ST_ERR_ARG, "%s: path too long", src);
    return ST_OK;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Find the dataset directory. An explicit data.root is the only place looked at (falling
 * back elsewhere would hide a typo behind other data); otherwise $SHORTCUT_DATA, ./data and
 * ../shared/data in order. Under each root, `sub` (cifar-10-batches-bin) is expected; a root
 * that itself holds the marker file is accepted too, so data.root may name either. */
static Status resolve_dir(const DataConfig *d, const char *name, const char *sub,
                          const char *marker, char *dir, size_t len) {
    const char *roots[3];
    int nroots = 0;
    if (d->root[0]) {
        roots[nroots++] = d->root;
    } else {
        const char *env = getenv("SHORTCUT_DATA");
        if (env && env[0]) roots[nroots++] = env;
        roots[nroots++] = "./data";
        roots[nroots++] = "../shared/data";
    }
    char tried[1024] = "";
    size_t used = 0;
    for (int i = 0; i < nroots; i++) {
        char cand[CONFIG_PATH_LEN + 64], mark[CONFIG_PATH_LEN + 96];
        TRY(join_path(cand, sizeof cand, roots[i], sub));
        TRY(join_path(mark, sizeof mark, cand, marker));
        if (is_dir(cand) && is_file(mark)) return copy_path(dir, len, cand);
        TRY(join_path(mark, sizeof mark, roots[i], marker));
        if (is_file(mark)) return copy_path(dir, len, roots[i]);
        int n = snprintf(tried + used, sizeof tried - used, "%s%s", i ? ", " : "", cand);
        if (n > 0 && (size_t)n < sizeof tried - used) used += (size_t)n;
    }
    if (d->root[0])
        return status_fail(ST_ERR_IO, "no %s data: looked in %s (data.root). Run "
                           "scripts/fetch-cifar.sh %s, or fix data.root", name, tried, d->root);
    return status_fail(ST_ERR_IO, "no %s data: looked in %s. Run scripts/fetch-cifar.sh, or set "
                       "data.root / $SHORTCUT_DATA", name, tried);
}

Status dataset_load_splits(const Config *cfg, DataSplits *out) {
    if (!cfg || !out) return status_fail(ST_ERR_ARG, "dataset_load_splits: NULL argument");
    memset(out, 0, sizeof *out);
    const DataConfig *d = &cfg->data;
    if (!(d->val_fraction >= 0.0f && d->val_fraction < 1.0f))
        return status_fail(ST_ERR_CONFIG, "data.val_fraction = %g: must be in [0, 1) (0.1 holds "
                           "out a tenth of the training set)", (double)d->val_fraction);
    if (d->limit_train < 0 || d->limit_test < 0)
        return status_fail(ST_ERR_CONFIG, "data.limit_train / data.limit_test must be >= 0 "
                           "(0: all images)");

    Dataset all, test;
    memset(&all, 0, sizeof all);
    memset(&test, 0, sizeof test);
    const char *name = "shapes";
    char where[CONFIG_PATH_LEN + 64];
    switch (d->dataset) {
    case DATASET_SHAPES:
        if (d->shapes_train <= 0 || d->shapes_test < 0)
            return status_fail(ST_ERR_CONFIG, "data.shapes_train = %d, data.shapes_test = %d: "
                               "need at least one training image", d->shapes_train,
                               d->shapes_test);
        if (snprintf(where, sizeof where, "generated, seed %llu", cfg->train.seed) < 0) where[0] = '\0';
        TRY(dataset_make_shapes(d->shapes_train, cfg->train.seed, 1, &all));
        {
            Status st = dataset_make_shapes(d->shapes_test, cfg->train.seed, 0, &test);
            if (st != ST_OK) { dataset_free(&all); return st; }
        }
        break;
    case DATASET_CIFAR10:
    case DATASET_CIFAR100: {
        int c10 = d->dataset == DATASET_CIFAR10;
        char *dir = where;
        name = c10 ? "CIFAR-10" : "CIFAR-100";
        TRY(resolve_dir(d, name, c10 ? CIFAR10_DIR : CIFAR100_DIR,
                        c10 ? "data_batch_1.bin" : "train.bin", dir, sizeof where));
        TRY(c10 ? dataset_load_cifar10(dir, 1, &all) : dataset_load_cifar100(dir, 1, &all));
        Status st = c10 ? dataset_load_cifar10(dir, 0, &test) : dataset_load_cifar100(dir, 0, &test);
        if (st != ST_OK) { dataset_free(&all); return st; }
        break;
    }
    default:
        return status_fail(ST_ERR_CONFIG, "data.dataset = %d: unknown (valid: shapes, cifar10, "
                           "cifar100)", (int)d->dataset);
    }

    int n_val = (int)((double)d->val_fraction * all.count + 0.5);
    Status st = ST_OK;
    if (n_val > 0) {
        if (n_val >= all.count) {
            st = status_fail(ST_ERR_CONFIG, "data.val_fraction = %g leaves no training images "
                             "out of %d", (double)d->val_fraction, all.count);
        } else {
            st = dataset_split(&all, n_val, cfg->train.seed, &out->train, &out->val);
        }
        dataset_free(&all);
    } else {
        out->train = all;   /* no split: the loaded set is the training set, no copy */
        st = dataset_subset(&all, NULL, 0, &out->val);
    }
    out->test = test;
    if (st == ST_OK) st = dataset_limit(&out->train, d->limit_train);
    if (st == ST_OK) st = dataset_limit(&out->test, d->limit_test);
    if (st != ST_OK) {
        data_splits_free(out);
        return st;
    }
    describe(&out->train, name, "train", where);
    describe(&out->val, name, "val", where);
    describe(&out->test, name, "test", where);
    return ST_OK;
}
