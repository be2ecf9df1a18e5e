/* rng.c — the non-inline part of rng.h. */
#include "rng.h"

#include <math.h>

float rng_normal(uint64_t seed, uint64_t stream, uint64_t counter) {
    /* u1 in (0, 1] so log() is finite. */
    float u1 = 1.0f - rng_uniform(seed, stream, 2 * counter);
    float u2 = rng_uniform(seed, stream, 2 * counter + 1);
    return sqrtf(-2.0f * logf(u1)) * cosf(6.2831853071795864f * u2);
}
