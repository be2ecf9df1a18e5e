/* cpu_wino16.c — Winograd F(4x4, 3x3) for 16 -> 16 channel convolutions (3x3, stride 1, pad 1)
 * on blocked activations: the first stage of every CIFAR ResNet.
 *
 * Why our own: oneDNN's direct kernels already run these layers at about this CPU's FMA peak,
 * and its Winograd kernels, built for wide layers, are 0.4-0.5x as fast as direct at 16
 * channels (docs/BENCHMARKS.md). Those layers are about a third of a resnet20 step. Winograd
 * F(4x4, 3x3) needs 36 multiplications per 16 outputs of a channel pair where direct needs
 * 144, so it pays once its transforms are cheap, and at 16 channels they can be: a pixel's 16
 * channels are one blocked row, so the whole data path is 16-float vectors (one AVX-512
 * register), and one tile row's transformed data stays in L1.
 *
 * The work: for each image and row of 4x4 output tiles, (1) gather each tile's 6x6 input
 * patch (zeros outside the image) and transform it, V = B^T d B; (2) for each of the 36
 * positions, multiply the tiles' 16-channel vectors by that position's 16x16 matrix of
 * transformed weights, U = G g G^T (the multiplications: 16 registers of U, broadcast loads of
 * V); (3) transform back, Y = A^T M A, and store the 4x4 outputs inside the image. Backward-data
 * of the same convolution is this forward on the mirrored weights (input and output channels
 * swapped, kernel turned by 180 degrees), as in cpu_conv_dnnl.c's mirror_forward.
 *
 * Results differ from direct convolution by rounding only (the transforms' constants are
 * 1/4, 1/6, 1/12, 1/24 and small integers); test_cpu_parity holds them to the same tolerance
 * as oneDNN's own Winograd. Order of operations is fixed, so runs are bit-reproducible. */
#include <stdlib.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "cpu_internal.h"

enum { W16 = 16, TILE = 4, PATCH = 6, POS = PATCH * PATCH, CHUNK = 8 };

int cpu_wino16_fits(const ConvDesc *d) {
#if defined(__x86_64__) && defined(__GNUC__)
    /* Only where a 16-float vector is one register: on AVX2, U alone would fill every one.
     * The ISA is oneDNN's effective one, so DNNL_MAX_CPU_ISA=AVX2 (how docs/BENCHMARKS.md
     * measures laptops) turns this kernel off along with oneDNN's AVX-512 ones.
     * SHORTCUT_CPU_WINO16=0 leaves these layers to oneDNN, for comparisons. */
    static int answer = -1;   /* -1 until the first call; trainers on other threads may race */
    int on = __atomic_load_n(&answer, __ATOMIC_RELAXED);
    if (on < 0) {
        const char *env = getenv("SHORTCUT_CPU_WINO16");
        int isa = (int)dnnl_get_effective_cpu_isa(), avx512 = (int)dnnl_cpu_isa_avx512_core;
        on = (isa & avx512) == avx512 && __builtin_cpu_supports("avx512f") &&
             !(env && strcmp(env, "0") == 0);
        __atomic_store_n(&answer, on, __ATOMIC_RELAXED);
    }
    return on && d->c_in == W16 && d->c_out == W16 && d->kh == 3 && d->kw == 3 &&
           d->stride == 1 && d->pad == 1 && !d->has_bias;
#else
    (void)d;
    return 0;
#endif
}

/* U[pos][ci][co] = (G g G^T)[pos] with g = w[co][ci] (mirror 0) or w[ci][co] turned by 180
 * degrees (mirror 1: the backward-data of w). */
static void transform_weights(const float *w, int mirror, float *u) {
    for (int co = 0; co < W16; co++)
        for (int ci = 0; ci < W16; ci++) {
            float g[3][3], t[PATCH][3];
            for (int a = 0; a < 3; a++)
                for (int b = 0; b < 3; b++)
                    g[a][b] = mirror ? w[((ci * W16 + co) * 3 + (2 - a)) * 3 + (2 - b)]
                                     : w[((co * W16 + ci) * 3 + a) * 3 + b];
            for (int b = 0; b < 3; b++) {   /* G g, column b */
                float g0 = g[0][b], g1 = g[1][b], g2 = g[2][b];
                t[0][b] = g0 / 4.0f;
                t[1][b] = -(g0 + g1 + g2) / 6.0f;
                t[2][b] = -(g0 - g1 + g2) / 6.0f;
                t[3][b] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
                t[4][b] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
                t[5][b] = g2;
            }
            for (int i = 0; i < PATCH; i++) {   /* (G g) G^T, row i */
                float g0 = t[i][0], g1 = t[i][1], g2 = t[i][2];
                float r[PATCH] = {g0 / 4.0f, -(g0 + g1 + g2) / 6.0f, -(g0 - g1 + g2) / 6.0f,
                                  g0 / 24.0f + g1 / 12.0f + g2 / 6.0f,
                                  g0 / 24.0f - g1 / 12.0f + g2 / 6.0f, g2};
                for (int j = 0; j < PATCH; j++) u[((i * PATCH + j) * W16 + ci) * W16 + co] = r[j];
            }
        }
}

/* B^T applied to six vectors (a column or a row of a patch). */
static inline __attribute__((always_inline)) void input_1d(const CpuV16 v[PATCH],
                                                           CpuV16 r[PATCH]) {
    r[0] = 4.0f * v[0] - 5.0f * v[2] + v[4];
    r[1] = -4.0f * (v[1] + v[2]) + v[3] + v[4];
    r[2] = 4.0f * (v[1] - v[2]) - v[3] + v[4];
    r[3] = 2.0f * (v[3] - v[1]) - v[2] + v[4];
    r[4] = 2.0f * (v[1] - v[3]) - v[2] + v[4];
    r[5] = 4.0f * v[1] - 5.0f * v[3] + v[5];
}

/* A^T applied to six vectors: four outputs. */
static inline __attribute__((always_inline)) void output_1d(const CpuV16 m[PATCH],
                                                            CpuV16 o[TILE]) {
    CpuV16 s12 = m[1] + m[2], d12 = m[1] - m[2], s34 = m[3] + m[4], d34 = m[3] - m[4];
    o[0] = m[0] + s12 + s34;
    o[1] = d12 + 2.0f * d34;
    o[2] = s12 + 4.0f * s34;
    o[3] = d12 + 8.0f * d34 + m[5];
}

/* (1) of both passes: gather tiles tx0 .. tx0+nt-1 of tile row ty (6x6 patches, zeros
 * outside the image) and transform them into v[pos][tile]. A short chunk's unused slots get
 * zeros, which multiply harmlessly. */
static inline __attribute__((always_inline)) void input_tiles(const float *in, int h, int w,
                                                              int ty, int tx0, int nt,
                                                              CpuV16 *v) {
    const CpuV16 zero = {0};
    for (int t = nt; t < CHUNK; t++)
        for (int pos = 0; pos < POS; pos++) v[pos * CHUNK + t] = zero;
    int y0 = ty * TILE - 1;
    for (int t = 0; t < nt; t++) {
        int x0 = (tx0 + t) * TILE - 1;
        CpuV16 tmp[PATCH][PATCH];   /* B^T d: [row of B^T][patch column] */
        int inside = x0 >= 0 && x0 + PATCH <= w && y0 >= 0 && y0 + PATCH <= h;
        for (int j = 0; j < PATCH; j++) {
            CpuV16 col[PATCH];
            int x = x0 + j;
            if (inside) {
                const float *p = in + ((size_t)y0 * (size_t)w + (size_t)x) * W16;
                for (int i = 0; i < PATCH; i++) col[i] = CPU_V16_LOAD(p + (size_t)i * w * W16);
            } else {
                for (int i = 0; i < PATCH; i++) {
                    int y = y0 + i;
                    if (x >= 0 && x < w && y >= 0 && y < h)
                        col[i] = CPU_V16_LOAD(in + ((size_t)y * (size_t)w + (size_t)x) * W16);
                    else
                        col[i] = zero;
                }
            }
            CpuV16 r[PATCH];
            input_1d(col, r);
            for (int i = 0; i < PATCH; i++) tmp[i][j] = r[i];
        }
        for (int i = 0; i < PATCH; i++) {
            CpuV16 r[PATCH];
            input_1d(tmp[i], r);
            for (int j = 0; j < PATCH; j++) v[(i * PATCH + j) * CHUNK + t] = r[j];
        }
    }
}

/* One row of output tiles (ty) of one image: in and out point at the image's (h, w, 16). */
CPU_HOT static void tile_row(const float *in, float *out, const float *u, int h, int w, int ty) {
    /* [pos][tile]: the transformed inputs, then in place the products (a position's inputs
     * are dead once multiplied), so the tile row's data stays in L1 beside U */
    CpuV16 v[POS * CHUNK] __attribute__((aligned(64)));
    const CpuV16 zero = {0};
    int tiles_x = (w + TILE - 1) / TILE;
    /* the next tile row's four new input rows, fetched while this one computes: the gathers
     * were the kernel's stalls (they read across rows, which the hardware prefetcher does not
     * follow ahead of time) */
    for (int y = ty * TILE + 5; y < ty * TILE + 9 && y < h; y++)
        for (int x = 0; x < w; x++)
            __builtin_prefetch(in + ((size_t)y * (size_t)w + (size_t)x) * W16);
    for (int tx0 = 0; tx0 < tiles_x; tx0 += CHUNK) {
        int nt = tiles_x - tx0 < CHUNK ? tiles_x - tx0 : CHUNK;
        input_tiles(in, h, w, ty, tx0, nt, v);
        /* (2) per position: M[tile] = V[tile] (16 input channels) times U (16x16) */
        for (int pos = 0; pos < POS; pos++) {
            CpuV16 uu[W16];
            for (int ci = 0; ci < W16; ci++) uu[ci] = CPU_V16_LOAD(u + (pos * W16 + ci) * W16);
            const float *vp = (const float *)&v[pos * CHUNK];
            CpuV16 acc[CHUNK];
#pragma GCC unroll 8
            for (int t = 0; t < CHUNK; t++) acc[t] = zero;
#pragma GCC unroll 16
            for (int ci = 0; ci < W16; ci++)
#pragma GCC unroll 8
                for (int t = 0; t < CHUNK; t++) acc[t] += vp[t * W16 + ci] * uu[ci];
            /* all CHUNK slots (unused ones hold zeros times U): a store per register, where a
             * copy of nt of them compiled to rep movsq, 7% of the kernel */
#pragma GCC unroll 8
            for (int t = 0; t < CHUNK; t++) v[pos * CHUNK + t] = acc[t];
        }
        /* (3) transform back and store the outputs inside the image */
        for (int t = 0; t < nt; t++) {
            int x0 = (tx0 + t) * TILE;
            CpuV16 tmp[TILE][PATCH];   /* A^T M: [output row][patch column] */
            for (int j = 0; j < PATCH; j++) {
                CpuV16 col[PATCH], o[TILE];
                for (int i = 0; i < PATCH; i++) col[i] = v[(i * PATCH + j) * CHUNK + t];
                output_1d(col, o);
                for (int i = 0; i < TILE; i++) tmp[i][j] = o[i];
            }
            for (int i = 0; i < TILE; i++) {
                int y = ty * TILE + i;
                if (y >= h) break;
                CpuV16 o[TILE];
                output_1d(tmp[i], o);
                for (int j = 0; j < TILE && x0 + j < w; j++)
                    CPU_V16_STORE(out + ((size_t)y * (size_t)w + (size_t)(x0 + j)) * W16, o[j]);
            }
        }
    }
}

Status cpu_wino16_run(const float *in, float *out, const float *w, int mirror, int n, int h,
                      int wd) {
    float u[POS * W16 * W16] __attribute__((aligned(64)));
    transform_weights(w, mirror, u);
    const int tiles_y = (h + TILE - 1) / TILE;
    const long items = (long)n * tiles_y;
    const size_t image = (size_t)h * (size_t)wd * W16;
#pragma omp parallel for schedule(static)
    for (long it = 0; it < items; it++) {
        long b = it / tiles_y;
        tile_row(in + (size_t)b * image, out + (size_t)b * image, u, h, wd, (int)(it % tiles_y));
    }
    return ST_OK;
}
