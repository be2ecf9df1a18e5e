/* rng.h — counter-based random numbers shared by every backend and the data pipeline.
 *
 * A random value is a pure function of (seed, stream, counter): no hidden state, so a run
 * reproduces exactly, the CUDA kernels can compute the same numbers as the CPU, and the viewer
 * can recompute what augmentation did to image i in epoch e. The mixer is SplitMix64's
 * finalizer applied to a combined key. */
#ifndef SHORTCUT_RNG_H
#define SHORTCUT_RNG_H

#include <stdint.h>

/* nvcc compiles the inline functions below for the device too, so the CUDA kernels draw
 * exactly the numbers the CPU does (dropout masks, augmentation). */
#ifdef __CUDACC__
#define RNG_INLINE static inline __host__ __device__
#else
#define RNG_INLINE static inline
#endif

/* Streams keep unrelated uses apart for the same seed. */
enum {
    RNG_STREAM_INIT = 1,      /* weight initialization */
    RNG_STREAM_SHUFFLE = 2,   /* epoch permutation */
    RNG_STREAM_AUGMENT = 3,   /* crop / flip / cutout */
    RNG_STREAM_DROPOUT = 4,   /* dropout masks */
    RNG_STREAM_SPLIT = 5,     /* validation split */
    RNG_STREAM_SHAPES = 6,    /* procedural dataset */
};

RNG_INLINE uint64_t rng_mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 64 random bits for (seed, stream, counter). */
RNG_INLINE uint64_t rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
    return rng_mix64(rng_mix64(seed ^ (stream * 0xd1b54a32d192ed03ULL)) + counter);
}

/* Uniform float in [0, 1) with 24 bits of precision. */
RNG_INLINE float rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
    return (float)(rng_u64(seed, stream, counter) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n), n > 0. The modulo bias is below 2^-32 for the n we use. */
RNG_INLINE uint32_t rng_below(uint64_t seed, uint64_t stream, uint64_t counter, uint32_t n) {
    return (uint32_t)(rng_u64(seed, stream, counter) % n);
}

/* Standard normal via Box-Muller from two counters (2*counter, 2*counter+1). */
float rng_normal(uint64_t seed, uint64_t stream, uint64_t counter);

#endif
