/* model.c — running a built Model: forward over the layer list in order, backward in reverse,
 * the buffers both need, and the parameter accessors, copy and teardown.
 *
 * Invariants: every op overwrites its output (backend.h), so a value with several consumers
 * gets its gradient written by the consumer that runs first in backward (the last one in
 * execution order) and accumulated by the others through the scratch buffer (the last of
 * them may leave its part there for the fused op that runs next, defer_sum). Fused layers
 * (model_build.c) run inside the batchnorm before them, forward and backward. Buffer shapes are
 * set before each use and tensor_alloc() is called every time: it is free when the capacity
 * suffices, grows a buffer once for a larger batch, and lets a backend pick its layout. Model
 * code never reads Tensor.data. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rng.h"

#define BN_MOMENTUM 0.1f
#define BN_EPS 1e-5f

/* Re-fail with the layer's name in front of the backend's message. */
static Status layer_fail(const Layer *l, const char *pass, Status st) {
    char msg[768];
    snprintf(msg, sizeof msg, "%s", status_message());
    return status_fail(st, "%s (%s): %s", l->name, pass, msg);
}

static Status shaped(Model *m, Tensor *t, int n, int c, int h, int w, DType dt) {
    tensor_shape(t, n, c, h, w, dt);
    return m->b->ops->tensor_alloc(m->b->ctx, t);
}

/* A pool buffer, flat as (n, values an image, 1, 1), reserved for the batch. Out of memory,
 * the backend's message names that flat shape; say what it holds, so "(1024, 8192, 1, 1)"
 * reads as a batch of 1024 and not as a layer. Short: the whole line must fit a log line. */
static Status reserve_pool(Model *m, Tensor *t, int n, long long per_image, const char *what) {
    Status st = shaped(m, t, n, (int)per_image, 1, 1, DT_F32);
    if (st != ST_ERR_OOM)
        return st;
    char msg[768];
    snprintf(msg, sizeof msg, "%s", status_message());
    return status_fail(st, "%s of a batch of %d: %s", what, n, msg);
}

static const Tensor *act(const Model *m, int v) {
    return v == 0 ? &m->x : &m->acts[m->values[v].act];
}

/* The gradient buffer of value v (not the input, not the logits), shaped for the batch. */
static Status grad_of(Model *m, int v, Tensor **out) {
    const Value *val = &m->values[v];
    Tensor *g = &m->grads[val->grad];
    TRY(shaped(m, g, m->last_n, val->c, val->h, val->w, DT_F32));
    *out = g;
    return ST_OK;
}

static Tensor *pvalue(Model *m, int i) { return i >= 0 ? &m->params[i].value : NULL; }
static Tensor *pgrad(Model *m, int i) { return i >= 0 ? &m->params[i].grad : NULL; }

/* ---------------------------------------------------------------------------------------------
 * forward */

static Status ensure_forward_buffers(Model *m, int n, int train) {
    /* Reserve each pool buffer for its largest user once, so per-layer reshapes never grow. */
    for (int a = 0; a < m->n_acts; a++)
        TRY(reserve_pool(m, &m->acts[a], n, m->act_numel[a], "activations"));
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        const Value *in = &m->values[l->in], *out = &m->values[l->out];
        if (l->kind == LK_DROPOUT && train)
            TRY(shaped(m, &l->mask, n, in->c, in->h, in->w, DT_U8));
        if (l->kind == LK_MAXPOOL)
            TRY(shaped(m, &l->idx, n, out->c, out->h, out->w, DT_I32));
    }
    return ST_OK;
}

/* The value a layer writes: a batchnorm fused with its relu (or with an add and a relu)
 * writes the relu's output. */
static int written_value(const Layer *l) {
    return l->fuse_relu ? l[1].out : l->fuse_add_relu ? l[2].out : l->out;
}

static Status layer_forward(Model *m, Layer *l, int train, uint64_t dropout_seed) {
    if (l->fused)
        return ST_OK;   /* the batchnorm it is fused into wrote its output */
    const BackendOps *o = m->b->ops;
    void *ctx = m->b->ctx;
    const Tensor *x = act(m, l->in);
    const Value *vo = &m->values[written_value(l)];
    Tensor *y = &m->acts[vo->act];
    if (y != x)
        TRY(shaped(m, y, m->x.n, vo->c, vo->h, vo->w, DT_F32));
    switch (l->kind) {
    case LK_CONV:
        return o->conv2d_forward(ctx, &l->conv, x, pvalue(m, l->p[0]), pvalue(m, l->p[1]), y);
    case LK_BN:
        if (l->fuse_add_relu && train)
            return o->batchnorm_add_relu_forward_train(
                ctx, x, act(m, l->residual), pvalue(m, l->p[0]), pvalue(m, l->p[1]),
                pvalue(m, l->p[2]), pvalue(m, l->p[3]), BN_MOMENTUM, BN_EPS, y, &l->save_mean,
                &l->save_invstd);
        if (l->fuse_add_relu)
            return o->batchnorm_add_relu_forward_infer(
                ctx, x, act(m, l->residual), pvalue(m, l->p[0]), pvalue(m, l->p[1]),
                pvalue(m, l->p[2]), pvalue(m, l->p[3]), BN_EPS, y);
        if (train)
            return (l->fuse_relu ? o->batchnorm_relu_forward_train : o->batchnorm_forward_train)(
                ctx, x, pvalue(m, l->p[0]), pvalue(m, l->p[1]), pvalue(m, l->p[2]),
                pvalue(m, l->p[3]), BN_MOMENTUM, BN_EPS, y, &l->save_mean, &l->save_invstd);
        return (l->fuse_relu ? o->batchnorm_relu_forward_infer : o->batchnorm_forward_infer)(
            ctx, x, pvalue(m, l->p[0]), pvalue(m, l->p[1]), pvalue(m, l->p[2]),
            pvalue(m, l->p[3]), BN_EPS, y);
    case LK_RELU:
        return o->relu_forward(ctx, x, y);
    case LK_MAXPOOL:
        return o->pool2d_forward(ctx, &l->pool, x, y, &l->idx);
    case LK_AVGPOOL:
        return o->pool2d_forward(ctx, &l->pool, x, y, NULL);
    case LK_DROPOUT:
        if (!train)
            return o->copy(ctx, y, x);
        return o->dropout_forward(ctx, l->drop_p, l->per_channel,
                                  rng_u64(dropout_seed, RNG_STREAM_DROPOUT,
                                          (uint64_t)l->drop_ordinal),
                                  x, y, &l->mask);
    case LK_ADD:
        return o->add(ctx, x, act(m, l->in2), y);
    case LK_PAD:
        return o->pad_channels_forward(ctx, l->stride, x, y);
    case LK_LINEAR:
        return o->linear_forward(ctx, x, pvalue(m, l->p[0]), pvalue(m, l->p[1]), y);
    }
    return status_fail(ST_ERR_ARG, "unknown layer kind %d", (int)l->kind);
}

Status model_forward(Model *m, const Tensor *x, int train, uint64_t dropout_seed,
                     const Tensor **logits) {
    if (!m || !x || !logits)
        return status_fail(ST_ERR_ARG, "model_forward: model, input or logits is NULL");
    *logits = NULL;
    if (x->dtype != DT_F32 || x->n < 1 || x->c != 3 || x->h != m->in_side ||
        x->w != m->in_side || !x->data)
        return status_fail(ST_ERR_ARG,
                           "model_forward: the input is (%d, %d, %d, %d)%s, the model expects an "
                           "allocated f32 batch (N, 3, %d, %d)",
                           x->n, x->c, x->h, x->w, x->data ? "" : " unallocated", m->in_side,
                           m->in_side);
    const int n = x->n;
    if (train)
        for (int i = 0; i < m->n_layers; i++) {
            const Layer *l = &m->layers[i];
            const Value *in = &m->values[l->in];
            if (l->kind == LK_BN && (long long)n * in->h * in->w < 2)
                return status_fail(ST_ERR_ARG,
                                   "model_forward: %s normalizes a %dx%d map over a batch of %d: "
                                   "training batch norm needs more than one value per channel; "
                                   "use a batch of 2 or more", l->name, in->h, in->w, n);
        }
    m->last_n = 0;
    m->have_input_grad = 0;
    m->x = *x;
    TRY(ensure_forward_buffers(m, n, train));
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        Status st = layer_forward(m, l, train, dropout_seed);
        if (st != ST_OK)
            return layer_fail(l, "forward", st);
    }
    m->last_n = n;
    m->last_train = train != 0;
    *logits = act(m, m->n_values - 1);
    return ST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * backward */

/* Where layer input `in` (accumulated when `accum`) receives its gradient: *dx is the tensor
 * the op writes (NULL when nobody needs it), *sum the tensor to add it into afterwards. */
static Status input_target(Model *m, int in, int accum, Tensor **dx, Tensor **sum) {
    Tensor *dest;
    *sum = NULL;
    if (in == 0) {
        dest = m->want_input_grad ? &m->input_grad : NULL;
    } else {
        TRY(grad_of(m, in, &dest));
    }
    if (dest && accum) {
        const Value *v = &m->values[in];
        TRY(shaped(m, &m->scratch, m->last_n, v->c, v->h, v->w, DT_F32));
        *dx = &m->scratch;
        *sum = dest;
    } else {
        *dx = dest;
    }
    return ST_OK;
}

/* An op that must write dx even when nobody needs it gets the scratch buffer. */
static Status must_write(Model *m, int in, Tensor **dx) {
    if (*dx)
        return ST_OK;
    const Value *v = &m->values[in];
    TRY(shaped(m, &m->scratch, m->last_n, v->c, v->h, v->w, DT_F32));
    *dx = &m->scratch;
    return ST_OK;
}

static Status add_backward_input(Model *m, int in, int accum, const Tensor *dy) {
    const BackendOps *o = m->b->ops;
    Tensor *dest;
    if (in == 0) {
        if (!m->want_input_grad)
            return ST_OK;
        dest = &m->input_grad;
    } else {
        TRY(grad_of(m, in, &dest));
    }
    if (dest == dy)
        return ST_OK;   /* the input shares the add's gradient buffer (plan_buffers) */
    return accum ? o->accumulate(m->b->ctx, dest, dy) : o->copy(m->b->ctx, dest, dy);
}

static Status layer_backward(Model *m, Layer *l, const Tensor *dy) {
    const BackendOps *o = m->b->ops;
    void *ctx = m->b->ctx;
    const Tensor *x = act(m, l->in);
    const Tensor *y = act(m, written_value(l));
    if (l->kind == LK_ADD) {
        TRY(add_backward_input(m, l->in, l->accum, dy));
        return add_backward_input(m, l->in2, l->accum2, dy);
    }
    Tensor *dx, *sum;
    TRY(input_target(m, l->in, l->accum, &dx, &sum));
    switch (l->kind) {
    case LK_CONV:
        TRY(o->conv2d_backward_filter(ctx, &l->conv, x, dy, pgrad(m, l->p[0]),
                                      pgrad(m, l->p[1])));
        if (dx)
            TRY(o->conv2d_backward_data(ctx, &l->conv, dy, pvalue(m, l->p[0]), dx));
        break;
    case LK_BN:
        TRY(must_write(m, l->in, &dx));
        if (l->fuse_add_relu) {   /* dy is the gradient at the relu's output y */
            Tensor *dr;
            TRY(grad_of(m, l->residual, &dr));
            TRY(o->batchnorm_add_relu_backward(ctx, x, y, dy, l->dy2_scratch ? &m->scratch : NULL,
                                               pvalue(m, l->p[0]), &l->save_mean,
                                               &l->save_invstd, dx, dr, pgrad(m, l->p[0]),
                                               pgrad(m, l->p[1])));
        } else if (l->fuse_relu)   /* dy is the gradient at the relu's output y */
            TRY(o->batchnorm_relu_backward(ctx, x, y, dy, pvalue(m, l->p[0]),
                                           pvalue(m, l->p[1]), &l->save_mean,
                                           &l->save_invstd, dx, pgrad(m, l->p[0]),
                                           pgrad(m, l->p[1])));
        else
            TRY(o->batchnorm_backward(ctx, x, dy, pvalue(m, l->p[0]), &l->save_mean,
                                      &l->save_invstd, dx, pgrad(m, l->p[0]), pgrad(m, l->p[1])));
        break;
    case LK_RELU:
        TRY(must_write(m, l->in, &dx));
        TRY(o->relu_backward(ctx, y, dy, dx));
        break;
    case LK_MAXPOOL:
        TRY(must_write(m, l->in, &dx));
        TRY(o->pool2d_backward(ctx, &l->pool, x, y, &l->idx, dy, dx));
        break;
    case LK_AVGPOOL:
        TRY(must_write(m, l->in, &dx));
        TRY(o->pool2d_backward(ctx, &l->pool, x, y, NULL, dy, dx));
        break;
    case LK_DROPOUT:
        TRY(must_write(m, l->in, &dx));
        TRY(o->dropout_backward(ctx, l->drop_p, &l->mask, dy, dx));
        break;
    case LK_PAD:
        TRY(must_write(m, l->in, &dx));
        TRY(o->pad_channels_backward(ctx, l->stride, dy, dx));
        break;
    case LK_LINEAR:
        TRY(o->linear_backward(ctx, x, pvalue(m, l->p[0]), dy, dx, pgrad(m, l->p[0]),
                               pgrad(m, l->p[1])));
        break;
    case LK_ADD:
        break;
    }
    if (sum && !l->defer_sum)   /* deferred: the fused op that runs next adds it (dy2) */
        TRY(o->accumulate(ctx, sum, dx));
    return ST_OK;
}

Status model_backward(Model *m, const Tensor *dlogits) {
    if (!m || !dlogits)
        return status_fail(ST_ERR_ARG, "model_backward: model or dlogits is NULL");
    if (m->last_n == 0 || !m->last_train)
        return status_fail(ST_ERR_ARG,
                           "model_backward: needs a successful train-mode model_forward first "
                           "(the last forward was %s)", m->last_n ? "in eval mode" : "missing");
    const int n = m->last_n;
    if (dlogits->dtype != DT_F32 || dlogits->n != n || dlogits->c != m->num_classes ||
        dlogits->h != 1 || dlogits->w != 1 || !dlogits->data)
        return status_fail(ST_ERR_ARG,
                           "model_backward: dlogits is (%d, %d, %d, %d), expected an allocated "
                           "f32 (%d, %d, 1, 1)", dlogits->n, dlogits->c, dlogits->h, dlogits->w,
                           n, m->num_classes);
    /* Reserve each pool buffer for its largest user once, so per-layer reshapes never grow. */
    for (int b = 0; b < m->n_grads; b++)
        TRY(reserve_pool(m, &m->grads[b], n, m->grad_numel[b], "gradients"));
    TRY(reserve_pool(m, &m->scratch, n, m->scratch_numel, "gradient scratch"));
    if (m->want_input_grad)
        TRY(shaped(m, &m->input_grad, n, 3, m->in_side, m->in_side, DT_F32));
    m->have_input_grad = 0;
    for (int i = m->n_layers - 1; i >= 0; i--) {
        Layer *l = &m->layers[i];
        if (l->fused)
            continue;   /* the batchnorm it is fused into runs its backward */
        const Tensor *dy;
        if (written_value(l) == m->n_values - 1) {
            dy = dlogits;
        } else {
            Tensor *g;
            TRY(grad_of(m, written_value(l), &g));
            dy = g;
        }
        Status st = layer_backward(m, l, dy);
        if (st != ST_OK)
            return layer_fail(l, "backward", st);
    }
    m->have_input_grad = m->want_input_grad;
    return ST_OK;
}

void model_set_input_grad(Model *m, int on) {
    if (!m)
        return;
    m->want_input_grad = on != 0;
    m->have_input_grad = 0;
}

const Tensor *model_input_grad(const Model *m) {
    return m && m->have_input_grad ? &m->input_grad : NULL;
}

/* ---------------------------------------------------------------------------------------------
 * accessors */

int model_param_count(const Model *m) { return m ? m->n_params : 0; }

Param *model_param(Model *m, int i) {
    return m && i >= 0 && i < m->n_params ? &m->params[i] : NULL;
}

Param *model_find_param(Model *m, const char *name) {
    if (!m || !name)
        return NULL;
    for (int i = 0; i < m->n_params; i++)
        if (strcmp(m->params[i].name, name) == 0)
            return &m->params[i];
    return NULL;
}

long long model_num_trainable(const Model *m) {
    long long n = 0;
    if (!m)
        return 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind != PARAM_BUFFER)
            n += (long long)tensor_numel(&m->params[i].value);
    return n;
}

void model_training_bytes(const Model *m, long long *per_image, long long *fixed) {
    long long img = (long long)3 * m->in_side * m->in_side * 4;   /* the input batch */
    for (int a = 0; a < m->n_acts; a++)
        img += m->act_numel[a] * 4;
    for (int g = 0; g < m->n_grads; g++)
        img += m->grad_numel[g] * 4;
    img += m->scratch_numel * 4;
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        const Value *in = &m->values[l->in], *out = &m->values[l->out];
        if (l->kind == LK_DROPOUT)
            img += (long long)in->c * in->h * in->w;
        if (l->kind == LK_MAXPOOL)
            img += (long long)out->c * out->h * out->w * 4;
    }
    long long par = 0;
    for (int i = 0; i < m->n_params; i++) {
        const long long bytes = (long long)tensor_numel(&m->params[i].value) * 4;
        par += m->params[i].kind == PARAM_BUFFER ? bytes : 3 * bytes;   /* value, grad, momentum */
    }
    *per_image = img;
    *fixed = par;
}

int model_layers(const Model *m, const LayerInfo **rows) {
    if (rows)
        *rows = m ? m->rows : NULL;
    return m ? m->n_rows : 0;
}

long long model_total_macs(const Model *m) { return m ? m->total_macs : 0; }
int model_input_side(const Model *m) { return m ? m->in_side : 0; }
int model_num_classes(const Model *m) { return m ? m->num_classes : 0; }
const ModelConfig *model_expanded_config(const Model *m) { return m ? &m->cfg : NULL; }

const Param *model_stem_weight(const Model *m) {
    if (!m || m->n_layers == 0 || m->layers[0].kind != LK_CONV)
        return NULL;
    return &m->params[m->layers[0].p[0]];
}

/* ---------------------------------------------------------------------------------------------
 * copy, release, destroy */

Status model_copy_matching(Model *dst, Model *src, int *copied) {
    if (copied)
        *copied = 0;
    if (!dst || !src)
        return status_fail(ST_ERR_ARG, "model_copy_matching: a model is NULL");
    int count = 0;
    float *host = NULL;
    size_t host_cap = 0;
    Status st = ST_OK;
    for (int i = 0; i < dst->n_params && st == ST_OK; i++) {
        Param *d = &dst->params[i];
        const Param *s = model_find_param(src, d->name);
        if (!s || s->value.n != d->value.n || s->value.c != d->value.c ||
            s->value.h != d->value.h || s->value.w != d->value.w)
            continue;
        size_t bytes = tensor_bytes(&d->value);
        if (bytes > host_cap) {
            float *p = realloc(host, bytes);
            if (!p) {
                st = status_fail(ST_ERR_OOM, "model_copy_matching: out of host memory for %s",
                                 d->name);
                break;
            }
            host = p;
            host_cap = bytes;
        }
        st = src->b->ops->download(src->b->ctx, &s->value, host);
        if (st == ST_OK)
            st = dst->b->ops->upload(dst->b->ctx, &d->value, host);
        if (st == ST_OK)
            count++;
    }
    free(host);
    if (copied)
        *copied = count;
    return st;
}

void model_release_activations(Model *m) {
    if (!m)
        return;
    const BackendOps *o = m->b->ops;
    void *ctx = m->b->ctx;
    for (int a = 0; m->acts && a < m->n_acts; a++)
        o->tensor_free(ctx, &m->acts[a]);
    for (int b = 0; m->grads && b < m->n_grads; b++)
        o->tensor_free(ctx, &m->grads[b]);
    o->tensor_free(ctx, &m->scratch);
    o->tensor_free(ctx, &m->input_grad);
    for (int i = 0; i < m->n_layers; i++) {
        o->tensor_free(ctx, &m->layers[i].mask);
        o->tensor_free(ctx, &m->layers[i].idx);
    }
    m->last_n = 0;
    m->have_input_grad = 0;
}

void model_destroy(Model *m) {
    if (!m)
        return;
    const BackendOps *o = m->b->ops;
    void *ctx = m->b->ctx;
    model_release_activations(m);
    for (int i = 0; i < m->n_layers; i++) {
        Layer *l = &m->layers[i];
        o->tensor_free(ctx, &l->save_mean);
        o->tensor_free(ctx, &l->save_invstd);
        if (o->plan_free) {
            o->plan_free(ctx, l->conv.plan);
            o->plan_free(ctx, l->pool.plan);
        }
    }
    for (int i = 0; i < m->n_params; i++) {
        o->tensor_free(ctx, &m->params[i].value);
        o->tensor_free(ctx, &m->params[i].grad);
        o->tensor_free(ctx, &m->params[i].momentum);
    }
    free(m->params);
    free(m->layers);
    free(m->values);
    free(m->acts);
    free(m->act_numel);
    free(m->grads);
    free(m->grad_numel);
    free(m->rows);
    free(m);
}
