/* cpu_backend.c — the fast CPU backend's op table, context, threads and memory ops.
 *
 * Owns: backend_cpu_create(), the scratch buffers every op shares, tensor allocation (64-byte
 * aligned, kept while the capacity suffices) and the host <-> backend copies, which convert
 * between dense NCHW and the blocked layout (cpu_internal.h). The ops themselves live in
 * cpu_conv_dnnl.c (or cpu_conv_gemm.c), cpu_bn.c, cpu_eltwise.c, cpu_pool.c, cpu_linear.c,
 * cpu_loss.c and cpu_sgd.c. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cpu_internal.h"

void cpu_enter(CpuCtx *ctx) {
    if (omp_get_max_threads() != ctx->threads) omp_set_num_threads(ctx->threads);
}

static Status alloc_aligned(size_t bytes, void **out) {
    size_t rounded = (bytes + 63) & ~(size_t)63;
    if (rounded == 0) rounded = 64;
    void *p = aligned_alloc(64, rounded);
    if (!p)
        return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate %zu bytes of host memory: "
                           "use a smaller batch or model", bytes);
    *out = p;
    return ST_OK;
}

Status cpu_scratch(CpuCtx *ctx, int slot, size_t bytes, void **out) {
    if (ctx->scratch_cap[slot] < bytes) {
        free(ctx->scratch[slot]);
        ctx->scratch[slot] = NULL;
        ctx->scratch_cap[slot] = 0;
        TRY(alloc_aligned(bytes, &ctx->scratch[slot]));
        ctx->scratch_cap[slot] = bytes;
    }
    *out = ctx->scratch[slot];
    return ST_OK;
}

/* ---- memory ---- */

static Status cpu_tensor_alloc(void *vctx, Tensor *t) {
    CpuCtx *ctx = vctx;
    size_t bytes = tensor_bytes(t);
    if (t->data && t->cap >= bytes) return ST_OK;
    TRY(backend_check_limit("cpu", ctx->mem_limit, ctx->mem_used - t->cap, bytes, t));
    free(t->data);
    ctx->mem_used -= t->cap;
    t->data = NULL;
    t->cap = 0;
    TRY(alloc_aligned(bytes, &t->data));
    t->cap = bytes;
    ctx->mem_used += bytes;
    return ST_OK;
}

static void cpu_tensor_free(void *vctx, Tensor *t) {
    CpuCtx *ctx = vctx;
    if (!t) return;
    ctx->mem_used -= t->data ? t->cap : 0;
    free(t->data);
    t->data = NULL;
    t->cap = 0;
    t->layout = CPU_LAYOUT_NCHW;
}

static Status cpu_upload(void *vctx, Tensor *t, const void *host) {
    (void)vctx;
    memcpy(t->data, host, tensor_bytes(t));
    t->layout = CPU_LAYOUT_NCHW;
    return ST_OK;
}

static Status cpu_download(void *vctx, const Tensor *t, void *host) {
    cpu_enter(vctx);
    if (cpu_layout(t) == CPU_LAYOUT_NCHW) memcpy(host, t->data, tensor_bytes(t));
    else cpu_reorder(t, t->data, cpu_layout(t), host, CPU_LAYOUT_NCHW);
    return ST_OK;
}

static Status cpu_fill(void *vctx, Tensor *t, float v) {
    if (t->dtype != DT_F32)
        return status_fail(ST_ERR_ARG, "cpu backend: fill needs an F32 tensor (got dtype %d)",
                           (int)t->dtype);
    cpu_enter(vctx);
    float *p = t->data;
    long n = (long)tensor_numel(t);
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) p[i] = v;
    return ST_OK;
}

static Status cpu_copy(void *vctx, Tensor *dst, const Tensor *src) {
    cpu_enter(vctx);
    char *d = dst->data;
    const char *s = src->data;
    long bytes = (long)tensor_bytes(src);
    long chunk = 1L << 20;
    long chunks = (bytes + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (long i = 0; i < chunks; i++) {
        long len = bytes - i * chunk < chunk ? bytes - i * chunk : chunk;
        memcpy(d + i * chunk, s + i * chunk, (size_t)len);
    }
    dst->layout = cpu_layout(src);
    return ST_OK;
}

/* ---- threads, description, lifetime ---- */

static void cpu_set_memory_limit(void *vctx, size_t bytes) { ((CpuCtx *)vctx)->mem_limit = bytes; }

static void cpu_set_threads(void *vctx, int threads) {
    CpuCtx *ctx = vctx;
    ctx->threads = threads > 0 ? threads : omp_get_num_procs();
    omp_set_num_threads(ctx->threads);
}

/* "AMD EPYC" from /proc/cpuinfo; "unknown CPU" when it cannot be read (not an error: the
 * description is informational). */
static void cpu_model_name(char *out, size_t cap) {
    snprintf(out, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) != 0) continue;
        const char *colon = strchr(line, ':');
        if (!colon) break;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        snprintf(out, cap, "%s", colon);
        out[strcspn(out, "\n")] = '\0';
        break;
    }
    if (fclose(f) != 0) snprintf(out, cap, "unknown CPU");
}

/* train.precision on the CPU. bf16 needs AVX512-BF16 or AMX; with only AVX512-BF16 it is
 * used where it beats fp32 (cpu_internal.h), and `auto` stays fp32 there: measured on resnet20
 * the gain (10-15%) is small next to the rounding it adds. With AMX `auto` means bf16. fp16
 * training is the CUDA backend's. Kernels here are deterministic for a fixed thread count, so
 * `deterministic` changes nothing. */
static Status cpu_set_precision(void *vctx, int precision, int deterministic) {
    CpuCtx *ctx = vctx;
    (void)deterministic;
    int support = cpu_conv_bf16_support();
    const char *note = "";
    ctx->bf16 = CPU_BF16_OFF;
    switch ((Precision)precision) {
    case PRECISION_AUTO:
        if (support == CPU_BF16_AMX) ctx->bf16 = CPU_BF16_ALL;
        else note = " (auto; bf16 is the default only with AMX)";
        break;
    case PRECISION_BF16:
        if (support == CPU_BF16_AMX) ctx->bf16 = CPU_BF16_ALL;
        else if (support == CPU_BF16_AVX512) ctx->bf16 = CPU_BF16_DATA;
        else note = " (bf16 asked, but this CPU has neither AVX512-BF16 nor AMX)";
        break;
    case PRECISION_FP16:
        note = " (fp16 asked: the CPU backend computes in fp32 or bf16; fp16 needs device: cuda)";
        break;
    case PRECISION_FP32:
        break;
    }
    /* the word before the parenthesis is what the workbench's status bar shows; "most": the
     * 3-channel stem and other unblocked layers stay fp32 (cpu_conv_dnnl.c, bf16_wanted), and
     * so do the 16-channel layers our Winograd kernel runs (cpu_wino16.c) */
    if (ctx->bf16 == CPU_BF16_ALL) note = " (most convolutions; AMX)";
    if (ctx->bf16 == CPU_BF16_DATA)
        note = " (most convolutions, forward and backward-data; AVX512-BF16 without AMX)";
    snprintf(ctx->precision_note, sizeof ctx->precision_note, "%s%s",
             ctx->bf16 == CPU_BF16_OFF ? "fp32" : "bf16", note);
    return ST_OK;
}

static const char *cpu_describe(void *vctx) {
    CpuCtx *ctx = vctx;
    char model[96];
    cpu_model_name(model, sizeof model);
    char library[64];
    cpu_conv_library(library, sizeof library);
    snprintf(ctx->description, sizeof ctx->description, "cpu: %s, %d thread%s, %s, %s", model,
             ctx->threads, ctx->threads == 1 ? "" : "s", library, ctx->precision_note);
    return ctx->description;
}

static void cpu_destroy(void *vctx) {
    CpuCtx *ctx = vctx;
    if (!ctx) return;
    cpu_conv_release(ctx);
    for (int i = 0; i < CPU_SCRATCH_SLOTS; i++) free(ctx->scratch[i]);
    free(ctx);
}

static const BackendOps CPU_OPS = {
    .name = "cpu",
    .tensor_alloc = cpu_tensor_alloc,
    .tensor_free = cpu_tensor_free,
    .upload = cpu_upload,
    .download = cpu_download,
    .fill = cpu_fill,
    .copy = cpu_copy,
    .conv2d_forward = cpu_conv2d_forward,
    .conv2d_backward_data = cpu_conv2d_backward_data,
    .conv2d_backward_filter = cpu_conv2d_backward_filter,
    .plan_free = cpu_plan_free,
    .batchnorm_forward_train = cpu_batchnorm_forward_train,
    .batchnorm_forward_infer = cpu_batchnorm_forward_infer,
    .batchnorm_backward = cpu_batchnorm_backward,
    .batchnorm_relu_forward_train = cpu_batchnorm_relu_forward_train,
    .batchnorm_relu_forward_infer = cpu_batchnorm_relu_forward_infer,
    .batchnorm_relu_backward = cpu_batchnorm_relu_backward,
    .batchnorm_add_relu_forward_train = cpu_batchnorm_add_relu_forward_train,
    .batchnorm_add_relu_forward_infer = cpu_batchnorm_add_relu_forward_infer,
    .batchnorm_add_relu_backward = cpu_batchnorm_add_relu_backward,
    .relu_forward = cpu_relu_forward,
    .relu_backward = cpu_relu_backward,
    .add = cpu_add,
    .accumulate = cpu_accumulate,
    .dropout_forward = cpu_dropout_forward,
    .dropout_backward = cpu_dropout_backward,
    .pool2d_forward = cpu_pool2d_forward,
    .pool2d_backward = cpu_pool2d_backward,
    .pad_channels_forward = cpu_pad_channels_forward,
    .pad_channels_backward = cpu_pad_channels_backward,
    .linear_forward = cpu_linear_forward,
    .linear_backward = cpu_linear_backward,
    .softmax_xent = cpu_softmax_xent,
    .sgd_update = cpu_sgd_update,
    .sum_squares = cpu_sum_squares,
    .scale = cpu_scale,
    .all_finite = cpu_all_finite,
    .set_threads = cpu_set_threads,
    .set_memory_limit = cpu_set_memory_limit,
    .describe = cpu_describe,
    .destroy = cpu_destroy,
    .set_precision = cpu_set_precision,
};

Status backend_cpu_create(int threads, Backend *out) {
    CpuCtx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return status_fail(ST_ERR_OOM, "cpu backend: cannot allocate its context (%zu bytes)",
                           sizeof *ctx);
    cpu_set_threads(ctx, threads);
    ctx->conv_alg = CPU_CONV_RULE;
    snprintf(ctx->precision_note, sizeof ctx->precision_note, "fp32");
    Status st = cpu_conv_init(ctx);
    if (st != ST_OK) {
        cpu_destroy(ctx);
        return st;
    }
    out->ops = &CPU_OPS;
    out->ctx = ctx;
    return ST_OK;
}
