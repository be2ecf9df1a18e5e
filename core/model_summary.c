/* model_summary.c — the torchinfo-like layer table of a Model and its text form.
 *
 * Rows are built once at model_build: a container row for the stem, each stage, each block and
 * the head, followed by its layers. MACs per image count one multiply-add per weight use of a
 * convolution (Cout*Ho*Wo*Cin*kh*kw, biases free) or linear layer (in*out), nothing for BN,
 * ReLU, pooling, dropout, adds and padding — the counting of shared/bench/torch_reference.py. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model_internal.h"

static const char *layer_kind_name(const Layer *l) {
    switch (l->kind) {
    case LK_CONV: return "Conv2d";
    case LK_BN: return "BatchNorm2d";
    case LK_RELU: return "ReLU";
    case LK_MAXPOOL: return "MaxPool2d";
    case LK_AVGPOOL: return "GlobalAvgPool";
    case LK_DROPOUT: return l->per_channel ? "Dropout2d" : "Dropout";
    case LK_ADD: return "Add";
    case LK_PAD: return "PadChannels";
    case LK_LINEAR: return "Linear";
    }
    return "?";
}

static long long layer_params(const Model *m, const Layer *l) {
    long long n = 0;
    for (int i = 0; i < 4; i++)
        if (l->p[i] >= 0 && m->params[l->p[i]].kind != PARAM_BUFFER)
            n += (long long)tensor_numel(&m->params[l->p[i]].value);
    return n;
}

static long long layer_macs(const Model *m, const Layer *l) {
    const Value *out = &m->values[l->out], *in = &m->values[l->in];
    if (l->kind == LK_CONV)
        return (long long)out->c * out->h * out->w * l->conv.c_in * l->conv.kh * l->conv.kw;
    if (l->kind == LK_LINEAR)
        return (long long)in->c * in->h * in->w * out->c;
    return 0;
}

static LayerInfo *push_row(Model *m, int depth, int container, const char *kind,
                           const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static LayerInfo *push_row(Model *m, int depth, int container, const char *kind,
                           const char *fmt, ...) {
    LayerInfo *r = &m->rows[m->n_rows++];
    memset(r, 0, sizeof *r);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->name, sizeof r->name, fmt, ap);
    va_end(ap);
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    r->depth = depth;
    r->container = container;
    return r;
}

static void add_to(LayerInfo *c, const LayerInfo *r) {
    if (!c)
        return;
    c->params += r->params;
    c->macs += r->macs;
    c->out_c = r->out_c;
    c->out_h = r->out_h;
    c->out_w = r->out_w;
}

Status model_rows_build(Model *m) {
    /* at most: every layer, plus stem + head + one per stage and per block */
    int cap = m->n_layers + 2 + m->cfg.num_stages;
    for (int i = 0; i < m->cfg.num_stages; i++)
        cap += m->cfg.stages[i].blocks;
    m->rows = calloc((size_t)cap, sizeof *m->rows);
    if (!m->rows)
        return status_fail(ST_ERR_OOM, "model_build: out of host memory for the layer table");
    m->n_rows = 0;
    m->total_macs = 0;
    int top = -1, blk = -1;   /* indices of the open container rows */
    int cur_stage = -3, cur_block = -3;
    const char *block_kind = m->cfg.block == BLOCK_PREACT ? "PreActBlock" : "BasicBlock";
    for (int i = 0; i < m->n_layers; i++) {
        const Layer *l = &m->layers[i];
        if (l->stage != cur_stage) {
            cur_stage = l->stage;
            cur_block = -3;
            blk = -1;
            top = m->n_rows;
            if (l->stage == -1)
                push_row(m, 0, 1, "Stem", "stem");
            else if (l->stage == -2)
                push_row(m, 0, 1, "Head", "head");
            else
                push_row(m, 0, 1, "Stage", "stages.%d", l->stage);
        }
        if (l->stage >= 0 && l->block != cur_block) {
            cur_block = l->block;
            blk = m->n_rows;
            push_row(m, 1, 1, block_kind, "stages.%d.%d", l->stage, l->block);
        }
        const Value *out = &m->values[l->out];
        LayerInfo *r = push_row(m, blk >= 0 ? 2 : 1, 0, layer_kind_name(l), "%s", l->name);
        r->out_c = out->c;
        r->out_h = out->h;
        r->out_w = out->w;
        r->params = layer_params(m, l);
        r->macs = layer_macs(m, l);
        m->total_macs += r->macs;
        add_to(top >= 0 ? &m->rows[top] : NULL, r);
        add_to(blk >= 0 ? &m->rows[blk] : NULL, r);
    }
    return ST_OK;
}

/* ---------------------------------------------------------------------------------------------
 * text */

typedef struct Text {
    char *buf;
    size_t len, cap;
    int oom;
} Text;

static void text_add(Text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void text_add(Text *t, const char *fmt, ...) {
    if (t->oom)
        return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t nc = t->cap * 2 + (size_t)n + 1;
        char *p = realloc(t->buf, nc);
        if (!p) {
            t->oom = 1;
            return;
        }
        t->buf = p;
        t->cap = nc;
    }
}

/* 1234567 -> "1,234,567" */
static const char *grouped(long long v, char *buf, size_t len) {
    char raw[32];
    snprintf(raw, sizeof raw, "%lld", v < 0 ? -v : v);
    size_t n = strlen(raw), o = 0;
    if (v < 0 && o + 1 < len)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 1 < len; i++) {
        buf[o++] = raw[i];
        if ((n - i - 1) % 3 == 0 && i + 1 < n && o + 1 < len)
            buf[o++] = ',';
    }
    buf[o] = '\0';
    return buf;
}

char *model_summary(const Model *m) {
    if (!m)
        return NULL;
    Text t = {.buf = malloc(4096), .cap = 4096};
    if (!t.buf)
        return NULL;
    t.buf[0] = '\0';
    char a[32], b[32];
    text_add(&t, "%-44s %-14s %-16s %14s %16s\n", "Layer", "Type", "Output shape", "Params",
             "MACs/image");
    for (int i = 0; i < m->n_rows; i++) {
        const LayerInfo *r = &m->rows[i];
        char shape[40];
        snprintf(shape, sizeof shape, "%d x %d x %d", r->out_c, r->out_h, r->out_w);
        text_add(&t, "%*s%-*s %-14s %-16s %14s %16s\n", 2 * r->depth, "", 44 - 2 * r->depth,
                 r->name, r->kind, shape, grouped(r->params, a, sizeof a),
                 grouped(r->macs, b, sizeof b));
    }
    long long buffers = 0;
    for (int i = 0; i < m->n_params; i++)
        if (m->params[i].kind == PARAM_BUFFER)
            buffers += (long long)tensor_numel(&m->params[i].value);
    text_add(&t, "input 3 x %d x %d, %d classes\n", m->in_side, m->in_side, m->num_classes);
    text_add(&t, "trainable params: %s (plus %lld BN running-stat values)\n",
             grouped(model_num_trainable(m), a, sizeof a), buffers);
    text_add(&t, "MACs per image:   %s (%.2f G)\n", grouped(m->total_macs, b, sizeof b),
             (double)m->total_macs / 1e9);
    if (t.oom) {
        free(t.buf);
        return NULL;
    }
    return t.buf;
}
