/* augment.c — per-image augmentation: seeded decisions (augment_draw) and their application
 * (augment_apply), with the PyTorch semantics the recipes were written against.
 *
 * - crop: RandomCrop(32, padding=p); zeros pad with uint8 0 (so a padded pixel normalizes to
 *   -mean/std, as when the crop runs before ToTensor/Normalize), reflect mirrors without
 *   repeating the edge (F.pad mode='reflect': index -1 reads 1).
 * - flip after the crop; resize = F.interpolate(mode='bilinear', align_corners=False,
 *   antialias=False); normalize = (x/255 - mean) / std in float, in that order, like
 *   ToTensor + Normalize; cutout last, on the normalized image (DeVries & Taylor: centres
 *   uniform over the image, squares clipped at the borders, filled with 0).
 * Speed: the crop and flip become two 32-entry index tables and the normalization a 3x256
 * lookup table cached per thread, so the 32x32 path is one table lookup per output value.
 * Normalization commutes with bilinear resizing (weights sum to 1), so resizing runs on the
 * normalized 32x32 image. */
#include "augment.h"

#include <string.h>

#include "rng.h"

int augment_out_side(const AugmentConfig *a) {
    if (!a || a->resize <= 0) return 32;
    return a->resize < AUGMENT_MAX_SIDE ? a->resize : AUGMENT_MAX_SIDE;
}

static int crop_pad(const AugmentConfig *a) { return a->crop_pad > 0 ? a->crop_pad : 0; }

void augment_identity(const AugmentConfig *a, AugmentRecord *rec) {
    memset(rec, 0, sizeof *rec);
    rec->crop_x = rec->crop_y = crop_pad(a);
    rec->hole_size = a->cutout_size > 0 ? a->cutout_size : 0;
}

void augment_draw(const AugmentConfig *a, unsigned long long seed, int epoch, int index,
                  AugmentRecord *rec) {
    augment_identity(a, rec);
    int pad = crop_pad(a);
    if (pad > 0) {
        uint32_t span = (uint32_t)(2 * pad + 1);
        rec->crop_x = (int)rng_below(seed, RNG_STREAM_AUGMENT, augment_counter(epoch, index, 0), span);
        rec->crop_y = (int)rng_below(seed, RNG_STREAM_AUGMENT, augment_counter(epoch, index, 1), span);
    }
    if (a->flip)
        rec->flipped = rng_uniform(seed, RNG_STREAM_AUGMENT, augment_counter(epoch, index, 2)) < 0.5f;
    if (a->cutout_holes > 0 && a->cutout_size > 0) {
        int S = augment_out_side(a);
        int holes = a->cutout_holes < AUGMENT_MAX_HOLES ? a->cutout_holes : AUGMENT_MAX_HOLES;
        rec->holes = holes;
        for (int h = 0; h < holes; h++) {
            rec->hole_x[h] = (int)rng_below(seed, RNG_STREAM_AUGMENT,
                                            augment_counter(epoch, index, 3 + 2 * h), (uint32_t)S);
            rec->hole_y[h] = (int)rng_below(seed, RNG_STREAM_AUGMENT,
                                            augment_counter(epoch, index, 4 + 2 * h), (uint32_t)S);
        }
    }
}

/* Source index for padded coordinate i (0-based in the padded image), or `zero` (the index of
 * a 0 byte past the row) outside the image with zero padding. */
static int pad_index(int i, int pad, PadMode mode, int zero) {
    const int n = 32;
    int s = i - pad;
    if (s >= 0 && s < n) return s;
    if (mode != PAD_REFLECT) return zero;
    /* Mirror about the edge pixels, period 2(n-1); padding wider than the image keeps
     * reflecting instead of reading out of bounds. */
    int period = 2 * (n - 1);
    int m = s % period;
    if (m < 0) m += period;
    return m < n ? m : period - m;
}

/* The per-thread normalization table: lut[c][v] = (v/255 - mean[c]) / std[c]. */
typedef struct NormLut {
    int valid;
    float mean[3], std[3];
    float v[3][256];
} NormLut;

static const float (*norm_lut(const float mean[3], const float std[3]))[256] {
    static _Thread_local NormLut lut;
    if (!lut.valid || memcmp(lut.mean, mean, sizeof lut.mean) != 0 ||
        memcmp(lut.std, std, sizeof lut.std) != 0) {
        for (int c = 0; c < 3; c++)
            for (int v = 0; v < 256; v++) lut.v[c][v] = ((float)v / 255.0f - mean[c]) / std[c];
        memcpy(lut.mean, mean, sizeof lut.mean);
        memcpy(lut.std, std, sizeof lut.std);
        lut.valid = 1;
    }
    return (const float (*)[256])lut.v;
}

/* Crop + flip + normalize into a (3, 32, 32) float image. */
static void crop_flip_normalize(const AugmentConfig *a, const float lut[3][256],
                                const AugmentRecord *rec, const uint8_t *src, float *dst) {
    const int n = 32, zero = 32;
    int pad = crop_pad(a);
    PadMode mode = a->pad_mode;
    int rows[32], cols[32];
    for (int i = 0; i < n; i++) {
        rows[i] = pad_index(rec->crop_y + i, pad, mode, -1);
        int x = rec->flipped ? n - 1 - i : i;
        cols[i] = pad_index(rec->crop_x + x, pad, mode, zero);
    }
    for (int c = 0; c < 3; c++) {
        const float *l = lut[c];
        for (int y = 0; y < n; y++) {
            float *out = dst + (c * n + y) * n;
            if (rows[y] < 0) {
                for (int x = 0; x < n; x++) out[x] = l[0];
                continue;
            }
            uint8_t row[33];
            memcpy(row, src + (c * n + rows[y]) * n, 32);
            row[zero] = 0;
            for (int x = 0; x < n; x++) out[x] = l[row[cols[x]]];
        }
    }
}

/* PyTorch's source index and weight for output i of `out` from `in` (align_corners=False). */
static void linear_table(int in, int out, int *i0, int *i1, float *w1) {
    float scale = (float)in / (float)out;
    for (int i = 0; i < out; i++) {
        float real = scale * ((float)i + 0.5f) - 0.5f;
        if (real < 0) real = 0;
        int k = (int)real;
        float l = real - (float)k;
        i0[i] = k;
        i1[i] = k < in - 1 ? k + 1 : k;
        w1[i] = l < 0 ? 0 : l > 1 ? 1 : l;
    }
}

/* Bilinear (3, 32, 32) -> (3, S, S): a horizontal pass into 32 rows of S, then a vertical.
 * The tables live on the stack (S <= AUGMENT_MAX_SIDE: 64 KB of rows at most). */
static void resize_bilinear(const float *src, int S, float *dst) {
    int i0[AUGMENT_MAX_SIDE], i1[AUGMENT_MAX_SIDE];
    float w1[AUGMENT_MAX_SIDE];
    float rowbuf[32 * AUGMENT_MAX_SIDE];
    linear_table(32, S, i0, i1, w1);
    for (int c = 0; c < 3; c++) {
        const float *s = src + c * 1024;
        for (int y = 0; y < 32; y++) {
            const float *r = s + y * 32;
            float *t = rowbuf + y * S;
            for (int x = 0; x < S; x++) t[x] = (1.0f - w1[x]) * r[i0[x]] + w1[x] * r[i1[x]];
        }
        float *d = dst + (size_t)c * S * S;
        for (int y = 0; y < S; y++) {
            const float *ta = rowbuf + i0[y] * S, *tb = rowbuf + i1[y] * S;
            float h1 = w1[y], h0 = 1.0f - h1;
            float *o = d + (size_t)y * S;
            for (int x = 0; x < S; x++) o[x] = h0 * ta[x] + h1 * tb[x];
        }
    }
}

/* Visit the clipped rows/columns of hole h: [lo, hi) in each axis. */
static void hole_bounds(const AugmentRecord *rec, int h, int S, int *x0, int *x1, int *y0,
                        int *y1) {
    int half = rec->hole_size / 2;
    int xs = rec->hole_x[h] - half, ys = rec->hole_y[h] - half;
    int xe = xs + rec->hole_size, ye = ys + rec->hole_size;
    *x0 = xs < 0 ? 0 : xs;
    *y0 = ys < 0 ? 0 : ys;
    *x1 = xe > S ? S : xe;
    *y1 = ye > S ? S : ye;
}

void augment_apply(const AugmentConfig *a, const float mean[3], const float std[3],
                   const AugmentRecord *rec, const uint8_t *src, float *dst) {
    const float (*lut)[256] = norm_lut(mean, std);
    int S = augment_out_side(a);
    if (S == 32) {
        crop_flip_normalize(a, lut, rec, src, dst);
    } else {
        float tmp[3 * 32 * 32];
        crop_flip_normalize(a, lut, rec, src, tmp);
        resize_bilinear(tmp, S, dst);
    }
    int holes = rec->holes < AUGMENT_MAX_HOLES ? rec->holes : AUGMENT_MAX_HOLES;
    for (int h = 0; h < holes; h++) {
        int x0, x1, y0, y1;
        hole_bounds(rec, h, S, &x0, &x1, &y0, &y1);
        if (x0 >= x1) continue;
        for (int c = 0; c < 3; c++)
            for (int y = y0; y < y1; y++)
                memset(dst + ((size_t)c * S + y) * S + x0, 0, (size_t)(x1 - x0) * sizeof *dst);
    }
}

void augment_cutout_mask(const AugmentConfig *a, const AugmentRecord *rec, uint8_t *mask) {
    int S = augment_out_side(a);
    memset(mask, 0, (size_t)S * S);
    int holes = rec->holes < AUGMENT_MAX_HOLES ? rec->holes : AUGMENT_MAX_HOLES;
    for (int h = 0; h < holes; h++) {
        int x0, x1, y0, y1;
        hole_bounds(rec, h, S, &x0, &x1, &y0, &y1);
        for (int y = y0; y < y1 && x0 < x1; y++) memset(mask + (size_t)y * S + x0, 1, (size_t)(x1 - x0));
    }
}
