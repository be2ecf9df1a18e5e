/* cpu_conv.c — convolution forward, backward-data and backward-weights through oneDNN.
 *
 * A ConvDesc's plan (ConvPlan) holds up to three oneDNN primitives, one per direction, each
 * made on first use for the shapes and layouts it was called with and remade when they (or
 * the thread count, which oneDNN bakes into its work split) change. Activations are passed to
 * oneDNN in place, in whichever layout they are stored (cpu_internal.h); outputs with a
 * channel count divisible by 16 come out blocked. Weights stay dense OIHW in the tensors (the
 * optimizer and checkpoints see plain arrays) and are reordered into the primitive's own
 * format per call: for the widths we train that costs microseconds against milliseconds of
 * convolution. Scratchpads are user-managed (one shared buffer in the context), so steady-state
 * training allocates nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu_internal.h"

enum { CONV_FWD = 0, CONV_BWD_DATA, CONV_BWD_WEIGHTS, CONV_DIRS };

#define CONV_PLAN_MAGIC 0x43504c4e   /* "CPLN" */

/* One primitive plus what it needs around it. Key: the tensor shapes and layouts it serves. */
typedef struct ConvStep {
    int valid;
    int n, h, w, in_layout, out_layout;    /* x/dx (n, c_in, h, w) and y/dy layouts */
    dnnl_primitive_t prim;
    dnnl_memory_t m_data_in, m_data_out;   /* x or dx (n,c_in,h,w); y or dy (n,c_out,ho,wo) */
    dnnl_memory_t m_weights;               /* weights / diff_weights in the primitive's format */
    dnnl_memory_t m_user_weights;          /* dense OIHW: the tensor's own bytes */
    dnnl_memory_t m_bias;
    dnnl_memory_t m_scratch;
    dnnl_primitive_t w_reorder;            /* OIHW <-> primitive format; NULL when they match */
    void *w_buf;                           /* weights in the primitive's format */
    /* When no fast kernel writes the output activation (y, or dx) in our layout, the primitive
     * writes its own format into stage_buf and stage_reorder converts into the tensor. */
    dnnl_primitive_t stage_reorder;
    dnnl_memory_t m_user_act;
    void *stage_buf;
    size_t scratch_bytes;
    char impl[64];
} ConvStep;

typedef struct ConvPlan {
    int magic;
    int c_in, c_out, kh, kw, stride, pad, has_bias, threads, alg;
    ConvStep step[CONV_DIRS];
} ConvPlan;

static void step_free(ConvStep *s) {
    dnnl_primitive_t prims[] = {s->prim, s->w_reorder, s->stage_reorder};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {s->m_data_in, s->m_data_out, s->m_weights, s->m_user_weights,
                            s->m_bias, s->m_scratch, s->m_user_act};
    for (size_t i = 0; i < sizeof mems / sizeof mems[0]; i++)
        if (mems[i]) dnnl_memory_destroy(mems[i]);
    free(s->w_buf);
    free(s->stage_buf);
    memset(s, 0, sizeof *s);
}

void cpu_plan_free(void *vctx, void *vplan) {
    (void)vctx;
    ConvPlan *p = vplan;
    if (!p || p->magic != CONV_PLAN_MAGIC) return;
    for (int i = 0; i < CONV_DIRS; i++) step_free(&p->step[i]);
    free(p);
}

const char *cpu_conv_impl(const ConvDesc *d, int which) {
    const ConvPlan *p = d->plan;
    if (!p || which < 0 || which >= CONV_DIRS || !p->step[which].valid) return "";
    return p->step[which].impl;
}

static int plan_matches(const ConvPlan *p, const ConvDesc *d, const CpuCtx *ctx) {
    return p->c_in == d->c_in && p->c_out == d->c_out && p->kh == d->kh && p->kw == d->kw &&
           p->stride == d->stride && p->pad == d->pad && p->has_bias == d->has_bias &&
           p->threads == ctx->threads && p->alg == ctx->conv_alg;
}

/* The plan of d for the backend's current settings, made or reset as needed. */
static Status plan_get(CpuCtx *ctx, ConvDesc *d, ConvPlan **out) {
    ConvPlan *p = d->plan;
    if (p && p->magic == CONV_PLAN_MAGIC && plan_matches(p, d, ctx)) {
        *out = p;
        return ST_OK;
    }
    if (p && p->magic == CONV_PLAN_MAGIC) cpu_plan_free(ctx, p);
    p = calloc(1, sizeof *p);
    if (!p) return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate a convolution plan");
    p->magic = CONV_PLAN_MAGIC;
    p->c_in = d->c_in; p->c_out = d->c_out; p->kh = d->kh; p->kw = d->kw;
    p->stride = d->stride; p->pad = d->pad; p->has_bias = d->has_bias;
    p->threads = ctx->threads;
    p->alg = ctx->conv_alg;
    d->plan = p;
    *out = p;
    return ST_OK;
}

static dnnl_format_tag_t layout_tag(int layout) {
    return layout == CPU_LAYOUT_BLK16 ? dnnl_nChw16c : dnnl_nchw;
}

static Status act_md(dnnl_memory_desc_t *md, int n, int c, int h, int w, int layout) {
    dnnl_dims_t dims = {n, c, h, w};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(md, 4, dims, dnnl_f32, layout_tag(layout)));
    return ST_OK;
}

/* The geometry shared by the three directions. */
typedef struct ConvGeom {
    dnnl_memory_desc_t in, out, w_any, w_user, bias;
    dnnl_memory_desc_t in_any, out_any;    /* the activations with the format left open */
    dnnl_dims_t strides, pad_l, pad_r;
} ConvGeom;

static Status geom_init(ConvGeom *g, const ConvDesc *d, int n, int h, int w, int in_layout,
                        int out_layout) {
    int ho = conv_out_size(h, d->kh, d->stride, d->pad);
    int wo = conv_out_size(w, d->kw, d->stride, d->pad);
    TRY(act_md(&g->in, n, d->c_in, h, w, in_layout));
    TRY(act_md(&g->out, n, d->c_out, ho, wo, out_layout));
    dnnl_dims_t in_dims = {n, d->c_in, h, w}, out_dims = {n, d->c_out, ho, wo};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->in_any, 4, in_dims, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->out_any, 4, out_dims, dnnl_f32, dnnl_format_tag_any));
    dnnl_dims_t wdims = {d->c_out, d->c_in, d->kh, d->kw};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->w_any, 4, wdims, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->w_user, 4, wdims, dnnl_f32, dnnl_oihw));
    dnnl_dims_t bdims = {d->c_out};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->bias, 1, bdims, dnnl_f32, dnnl_x));
    g->strides[0] = g->strides[1] = d->stride;
    /* Symmetric padding: oneDNN floors (in + pad_l + pad_r - k) / stride like PyTorch. */
    g->pad_l[0] = g->pad_l[1] = d->pad;
    g->pad_r[0] = g->pad_r[1] = d->pad;
    return ST_OK;
}

static Status mem_new(CpuCtx *ctx, const dnnl_memory_desc_t *md, dnnl_memory_t *out) {
    CPU_DNNL(dnnl_memory_create(out, md, ctx->engine, DNNL_MEMORY_NONE));
    return ST_OK;
}

static Status reorder_new(CpuCtx *ctx, const dnnl_memory_desc_t *from,
                          const dnnl_memory_desc_t *to, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t rpd = NULL;
    CPU_DNNL(dnnl_reorder_primitive_desc_create(&rpd, from, ctx->engine, to, ctx->engine, NULL));
    dnnl_status_t ds = dnnl_primitive_create(out, rpd);
    dnnl_primitive_desc_destroy(rpd);
    if (ds != dnnl_success) return cpu_dnnl_fail(ds, "dnnl_primitive_create(reorder)");
    return ST_OK;
}

static Status buf_new(const dnnl_memory_desc_t *md, void **out) {
    size_t bytes = (dnnl_memory_desc_get_size(md) + 63) & ~(size_t)63;
    *out = aligned_alloc(64, bytes ? bytes : 64);
    if (!*out)
        return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate %zu bytes for a "
                           "convolution buffer: use a smaller batch", bytes);
    return ST_OK;
}

/* What each direction reads and writes, as oneDNN queries. */
typedef struct DirQueries {
    dnnl_query_t in, out, weights;   /* x/dx, y/dy, weights/diff_weights */
    int weights_to_user;             /* backward weights: convert primitive format -> OIHW */
    int writes_in;                   /* the written activation: 1 = x side (dx), 0 = y side */
} DirQueries;

static const DirQueries DIR_Q[CONV_DIRS] = {
    {dnnl_query_src_md, dnnl_query_dst_md, dnnl_query_weights_md, 0, 0},
    {dnnl_query_diff_src_md, dnnl_query_diff_dst_md, dnnl_query_weights_md, 0, 1},
    {dnnl_query_src_md, dnnl_query_diff_dst_md, dnnl_query_diff_weights_md, 1, -1},
};

/* Create the step's primitive from pd (consumed), with its weight reorder, output staging
 * and memories. */
static Status step_finish(CpuCtx *ctx, ConvStep *s, int dir, dnnl_primitive_desc_t pd,
                          const ConvGeom *g, int with_bias) {
    const DirQueries *q = &DIR_Q[dir];
    Status st = ST_OK;
    const char *impl = NULL;
    dnnl_status_t ds = dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
    snprintf(s->impl, sizeof s->impl, "%s", ds == dnnl_success && impl ? impl : "?");

    const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, q->weights, 0);
    const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
    const dnnl_memory_desc_t *in_md = dnnl_primitive_desc_query_md(pd, q->in, 0);
    const dnnl_memory_desc_t *out_md = dnnl_primitive_desc_query_md(pd, q->out, 0);
    if (!w_md || !in_md || !out_md) {
        st = status_fail(ST_ERR_DEVICE, "cpu backend: oneDNN convolution has no memory "
                         "descriptors; try the \"reference\" backend");
        goto done;
    }
    s->scratch_bytes = sp_md ? dnnl_memory_desc_get_size(sp_md) : 0;
    if ((st = mem_new(ctx, in_md, &s->m_data_in)) != ST_OK) goto done;
    if ((st = mem_new(ctx, out_md, &s->m_data_out)) != ST_OK) goto done;
    if ((st = mem_new(ctx, w_md, &s->m_weights)) != ST_OK) goto done;
    if ((st = mem_new(ctx, &g->w_user, &s->m_user_weights)) != ST_OK) goto done;
    if (with_bias && (st = mem_new(ctx, &g->bias, &s->m_bias)) != ST_OK) goto done;
    if (s->scratch_bytes && (st = mem_new(ctx, sp_md, &s->m_scratch)) != ST_OK) goto done;
    if (!dnnl_memory_desc_equal(w_md, &g->w_user)) {
        if ((st = buf_new(w_md, &s->w_buf)) != ST_OK) goto done;
        st = q->weights_to_user ? reorder_new(ctx, w_md, &g->w_user, &s->w_reorder)
                                : reorder_new(ctx, &g->w_user, w_md, &s->w_reorder);
        if (st != ST_OK) goto done;
    }
    if (q->writes_in >= 0) {
        const dnnl_memory_desc_t *got = q->writes_in ? in_md : out_md;
        const dnnl_memory_desc_t *want = q->writes_in ? &g->in : &g->out;
        if (!dnnl_memory_desc_equal(got, want)) {
            if ((st = buf_new(got, &s->stage_buf)) != ST_OK) goto done;
            if ((st = mem_new(ctx, want, &s->m_user_act)) != ST_OK) goto done;
            if ((st = reorder_new(ctx, got, want, &s->stage_reorder)) != ST_OK) goto done;
        }
    }
    ds = dnnl_primitive_create(&s->prim, pd);
    if (ds != dnnl_success) st = cpu_dnnl_fail(ds, "convolution primitive creation");
done:
    dnnl_primitive_desc_destroy(pd);
    if (st != ST_OK) step_free(s);
    return st;
}

/* A primitive descriptor for direction `dir` with algorithm `alg`; `open_output` leaves the
 * written activation's format to oneDNN. Returns oneDNN's status: callers try alternatives. */
static dnnl_status_t make_pd(CpuCtx *ctx, const ConvDesc *d, int dir, const ConvGeom *g,
                             dnnl_alg_kind_t alg, int open_output, dnnl_primitive_attr_t attr,
                             dnnl_primitive_desc_t *pd) {
    const dnnl_memory_desc_t *in = &g->in, *out = &g->out;
    if (open_output && dir == CONV_FWD) out = &g->out_any;
    if (open_output && dir == CONV_BWD_DATA) in = &g->in_any;
    const dnnl_memory_desc_t *bias = d->has_bias && dir != CONV_BWD_DATA ? &g->bias : NULL;
    dnnl_convolution_desc_t fd, cd;
    dnnl_status_t ds = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, in,
                                                          &g->w_any, bias, out, g->strides,
                                                          g->pad_l, g->pad_r);
    if (ds != dnnl_success) return ds;
    if (dir == CONV_FWD) return dnnl_primitive_desc_create(pd, &fd, attr, ctx->engine, NULL);
    dnnl_primitive_desc_t hint = NULL;
    ds = dnnl_primitive_desc_create(&hint, &fd, NULL, ctx->engine, NULL);
    if (ds != dnnl_success) return ds;
    if (dir == CONV_BWD_DATA)
        ds = dnnl_convolution_backward_data_desc_init(&cd, alg, in, &g->w_any, out, g->strides,
                                                      g->pad_l, g->pad_r);
    else
        ds = dnnl_convolution_backward_weights_desc_init(&cd, alg, in, &g->w_any, bias, out,
                                                         g->strides, g->pad_l, g->pad_r);
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(pd, &cd, attr, ctx->engine, hint);
    dnnl_primitive_desc_destroy(hint);
    return ds;
}

static int is_reference_impl(dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
        return 1;
    return strncmp(impl, "ref", 3) == 0;
}

/* Pick the primitive: the configured algorithm, then direct; our layouts first, then with the
 * output format open (staged); the first that is not oneDNN's slow reference loop wins, and a
 * reference implementation is used only when nothing else exists. */
static Status step_build(CpuCtx *ctx, const ConvDesc *d, int dir, ConvStep *s, int n, int h,
                         int w, int in_layout, int out_layout) {
    ConvGeom g;
    TRY(geom_init(&g, d, n, h, w, in_layout, out_layout));
    dnnl_primitive_attr_t attr;
    CPU_DNNL(dnnl_primitive_attr_create(&attr));
    dnnl_status_t ds = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_alg_kind_t algs[2] = {dnnl_convolution_direct, dnnl_convolution_direct};
    int n_algs = 1;
    if (ctx->conv_alg == CPU_CONV_WINOGRAD || ctx->conv_alg == CPU_CONV_AUTO) {
        algs[0] = ctx->conv_alg == CPU_CONV_WINOGRAD ? dnnl_convolution_winograd
                                                     : dnnl_convolution_auto;
        n_algs = 2;
    }
    dnnl_primitive_desc_t best = NULL;
    for (int a = 0; a < n_algs && ds == dnnl_success; a++)
        for (int open = 0; open < 2; open++) {
            if (open && dir == CONV_BWD_WEIGHTS) continue;
            dnnl_primitive_desc_t pd = NULL;
            if (make_pd(ctx, d, dir, &g, algs[a], open, attr, &pd) != dnnl_success) continue;
            if (!best) {
                best = pd;
            } else if (is_reference_impl(best) && !is_reference_impl(pd)) {
                dnnl_primitive_desc_destroy(best);
                best = pd;
            } else {
                dnnl_primitive_desc_destroy(pd);
            }
            if (!is_reference_impl(best)) goto chosen;
        }
chosen:
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success) {
        if (best) dnnl_primitive_desc_destroy(best);
        return cpu_dnnl_fail(ds, "dnnl_primitive_attr_set_scratchpad_mode");
    }
    if (!best)
        return status_fail(ST_ERR_DEVICE, "cpu backend: oneDNN has no convolution for %d->%d "
                           "channels, kernel %dx%d, stride %d, pad %d on a %dx%d input; try the "
                           "\"reference\" backend", d->c_in, d->c_out, d->kh, d->kw, d->stride,
                           d->pad, h, w);
    TRY(step_finish(ctx, s, dir, best, &g, d->has_bias));
    s->valid = 1;
    s->n = n; s->h = h; s->w = w; s->in_layout = in_layout; s->out_layout = out_layout;
    return ST_OK;
}

/* The step for direction `dir` serving these shapes and layouts. */
static Status step_get(CpuCtx *ctx, ConvDesc *d, int dir, int n, int h, int w, int in_layout,
                       int out_layout, ConvStep **out) {
    ConvPlan *p = NULL;
    TRY(plan_get(ctx, d, &p));
    ConvStep *s = &p->step[dir];
    if (!(s->valid && s->n == n && s->h == h && s->w == w && s->in_layout == in_layout &&
          s->out_layout == out_layout)) {
        step_free(s);
        TRY(step_build(ctx, d, dir, s, n, h, w, in_layout, out_layout));
    }
    void *scratch = NULL;
    if (s->scratch_bytes) {
        TRY(cpu_scratch(ctx, CPU_SCRATCH_DNNL, s->scratch_bytes, &scratch));
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_scratch, scratch));
    }
    *out = s;
    return ST_OK;
}

static Status run(CpuCtx *ctx, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    CPU_DNNL(dnnl_primitive_execute(prim, ctx->stream, nargs, args));
    CPU_DNNL(dnnl_stream_wait(ctx->stream));
    return ST_OK;
}

/* Point the step's weight memories at the OIHW tensor and, when the primitive wants its own
 * format, convert into it (reorder_now) — backward weights converts after running instead. */
static Status bind_weights(CpuCtx *ctx, ConvStep *s, const Tensor *w, int reorder_now) {
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_user_weights, w->data));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_weights, s->w_reorder ? s->w_buf : w->data));
    if (s->w_reorder && reorder_now) {
        dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, s->m_user_weights},
                                  {DNNL_ARG_TO, s->m_weights}};
        TRY(run(ctx, s->w_reorder, 2, args));
    }
    return ST_OK;
}

/* Convert a staged output (see ConvStep) into the tensor. */
static Status unstage(CpuCtx *ctx, ConvStep *s, dnnl_memory_t staged, Tensor *t) {
    if (!s->stage_reorder) return ST_OK;
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_user_act, t->data));
    dnnl_exec_arg_t args[] = {{DNNL_ARG_FROM, staged}, {DNNL_ARG_TO, s->m_user_act}};
    return run(ctx, s->stage_reorder, 2, args);
}

static int args_with_scratch(const ConvStep *s, dnnl_exec_arg_t *args, int n) {
    if (s->m_scratch) {
        args[n].arg = DNNL_ARG_SCRATCHPAD;
        args[n].memory = s->m_scratch;
        n++;
    }
    return n;
}

Status cpu_conv2d_forward(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                          const Tensor *b, Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int out_layout = cpu_preferred_layout(y);
    ConvStep *s;
    TRY(step_get(ctx, d, CONV_FWD, x->n, x->h, x->w, cpu_layout(x), out_layout, &s));
    TRY(bind_weights(ctx, s, w, 1));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_in, x->data));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_out, s->stage_buf ? s->stage_buf : y->data));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, s->m_data_in}, {DNNL_ARG_WEIGHTS, s->m_weights},
                               {DNNL_ARG_DST, s->m_data_out}};
    int nargs = 3;
    if (d->has_bias && b) {
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_bias, b->data));
        args[nargs].arg = DNNL_ARG_BIAS;
        args[nargs++].memory = s->m_bias;
    } else if (d->has_bias) {
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_forward: the convolution has a bias "
                           "but no bias tensor was passed");
    }
    nargs = args_with_scratch(s, args, nargs);
    TRY(run(ctx, s->prim, nargs, args));
    TRY(unstage(ctx, s, s->m_data_out, y));
    y->layout = out_layout;
    return ST_OK;
}

Status cpu_conv2d_backward_data(void *vctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int in_layout = cpu_preferred_layout(dx);
    ConvStep *s;
    TRY(step_get(ctx, d, CONV_BWD_DATA, dx->n, dx->h, dx->w, in_layout, cpu_layout(dy), &s));
    TRY(bind_weights(ctx, s, w, 1));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_in, s->stage_buf ? s->stage_buf : dx->data));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_out, dy->data));
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_DIFF_DST, s->m_data_out},
                               {DNNL_ARG_WEIGHTS, s->m_weights},
                               {DNNL_ARG_DIFF_SRC, s->m_data_in}};
    int nargs = args_with_scratch(s, args, 3);
    TRY(run(ctx, s->prim, nargs, args));
    TRY(unstage(ctx, s, s->m_data_in, dx));
    dx->layout = in_layout;
    return ST_OK;
}

Status cpu_conv2d_backward_filter(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                  Tensor *dw, Tensor *db) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (d->has_bias && !db)
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_backward_filter: the convolution "
                           "has a bias but no bias gradient tensor was passed");
    ConvStep *s;
    TRY(step_get(ctx, d, CONV_BWD_WEIGHTS, x->n, x->h, x->w, cpu_layout(x), cpu_layout(dy), &s));
    TRY(bind_weights(ctx, s, dw, 0));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_in, x->data));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_out, dy->data));
    dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, s->m_data_in},
                               {DNNL_ARG_DIFF_DST, s->m_data_out},
                               {DNNL_ARG_DIFF_WEIGHTS, s->m_weights}};
    int nargs = 3;
    if (d->has_bias) {
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_bias, db->data));
        args[nargs].arg = DNNL_ARG_DIFF_BIAS;
        args[nargs++].memory = s->m_bias;
    }
    nargs = args_with_scratch(s, args, nargs);
    TRY(run(ctx, s->prim, nargs, args));
    if (s->w_reorder) {
        dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, s->m_weights},
                                   {DNNL_ARG_TO, s->m_user_weights}};
        TRY(run(ctx, s->w_reorder, 2, rargs));
    }
    dw->layout = CPU_LAYOUT_NCHW;
    if (db) db->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}
