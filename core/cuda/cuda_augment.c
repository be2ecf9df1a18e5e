/* cuda_augment.c — host side of on-device augmentation (the optional `augment` op).
 *
 * Turns the host's AugmentRecords into the kernel's per-image rows (hole rectangles clipped
 * like core/augment.c), builds the normalization lookup table and the bilinear tables with the
 * same float expressions as core/augment.c, and sends all of it in one copy into a device
 * staging buffer ahead of the kernel. The dataset itself never moves: it was uploaded once as a
 * U8 tensor. Any divergence from augment_apply() shows in test_cuda_parity (exact comparison). */
#include <stdlib.h>
#include <string.h>

#include "augment.h"
#include "cuda_internal.h"

static size_t align16(size_t n) { return (n + 15) & ~(size_t)15; }

/* core/augment.c's linear_table: PyTorch's bilinear source indices (align_corners=False). */
static void linear_table(int in, int out, int *i0, int *i1, float *w1) {
    float scale = (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        float real = scale * ((float)i + 0.5f) - 0.5f;
        if (real < 0)
            real = 0;
        int k = (int)real;
        float l = real - (float)k;
        i0[i] = k;
        i1[i] = k < in - 1 ? k + 1 : k;
        w1[i] = l < 0 ? 0 : l > 1 ? 1 : l;
    }
}

static void image_row(const AugmentRecord *r, int index, int side, CudaAugImage *out) {
    memset(out, 0, sizeof *out);
    out->index = index;
    out->crop_x = r->crop_x;
    out->crop_y = r->crop_y;
    out->flipped = r->flipped != 0;
    int holes = r->holes < AUGMENT_MAX_HOLES ? r->holes : AUGMENT_MAX_HOLES;
    if (holes > CUDA_AUG_MAX_HOLES)
        holes = CUDA_AUG_MAX_HOLES;
    out->holes = holes > 0 ? holes : 0;
    for (int h = 0; h < out->holes; h++) {
        /* a hole covers [centre - size/2, centre - size/2 + size), clipped to the image */
        int half = r->hole_size / 2;
        int xs = r->hole_x[h] - half, ys = r->hole_y[h] - half;
        int xe = xs + r->hole_size, ye = ys + r->hole_size;
        out->hole_x0[h] = xs < 0 ? 0 : xs;
        out->hole_y0[h] = ys < 0 ? 0 : ys;
        out->hole_x1[h] = xe > side ? side : xe;
        out->hole_y1[h] = ye > side ? side : ye;
    }
}

Status cuda_augment(void *vctx, const Tensor *dataset, const int32_t *indices,
                    const struct AugmentRecord *recs, int n, const struct AugmentConfig *a,
                    const float mean[3], const float std[3], Tensor *out) {
    CudaCtx *ctx = vctx;
    const char *op = "augment";
    if (!a || !mean || !std || n < 0 || (n > 0 && (!indices || !recs)))
        return status_fail(ST_ERR_ARG, "cuda %s: invalid arguments (n %d)", op, n);
    TRY(cuda_need(op, "dataset", dataset, DT_U8));
    if (dataset->c != 3 || dataset->h != 32 || dataset->w != 32)
        return status_fail(ST_ERR_ARG, "cuda %s: the dataset is (%d, %d, %d, %d), expected "
                           "(count, 3, 32, 32) u8", op, dataset->n, dataset->c, dataset->h,
                           dataset->w);
    const int side = augment_out_side(a);
    TRY(cuda_need(op, "out", out, DT_F32));
    if (out->n != n || out->c != 3 || out->h != side || out->w != side)
        return status_fail(ST_ERR_ARG, "cuda %s: out is (%d, %d, %d, %d), expected (%d, 3, %d, "
                           "%d)", op, out->n, out->c, out->h, out->w, n, side, side);
    for (int i = 0; i < n; i++)
        if (indices[i] < 0 || indices[i] >= dataset->n)
            return status_fail(ST_ERR_ARG, "cuda %s: image index %d (batch position %d) is "
                               "outside the dataset's %d images", op, (int)indices[i], i,
                               dataset->n);
    if (n == 0)
        return ST_OK;

    const int resize = side != 32;
    const size_t off_lut = align16((size_t)n * sizeof(CudaAugImage));
    const size_t off_i0 = off_lut + align16(3 * 256 * sizeof(float));
    const size_t off_i1 = off_i0 + align16((size_t)side * sizeof(int));
    const size_t off_w1 = off_i1 + align16((size_t)side * sizeof(int));
    const size_t bytes = resize ? off_w1 + align16((size_t)side * sizeof(float)) : off_i0;
    if (ctx->aug_host_cap < bytes) {
        void *h = realloc(ctx->aug_host, bytes);
        if (!h)
            return status_fail(ST_ERR_OOM, "cuda %s: out of host memory (%zu bytes of tables)",
                               op, bytes);
        ctx->aug_host = h;
        ctx->aug_host_cap = bytes;
    }
    char *host = ctx->aug_host;
    CudaAugImage *rows = (CudaAugImage *)host;
    for (int i = 0; i < n; i++)
        image_row(&recs[i], indices[i], side, &rows[i]);
    float *lut = (float *)(host + off_lut);
    for (int c = 0; c < 3; c++)
        for (int v = 0; v < 256; v++)
            lut[c * 256 + v] = ((float)v / 255.0f - mean[c]) / std[c];
    if (resize)
        linear_table(32, side, (int *)(host + off_i0), (int *)(host + off_i1),
                     (float *)(host + off_w1));
    TRY(cuda_grow(&ctx->aug_dev, &ctx->aug_dev_cap, bytes, "the augmentation tables"));
    /* pageable source: staged before the call returns, so the host tables may change next */
    CU_TRY(cudaMemcpyAsync(ctx->aug_dev, host, bytes, cudaMemcpyHostToDevice, ctx->stream));
    char *dev = ctx->aug_dev;
    CudaAugTables t = {(const CudaAugImage *)dev, (const float *)(dev + off_lut),
                       resize ? (const int *)(dev + off_i0) : NULL,
                       resize ? (const int *)(dev + off_i1) : NULL,
                       resize ? (const float *)(dev + off_w1) : NULL};
    CU_TRY(cuk_augment(dataset->data, t, n, a->crop_pad > 0 ? a->crop_pad : 0,
                       a->pad_mode == PAD_REFLECT, side, out->data, ctx->stream));
    out->layout = 0;
    return ST_OK;
}
