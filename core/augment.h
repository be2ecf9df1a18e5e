/* augment.h — training-time augmentation, reproducible from (seed, epoch, index).
 *
 * augment_draw() decides every random choice for one image (crop offset, flip, cutout holes)
 * from the seed, the epoch and the image's dataset index only; augment_apply() turns a uint8
 * image into the normalized float tensor the network sees. The decision record (AugmentRecord)
 * is kept with the batch, so the viewer can show exactly what was trained on, mask included. */
#ifndef SHORTCUT_AUGMENT_H
#define SHORTCUT_AUGMENT_H

#include <stdint.h>

#include "config.h"

#define AUGMENT_MAX_HOLES 8
#define AUGMENT_MAX_SIDE 512     /* largest resize; augment_out_side() clamps to it */

typedef struct AugmentRecord {
    int crop_x, crop_y;      /* top-left of the 32x32 window in the padded image (pad = no shift) */
    int flipped;
    int holes;
    int hole_x[AUGMENT_MAX_HOLES], hole_y[AUGMENT_MAX_HOLES];  /* hole centres, output coords */
    int hole_size;           /* side; a hole covers [c - size/2, c - size/2 + size), clipped */
} AugmentRecord;

/* The rng counter of draw k (0 <= k < 32) for image `index` in `epoch`, on stream
 * RNG_STREAM_AUGMENT: a GPU kernel that recomputes a record uses the same numbers. Draws:
 * k = 0, 1: crop x, y (rng_below 2*pad+1); k = 2: flip (rng_uniform < 0.5);
 * k = 3 + 2h, 4 + 2h: hole h centre x, y (rng_below S). */
static inline uint64_t augment_counter(int epoch, int index, int k) {
    return ((((uint64_t)(uint32_t)epoch << 32) | (uint32_t)index) << 5) + (uint64_t)k;
}

/* Random choices for image `index` in `epoch`. */
void augment_draw(const AugmentConfig *a, unsigned long long seed, int epoch, int index,
                  AugmentRecord *rec);
/* The identity record (evaluation): no crop shift (crop_x = crop_y = crop_pad), no flip, no
 * holes; resize still applies. */
void augment_identity(const AugmentConfig *a, AugmentRecord *rec);

/* Output side: a->resize if set (clamped to AUGMENT_MAX_SIDE), else 32. */
int augment_out_side(const AugmentConfig *a);

/* Apply: src uint8 (3, 32, 32) -> dst float (3, S, S), S = augment_out_side():
 * crop (zero padding pads uint8 0; reflect = F.pad mode 'reflect', the edge not repeated)
 * -> flip -> resize (F.interpolate bilinear, align_corners=False, no antialias)
 * -> normalize (x/255 - mean) / std -> cutout (zeroes the clipped squares AFTER
 * normalization, like the tutorials). */
void augment_apply(const AugmentConfig *a, const float mean[3], const float std[3],
                   const AugmentRecord *rec, const uint8_t *src, float *dst);

/* The cutout mask of a record as uint8 (S, S): 1 where a hole zeroed the pixel. */
void augment_cutout_mask(const AugmentConfig *a, const AugmentRecord *rec, uint8_t *mask);

#endif
