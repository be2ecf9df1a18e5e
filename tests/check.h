/* check.h — tiny assertion helpers for the ctest executables.
 *
 * Each CHECK prints file:line and both values on failure and counts it; a test's main() ends
 * with `return check_report("name");`, which prints "N passed, M failed" and returns non-zero
 * when anything failed, so no test can pass by accident. CHECK_SKIP prints the reason and
 * exits with 77, which CMake maps to "skipped" (SKIP_RETURN_CODE 77). */
#ifndef SHORTCUT_CHECK_H
#define SHORTCUT_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int check_passed_, check_failed_;

#define CHECK(cond) do { if (cond) check_passed_++; else { check_failed_++; \
    fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)

#define CHECK_INT(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
    if (a_ == b_) check_passed_++; else { check_failed_++; \
    fprintf(stderr, "%s:%d: %s == %s failed: %lld vs %lld\n", __FILE__, __LINE__, #a, #b, a_, b_); } } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_NEAR(a, b, atol, rtol) do { double a_ = (double)(a), b_ = (double)(b); \
    if (fabs(a_ - b_) <= (atol) + (rtol) * fabs(b_)) check_passed_++; else { check_failed_++; \
    fprintf(stderr, "%s:%d: %s ~= %s failed: %.9g vs %.9g (diff %.3g)\n", __FILE__, __LINE__, \
            #a, #b, a_, b_, fabs(a_ - b_)); } } while (0)

/* Status-returning call that must succeed; prints status_message() when it does not. */
#define CHECK_OK(expr) do { Status s_ = (expr); if (s_ == ST_OK) check_passed_++; else { \
    check_failed_++; fprintf(stderr, "%s:%d: %s failed: %s\n", __FILE__, __LINE__, #expr, \
                             status_message()); } } while (0)

/* In a test case on a GPU: return from the case, saying why, when no CUDA device works here
 * (a macro, so check.h needs no backend header; the caller includes backend.h). */
#define CUDA_DEVICE_OR_RETURN(what) do { Backend probe_; \
    if (backend_cuda_create(&probe_) != ST_OK) { \
        printf("%s: skipped: no CUDA device\n", what); return; } \
    backend_destroy(&probe_); } while (0)

#define CHECK_SKIP(reason) do { printf("skipped: %s\n", reason); exit(77); } while (0)

static inline int check_report(const char *name) {
    printf("%s: %d passed, %d failed\n", name, check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
