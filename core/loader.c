/* loader.c — epoch permutations and batch assembly, with one prefetch thread.
 *
 * Batch (epoch, position, size) is a pure function of the options: the permutation comes from
 * (seed, RNG_STREAM_SHUFFLE, epoch) and every augmentation from (seed, epoch, index), so the
 * prefetch thread, a synchronous build and a resumed run all produce the same bytes.
 *
 * Threading (prefetch = 1): two Batch slots. The caller owns the slot it was last handed; the
 * helper thread builds the next batch into the other one. One mutex guards the job state;
 * `cv_job` wakes the helper, `cv_done` wakes the caller. At most one job exists at a time and
 * only one party ever builds, so the cached permutation needs no lock of its own. Options
 * (augmentation, batch size) change only while no job is pending or running (discard() waits
 * for the running one), so the helper reads them without copying. All loader_* calls must come
 * from one thread (the trainer's). */
#include "loader.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

typedef enum JobState { JOB_NONE = 0, JOB_PENDING, JOB_RUNNING, JOB_DONE } JobState;

typedef struct Job {
    int slot;
    int epoch;
    long pos;
    int count;
} Job;

typedef struct Slot {
    Batch b;
    int cap_count;          /* images the label/index/record arrays hold */
    size_t cap_floats;      /* floats the image array holds */
} Slot;

struct Loader {
    LoaderOptions opt;
    Slot slot[2];
    int cur;                /* slot last handed to the caller; -1 before the first */
    int epoch;              /* the next batch to hand out */
    long pos;
    int *perm;              /* permutation of perm_epoch (builder-owned) */
    int perm_epoch;

    int threaded;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_job, cv_done;
    int quit;
    JobState state;
    Job job;
    int pt_error;           /* first failed pthread call's error code; 0 if none */
    const char *pt_what;
};

void loader_permutation(int count, unsigned long long seed, int epoch, int *perm) {
    for (int i = 0; i < count; i++) perm[i] = i;
    for (int i = count - 1; i > 0; i--) {
        uint64_t ctr = ((uint64_t)(uint32_t)epoch << 32) | (uint32_t)i;
        int j = (int)rng_below(seed, RNG_STREAM_SHUFFLE, ctr, (uint32_t)i + 1);
        int t = perm[i]; perm[i] = perm[j]; perm[j] = t;
    }
}

/* ---- pthread calls: checked; the first failure is kept and reported by loader_next ---- */

static int pt_check(Loader *l, int rc, const char *what) {
    if (rc != 0 && l->pt_error == 0) {
        l->pt_error = rc;
        l->pt_what = what;
    }
    return rc == 0;
}
#define PT(l, call) pt_check((l), (call), #call)

/* ---- building ---- */

static int batch_count_at(const Loader *l, long pos) {
    long left = (long)l->opt.data->count - pos;
    return (int)(left < l->opt.batch_size ? left : l->opt.batch_size);
}

static void build(Loader *l, const Job *j) {
    const Dataset *d = l->opt.data;
    Batch *b = &l->slot[j->slot].b;
    if (l->opt.train && l->perm_epoch != j->epoch) {
        loader_permutation(d->count, l->opt.seed, j->epoch, l->perm);
        l->perm_epoch = j->epoch;
    }
    const AugmentConfig *a = &l->opt.augment;
    int S = augment_out_side(a);
    size_t plane = (size_t)3 * S * S;
    b->count = j->count;
    b->side = S;
    b->augment = *a;
    b->epoch = j->epoch;
    b->position = j->pos;
    for (int i = 0; i < j->count; i++) {
        long at = j->pos + i;
        int k = l->opt.train ? l->perm[at] : (int)at;
        b->indices[i] = k;
        b->labels[i] = d->labels[k];
        if (l->opt.train)
            augment_draw(a, l->opt.seed, j->epoch, k, &b->records[i]);
        else
            augment_identity(a, &b->records[i]);
        if (!l->opt.skip_pixels)
            augment_apply(a, l->opt.mean, l->opt.std, &b->records[i],
                          d->images + (size_t)k * DATASET_PIXELS, b->images + (size_t)i * plane);
    }
}

/* Make slot s hold `count` images at the current output side. Only called while no job uses
 * the slot. */
static Status slot_reserve(Loader *l, int s, int count) {
    Slot *sl = &l->slot[s];
    int S = augment_out_side(&l->opt.augment);
    size_t floats = l->opt.skip_pixels ? 0 : (size_t)count * 3 * S * S;
    if (floats > sl->cap_floats) {
        float *p = realloc(sl->b.images, floats * sizeof *p);
        if (!p) return status_fail(ST_ERR_OOM, "loader: cannot allocate a batch of %d images "
                                   "(%zu MB)", count, floats * sizeof *p >> 20);
        sl->b.images = p;
        sl->cap_floats = floats;
    }
    if (count > sl->cap_count) {
        int32_t *lab = realloc(sl->b.labels, (size_t)count * sizeof *lab);
        if (lab) sl->b.labels = lab;
        int *idx = realloc(sl->b.indices, (size_t)count * sizeof *idx);
        if (idx) sl->b.indices = idx;
        AugmentRecord *rec = realloc(sl->b.records, (size_t)count * sizeof *rec);
        if (rec) sl->b.records = rec;
        if (!lab || !idx || !rec)
            return status_fail(ST_ERR_OOM, "loader: cannot allocate a batch of %d images", count);
        sl->cap_count = count;
    }
    return ST_OK;
}

/* ---- the helper thread ---- */

static void *worker_main(void *arg) {
    Loader *l = arg;
    if (!PT(l, pthread_mutex_lock(&l->mu))) return NULL;
    for (;;) {
        while (!l->quit && l->state != JOB_PENDING)
            if (!PT(l, pthread_cond_wait(&l->cv_job, &l->mu))) {
                /* Nothing can be waited for any more: wake the caller, which reports it. */
                l->quit = 1;
                (void)pthread_cond_broadcast(&l->cv_done);
            }
        if (l->quit) break;
        l->state = JOB_RUNNING;
        Job j = l->job;
        if (!PT(l, pthread_mutex_unlock(&l->mu))) return NULL;
        build(l, &j);
        if (!PT(l, pthread_mutex_lock(&l->mu))) return NULL;
        l->state = JOB_DONE;
        PT(l, pthread_cond_signal(&l->cv_done));
    }
    PT(l, pthread_mutex_unlock(&l->mu));
    return NULL;
}

static Status pt_status(const Loader *l) {
    return status_fail(ST_ERR_IO, "loader: %s failed: %s", l->pt_what ? l->pt_what : "pthread",
                       strerror(l->pt_error ? l->pt_error : EINVAL));
}

/* Wait (lock held) until no job is pending or running, then drop any finished one. */
static int discard_locked(Loader *l) {
    if (l->state == JOB_PENDING) l->state = JOB_NONE;   /* not started: just forget it */
    while (l->state == JOB_RUNNING && !l->quit)
        if (!PT(l, pthread_cond_wait(&l->cv_done, &l->mu))) return 0;
    if (l->state == JOB_RUNNING) return 0;
    l->state = JOB_NONE;
    return 1;
}

/* Run `fn` on the loader with no job in flight (seek and the setters). */
static void with_idle(Loader *l, void (*fn)(Loader *, const void *), const void *arg) {
    if (!l->threaded) {
        fn(l, arg);
        return;
    }
    if (!PT(l, pthread_mutex_lock(&l->mu))) return;
    if (discard_locked(l)) fn(l, arg);
    PT(l, pthread_mutex_unlock(&l->mu));
}

/* ---- public ---- */

Status loader_create(const LoaderOptions *opt, Loader **out) {
    if (!opt || !out || !opt->data) return status_fail(ST_ERR_ARG, "loader_create: NULL argument");
    *out = NULL;
    if (opt->data->count <= 0)
        return status_fail(ST_ERR_ARG, "loader: %s has no images (check data.limit_* and "
                           "data.val_fraction)", opt->data->description[0] ?
                           opt->data->description : "the dataset");
    if (opt->batch_size <= 0)
        return status_fail(ST_ERR_ARG, "loader: batch size %d must be at least 1", opt->batch_size);
    for (int c = 0; c < 3; c++)
        if (!(opt->std[c] > 0.0f))
            return status_fail(ST_ERR_ARG, "loader: std[%d] = %g must be positive", c,
                               (double)opt->std[c]);
    Loader *l = calloc(1, sizeof *l);
    if (!l) return status_fail(ST_ERR_OOM, "loader: cannot allocate");
    l->opt = *opt;
    l->cur = -1;
    l->perm_epoch = -1;
    l->perm = malloc((size_t)opt->data->count * sizeof *l->perm);
    if (!l->perm) {
        free(l);
        return status_fail(ST_ERR_OOM, "loader: cannot allocate a permutation of %d",
                           opt->data->count);
    }
    if (opt->prefetch) {
        int rc = pthread_mutex_init(&l->mu, NULL);
        if (rc == 0) {
            rc = pthread_cond_init(&l->cv_job, NULL);
            if (rc == 0) {
                rc = pthread_cond_init(&l->cv_done, NULL);
                if (rc == 0) {
                    rc = pthread_create(&l->thread, NULL, worker_main, l);
                    if (rc == 0) {
                        l->threaded = 1;
                        *out = l;
                        return ST_OK;
                    }
                    pthread_cond_destroy(&l->cv_done);
                }
                pthread_cond_destroy(&l->cv_job);
            }
            pthread_mutex_destroy(&l->mu);
        }
        free(l->perm);
        free(l);
        return status_fail(ST_ERR_OOM, "loader: cannot start the prefetch thread: %s "
                           "(set prefetch off to load on the training thread)", strerror(rc));
    }
    *out = l;
    return ST_OK;
}

void loader_destroy(Loader *l) {
    if (!l) return;
    if (l->threaded) {
        /* If the lock is broken the thread cannot be told to stop: leak it rather than free
         * memory it may still be using. */
        if (!PT(l, pthread_mutex_lock(&l->mu))) return;
        l->quit = 1;
        PT(l, pthread_cond_signal(&l->cv_job));
        PT(l, pthread_mutex_unlock(&l->mu));
        if (!PT(l, pthread_join(l->thread, NULL))) return;
        pthread_cond_destroy(&l->cv_done);
        pthread_cond_destroy(&l->cv_job);
        pthread_mutex_destroy(&l->mu);
    }
    for (int s = 0; s < 2; s++) {
        free(l->slot[s].b.images);
        free(l->slot[s].b.labels);
        free(l->slot[s].b.indices);
        free(l->slot[s].b.records);
    }
    free(l->perm);
    free(l);
}

long loader_batches_per_epoch(const Loader *l) {
    if (!l) return 0;
    return ((long)l->opt.data->count + l->opt.batch_size - 1) / l->opt.batch_size;
}

static void do_seek(Loader *l, const void *arg) {
    const long *v = arg;   /* {epoch, batch_index} */
    l->epoch = (int)v[0];
    long pos = v[1] > 0 ? v[1] * (long)l->opt.batch_size : 0;
    if (pos >= l->opt.data->count) {   /* past the end: start of the next epoch */
        l->epoch++;
        pos = 0;
    }
    l->pos = pos;
}

void loader_seek(Loader *l, int epoch, long batch_index) {
    if (!l) return;
    long v[2] = {epoch, batch_index};
    with_idle(l, do_seek, v);
}

static void do_set_augment(Loader *l, const void *arg) { l->opt.augment = *(const AugmentConfig *)arg; }

void loader_set_augment(Loader *l, const AugmentConfig *a) {
    if (!l || !a) return;
    with_idle(l, do_set_augment, a);
}

static void do_set_batch_size(Loader *l, const void *arg) { l->opt.batch_size = *(const int *)arg; }

void loader_set_batch_size(Loader *l, int batch_size) {
    if (!l || batch_size <= 0) return;   /* invalid sizes are refused by config validation */
    with_idle(l, do_set_batch_size, &batch_size);
}

/* Advance the caller's position past a batch of `count` at the current position. */
static void advance(Loader *l, int count) {
    l->pos += count;
    if (l->pos >= l->opt.data->count) {
        l->pos = 0;
        l->epoch++;
    }
}

static Status submit_locked(Loader *l, int s) {
    int count = batch_count_at(l, l->pos);
    TRY(slot_reserve(l, s, count));
    l->job = (Job){s, l->epoch, l->pos, count};
    l->state = JOB_PENDING;
    if (!PT(l, pthread_cond_signal(&l->cv_job))) return pt_status(l);
    return ST_OK;
}

Status loader_next(Loader *l, const Batch **out) {
    if (!l || !out) return status_fail(ST_ERR_ARG, "loader_next: NULL argument");
    *out = NULL;
    if (l->pt_error) return pt_status(l);
    if (!l->threaded) {
        int count = batch_count_at(l, l->pos);
        TRY(slot_reserve(l, 0, count));
        Job j = {0, l->epoch, l->pos, count};
        build(l, &j);
        l->cur = 0;
        advance(l, count);
        *out = &l->slot[0].b;
        return ST_OK;
    }

    if (!PT(l, pthread_mutex_lock(&l->mu))) return pt_status(l);
    Status st = ST_OK;
    int want = batch_count_at(l, l->pos);
    int have = l->state != JOB_NONE && l->job.epoch == l->epoch && l->job.pos == l->pos &&
               l->job.count == want && l->job.slot != l->cur;
    if (!have) {
        if (!discard_locked(l)) {
            st = pt_status(l);
            goto unlock;
        }
        st = submit_locked(l, l->cur == 0 ? 1 : 0);
        if (st != ST_OK) goto unlock;
    }
    while (l->state != JOB_DONE && !l->quit)
        if (!PT(l, pthread_cond_wait(&l->cv_done, &l->mu))) break;
    if (l->state != JOB_DONE) {
        st = pt_status(l);
        goto unlock;
    }
    l->cur = l->job.slot;
    l->state = JOB_NONE;
    advance(l, l->job.count);
    *out = &l->slot[l->cur].b;
    /* Start on the next batch. If its buffer cannot be grown, skip the prefetch: the next
     * call retries synchronously and reports the error then, and this batch stays valid. */
    if (submit_locked(l, 1 - l->cur) != ST_OK) l->state = JOB_NONE;
unlock:
    if (!PT(l, pthread_mutex_unlock(&l->mu)) && st == ST_OK) st = pt_status(l);
    return st;
}
