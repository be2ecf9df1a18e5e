/* backend.c — choosing a backend by name, and releasing it.
 *
 * The one place that knows which backends exist. "auto" prefers CUDA and falls back to the fast
 * CPU backend; when it does, status_message() holds why CUDA was not used, so the caller can
 * log it. When the build has no CUDA backend (SHORTCUT_WITH_CUDA undefined), this file
 * supplies backend_cuda_create(), which says so. */
#include <stdio.h>
#include <string.h>

#include "backend.h"

#define VALID_NAMES "auto, cpu, cuda, reference"

#ifndef SHORTCUT_WITH_CUDA
Status backend_cuda_create(Backend *out) {
    if (out) {
        out->ops = NULL;
        out->ctx = NULL;
    }
    return status_fail(ST_ERR_DEVICE, "device 'cuda': this build has no CUDA backend (rebuild "
                       "with nvcc and cuDNN present, or use device: cpu)");
}
#endif

/* Why backend_cuda_create() failed, without its "device 'cuda': " and BACKEND_CUDA_ADVICE,
 * which "auto" has just followed: the caller logs "device auto: <why>; training on the CPU",
 * and the whole message nested in that line ran past a log line's length. */
static void cuda_reason(char *buf, size_t len) {
    static const char prefix[] = "device 'cuda': ";
    const char *msg = status_message();
    if (strncmp(msg, prefix, sizeof prefix - 1) == 0)
        msg += sizeof prefix - 1;
    snprintf(buf, len, "%s", msg);
    char *advice = strstr(buf, BACKEND_CUDA_ADVICE);
    if (advice)
        *advice = '\0';
}

Status backend_create(const char *name, int threads, Backend *out, int *fell_back) {
    if (fell_back)
        *fell_back = 0;
    if (!out)
        return status_fail(ST_ERR_ARG, "backend_create: out is NULL");
    out->ops = NULL;
    out->ctx = NULL;
    if (!name)
        return status_fail(ST_ERR_ARG, "device: no backend name given (valid: " VALID_NAMES ")");
    if (strcmp(name, "reference") == 0)
        return backend_reference_create(out);
    if (strcmp(name, "cpu") == 0)
        return backend_cpu_create(threads, out);
    if (strcmp(name, "cuda") == 0)
        return backend_cuda_create(out);
    if (strcmp(name, "auto") == 0) {
        if (backend_cuda_create(out) == ST_OK)
            return ST_OK;
        char why[512];
        cuda_reason(why, sizeof why);
        out->ops = NULL;
        out->ctx = NULL;
        Status st = backend_cpu_create(threads, out);
        if (st == ST_OK && fell_back) {
            *fell_back = 1;
            (void)status_fail(ST_ERR_DEVICE, "%s", why);   /* for the caller's log line */
        }
        return st;
    }
    return status_fail(ST_ERR_ARG, "device '%s': unknown backend (valid: " VALID_NAMES ")", name);
}

Status backend_check_limit(const char *who, size_t limit, size_t used, size_t want,
                           const Tensor *t) {
    if (!limit || (used <= limit && want <= limit - used))
        return ST_OK;
    const double mib = 1024.0 * 1024.0;
    return status_fail(ST_ERR_OOM, "%s: memory limit: a (%d, %d, %d, %d) %s tensor needs %.1f "
                       "MiB with %.1f of the %.0f MiB allowed in use (train.memory_limit_mb); "
                       "use a smaller batch size or raise the limit", who, t->n, t->c, t->h,
                       t->w, dtype_name(t->dtype), (double)want / mib, (double)used / mib,
                       (double)limit / mib);
}

void backend_destroy(Backend *b) {
    if (!b)
        return;
    if (b->ops && b->ops->destroy)
        b->ops->destroy(b->ctx);
    b->ops = NULL;
    b->ctx = NULL;
}
