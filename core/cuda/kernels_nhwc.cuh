/* kernels_nhwc.cuh — the work of each thread of the kernels that read and write activations
 * stored channels-last in 16 bits (kernels_nhwc.cu), as __host__ __device__ functions.
 *
 * Why a header of thread bodies: the kernels are thin loops around these functions, and
 * tests/nhwc_emulate.cu runs the same functions on the CPU, thread by thread and block by
 * block, which test_cuda_nhwc checks against the reference backend. So the index arithmetic,
 * the reductions and the rounding are checked on machines without a GPU; only the launch
 * itself needs one.
 *
 * Storage: a tensor of logical shape (N, C, H, W) holds N*H*W rows of C 16-bit values, row
 * (n, i, j) at ((n * H + i) * W + j) * C. The 16 bits are bf16 (H16 = 0) or IEEE half
 * (H16 = 1), kept as uint16_t so host and device code share one type; values are converted to
 * float, computed on in float exactly as the fp32 kernels do, and rounded to nearest even on
 * the way out. Vectors of V = 8 values (16 bytes) are used where C is a multiple of 8, which
 * every tensor a convolution writes in this layout is; V = 1 otherwise. */
#ifndef SHORTCUT_KERNELS_NHWC_CUH
#define SHORTCUT_KERNELS_NHWC_CUH

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cuda_fp16.h>

#include "cuda_kernels.h"
#include "rng.h"

#define NHWC_HD __host__ __device__ __forceinline__

namespace nhwc {

/* ---- 16-bit values ---- */

NHWC_HD float bits_to_float(uint32_t u) {
#ifdef __CUDA_ARCH__
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
#endif
}

NHWC_HD uint32_t float_to_bits(float f) {
#ifdef __CUDA_ARCH__
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
#endif
}

NHWC_HD float bf16_to_float(uint16_t b) { return bits_to_float((uint32_t)b << 16); }

/* Round to nearest even, as __float2bfloat16_rn; a NaN stays a (quiet) NaN. */
NHWC_HD uint16_t float_to_bf16(float f) {
    uint32_t u = float_to_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

NHWC_HD float half_to_float(uint16_t h) {
    __half_raw r;
    r.x = h;
    return __half2float(__half(r));
}

NHWC_HD uint16_t float_to_half(float f) {
    __half_raw r = __half_raw(__float2half_rn(f));
    return r.x;
}

template <int H16> NHWC_HD float ld(uint16_t v) { return H16 ? half_to_float(v) : bf16_to_float(v); }
template <int H16> NHWC_HD uint16_t st(float f) { return H16 ? float_to_half(f) : float_to_bf16(f); }

/* V consecutive values from p (16-byte aligned when V == 8) as floats, and back. */
template <int H16, int V> NHWC_HD void load(const uint16_t *p, float (&v)[V]) {
#ifdef __CUDA_ARCH__
    if constexpr (V == 8) {
        const uint4 t = *reinterpret_cast<const uint4 *>(p);
        const uint32_t w[4] = {t.x, t.y, t.z, t.w};
        for (int k = 0; k < 4; k++) {
            v[2 * k] = ld<H16>((uint16_t)(w[k] & 0xffffu));
            v[2 * k + 1] = ld<H16>((uint16_t)(w[k] >> 16));
        }
    } else
#endif
    {
        for (int k = 0; k < V; k++)
            v[k] = ld<H16>(p[k]);
    }
}

template <int H16, int V> NHWC_HD void store(uint16_t *p, const float (&v)[V]) {
#ifdef __CUDA_ARCH__
    if constexpr (V == 8) {
        uint32_t w[4];
        for (int k = 0; k < 4; k++)
            w[k] = (uint32_t)st<H16>(v[2 * k]) | ((uint32_t)st<H16>(v[2 * k + 1]) << 16);
        *reinterpret_cast<uint4 *>(p) = make_uint4(w[0], w[1], w[2], w[3]);
    } else
#endif
    {
        for (int k = 0; k < V; k++)
            p[k] = st<H16>(v[k]);
    }
}

/* Channel of element `at` of a channels-last tensor of C channels: a 32-bit division where the
 * index allows. A 64-bit one costs a GPU over a hundred instructions, and the batchnorm passes
 * did one per vector. */
NHWC_HD int channel_of(size_t at, int C) {
    return at <= 0xffffffffu ? (int)((uint32_t)at % (uint32_t)C) : (int)(at % (size_t)C);
}

/* relu as the fp32 kernels have it: NaN passes */
NHWC_HD float relu(float v) { return (v > 0.0f || v != v) ? v : 0.0f; }

/* ---- batchnorm statistics: sums per channel over the rows ----
 *
 * Grid (channel blocks, P slices), kThreads threads. A channel block covers up to kThreads
 * groups of V channels; with Gb groups in the block, rows_per_pass = kThreads / Gb threads
 * walk the slice's rows in step, thread t taking group t % Gb of rows t / Gb, t / Gb +
 * rows_per_pass, ... Phase 1: each thread sums its rows (in float, moved into double every
 * kFlush rows, as kernels_bn.cu does) and leaves 2 * V doubles in shared memory. Phase 2 (after
 * a barrier): the block adds each channel's rows_per_pass partials in a fixed order and writes
 * part[2 * (c * P + p) + {0, 1}], the layout kernels_bn.cu's finishing kernels read. Nothing
 * depends on timing, so results repeat run to run. */
const int kThreads = 256;
const int kFlush = 32;
const int kBatch = 4;   /* rows a thread of the statistics loads at once */

struct BnShape {
    int rows;   /* N * H * W */
    int C;
    int P;      /* slices of the rows */
};

NHWC_HD int vec_of(int C) { return C % 8 == 0 ? 8 : 1; }
NHWC_HD int channel_blocks(int C) {
    int groups = C / vec_of(C);
    return (groups + kThreads - 1) / kThreads;
}
/* Vectors for an elementwise pass over n values: 8 where n allows (the buffers themselves are
 * cudaMalloc'd, so aligned). */
NHWC_HD int vec_for_count(size_t n) { return n % 8 == 0 ? 8 : 1; }
/* How many slices the batchnorm sums split their work into, for grids of blocks_per_slice x P
 * blocks: about per_sm blocks per multiprocessor in all, at most `limit` (one per image in
 * NCHW, one per row here). A function of the shape and the GPU only, so results repeat. */
NHWC_HD int slices_for(int limit, int blocks_per_slice, int sm_count, int per_sm = 4) {
    int target = per_sm * (sm_count > 0 ? sm_count : 1);
    int p = (target + blocks_per_slice - 1) / blocks_per_slice;
    if (p > limit)
        p = limit;
    if (p > 65535)
        p = 65535;
    return p < 1 ? 1 : p;
}
/* The channels-last sums kernels (stats_k, grad_sums_k) run kSumsBlocksPerSm blocks a
 * multiprocessor: their launch bound caps the registers to fit that many, and the grid is one
 * wave of them. At V = 8 they needed 100-113 registers unbounded, so only two blocks fitted
 * while the grid asked for four: two waves, half the loads in flight. */
const int kSumsBlocksPerSm = 3;
NHWC_HD int bn_slices(int rows, int C, int sm_count) {
    return slices_for(rows, channel_blocks(C), sm_count, kSumsBlocksPerSm);
}
/* Shared memory of a block of sums: thread t's partial sum and sum of squares of its k-th
 * channel at [(2k) * kRow + t] and [(2k + 1) * kRow + t]. Threads side by side write side by
 * side, and the readers of phase 2 hit different banks (kRow is odd). Thread-major rows of 2V
 * doubles put a warp's 32 stores in one bank: 16 stores of 32 ways each per thread, which with
 * four blocks a multiprocessor cost about 8 us a launch. */
const int kRow = kThreads + 1;
const int kShared = 2 * 8 * kRow;
NHWC_HD size_t shared_at(int t, int k, int which) {
    return (size_t)(2 * k + which) * (size_t)kRow + (size_t)t;
}

struct BlockGeom {
    int g0, Gb, rows_per_pass, r0, r1;
};

NHWC_HD BlockGeom geom(const BnShape &s, int V, int cb, int p) {
    BlockGeom b;
    const int groups = s.C / V;
    b.g0 = cb * kThreads;
    b.Gb = groups - b.g0 < kThreads ? groups - b.g0 : kThreads;
    b.rows_per_pass = kThreads / b.Gb;
    b.r0 = (int)((long long)s.rows * p / s.P);
    b.r1 = (int)((long long)s.rows * (p + 1) / s.P);
    return b;
}

/* Per-thread sums of V channels: float partials in registers, moved every kFlush rows into the
 * thread's own double slots in shared memory (shared_at(t, k, .)), where phase 2 reads them.
 * This frees 2 * V double registers for the loads in flight under the kernels' register cap
 * (kSumsBlocksPerSm); the additions, and so the sums, are the same as with registers. */
template <int V> struct Acc {
    double *sh;
    int t;
    float fs[V], fq[V];
    int run;

    NHWC_HD void init(double *shared, int thread) {
        sh = shared;
        t = thread;
        for (int k = 0; k < V; k++) {
            sh[shared_at(t, k, 0)] = sh[shared_at(t, k, 1)] = 0.0;
            fs[k] = fq[k] = 0.0f;
        }
        run = 0;
    }
    NHWC_HD void add(int k, float a, float b) {
        fs[k] += a;
        fq[k] += b;
    }
    NHWC_HD void end_row() {
        if (++run == kFlush) {
            flush();
            run = 0;
        }
    }
    NHWC_HD void flush() {
        for (int k = 0; k < V; k++) {
            sh[shared_at(t, k, 0)] += fs[k];
            sh[shared_at(t, k, 1)] += fq[k];
            fs[k] = fq[k] = 0.0f;
        }
    }
    /* the thread's sums complete in shared memory, for phase 2 (after a barrier) */
    NHWC_HD void finish() { flush(); }
};

/* Phase 2, common to both sums, in two steps with a barrier between: the rows_per_pass
 * partials of each of the block's Gb * V channels are added by tpc threads each (2a, into sh2)
 * and then by one (2b, into part), so all threads share the work even when the block has few
 * channels (16 channels: 128 partials each). With more than kThreads channels, 2a adds each
 * channel's partials on one thread straight into part and 2b has nothing to do. The order of
 * the additions is fixed either way. sh2 holds 2 * kThreads doubles. */
template <int V> NHWC_HD int sums_tpc(const BlockGeom &b) {
    const int channels = b.Gb * V;
    return channels > kThreads ? 0 : kThreads / channels;
}

template <int V>
NHWC_HD void sums_phase2a(const BnShape &s, int cb, int p, int t, const double *sh, double *sh2,
                          double *part) {
    const BlockGeom b = geom(s, V, cb, p);
    const int tpc = sums_tpc<V>(b), step = tpc ? tpc : 1;
    for (int j = tpc ? t / tpc : t; j < b.Gb * V; j += tpc ? b.Gb * V : kThreads) {
        const int gi = j / V, k = j % V, sub = tpc ? t % tpc : 0;
        double a = 0.0, q = 0.0;
        for (int ro = sub; ro < b.rows_per_pass; ro += step) {
            a += sh[shared_at(ro * b.Gb + gi, k, 0)];
            q += sh[shared_at(ro * b.Gb + gi, k, 1)];
        }
        if (tpc) {
            sh2[2 * t] = a;
            sh2[2 * t + 1] = q;
        } else {
            const int c = (b.g0 + gi) * V + k;
            part[2 * ((size_t)c * s.P + p)] = a;
            part[2 * ((size_t)c * s.P + p) + 1] = q;
        }
    }
}

template <int V>
NHWC_HD void sums_phase2b(const BnShape &s, int cb, int p, int t, const double *sh2,
                          double *part) {
    const BlockGeom b = geom(s, V, cb, p);
    const int tpc = sums_tpc<V>(b);
    if (!tpc || t >= b.Gb * V)
        return;
    double a = 0.0, q = 0.0;
    for (int sub = 0; sub < tpc; sub++) {
        a += sh2[2 * (t * tpc + sub)];
        q += sh2[2 * (t * tpc + sub) + 1];
    }
    const int gi = t / V, k = t % V;
    const int c = (b.g0 + gi) * V + k;
    part[2 * ((size_t)c * s.P + p)] = a;
    part[2 * ((size_t)c * s.P + p) + 1] = q;
}

/* One row's values into the statistics: d = v - pivot and d * d. */
template <int V>
NHWC_HD void stats_row(Acc<V> &acc, const float (&v)[V], const float (&pivot)[V]) {
    for (int k = 0; k < V; k++) {
        const float d = v[k] - pivot[k];
        acc.add(k, d, d * d);
    }
    acc.end_row();
}

/* Forward, phase 1: sums of d = x - pivot[c] and d * d, pivot[c] = x at row 0. Slice 0's
 * threads of row offset 0 also write the pivots (as float) to pivot_out for the finishing
 * kernel. */
template <int H16, int V>
NHWC_HD void stats_phase1(const BnShape &s, int cb, int p, int t, const uint16_t *x,
                          double *sh, float *pivot_out) {
    const BlockGeom b = geom(s, V, cb, p);
    if (t >= b.rows_per_pass * b.Gb)
        return;
    const int g = b.g0 + t % b.Gb;
    float pivot[V];
    load<H16, V>(x + (size_t)g * V, pivot);
    if (p == 0 && t < b.Gb)
        for (int k = 0; k < V; k++)
            pivot_out[g * V + k] = pivot[k];
    Acc<V> acc;
    acc.init(sh, t);
    /* kBatch rows' loads issued before their sums, so each thread keeps several in flight (one
     * at a time left the sums at a third of the memory's bandwidth); the additions keep the
     * row order of the one-at-a-time loop */
    const int step = b.rows_per_pass;
    int r = b.r0 + t / b.Gb;
    for (; r + (kBatch - 1) * step < b.r1; r += kBatch * step) {
        float v[kBatch][V];
        for (int i = 0; i < kBatch; i++)
            load<H16, V>(x + (size_t)(r + i * step) * s.C + (size_t)g * V, v[i]);
        for (int i = 0; i < kBatch; i++) {
            stats_row<V>(acc, v[i], pivot);
        }
    }
    for (; r < b.r1; r += step) {
        float v[V];
        load<H16, V>(x + (size_t)r * s.C + (size_t)g * V, v);
        stats_row<V>(acc, v, pivot);
    }
    acc.finish();
}

/* The normalization's scale and shift of a channel, and its affine map: the forward's
 * finishing kernel and apply pass use these, and so does a RELU-mode backward that recomputes
 * the forward's output, so both round the same float operations the same way. The multiply-adds
 * are explicit fused ones: left to the compiler, one place could fuse and the other not, and a
 * recomputed output within one rounding of zero could then fall on the other side. */
NHWC_HD float fused_madd(float a, float b, float c) {
#ifdef __CUDA_ARCH__
    return __fmaf_rn(a, b, c);
#else
    return fmaf(a, b, c);
#endif
}
NHWC_HD float bn_scale(float gamma, float invstd) { return gamma * invstd; }
NHWC_HD float bn_shift(float beta, float mean, float scale) {
    return fused_madd(-mean, scale, beta);
}
NHWC_HD float bn_affine(float v, float scale, float shift) { return fused_madd(v, scale, shift); }

/* What a RELU-mode backward needs to recompute the forward's output from x instead of reading y
 * (backend.h allows it; it saves a read of y in both backward passes): the forward's gamma and
 * beta and the saved statistics. beta NULL: read y. */
struct BnFwd {
    const float *gamma, *beta, *mean, *invstd;
};

template <int MODE> NHWC_HD bool recomputes(const BnFwd &f) {
    return MODE == CUK_BN_RELU && f.beta != nullptr;
}

/* Scale and shift of channels c0 .. c0 + V - 1, as the forward computed them. */
template <int V>
NHWC_HD void fwd_coef(const BnFwd &f, int c0, float (&scale)[V], float (&shift)[V]) {
    for (int k = 0; k < V; k++) {
        scale[k] = bn_scale(f.gamma[c0 + k], f.invstd[c0 + k]);
        shift[k] = bn_shift(f.beta[c0 + k], f.mean[c0 + k], scale[k]);
    }
}

/* The forward's output at `at` (unless PLAIN, which needs none): recomputed from the values xv
 * of x there, rounded to 16 bits as the forward stored it, or read from y. */
template <int H16, int MODE, int V>
NHWC_HD void fwd_out(const uint16_t *y, size_t at, bool recompute, const float (&xv)[V],
                     const float (&scale)[V], const float (&shift)[V], float (&yv)[V]) {
    if (MODE == CUK_BN_PLAIN)
        return;
    if (recompute) {
        for (int k = 0; k < V; k++)
            yv[k] = ld<H16>(st<H16>(relu(bn_affine(xv[k], scale[k], shift[k]))));
    } else {
        load<H16, V>(y + at, yv);
    }
}

/* The gradient reaching the batchnorm's output: dy (+ dy2 in ADD_RELU when given), masked by
 * the forward's output yv > 0 unless PLAIN. */
template <int H16, int MODE, int V>
NHWC_HD void grad_in(const uint16_t *dy, const uint16_t *dy2, const float (&yv)[V], size_t at,
                     float (&g)[V]) {
    load<H16, V>(dy + at, g);
    if (MODE == CUK_BN_ADD_RELU && dy2) {
        float g2[V];
        load<H16, V>(dy2 + at, g2);
        for (int k = 0; k < V; k++)
            g[k] += g2[k];
    }
    if (MODE != CUK_BN_PLAIN)
        for (int k = 0; k < V; k++)
            g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
}

/* Backward, phase 1: sums of g and g * (x - mean[c]). */
template <int H16, int MODE, int V>
NHWC_HD void grad_phase1(const BnShape &s, int cb, int p, int t, const uint16_t *x,
                         const uint16_t *y, const uint16_t *dy, const uint16_t *dy2,
                         const BnFwd &f, double *sh) {
    const BlockGeom b = geom(s, V, cb, p);
    if (t >= b.rows_per_pass * b.Gb)
        return;
    const int g = b.g0 + t % b.Gb;
    const bool recompute = recomputes<MODE>(f);
    float mu[V], scale[V], shift[V];
    for (int k = 0; k < V; k++)
        mu[k] = f.mean[g * V + k];
    if (recompute)
        fwd_coef<V>(f, g * V, scale, shift);
    Acc<V> acc;
    acc.init(sh, t);
    for (int r = b.r0 + t / b.Gb; r < b.r1; r += b.rows_per_pass) {
        const size_t at = (size_t)r * s.C + (size_t)g * V;
        float gv[V], v[V], yv[V];
        load<H16, V>(x + at, v);
        fwd_out<H16, MODE, V>(y, at, recompute, v, scale, shift, yv);
        grad_in<H16, MODE, V>(dy, dy2, yv, at, gv);
        for (int k = 0; k < V; k++)
            acc.add(k, gv[k], gv[k] * (v[k] - mu[k]));
        acc.end_row();
    }
    acc.finish();
}

/* ---- batchnorm, finishing (one warp per channel; shared with kernels_bn.cu's NCHW path) ----
 * A channel's P partial sums are added by kLanes lanes: lane l takes slices l, l + kLanes, ...
 * in order, so adjacent lanes read adjacent slices and the loads coalesce; then lane l + o is
 * added into lane l for o = kLanes / 2, ..., 2, 1 (shuffles on the device, lane_tree on the
 * host). A fixed order, so every run gives the same sums. One thread per channel adding all P
 * slices itself took 30 us a launch on an H100 for 640 channels of 528 slices. */
const int kLanes = 32;

NHWC_HD void lane_sums(const double *part, int c, int P, int lane, double &s, double &q) {
    s = q = 0.0;
    for (int p = lane; p < P; p += kLanes) {
        s += part[2 * ((size_t)c * P + p)];
        q += part[2 * ((size_t)c * P + p) + 1];
    }
}

/* The device's shuffle tree, for a host that holds all kLanes lanes' sums; lane 0 ends with the
 * total. */
inline void lane_tree(double *s, double *q) {
    for (int o = kLanes / 2; o > 0; o >>= 1)
        for (int l = 0; l < o; l++) {
            s[l] += s[l + o];
            q[l] += q[l + o];
        }
}

/* Channel c from the sums of x - pivot[c * pivot_stride] over m values: mean, invstd, the
 * running statistics (unbiased variance), and the scale and shift of the normalization in
 * coef[c] and coef[C + c]. */
NHWC_HD void stats_finish_channel(int c, double s, double q, int C, long long m,
                                  const float *pivot, size_t pivot_stride, const float *gamma,
                                  const float *beta, float *run_mean, float *run_var,
                                  float momentum, float eps, float *save_mean, float *save_invstd,
                                  float *coef) {
    const double d = s / (double)m;
    double var = q / (double)m - d * d;
    if (var < 0.0)
        var = 0.0;
    const double mean = (double)pivot[(size_t)c * pivot_stride] + d;
    const float invstd = (float)(1.0 / sqrt(var + (double)eps));
    save_mean[c] = (float)mean;
    save_invstd[c] = invstd;
    run_mean[c] = (float)((1.0 - momentum) * run_mean[c] + momentum * mean);
    run_var[c] = (float)((1.0 - momentum) * run_var[c] +
                         momentum * var * (double)m / (double)(m - 1));
    const float scale = bn_scale(gamma[c], invstd);
    coef[c] = scale;
    coef[C + c] = bn_shift(beta[c], (float)mean, scale);
}

/* Channel c of the backward: dgamma, dbeta, and dx = k1 * (g - k2 - (x - mean) * k3) with
 * k1..k3 into coef[c], coef[C + c], coef[2C + c]. */
NHWC_HD void grad_finish_channel(int c, double s, double q, int C, long long m,
                                 const float *gamma, const float *invstd, float *dgamma,
                                 float *dbeta, float *coef) {
    const double is = invstd[c];
    dbeta[c] = (float)s;
    dgamma[c] = (float)(q * is);
    coef[c] = (float)(gamma[c] * is);
    coef[C + c] = (float)(s / (double)m);
    coef[2 * C + c] = (float)(is * is * q / (double)m);
}

/* ---- batchnorm, per vector of V values of one row (j-th vector of the tensor) ---- */

/* y = x * coef[c] + coef[C + c], then + r and relu by MODE */
template <int H16, int MODE, int V>
NHWC_HD void apply_vec(size_t j, int C, const uint16_t *x, const uint16_t *r, uint16_t *y,
                       const float *coef) {
    const size_t at = j * V;
    const int c0 = channel_of(at, C);
    float v[V];
    load<H16, V>(x + at, v);
    for (int k = 0; k < V; k++)
        v[k] = bn_affine(v[k], coef[c0 + k], coef[C + c0 + k]);
    if (MODE == CUK_BN_ADD_RELU) {
        float rv[V];
        load<H16, V>(r + at, rv);
        for (int k = 0; k < V; k++)
            v[k] += rv[k];
    }
    if (MODE != CUK_BN_PLAIN)
        for (int k = 0; k < V; k++)
            v[k] = relu(v[k]);
    store<H16, V>(y + at, v);
}

/* dr = g (when dr is not NULL), dx = k1 * (g - k2 - (x - mean) * k3) with k1..k3 in coef[c],
 * coef[C + c], coef[2C + c]. Every input of the vector is read before anything is written, so
 * dx and dr may alias dy or dy2. */
template <int H16, int MODE, int V>
NHWC_HD void grad_apply_vec(size_t j, int C, const uint16_t *x, const uint16_t *y,
                            const uint16_t *dy, const uint16_t *dy2, const BnFwd &f,
                            const float *coef, uint16_t *dx, uint16_t *dr) {
    const size_t at = j * V;
    const int c0 = channel_of(at, C);
    const bool recompute = recomputes<MODE>(f);
    float g[V], v[V], yv[V], scale[V], shift[V];
    load<H16, V>(x + at, v);
    if (recompute)
        fwd_coef<V>(f, c0, scale, shift);
    fwd_out<H16, MODE, V>(y, at, recompute, v, scale, shift, yv);
    grad_in<H16, MODE, V>(dy, dy2, yv, at, g);
    for (int k = 0; k < V; k++) {
        const int c = c0 + k;
        v[k] = coef[c] * (g[k] - coef[C + c] - (v[k] - f.mean[c]) * coef[2 * C + c]);
    }
    if (dr)
        store<H16, V>(dr + at, g);
    store<H16, V>(dx + at, v);
}

/* ---- elementwise, element or vector j ---- */

template <int H16, int V> NHWC_HD void relu_vec(size_t j, const uint16_t *x, uint16_t *y) {
    float v[V];
    load<H16, V>(x + j * V, v);
    for (int k = 0; k < V; k++)
        v[k] = relu(v[k]);
    store<H16, V>(y + j * V, v);
}

template <int H16, int V>
NHWC_HD void relu_bwd_vec(size_t j, const uint16_t *y, const uint16_t *dy, uint16_t *dx) {
    float yv[V], g[V];
    load<H16, V>(y + j * V, yv);
    load<H16, V>(dy + j * V, g);
    for (int k = 0; k < V; k++)
        g[k] = yv[k] > 0.0f ? g[k] : 0.0f;
    store<H16, V>(dx + j * V, g);
}

/* y = a + b (accumulate is y = y + x) */
template <int H16, int V>
NHWC_HD void add_vec(size_t j, const uint16_t *a, const uint16_t *b, uint16_t *y) {
    float va[V], vb[V];
    load<H16, V>(a + j * V, va);
    load<H16, V>(b + j * V, vb);
    for (int k = 0; k < V; k++)
        va[k] += vb[k];
    store<H16, V>(y + j * V, va);
}

template <int H16, int V> NHWC_HD void scale_vec(size_t j, uint16_t *p, float s) {
    float v[V];
    load<H16, V>(p + j * V, v);
    for (int k = 0; k < V; k++)
        v[k] *= s;
    store<H16, V>(p + j * V, v);
}

/* ---- dropout: elementwise over vectors of V channels of one row ----
 * The keep decision of NCHW element q (or of its plane) is drawn as the reference draws it
 * (backend.h), so the values match the CPU's whatever the layout. The mask is stored in the
 * values' own channels-last order (Tensor.layout CUDA_LAYOUT_NHWC_U8; download() puts it back
 * in NCHW order), so forward and backward are plain vector passes: V mask bytes beside each
 * vector of V values. (Kept in NCHW order, the mask made one side of every access scattered:
 * the 32x32-tile kernels that transposed it through shared memory still took 145 us a launch
 * on wrn_28_10's 160-channel maps, where the bytes need about 35.) */
struct DropShape {
    int rows, C, hw;   /* rows = n * h * w of the channels-last tensor */
};

/* V mask bytes at p (8-byte aligned when V == 8), and back. */
template <int V> NHWC_HD void load_mask(const uint8_t *p, uint8_t (&m)[V]) {
#ifdef __CUDA_ARCH__
    if constexpr (V == 8) {
        const uint2 t = *reinterpret_cast<const uint2 *>(p);
        for (int k = 0; k < 4; k++) {
            m[k] = (uint8_t)(t.x >> (8 * k));
            m[k + 4] = (uint8_t)(t.y >> (8 * k));
        }
    } else
#endif
    {
        for (int k = 0; k < V; k++)
            m[k] = p[k];
    }
}

template <int V> NHWC_HD void store_mask(uint8_t *p, const uint8_t (&m)[V]) {
#ifdef __CUDA_ARCH__
    if constexpr (V == 8) {
        uint2 t = make_uint2(0u, 0u);
        for (int k = 0; k < 4; k++) {
            t.x |= (uint32_t)m[k] << (8 * k);
            t.y |= (uint32_t)m[k + 4] << (8 * k);
        }
        *reinterpret_cast<uint2 *>(p) = t;
    } else
#endif
    {
        for (int k = 0; k < V; k++)
            p[k] = m[k];
    }
}

/* Vector j: values j * V .. j * V + V - 1, all in one row since V divides C. Their NCHW
 * indices step by hw from the first; dropout2d draws once per (image, channel) plane. One
 * division pair per vector, in 32 bits where the tensor allows (a 64-bit division costs a GPU
 * over a hundred instructions). */
template <int H16, int V>
NHWC_HD void dropout_fwd_vec(const DropShape &s, size_t j, const uint16_t *x, uint16_t *y,
                             uint8_t *mask, int per_channel, float p, float scale, uint64_t seed) {
    const size_t e = j * V;
    size_t r;
    int c0;
    if ((size_t)s.rows * (size_t)s.C <= 0xffffffffu) {
        r = (uint32_t)e / (uint32_t)s.C;
        c0 = (int)((uint32_t)e % (uint32_t)s.C);
    } else {
        r = e / (size_t)s.C;
        c0 = (int)(e % (size_t)s.C);
    }
    const int img = (int)r / s.hw, at = (int)r % s.hw;
    const size_t plane0 = (size_t)img * (size_t)s.C + (size_t)c0;
    float v[V];
    uint8_t m[V];
    load<H16, V>(x + e, v);
    for (int k = 0; k < V; k++) {
        const size_t plane = plane0 + (size_t)k;
        const uint64_t counter = per_channel ? (uint64_t)plane
                                             : (uint64_t)(plane * (size_t)s.hw + (size_t)at);
        m[k] = rng_uniform(seed, RNG_STREAM_DROPOUT, counter) >= p;
        v[k] = m[k] ? v[k] * scale : 0.0f;
    }
    store<H16, V>(y + e, v);
    store_mask<V>(mask + e, m);
}

template <int H16, int V>
NHWC_HD void dropout_bwd_vec(size_t j, const uint8_t *mask, const uint16_t *dy, uint16_t *dx,
                             float scale) {
    float g[V];
    uint8_t m[V];
    load<H16, V>(dy + j * V, g);
    load_mask<V>(mask + j * V, m);
    for (int k = 0; k < V; k++)
        g[k] = m[k] ? g[k] * scale : 0.0f;
    store<H16, V>(dx + j * V, g);
}

/* Option-A shortcut: y (n, ho, wo, cy) from x (n, h, w, cx), channels padded equally before
 * and after; backward gathers back. */
template <int H16>
NHWC_HD void pad_fwd_elem(size_t o, const uint16_t *x, uint16_t *y, int cx, int h, int w, int cy,
                          int ho, int wo, int stride) {
    const int before = (cy - cx) / 2;
    const int c = (int)(o % (size_t)cy);
    size_t r = o / (size_t)cy;
    const int j = (int)(r % (size_t)wo);
    r /= (size_t)wo;
    const int i = (int)(r % (size_t)ho);
    const size_t n = r / (size_t)ho;
    const int src = c - before;
    y[o] = (src >= 0 && src < cx)
               ? x[((n * (size_t)h + (size_t)(i * stride)) * (size_t)w + (size_t)(j * stride)) *
                       (size_t)cx + (size_t)src]
               : st<H16>(0.0f);
}

template <int H16>
NHWC_HD void pad_bwd_elem(size_t e, const uint16_t *dy, uint16_t *dx, int cx, int h, int w,
                          int cy, int ho, int wo, int stride) {
    const int before = (cy - cx) / 2;
    const int c = (int)(e % (size_t)cx);
    size_t r = e / (size_t)cx;
    const int iw = (int)(r % (size_t)w);
    r /= (size_t)w;
    const int ih = (int)(r % (size_t)h);
    const size_t n = r / (size_t)h;
    dx[e] = (ih % stride == 0 && iw % stride == 0)
                ? dy[((n * (size_t)ho + (size_t)(ih / stride)) * (size_t)wo +
                      (size_t)(iw / stride)) * (size_t)cy + (size_t)(c + before)]
                : st<H16>(0.0f);
}

/* ---- small planes to 16 bits channels-last: (P, c, hw) fp32 -> (P, hw, cdst) 16 bits, the
 * channels from c to cdst zero. Convolution filters are such planes (P = K filters of c x kh x
 * kw). The general kernel (kernels_eltwise.cu) transposes 32 x 32 tiles of (channel, pixel); with
 * 9 pixels a plane most of its threads idle, and on an H100 it took 42 us for a 640 x 640 x 3 x 3
 * filter bank that needs about 7. Here one block takes a whole plane: phase 1 reads it in order
 * into shared memory, phase 2 writes it out in order. */
const int kPlaneShared = 12288;   /* floats: 48 KB, the most a block gets without opting in */

NHWC_HD bool small_plane(int c, int hw) { return hw < 32 && (long long)c * hw <= kPlaneShared; }

NHWC_HD void plane_phase1(int p, int t, const float *x, int c, int hw, float *sh) {
    const float *xp = x + (size_t)p * (size_t)c * (size_t)hw;
    for (int e = t; e < c * hw; e += kThreads)
        sh[e] = xp[e];
}

template <int H16>
NHWC_HD void plane_phase2(int p, int t, uint16_t *y, int c, int cdst, int hw, const float *sh) {
    uint16_t *yp = y + (size_t)p * (size_t)cdst * (size_t)hw;
    for (int e = t; e < cdst * hw; e += kThreads) {
        const int at = e / cdst, ch = e % cdst;
        yp[e] = st<H16>(ch < c ? sh[ch * hw + at] : 0.0f);
    }
}

/* The way back, for weight gradients: (P, hw, csrc) 16 bits -> (P, c, hw) fp32, channels from
 * c to csrc dropped (small_plane(c, hw)). Phase 1 reads the plane in order and leaves it
 * transposed in shared memory (consecutive threads take consecutive channels, so their stores
 * are hw floats apart: no bank conflicts for odd hw, as filters have); phase 2 writes it out in
 * order. The tile kernel took 36 us for a 640 x 640 x 3 x 3 gradient on an H100. */
template <int H16>
NHWC_HD void unplane_phase1(int p, int t, const uint16_t *x, int c, int csrc, int hw, float *sh) {
    const uint16_t *xp = x + (size_t)p * (size_t)csrc * (size_t)hw;
    for (int e = t; e < csrc * hw; e += kThreads) {
        const int at = e / csrc, ch = e % csrc;
        if (ch < c)
            sh[ch * hw + at] = ld<H16>(xp[e]);
    }
}

NHWC_HD void unplane_phase2(int p, int t, float *y, int c, int hw, const float *sh) {
    float *yp = y + (size_t)p * (size_t)c * (size_t)hw;
    for (int e = t; e < c * hw; e += kThreads)
        yp[e] = sh[e];
}

/* ---- pooling, with the semantics of kernels_pool.cu (first maximum in row-major order wins,
 * a NaN always wins, padding never wins and counts as zero in the average, divisor k * k) ---- */

struct PoolShape {
    int C, h, w, ho, wo, k, stride, pad;
};

/* Row-major in-plane position (ih * w + iw) of the maximum of window (i, j) of image n,
 * channel c. */
template <int H16>
NHWC_HD int window_argmax(const uint16_t *x, const PoolShape &s, size_t n, int c, int i, int j) {
    int best = -1;
    float bv = 0.0f;
    for (int p = 0; p < s.k; p++) {
        const int ih = i * s.stride - s.pad + p;
        if (ih < 0 || ih >= s.h)
            continue;
        for (int q = 0; q < s.k; q++) {
            const int iw = j * s.stride - s.pad + q;
            if (iw < 0 || iw >= s.w)
                continue;
            const float v = ld<H16>(
                x[((n * (size_t)s.h + (size_t)ih) * (size_t)s.w + (size_t)iw) * (size_t)s.C + c]);
            if (best < 0 || v > bv || v != v) {
                best = ih * s.w + iw;
                bv = v;
            }
        }
    }
    return best;
}

/* Output element o (channels-last); the max position goes to idx at the NCHW index of o, as
 * ih * w + iw (idx32) or as the window offset p * k + q (idx8). */
template <int H16>
NHWC_HD void pool_fwd_elem(size_t o, const PoolShape &s, const uint16_t *x, uint16_t *y,
                           int32_t *idx32, uint8_t *idx8, int is_max) {
    const int c = (int)(o % (size_t)s.C);
    size_t r = o / (size_t)s.C;
    const int j = (int)(r % (size_t)s.wo);
    r /= (size_t)s.wo;
    const int i = (int)(r % (size_t)s.ho);
    const size_t n = r / (size_t)s.ho;
    if (!is_max) {
        float acc = 0.0f;
        for (int p = 0; p < s.k; p++) {
            const int ih = i * s.stride - s.pad + p;
            if (ih < 0 || ih >= s.h)
                continue;
            for (int q = 0; q < s.k; q++) {
                const int iw = j * s.stride - s.pad + q;
                if (iw >= 0 && iw < s.w)
                    acc += ld<H16>(x[((n * (size_t)s.h + (size_t)ih) * (size_t)s.w +
                                      (size_t)iw) * (size_t)s.C + c]);
            }
        }
        y[o] = st<H16>(acc / (float)(s.k * s.k));
        return;
    }
    const int at = window_argmax<H16>(x, s, n, c, i, j);
    const int ih = at / s.w, iw = at % s.w;
    y[o] = x[((n * (size_t)s.h + (size_t)ih) * (size_t)s.w + (size_t)iw) * (size_t)s.C + c];
    const size_t q = ((n * (size_t)s.C + (size_t)c) * (size_t)s.ho + (size_t)i) * (size_t)s.wo +
                     (size_t)j;
    if (idx32)
        idx32[q] = at;
    else if (idx8)
        idx8[q] = (uint8_t)((ih - (i * s.stride - s.pad)) * s.k + (iw - (j * s.stride - s.pad)));
}

/* Output rows i whose window covers input row ih. */
NHWC_HD void covering(int ih, int k, int stride, int pad, int ho, int *lo, int *hi) {
    const int top = ih + pad - k + 1;
    int a = top <= 0 ? 0 : (top + stride - 1) / stride;
    int b = (ih + pad) / stride;
    if (b > ho - 1)
        b = ho - 1;
    *lo = a;
    *hi = b;
}

/* Input element e (channels-last): the sum of the gradients of the windows it won (max) or
 * its share of every window covering it (average), in window order. */
template <int H16>
NHWC_HD void pool_bwd_elem(size_t e, const PoolShape &s, const uint16_t *x, const uint16_t *dy,
                           uint16_t *dx, int is_max) {
    const int c = (int)(e % (size_t)s.C);
    size_t r = e / (size_t)s.C;
    const int iw = (int)(r % (size_t)s.w);
    r /= (size_t)s.w;
    const int ih = (int)(r % (size_t)s.h);
    const size_t n = r / (size_t)s.h;
    int i0, i1, j0, j1;
    covering(ih, s.k, s.stride, s.pad, s.ho, &i0, &i1);
    covering(iw, s.k, s.stride, s.pad, s.wo, &j0, &j1);
    const float share = 1.0f / (float)(s.k * s.k);
    float acc = 0.0f;
    for (int i = i0; i <= i1; i++)
        for (int j = j0; j <= j1; j++) {
            const float g = ld<H16>(
                dy[((n * (size_t)s.ho + (size_t)i) * (size_t)s.wo + (size_t)j) * (size_t)s.C + c]);
            if (is_max) {
                if (window_argmax<H16>(x, s, n, c, i, j) == ih * s.w + iw)
                    acc += g;
            } else {
                acc += g * share;
            }
        }
    dx[e] = st<H16>(acc);
}

}  // namespace nhwc

#endif
