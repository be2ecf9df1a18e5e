/* viewdata.h — what the SDL viewer shows, captured from a training run; no SDL here.
 *
 * A ViewData holds host copies of: the batch the network trained on last (augmented images
 * exactly as it got them, still normalized, with mean/std to undo that; the dataset originals;
 * the augmentation records and the cutout masks), the last test-set evaluation (confusion
 * matrix, and the wrong predictions with their images, most confident first), and the
 * first-layer filters now and once per epoch (the filmstrip). Each part carries an id that is
 * unique in the process, so copying only moves the parts that changed.
 *
 * A ViewExchange hands ViewData from the worker thread (which owns the Trainer) to the viewer
 * on the main thread. The viewer asks for parts (view_exchange_request); the worker captures at
 * its next step boundary, at most once per min_interval, into its own buffer, and swaps it in
 * under the exchange's mutex; the viewer copies out what changed (view_exchange_copy). Nothing
 * is copied while no viewer asks, except one download of the stem filters per epoch for the
 * filmstrip. */
#ifndef SHORTCUT_VIEWDATA_H
#define SHORTCUT_VIEWDATA_H

#include <stdint.h>

#include "augment.h"
#include "config.h"
#include "dataset.h"
#include "loader.h"
#include "status.h"

#define VIEW_MAX_SAMPLES 512     /* images kept from one batch */
#define VIEW_FILM_MAX 1024       /* filmstrip frames kept */

enum {
    VIEW_WANT_SAMPLES = 1,
    VIEW_WANT_EVAL = 2,          /* misclassified + confusion */
    VIEW_WANT_FILTERS = 4,       /* filters now + filmstrip */
    VIEW_WANT_ALL = 7,
};

typedef struct ViewMistake {
    int index;              /* in the evaluated (test) set */
    int source_index;       /* in the original file order */
    int label, predicted;
    float probability;      /* softmax probability of the wrong prediction */
} ViewMistake;

typedef struct ViewData {
    uint64_t seq;                       /* set by the exchange on every publish */

    /* what and where (copied on every capture) */
    char name[CONFIG_NAME_LEN];         /* config name */
    char dataset[128];                  /* dataset description */
    int epoch, epochs;
    long global_step;
    double test_acc;                    /* -1: not measured */
    int num_classes, num_coarse;
    const char *const *class_names;     /* static tables from dataset.h, or NULL */
    const char *const *coarse_names;
    int coarse_of[DATASET_MAX_CLASSES]; /* fine -> coarse class; -1 when unknown */

    /* 1. the batch of the last step */
    uint64_t samples_id;                /* 0: none */
    int sample_count, sample_side;
    int sample_epoch;
    long sample_step;                   /* global step that trained on it (1-based count) */
    AugmentConfig augment;              /* the augmentation that built it */
    float mean[3], std[3];
    float *sample_images;               /* (n, 3, S, S) normalized, as the network got them */
    uint8_t *sample_originals;          /* (n, 3, 32, 32) dataset images before augmentation */
    uint8_t *sample_masks;              /* (n, S, S) 1 where cutout zeroed the pixel */
    AugmentRecord *sample_records;      /* (n) */
    int32_t *sample_labels;             /* (n) */
    int *sample_indices;                /* (n) dataset indices */
    int sample_cap, sample_cap_side;

    /* 2 + 4. the last evaluation on the test set */
    uint64_t eval_id;                   /* 0: none */
    long eval_step;
    int eval_epoch;
    int eval_count;                     /* images evaluated */
    double eval_accuracy, eval_loss;
    int eval_classes;                   /* K of the confusion matrix */
    long *confusion;                    /* (K, K): row = true class, column = predicted */
    int wrong_count;
    ViewMistake *wrong;                 /* (wrong_count) most confident first */
    uint8_t *wrong_images;              /* (wrong_count, 3, 32, 32) */
    int wrong_cap, confusion_cap;

    /* 3. first-layer filters now, and the filmstrip */
    uint64_t filters_id;                /* 0: none */
    long filters_step;
    int filt_out, filt_in, filt_k;      /* (out, in, k, k) */
    float *filters;
    int filters_cap;
    uint64_t film_id;                   /* 0: none */
    int film_out, film_in, film_k;      /* shape of every frame */
    int film_len;
    int film_epoch[VIEW_FILM_MAX];      /* frame f shows the filters after epoch film_epoch[f] */
    float *film;                        /* (film_len, out * in * k * k) */
    int film_cap;                       /* frames allocated */
} ViewData;

void viewdata_init(ViewData *vd);
void viewdata_free(ViewData *vd);   /* NULL is fine; leaves an empty ViewData */

/* Class names, count and the fine -> coarse map (from the images' coarse labels) of `d`. */
void viewdata_set_classes(ViewData *vd, const Dataset *d);

/* Copy a batch: its images, the dataset originals (`train` is the set the indices refer to),
 * records, labels, and the cutout masks recomputed from the records. At most VIEW_MAX_SAMPLES
 * images are kept. */
Status viewdata_capture_batch(ViewData *vd, const Batch *b, const Dataset *train,
                              const AugmentConfig *aug, const float mean[3], const float std[3],
                              long step);

/* The confusion matrix and the wrong predictions of an evaluation of `test` (predicted and
 * probability per image, in test order), sorted by the wrong answer's probability, highest
 * first (ties: lower index first). */
Status viewdata_capture_eval(ViewData *vd, int num_classes, const long *confusion,
                             const int32_t *predicted, const float *probability,
                             const Dataset *test, double accuracy, double loss, long step,
                             int epoch);

/* The stem filters (out, in, k, k) as they are now. */
Status viewdata_set_filters(ViewData *vd, const float *w, int out, int in, int k, long step);
/* Append the current filters as the frame for `epoch` (replaces the last frame when it has the
 * same epoch; a change of filter shape starts the strip over; the oldest frame goes when full). */
Status viewdata_film_push(ViewData *vd, int epoch);

/* Make dst hold what src holds, copying only the parts whose id differs. */
Status viewdata_copy(ViewData *dst, const ViewData *src);

/* ---- display helpers (pure; the viewer and its tests use them) ---- */

/* Sample i as displayed: un-normalized to uint8 HWC RGB (S * S * 3). */
void viewdata_sample_rgb(const ViewData *vd, int i, uint8_t *rgb);
/* A uint8 CHW image (3, side, side) as HWC RGB. */
void viewdata_chw_to_rgb(const uint8_t *chw, int side, uint8_t *rgb);
/* Filter f of `w` (out, in, k, k) as k * k * 3 RGB bytes, min-max normalized over that filter
 * (per_filter = 1) or over all `out` filters of w (per_filter = 0); a constant range maps to
 * 128. Filters with in != 3 show their first input channel in gray. */
void viewdata_filter_rgb(const float *w, int out, int in, int k, int f, int per_filter,
                         uint8_t *rgb);

/* Which wrong predictions pass a filter: true_class / pred_class = -1 for any; coarse = 1
 * compares coarse classes. Writes indices into vd->wrong (in order) to `out` (may be NULL);
 * returns the count. */
int viewdata_mistakes_select(const ViewData *vd, int true_class, int pred_class, int coarse,
                             int *out);

/* ---- the exchange between the worker and the viewer ---- */

struct Trainer;
typedef struct ViewExchange ViewExchange;

/* min_interval_s: the shortest time between two captures (0.25 = at most four a second). */
Status view_exchange_create(double min_interval_s, ViewExchange **out);
void view_exchange_destroy(ViewExchange *vx);

/* Called with the parts a viewer needs (VIEW_WANT_*); cheap, never blocks on training. The
 * waker (set by the session) wakes an idle worker so a paused run still answers. */
void view_exchange_request(ViewExchange *vx, unsigned want);
void view_exchange_set_waker(ViewExchange *vx, void (*wake)(void *arg), void *arg);

/* Copy into dst what changed since dst was last filled. Returns 1 when something was copied,
 * 0 when dst is current, -1 on out-of-memory (status_message says so). */
int view_exchange_copy(ViewExchange *vx, ViewData *dst);

/* 1 when a request is due at time now_s (the worker should not sleep). */
int view_exchange_due(ViewExchange *vx, double now_s);

/* Worker side, at every step boundary: records the filmstrip at epoch changes and captures the
 * requested parts when due. now_s: a monotonic clock in seconds. Returns 1 when it published,
 * 0 when not; a failure (out of memory, a failed filter download) is reported through the
 * return value -1 and status_message(), and training goes on. */
int view_exchange_service(ViewExchange *vx, struct Trainer *t, double now_s);

/* Publish a ready ViewData (a run opened without training: `shortcut view`). */
Status view_exchange_publish(ViewExchange *vx, const ViewData *vd);

/* Number of captures published so far (tests use it to check the rate limit). */
uint64_t view_exchange_captures(ViewExchange *vx);

#endif
