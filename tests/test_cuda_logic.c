/* test_cuda_logic.c — the CUDA backend's decisions that need no GPU (core/cuda/cuda_logic.c),
 * plus what `device: cuda` and `device: auto` do on a machine without a usable GPU.
 *
 * Runs everywhere (cuda_logic.c is compiled into the core in every build): precision
 * resolution per compute capability, the convolution algorithm pick (speed, workspace limit,
 * determinism, failed candidates), the workspace budget, the shape-keyed algorithm cache, and
 * the wording of device errors and out-of-memory messages. */
#include <stdint.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "cuda/cuda_logic.h"

static void test_precision(void) {
    CudaPrecision p;
    char note[160];
    /* auto: bf16 from Ampere on, fp32 before, and it says why */
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_AUTO, 8, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_BF16);
    CHECK(note[0] == '\0');
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_AUTO, 9, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_BF16);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_AUTO, 12, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_BF16);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_AUTO, 7, 5, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_FP32);
    CHECK(strstr(note, "sm_75") != NULL);
    CHECK(strstr(note, "fp32") != NULL);
    /* explicit fp32 is always honoured */
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_FP32, 9, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_FP32);
    CHECK(note[0] == '\0');
    /* bf16 needs sm_80; fp16 sm_70; otherwise fp32 with a reason */
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_BF16, 8, 6, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_BF16);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_BF16, 7, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_FP32);
    CHECK(strstr(note, "bf16 needs sm_80") != NULL);
    CHECK(strstr(note, "sm_70") != NULL);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_FP16, 7, 0, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_FP16);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_FP16, 6, 1, &p, note, sizeof note));
    CHECK_INT(p, CUDA_PREC_FP32);
    CHECK(strstr(note, "fp16 needs sm_70") != NULL);
    /* an unknown request is an argument error; a NULL note is fine */
    CHECK_INT(cuda_precision_resolve(7, 9, 0, &p, NULL, 0), ST_ERR_ARG);
    CHECK(strstr(status_message(), "unknown precision request 7") != NULL);
    CHECK_OK(cuda_precision_resolve(CUDA_REQ_BF16, 6, 0, &p, NULL, 0));
    CHECK_INT(p, CUDA_PREC_FP32);
    CHECK(strcmp(cuda_precision_name(CUDA_PREC_BF16), "bf16") == 0);
    CHECK(strcmp(cuda_precision_name(CUDA_PREC_FP16), "fp16") == 0);
    CHECK(strcmp(cuda_precision_name(CUDA_PREC_FP32), "fp32") == 0);
}

static void test_algo_pick(void) {
    /*                algo ok  time   memory   det math */
    const CudaAlgoPerf perf[] = {
        {0, 1, 3.0f, 0, 1, 0},
        {1, 1, 1.0f, (size_t)64 << 20, 0, 0},   /* fastest, but needs 64 MiB, not deterministic */
        {2, 1, 2.0f, (size_t)8 << 20, 1, 1},
        {3, 0, 0.5f, 0, 1, 0},                  /* failed: never chosen however fast */
        {4, 1, -1.0f, 0, 1, 0},                 /* skipped by cuDNN (time -1) */
    };
    const int n = (int)(sizeof perf / sizeof perf[0]);
    CHECK_INT(cuda_algo_pick(perf, n, (size_t)1 << 30, 0), 1);
    CHECK_INT(cuda_algo_pick(perf, n, (size_t)1 << 30, 1), 2);    /* deterministic only */
    CHECK_INT(cuda_algo_pick(perf, n, (size_t)16 << 20, 0), 2);   /* 64 MiB does not fit */
    CHECK_INT(cuda_algo_pick(perf, n, 0, 0), 0);                   /* no workspace at all */
    CHECK_INT(cuda_algo_pick(perf, 0, 0, 0), -1);
    const CudaAlgoPerf none[] = {{0, 0, 1.0f, 0, 1, 0}, {1, 1, 1.0f, 100, 1, 0}};
    CHECK_INT(cuda_algo_pick(none, 2, 99, 0), -1);
    const CudaAlgoPerf nondet[] = {{0, 1, 1.0f, 0, 0, 0}};
    CHECK_INT(cuda_algo_pick(nondet, 1, 0, 1), -1);
    /* order does not matter; an exact tie goes to the earlier entry */
    const CudaAlgoPerf ties[] = {{5, 1, 2.0f, 0, 1, 0}, {6, 1, 1.0f, 0, 1, 0},
                                 {7, 1, 1.0f, 0, 1, 0}};
    CHECK_INT(cuda_algo_pick(ties, 3, 0, 0), 1);
    const CudaAlgoPerf nan_time[] = {{0, 1, NAN, 0, 1, 0}, {1, 1, 5.0f, 0, 1, 0}};
    CHECK_INT(cuda_algo_pick(nan_time, 2, 0, 0), 1);
}

static void test_workspace_budget(void) {
    const size_t mib = (size_t)1 << 20, gib = (size_t)1 << 30;
    /* everything asked for fits: exactly that, not rounded */
    CHECK_INT(cuda_workspace_budget(1234567, 80 * gib, 2 * gib), 1234567);
    CHECK_INT(cuda_workspace_budget(0, 80 * gib, 2 * gib), 0);
    /* at most half the free memory, rounded down to MiB */
    CHECK_INT(cuda_workspace_budget(10 * gib, 3 * gib + 3 * mib, 8 * gib), 1536 * mib + mib);
    /* at most the cap */
    CHECK_INT(cuda_workspace_budget(10 * gib, 80 * gib, 2 * gib), 2 * gib);
    /* nearly nothing free: below 1 MiB becomes 0 (run without workspace) */
    CHECK_INT(cuda_workspace_budget(10 * gib, mib, 2 * gib), 0);
    CHECK_INT(cuda_workspace_budget(10 * gib, 0, 2 * gib), 0);
}

static void test_cache(void) {
    CudaAlgoCache c;
    memset(&c, 0, sizeof c);
    CudaConvKey k1 = cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 3, 3, 1, 1,
                                   CUDA_PREC_FP32, 0);
    CudaConvKey k1b = cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 3, 3, 1, 1,
                                    CUDA_PREC_FP32, 0);
    CHECK(memcmp(&k1, &k1b, sizeof k1) == 0);
    CHECK(cuda_algo_cache_find(&c, &k1) == NULL);
    CHECK_INT(c.misses, 1);
    CudaAlgoChoice v = {.algo = 6, .math = 1, .memory = 4096};
    CHECK_OK(cuda_algo_cache_put(&c, &k1, &v));
    const CudaAlgoChoice *got = cuda_algo_cache_find(&c, &k1b);
    CHECK(got != NULL && got->algo == 6 && got->math == 1 && got->memory == 4096);
    CHECK_INT(c.hits, 1);
    /* every field of the key matters: batch, direction, precision, determinism, geometry */
    CudaConvKey others[] = {
        cuda_conv_key(CUDA_CONV_FWD, 64, 16, 32, 32, 16, 3, 3, 1, 1, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_BWD_DATA, 128, 16, 32, 32, 16, 3, 3, 1, 1, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_BWD_FILTER, 128, 16, 32, 32, 16, 3, 3, 1, 1, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 3, 3, 1, 1, CUDA_PREC_BF16, 0),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 3, 3, 1, 1, CUDA_PREC_FP32, 1),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 32, 3, 3, 1, 1, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 3, 3, 2, 1, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 32, 32, 16, 1, 1, 1, 0, CUDA_PREC_FP32, 0),
        cuda_conv_key(CUDA_CONV_FWD, 128, 16, 16, 32, 16, 3, 3, 1, 1, CUDA_PREC_FP32, 0),
    };
    const int n_others = (int)(sizeof others / sizeof others[0]);
    for (int i = 0; i < n_others; i++)
        CHECK(cuda_algo_cache_find(&c, &others[i]) == NULL);
    CHECK_INT(c.misses, 1 + n_others);
    /* put replaces an existing key instead of adding a second entry */
    CudaAlgoChoice v2 = {.algo = 1, .math = 0, .memory = 0};
    CHECK_OK(cuda_algo_cache_put(&c, &k1, &v2));
    CHECK_INT(c.count, 1);
    got = cuda_algo_cache_find(&c, &k1);
    CHECK(got != NULL && got->algo == 1);
    /* growing past the first allocation keeps every entry */
    for (int i = 0; i < 100; i++) {
        CudaConvKey k = cuda_conv_key(CUDA_CONV_FWD, i + 1, 3, 32, 32, 16, 3, 3, 1, 1,
                                      CUDA_PREC_BF16, 0);
        CudaAlgoChoice ch = {.algo = i % 7, .math = 0, .memory = (size_t)i * 10};
        CHECK_OK(cuda_algo_cache_put(&c, &k, &ch));
    }
    CHECK_INT(c.count, 101);
    int all_found = 1;
    for (int i = 0; i < 100; i++) {
        CudaConvKey k = cuda_conv_key(CUDA_CONV_FWD, i + 1, 3, 32, 32, 16, 3, 3, 1, 1,
                                      CUDA_PREC_BF16, 0);
        const CudaAlgoChoice *e = cuda_algo_cache_find(&c, &k);
        if (!e || e->algo != i % 7 || e->memory != (size_t)i * 10)
            all_found = 0;
    }
    CHECK(all_found);
    cuda_algo_cache_clear(&c);
    CHECK(c.entries == NULL && c.count == 0 && c.cap == 0);
    CHECK(cuda_algo_cache_find(&c, &k1) == NULL);
    cuda_algo_cache_clear(&c);
    cuda_algo_cache_clear(NULL);
}

static void test_messages(void) {
    char buf[512];
    cuda_format_bytes(buf, sizeof buf, 512);
    CHECK(strcmp(buf, "512 B") == 0);
    cuda_format_bytes(buf, sizeof buf, 3 * 1024);
    CHECK(strcmp(buf, "3.0 KiB") == 0);
    cuda_format_bytes(buf, sizeof buf, (size_t)12 << 20);
    CHECK(strcmp(buf, "12.0 MiB") == 0);
    cuda_format_bytes(buf, sizeof buf, (size_t)3 << 29);
    CHECK(strcmp(buf, "1.50 GiB") == 0);

    CHECK(strcmp(cuda_short_path("/home/ci/src/shortcut/core/cuda/cuda_conv.c"),
                 "core/cuda/cuda_conv.c") == 0);
    CHECK(strcmp(cuda_short_path("/x/core/y/core/cuda/a.c"), "core/cuda/a.c") == 0);
    CHECK(strcmp(cuda_short_path("/tmp/hardcore/a.c"), "a.c") == 0);
    CHECK(strcmp(cuda_short_path("a.c"), "a.c") == 0);
    CHECK(strcmp(cuda_short_path(NULL), "?") == 0);

    cuda_format_call_error(buf, sizeof buf, "cudnnConvolutionForward(ctx->dnn, ...)",
                           "/src/core/cuda/cuda_conv.c", 321, "CUDNN_STATUS_BAD_PARAM",
                           "bad parameter");
    CHECK(strcmp(buf, "cuda backend: cudnnConvolutionForward(ctx->dnn, ...) failed at "
                      "core/cuda/cuda_conv.c:321: bad parameter (CUDNN_STATUS_BAD_PARAM)") == 0);

    /* out of memory names the tensor, the size asked for, what is free and what to do */
    Tensor t;
    memset(&t, 0, sizeof t);
    tensor_shape(&t, 512, 640, 32, 32, DT_F32);
    cuda_format_oom(buf, sizeof buf, "tensor", &t, tensor_bytes(&t), (size_t)1 << 29,
                    (size_t)80 << 30);
    CHECK(strcmp(buf, "cuda backend: out of GPU memory: tensor (512, 640, 32, 32) f32 needs "
                      "1.25 GiB, 512.0 MiB of 80.00 GiB free; use a smaller batch size or a "
                      "smaller model") == 0);
    cuda_format_oom(buf, sizeof buf, "the cuDNN workspace", NULL, (size_t)3 << 20, 0, 0);
    CHECK(strcmp(buf, "cuda backend: out of GPU memory: the cuDNN workspace needs 3.0 MiB; use "
                      "a smaller batch size or a smaller model") == 0);
    CHECK(strstr(buf, "free") == NULL);   /* unknown free memory is left out */
    /* a short buffer truncates, never overflows */
    char small[16];
    memset(small, 'x', sizeof small);
    cuda_format_oom(small, sizeof small, "tensor", &t, 1, 0, 0);
    CHECK(small[15] == '\0');
}

/* Without a usable GPU (this machine: no driver), `cuda` fails with a message naming the device
 * and what to do, and `auto` falls back to the CPU; with one, both give the CUDA backend. */
static void test_no_device(void) {
    Backend b;
    Status st = backend_create("cuda", 0, &b, NULL);
    if (st == ST_OK) {
        CHECK(strcmp(b.ops->name, "cuda") == 0);
        CHECK(b.ops->set_precision != NULL);
        CHECK(strstr(b.ops->describe(b.ctx), "cuda: ") == b.ops->describe(b.ctx));
        backend_destroy(&b);
        printf("test_cuda_logic: a CUDA device is present\n");
        return;
    }
    CHECK_INT(st, ST_ERR_DEVICE);
    CHECK(b.ops == NULL && b.ctx == NULL);
    const char *msg = status_message();
    CHECK(strstr(msg, "device 'cuda'") == msg);
    CHECK(strstr(msg, "no usable CUDA device") != NULL || strstr(msg, "no CUDA backend") != NULL);
    CHECK(strstr(msg, "device: cpu") != NULL);
    printf("test_cuda_logic: %s\n", msg);
    int fell_back = -1;
    CHECK_OK(backend_create("auto", 1, &b, &fell_back));
    CHECK_INT(fell_back, 1);
    CHECK(b.ops && strcmp(b.ops->name, "cpu") == 0);
    /* the reason alone, for the caller's log line: no "device 'cuda': ", no advice to pick a
     * device, which auto has just done */
    printf("auto fell back: %s\n", status_message());
    CHECK(strstr(status_message(), "CUDA") != NULL);
    CHECK(strstr(status_message(), "device 'cuda'") == NULL);
    CHECK(strstr(status_message(), "; use device:") == NULL);
    backend_destroy(&b);
    /* asking again gives the same answer (nothing half-initialized was left behind) */
    CHECK_INT(backend_create("cuda", 0, &b, NULL), ST_ERR_DEVICE);
}

int main(void) {
    test_precision();
    test_algo_pick();
    test_workspace_budget();
    test_cache();
    test_messages();
    test_no_device();
    return check_report("test_cuda_logic");
}
