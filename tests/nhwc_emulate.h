/* nhwc_emulate.h — the 16-bit channels-last kernels of core/cuda/kernels_nhwc.cu, run on the
 * CPU: each function makes the launches of the matching cuk_nhwc_* launcher, executing the very
 * thread bodies the GPU runs (core/cuda/kernels_nhwc.cuh) block by block and thread by thread.
 * test_cuda_nhwc.c checks them against the reference backend. All pointers are host memory;
 * 16-bit tensors are uint16_t (n, h, w, c), bf16 (half = 0) or IEEE half (half = 1). */
#ifndef SHORTCUT_NHWC_EMULATE_H
#define SHORTCUT_NHWC_EMULATE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* batchnorm modes, the values of cuda_kernels.h's CUK_BN_* */
enum { EMU_BN_PLAIN = 0, EMU_BN_RELU = 1, EMU_BN_ADD_RELU = 2 };

uint16_t emu_to16(float v, int half);
float emu_from16(uint16_t v, int half);
/* NCHW float (rounded) <-> channels-last 16 bits */
void emu_to_nhwc16(const float *x, uint16_t *y, int n, int c, int hw, int half);
void emu_from_nhwc16(const uint16_t *x, float *y, int n, int c, int hw, int half);

/* cuk_nhwc_planes_to_lowp: (planes, c, hw) fp32 -> (planes, hw, cdst) 16 bits, channels from
 * c zero; cuk_nhwc_small_planes says which shapes it takes */
int emu_small_planes(int c, int hw);
void emu_planes_to_lowp(const float *x, uint16_t *y, int planes, int c, int cdst, int hw,
                        int half);
/* cuk_nhwc_planes_from_lowp: (planes, hw, csrc) 16 bits -> (planes, c, hw) fp32 */
void emu_planes_from_lowp(const uint16_t *x, float *y, int planes, int c, int csrc, int hw,
                          int half);

/* cuk_bn_nhwc_slices' choice, for a GPU of sm_count multiprocessors */
int emu_bn_slices(int rows, int C, int sm_count);
void emu_bn_forward_train(const uint16_t *x, const uint16_t *r, uint16_t *y, int rows, int C,
                          int P, int mode, int half, const float *gamma, const float *beta,
                          float *run_mean, float *run_var, float momentum, float eps,
                          float *save_mean, float *save_invstd);
/* beta non-NULL: in RELU mode the forward's output is recomputed from x (y may be NULL) */
void emu_bn_backward(const uint16_t *x, const uint16_t *y, const uint16_t *dy,
                     const uint16_t *dy2, int rows, int C, int P, int mode, int half,
                     const float *gamma, const float *beta, const float *save_mean,
                     const float *save_invstd, uint16_t *dx, uint16_t *dr, float *dgamma,
                     float *dbeta);

void emu_relu_forward(const uint16_t *x, uint16_t *y, size_t n, int half);
void emu_relu_backward(const uint16_t *y, const uint16_t *dy, uint16_t *dx, size_t n, int half);
void emu_add(const uint16_t *a, const uint16_t *b, uint16_t *y, size_t n, int half);
void emu_scale(uint16_t *p, size_t n, float v, int half);
void emu_dropout_forward(const uint16_t *x, uint16_t *y, uint8_t *mask, int n, int C, int h,
                         int w, int per_channel, float p, float scale, uint64_t seed, int half);
void emu_dropout_backward(const uint8_t *mask, const uint16_t *dy, uint16_t *dx, int n, int C,
                          int h, int w, float scale, int half);
void emu_pad_forward(const uint16_t *x, uint16_t *y, int n, int cx, int h, int w, int cy, int ho,
                     int wo, int stride, int half);
void emu_pad_backward(const uint16_t *dy, uint16_t *dx, int n, int cx, int h, int w, int cy,
                      int ho, int wo, int stride, int half);
void emu_pool_forward(const uint16_t *x, uint16_t *y, void *idx, int idx_u8, int n, int C, int h,
                      int w, int ho, int wo, int k, int stride, int pad, int is_max, int half);
void emu_pool_backward(const uint16_t *x, const uint16_t *dy, uint16_t *dx, int n, int C, int h,
                       int w, int ho, int wo, int k, int stride, int pad, int is_max, int half);

#ifdef __cplusplus
}
#endif

#endif
