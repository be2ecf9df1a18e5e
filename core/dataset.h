/* dataset.h — images and labels in memory: CIFAR-10, CIFAR-100 (official binary formats) and
 * the built-in procedural `shapes` set.
 *
 * Images are uint8 CHW (3 x 32 x 32, red plane then green then blue), the CIFAR binary layout,
 * so the CIFAR loaders read records straight in. A Dataset owns its arrays. Splits (validation)
 * and limits produce Datasets that own copies, so every Dataset is freed the same way. */
#ifndef SHORTCUT_DATASET_H
#define SHORTCUT_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "status.h"

#define DATASET_SIDE 32
#define DATASET_PIXELS (3 * DATASET_SIDE * DATASET_SIDE)
#define DATASET_MAX_CLASSES 100

typedef struct Dataset {
    int count;
    int num_classes;
    uint8_t *images;          /* (count, 3, 32, 32) */
    uint8_t *labels;          /* (count) fine labels */
    uint8_t *coarse_labels;   /* (count) CIFAR-100 superclasses; NULL otherwise */
    int num_coarse;           /* 20 for CIFAR-100, else 0 */
    int *source_index;        /* (count) index in the original file order (for the viewer) */
    const char *const *class_names;    /* num_classes names, static storage */
    const char *const *coarse_names;   /* num_coarse names or NULL */
    char description[128];    /* "CIFAR-10 train (/path, 45000 images)" */
} Dataset;

typedef struct DataSplits {
    Dataset train;   /* training images (minus the validation part) */
    Dataset val;     /* held out of train by data.val_fraction; count 0 when 0 */
    Dataset test;    /* the official test set (or the generated one for shapes) */
} DataSplits;

/* Resolve the data directory and load the configured dataset, applying val_fraction (seeded by
 * train.seed) and the limits. The directory: data.root when set (only there: a typo must not
 * silently fall back to other data), else $SHORTCUT_DATA, ./data, ../shared/data in that order;
 * under a root, cifar-10-batches-bin/ or cifar-100-binary/ (a root that directly holds the files
 * works too). val_fraction holds out a seeded random subset of train (train and val both keep
 * file order); limit_train / limit_test then keep the first N of train / test. shapes generates
 * data.shapes_train / data.shapes_test images from train.seed. Errors name every path tried and
 * the `scripts/fetch-cifar.sh` command; a truncated or wrong-size file names the file and the
 * byte offset; a label out of range names the file, offset and record. */
Status dataset_load_splits(const Config *cfg, DataSplits *out);
void data_splits_free(DataSplits *s);

/* Individual loaders (tests use them on generated files). `dir` is the directory that holds
 * data_batch_*.bin/test_batch.bin or train.bin/test.bin. Record counts come from file sizes. */
Status dataset_load_cifar10(const char *dir, int train, Dataset *out);
Status dataset_load_cifar100(const char *dir, int train, Dataset *out);
/* Generate `count` shapes images: class = one of ten shapes (circle, square, triangle, ...) in
 * random colours, positions and sizes over a noisy background; deterministic in (seed, index). */
Status dataset_make_shapes(int count, unsigned long long seed, int train, Dataset *out);

void dataset_free(Dataset *d);

/* Class-name tables. */
extern const char *const CIFAR10_CLASSES[10];
extern const char *const CIFAR100_CLASSES[100];
extern const char *const CIFAR100_COARSE[20];
extern const char *const SHAPES_CLASSES[10];

#endif
