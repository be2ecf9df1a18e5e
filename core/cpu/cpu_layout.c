/* cpu_layout.c — conversions between dense NCHW and the blocked nChw16c layout.
 *
 * Used by download() and by ops that are handed inputs in two different layouts (the slow,
 * rare path: the backend's own ops keep one layout per activation shape). */
#include <string.h>

#include "cpu_internal.h"

/* One sample's block of 16 channels is 16 dense planes in NCHW and hw pixels of 16 lanes in
 * nChw16c; n * C/16 such blocks make up the tensor. */
static void reorder_f32(const Tensor *t, const float *src, int to_blocked, float *dst) {
    long hw = (long)t->h * t->w, blocks = (long)t->n * (t->c / 16);
#pragma omp parallel for schedule(static) if (blocks * hw > 16384)
    for (long b = 0; b < blocks; b++) {
        const float *s = src + b * 16 * hw;
        float *d = dst + b * 16 * hw;
        if (to_blocked)
            for (long i = 0; i < hw; i++)
                for (int l = 0; l < 16; l++) d[i * 16 + l] = s[l * hw + i];
        else
            for (long i = 0; i < hw; i++)
                for (int l = 0; l < 16; l++) d[l * hw + i] = s[i * 16 + l];
    }
}

static void reorder_u8(const Tensor *t, const unsigned char *src, int to_blocked,
                       unsigned char *dst) {
    long hw = (long)t->h * t->w, blocks = (long)t->n * (t->c / 16);
#pragma omp parallel for schedule(static) if (blocks * hw > 16384)
    for (long b = 0; b < blocks; b++) {
        const unsigned char *s = src + b * 16 * hw;
        unsigned char *d = dst + b * 16 * hw;
        if (to_blocked)
            for (long i = 0; i < hw; i++)
                for (int l = 0; l < 16; l++) d[i * 16 + l] = s[l * hw + i];
        else
            for (long i = 0; i < hw; i++)
                for (int l = 0; l < 16; l++) d[l * hw + i] = s[i * 16 + l];
    }
}

void cpu_reorder(const Tensor *t, const void *src, int from, void *dst, int to) {
    if (from == to) {
        memcpy(dst, src, tensor_bytes(t));
        return;
    }
    int to_blocked = to == CPU_LAYOUT_BLK16;
    if (dtype_size(t->dtype) == 1) reorder_u8(t, src, to_blocked, dst);
    else reorder_f32(t, src, to_blocked, dst);
}

Status cpu_data_as(CpuCtx *ctx, const Tensor *t, int layout, int slot, const void **out) {
    int have = cpu_layout(t);
    if (have == layout || t->h * t->w == 1) {
        *out = t->data;
        return ST_OK;
    }
    void *buf;
    TRY(cpu_scratch(ctx, slot, tensor_bytes(t), &buf));
    cpu_reorder(t, t->data, have, buf, layout);
    *out = buf;
    return ST_OK;
}

Status cpu_relayout(CpuCtx *ctx, Tensor *t, int layout) {
    if (layout == CPU_LAYOUT_BLK16 && (t->c % 16 != 0 || t->h * t->w == 1))
        layout = CPU_LAYOUT_NCHW;
    int have = cpu_layout(t);
    if (have != layout) {
        void *buf;
        TRY(cpu_scratch(ctx, CPU_SCRATCH_A, tensor_bytes(t), &buf));
        cpu_reorder(t, t->data, have, buf, layout);
        memcpy(t->data, buf, tensor_bytes(t));
    }
    t->layout = layout;
    return ST_OK;
}
