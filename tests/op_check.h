/* op_check.h — helpers shared by the op tests (test_ops.c, test_batchnorm.c).
 *
 * Everything goes through the backend's op table (upload/download only, never Tensor.data), so
 * the same checks run on any backend. Provides: the fixture input formula shared with
 * tests/fixtures/gen_torch_fixtures.py, tensor shorthands, array comparison that reports the
 * worst element, and a central-difference gradient checker. It includes check.h, so a test
 * includes this instead. */
#ifndef SHORTCUT_OP_CHECK_H
#define SHORTCUT_OP_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "check.h"
#include "rng.h"

/* Counts a failure without the CHECK_OK bookkeeping of a pass, for calls made many times inside
 * one logical check (objective evaluations). */
#define OC_FAIL_RETURN(expr, ret) do { Status s_ = (expr); if (s_ != ST_OK) { check_failed_++; \
    fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, status_message()); \
    return ret; } } while (0)

/* The fixture input formula; identical to fx() in gen_torch_fixtures.py. */
static inline int fx_int(long long i, int salt) {
    return (int)((i * 37 + (long long)salt * 101) % 257) - 128;
}

/* dst[i] = offset + fx(i, salt) / den, rounded to float once, as torch.tensor does. */
static inline void fx_fill(float *dst, size_t n, int salt, double den, double offset) {
    for (size_t i = 0; i < n; i++)
        dst[i] = (float)(offset + fx_int((long long)i, salt) / den);
}

/* Uniform values in [lo, hi) from the project RNG (a test-only stream). */
static inline void rand_fill(float *dst, size_t n, uint64_t seed, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        dst[i] = lo + (hi - lo) * rng_uniform(seed, 99, i);
}

static inline float *host_alloc(size_t n) {
    float *p = calloc(n ? n : 1, sizeof(float));
    if (!p) {
        fprintf(stderr, "op_check: out of memory for %zu floats\n", n);
        exit(1);
    }
    return p;
}

/* A tensor of the given shape allocated on b (failures are counted; the tensor stays empty). */
static inline Tensor t_new(Backend *b, int n, int c, int h, int w, DType dt) {
    Tensor t;
    memset(&t, 0, sizeof t);
    tensor_shape(&t, n, c, h, w, dt);
    CHECK_OK(b->ops->tensor_alloc(b->ctx, &t));
    return t;
}

static inline void t_free(Backend *b, Tensor *t) { b->ops->tensor_free(b->ctx, t); }

static inline Tensor t_from(Backend *b, int n, int c, int h, int w, const float *host) {
    Tensor t = t_new(b, n, c, h, w, DT_F32);
    CHECK_OK(b->ops->upload(b->ctx, &t, host));
    return t;
}

/* Download an F32 tensor into a new host array (caller frees). */
static inline float *t_host(Backend *b, const Tensor *t) {
    float *h = host_alloc(tensor_numel(t));
    CHECK_OK(b->ops->download(b->ctx, t, h));
    return h;
}

/* sum(y * r) in double, for the scalar objectives of the gradient checks; NAN on failure. */
static inline double t_dot(Backend *b, const Tensor *y, const float *r) {
    size_t n = tensor_numel(y);
    float *h = host_alloc(n);
    Status st = b->ops->download(b->ctx, y, h);
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += (double)h[i] * r[i];
    free(h);
    if (st != ST_OK) {
        check_failed_++;
        fprintf(stderr, "op_check: download failed: %s\n", status_message());
        return NAN;
    }
    return acc;
}

/* One check over n values: |got - want| <= atol + rtol * |want| everywhere; on failure prints
 * the count of bad elements and the worst one. */
static inline void check_array_(const char *file, int line, const char *what,
                                const float *got, const float *want, size_t n, double atol,
                                double rtol) {
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0;
    for (size_t i = 0; i < n; i++) {
        double g = got[i], w = want[i];
        double excess = fabs(g - w) - (atol + rtol * fabs(w));
        if (!(excess <= 0.0)) {
            bad++;
            if (isnan(excess) || excess > worst_excess) {
                worst_excess = isnan(excess) ? INFINITY : excess;
                worst = i;
            }
        }
    }
    if (!bad) {
        check_passed_++;
        return;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: %s: %zu of %zu values differ; worst [%zu]: got %.9g want %.9g\n",
            file, line, what, bad, n, worst, (double)got[worst], (double)want[worst]);
}
#define CHECK_ARRAY(what, got, want, n, atol, rtol) \
    check_array_(__FILE__, __LINE__, what, got, want, n, atol, rtol)

/* Compare a backend tensor with expected host values. */
static inline void check_tensor_(const char *file, int line, const char *what, Backend *b,
                                 const Tensor *t, const float *want, size_t n, double atol,
                                 double rtol) {
    if (tensor_numel(t) != n) {
        check_failed_++;
        fprintf(stderr, "%s:%d: %s: tensor has %zu values, expected %zu\n", file, line, what,
                tensor_numel(t), n);
        return;
    }
    float *h = t_host(b, t);
    check_array_(file, line, what, h, want, n, atol, rtol);
    free(h);
}
#define CHECK_TENSOR(what, b, t, want, n, atol, rtol) \
    check_tensor_(__FILE__, __LINE__, what, b, t, want, n, atol, rtol)

/* The objective J of a gradient check: reads its inputs from host arrays (one of which the
 * checker perturbs), runs the forward op(s) and returns a double scalar (NAN on failure). */
typedef double (*ObjectiveFn)(void *user);

/* Compare the analytic gradient `grad` of J with respect to the host array `param` (n values)
 * with central differences (J(p + h) - J(p - h)) / (p+h - (p-h)) at up to max_samples
 * positions (all when n <= max_samples). One check; prints the worst position on failure.
 * `param` is restored. Choose inputs away from kinks (relu at 0, ties in max pooling). */
static inline void gradcheck_(const char *file, int line, const char *what, ObjectiveFn f,
                              void *user, float *param, const float *grad, size_t n,
                              size_t max_samples, float h, double atol, double rtol) {
    size_t samples = n < max_samples ? n : max_samples;
    size_t bad = 0, worst = 0;
    double worst_excess = -1.0, worst_num = 0.0;
    for (size_t s = 0; s < samples; s++) {
        size_t i = samples == n
                       ? s
                       : (s * n) / samples + rng_below(7, 98, s, (uint32_t)(n / samples));
        float keep = param[i];
        float up = keep + h, down = keep - h;
        param[i] = up;
        double jp = f(user);
        param[i] = down;
        double jm = f(user);
        param[i] = keep;
        double num = (jp - jm) / ((double)up - (double)down);
        double ana = grad[i];
        double excess = fabs(num - ana) - (atol + rtol * fmax(fabs(num), fabs(ana)));
        if (!(excess <= 0.0)) {
            bad++;
            if (isnan(excess) || excess > worst_excess) {
                worst_excess = isnan(excess) ? INFINITY : excess;
                worst = i;
                worst_num = num;
            }
        }
    }
    if (!bad) {
        check_passed_++;
        return;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: gradient %s: %zu of %zu positions differ; worst [%zu]: analytic "
            "%.9g numeric %.9g\n", file, line, what, bad, samples, worst, (double)grad[worst],
            worst_num);
}
#define GRADCHECK(what, f, user, param, grad, n, max_samples, h, atol, rtol) \
    gradcheck_(__FILE__, __LINE__, what, f, user, param, grad, n, max_samples, h, atol, rtol)

#endif
