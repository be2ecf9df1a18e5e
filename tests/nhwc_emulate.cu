/* nhwc_emulate.cu — host runs of the 16-bit channels-last kernels (see nhwc_emulate.h).
 *
 * Each function repeats its launcher in core/cuda/kernels_nhwc.cu: the same vector width, grid
 * and slices, the same order of kernels. A kernel becomes loops over its blocks and threads;
 * where the kernel has a barrier (the batchnorm sums), every thread of the block runs phase 1
 * before any runs phase 2, which is all __syncthreads() promises. Compiled by nvcc as host code
 * only: nothing here needs a GPU or the CUDA runtime. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels_nhwc.cuh"
#include "nhwc_emulate.h"

static_assert((int)EMU_BN_PLAIN == (int)CUK_BN_PLAIN && (int)EMU_BN_RELU == (int)CUK_BN_RELU &&
                  (int)EMU_BN_ADD_RELU == (int)CUK_BN_ADD_RELU,
              "nhwc_emulate.h's modes are cuda_kernels.h's");

namespace {

using nhwc::kThreads;

/* calloc for `count` values of T; the test cannot go on without it. (No std::vector: like the
 * kernels, this file needs no C++ runtime, so the C test links it as it is.) */
template <typename T> struct Buf {
    T *p;
    explicit Buf(size_t count) : p(static_cast<T *>(calloc(count ? count : 1, sizeof(T)))) {
        if (!p) {
            fprintf(stderr, "nhwc_emulate: out of memory\n");
            exit(1);
        }
    }
    ~Buf() { free(p); }
    Buf(const Buf &) = delete;
    Buf &operator=(const Buf &) = delete;
    T *data() { return p; }
};

/* The two steps of phase 2, each for every thread of the block before the next (the
 * kernel's barriers). */
template <int V>
void phase2(const nhwc::BnShape &s, int cb, int p, const double *sh, double *sh2, double *part) {
    for (int t = 0; t < kThreads; t++)
        nhwc::sums_phase2a<V>(s, cb, p, t, sh, sh2, part);
    for (int t = 0; t < kThreads; t++)
        nhwc::sums_phase2b<V>(s, cb, p, t, sh2, part);
}

template <int H16, int V>
void stats(const nhwc::BnShape &s, const uint16_t *x, double *part, float *pivot) {
    Buf<double> sh(nhwc::kShared), sh2(2 * kThreads);
    for (int cb = 0; cb < nhwc::channel_blocks(s.C); cb++)
        for (int p = 0; p < s.P; p++) {
            for (int t = 0; t < kThreads; t++)
                nhwc::stats_phase1<H16, V>(s, cb, p, t, x, sh.data(), pivot);
            phase2<V>(s, cb, p, sh.data(), sh2.data(), part);
        }
}

template <int H16, int MODE, int V>
void grad_sums(const nhwc::BnShape &s, const uint16_t *x, const uint16_t *y, const uint16_t *dy,
               const uint16_t *dy2, const nhwc::BnFwd &f, double *part) {
    Buf<double> sh(nhwc::kShared), sh2(2 * kThreads);
    for (int cb = 0; cb < nhwc::channel_blocks(s.C); cb++)
        for (int p = 0; p < s.P; p++) {
            for (int t = 0; t < kThreads; t++)
                nhwc::grad_phase1<H16, MODE, V>(s, cb, p, t, x, y, dy, dy2, f, sh.data());
            phase2<V>(s, cb, p, sh.data(), sh2.data(), part);
        }
}

template <int H16, int MODE, int V>
void apply(size_t vecs, int C, const uint16_t *x, const uint16_t *r, uint16_t *y,
           const float *coef) {
    for (size_t j = 0; j < vecs; j++)
        nhwc::apply_vec<H16, MODE, V>(j, C, x, r, y, coef);
}

template <int H16, int MODE, int V>
void grad_apply(size_t vecs, int C, const uint16_t *x, const uint16_t *y, const uint16_t *dy,
                const uint16_t *dy2, const nhwc::BnFwd &f, const float *coef, uint16_t *dx,
                uint16_t *dr) {
    for (size_t j = 0; j < vecs; j++)
        nhwc::grad_apply_vec<H16, MODE, V>(j, C, x, y, dy, dy2, f, coef, dx, dr);
}

/* The <H16, MODE, V> instance of a call, from run-time values (as NHWC_DISPATCH does). */
template <template <int, int, int> class F, typename... A>
void dispatch(int half, int mode, int vec, A... args) {
#define ONE(H, M, V) F<H, M, V>::run(args...)
    if (half) {
        if (mode == CUK_BN_PLAIN) { if (vec == 8) ONE(1, CUK_BN_PLAIN, 8); else ONE(1, CUK_BN_PLAIN, 1); }
        else if (mode == CUK_BN_RELU) { if (vec == 8) ONE(1, CUK_BN_RELU, 8); else ONE(1, CUK_BN_RELU, 1); }
        else { if (vec == 8) ONE(1, CUK_BN_ADD_RELU, 8); else ONE(1, CUK_BN_ADD_RELU, 1); }
    } else {
        if (mode == CUK_BN_PLAIN) { if (vec == 8) ONE(0, CUK_BN_PLAIN, 8); else ONE(0, CUK_BN_PLAIN, 1); }
        else if (mode == CUK_BN_RELU) { if (vec == 8) ONE(0, CUK_BN_RELU, 8); else ONE(0, CUK_BN_RELU, 1); }
        else { if (vec == 8) ONE(0, CUK_BN_ADD_RELU, 8); else ONE(0, CUK_BN_ADD_RELU, 1); }
    }
#undef ONE
}

template <int H, int M, int V> struct Apply {
    static void run(size_t total, int C, const uint16_t *x, const uint16_t *r, uint16_t *y,
                    const float *coef) {
        apply<H, M, V>(total / V, C, x, r, y, coef);
    }
};
template <int H, int M, int V> struct GradSums {
    static void run(nhwc::BnShape s, const uint16_t *x, const uint16_t *y, const uint16_t *dy,
                    const uint16_t *dy2, nhwc::BnFwd f, double *part) {
        grad_sums<H, M, V>(s, x, y, dy, dy2, f, part);
    }
};
template <int H, int M, int V> struct GradApply {
    static void run(size_t total, int C, const uint16_t *x, const uint16_t *y, const uint16_t *dy,
                    const uint16_t *dy2, nhwc::BnFwd f, const float *coef, uint16_t *dx,
                    uint16_t *dr) {
        grad_apply<H, M, V>(total / V, C, x, y, dy, dy2, f, coef, dx, dr);
    }
};

/* The one-block-per-plane kernels: each block's two phases in order (the barrier), over
 * shared memory that starts poisoned, as a block finds it unzeroed. */
template <typename P1, typename P2> void plane_blocks(int planes, P1 phase1, P2 phase2) {
    Buf<float> sh(nhwc::kPlaneShared);
    for (int p = 0; p < planes; p++) {
        for (int i = 0; i < nhwc::kPlaneShared; i++)
            sh.data()[i] = -1.0e30f;
        for (int t = 0; t < kThreads; t++)
            phase1(p, t, sh.data());
        for (int t = 0; t < kThreads; t++)
            phase2(p, t, sh.data());
    }
}

/* An elementwise launch: vectors of 8 where n allows, else single values. */
template <typename F8, typename F1> void eltwise(size_t n, F8 f8, F1 f1) {
    if (nhwc::vec_for_count(n) == 8)
        for (size_t j = 0; j < n / 8; j++)
            f8(j);
    else
        for (size_t j = 0; j < n; j++)
            f1(j);
}

}  // namespace

extern "C" {

uint16_t emu_to16(float v, int half) { return half ? nhwc::st<1>(v) : nhwc::st<0>(v); }
float emu_from16(uint16_t v, int half) { return half ? nhwc::ld<1>(v) : nhwc::ld<0>(v); }

void emu_to_nhwc16(const float *x, uint16_t *y, int n, int c, int hw, int half) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++)
                y[((size_t)i * hw + s) * c + ch] = emu_to16(x[((size_t)i * c + ch) * hw + s], half);
}

void emu_from_nhwc16(const uint16_t *x, float *y, int n, int c, int hw, int half) {
    for (int i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++)
                y[((size_t)i * c + ch) * hw + s] = emu_from16(x[((size_t)i * hw + s) * c + ch], half);
}

/* A channel's two sums as the finishing kernels' warp adds them: every lane, then the tree. */
static void finish_sums(const double *part, int c, int P, double &sum, double &sq) {
    double s[nhwc::kLanes], q[nhwc::kLanes];
    for (int lane = 0; lane < nhwc::kLanes; lane++)
        nhwc::lane_sums(part, c, P, lane, s[lane], q[lane]);
    nhwc::lane_tree(s, q);
    sum = s[0];
    sq = q[0];
}

int emu_small_planes(int c, int hw) { return nhwc::small_plane(c, hw); }

void emu_planes_to_lowp(const float *x, uint16_t *y, int planes, int c, int cdst, int hw,
                        int half) {
    plane_blocks(
        planes, [&](int p, int t, float *sh) { nhwc::plane_phase1(p, t, x, c, hw, sh); },
        [&](int p, int t, float *sh) {
            if (half)
                nhwc::plane_phase2<1>(p, t, y, c, cdst, hw, sh);
            else
                nhwc::plane_phase2<0>(p, t, y, c, cdst, hw, sh);
        });
}

int emu_bn_slices(int rows, int C, int sm_count) { return nhwc::bn_slices(rows, C, sm_count); }

void emu_bn_forward_train(const uint16_t *x, const uint16_t *r, uint16_t *y, int rows, int C,
                          int P, int mode, int half, const float *gamma, const float *beta,
                          float *run_mean, float *run_var, float momentum, float eps,
                          float *save_mean, float *save_invstd) {
    const nhwc::BnShape s = {rows, C, P};
    Buf<double> part((size_t)2 * C * P);
    Buf<float> coef((size_t)3 * C);
    float *pivot = coef.data() + 2 * (size_t)C;
    const int vec = nhwc::vec_of(C);
    if (half) {
        if (vec == 8) stats<1, 8>(s, x, part.data(), pivot);
        else stats<1, 1>(s, x, part.data(), pivot);
    } else {
        if (vec == 8) stats<0, 8>(s, x, part.data(), pivot);
        else stats<0, 1>(s, x, part.data(), pivot);
    }
    for (int c = 0; c < C; c++) {
        double sum, sq;
        finish_sums(part.data(), c, P, sum, sq);
        nhwc::stats_finish_channel(c, sum, sq, C, rows, pivot, 1, gamma, beta, run_mean, run_var,
                                   momentum, eps, save_mean, save_invstd, coef.data());
    }
    dispatch<Apply>(half, mode, vec, (size_t)rows * C, C, x, r, y, (const float *)coef.data());
}

void emu_bn_backward(const uint16_t *x, const uint16_t *y, const uint16_t *dy,
                     const uint16_t *dy2, int rows, int C, int P, int mode, int half,
                     const float *gamma, const float *beta, const float *save_mean,
                     const float *save_invstd, uint16_t *dx, uint16_t *dr, float *dgamma,
                     float *dbeta) {
    const nhwc::BnShape s = {rows, C, P};
    const nhwc::BnFwd f = {gamma, beta, save_mean, save_invstd};
    Buf<double> part((size_t)2 * C * P);
    Buf<float> coef((size_t)3 * C);
    const int vec = nhwc::vec_of(C);
    dispatch<GradSums>(half, mode, vec, s, x, y, dy, dy2, f, part.data());
    for (int c = 0; c < C; c++) {
        double sum, sq;
        finish_sums(part.data(), c, P, sum, sq);
        nhwc::grad_finish_channel(c, sum, sq, C, rows, gamma, save_invstd, dgamma, dbeta,
                                  coef.data());
    }
    dispatch<GradApply>(half, mode, vec, (size_t)rows * C, C, x, y, dy, dy2, f,
                        (const float *)coef.data(), dx, dr);
}

#define EMU_ELTWISE(n, CALL)                                                                     \
    do {                                                                                         \
        if (half)                                                                                \
            eltwise((n), [&](size_t j) { CALL(1, 8); }, [&](size_t j) { CALL(1, 1); });         \
        else                                                                                     \
            eltwise((n), [&](size_t j) { CALL(0, 8); }, [&](size_t j) { CALL(0, 1); });         \
    } while (0)

void emu_relu_forward(const uint16_t *x, uint16_t *y, size_t n, int half) {
#define CALL(H, V) nhwc::relu_vec<H, V>(j, x, y)
    EMU_ELTWISE(n, CALL);
#undef CALL
}

void emu_relu_backward(const uint16_t *y, const uint16_t *dy, uint16_t *dx, size_t n, int half) {
#define CALL(H, V) nhwc::relu_bwd_vec<H, V>(j, y, dy, dx)
    EMU_ELTWISE(n, CALL);
#undef CALL
}

void emu_add(const uint16_t *a, const uint16_t *b, uint16_t *y, size_t n, int half) {
#define CALL(H, V) nhwc::add_vec<H, V>(j, a, b, y)
    EMU_ELTWISE(n, CALL);
#undef CALL
}

void emu_scale(uint16_t *p, size_t n, float v, int half) {
#define CALL(H, V) nhwc::scale_vec<H, V>(j, p, v)
    EMU_ELTWISE(n, CALL);
#undef CALL
}

void emu_planes_from_lowp(const uint16_t *x, float *y, int planes, int c, int csrc, int hw,
                          int half) {
    plane_blocks(
        planes,
        [&](int p, int t, float *sh) {
            if (half)
                nhwc::unplane_phase1<1>(p, t, x, c, csrc, hw, sh);
            else
                nhwc::unplane_phase1<0>(p, t, x, c, csrc, hw, sh);
        },
        [&](int p, int t, float *sh) { nhwc::unplane_phase2(p, t, y, c, hw, sh); });
}

void emu_dropout_forward(const uint16_t *x, uint16_t *y, uint8_t *mask, int n, int C, int h,
                         int w, int per_channel, float p, float scale, uint64_t seed, int half) {
    const nhwc::DropShape d = {n * h * w, C, h * w};
    const size_t total = (size_t)d.rows * (size_t)C;
    /* vectors of 8 only where C allows: a vector never crosses a row */
#define CALL(H, V) nhwc::dropout_fwd_vec<H, V>(d, j, x, y, mask, per_channel, p, scale, seed)
    if (nhwc::vec_of(C) == 8)
        for (size_t j = 0; j < total / 8; j++) {
            if (half) CALL(1, 8); else CALL(0, 8);
        }
    else
        for (size_t j = 0; j < total; j++) {
            if (half) CALL(1, 1); else CALL(0, 1);
        }
#undef CALL
}

void emu_dropout_backward(const uint8_t *mask, const uint16_t *dy, uint16_t *dx, int n, int C,
                          int h, int w, float scale, int half) {
#define CALL(H, V) nhwc::dropout_bwd_vec<H, V>(j, mask, dy, dx, scale)
    const size_t total = (size_t)n * (size_t)C * (size_t)h * (size_t)w;
    EMU_ELTWISE(total, CALL);
#undef CALL
}

void emu_pad_forward(const uint16_t *x, uint16_t *y, int n, int cx, int h, int w, int cy, int ho,
                     int wo, int stride, int half) {
    const size_t total = (size_t)n * cy * ho * wo;
    for (size_t o = 0; o < total; o++) {
        if (half)
            nhwc::pad_fwd_elem<1>(o, x, y, cx, h, w, cy, ho, wo, stride);
        else
            nhwc::pad_fwd_elem<0>(o, x, y, cx, h, w, cy, ho, wo, stride);
    }
}

void emu_pad_backward(const uint16_t *dy, uint16_t *dx, int n, int cx, int h, int w, int cy,
                      int ho, int wo, int stride, int half) {
    const size_t total = (size_t)n * cx * h * w;
    for (size_t e = 0; e < total; e++) {
        if (half)
            nhwc::pad_bwd_elem<1>(e, dy, dx, cx, h, w, cy, ho, wo, stride);
        else
            nhwc::pad_bwd_elem<0>(e, dy, dx, cx, h, w, cy, ho, wo, stride);
    }
}

void emu_pool_forward(const uint16_t *x, uint16_t *y, void *idx, int idx_u8, int n, int C, int h,
                      int w, int ho, int wo, int k, int stride, int pad, int is_max, int half) {
    const nhwc::PoolShape ps = {C, h, w, ho, wo, k, stride, pad};
    int32_t *i32 = (is_max && idx && !idx_u8) ? static_cast<int32_t *>(idx) : nullptr;
    uint8_t *i8 = (is_max && idx && idx_u8) ? static_cast<uint8_t *>(idx) : nullptr;
    const size_t total = (size_t)n * C * ho * wo;
    for (size_t o = 0; o < total; o++) {
        if (half)
            nhwc::pool_fwd_elem<1>(o, ps, x, y, i32, i8, is_max);
        else
            nhwc::pool_fwd_elem<0>(o, ps, x, y, i32, i8, is_max);
    }
}

void emu_pool_backward(const uint16_t *x, const uint16_t *dy, uint16_t *dx, int n, int C, int h,
                       int w, int ho, int wo, int k, int stride, int pad, int is_max, int half) {
    const nhwc::PoolShape ps = {C, h, w, ho, wo, k, stride, pad};
    const size_t total = (size_t)n * C * h * w;
    for (size_t e = 0; e < total; e++) {
        if (half)
            nhwc::pool_bwd_elem<1>(e, ps, x, dy, dx, is_max);
        else
            nhwc::pool_bwd_elem<0>(e, ps, x, dy, dx, is_max);
    }
}

}  // extern "C"
