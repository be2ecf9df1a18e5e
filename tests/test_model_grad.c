/* test_model_grad.c — the model's forward and backward, end to end, on the reference backend.
 *
 * For small networks of every block / shortcut / head kind (tests/fixtures/model/):
 *  1. against PyTorch: with formula weights, a train-mode forward (same dropout masks), a
 *     backward from formula dlogits and an eval-mode forward must give PyTorch's logits,
 *     gradient checksums of every parameter and of the input, the updated BN running stats and
 *     the parameter names in state_dict order;
 *  2. against finite differences: d(sum(logits * R))/d(theta) for a sample of parameter and
 *     input elements, in train mode (batch statistics and fixed dropout masks are
 *     deterministic, so the loss is a plain function of theta);
 *  3. buffer reuse: backward twice gives the same gradients (overwrite, not accumulate), a
 *     smaller and a larger batch after the first reuse the buffers and give the same numbers;
 *  4. the fast "cpu" backend (blocked layouts, its own buffers) runs the same model: the same
 *     seed gives bit-identical initial parameters, and logits, gradients and running stats
 *     agree with the reference backend's over batches of two sizes. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/model.h"
#include "check.h"
#include "fixtures/model/model_fixtures.h"

static Backend g_be;
static Backend g_cpu;
static int g_have_cpu;

static int fx(long long i, int s) { return (int)((i * 37 + (long long)s * 101) % 257) - 128; }

static int pow2_for(long long fan_in) {
    int p = 1;
    while (4LL * p * p < fan_in)
        p *= 2;
    return p;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The formula weights of gen_model_fixtures.py (on the model's own backend `be`). */
static int set_formula_weights_on(Model *m, Backend *be) {
    for (int k = 0; k < model_param_count(m); k++) {
        Param *p = model_param(m, k);
        size_t n = tensor_numel(&p->value);
        float *h = malloc(n * sizeof *h);
        if (!h)
            return 0;
        long long fan_in = (long long)p->value.c * p->value.h * p->value.w;
        int pw = pow2_for(fan_in);
        for (size_t i = 0; i < n; i++) {
            double f = fx((long long)i, k + 11);
            double v;
            if (ends_with(p->name, "running_mean"))
                v = f / 256.0;
            else if (ends_with(p->name, "running_var"))
                v = 1.0 + (f + 128.0) / 512.0;
            else if (ends_with(p->name, "bias"))
                v = f / 256.0;
            else if (p->value.n > 1)
                v = f / (128.0 * pw);
            else
                v = 1.0 + f / 512.0;
            h[i] = (float)v;
        }
        Status st = be->ops->upload(be->ctx, &p->value, h);
        free(h);
        if (st != ST_OK)
            return 0;
    }
    return 1;
}

static int set_formula_weights(Model *m) { return set_formula_weights_on(m, &g_be); }

static Status make_tensor_on(Backend *be, Tensor *t, int n, int c, int h, int w, int salt,
                             double den) {
    memset(t, 0, sizeof *t);
    tensor_shape(t, n, c, h, w, DT_F32);
    TRY(be->ops->tensor_alloc(be->ctx, t));
    size_t numel = tensor_numel(t);
    float *host = malloc(numel * sizeof *host);
    if (!host)
        return status_fail(ST_ERR_OOM, "test: out of memory");
    for (size_t i = 0; i < numel; i++)
        host[i] = (float)(fx((long long)i, salt) / den);
    Status st = be->ops->upload(be->ctx, t, host);
    free(host);
    return st;
}

static Status make_tensor(Tensor *t, int n, int c, int h, int w, int salt, double den) {
    return make_tensor_on(&g_be, t, n, c, h, w, salt, den);
}

static float *download_from(Backend *be, const Tensor *t) {
    float *h = malloc((tensor_numel(t) ? tensor_numel(t) : 1) * sizeof *h);
    if (h && be->ops->download(be->ctx, t, h) != ST_OK) {
        free(h);
        return NULL;
    }
    return h;
}

static float *download(const Tensor *t) { return download_from(&g_be, t); }

static void checksums(const Tensor *t, double *sum, double *dot) {
    float *h = download(t);
    *sum = *dot = NAN;
    if (!h)
        return;
    double s = 0, d = 0;
    for (size_t i = 0; i < tensor_numel(t); i++) {
        s += h[i];
        d += h[i] * (fx((long long)i, 7) / 128.0);
    }
    free(h);
    *sum = s;
    *dot = d;
}

/* ---------------------------------------------------------------------------------------------
 * 1. against PyTorch */

static void check_against_torch(const ModelFixture *f) {
    Model *m = NULL;
    CHECK_OK(model_build(&f->cfg, 0, f->in_side, &g_be, 1, &m));
    if (!m)
        return;
    CHECK_INT(model_param_count(m), f->n_params);
    CHECK_INT(model_num_classes(m), f->classes);
    int names_ok = model_param_count(m) == f->n_params;
    for (int k = 0; names_ok && k < f->n_params; k++)
        if (strcmp(model_param(m, k)->name, f->names[k]) != 0) {
            fprintf(stderr, "%s: param %d is %s, PyTorch has %s\n", f->name, k,
                    model_param(m, k)->name, f->names[k]);
            names_ok = 0;
        }
    CHECK(names_ok);
    CHECK(set_formula_weights(m));

    Tensor x, dl;
    CHECK_OK(make_tensor(&x, f->batch, 3, f->in_side, f->in_side, 5, 64.0));
    CHECK_OK(make_tensor(&dl, f->batch, f->classes, 1, 1, 9, 256.0));
    model_set_input_grad(m, 1);
    const Tensor *logits = NULL;
    CHECK_OK(model_forward(m, &x, 1, MF_DROPOUT_SEED, &logits));
    if (logits) {
        float *h = download(logits);
        int bad = 0;
        for (int i = 0; h && i < f->batch * f->classes; i++)
            if (fabs(h[i] - f->logits_train[i]) > 1e-4 + 1e-4 * fabs(f->logits_train[i])) {
                if (bad++ < 3)
                    fprintf(stderr, "%s: train logit %d: %.7g vs PyTorch %.7g\n", f->name, i,
                            h[i], f->logits_train[i]);
            }
        CHECK(h && bad == 0);
        free(h);
    }
    CHECK_OK(model_backward(m, &dl));
    int bad = 0;
    for (int k = 0; k < model_param_count(m) && k < f->n_params; k++) {
        Param *p = model_param(m, k);
        double s, d;
        checksums(p->kind == PARAM_BUFFER ? &p->value : &p->grad, &s, &d);
        double tol_s = 2e-5 + 1e-3 * fabs(f->sum[k]), tol_d = 2e-5 + 1e-3 * fabs(f->dot[k]);
        if (!(fabs(s - f->sum[k]) <= tol_s && fabs(d - f->dot[k]) <= tol_d)) {
            if (bad++ < 5)
                fprintf(stderr, "%s: %s %s checksums %.9g %.9g vs PyTorch %.9g %.9g\n", f->name,
                        p->name, p->kind == PARAM_BUFFER ? "value" : "grad", s, d, f->sum[k],
                        f->dot[k]);
        }
    }
    CHECK_INT(bad, 0);
    const Tensor *xg = model_input_grad(m);
    CHECK(xg != NULL);
    if (xg) {
        double s, d;
        checksums(xg, &s, &d);
        CHECK_NEAR(s, f->xgrad_sum, 2e-5, 1e-3);
        CHECK_NEAR(d, f->xgrad_dot, 2e-5, 1e-3);
    }
    CHECK_OK(model_forward(m, &x, 0, 0, &logits));
    if (logits) {
        float *h = download(logits);
        int bad_eval = 0;
        for (int i = 0; h && i < f->batch * f->classes; i++)
            if (fabs(h[i] - f->logits_eval[i]) > 1e-4 + 1e-4 * fabs(f->logits_eval[i])) {
                if (bad_eval++ < 3)
                    fprintf(stderr, "%s: eval logit %d: %.7g vs PyTorch %.7g\n", f->name, i,
                            h[i], f->logits_eval[i]);
            }
        CHECK(h && bad_eval == 0);
        free(h);
    }
    g_be.ops->tensor_free(g_be.ctx, &x);
    g_be.ops->tensor_free(g_be.ctx, &dl);
    model_destroy(m);
}

/* ---------------------------------------------------------------------------------------------
 * 2. finite differences */

static double loss_of(Model *m, const Tensor *x, const float *r, int count) {
    const Tensor *logits = NULL;
    if (model_forward(m, x, 1, MF_DROPOUT_SEED, &logits) != ST_OK || !logits)
        return NAN;
    float *h = download(logits);
    if (!h)
        return NAN;
    double l = 0;
    for (int i = 0; i < count; i++)
        l += (double)h[i] * r[i];
    free(h);
    return l;
}

/* Central difference of the loss in element i of t (host copy `host`), then restored. */
static double fd_at(Model *m, const Tensor *x, Tensor *t, float *host, size_t i, double eps,
                    const float *r, int count) {
    const float orig = host[i];
    host[i] = (float)(orig + eps);
    double up = (float)(orig + eps) - orig;
    if (g_be.ops->upload(g_be.ctx, t, host) != ST_OK)
        return NAN;
    double lp = loss_of(m, x, r, count);
    host[i] = (float)(orig - eps);
    double dn = orig - (float)(orig - eps);
    if (g_be.ops->upload(g_be.ctx, t, host) != ST_OK)
        return NAN;
    double lm = loss_of(m, x, r, count);
    host[i] = orig;
    if (g_be.ops->upload(g_be.ctx, t, host) != ST_OK)
        return NAN;
    return (lp - lm) / (up + dn);
}

/* Compare an analytic derivative with central differences at three step sizes. The networks
 * are piecewise smooth (ReLU, max): at steps of 1e-2 a perturbation often crosses a kink and
 * the difference quotient is off by 10% even in float64 (checked with PyTorch), while float32
 * rounding limits how small a step can go; a kink crossed at one step size is rarely crossed
 * at all three, and a wrong gradient disagrees at every step size. */
static int fd_agrees(Model *m, const Tensor *x, Tensor *t, float *host, size_t i, double an,
                     const float *r, int count, double *fd_out) {
    double best = INFINITY;
    const double eps[3] = {1e-3, 3e-4, 1e-4};
    for (int e = 0; e < 3; e++) {
        double fd = fd_at(m, x, t, host, i, eps[e], r, count);
        double err = fabs(fd - an) / (3e-3 + 2e-2 * fmax(fabs(fd), fabs(an)));
        if (err < best) {
            best = err;
            *fd_out = fd;
        }
    }
    return best <= 1.0;
}

static void check_finite_differences(const ModelFixture *f) {
    Model *m = NULL;
    CHECK_OK(model_build(&f->cfg, 0, f->in_side, &g_be, 7, &m));
    if (!m)
        return;
    CHECK(set_formula_weights(m));
    Tensor x, dl;
    CHECK_OK(make_tensor(&x, f->batch, 3, f->in_side, f->in_side, 5, 64.0));
    CHECK_OK(make_tensor(&dl, f->batch, f->classes, 1, 1, 9, 256.0));
    const int count = f->batch * f->classes;
    float *r = download(&dl);
    model_set_input_grad(m, 1);
    const Tensor *logits;
    CHECK_OK(model_forward(m, &x, 1, MF_DROPOUT_SEED, &logits));
    CHECK_OK(model_backward(m, &dl));
    const Tensor *xg = model_input_grad(m);
    CHECK(xg != NULL);
    float *xgh = xg ? download(xg) : NULL;   /* the next forward invalidates it */

    int checked = 0, failed = 0;
    for (int k = 0; r && k < model_param_count(m); k++) {
        Param *p = model_param(m, k);
        if (p->kind == PARAM_BUFFER)
            continue;
        size_t n = tensor_numel(&p->value);
        float *val = download(&p->value), *g = download(&p->grad);
        const size_t picks[3] = {(size_t)(k * 7) % n, n / 2, n - 1};
        for (int s = 0; val && g && s < 3; s++) {
            double fd = NAN;
            checked++;
            if (!fd_agrees(m, &x, &p->value, val, picks[s], g[picks[s]], r, count, &fd)) {
                failed++;
                fprintf(stderr, "%s: d/d %s[%zu]: analytic %.6g, finite difference %.6g\n",
                        f->name, p->name, picks[s], g[picks[s]], fd);
            }
        }
        free(val);
        free(g);
    }
    if (xgh && r) {
        float *g = xgh, *xv = download(&x);
        size_t n = tensor_numel(&x);
        for (int s = 0; g && xv && s < 6; s++) {
            size_t i = (size_t)s * (n / 6) + (size_t)s * 5 % (n / 6);
            double fd = NAN;
            checked++;
            if (!fd_agrees(m, &x, &x, xv, i, g[i], r, count, &fd)) {
                failed++;
                fprintf(stderr, "%s: d/d input[%zu]: analytic %.6g, finite difference %.6g\n",
                        f->name, i, g[i], fd);
            }
        }
        free(xv);
    }
    free(xgh);
    CHECK(checked > 10);
    CHECK_INT(failed, 0);
    free(r);
    g_be.ops->tensor_free(g_be.ctx, &x);
    g_be.ops->tensor_free(g_be.ctx, &dl);
    model_destroy(m);
}

/* ---------------------------------------------------------------------------------------------
 * 3. buffer reuse across batch sizes and repeated backward */

static float *all_grads(Model *m, size_t *len) {
    size_t total = 0;
    for (int k = 0; k < model_param_count(m); k++)
        if (model_param(m, k)->kind != PARAM_BUFFER)
            total += tensor_numel(&model_param(m, k)->grad);
    float *out = malloc(total * sizeof *out);
    size_t at = 0;
    for (int k = 0; out && k < model_param_count(m); k++) {
        Param *p = model_param(m, k);
        if (p->kind == PARAM_BUFFER)
            continue;
        if (g_be.ops->download(g_be.ctx, &p->grad, out + at) != ST_OK) {
            free(out);
            return NULL;
        }
        at += tensor_numel(&p->grad);
    }
    *len = total;
    return out;
}

static void check_reuse(const ModelFixture *f) {
    Model *m = NULL;
    CHECK_OK(model_build(&f->cfg, 0, f->in_side, &g_be, 3, &m));
    if (!m)
        return;
    CHECK(set_formula_weights(m));
    const int big = 4, s = f->in_side;
    Tensor x4, x2, d4, d2;
    CHECK_OK(make_tensor(&x4, big, 3, s, s, 5, 64.0));
    CHECK_OK(make_tensor(&x2, 2, 3, s, s, 5, 64.0));   /* = the first two images of x4 */
    CHECK_OK(make_tensor(&d4, big, f->classes, 1, 1, 9, 256.0));
    CHECK_OK(make_tensor(&d2, 2, f->classes, 1, 1, 9, 256.0));
    const Tensor *lg;

    /* small batch first, then a larger one (buffers grow), then the small one again */
    CHECK_OK(model_forward(m, &x2, 1, 11, &lg));
    CHECK_OK(model_backward(m, &d2));
    size_t n1 = 0, n2 = 0, n3 = 0;
    float *g1 = all_grads(m, &n1);
    CHECK_OK(model_backward(m, &d2));
    float *g2 = all_grads(m, &n2);
    CHECK_OK(model_forward(m, &x4, 1, 11, &lg));
    CHECK_OK(model_backward(m, &d4));
    CHECK_OK(model_forward(m, &x2, 1, 11, &lg));
    CHECK_OK(model_backward(m, &d2));
    float *g3 = all_grads(m, &n3);
    CHECK(g1 && g2 && g3 && n1 == n2 && n1 == n3 && n1 > 0);
    if (g1 && g2 && g3) {
        int same12 = memcmp(g1, g2, n1 * sizeof *g1) == 0;
        int same13 = memcmp(g1, g3, n1 * sizeof *g1) == 0;
        CHECK(same12);   /* backward overwrites */
        CHECK(same13);   /* buffers reused after growing give the same numbers */
    }
    free(g1);
    free(g2);
    free(g3);

    /* eval mode: per-sample outputs do not depend on the batch */
    float *e4 = NULL, *e2 = NULL;
    if (model_forward(m, &x4, 0, 0, &lg) == ST_OK)
        e4 = download(lg);
    model_release_activations(m);
    if (model_forward(m, &x2, 0, 0, &lg) == ST_OK)
        e2 = download(lg);
    CHECK(e4 && e2);
    for (int i = 0; e4 && e2 && i < 2 * f->classes; i++)
        CHECK_NEAR(e2[i], e4[i], 1e-6, 1e-5);
    free(e4);
    free(e2);

    /* backward after an eval forward is refused */
    CHECK(model_backward(m, &d2) == ST_ERR_ARG);

    g_be.ops->tensor_free(g_be.ctx, &x4);
    g_be.ops->tensor_free(g_be.ctx, &x2);
    g_be.ops->tensor_free(g_be.ctx, &d4);
    g_be.ops->tensor_free(g_be.ctx, &d2);
    model_destroy(m);
}

/* ---------------------------------------------------------------------------------------------
 * 4. the cpu backend against the reference */

/* max |a - b| over max(1, max |b|): a relative error that tolerates cancellation */
static double rel_diff(const float *a, const float *b, size_t n) {
    double d = 0, mx = 1e-3;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        mx = fmax(mx, fabs((double)b[i]));
    }
    return d / mx;
}

static void compare_tensors(const char *what, const char *name, const Tensor *c,
                            const Tensor *r, double tol) {
    float *hc = download_from(&g_cpu, c), *hr = download(r);
    CHECK(hc && hr);
    if (hc && hr) {
        double d = rel_diff(hc, hr, tensor_numel(r));
        if (!(d <= tol))
            fprintf(stderr, "cpu vs reference: %s %s differs by %.3g (relative to max)\n", what,
                    name, d);
        CHECK(d <= tol);
    }
    free(hc);
    free(hr);
}

static void check_cpu_backend(const ModelFixture *f) {
    Model *mr = NULL, *mc = NULL;
    CHECK_OK(model_build(&f->cfg, 0, f->in_side, &g_be, 9, &mr));
    CHECK_OK(model_build(&f->cfg, 0, f->in_side, &g_cpu, 9, &mc));
    if (!mr || !mc) {
        model_destroy(mr);
        model_destroy(mc);
        return;
    }
    /* initialization depends on the seed only */
    int same = model_param_count(mr) == model_param_count(mc);
    for (int k = 0; same && k < model_param_count(mr); k++) {
        Param *pr = model_param(mr, k), *pc = model_param(mc, k);
        float *hr = download(&pr->value), *hc = download_from(&g_cpu, &pc->value);
        same = hr && hc && memcmp(hr, hc, tensor_bytes(&pr->value)) == 0;
        free(hr);
        free(hc);
    }
    CHECK(same);
    CHECK(set_formula_weights(mr));
    CHECK(set_formula_weights_on(mc, &g_cpu));
    const int s = f->in_side;
    for (int round = 0; round < 2; round++) {
        const int n = round == 0 ? 4 : 2;   /* the second pass reuses the larger buffers */
        Tensor xr, xc, dr, dc;
        CHECK_OK(make_tensor_on(&g_be, &xr, n, 3, s, s, 5 + round, 64.0));
        CHECK_OK(make_tensor_on(&g_cpu, &xc, n, 3, s, s, 5 + round, 64.0));
        CHECK_OK(make_tensor_on(&g_be, &dr, n, f->classes, 1, 1, 9, 256.0));
        CHECK_OK(make_tensor_on(&g_cpu, &dc, n, f->classes, 1, 1, 9, 256.0));
        const Tensor *lr = NULL, *lc = NULL;
        CHECK_OK(model_forward(mr, &xr, 1, MF_DROPOUT_SEED, &lr));
        CHECK_OK(model_forward(mc, &xc, 1, MF_DROPOUT_SEED, &lc));
        if (lr && lc)
            compare_tensors("train logits", f->name, lc, lr, 1e-4);
        CHECK_OK(model_backward(mr, &dr));
        CHECK_OK(model_backward(mc, &dc));
        for (int k = 0; k < model_param_count(mr) && k < model_param_count(mc); k++) {
            Param *pr = model_param(mr, k), *pc = model_param(mc, k);
            if (pr->kind == PARAM_BUFFER)
                compare_tensors("running stat", pr->name, &pc->value, &pr->value, 1e-4);
            else
                compare_tensors("gradient", pr->name, &pc->grad, &pr->grad, 1e-3);
        }
        CHECK_OK(model_forward(mr, &xr, 0, 0, &lr));
        CHECK_OK(model_forward(mc, &xc, 0, 0, &lc));
        if (lr && lc)
            compare_tensors("eval logits", f->name, lc, lr, 1e-4);
        g_be.ops->tensor_free(g_be.ctx, &xr);
        g_be.ops->tensor_free(g_be.ctx, &dr);
        g_cpu.ops->tensor_free(g_cpu.ctx, &xc);
        g_cpu.ops->tensor_free(g_cpu.ctx, &dc);
    }
    model_destroy(mr);
    model_destroy(mc);
}

int main(void) {
    if (backend_reference_create(&g_be) != ST_OK) {
        fprintf(stderr, "reference backend: %s\n", status_message());
        return 1;
    }
    /* the cpu backend is part of every build; failing to create it is a failure */
    CHECK_OK(backend_cpu_create(2, &g_cpu));
    g_have_cpu = g_cpu.ops != NULL;
    const int n = (int)(sizeof MODEL_FIXTURES / sizeof MODEL_FIXTURES[0]);
    for (int i = 0; i < n; i++) {
        const int failed_before = check_failed_;
        check_against_torch(&MODEL_FIXTURES[i]);
        check_finite_differences(&MODEL_FIXTURES[i]);
        check_reuse(&MODEL_FIXTURES[i]);
        if (g_have_cpu)
            check_cpu_backend(&MODEL_FIXTURES[i]);
        printf("%-22s %s\n", MODEL_FIXTURES[i].name,
               check_failed_ == failed_before ? "ok" : "FAILED");
    }
    if (g_have_cpu && g_cpu.ops->destroy)
        g_cpu.ops->destroy(g_cpu.ctx);
    if (g_be.ops->destroy)
        g_be.ops->destroy(g_be.ctx);
    return check_report("test_model_grad");
}
