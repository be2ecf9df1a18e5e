/* tensor.h — a tensor is a logical NCHW shape plus backend-owned storage.
 *
 * Model code never reads `data` itself: the backend that allocated it decides the memory layout
 * (plain NCHW on the reference backend; the fast CPU and CUDA backends may use others) and the
 * only way to see the numbers is backend download(), which always returns dense NCHW.
 * A vector of length L is (1, L, 1, 1) so per-channel parameters line up with the channel axis;
 * a matrix [rows, cols] (linear weight, logits) is (rows, cols, 1, 1). */
#ifndef SHORTCUT_TENSOR_H
#define SHORTCUT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum DType { DT_F32 = 0, DT_I32, DT_U8 } DType;

typedef struct Tensor {
    int n, c, h, w;   /* logical shape, NCHW */
    DType dtype;
    void *data;       /* backend memory; NULL until allocated */
    int layout;       /* backend-private memory layout tag; 0 = dense NCHW */
    size_t cap;       /* bytes reserved at data */
} Tensor;

static inline size_t tensor_numel(const Tensor *t) {
    return (size_t)t->n * (size_t)t->c * (size_t)t->h * (size_t)t->w;
}

static inline size_t dtype_size(DType d) { return d == DT_U8 ? 1 : 4; }
/* "f32", "i32", "u8": for messages. */
static inline const char *dtype_name(DType d) {
    return d == DT_F32 ? "f32" : d == DT_I32 ? "i32" : d == DT_U8 ? "u8" : "?";
}

static inline size_t tensor_bytes(const Tensor *t) { return tensor_numel(t) * dtype_size(t->dtype); }

/* Set shape and dtype without touching storage. */
static inline void tensor_shape(Tensor *t, int n, int c, int h, int w, DType dt) {
    t->n = n; t->c = c; t->h = h; t->w = w; t->dtype = dt;
}

#endif
