/* loader.h — batches for training and evaluation, prepared ahead on a helper thread.
 *
 * A Loader walks a Dataset in a seeded per-epoch permutation (training) or in order
 * (evaluation), and fills Batches: augmented, normalized float images plus labels and the
 * augmentation records. While the trainer runs step k, the loader thread builds batch k+1, so
 * augmentation overlaps compute. Batch content is a pure function of (seed, epoch, position),
 * so stopping and resuming mid-epoch continues with the same batches. */
#ifndef SHORTCUT_LOADER_H
#define SHORTCUT_LOADER_H

#include <stdint.h>

#include "augment.h"
#include "dataset.h"
#include "status.h"

typedef struct Batch {
    int count;              /* images in this batch (the last one of an epoch may be short) */
    int side;               /* image side after augmentation */
    float *images;          /* (count, 3, side, side), normalized; NULL with skip_pixels */
    int32_t *labels;        /* (count) */
    int *indices;           /* (count) dataset indices */
    AugmentRecord *records; /* (count) */
    AugmentConfig augment;  /* the augmentation the records were drawn for */
    int epoch;
    long position;          /* index of this batch's first image in the epoch order */
} Batch;

typedef struct Loader Loader;

typedef struct LoaderOptions {
    const Dataset *data;          /* borrowed; must outlive the loader */
    int batch_size;
    int train;                    /* 1: shuffle + augment + drop nothing; 0: in order, identity */
    unsigned long long seed;
    AugmentConfig augment;
    float mean[3], std[3];
    int prefetch;                 /* 1: build the next batch on a thread */
    int skip_pixels;              /* 1: labels, indices and records only, Batch.images NULL:
                                   * the backend augments on its device (BackendOps.augment) */
} LoaderOptions;

Status loader_create(const LoaderOptions *opt, Loader **out);
void loader_destroy(Loader *l);

/* Batches per epoch (the last may be short). */
long loader_batches_per_epoch(const Loader *l);

/* Position the loader at batch `batch_index` (of the current batch size) of `epoch` (resume,
 * epoch start); an index past the end means the start of epoch + 1. */
void loader_seek(Loader *l, int epoch, long batch_index);

/* The next batch, valid until the next loader_next (or loader_destroy); seeking or changing
 * options does not touch it. After the last batch of an epoch it moves on to the next epoch.
 * Training batches come in the loader_permutation() order with augment_draw() records;
 * evaluation batches in file order with augment_identity(). All loader calls must come from
 * one thread (the prefetch thread is internal). */
Status loader_next(Loader *l, const Batch **out);

/* Change augmentation or batch size between steps (the workbench); takes effect from the next
 * batch (a prefetched one is discarded and rebuilt). The next batch starts where the last one
 * ended, so positions stay image offsets within the epoch; a batch size below 1 is ignored. */
void loader_set_augment(Loader *l, const AugmentConfig *a);
void loader_set_batch_size(Loader *l, int batch_size);

/* The epoch permutation: perm[i] = dataset index of the i-th image in `epoch`. Fisher-Yates
 * from the last position down; position i swaps with
 * rng_below(seed, RNG_STREAM_SHUFFLE, ((uint64_t)epoch << 32) | i, i + 1). */
void loader_permutation(int count, unsigned long long seed, int epoch, int *perm);

#endif
