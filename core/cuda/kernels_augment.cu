/* kernels_augment.cu — training augmentation on the GPU, from a dataset kept in device memory.
 *
 * One thread per output value. The host resolves each image's random choices (augment_draw)
 * and the tables (normalization lookup, bilinear indices and weights) exactly as core/augment.c
 * does; the kernel then performs the same float operations in the same order, with
 * round-to-nearest intrinsics nvcc cannot contract, so every value equals augment_apply()'s:
 * crop (zero padding reads byte 0, reflect mirrors without repeating the edge), flip,
 * normalize through the lookup table, bilinear resize (horizontal pass, then vertical), and
 * cutout last, on the normalized image. */
#include "cuda_kernels.h"

namespace {

const int kThreads = 256;

/* Source index of padded coordinate i, -1 outside the image with zero padding. */
__device__ int pad_index(int i, int pad, int reflect) {
    const int n = 32;
    int s = i - pad;
    if (s >= 0 && s < n)
        return s;
    if (!reflect)
        return -1;
    int period = 2 * (n - 1);
    int m = s % period;
    if (m < 0)
        m += period;
    return m < n ? m : period - m;
}

/* The normalized value at (c, y, x) of the cropped, flipped 32x32 image. */
__device__ float crop_value(const uint8_t *img, const float *lut, const CudaAugImage &a, int pad,
                            int reflect, int c, int y, int x) {
    int row = pad_index(a.crop_y + y, pad, reflect);
    int col = pad_index(a.crop_x + (a.flipped ? 31 - x : x), pad, reflect);
    int v = (row < 0 || col < 0) ? 0 : img[(c * 32 + row) * 32 + col];
    return lut[c * 256 + v];
}

/* (1 - w) * a + w * b, rounded like the host's unfused float expression. */
__device__ float lerp_rn(float a, float b, float w) {
    return __fadd_rn(__fmul_rn(__fsub_rn(1.0f, w), a), __fmul_rn(w, b));
}

__global__ void augment_k(const uint8_t *dataset, CudaAugTables t, int n, int pad, int reflect,
                          int side, float *out) {
    const size_t plane = (size_t)side * (size_t)side;
    const size_t total = (size_t)n * 3 * plane;
    for (size_t o = (size_t)blockIdx.x * blockDim.x + threadIdx.x; o < total;
         o += (size_t)gridDim.x * blockDim.x) {
        int x = (int)(o % (size_t)side);
        int y = (int)((o / (size_t)side) % (size_t)side);
        int c = (int)((o / plane) % 3);
        const CudaAugImage a = t.images[o / (3 * plane)];
        const uint8_t *img = dataset + (size_t)a.index * 3072;
        float v;
        if (side == 32) {
            v = crop_value(img, t.lut, a, pad, reflect, c, y, x);
        } else {
            int r0 = t.i0[y], r1 = t.i1[y], c0 = t.i0[x], c1 = t.i1[x];
            float wx = t.w1[x];
            float ta = lerp_rn(crop_value(img, t.lut, a, pad, reflect, c, r0, c0),
                               crop_value(img, t.lut, a, pad, reflect, c, r0, c1), wx);
            float tb = lerp_rn(crop_value(img, t.lut, a, pad, reflect, c, r1, c0),
                               crop_value(img, t.lut, a, pad, reflect, c, r1, c1), wx);
            v = lerp_rn(ta, tb, t.w1[y]);
        }
        for (int h = 0; h < a.holes && h < CUDA_AUG_MAX_HOLES; h++)
            if (x >= a.hole_x0[h] && x < a.hole_x1[h] && y >= a.hole_y0[h] && y < a.hole_y1[h])
                v = 0.0f;
        out[o] = v;
    }
}

}  // namespace

extern "C" cudaError_t cuk_augment(const uint8_t *dataset, CudaAugTables t, int n, int pad,
                                   int reflect, int side, float *out, cudaStream_t s) {
    size_t total = (size_t)n * 3 * (size_t)side * (size_t)side;
    if (total) {
        size_t blocks = (total + kThreads - 1) / kThreads;
        augment_k<<<(unsigned)(blocks > 8192 ? 8192 : blocks), kThreads, 0, s>>>(
            dataset, t, n, pad, reflect, side, out);
    }
    return cudaGetLastError();
}
