/* model_build.c — from a ModelConfig to a ready Model: family expansion and validation, the
 * layer list of stem -> stages of blocks -> head, parameter creation with PyTorch-equivalent
 * initialization, and the buffer plan (which activations run ReLU in place, which values share
 * a gradient buffer, which gradients must be accumulated).
 *
 * Layers are appended in execution order; a block's main path comes before its shortcut, so
 * parameters are created in the order a PyTorch module registering conv1, bn1, conv2, bn2,
 * shortcut (or bn1, conv1, bn2, conv2, shortcut for pre-activation) lists its state_dict.
 * Init counters are (parameter index << 40) + element index, so a network is the same on every
 * backend and for every thread count. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"
#include "rng.h"

#define MAX_SIDE 65536

/* ---------------------------------------------------------------------------------------------
 * family expansion */

static Status expand_family(const ModelConfig *mc, ModelConfig *e) {
    *e = *mc;
    switch (mc->family) {
    case FAMILY_WRN: {
        if (mc->depth < 10 || (mc->depth - 4) % 6 != 0)
            return status_fail(ST_ERR_CONFIG,
                               "model.depth: a wrn has depth 6n+4 (10, 16, 22, 28, 34, 40, ...), "
                               "got %d; WRN-28-10 is depth 28, width 10", mc->depth);
        if (mc->width < 1 || mc->width > 64)
            return status_fail(ST_ERR_CONFIG,
                               "model.width: the wrn widening factor must be 1..64, got %d",
                               mc->width);
        int n = (mc->depth - 4) / 6, k = mc->width;
        e->block = BLOCK_PREACT;
        e->conv_bias = 0;
        e->stem_width = 16;
        e->stem_kernel = 3;
        e->stem_stride = 1;
        e->stem_maxpool = 0;
        e->stem_dropout2d = 0.0f;
        e->relu_after_add = 0;
        e->head = HEAD_AVG;
        e->num_stages = 3;
        e->stages[0] = (StageConfig){n, 16 * k, 1};
        e->stages[1] = (StageConfig){n, 32 * k, 2};
        e->stages[2] = (StageConfig){n, 64 * k, 2};
        break;
    }
    case FAMILY_RESNET_CIFAR: {
        if (mc->depth < 8 || (mc->depth - 2) % 6 != 0)
            return status_fail(ST_ERR_CONFIG,
                               "model.depth: a resnet_cifar has depth 6n+2 (8, 14, 20, 26, 32, 44, "
                               "56, 110, ...), got %d", mc->depth);
        int n = (mc->depth - 2) / 6;
        e->block = BLOCK_BASIC;
        e->conv_bias = 0;
        e->stem_width = 16;
        e->stem_kernel = 3;
        e->stem_stride = 1;
        e->stem_maxpool = 0;
        e->stem_dropout2d = 0.0f;
        e->relu_after_add = 1;
        e->head = HEAD_AVG;
        e->dropout = 0.0f;
        e->num_stages = 3;
        e->stages[0] = (StageConfig){n, 16, 1};
        e->stages[1] = (StageConfig){n, 32, 2};
        e->stages[2] = (StageConfig){n, 64, 2};
        break;
    }
    case FAMILY_RESNET: {
        static const int b18[4] = {2, 2, 2, 2}, b34[4] = {3, 4, 6, 3};
        const int *nb;
        if (mc->depth == 18)
            nb = b18;
        else if (mc->depth == 34)
            nb = b34;
        else
            return status_fail(ST_ERR_CONFIG,
                               "model.depth: the resnet family (ImageNet layout, basic blocks) has "
                               "depth 18 or 34, got %d", mc->depth);
        e->block = BLOCK_BASIC;
        e->stem_width = 64;
        e->stem_kernel = 7;
        e->stem_stride = 2;
        e->stem_maxpool = 1;
        e->stem_dropout2d = 0.0f;
        e->relu_after_add = 1;
        e->head = HEAD_AVG;
        e->dropout = 0.0f;
        e->shortcut = SHORTCUT_CONV1X1;
        e->num_stages = 4;
        for (int i = 0; i < 4; i++)
            e->stages[i] = (StageConfig){nb[i], 64 << i, i == 0 ? 1 : 2};
        break;
    }
    case FAMILY_CUSTOM:
        e->dropout = 0.0f;
        break;
    default:
        return status_fail(ST_ERR_CONFIG,
                           "model.family: unknown family %d (use wrn, resnet_cifar, resnet or "
                           "custom)", (int)mc->family);
    }
    e->family = FAMILY_CUSTOM;
    return ST_OK;
}

static Status validate_expanded(const ModelConfig *e) {
    if (e->block != BLOCK_BASIC && e->block != BLOCK_PREACT)
        return status_fail(ST_ERR_CONFIG, "model.block: unknown block %d (use basic or preact)",
                           (int)e->block);
    if (e->shortcut != SHORTCUT_CONV1X1 && e->shortcut != SHORTCUT_CONV3X3 &&
        e->shortcut != SHORTCUT_IDENTITY_PAD)
        return status_fail(ST_ERR_CONFIG,
                           "model.shortcut: unknown shortcut %d (use conv1x1, conv3x3 or "
                           "identity_pad)", (int)e->shortcut);
    if (e->head != HEAD_AVG && e->head != HEAD_MAX4)
        return status_fail(ST_ERR_CONFIG, "model.head: unknown head %d (use avg or max4)",
                           (int)e->head);
    if (e->stem_width < 1 || e->stem_width > 65536)
        return status_fail(ST_ERR_CONFIG, "model.stem_width: must be 1..65536, got %d",
                           e->stem_width);
    if (e->stem_kernel < 1 || e->stem_kernel > 15)
        return status_fail(ST_ERR_CONFIG, "model.stem_kernel: must be 1..15, got %d",
                           e->stem_kernel);
    if (e->stem_stride < 1 || e->stem_stride > 8)
        return status_fail(ST_ERR_CONFIG, "model.stem_stride: must be 1..8, got %d",
                           e->stem_stride);
    if (!(e->stem_dropout2d >= 0.0f && e->stem_dropout2d < 1.0f))
        return status_fail(ST_ERR_CONFIG, "model.stem_dropout2d: must be in [0, 1), got %g",
                           (double)e->stem_dropout2d);
    if (!(e->dropout >= 0.0f && e->dropout < 1.0f))
        return status_fail(ST_ERR_CONFIG, "model.dropout: must be in [0, 1), got %g",
                           (double)e->dropout);
    if (e->num_stages < 1 || e->num_stages > CONFIG_MAX_STAGES)
        return status_fail(ST_ERR_CONFIG, "model.stages: need 1 to %d stages, got %d",
                           CONFIG_MAX_STAGES, e->num_stages);
    for (int i = 0; i < e->num_stages; i++) {
        const StageConfig *s = &e->stages[i];
        if (s->blocks < 1 || s->blocks > 1000)
            return status_fail(ST_ERR_CONFIG, "model.stages[%d].blocks: must be 1..1000, got %d",
                               i, s->blocks);
        if (s->width < 1 || s->width > 65536)
            return status_fail(ST_ERR_CONFIG, "model.stages[%d].width: must be 1..65536, got %d",
                               i, s->width);
        if (s->stride < 1 || s->stride > 8)
            return status_fail(ST_ERR_CONFIG, "model.stages[%d].stride: must be 1..8, got %d", i,
                               s->stride);
    }
    return ST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * growing arrays */

static Status grow(void **arr, int *cap, int need, size_t elem) {
    if (need <= *cap)
        return ST_OK;
    int nc = *cap ? *cap * 2 : 32;
    while (nc < need)
        nc *= 2;
    void *p = realloc(*arr, (size_t)nc * elem);
    if (!p)
        return status_fail(ST_ERR_OOM, "model_build: out of host memory for %d entries", nc);
    memset((char *)p + (size_t)*cap * elem, 0, (size_t)(nc - *cap) * elem);
    *arr = p;
    *cap = nc;
    return ST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * builder */

typedef enum InitKind { INIT_CONST = 0, INIT_NORMAL, INIT_UNIFORM } InitKind;

typedef struct Builder {
    Model *m;
    unsigned long long seed;
    int stage, block;          /* group of the layers being added */
    char prefix[48];           /* "stem", "stages.1.0", "head" */
    char key[48];              /* config key blamed when a feature map vanishes */
} Builder;

static Status add_value(Model *m, int c, int h, int w, int producer, int *out) {
    TRY(grow((void **)&m->values, &m->cap_values, m->n_values + 1, sizeof(Value)));
    Value *v = &m->values[m->n_values];
    *v = (Value){.c = c, .h = h, .w = w, .producer = producer, .last_consumer = -1, .act = -1,
                 .grad = -1};
    *out = m->n_values++;
    return ST_OK;
}

static Status add_param(Builder *bd, const char *layer, const char *suffix, ParamKind kind,
                        int n, int c, int h, int w, InitKind init, float a, int *out) {
    Model *m = bd->m;
    const BackendOps *o = m->b->ops;
    TRY(grow((void **)&m->params, &m->cap_params, m->n_params + 1, sizeof(Param)));
    int idx = m->n_params;
    Param *p = &m->params[idx];
    memset(p, 0, sizeof *p);
    int len = snprintf(p->name, sizeof p->name, "%s.%s", layer, suffix);
    if (len < 0 || (size_t)len >= sizeof p->name)
        return status_fail(ST_ERR_CONFIG, "model: parameter name %s.%s is too long", layer,
                           suffix);
    p->kind = kind;
    tensor_shape(&p->value, n, c, h, w, DT_F32);
    tensor_shape(&p->grad, n, c, h, w, DT_F32);
    tensor_shape(&p->momentum, n, c, h, w, DT_F32);
    m->n_params++;   /* counted now so model_destroy frees whatever gets allocated below */

    size_t numel = tensor_numel(&p->value);
    float *host = malloc((numel ? numel : 1) * sizeof *host);
    if (!host)
        return status_fail(ST_ERR_OOM, "model_build: out of host memory initializing %s",
                           p->name);
    const uint64_t base = (uint64_t)idx << 40;
    for (size_t i = 0; i < numel; i++) {
        switch (init) {
        case INIT_CONST:
            host[i] = a;
            break;
        case INIT_NORMAL:
            host[i] = a * rng_normal(bd->seed, RNG_STREAM_INIT, base + i);
            break;
        case INIT_UNIFORM:
            host[i] = a * (2.0f * rng_uniform(bd->seed, RNG_STREAM_INIT, base + i) - 1.0f);
            break;
        }
    }
    Status st = o->tensor_alloc(m->b->ctx, &p->value);
    if (st == ST_OK)
        st = o->upload(m->b->ctx, &p->value, host);
    free(host);
    TRY(st);
    if (kind != PARAM_BUFFER) {
        TRY(o->tensor_alloc(m->b->ctx, &p->grad));
        TRY(o->fill(m->b->ctx, &p->grad, 0.0f));
    }
    *out = idx;
    return ST_OK;
}

/* A new layer named prefix.suffix consuming `in` (and `in2`), in the current group. */
static Status new_layer(Builder *bd, LayerKind kind, const char *suffix, int in, int in2,
                        int *out) {
    Model *m = bd->m;
    TRY(grow((void **)&m->layers, &m->cap_layers, m->n_layers + 1, sizeof(Layer)));
    Layer *l = &m->layers[m->n_layers];
    memset(l, 0, sizeof *l);
    l->kind = kind;
    int len = snprintf(l->name, sizeof l->name, "%s.%s", bd->prefix, suffix);
    if (len < 0 || (size_t)len >= sizeof l->name)
        return status_fail(ST_ERR_CONFIG, "model: layer name %s.%s is too long", bd->prefix,
                           suffix);
    l->in = in;
    l->in2 = in2;
    l->out = -1;
    for (int i = 0; i < 4; i++)
        l->p[i] = -1;
    l->stage = bd->stage;
    l->block = bd->block;
    tensor_shape(&l->save_mean, 0, 0, 0, 0, DT_F32);
    tensor_shape(&l->save_invstd, 0, 0, 0, 0, DT_F32);
    tensor_shape(&l->mask, 0, 0, 0, 0, DT_U8);
    tensor_shape(&l->idx, 0, 0, 0, 0, DT_I32);
    *out = m->n_layers++;
    return ST_OK;
}

static Status finish_layer(Builder *bd, int li, int c, int h, int w, int *out) {
    int v;
    TRY(add_value(bd->m, c, h, w, li, &v));
    bd->m->layers[li].out = v;
    *out = v;
    return ST_OK;
}

static Status vanished(Builder *bd, const char *what, int h_in, int h_out) {
    return status_fail(ST_ERR_CONFIG,
                       "%s: the %dx%d feature map entering %s would shrink to %dx%d (input %dx%d); "
                       "use a larger input, a smaller stride there or fewer stride-2 stages",
                       bd->key, h_in, h_in, what, h_out < 0 ? 0 : h_out, h_out < 0 ? 0 : h_out,
                       bd->m->in_side, bd->m->in_side);
}

static Status add_conv(Builder *bd, const char *suffix, int in, int cout, int k, int stride,
                       int pad, int *out) {
    Model *m = bd->m;
    const Value *vi = &m->values[in];
    int cin = vi->c, h = vi->h, w = vi->w;
    int ho = h + 2 * pad < k ? 0 : conv_out_size(h, k, stride, pad);
    int wo = w + 2 * pad < k ? 0 : conv_out_size(w, k, stride, pad);
    int li = -1;
    TRY(new_layer(bd, LK_CONV, suffix, in, -1, &li));
    if (ho < 1 || wo < 1)
        return vanished(bd, m->layers[li].name, h, ho);
    const int bias = m->cfg.conv_bias != 0;
    m->layers[li].conv = (ConvDesc){.c_in = cin, .c_out = cout, .kh = k, .kw = k,
                                    .stride = stride, .pad = pad, .has_bias = bias,
                                    .plan = NULL};
    char lname[PARAM_NAME_LEN];
    snprintf(lname, sizeof lname, "%s", m->layers[li].name);
    int pw, pb = -1;
    /* Kaiming normal, mode fan_out, gain sqrt(2) (torch.nn.init.kaiming_normal_). */
    float std = sqrtf(2.0f / (float)(cout * k * k));
    TRY(add_param(bd, lname, "weight", PARAM_WEIGHT, cout, cin, k, k, INIT_NORMAL, std, &pw));
    if (bias) {
        /* nn.Conv2d's default bias init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
        float bound = 1.0f / sqrtf((float)(cin * k * k));
        TRY(add_param(bd, lname, "bias", PARAM_BIAS, 1, cout, 1, 1, INIT_UNIFORM, bound, &pb));
    }
    m->layers[li].p[0] = pw;
    m->layers[li].p[1] = pb;
    return finish_layer(bd, li, cout, ho, wo, out);
}

static Status add_bn(Builder *bd, const char *suffix, int in, int *out) {
    Model *m = bd->m;
    Value vi = m->values[in];
    int li = -1;
    TRY(new_layer(bd, LK_BN, suffix, in, -1, &li));
    char lname[PARAM_NAME_LEN];
    snprintf(lname, sizeof lname, "%s", m->layers[li].name);
    int p[4];
    TRY(add_param(bd, lname, "weight", PARAM_WEIGHT, 1, vi.c, 1, 1, INIT_CONST, 1.0f, &p[0]));
    TRY(add_param(bd, lname, "bias", PARAM_BIAS, 1, vi.c, 1, 1, INIT_CONST, 0.0f, &p[1]));
    TRY(add_param(bd, lname, "running_mean", PARAM_BUFFER, 1, vi.c, 1, 1, INIT_CONST, 0.0f,
                  &p[2]));
    TRY(add_param(bd, lname, "running_var", PARAM_BUFFER, 1, vi.c, 1, 1, INIT_CONST, 1.0f,
                  &p[3]));
    Layer *l = &m->layers[li];
    memcpy(l->p, p, sizeof p);
    tensor_shape(&l->save_mean, 1, vi.c, 1, 1, DT_F32);
    tensor_shape(&l->save_invstd, 1, vi.c, 1, 1, DT_F32);
    TRY(m->b->ops->tensor_alloc(m->b->ctx, &l->save_mean));
    TRY(m->b->ops->tensor_alloc(m->b->ctx, &l->save_invstd));
    return finish_layer(bd, li, vi.c, vi.h, vi.w, out);
}

static Status add_relu(Builder *bd, const char *suffix, int in, int *out) {
    Value vi = bd->m->values[in];
    int li = -1;
    TRY(new_layer(bd, LK_RELU, suffix, in, -1, &li));
    return finish_layer(bd, li, vi.c, vi.h, vi.w, out);
}

static Status add_pool(Builder *bd, const char *suffix, PoolKind kind, int k, int stride,
                       int pad, int in, int *out) {
    Model *m = bd->m;
    Value vi = m->values[in];
    int ho = vi.h + 2 * pad < k ? 0 : conv_out_size(vi.h, k, stride, pad);
    int wo = vi.w + 2 * pad < k ? 0 : conv_out_size(vi.w, k, stride, pad);
    int li = -1;
    TRY(new_layer(bd, kind == POOL_MAX ? LK_MAXPOOL : LK_AVGPOOL, suffix, in, -1, &li));
    if (ho < 1 || wo < 1)
        return vanished(bd, m->layers[li].name, vi.h, ho);
    m->layers[li].pool = (PoolDesc){.kind = kind, .k = k, .stride = stride, .pad = pad,
                                    .plan = NULL};
    return finish_layer(bd, li, vi.c, ho, wo, out);
}

static Status add_dropout(Builder *bd, const char *suffix, float p, int per_channel, int in,
                          int *out) {
    Value vi = bd->m->values[in];
    int li = -1;
    TRY(new_layer(bd, LK_DROPOUT, suffix, in, -1, &li));
    Layer *l = &bd->m->layers[li];
    l->drop_p = p;
    l->per_channel = per_channel;
    l->drop_ordinal = bd->m->n_dropout++;
    return finish_layer(bd, li, vi.c, vi.h, vi.w, out);
}

static Status add_add(Builder *bd, const char *suffix, int a, int b, int *out) {
    Model *m = bd->m;
    Value va = m->values[a], vb = m->values[b];
    int li = -1;
    TRY(new_layer(bd, LK_ADD, suffix, a, b, &li));
    if (va.c != vb.c || va.h != vb.h || va.w != vb.w)
        return status_fail(ST_ERR_CONFIG,
                           "%s: %s adds a %dx%dx%d main path to a %dx%dx%d shortcut; the shapes "
                           "must agree (check the stem kernel and the stage strides)",
                           bd->key, m->layers[li].name, va.c, va.h, va.w, vb.c, vb.h, vb.w);
    return finish_layer(bd, li, va.c, va.h, va.w, out);
}

static Status add_pad(Builder *bd, const char *suffix, int cout, int stride, int in, int *out) {
    Value vi = bd->m->values[in];
    int li = -1;
    TRY(new_layer(bd, LK_PAD, suffix, in, -1, &li));
    bd->m->layers[li].stride = stride;
    return finish_layer(bd, li, cout, (vi.h + stride - 1) / stride, (vi.w + stride - 1) / stride,
                        out);
}

static Status add_linear(Builder *bd, const char *suffix, int nout, int in, int *out) {
    Model *m = bd->m;
    Value vi = m->values[in];
    int k = vi.c * vi.h * vi.w;
    int li = -1;
    TRY(new_layer(bd, LK_LINEAR, suffix, in, -1, &li));
    char lname[PARAM_NAME_LEN];
    snprintf(lname, sizeof lname, "%s", m->layers[li].name);
    /* nn.Linear's defaults: kaiming_uniform(a=sqrt(5)) is U(+-1/sqrt(in)); the bias too. */
    float bound = 1.0f / sqrtf((float)k);
    int pw, pb;
    TRY(add_param(bd, lname, "weight", PARAM_WEIGHT, nout, k, 1, 1, INIT_UNIFORM, bound, &pw));
    TRY(add_param(bd, lname, "bias", PARAM_BIAS, 1, nout, 1, 1, INIT_UNIFORM, bound, &pb));
    m->layers[li].p[0] = pw;
    m->layers[li].p[1] = pb;
    return finish_layer(bd, li, nout, 1, 1, out);
}

/* ---------------------------------------------------------------------------------------------
 * blocks, stem, head */

static Status build_shortcut(Builder *bd, int x, int pre, int cout, int stride, int *out) {
    const ModelConfig *e = &bd->m->cfg;
    const Value vx = bd->m->values[x];
    int v;
    switch (e->shortcut) {
    case SHORTCUT_CONV1X1:
        if (e->block == BLOCK_BASIC) {
            TRY(add_conv(bd, "shortcut.conv", x, cout, 1, stride, 0, &v));
            return add_bn(bd, "shortcut.bn", v, out);
        }
        /* WRN paper / reference code: the 1x1 conv sees the block's pre-activated input. */
        return add_conv(bd, "shortcut.conv", pre, cout, 1, stride, 0, out);
    case SHORTCUT_CONV3X3:
        if (e->block == BLOCK_BASIC) {
            TRY(add_conv(bd, "shortcut.conv", x, cout, 3, stride, 1, &v));
            return add_bn(bd, "shortcut.bn", v, out);
        }
        /* WRN tutorial: its own BN-ReLU-conv3x3 on the raw block input. */
        TRY(add_bn(bd, "shortcut.bn", x, &v));
        TRY(add_relu(bd, "shortcut.relu", v, &v));
        return add_conv(bd, "shortcut.conv", v, cout, 3, stride, 1, out);
    case SHORTCUT_IDENTITY_PAD:
        if (cout < vx.c || (cout - vx.c) % 2 != 0)
            return status_fail(ST_ERR_CONFIG,
                               "%s: the identity_pad shortcut zero-pads %d channels to %d, which "
                               "needs an even, non-negative difference; change the width or use "
                               "shortcut: conv1x1", bd->key, vx.c, cout);
        return add_pad(bd, "shortcut.pad", cout, stride, x, out);
    }
    return status_fail(ST_ERR_CONFIG, "model.shortcut: unknown shortcut %d", (int)e->shortcut);
}

static Status build_block(Builder *bd, int x, int cout, int stride, int *out) {
    const ModelConfig *e = &bd->m->cfg;
    const int cin = bd->m->values[x].c;
    const int changes = cin != cout || stride != 1;
    int h, pre = -1, sc = x;
    if (e->block == BLOCK_BASIC) {
        TRY(add_conv(bd, "conv1", x, cout, 3, stride, 1, &h));
        TRY(add_bn(bd, "bn1", h, &h));
        TRY(add_relu(bd, "relu1", h, &h));
        if (e->dropout > 0.0f)
            TRY(add_dropout(bd, "dropout", e->dropout, 0, h, &h));
        TRY(add_conv(bd, "conv2", h, cout, 3, 1, 1, &h));
        TRY(add_bn(bd, "bn2", h, &h));
    } else {
        TRY(add_bn(bd, "bn1", x, &h));
        TRY(add_relu(bd, "relu1", h, &pre));
        TRY(add_conv(bd, "conv1", pre, cout, 3, stride, 1, &h));
        if (e->dropout > 0.0f)
            TRY(add_dropout(bd, "dropout", e->dropout, 0, h, &h));
        TRY(add_bn(bd, "bn2", h, &h));
        TRY(add_relu(bd, "relu2", h, &h));
        TRY(add_conv(bd, "conv2", h, cout, 3, 1, 1, &h));
    }
    if (changes)
        TRY(build_shortcut(bd, x, pre, cout, stride, &sc));
    TRY(add_add(bd, "add", h, sc, &h));
    if (e->block == BLOCK_BASIC && e->relu_after_add)
        TRY(add_relu(bd, "relu", h, &h));
    *out = h;
    return ST_OK;
}

static Status build_layers(Builder *bd) {
    Model *m = bd->m;
    const ModelConfig *e = &m->cfg;
    int v;
    TRY(add_value(m, 3, m->in_side, m->in_side, -1, &v));

    bd->stage = -1;
    bd->block = -1;
    snprintf(bd->prefix, sizeof bd->prefix, "stem");
    snprintf(bd->key, sizeof bd->key, "model.stem_kernel");
    TRY(add_conv(bd, "conv", v, e->stem_width, e->stem_kernel, e->stem_stride,
                 e->stem_kernel / 2, &v));
    if (e->block == BLOCK_BASIC) {
        TRY(add_bn(bd, "bn", v, &v));
        TRY(add_relu(bd, "relu", v, &v));
    }
    if (e->stem_maxpool) {
        snprintf(bd->key, sizeof bd->key, "model.stem_maxpool");
        TRY(add_pool(bd, "maxpool", POOL_MAX, 3, 2, 1, v, &v));
    }
    if (e->stem_dropout2d > 0.0f)
        TRY(add_dropout(bd, "dropout2d", e->stem_dropout2d, 1, v, &v));

    for (int i = 0; i < e->num_stages; i++) {
        const StageConfig *s = &e->stages[i];
        bd->stage = i;
        for (int j = 0; j < s->blocks; j++) {
            bd->block = j;
            snprintf(bd->prefix, sizeof bd->prefix, "stages.%d.%d", i, j);
            snprintf(bd->key, sizeof bd->key, "model.stages[%d]%s", i, j == 0 ? ".stride" : "");
            TRY(build_block(bd, v, s->width, j == 0 ? s->stride : 1, &v));
        }
    }

    bd->stage = -2;
    bd->block = -1;
    snprintf(bd->prefix, sizeof bd->prefix, "head");
    snprintf(bd->key, sizeof bd->key, "model.head");
    if (e->block == BLOCK_PREACT) {
        TRY(add_bn(bd, "bn", v, &v));
        TRY(add_relu(bd, "relu", v, &v));
    }
    const Value vh = m->values[v];
    if (e->head == HEAD_AVG) {
        TRY(add_pool(bd, "pool", POOL_AVG, vh.h, 1, 0, v, &v));
    } else {
        if (vh.h < 4 || vh.w < 4)
            return status_fail(ST_ERR_CONFIG,
                               "model.head: max4 pools 4x4 windows but the last stage gives a "
                               "%dx%d feature map (input %d); use head: avg, a larger input or "
                               "fewer stride-2 stages", vh.h, vh.w, m->in_side);
        TRY(add_pool(bd, "pool", POOL_MAX, 4, 1, 0, v, &v));
    }
    return add_linear(bd, "fc", m->num_classes, v, &v);
}

/* ---------------------------------------------------------------------------------------------
 * buffer plan */

/* Does layer l's backward read its input / its output activation? */
static int backward_reads_input(LayerKind k) {
    return k == LK_CONV || k == LK_BN || k == LK_MAXPOOL || k == LK_AVGPOOL || k == LK_LINEAR;
}
static int backward_reads_output(LayerKind k) {
    return k == LK_RELU || k == LK_MAXPOOL || k == LK_AVGPOOL;
}

/* Interval sharing: item i (in `order`, sorted by start) is live over [start, end] and needs
 * size[i] elements per image. A buffer is reused only by an item that starts strictly after
 * the buffer's last item ended, so a layer never reads and writes the same buffer. Prefers the
 * smallest free buffer that fits, else grows the largest free one. Writes buf[i]; returns the
 * buffer count and each buffer's size in bsize (capacity n). */
static int share_intervals(int n, const int *order, const int *start, const int *end,
                           const long long *size, int *buf, int *busy, long long *bsize) {
    int nb = 0;
    for (int k = 0; k < n; k++) {
        const int i = order[k];
        int best = -1;
        for (int b = 0; b < nb; b++) {
            if (busy[b] >= start[i])
                continue;
            if (best < 0 ||
                (bsize[b] >= size[i] && (bsize[best] < size[i] || bsize[b] < bsize[best])) ||
                (bsize[b] < size[i] && bsize[best] < size[i] && bsize[b] > bsize[best]))
                best = b;
        }
        if (best < 0) {
            best = nb++;
            bsize[best] = 0;
        }
        if (bsize[best] < size[i])
            bsize[best] = size[i];
        busy[best] = end[i];
        buf[i] = best;
    }
    return nb;
}

static void sort_by_start(int n, int *order, const int *start) {
    for (int i = 1; i < n; i++) {   /* stable insertion sort; a few hundred items */
        int v = order[i], j = i;
        for (; j > 0 && start[order[j - 1]] > start[v]; j--)
            order[j] = order[j - 1];
        order[j] = v;
    }
}

/* The layer whose op runs layer li: li itself, or the batchnorm a fused relu or add is part
 * of. Its forward writes, and its backward reads, the gradients and outputs of the whole
 * fused group. */
static int runs_in(const Model *m, int li) {
    while (li > 0 && m->layers[li].fused)
        li--;
    return li;
}

static Status plan_buffers(Model *m) {
    const int L = m->n_layers, V = m->n_values;
    int *consumers = calloc((size_t)V, sizeof(int));
    int *needed = calloc((size_t)V, sizeof(int));
    int *start = calloc((size_t)V, sizeof(int));
    int *end = calloc((size_t)V, sizeof(int));
    int *order = calloc((size_t)V, sizeof(int));
    int *buf = calloc((size_t)V, sizeof(int));
    int *busy = calloc((size_t)V, sizeof(int));
    int *rep = calloc((size_t)V, sizeof(int));
    long long *size = calloc((size_t)V, sizeof(long long));
    long long *bsize = calloc((size_t)V, sizeof(long long));
    Status st = ST_OK;
    if (!consumers || !needed || !start || !end || !order || !buf || !busy || !rep || !size ||
        !bsize) {
        st = status_fail(ST_ERR_OOM, "model_build: out of host memory planning buffers");
        goto done;
    }

    for (int i = 0; i < L; i++) {
        const Layer *l = &m->layers[i];
        const int ins[2] = {l->in, l->in2};
        for (int k = 0; k < 2; k++) {
            if (ins[k] < 0)
                continue;
            consumers[ins[k]]++;
            m->values[ins[k]].last_consumer = i;
            if (backward_reads_input(l->kind))
                needed[ins[k]] = 1;
        }
        if (backward_reads_output(l->kind))
            needed[l->out] = 1;
    }
    needed[V - 1] = 1;   /* the logits outlive the forward */
    /* A batchnorm whose only consumer is the relu right after it runs fused with it where the
     * backend can (one pass over the tensor instead of two, forward and backward). The
     * buffers below need no change: the relu then runs in place on the batchnorm's output,
     * and the fused backward reads the relu's output, which is kept for the relu anyway. */
    const BackendOps *o = m->b->ops;
    int can_fuse = o->batchnorm_relu_forward_train && o->batchnorm_relu_forward_infer &&
                   o->batchnorm_relu_backward;
    for (int i = 0; i + 1 < L && can_fuse; i++) {
        Layer *l = &m->layers[i], *next = &m->layers[i + 1];
        if (l->kind == LK_BN && next->kind == LK_RELU && next->in == l->out &&
            consumers[l->out] == 1)
            l->fuse_relu = next->fused = 1;
    }
    /* A post-activation residual block's tail, batchnorm -> add -> relu, runs as one fused op
     * the same way: the batchnorm's output feeds only the add and the add's only the relu,
     * whose output (kept for its backward anyway) the fused backward reads. The add must be
     * the last consumer of its other input r, so that the fused backward writes r's gradient
     * rather than adding into it, and r must not be the image. */
    int can_fuse_add = o->batchnorm_add_relu_forward_train &&
                       o->batchnorm_add_relu_forward_infer && o->batchnorm_add_relu_backward;
    for (int i = 0; i + 2 < L && can_fuse_add; i++) {
        Layer *l = &m->layers[i], *add = &m->layers[i + 1], *relu = &m->layers[i + 2];
        if (l->kind != LK_BN || l->fuse_relu || add->kind != LK_ADD || relu->kind != LK_RELU ||
            relu->in != add->out || consumers[l->out] != 1 || consumers[add->out] != 1 ||
            (add->in != l->out && add->in2 != l->out))
            continue;
        int r = add->in == l->out ? add->in2 : add->in;
        if (r <= 0 || r == l->out || m->values[r].last_consumer != i + 1)
            continue;
        l->fuse_add_relu = 1;
        l->residual = r;
        add->fused = relu->fused = 1;
    }
    /* In backward order the last consumer runs first and writes the gradient; every earlier
     * consumer adds to it. */
    for (int i = 0; i < L; i++) {
        Layer *l = &m->layers[i];
        l->accum = m->values[l->in].last_consumer != i;
        l->accum2 = l->in2 >= 0 && m->values[l->in2].last_consumer != i;
    }
    /* The fused tail's output usually has a second consumer right after it (the next block's
     * first convolution), which adds its part of the gradient through the scratch buffer. That
     * consumer runs last in backward, immediately before the fused op, so its part can wait in
     * the scratch buffer and be added inside the fused op (dy2) instead of by an accumulate
     * pass over the tensor. The fused op must not write the scratch buffer itself: its input's
     * gradient goes straight to the input's own buffer. */
    for (int i = 0; i + 3 < L; i++) {
        Layer *l = &m->layers[i], *next = &m->layers[i + 3];
        if (l->fuse_add_relu && next->kind != LK_ADD && next->in == m->layers[i + 2].out &&
            next->accum && !l->accum && l->in > 0)
            l->dy2_scratch = next->defer_sum = 1;
    }

    /* Activations. A ReLU runs in place when it is its input's only consumer and nobody's
     * backward reads that input (its producer is not a pool, which reads its output); the pair
     * then shares one buffer, kept to the end like every value a backward reads. Values no
     * backward reads (a conv output feeding dropout or an add, a BN output feeding an add) live
     * only from their producer to their last consumer and share buffers. Eval mode uses the
     * same plan: it needs a subset of these lifetimes. */
    int n = 0;
    for (int v = 1; v < V; v++) {
        Value *val = &m->values[v];
        const Layer *p = &m->layers[val->producer];
        if (p->kind == LK_RELU && p->in != 0 && consumers[p->in] == 1 && !needed[p->in]) {
            val->act = -2 - p->in;   /* resolved below */
            end[p->in] = L;
            continue;
        }
        start[v] = runs_in(m, val->producer);   /* a fused op writes it earlier */
        end[v] = needed[v] ? L : val->last_consumer;
        size[v] = (long long)val->c * val->h * val->w;
        order[n++] = v;
    }
    sort_by_start(n, order, start);
    m->n_acts = share_intervals(n, order, start, end, size, buf, busy, bsize);
    m->acts = calloc((size_t)(m->n_acts ? m->n_acts : 1), sizeof *m->acts);
    m->act_numel = calloc((size_t)(m->n_acts ? m->n_acts : 1), sizeof *m->act_numel);
    if (!m->acts || !m->act_numel) {
        st = status_fail(ST_ERR_OOM, "model_build: out of host memory for activations");
        goto done;
    }
    for (int a = 0; a < m->n_acts; a++) {
        m->act_numel[a] = bsize[a];
        tensor_shape(&m->acts[a], 0, 0, 0, 0, DT_F32);
    }
    for (int v = 1; v < V; v++) {
        Value *val = &m->values[v];
        val->act = val->act <= -2 ? buf[-2 - val->act] : buf[v];
    }

    /* Gradients: in backward time t = L-1-layer, grad(v) is live from its last consumer's step
     * to its producer's step. For the output of a fused group that is before the batchnorm's
     * step, where the fused op reads it: only that op's own outputs can take the buffer in
     * between, which the fused ops allow (backend.h). The input's gradient has its own tensor
     * and the logits' comes from the caller. An add hands its gradient on unchanged, so an
     * input whose only consumer is the add shares the add output's gradient buffer (`rep`: the
     * value whose buffer it uses; layers from the last, so chains of adds resolve) and model.c
     * skips the copy; the shared buffer lives from the first start to the last end of its
     * values. */
    for (int v = 0; v < V; v++)
        rep[v] = v;
    for (int i = L - 1; i >= 0; i--) {
        const Layer *l = &m->layers[i];
        if (l->kind != LK_ADD || l->out == V - 1)
            continue;
        const int ins[2] = {l->in, l->in2};
        for (int k = 0; k < 2; k++)
            if (ins[k] > 0 && consumers[ins[k]] == 1)
                rep[ins[k]] = rep[l->out];
    }
    n = 0;
    m->scratch_numel = 0;
    for (int v = 0; v < V; v++)
        start[v] = end[v] = -1;
    for (int v = 1; v < V - 1; v++) {
        const Value *val = &m->values[v];
        if (val->last_consumer < 0)
            continue;
        size[v] = (long long)val->c * val->h * val->w;
        if (size[v] > m->scratch_numel)
            m->scratch_numel = size[v];
        int r = rep[v], s0 = L - 1 - val->last_consumer, e0 = L - 1 - val->producer;
        size[r] = size[v];   /* an add's inputs and output have one shape */
        if (start[r] < 0 || s0 < start[r])
            start[r] = s0;
        if (e0 > end[r])
            end[r] = e0;
    }
    for (int v = 1; v < V - 1; v++)
        if (rep[v] == v && start[v] >= 0)
            order[n++] = v;
    sort_by_start(n, order, start);
    m->n_grads = share_intervals(n, order, start, end, size, buf, busy, bsize);
    m->grads = calloc((size_t)(m->n_grads ? m->n_grads : 1), sizeof *m->grads);
    m->grad_numel = calloc((size_t)(m->n_grads ? m->n_grads : 1), sizeof *m->grad_numel);
    if (!m->grads || !m->grad_numel) {
        st = status_fail(ST_ERR_OOM, "model_build: out of host memory for gradients");
        goto done;
    }
    for (int b = 0; b < m->n_grads; b++) {
        m->grad_numel[b] = bsize[b];
        tensor_shape(&m->grads[b], 0, 0, 0, 0, DT_F32);
    }
    for (int v = 1; v < V - 1; v++)
        if (start[rep[v]] >= 0)
            m->values[v].grad = buf[rep[v]];
done:
    free(consumers);
    free(needed);
    free(start);
    free(end);
    free(order);
    free(buf);
    free(busy);
    free(rep);
    free(size);
    free(bsize);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * entry point */

Status model_build(const ModelConfig *mc, int num_classes, int in_side, Backend *b,
                   unsigned long long seed, Model **out) {
    if (!out)
        return status_fail(ST_ERR_ARG, "model_build: out is NULL");
    *out = NULL;
    if (!mc || !b || !b->ops)
        return status_fail(ST_ERR_ARG, "model_build: config or backend is NULL");
    if (in_side < 1 || in_side > MAX_SIDE)
        return status_fail(ST_ERR_ARG, "model_build: input side %d is out of range 1..%d",
                           in_side, MAX_SIDE);
    if (mc->num_classes < 0)
        return status_fail(ST_ERR_CONFIG, "model.num_classes: must be >= 0 (0: from the "
                           "dataset), got %d", mc->num_classes);
    int k = mc->num_classes > 0 ? mc->num_classes : num_classes;
    if (k < 1)
        return status_fail(ST_ERR_CONFIG,
                           "model.num_classes: neither the config nor the dataset gives a class "
                           "count; set model.num_classes");

    Model *m = calloc(1, sizeof *m);
    if (!m)
        return status_fail(ST_ERR_OOM, "model_build: out of host memory");
    m->b = b;
    m->in_side = in_side;
    m->num_classes = k;
    tensor_shape(&m->scratch, 0, 0, 0, 0, DT_F32);
    tensor_shape(&m->input_grad, 0, 0, 0, 0, DT_F32);

    Status st = expand_family(mc, &m->cfg);
    if (st == ST_OK)
        st = validate_expanded(&m->cfg);
    m->cfg.num_classes = k;
    Builder bd = {.m = m, .seed = seed};
    if (st == ST_OK)
        st = build_layers(&bd);
    if (st == ST_OK)
        st = plan_buffers(m);
    if (st == ST_OK)
        st = model_rows_build(m);
    if (st != ST_OK) {
        model_destroy(m);
        return st;
    }
    *out = m;
    return ST_OK;
}
