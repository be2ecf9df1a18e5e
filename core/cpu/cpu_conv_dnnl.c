/* cpu_conv_dnnl.c — convolution forward, backward-data and backward-weights, and GEMM,
 * through oneDNN (builds without oneDNN compile cpu_conv_gemm.c instead).
 *
 * A ConvDesc's plan (ConvPlan) holds up to three oneDNN primitives, one per direction, each
 * made on first use for the shapes and layouts it was called with and remade when they (or
 * the thread count, which oneDNN bakes into its work split, or the algorithm setting) change.
 * Activations are passed to oneDNN in place, in whichever layout they are stored
 * (cpu_internal.h); outputs with a channel count divisible by 16 come out blocked. Where
 * oneDNN has only its slow reference loop for our exact layouts, the output is staged in a
 * format of its choosing and reordered. Weights stay dense OIHW in the tensors (the optimizer
 * and checkpoints see plain arrays) and are reordered into the primitive's own format per
 * call: for the widths we train that costs microseconds against milliseconds of convolution.
 * Scratchpads are user-managed (one shared buffer in the context), so steady-state training
 * allocates nothing. Winograd or direct is a fixed, measured rule (winograd_wanted), and so are
 * running a forward as the backward-data of its mirror convolution (mirror_wanted) and handing
 * 16 -> 16 channel layers to our own Winograd kernel, cpu_wino16.c (wino16_wanted).
 *
 * bf16 (ctx->bf16, set from train.precision): a step that computes in bf16 reads its
 * activations as bf16 copies made just before the primitive runs (a oneDNN reorder into a
 * scratch slot, same layout, half the bytes), its weights reordered to bf16 along with the
 * format change they get anyway, and writes fp32: activations, input gradients and weight
 * gradients stay fp32 tensors, so no other op knows. Copies are made per call rather than
 * kept from the forward pass: a copy is one read of the activation and a half-size write, small
 * next to the convolution it feeds, and nothing can go stale. bf16_wanted says which steps.
 * The same copies carry the inputs of AVX2 primitives into the nChw8c format those kernels
 * want (open_all_first). */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_internal.h"
/* ---- the library: engine, stream, errors, GEMM ---- */

typedef struct DnnlState {
    dnnl_engine_t engine;
    dnnl_stream_t stream;
} DnnlState;

static dnnl_engine_t dnnl_engine_of(const CpuCtx *ctx) { return ((DnnlState *)ctx->conv)->engine; }
static dnnl_stream_t dnnl_stream_of(const CpuCtx *ctx) { return ((DnnlState *)ctx->conv)->stream; }

static const char *dnnl_status_text(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "no implementation for these shapes";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    }
    return "unknown error";
}

static Status cpu_dnnl_fail(dnnl_status_t s, const char *what) {
    return status_fail(s == dnnl_out_of_memory ? ST_ERR_OOM : ST_ERR_DEVICE,
                       "cpu backend: oneDNN call %s failed: %s; try the \"reference\" backend "
                       "to run without oneDNN", what, dnnl_status_text(s));
}

#define CPU_DNNL(call) do { dnnl_status_t s__ = (call); \
    if (s__ != dnnl_success) return cpu_dnnl_fail(s__, #call); } while (0)

/* dnnl_cpu_isa_t values are bit masks: an ISA includes another when it has all its bits. */
static int isa_has(dnnl_cpu_isa_t isa, dnnl_cpu_isa_t want) {
    return ((int)isa & (int)want) == (int)want;
}

int cpu_conv_bf16_support(void) {
    dnnl_cpu_isa_t isa = dnnl_get_effective_cpu_isa();
    if (isa_has(isa, dnnl_cpu_isa_avx512_core_amx)) return CPU_BF16_AMX;
    if (isa_has(isa, dnnl_cpu_isa_avx512_core_bf16)) return CPU_BF16_AVX512;
    return CPU_BF16_NONE;
}

static const char *isa_name(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: return "avx512+amx";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_bf16";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_vnni";
    case dnnl_cpu_isa_avx512_core: return "avx512";
    case dnnl_cpu_isa_avx2_vnni: case dnnl_cpu_isa_avx2: return "avx2";
    default: return "sse4.1 or older";
    }
}

Status cpu_conv_init(CpuCtx *ctx) {
    DnnlState *st = calloc(1, sizeof *st);
    if (!st) return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate the oneDNN state");
    ctx->conv = st;
    CPU_DNNL(dnnl_engine_create(&st->engine, dnnl_cpu, 0));
    CPU_DNNL(dnnl_stream_create(&st->stream, st->engine, dnnl_stream_default_flags));
    return ST_OK;
}

void cpu_conv_release(CpuCtx *ctx) {
    DnnlState *st = ctx->conv;
    if (!st) return;
    if (st->stream) dnnl_stream_destroy(st->stream);
    if (st->engine) dnnl_engine_destroy(st->engine);
    free(st);
    ctx->conv = NULL;
}

/* Activations are kept blocked only where oneDNN has fast kernels for nChw16c: AVX-512. Its
 * AVX2 kernels want nChw8c and, handed nChw16c, it falls back to its reference loops (measured
 * under DNNL_MAX_CPU_ISA=AVX2: 0.2 GFLOP/s, a thousand times slower). Without AVX-512,
 * activations stay NCHW, which oneDNN's GEMM-based convolutions read directly. */
int cpu_conv_blocked(void) {
    return isa_has(dnnl_get_effective_cpu_isa(), dnnl_cpu_isa_avx512_core);
}

void cpu_conv_library(char *buf, size_t len) {
    const dnnl_version_t *v = dnnl_version();
    snprintf(buf, len, "%s, oneDNN %d.%d.%d", isa_name(), v->major, v->minor, v->patch);
}

/* oneDNN's sgemm is row-major and threads over the same OpenMP pool as everything else. */
Status cpu_sgemm(CpuCtx *ctx, char transa, char transb, long m, long n, long k, float alpha,
                 const float *a, long lda, const float *b, long ldb, float beta, float *c,
                 long ldc) {
    (void)ctx;
    CPU_DNNL(dnnl_sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc));
    return ST_OK;
}

/* ---- convolution ---- */

enum { CONV_FWD = 0, CONV_BWD_DATA, CONV_BWD_WEIGHTS, CONV_DIRS };

#define CONV_PLAN_MAGIC 0x43504c4e   /* "CPLN" */

/* One primitive plus what it needs around it. Key: the tensor shapes and layouts it serves. */
typedef struct ConvStep {
    int valid;
    int n, h, w, in_layout, out_layout;    /* x/dx (n, c_in, h, w) and y/dy layouts */
    int mirrored;                          /* a forward run as the mirror's backward-data */
    int bf16;                              /* computes in bf16 (reads bf16 copies) */
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
    /* Copies of the activations a step reads (x side, y side) in the type or format its
     * primitive wants (bf16; nChw8c on AVX2), made into scratch slots A and B; the primitive's
     * m_data_in / m_data_out then point there. */
    dnnl_primitive_t cvt[2];
    dnnl_memory_t m_f32[2];
    size_t cvt_bytes[2];
    size_t scratch_bytes;
    char impl[64];
} ConvStep;

typedef struct ConvPlan {
    int magic;
    int c_in, c_out, kh, kw, stride, pad, has_bias, threads, alg, bf16;
    ConvStep step[CONV_DIRS];
    float *w_mirror;   /* the mirrored forward's weights (mirror_forward), made per call */
} ConvPlan;

static void step_free(ConvStep *s) {
    dnnl_primitive_t prims[] = {s->prim, s->w_reorder, s->stage_reorder, s->cvt[0], s->cvt[1]};
    for (size_t i = 0; i < sizeof prims / sizeof prims[0]; i++)
        if (prims[i]) dnnl_primitive_destroy(prims[i]);
    dnnl_memory_t mems[] = {s->m_data_in, s->m_data_out, s->m_weights, s->m_user_weights,
                            s->m_bias, s->m_scratch, s->m_user_act, s->m_f32[0], s->m_f32[1]};
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
    free(p->w_mirror);
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
           p->threads == ctx->threads && p->alg == ctx->conv_alg && p->bf16 == ctx->bf16;
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
    p->bf16 = ctx->bf16;
    d->plan = p;
    *out = p;
    return ST_OK;
}

static dnnl_format_tag_t layout_tag(int layout) {
    return layout == CPU_LAYOUT_BLK16 ? dnnl_nChw16c : dnnl_nchw;
}

/* nhwc16: name 16-channel blocked tensors nhwc, the same bytes (see geom_init). */
static Status act_md(dnnl_memory_desc_t *md, int n, int c, int h, int w, int layout,
                     dnnl_data_type_t dt, int nhwc16) {
    dnnl_dims_t dims = {n, c, h, w};
    /* 1x1 maps are the same bytes in both layouts; the blocked name gets the fast kernels */
    if (h * w == 1 && c % 16 == 0 && cpu_conv_blocked()) layout = CPU_LAYOUT_BLK16;
    dnnl_format_tag_t tag = layout_tag(layout);
    if (nhwc16 && layout == CPU_LAYOUT_BLK16 && c == 16) tag = dnnl_nhwc;
    CPU_DNNL(dnnl_memory_desc_init_by_tag(md, 4, dims, dt, tag));
    return ST_OK;
}

/* The geometry of one direction's primitive. in/out/w_any carry the data types the primitive
 * reads and writes; in_f32/out_f32 are the tensors' own bytes; hint_* describe the forward
 * convolution oneDNN wants as a hint for the backward directions (all in the compute type). */
typedef struct ConvGeom {
    dnnl_memory_desc_t in, out, w_any, w_user, bias;
    dnnl_memory_desc_t in_f32, out_f32;
    dnnl_memory_desc_t hint_in, hint_out, hint_w;
    dnnl_memory_desc_t in_any, out_any;    /* the activations with the format left open */
    dnnl_dims_t strides, pad_l, pad_r;
} ConvGeom;

static Status geom_init(ConvGeom *g, const ConvDesc *d, int dir, int bf16, int n, int h, int w,
                        int in_layout, int out_layout) {
    int ho = conv_out_size(h, d->kh, d->stride, d->pad);
    int wo = conv_out_size(w, d->kw, d->stride, d->pad);
    /* bf16: what a direction reads is bf16, what it writes fp32 */
    dnnl_data_type_t lo = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_data_type_t in_dt = dir == CONV_BWD_DATA ? dnnl_f32 : lo;
    dnnl_data_type_t out_dt = dir == CONV_FWD ? dnnl_f32 : lo;
    dnnl_data_type_t w_dt = dir == CONV_BWD_WEIGHTS ? dnnl_f32 : lo;
    /* With 16 channels the blocked layout nChw16c and nhwc are the same bytes, and oneDNN's
     * backward-weights kernel for nhwc is faster (16->16 3x3 on 32x32, batch 128, 2 threads:
     * 1.16-1.18 ms against 1.32-1.46; forward and backward-data are level), so a 16->16
     * step names its tensors nhwc there. Mixed widths keep one name: a 16->32 convolution
     * with an nhwc input and a blocked output would lose its fast kernel. */
    int nhwc16 = dir == CONV_BWD_WEIGHTS && d->c_in == 16 && d->c_out == 16;
    TRY(act_md(&g->in, n, d->c_in, h, w, in_layout, in_dt, nhwc16));
    TRY(act_md(&g->out, n, d->c_out, ho, wo, out_layout, out_dt, nhwc16));
    TRY(act_md(&g->in_f32, n, d->c_in, h, w, in_layout, dnnl_f32, nhwc16));
    TRY(act_md(&g->out_f32, n, d->c_out, ho, wo, out_layout, dnnl_f32, nhwc16));
    TRY(act_md(&g->hint_in, n, d->c_in, h, w, in_layout, lo, nhwc16));
    TRY(act_md(&g->hint_out, n, d->c_out, ho, wo, out_layout, lo, nhwc16));
    dnnl_dims_t in_dims = {n, d->c_in, h, w}, out_dims = {n, d->c_out, ho, wo};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->in_any, 4, in_dims, dnnl_f32, dnnl_format_tag_any));
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->out_any, 4, out_dims, dnnl_f32, dnnl_format_tag_any));
    dnnl_dims_t wdims = {d->c_out, d->c_in, d->kh, d->kw};
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->w_any, 4, wdims, w_dt, dnnl_format_tag_any));
    CPU_DNNL(dnnl_memory_desc_init_by_tag(&g->hint_w, 4, wdims, lo, dnnl_format_tag_any));
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
    CPU_DNNL(dnnl_memory_create(out, md, dnnl_engine_of(ctx), DNNL_MEMORY_NONE));
    return ST_OK;
}

static Status reorder_new(CpuCtx *ctx, const dnnl_memory_desc_t *from,
                          const dnnl_memory_desc_t *to, dnnl_primitive_t *out) {
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_engine_t eng = dnnl_engine_of(ctx);
    CPU_DNNL(dnnl_reorder_primitive_desc_create(&rpd, from, eng, to, eng, NULL));
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
    for (int side = 0; side < 2; side++) {
        /* the activations this direction reads: x (forward, weights), dy (data, weights), when
         * the primitive wants them in another type (bf16) or format (OPEN_ALL) */
        int reads = side == 0 ? dir != CONV_BWD_DATA : dir != CONV_FWD;
        const dnnl_memory_desc_t *want_md = side ? out_md : in_md;
        const dnnl_memory_desc_t *f32_md = side ? &g->out_f32 : &g->in_f32;
        if (!reads || dnnl_memory_desc_equal(want_md, f32_md)) continue;
        s->cvt_bytes[side] = dnnl_memory_desc_get_size(want_md);
        if ((st = mem_new(ctx, f32_md, &s->m_f32[side])) != ST_OK) goto done;
        if ((st = reorder_new(ctx, f32_md, want_md, &s->cvt[side])) != ST_OK) goto done;
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

/* How much of the activations' format a primitive descriptor leaves to oneDNN: none (our
 * layouts), the written activation (staged back by a reorder), or all of them (the read ones
 * reordered in first, like bf16 copies). */
enum { OPEN_NONE = 0, OPEN_OUTPUT, OPEN_ALL };

/* A primitive descriptor for direction `dir` with algorithm `alg` and formats left open per
 * `open` (OPEN_*). Returns oneDNN's status: callers try alternatives. */
static dnnl_status_t make_pd(CpuCtx *ctx, const ConvDesc *d, int dir, const ConvGeom *g,
                             dnnl_alg_kind_t alg, int open, dnnl_primitive_attr_t attr,
                             dnnl_primitive_desc_t *pd) {
    int open_in = open == OPEN_ALL || (open == OPEN_OUTPUT && dir == CONV_BWD_DATA);
    int open_out = open == OPEN_ALL || (open == OPEN_OUTPUT && dir == CONV_FWD);
    const dnnl_memory_desc_t *in = open_in ? &g->in_any : &g->in;
    const dnnl_memory_desc_t *out = open_out ? &g->out_any : &g->out;
    const dnnl_memory_desc_t *bias = d->has_bias && dir != CONV_BWD_DATA ? &g->bias : NULL;
    dnnl_convolution_desc_t fd, cd;
    dnnl_engine_t eng = dnnl_engine_of(ctx);
    dnnl_status_t ds;
    if (dir == CONV_FWD) {
        ds = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, in, &g->w_any,
                                                bias, out, g->strides, g->pad_l, g->pad_r);
        return ds != dnnl_success ? ds : dnnl_primitive_desc_create(pd, &fd, attr, eng, NULL);
    }
    const dnnl_memory_desc_t *hint_in = open_in ? &g->in_any : &g->hint_in;
    const dnnl_memory_desc_t *hint_out = open_out ? &g->out_any : &g->hint_out;
    ds = dnnl_convolution_forward_desc_init(&fd, dnnl_forward_training, alg, hint_in, &g->hint_w,
                                            bias, hint_out, g->strides, g->pad_l, g->pad_r);
    if (ds != dnnl_success) return ds;
    dnnl_primitive_desc_t hint = NULL;
    ds = dnnl_primitive_desc_create(&hint, &fd, NULL, eng, NULL);
    if (ds != dnnl_success) return ds;
    if (dir == CONV_BWD_DATA)
        ds = dnnl_convolution_backward_data_desc_init(&cd, alg, in, &g->w_any, out, g->strides,
                                                      g->pad_l, g->pad_r);
    else
        ds = dnnl_convolution_backward_weights_desc_init(&cd, alg, in, &g->w_any, bias, out,
                                                         g->strides, g->pad_l, g->pad_r);
    if (ds == dnnl_success) ds = dnnl_primitive_desc_create(pd, &cd, attr, eng, hint);
    dnnl_primitive_desc_destroy(hint);
    return ds;
}

static const char *impl_of(dnnl_primitive_desc_t pd) {
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success)
        return NULL;
    return impl;
}

static int is_reference_impl(dnnl_primitive_desc_t pd) {
    const char *impl = impl_of(pd);
    return !impl || strncmp(impl, "ref", 3) == 0;
}

/* oneDNN's own convolution kernels ("jit:avx2", "jit_wino..."), not a GEMM or reference loop */
static int is_direct_jit(dnnl_primitive_desc_t pd) {
    const char *impl = impl_of(pd);
    return impl && strncmp(impl, "jit", 3) == 0;
}

/* Without AVX-512 our activations are NCHW (cpu_conv_blocked), which oneDNN's AVX2 kernels do
 * not read: they want nChw8c, and on NCHW oneDNN falls back to im2col + GEMM. There a primitive
 * with every format left open, its inputs reordered in and its output reordered back, is
 * faster than the GEMM path (`DNNL_MAX_CPU_ISA=AVX2 bench_ops --only step`, BENCHMARKS.md). */
static int open_all_first(void) {
    return !cpu_conv_blocked() && isa_has(dnnl_get_effective_cpu_isa(), dnnl_cpu_isa_avx2);
}

/* Build the step with algorithm `alg`: our layouts first, then with the output format open
 * (staged); on AVX2 every format open first (open_all_first). The first implementation that
 * is not oneDNN's slow reference loop wins; with `allow_ref` a reference implementation is
 * taken when nothing else exists. *built says whether a primitive was made. */
static Status step_build(CpuCtx *ctx, const ConvDesc *d, int dir, ConvStep *s, const int key[5],
                         dnnl_alg_kind_t alg, int bf16, int allow_ref, int *built) {
    *built = 0;
    ConvGeom g;
    TRY(geom_init(&g, d, dir, bf16, key[0], key[1], key[2], key[3], key[4]));
    dnnl_primitive_attr_t attr;
    CPU_DNNL(dnnl_primitive_attr_create(&attr));
    dnnl_status_t ds = dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user);
    dnnl_primitive_desc_t best = NULL;
    /* OPEN_ALL first where our layouts only get oneDNN's GEMM-based kernels (see
     * open_all_first) */
    static const int order_plain[] = {OPEN_NONE, OPEN_OUTPUT};
    static const int order_open[] = {OPEN_ALL, OPEN_NONE, OPEN_OUTPUT};
    int n_try = open_all_first() && !bf16 ? 3 : 2;
    const int *order = n_try == 3 ? order_open : order_plain;
    for (int k = 0; k < n_try && ds == dnnl_success; k++) {
        int open = order[k];
        if (open == OPEN_OUTPUT && (dir == CONV_BWD_WEIGHTS || bf16)) continue;
        dnnl_primitive_desc_t pd = NULL;
        if (make_pd(ctx, d, dir, &g, alg, open, attr, &pd) != dnnl_success) continue;
        if (open == OPEN_ALL && !is_direct_jit(pd)) {   /* nothing better than our layouts */
            dnnl_primitive_desc_destroy(pd);
            continue;
        }
        if (!best) {
            best = pd;
        } else if (is_reference_impl(best) && !is_reference_impl(pd)) {
            dnnl_primitive_desc_destroy(best);
            best = pd;
        } else {
            dnnl_primitive_desc_destroy(pd);
        }
        if (!is_reference_impl(best)) break;
    }
    dnnl_primitive_attr_destroy(attr);
    if (ds != dnnl_success) {
        if (best) dnnl_primitive_desc_destroy(best);
        return cpu_dnnl_fail(ds, "dnnl_primitive_attr_set_scratchpad_mode");
    }
    if (best && is_reference_impl(best) && !allow_ref) {
        dnnl_primitive_desc_destroy(best);
        best = NULL;
    }
    if (!best) return ST_OK;
    s->bf16 = bf16;
    TRY(step_finish(ctx, s, dir, best, &g, d->has_bias));
    s->valid = 1;
    s->n = key[0]; s->h = key[1]; s->w = key[2]; s->in_layout = key[3]; s->out_layout = key[4];
    *built = 1;
    return ST_OK;
}

static Status run(CpuCtx *ctx, dnnl_primitive_t prim, int nargs, const dnnl_exec_arg_t *args) {
    CPU_DNNL(dnnl_primitive_execute(prim, dnnl_stream_of(ctx), nargs, args));
    CPU_DNNL(dnnl_stream_wait(dnnl_stream_of(ctx)));
    return ST_OK;
}

/* Weight reorders move a few thousand values: on the calling thread they take microseconds,
 * while a parallel region costs a wake-up of every other thread (tens of microseconds each
 * under OMP_WAIT_POLICY=PASSIVE, twice per convolution per direction). oneDNN's reorders size
 * their split from the thread count at execution, so one thread runs them inline. */
static Status run_small(CpuCtx *ctx, dnnl_primitive_t prim, int nargs,
                        const dnnl_exec_arg_t *args) {
    omp_set_num_threads(1);
    Status st = run(ctx, prim, nargs, args);
    omp_set_num_threads(ctx->threads);
    return st;
}

/* The buffers of one call: in = x or dx, out = y or dy, weights = w or dw, bias = b or db
 * (NULL without bias). */
typedef struct ConvIo {
    void *in, *out, *weights, *bias;
} ConvIo;

static Status step_exec(CpuCtx *ctx, ConvStep *s, int dir, const ConvIo *io) {
    if (s->scratch_bytes) {
        void *scratch;
        TRY(cpu_scratch(ctx, CPU_SCRATCH_CONV, s->scratch_bytes, &scratch));
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_scratch, scratch));
    }
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_user_weights, io->weights));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_weights, s->w_reorder ? s->w_buf : io->weights));
    if (s->w_reorder && dir != CONV_BWD_WEIGHTS) {
        dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, s->m_user_weights},
                                   {DNNL_ARG_TO, s->m_weights}};
        TRY(run_small(ctx, s->w_reorder, 2, rargs));
    }
    void *in = s->stage_buf && dir == CONV_BWD_DATA ? s->stage_buf : io->in;
    void *out = s->stage_buf && dir == CONV_FWD ? s->stage_buf : io->out;
    for (int side = 0; side < 2; side++) {
        if (!s->cvt[side]) continue;
        void *lo;
        TRY(cpu_scratch(ctx, side ? CPU_SCRATCH_B : CPU_SCRATCH_A, s->cvt_bytes[side], &lo));
        dnnl_memory_t m_lo = side ? s->m_data_out : s->m_data_in;
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_f32[side], side ? io->out : io->in));
        CPU_DNNL(dnnl_memory_set_data_handle(m_lo, lo));
        dnnl_exec_arg_t cargs[] = {{DNNL_ARG_FROM, s->m_f32[side]}, {DNNL_ARG_TO, m_lo}};
        TRY(run(ctx, s->cvt[side], 2, cargs));
        if (side) out = lo;
        else in = lo;
    }
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_in, in));
    CPU_DNNL(dnnl_memory_set_data_handle(s->m_data_out, out));
    if (io->bias) CPU_DNNL(dnnl_memory_set_data_handle(s->m_bias, io->bias));
    static const int arg_in[CONV_DIRS] = {DNNL_ARG_SRC, DNNL_ARG_DIFF_SRC, DNNL_ARG_SRC};
    static const int arg_out[CONV_DIRS] = {DNNL_ARG_DST, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_DST};
    static const int arg_w[CONV_DIRS] = {DNNL_ARG_WEIGHTS, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_WEIGHTS};
    static const int arg_b[CONV_DIRS] = {DNNL_ARG_BIAS, 0, DNNL_ARG_DIFF_BIAS};
    dnnl_exec_arg_t args[5] = {{arg_in[dir], s->m_data_in}, {arg_out[dir], s->m_data_out},
                               {arg_w[dir], s->m_weights}};
    int nargs = 3;
    if (io->bias && arg_b[dir]) args[nargs++] = (dnnl_exec_arg_t){arg_b[dir], s->m_bias};
    if (s->m_scratch) args[nargs++] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, s->m_scratch};
    TRY(run(ctx, s->prim, nargs, args));
    if (s->stage_reorder) {
        CPU_DNNL(dnnl_memory_set_data_handle(s->m_user_act, dir == CONV_FWD ? io->out : io->in));
        dnnl_exec_arg_t sargs[] = {{DNNL_ARG_FROM, dir == CONV_FWD ? s->m_data_out : s->m_data_in},
                                   {DNNL_ARG_TO, s->m_user_act}};
        TRY(run(ctx, s->stage_reorder, 2, sargs));
    }
    if (s->w_reorder && dir == CONV_BWD_WEIGHTS) {
        dnnl_exec_arg_t rargs[] = {{DNNL_ARG_FROM, s->m_weights},
                                   {DNNL_ARG_TO, s->m_user_weights}};
        TRY(run_small(ctx, s->w_reorder, 2, rargs));
    }
    return ST_OK;
}

/* Whether the measured rule picks Winograd: 3x3 stride-1 convolutions with at least 32
 * channels on both sides (forward, backward-data) or 64 (backward-weights). `bench_ops --only
 * wino` measured it on AVX-512 (docs: ../notes/fastcpu.md): below those widths the Winograd
 * transforms cost more than the multiplications they save (16 channels: 0.4-0.5x), above them
 * it is 1.2-2.8x faster. A fixed rule rather than timing each shape keeps results
 * bit-identical from run to run, which resuming from a checkpoint relies on. */
static int winograd_wanted(const ConvDesc *d, int dir) {
    int narrow = d->c_in < d->c_out ? d->c_in : d->c_out;
    return d->kh == 3 && d->kw == 3 && d->stride == 1 &&
           narrow >= (dir == CONV_BWD_WEIGHTS ? 64 : 32);
}

/* Whether direction `dir` of a step with this key (n, h, w, in layout, out layout) computes in
 * bf16. Only between blocked activations: the 3-channel stem (its bf16 kernel measured at
 * 14.5 GFLOP/s, against 390 in fp32) and odd widths stay fp32. Without AMX, backward-weights
 * stays fp32 too: on AVX512-BF16 its bf16 kernel was no faster than fp32 (resnet20, `bench_ops
 * --only step --precision bf16`: 23.3 against 23.8 ms per step) and needs two copies, while
 * forward and backward-data went from 19.4 + 17.9 to 14.7 + 14.4 ms, Winograd layers
 * included. */
static int bf16_wanted(const CpuCtx *ctx, int dir, const int key[5]) {
    if (ctx->bf16 == CPU_BF16_OFF) return 0;
    if (key[3] != CPU_LAYOUT_BLK16 || key[4] != CPU_LAYOUT_BLK16) return 0;
    return ctx->bf16 == CPU_BF16_ALL || dir != CONV_BWD_WEIGHTS;
}

/* Make the step for these shapes and layouts (key: n, h, w, in layout, out layout) with the
 * algorithm the setting asks for (bf16 first where wanted), falling back to direct fp32 where
 * nothing else exists. */
static Status step_choose(CpuCtx *ctx, ConvDesc *d, int dir, ConvStep *s, const int key[5]) {
    dnnl_alg_kind_t alg = dnnl_convolution_direct;
    if (ctx->conv_alg == CPU_CONV_AUTO) alg = dnnl_convolution_auto;
    if (ctx->conv_alg == CPU_CONV_WINOGRAD ||
        (ctx->conv_alg == CPU_CONV_RULE && winograd_wanted(d, dir)))
        alg = dnnl_convolution_winograd;
    int built = 0;
    if (bf16_wanted(ctx, dir, key))
        TRY(step_build(ctx, d, dir, s, key, dnnl_convolution_direct, 1, 0, &built));
    if (!built && alg != dnnl_convolution_direct)
        TRY(step_build(ctx, d, dir, s, key, alg, 0, 0, &built));
    if (!built) TRY(step_build(ctx, d, dir, s, key, dnnl_convolution_direct, 0, 1, &built));
    if (!built)
        return status_fail(ST_ERR_DEVICE, "cpu backend: oneDNN has no convolution for %d->%d "
                           "channels, kernel %dx%d, stride %d, pad %d on a %dx%d input; try the "
                           "\"reference\" backend", d->c_in, d->c_out, d->kh, d->kw, d->stride,
                           d->pad, key[1], key[2]);
    return ST_OK;
}

/* Whether a forward convolution runs as its mirror's backward-data (mirror_forward). A
 * stride-1 "same" convolution's forward is the backward-data of the convolution with input and
 * output channels swapped and the kernel turned by 180 degrees, and for one family of shapes
 * oneDNN's backward-data kernel is the faster of the two: 16 output channels on 32-pixel-wide
 * maps, the first stage of every CIFAR ResNet (fp32, batch 128, 2 threads, blocked layouts:
 * 16->16 1.54-1.64 ms forward against 1.33-1.34 as backward-data, 32->16 and 64->16 1.14-1.16x
 * faster; but 16->16 on 64x64 maps 0.91x, on 16x16 1.03x, and 16->32 only 1.06x). A fixed
 * rule, like winograd_wanted, keeps results identical from run to run. */
static int mirror_wanted(const CpuCtx *ctx, const ConvDesc *d, const int key[5]) {
    return ctx->conv_alg == CPU_CONV_RULE && ctx->bf16 == CPU_BF16_OFF && !d->has_bias &&
           d->stride == 1 && d->kh == d->kw && d->kh % 2 == 1 && d->pad == d->kh / 2 &&
           d->c_out == 16 && d->c_in % 16 == 0 && key[2] == 32 &&
           key[3] == CPU_LAYOUT_BLK16 && key[4] == CPU_LAYOUT_BLK16;
}

static int step_fits(const ConvStep *s, const int key[5], int mirrored) {
    return s->valid && s->mirrored == mirrored && s->n == key[0] && s->h == key[1] &&
           s->w == key[2] && s->in_layout == key[3] && s->out_layout == key[4];
}

/* y = conv(x, w) computed as dx = backward_data(dy = x, w') of the mirror convolution (c_out
 * -> c_in channels), with w'[i][o][a][b] = w[o][i][k-1-a][k-1-b]: in the forward, output
 * pixel p reads input p + a - pad through tap (a, b); in the mirror's backward-data, output
 * p gathers from p - a' + pad through tap a', the same pixel when a' = k-1-a. */
static Status mirror_forward(CpuCtx *ctx, ConvDesc *d, ConvPlan *p, const int key[5],
                             const ConvIo *io) {
    ConvDesc m = *d;
    m.c_in = d->c_out;
    m.c_out = d->c_in;
    m.plan = NULL;
    int mkey[5] = {key[0], key[1], key[2], key[4], key[3]};   /* y is its dx, x its dy */
    ConvStep *s = &p->step[CONV_FWD];
    if (!step_fits(s, mkey, 1)) {
        step_free(s);
        TRY(step_choose(ctx, &m, CONV_BWD_DATA, s, mkey));
        s->mirrored = 1;
        char impl[sizeof s->impl];
        snprintf(impl, sizeof impl, "%s", s->impl);
        snprintf(s->impl, sizeof s->impl, "mirror:%.56s", impl);
    }
    int k = d->kh, ci = d->c_in, co = d->c_out;
    if (!p->w_mirror) {
        p->w_mirror = malloc(sizeof(float) * (size_t)ci * (size_t)co * (size_t)(k * k));
        if (!p->w_mirror)
            return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate convolution weights");
    }
    const float *w = io->weights;
    for (int o = 0; o < co; o++)
        for (int i = 0; i < ci; i++)
            for (int a = 0; a < k; a++)
                for (int b = 0; b < k; b++)
                    p->w_mirror[(((long)i * co + o) * k + a) * k + b] =
                        w[(((long)o * ci + i) * k + (k - 1 - a)) * k + (k - 1 - b)];
    ConvIo mio = {io->out, io->in, p->w_mirror, NULL};
    return step_exec(ctx, s, CONV_BWD_DATA, &mio);
}

/* Whether our own Winograd kernel (cpu_wino16.c) runs direction `dir`: forward and
 * backward-data of 16 -> 16 channel 3x3 convolutions between blocked activations, in fp32
 * (resnet20 batch 128, 2 threads, in the step: 19.4 -> 16.7 ms of forwards, 18.4 -> 15.3 of
 * backward-data; docs/BENCHMARKS.md, session 9). With precision bf16 too, where it beat
 * oneDNN's bf16 direct kernels on these layers (the step 1,915-1,998 -> 2,059-2,067 img/s) and
 * keeps them in fp32. A Winograd backward-weights was no faster in the step than oneDNN's
 * direct one (22.7-23.0 against 23.0-23.4 ms), so it stays direct. A fixed rule, like
 * winograd_wanted, keeps results identical from run to run. */
static int wino16_wanted(const CpuCtx *ctx, const ConvDesc *d, int dir, const int key[5]) {
    return ctx->conv_alg == CPU_CONV_RULE && dir != CONV_BWD_WEIGHTS &&
           key[3] == CPU_LAYOUT_BLK16 && key[4] == CPU_LAYOUT_BLK16 && cpu_wino16_fits(d);
}

static Status wino16_exec(ConvPlan *p, int dir, const int key[5], const ConvIo *io) {
    ConvStep *s = &p->step[dir];
    if (!step_fits(s, key, 0)) {
        step_free(s);
        s->valid = 1;
        s->n = key[0], s->h = key[1], s->w = key[2], s->in_layout = key[3], s->out_layout = key[4];
        snprintf(s->impl, sizeof s->impl, "wino16_4x3");
    }
    if (dir == CONV_FWD)
        return cpu_wino16_run(io->in, io->out, io->weights, 0, key[0], key[1], key[2]);
    return cpu_wino16_run(io->out, io->in, io->weights, 1, key[0], key[1], key[2]);
}

/* Run direction `dir` of d on io, making or remaking its primitive when the shapes, layouts,
 * thread count or algorithm setting changed. */
static Status conv_run(CpuCtx *ctx, ConvDesc *d, int dir, const int key[5], const ConvIo *io) {
    ConvPlan *p = NULL;
    TRY(plan_get(ctx, d, &p));
    if (wino16_wanted(ctx, d, dir, key)) return wino16_exec(p, dir, key, io);
    if (dir == CONV_FWD && mirror_wanted(ctx, d, key)) return mirror_forward(ctx, d, p, key, io);
    ConvStep *s = &p->step[dir];
    if (!step_fits(s, key, 0)) {
        step_free(s);
        TRY(step_choose(ctx, d, dir, s, key));
    }
    return step_exec(ctx, s, dir, io);
}

Status cpu_conv2d_forward(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *w,
                          const Tensor *b, Tensor *y) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (d->has_bias && !b)
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_forward: the convolution has a bias "
                           "but no bias tensor was passed");
    int key[5] = {x->n, x->h, x->w, cpu_layout(x), cpu_preferred_layout(y)};
    ConvIo io = {x->data, y->data, w->data, d->has_bias ? b->data : NULL};
    TRY(conv_run(ctx, d, CONV_FWD, key, &io));
    y->layout = key[4];
    return ST_OK;
}

Status cpu_conv2d_backward_data(void *vctx, ConvDesc *d, const Tensor *dy, const Tensor *w,
                                Tensor *dx) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    int key[5] = {dx->n, dx->h, dx->w, cpu_preferred_layout(dx), cpu_layout(dy)};
    ConvIo io = {dx->data, dy->data, w->data, NULL};
    TRY(conv_run(ctx, d, CONV_BWD_DATA, key, &io));
    dx->layout = key[3];
    return ST_OK;
}

Status cpu_conv2d_backward_filter(void *vctx, ConvDesc *d, const Tensor *x, const Tensor *dy,
                                  Tensor *dw, Tensor *db) {
    CpuCtx *ctx = vctx;
    cpu_enter(ctx);
    if (d->has_bias && !db)
        return status_fail(ST_ERR_ARG, "cpu backend: conv2d_backward_filter: the convolution "
                           "has a bias but no bias gradient tensor was passed");
    int key[5] = {x->n, x->h, x->w, cpu_layout(x), cpu_layout(dy)};
    ConvIo io = {x->data, dy->data, dw->data, d->has_bias ? db->data : NULL};
    TRY(conv_run(ctx, d, CONV_BWD_WEIGHTS, key, &io));
    dw->layout = CPU_LAYOUT_NCHW;
    if (db) db->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}
