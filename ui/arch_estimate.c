/* arch_estimate.c — the architecture estimator thread (see arch_estimate.h).
 *
 * One mutex guards the request and the result; the thread builds models without it held. */
#include "arch_estimate.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"

typedef struct ShapeName {
    char name[PARAM_NAME_LEN];
    int n, c, h, w;
} ShapeName;

struct ArchEstimator {
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    int quit;
    int pending;            /* a request waits */
    int have_request;       /* want/want_current hold the newest request */
    ModelConfig want, want_current;
    int want_classes, want_side;
    ArchEstimate result;
    /* thread-only: the current model's parameter names and shapes */
    ModelConfig cur_config;
    int cur_valid;
    ShapeName *cur;
    int cur_n;
};

static Status build(const ModelConfig *mc, int classes, int side, Backend *b, Model **m) {
    return model_build(mc, classes, side, b, 0, m);
}

static void remember_current(ArchEstimator *e, const ModelConfig *mc, int classes, int side,
                             Backend *b) {
    if (e->cur_valid && !memcmp(&e->cur_config, mc, sizeof *mc)) return;
    free(e->cur);
    e->cur = NULL;
    e->cur_n = 0;
    e->cur_valid = 0;
    Model *m;
    if (build(mc, classes, side, b, &m) != ST_OK) return;
    int n = model_param_count(m);
    e->cur = calloc((size_t)n + 1, sizeof *e->cur);
    if (e->cur) {
        for (int i = 0; i < n; i++) {
            const Param *p = model_param(m, i);
            memcpy(e->cur[i].name, p->name, PARAM_NAME_LEN);
            e->cur[i].n = p->value.n;
            e->cur[i].c = p->value.c;
            e->cur[i].h = p->value.h;
            e->cur[i].w = p->value.w;
        }
        e->cur_n = n;
        e->cur_config = *mc;
        e->cur_valid = 1;
    }
    model_destroy(m);
}

static void *estimator_main(void *arg) {
    ArchEstimator *e = arg;
    Backend b;
    int have_backend = backend_reference_create(&b) == ST_OK;
    for (;;) {
        pthread_mutex_lock(&e->mu);
        while (!e->pending && !e->quit) pthread_cond_wait(&e->cond, &e->mu);
        if (e->quit) { pthread_mutex_unlock(&e->mu); break; }
        ModelConfig mc = e->want, cur = e->want_current;
        int classes = e->want_classes, side = e->want_side;
        e->pending = 0;
        pthread_mutex_unlock(&e->mu);

        ArchEstimate r;
        memset(&r, 0, sizeof r);
        r.config = mc;
        r.ready = 1;
        if (!have_backend) {
            snprintf(r.message, sizeof r.message, "no backend to estimate with");
        } else {
            remember_current(e, &cur, classes, side, &b);
            Model *m;
            Status st = build(&mc, classes, side, &b, &m);
            if (st != ST_OK) {
                snprintf(r.message, sizeof r.message, "%s", status_message());
            } else {
                r.ok = 1;
                r.params = model_num_trainable(m);
                r.macs = model_total_macs(m);
                r.tensors = model_param_count(m);
                for (int i = 0; i < r.tensors; i++) {
                    const Param *p = model_param(m, i);
                    for (int k = 0; k < e->cur_n; k++) {
                        const ShapeName *s = &e->cur[k];
                        if (strcmp(s->name, p->name) != 0) continue;
                        r.carried += s->n == p->value.n && s->c == p->value.c &&
                                     s->h == p->value.h && s->w == p->value.w;
                        break;
                    }
                }
                model_destroy(m);
            }
        }
        pthread_mutex_lock(&e->mu);
        /* A newer request makes this result stale: keep "not ready" until it is done. */
        if (!e->pending) e->result = r;
        pthread_mutex_unlock(&e->mu);
    }
    if (have_backend) backend_destroy(&b);
    return NULL;
}

ArchEstimator *arch_estimator_create(void) {
    ArchEstimator *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    if (pthread_mutex_init(&e->mu, NULL) != 0) { free(e); return NULL; }
    if (pthread_cond_init(&e->cond, NULL) != 0) {
        pthread_mutex_destroy(&e->mu);
        free(e);
        return NULL;
    }
    if (pthread_create(&e->thread, NULL, estimator_main, e) != 0) {
        pthread_cond_destroy(&e->cond);
        pthread_mutex_destroy(&e->mu);
        free(e);
        return NULL;
    }
    e->started = 1;
    return e;
}

void arch_estimator_destroy(ArchEstimator *e) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    e->quit = 1;
    pthread_cond_signal(&e->cond);
    pthread_mutex_unlock(&e->mu);
    if (e->started) pthread_join(e->thread, NULL);
    pthread_cond_destroy(&e->cond);
    pthread_mutex_destroy(&e->mu);
    free(e->cur);
    free(e);
}

void arch_estimator_request(ArchEstimator *e, const ModelConfig *mc, const ModelConfig *current,
                            int num_classes, int in_side) {
    if (!e) return;
    pthread_mutex_lock(&e->mu);
    /* The same request again (every frame asks) is already queued, running or answered. */
    int same = e->have_request && !memcmp(&e->want, mc, sizeof *mc) &&
               !memcmp(&e->want_current, current, sizeof *current) &&
               e->want_classes == num_classes && e->want_side == in_side;
    if (!same) {
        e->want = *mc;
        e->want_current = *current;
        e->want_classes = num_classes;
        e->want_side = in_side;
        e->have_request = 1;
        e->pending = 1;
        e->result.ready = 0;
        pthread_cond_signal(&e->cond);
    }
    pthread_mutex_unlock(&e->mu);
}

void arch_estimator_result(ArchEstimator *e, ArchEstimate *out) {
    memset(out, 0, sizeof *out);
    if (!e) {
        snprintf(out->message, sizeof out->message, "estimator unavailable");
        return;
    }
    pthread_mutex_lock(&e->mu);
    *out = e->result;
    pthread_mutex_unlock(&e->mu);
}
