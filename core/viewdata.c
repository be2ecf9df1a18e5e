/* viewdata.c — captures for the viewer and their hand-off between threads (see viewdata.h).
 *
 * Invariants: a part's arrays are valid for its count whenever its id is non-zero; ids come
 * from one process-wide counter, so two buffers hold the same content exactly when their ids
 * match. In the exchange, `latest` is written only by the worker (a pointer swap under `mu`) and
 * read by viewers under `mu`; `work` and `film` belong to the worker alone. */
#include "viewdata.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "trainer.h"

static atomic_uint_fast64_t g_next_id;

static uint64_t new_id(void) { return (uint64_t)atomic_fetch_add(&g_next_id, 1) + 1; }

void viewdata_init(ViewData *vd) {
    memset(vd, 0, sizeof *vd);
    vd->test_acc = -1;
    for (int i = 0; i < DATASET_MAX_CLASSES; i++) vd->coarse_of[i] = -1;
}

void viewdata_free(ViewData *vd) {
    if (!vd) return;
    free(vd->sample_images);
    free(vd->sample_originals);
    free(vd->sample_masks);
    free(vd->sample_records);
    free(vd->sample_labels);
    free(vd->sample_indices);
    free(vd->confusion);
    free(vd->wrong);
    free(vd->wrong_images);
    free(vd->filters);
    free(vd->film);
    viewdata_init(vd);
}

void viewdata_set_classes(ViewData *vd, const Dataset *d) {
    vd->num_classes = d->num_classes;
    vd->num_coarse = d->num_coarse;
    vd->class_names = d->class_names;
    vd->coarse_names = d->coarse_names;
    for (int i = 0; i < DATASET_MAX_CLASSES; i++) vd->coarse_of[i] = -1;
    if (d->coarse_labels)
        for (int i = 0; i < d->count; i++)
            if (d->labels[i] < DATASET_MAX_CLASSES) vd->coarse_of[d->labels[i]] = d->coarse_labels[i];
    snprintf(vd->dataset, sizeof vd->dataset, "%s", d->description);
}

/* ---- growing arrays ---- */

static Status grow(void **p, size_t bytes) {
    void *q = realloc(*p, bytes ? bytes : 1);
    if (!q) return status_fail(ST_ERR_OOM, "viewer: out of memory (%zu bytes)", bytes);
    *p = q;
    return ST_OK;
}

static Status reserve_samples(ViewData *vd, int n, int side) {
    if (n <= vd->sample_cap && side <= vd->sample_cap_side) return ST_OK;
    int cap = n > vd->sample_cap ? n : vd->sample_cap;
    int cs = side > vd->sample_cap_side ? side : vd->sample_cap_side;
    size_t px = (size_t)cs * (size_t)cs;
    TRY(grow((void **)&vd->sample_images, sizeof(float) * (size_t)cap * 3 * px));
    TRY(grow((void **)&vd->sample_originals, (size_t)cap * DATASET_PIXELS));
    TRY(grow((void **)&vd->sample_masks, (size_t)cap * px));
    TRY(grow((void **)&vd->sample_records, sizeof(AugmentRecord) * (size_t)cap));
    TRY(grow((void **)&vd->sample_labels, sizeof(int32_t) * (size_t)cap));
    TRY(grow((void **)&vd->sample_indices, sizeof(int) * (size_t)cap));
    vd->sample_cap = cap;
    vd->sample_cap_side = cs;
    return ST_OK;
}

static Status reserve_eval(ViewData *vd, int k, int wrong) {
    if (k * k > vd->confusion_cap) {
        TRY(grow((void **)&vd->confusion, sizeof(long) * (size_t)k * (size_t)k));
        vd->confusion_cap = k * k;
    }
    if (wrong > vd->wrong_cap) {
        TRY(grow((void **)&vd->wrong, sizeof(ViewMistake) * (size_t)wrong));
        TRY(grow((void **)&vd->wrong_images, (size_t)wrong * DATASET_PIXELS));
        vd->wrong_cap = wrong;
    }
    return ST_OK;
}

static Status reserve_filters(ViewData *vd, int numel) {
    if (numel <= vd->filters_cap) return ST_OK;
    TRY(grow((void **)&vd->filters, sizeof(float) * (size_t)numel));
    vd->filters_cap = numel;
    return ST_OK;
}

static Status reserve_film(ViewData *vd, int frames, int numel) {
    if ((size_t)frames * (size_t)numel <= (size_t)vd->film_cap) return ST_OK;
    TRY(grow((void **)&vd->film, sizeof(float) * (size_t)frames * (size_t)numel));
    vd->film_cap = frames * numel;
    return ST_OK;
}

/* ---- captures ---- */

Status viewdata_capture_batch(ViewData *vd, const Batch *b, const Dataset *train,
                              const AugmentConfig *aug, const float mean[3], const float std[3],
                              long step) {
    int n = b->count < VIEW_MAX_SAMPLES ? b->count : VIEW_MAX_SAMPLES;
    int S = b->side;
    TRY(reserve_samples(vd, n, S));
    size_t px = (size_t)S * (size_t)S;
    if (b->images)
        memcpy(vd->sample_images, b->images, sizeof(float) * (size_t)n * 3 * px);
    else   /* augmented on the device: the same records give the same pixels on the host */
        for (int i = 0; i < n; i++)
            augment_apply(&b->augment, mean, std, &b->records[i],
                          train->images + (size_t)b->indices[i] * DATASET_PIXELS,
                          vd->sample_images + (size_t)i * 3 * px);
    memcpy(vd->sample_records, b->records, sizeof(AugmentRecord) * (size_t)n);
    memcpy(vd->sample_labels, b->labels, sizeof(int32_t) * (size_t)n);
    memcpy(vd->sample_indices, b->indices, sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) {
        int idx = b->indices[i];
        if (idx >= 0 && idx < train->count)
            memcpy(vd->sample_originals + (size_t)i * DATASET_PIXELS,
                   train->images + (size_t)idx * DATASET_PIXELS, DATASET_PIXELS);
        else
            memset(vd->sample_originals + (size_t)i * DATASET_PIXELS, 0, DATASET_PIXELS);
        augment_cutout_mask(aug, &b->records[i], vd->sample_masks + (size_t)i * px);
    }
    vd->sample_count = n;
    vd->sample_side = S;
    vd->sample_epoch = b->epoch;
    vd->sample_step = step;
    vd->augment = *aug;
    memcpy(vd->mean, mean, sizeof vd->mean);
    memcpy(vd->std, std, sizeof vd->std);
    vd->samples_id = new_id();
    return ST_OK;
}

static int mistake_cmp(const void *a, const void *b) {
    const ViewMistake *x = a, *y = b;
    if (x->probability != y->probability) return x->probability > y->probability ? -1 : 1;
    return (x->index > y->index) - (x->index < y->index);
}

Status viewdata_capture_eval(ViewData *vd, int num_classes, const long *confusion,
                             const int32_t *predicted, const float *probability,
                             const Dataset *test, double accuracy, double loss, long step,
                             int epoch) {
    int k = num_classes;
    int wrong = 0;
    for (int i = 0; i < test->count; i++) wrong += predicted[i] != test->labels[i];
    TRY(reserve_eval(vd, k, wrong));
    memcpy(vd->confusion, confusion, sizeof(long) * (size_t)k * (size_t)k);
    int w = 0;
    for (int i = 0; i < test->count; i++) {
        if (predicted[i] == test->labels[i]) continue;
        ViewMistake *m = &vd->wrong[w++];
        m->index = i;
        m->source_index = test->source_index ? test->source_index[i] : i;
        m->label = test->labels[i];
        m->predicted = predicted[i];
        m->probability = probability[i];
    }
    qsort(vd->wrong, (size_t)w, sizeof *vd->wrong, mistake_cmp);
    for (int j = 0; j < w; j++)
        memcpy(vd->wrong_images + (size_t)j * DATASET_PIXELS,
               test->images + (size_t)vd->wrong[j].index * DATASET_PIXELS, DATASET_PIXELS);
    vd->wrong_count = w;
    vd->eval_classes = k;
    vd->eval_count = test->count;
    vd->eval_accuracy = accuracy;
    vd->eval_loss = loss;
    vd->eval_step = step;
    vd->eval_epoch = epoch;
    vd->eval_id = new_id();
    return ST_OK;
}

Status viewdata_set_filters(ViewData *vd, const float *w, int out, int in, int k, long step) {
    int numel = out * in * k * k;
    TRY(reserve_filters(vd, numel));
    memcpy(vd->filters, w, sizeof(float) * (size_t)numel);
    vd->filt_out = out;
    vd->filt_in = in;
    vd->filt_k = k;
    vd->filters_step = step;
    vd->filters_id = new_id();
    return ST_OK;
}

Status viewdata_film_push(ViewData *vd, int epoch) {
    if (!vd->filters_id) return ST_OK;
    int numel = vd->filt_out * vd->filt_in * vd->filt_k * vd->filt_k;
    /* The strip compares like with like: a new stem shape (a rebuild) starts it over. */
    if (vd->film_out != vd->filt_out || vd->film_in != vd->filt_in || vd->film_k != vd->filt_k)
        vd->film_len = 0;
    int f = vd->film_len;
    if (f > 0 && vd->film_epoch[f - 1] == epoch) f--;
    if (f == VIEW_FILM_MAX) {
        memmove(vd->film, vd->film + numel, sizeof(float) * (size_t)numel * (VIEW_FILM_MAX - 1));
        memmove(vd->film_epoch, vd->film_epoch + 1, sizeof(int) * (VIEW_FILM_MAX - 1));
        f--;
    }
    TRY(reserve_film(vd, f + 1, numel));
    memcpy(vd->film + (size_t)f * numel, vd->filters, sizeof(float) * (size_t)numel);
    vd->film_epoch[f] = epoch;
    vd->film_len = f + 1;
    vd->film_out = vd->filt_out;
    vd->film_in = vd->filt_in;
    vd->film_k = vd->filt_k;
    vd->film_id = new_id();
    return ST_OK;
}

/* ---- copies ---- */

static Status copy_samples(ViewData *d, const ViewData *s) {
    if (s->samples_id) {
        int n = s->sample_count, S = s->sample_side;
        size_t px = (size_t)S * (size_t)S;
        TRY(reserve_samples(d, n, S));
        memcpy(d->sample_images, s->sample_images, sizeof(float) * (size_t)n * 3 * px);
        memcpy(d->sample_originals, s->sample_originals, (size_t)n * DATASET_PIXELS);
        memcpy(d->sample_masks, s->sample_masks, (size_t)n * px);
        memcpy(d->sample_records, s->sample_records, sizeof(AugmentRecord) * (size_t)n);
        memcpy(d->sample_labels, s->sample_labels, sizeof(int32_t) * (size_t)n);
        memcpy(d->sample_indices, s->sample_indices, sizeof(int) * (size_t)n);
    }
    d->sample_count = s->sample_count;
    d->sample_side = s->sample_side;
    d->sample_epoch = s->sample_epoch;
    d->sample_step = s->sample_step;
    d->augment = s->augment;
    memcpy(d->mean, s->mean, sizeof d->mean);
    memcpy(d->std, s->std, sizeof d->std);
    d->samples_id = s->samples_id;
    return ST_OK;
}

static Status copy_eval(ViewData *d, const ViewData *s) {
    if (s->eval_id) {
        int k = s->eval_classes, w = s->wrong_count;
        TRY(reserve_eval(d, k, w));
        memcpy(d->confusion, s->confusion, sizeof(long) * (size_t)k * (size_t)k);
        memcpy(d->wrong, s->wrong, sizeof(ViewMistake) * (size_t)w);
        memcpy(d->wrong_images, s->wrong_images, (size_t)w * DATASET_PIXELS);
    }
    d->eval_classes = s->eval_classes;
    d->wrong_count = s->wrong_count;
    d->eval_count = s->eval_count;
    d->eval_accuracy = s->eval_accuracy;
    d->eval_loss = s->eval_loss;
    d->eval_step = s->eval_step;
    d->eval_epoch = s->eval_epoch;
    d->eval_id = s->eval_id;
    return ST_OK;
}

static Status copy_filters(ViewData *d, const ViewData *s) {
    int numel = s->filt_out * s->filt_in * s->filt_k * s->filt_k;
    if (s->filters_id) {
        TRY(reserve_filters(d, numel));
        memcpy(d->filters, s->filters, sizeof(float) * (size_t)numel);
    }
    d->filt_out = s->filt_out;
    d->filt_in = s->filt_in;
    d->filt_k = s->filt_k;
    d->filters_step = s->filters_step;
    d->filters_id = s->filters_id;
    return ST_OK;
}

static Status copy_film(ViewData *d, const ViewData *s) {
    int numel = s->film_out * s->film_in * s->film_k * s->film_k;
    if (s->film_id && s->film_len > 0) {
        TRY(reserve_film(d, s->film_len, numel));
        memcpy(d->film, s->film, sizeof(float) * (size_t)s->film_len * (size_t)numel);
        memcpy(d->film_epoch, s->film_epoch, sizeof(int) * (size_t)s->film_len);
    }
    d->film_out = s->film_out;
    d->film_in = s->film_in;
    d->film_k = s->film_k;
    d->film_len = s->film_len;
    d->film_id = s->film_id;
    return ST_OK;
}

static void copy_header(ViewData *d, const ViewData *s) {
    d->seq = s->seq;
    memcpy(d->name, s->name, sizeof d->name);
    memcpy(d->dataset, s->dataset, sizeof d->dataset);
    d->epoch = s->epoch;
    d->epochs = s->epochs;
    d->global_step = s->global_step;
    d->test_acc = s->test_acc;
    d->num_classes = s->num_classes;
    d->num_coarse = s->num_coarse;
    d->class_names = s->class_names;
    d->coarse_names = s->coarse_names;
    memcpy(d->coarse_of, s->coarse_of, sizeof d->coarse_of);
}

Status viewdata_copy(ViewData *dst, const ViewData *src) {
    if (dst == src) return ST_OK;
    copy_header(dst, src);
    if (dst->samples_id != src->samples_id) TRY(copy_samples(dst, src));
    if (dst->eval_id != src->eval_id) TRY(copy_eval(dst, src));
    if (dst->filters_id != src->filters_id) TRY(copy_filters(dst, src));
    if (dst->film_id != src->film_id) TRY(copy_film(dst, src));
    return ST_OK;
}

/* ---- display helpers ---- */

static uint8_t to_byte(float v) {
    float x = v * 255.0f + 0.5f;
    if (!(x > 0.0f)) return 0;      /* NaN too */
    if (x >= 255.0f) return 255;
    return (uint8_t)x;
}

void viewdata_sample_rgb(const ViewData *vd, int i, uint8_t *rgb) {
    int S = vd->sample_side;
    size_t px = (size_t)S * (size_t)S;
    const float *img = vd->sample_images + (size_t)i * 3 * px;
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < px; p++)
            rgb[p * 3 + (size_t)c] = to_byte(img[(size_t)c * px + p] * vd->std[c] + vd->mean[c]);
}

void viewdata_chw_to_rgb(const uint8_t *chw, int side, uint8_t *rgb) {
    size_t px = (size_t)side * (size_t)side;
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < px; p++) rgb[p * 3 + (size_t)c] = chw[(size_t)c * px + p];
}

void viewdata_filter_rgb(const float *w, int out, int in, int k, int f, int per_filter,
                         uint8_t *rgb) {
    size_t per = (size_t)in * (size_t)k * (size_t)k;
    const float *from = per_filter ? w + (size_t)f * per : w;
    size_t span = per_filter ? per : per * (size_t)out;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < span; i++) {
        if (from[i] < lo) lo = from[i];
        if (from[i] > hi) hi = from[i];
    }
    const float *flt = w + (size_t)f * per;
    size_t kk = (size_t)k * (size_t)k;
    float range = hi - lo;
    for (size_t p = 0; p < kk; p++)
        for (int c = 0; c < 3; c++) {
            float v = flt[(in == 3 ? (size_t)c : 0) * kk + p];
            rgb[p * 3 + (size_t)c] = range > 0 ? to_byte((v - lo) / range) : 128;
        }
}

int viewdata_mistakes_select(const ViewData *vd, int true_class, int pred_class, int coarse,
                             int *out) {
    int n = 0;
    for (int i = 0; i < vd->wrong_count; i++) {
        int t = vd->wrong[i].label, p = vd->wrong[i].predicted;
        if (coarse) {
            t = t >= 0 && t < DATASET_MAX_CLASSES ? vd->coarse_of[t] : -1;
            p = p >= 0 && p < DATASET_MAX_CLASSES ? vd->coarse_of[p] : -1;
        }
        if (true_class >= 0 && t != true_class) continue;
        if (pred_class >= 0 && p != pred_class) continue;
        if (out) out[n] = i;
        n++;
    }
    return n;
}

/* ---- the exchange ---- */

struct ViewExchange {
    pthread_mutex_t mu;
    double min_interval_s;
    /* guarded by mu */
    unsigned want;
    ViewData *latest;
    uint64_t seq;
    uint64_t captures;
    void (*wake)(void *);
    void *wake_arg;
    /* worker only */
    ViewData *work;
    ViewData film;              /* filters + filmstrip, recorded at every epoch change */
    const void *trainer_seen;   /* the run the strip belongs to (a restart starts it over) */
    int film_epoch;             /* epoch of the last frame; -1: none */
    long step_seen;             /* global step at the last service */
    AugmentConfig step_augment; /* the augmentation that built the batch of step_seen */
    long samples_step, filters_step, eval_serial;   /* what `latest` holds; -1: nothing */
    double last_capture_s;
};

Status view_exchange_create(double min_interval_s, ViewExchange **out) {
    *out = NULL;
    ViewExchange *vx = calloc(1, sizeof *vx);
    ViewData *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    if (!vx || !a || !b) {
        free(vx);
        free(a);
        free(b);
        return status_fail(ST_ERR_OOM, "out of memory creating the viewer exchange");
    }
    if (pthread_mutex_init(&vx->mu, NULL) != 0) {
        free(vx);
        free(a);
        free(b);
        return status_fail(ST_ERR_DEVICE, "cannot create the viewer exchange's mutex");
    }
    viewdata_init(a);
    viewdata_init(b);
    viewdata_init(&vx->film);
    vx->latest = a;
    vx->work = b;
    vx->min_interval_s = min_interval_s;
    vx->film_epoch = -1;
    vx->step_seen = -1;
    vx->samples_step = vx->filters_step = vx->eval_serial = -1;
    vx->last_capture_s = -1e30;
    *out = vx;
    return ST_OK;
}

void view_exchange_destroy(ViewExchange *vx) {
    if (!vx) return;
    viewdata_free(vx->latest);
    viewdata_free(vx->work);
    viewdata_free(&vx->film);
    free(vx->latest);
    free(vx->work);
    pthread_mutex_destroy(&vx->mu);
    free(vx);
}

void view_exchange_set_waker(ViewExchange *vx, void (*wake)(void *arg), void *arg) {
    pthread_mutex_lock(&vx->mu);
    vx->wake = wake;
    vx->wake_arg = arg;
    pthread_mutex_unlock(&vx->mu);
}

void view_exchange_request(ViewExchange *vx, unsigned want) {
    if (!vx) return;
    pthread_mutex_lock(&vx->mu);
    vx->want |= want & VIEW_WANT_ALL;
    void (*wake)(void *) = vx->wake;
    void *arg = vx->wake_arg;
    pthread_mutex_unlock(&vx->mu);
    if (wake && want) wake(arg);
}

int view_exchange_copy(ViewExchange *vx, ViewData *dst) {
    if (!vx) return 0;
    pthread_mutex_lock(&vx->mu);
    int changed = vx->latest->seq != dst->seq;
    Status st = changed ? viewdata_copy(dst, vx->latest) : ST_OK;
    pthread_mutex_unlock(&vx->mu);
    if (st != ST_OK) return -1;
    return changed;
}

int view_exchange_due(ViewExchange *vx, double now_s) {
    if (!vx) return 0;
    pthread_mutex_lock(&vx->mu);
    int due = vx->want && now_s - vx->last_capture_s >= vx->min_interval_s;
    pthread_mutex_unlock(&vx->mu);
    return due;
}

uint64_t view_exchange_captures(ViewExchange *vx) {
    pthread_mutex_lock(&vx->mu);
    uint64_t n = vx->captures;
    pthread_mutex_unlock(&vx->mu);
    return n;
}

/* Make `work` current and swap it in as `latest`. */
static void swap_in(ViewExchange *vx) {
    pthread_mutex_lock(&vx->mu);
    ViewData *old = vx->latest;
    vx->latest = vx->work;
    vx->work = old;
    vx->latest->seq = ++vx->seq;
    vx->captures++;
    pthread_mutex_unlock(&vx->mu);
}

static Status download_filters(Trainer *t, ViewData *into) {
    const Param *p = model_stem_weight(t->model);
    if (!p || !p->value.data) return ST_OK;
    const Tensor *w = &p->value;
    size_t numel = tensor_numel(w);
    float *host = malloc(sizeof(float) * (numel ? numel : 1));
    if (!host) return status_fail(ST_ERR_OOM, "viewer: out of memory for the stem filters");
    Status st = t->backend.ops->download(t->backend.ctx, w, host);
    if (st == ST_OK) st = viewdata_set_filters(into, host, w->n, w->c, w->h, t->global_step);
    free(host);
    return st;
}

static void fill_header(ViewData *vd, const Trainer *t) {
    snprintf(vd->name, sizeof vd->name, "%s", t->cfg.name);
    vd->epoch = t->epoch;
    vd->epochs = t->cfg.train.epochs;
    vd->global_step = t->global_step;
    vd->test_acc = t->last_test_acc;
    viewdata_set_classes(vd, t->data.test.count ? &t->data.test : &t->data.train);
}

int view_exchange_service(ViewExchange *vx, struct Trainer *t, double now_s) {
    if (!vx || !t) return 0;
    Status st = ST_OK;
    if (vx->trainer_seen != (const void *)t || t->global_step < vx->step_seen) {
        /* A new run (restart): nothing captured so far belongs to it. */
        vx->trainer_seen = t;
        vx->film.film_len = 0;
        vx->film_epoch = -1;
        vx->samples_step = vx->filters_step = vx->eval_serial = -1;
    }
    if (t->global_step != vx->step_seen) {
        /* Edits apply before a step and this runs right after it: the config now is the one
         * that built the batch, even if it changes before the viewer asks. */
        vx->step_augment = t->cfg.data.augment;
        vx->step_seen = t->global_step;
    }
    const Param *stem = model_stem_weight(t->model);
    int stem_reshaped = stem && (stem->value.n != vx->film.film_out ||
                                 stem->value.c != vx->film.film_in ||
                                 stem->value.h != vx->film.film_k);
    if (t->epoch != vx->film_epoch || stem_reshaped) {
        st = download_filters(t, &vx->film);
        if (st == ST_OK) st = viewdata_film_push(&vx->film, t->epoch);
        if (st != ST_OK) return -1;
        vx->film_epoch = t->epoch;
    }

    pthread_mutex_lock(&vx->mu);
    unsigned want = vx->want;
    int due = want && now_s - vx->last_capture_s >= vx->min_interval_s;
    if (due) vx->want = 0;
    pthread_mutex_unlock(&vx->mu);
    if (!due) return 0;
    vx->last_capture_s = now_s;

    ViewData *w = vx->work;
    const ViewData *l = vx->latest;   /* written only on this thread: no lock needed to read */
    int take_samples = (want & VIEW_WANT_SAMPLES) && t->last_batch &&
                       vx->samples_step != t->global_step;
    int take_eval = (want & VIEW_WANT_EVAL) && t->last_eval.count > 0 &&
                    t->last_eval.count == t->data.test.count &&
                    vx->eval_serial != t->last_eval_serial;
    int take_filters = (want & VIEW_WANT_FILTERS) && vx->filters_step != t->global_step;
    int take_film = vx->film.film_id != l->film_id;
    int header_changed = !l->seq || l->global_step != t->global_step || l->epoch != t->epoch ||
                         l->test_acc != t->last_test_acc;
    if (!take_samples && !take_eval && !take_filters && !take_film && !header_changed) return 0;

    st = viewdata_copy(w, l);
    if (st == ST_OK) fill_header(w, t);
    if (st == ST_OK && take_samples)
        st = viewdata_capture_batch(w, t->last_batch, &t->data.train, &vx->step_augment,
                                    t->cfg.data.mean, t->cfg.data.std, t->global_step);
    if (st == ST_OK && take_eval) {
        const EvalResult *r = &t->last_eval;
        st = viewdata_capture_eval(w, r->num_classes, r->confusion, r->predicted, r->probability,
                                   &t->data.test, r->accuracy, r->loss, t->last_eval_step,
                                   t->last_eval_epoch);
    }
    if (st == ST_OK && take_filters) st = download_filters(t, w);
    if (st == ST_OK && take_film) st = copy_film(w, &vx->film);
    if (st != ST_OK) return -1;
    swap_in(vx);
    if (take_samples) vx->samples_step = t->global_step;
    if (take_eval) vx->eval_serial = t->last_eval_serial;
    if (take_filters) vx->filters_step = t->global_step;
    return 1;
}

Status view_exchange_publish(ViewExchange *vx, const ViewData *vd) {
    TRY(viewdata_copy(vx->work, vd));
    swap_in(vx);
    return ST_OK;
}
