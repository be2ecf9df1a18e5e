/* checkpoint.c — model weights and resume state to and from safetensors files.
 *
 * Saving streams one tensor at a time (download into one host buffer, append to the atomic
 * writer). Loading opens the file, validates every tensor the model needs (present, dtype,
 * PyTorch shape) and every tensor the file has (nothing unexpected) before the first upload, so
 * a mismatching checkpoint never leaves a half-loaded model. */
#include "checkpoint.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const g_arch_hint = " — the checkpoint was trained with a different "
                                       "architecture";

static SafetensorsDType sft_dtype(DType d) {
    switch (d) {
    case DT_F32: return SFT_F32;
    case DT_I32: return SFT_I32;
    case DT_U8: return SFT_U8;
    }
    return SFT_F32;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int checkpoint_param_shape(const Param *p, int64_t shape[4]) {
    const Tensor *t = &p->value;
    if (t->h != 1 || t->w != 1 || t->n > 1) {
        int conv = t->h != 1 || t->w != 1;
        if (!conv) {
            /* The module is the last name segment before ".weight": "stages.0.0.shortcut.conv". */
            const char *end = strrchr(p->name, '.');
            const char *start = end;
            while (start && start > p->name && start[-1] != '.') start--;
            conv = end && start && end > start && memmem(start, (size_t)(end - start), "conv",
                                                         4) != NULL;
        }
        if (conv) {
            shape[0] = t->n; shape[1] = t->c; shape[2] = t->h; shape[3] = t->w;
            return 4;
        }
        shape[0] = t->n;
        shape[1] = t->c;
        return 2;
    }
    shape[0] = t->c;
    return 1;
}

/* The on-disk shape of an item: its NCHW shape folded to ndim dimensions. Returns 0 when the
 * ndim is not one of 0, 1, 2, 4 or a scalar has more than one element. */
static int item_shape(const CheckpointItem *it, int64_t shape[4], int *ndim) {
    const Tensor *t = it->tensor;
    switch (it->ndim) {
    case 0:
        *ndim = 0;
        return tensor_numel(t) == 1;
    case 1:
        shape[0] = (int64_t)tensor_numel(t);
        break;
    case 2:
        shape[0] = t->n;
        shape[1] = (int64_t)t->c * t->h * t->w;
        break;
    case 4:
        shape[0] = t->n; shape[1] = t->c; shape[2] = t->h; shape[3] = t->w;
        break;
    default:
        return 0;
    }
    *ndim = it->ndim;
    return 1;
}

Status checkpoint_save_tensors(const char *path, Backend *b, const CheckpointItem *items,
                               int count, const SafetensorsMeta *meta) {
    if (!path || !b || !b->ops || count < 0 || (count > 0 && !items))
        return status_fail(ST_ERR_ARG, "checkpoint_save_tensors: invalid arguments");
    SafetensorsEntry *entries = calloc((size_t)(count > 0 ? count : 1), sizeof *entries);
    if (!entries) return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    size_t max_bytes = 0;
    for (int i = 0; i < count; i++) {
        const CheckpointItem *it = &items[i];
        SafetensorsEntry *e = &entries[i];
        if (!it->name || !it->tensor || !it->tensor->data) {
            free(entries);
            return status_fail(ST_ERR_ARG, "%s: tensor %d ('%s') is not allocated; nothing was "
                               "written", path, i, it->name ? it->name : "?");
        }
        if (!item_shape(it, e->shape, &e->ndim)) {
            free(entries);
            return status_fail(ST_ERR_ARG, "%s: tensor '%s' cannot be stored with %d dimensions",
                               path, it->name, it->ndim);
        }
        e->name = it->name;
        e->dtype = sft_dtype(it->tensor->dtype);
        size_t nb = tensor_bytes(it->tensor);
        if (nb > max_bytes) max_bytes = nb;
    }
    unsigned char *host = malloc(max_bytes ? max_bytes : 1);
    if (!host) {
        free(entries);
        return status_fail(ST_ERR_OOM, "%s: out of memory for a %zu-byte transfer buffer", path,
                           max_bytes);
    }
    SafetensorsWriter *w = NULL;
    Status st = safetensors_writer_open(path, entries, count, meta, &w);
    for (int i; st == ST_OK && (i = safetensors_writer_next(w)) >= 0;) {
        const Tensor *t = items[i].tensor;
        size_t nb = tensor_bytes(t);
        if (nb == 0) continue;
        st = b->ops->download(b->ctx, t, host);
        if (st == ST_OK) st = safetensors_writer_data(w, host, nb);
    }
    if (st == ST_OK) st = safetensors_writer_commit(w);
    else safetensors_writer_abort(w);
    free(host);
    free(entries);
    return st;
}

/* check_tensor with a hint appended to shape/presence errors. `expect` gives the dtype and
 * shape the caller needs (it may be another tensor than the one that will receive the data). */
static Status check_one(const Safetensors *st, const char *name, const Tensor *expect, int ndim,
                        const char *hint) {
    const char *path = safetensors_path(st);
    CheckpointItem it = {name, (Tensor *)expect, ndim};
    int64_t want[4];
    int want_nd = 0;
    if (!item_shape(&it, want, &want_nd))
        return status_fail(ST_ERR_ARG, "%s: tensor '%s' cannot be read with %d dimensions", path,
                           name, ndim);
    const SafetensorsTensor *t = safetensors_find(st, name);
    if (!t) return status_fail(ST_ERR_FORMAT, "%s: has no tensor '%s'%s", path, name, hint);
    SafetensorsDType dt = sft_dtype(expect->dtype);
    if (t->dtype != dt)
        return status_fail(ST_ERR_FORMAT, "%s: %s is %s, expected %s (convert it to %s before "
                           "loading)", path, name, safetensors_dtype_name(t->dtype),
                           safetensors_dtype_name(dt), safetensors_dtype_name(dt));
    int same = t->ndim == want_nd;
    for (int d = 0; same && d < want_nd; d++) same = t->shape[d] == want[d];
    if (!same) {
        char got_s[160], want_s[160];
        safetensors_shape_str(t->ndim, t->shape, got_s, sizeof got_s);
        safetensors_shape_str(want_nd, want, want_s, sizeof want_s);
        return status_fail(ST_ERR_FORMAT, "%s: %s has shape %s, the model expects %s%s", path,
                           name, got_s, want_s, hint);
    }
    return ST_OK;
}

Status checkpoint_check_tensor(const Safetensors *st, const CheckpointItem *item) {
    if (!st || !item || !item->name || !item->tensor)
        return status_fail(ST_ERR_ARG, "checkpoint_check_tensor: invalid arguments");
    return check_one(st, item->name, item->tensor, item->ndim, "");
}

/* Upload a checked tensor's bytes; the file's data may be unaligned in foreign files. */
static Status upload_from(const Safetensors *st, const char *name, Tensor *dst, Backend *b) {
    const SafetensorsTensor *t = safetensors_find(st, name);
    if (!t) return status_fail(ST_ERR_FORMAT, "%s: has no tensor '%s'", safetensors_path(st), name);
    if (t->nbytes != tensor_bytes(dst))
        return status_fail(ST_ERR_ARG, "%s: %s holds %zu bytes, its destination %zu",
                           safetensors_path(st), name, t->nbytes, tensor_bytes(dst));
    if (t->nbytes == 0) return ST_OK;
    if (!dst->data)
        return status_fail(ST_ERR_ARG, "%s: destination of %s is not allocated",
                           safetensors_path(st), name);
    if ((uintptr_t)t->data % dtype_size(dst->dtype) == 0)
        return b->ops->upload(b->ctx, dst, t->data);
    void *copy = malloc(t->nbytes);
    if (!copy) return status_fail(ST_ERR_OOM, "%s: out of memory", safetensors_path(st));
    memcpy(copy, t->data, t->nbytes);
    Status s = b->ops->upload(b->ctx, dst, copy);
    free(copy);
    return s;
}

Status checkpoint_read_tensor(const Safetensors *st, const CheckpointItem *item, Backend *b) {
    if (!b || !b->ops) return status_fail(ST_ERR_ARG, "checkpoint_read_tensor: no backend");
    TRY(checkpoint_check_tensor(st, item));
    return upload_from(st, item->name, item->tensor, b);
}

Status checkpoint_load_tensors(const char *path, Backend *b, const CheckpointItem *items,
                               int count, SafetensorsMeta *meta_out) {
    if (!path || !b || !b->ops || count < 0 || (count > 0 && !items))
        return status_fail(ST_ERR_ARG, "checkpoint_load_tensors: invalid arguments");
    Safetensors *st = NULL;
    TRY(safetensors_open(path, &st));
    Status s = ST_OK;
    for (int i = 0; s == ST_OK && i < count; i++) s = checkpoint_check_tensor(st, &items[i]);
    for (int i = 0; s == ST_OK && i < count; i++)
        s = upload_from(st, items[i].name, items[i].tensor, b);
    if (s == ST_OK && meta_out) s = safetensors_meta_copy(meta_out, safetensors_metadata(st));
    safetensors_close(st);
    return s;
}

/* ------------------------------------------------------------------------------------------ */

/* Parameters (and, with momentum, their optimizer buffers) as items; names of the momentum
 * items are malloc'd in *names_out (one block). */
static Status model_items(Model *m, int with_momentum, const char *path, CheckpointItem **out,
                          int *count_out, char **names_out) {
    int np = model_param_count(m);
    *out = NULL;
    *names_out = NULL;
    *count_out = 0;
    CheckpointItem *items = calloc((size_t)(2 * np + 1), sizeof *items);
    size_t name_len = PARAM_NAME_LEN + sizeof CHECKPOINT_MOMENTUM_SUFFIX;
    char *names = with_momentum ? malloc((size_t)(np + 1) * name_len) : NULL;
    if (!items || (with_momentum && !names)) {
        free(items);
        free(names);
        return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    }
    int n = 0;
    for (int i = 0; i < np; i++) {
        Param *p = model_param(m, i);
        int64_t shape[4];
        items[n].name = p->name;
        items[n].tensor = &p->value;
        items[n].ndim = checkpoint_param_shape(p, shape);
        n++;
    }
    for (int i = 0; with_momentum && i < np; i++) {
        Param *p = model_param(m, i);
        if (p->kind == PARAM_BUFFER || !p->momentum.data) continue;
        if (p->momentum.n != p->value.n || p->momentum.c != p->value.c ||
            p->momentum.h != p->value.h || p->momentum.w != p->value.w ||
            p->momentum.dtype != p->value.dtype) {
            free(items);
            free(names);
            return status_fail(ST_ERR_ARG, "%s: momentum buffer of %s does not have the "
                               "parameter's shape", path, p->name);
        }
        char *nm = names + (size_t)i * name_len;
        snprintf(nm, name_len, "%s%s", p->name, CHECKPOINT_MOMENTUM_SUFFIX);
        int64_t shape[4];
        items[n].name = nm;
        items[n].tensor = &p->momentum;
        items[n].ndim = checkpoint_param_shape(p, shape);
        n++;
    }
    *out = items;
    *count_out = n;
    *names_out = names;
    return ST_OK;
}

static Status save_with_kind(const char *path, Model *m, Backend *b, const SafetensorsMeta *meta,
                             const char *kind, int with_momentum) {
    if (!path || !m || !b || !b->ops)
        return status_fail(ST_ERR_ARG, "checkpoint: save needs a path, a model and a backend");
    SafetensorsMeta md;
    safetensors_meta_init(&md);
    CheckpointItem *items = NULL;
    char *names = NULL;
    int n = 0;
    Status st = safetensors_meta_copy(&md, meta);
    if (st == ST_OK) st = safetensors_meta_set(&md, CHECKPOINT_META_KIND, kind);
    if (st == ST_OK) st = model_items(m, with_momentum, path, &items, &n, &names);
    if (st == ST_OK) st = checkpoint_save_tensors(path, b, items, n, &md);
    free(items);
    free(names);
    safetensors_meta_free(&md);
    return st;
}

Status checkpoint_save_model(const char *path, Model *m, Backend *b, const SafetensorsMeta *meta) {
    return save_with_kind(path, m, b, meta, CHECKPOINT_KIND_MODEL, 0);
}

Status checkpoint_save_state(const char *path, Model *m, Backend *b,
                             const SafetensorsMeta *scalars) {
    return save_with_kind(path, m, b, scalars, CHECKPOINT_KIND_STATE, 1);
}

/* The file's "shortcut" kind must be `want` (or absent, when `absent_ok`). */
static Status check_kind(const Safetensors *st, const char *want, int absent_ok) {
    const char *path = safetensors_path(st);
    const char *kind = safetensors_meta_get(safetensors_metadata(st), CHECKPOINT_META_KIND);
    if (!kind) {
        if (absent_ok) return ST_OK;
        return status_fail(ST_ERR_FORMAT, "%s: not a shortcut resume state (no \"%s\" metadata); "
                           "resume needs the state.safetensors of a run directory", path,
                           CHECKPOINT_META_KIND);
    }
    if (strcmp(kind, want) == 0) return ST_OK;
    if (strcmp(kind, CHECKPOINT_KIND_STATE) == 0)
        return status_fail(ST_ERR_FORMAT, "%s: is a resume state, not model weights; load the "
                           "run's model.safetensors instead", path);
    if (strcmp(kind, CHECKPOINT_KIND_MODEL) == 0)
        return status_fail(ST_ERR_FORMAT, "%s: holds model weights only, not a resume state; "
                           "resume needs the run's state.safetensors", path);
    return status_fail(ST_ERR_FORMAT, "%s: unknown checkpoint kind \"%s\" (expected \"%s\"): "
                       "written by a newer version of shortcut?", path, kind, want);
}

/* Check every parameter value, with the architecture hint. */
static Status check_params(const Safetensors *st, Model *m) {
    int np = model_param_count(m);
    for (int i = 0; i < np; i++) {
        Param *p = model_param(m, i);
        int64_t shape[4];
        int nd = checkpoint_param_shape(p, shape);
        if (!safetensors_find(st, p->name)) {
            int found = 0;
            for (int j = 0; j < np; j++)
                found += safetensors_find(st, model_param(m, j)->name) != NULL;
            return status_fail(ST_ERR_FORMAT, "%s: has no tensor %s (it has %d of the model's %d "
                               "parameters)%s", safetensors_path(st), p->name, found, np,
                               g_arch_hint);
        }
        TRY(check_one(st, p->name, &p->value, nd, g_arch_hint));
    }
    return ST_OK;
}

/* The trainable parameter a "<name>.momentum" tensor belongs to, or NULL. */
static Param *momentum_owner(Model *m, const char *name) {
    if (!ends_with(name, CHECKPOINT_MOMENTUM_SUFFIX)) return NULL;
    char base[PARAM_NAME_LEN];
    size_t n = strlen(name) - (sizeof CHECKPOINT_MOMENTUM_SUFFIX - 1);
    if (n >= sizeof base) return NULL;
    memcpy(base, name, n);
    base[n] = '\0';
    Param *p = model_find_param(m, base);
    return p && p->kind != PARAM_BUFFER ? p : NULL;
}

static Status upload_params(const Safetensors *st, Model *m, Backend *b) {
    int np = model_param_count(m);
    for (int i = 0; i < np; i++) {
        Param *p = model_param(m, i);
        TRY(upload_from(st, p->name, &p->value, b));
    }
    return ST_OK;
}

Status checkpoint_load_model(const char *path, Model *m, Backend *b, char **config_out) {
    if (config_out) *config_out = NULL;
    if (!path || !m || !b || !b->ops)
        return status_fail(ST_ERR_ARG, "checkpoint: load needs a path, a model and a backend");
    Safetensors *st = NULL;
    TRY(safetensors_open(path, &st));
    Status s = check_kind(st, CHECKPOINT_KIND_MODEL, 1);
    if (s == ST_OK) s = check_params(st, m);
    for (int i = 0; s == ST_OK && i < safetensors_count(st); i++) {
        const char *name = safetensors_tensor(st, i)->name;
        if (!model_find_param(m, name) && !ends_with(name, ".num_batches_tracked"))
            s = status_fail(ST_ERR_FORMAT, "%s: has tensor %s that the model does not have%s",
                            path, name, g_arch_hint);
    }
    if (s == ST_OK) s = upload_params(st, m, b);
    if (s == ST_OK && config_out) {
        const char *cfg = safetensors_meta_get(safetensors_metadata(st), CHECKPOINT_META_CONFIG);
        if (cfg) {
            size_t n = strlen(cfg) + 1;
            *config_out = malloc(n);
            if (*config_out) memcpy(*config_out, cfg, n);
            else s = status_fail(ST_ERR_OOM, "%s: out of memory", path);
        }
    }
    safetensors_close(st);
    return s;
}

Status checkpoint_load_state(const char *path, Model *m, Backend *b, SafetensorsMeta *scalars_out,
                             int *momentum_loaded) {
    if (momentum_loaded) *momentum_loaded = 0;
    if (!path || !m || !b || !b->ops)
        return status_fail(ST_ERR_ARG, "checkpoint: load needs a path, a model and a backend");
    Safetensors *st = NULL;
    TRY(safetensors_open(path, &st));
    Status s = check_kind(st, CHECKPOINT_KIND_STATE, 0);
    if (s == ST_OK) s = check_params(st, m);

    /* Momentum: all trainable parameters or none. */
    int np = model_param_count(m), trainable = 0, with_mom = 0;
    const char *first_missing = NULL, *first_present = NULL;
    char mom[PARAM_NAME_LEN + sizeof CHECKPOINT_MOMENTUM_SUFFIX];
    for (int i = 0; s == ST_OK && i < np; i++) {
        Param *p = model_param(m, i);
        if (p->kind == PARAM_BUFFER) continue;
        trainable++;
        snprintf(mom, sizeof mom, "%s%s", p->name, CHECKPOINT_MOMENTUM_SUFFIX);
        if (safetensors_find(st, mom)) {
            with_mom++;
            if (!first_present) first_present = p->name;
            int64_t shape[4];
            s = check_one(st, mom, &p->value, checkpoint_param_shape(p, shape), g_arch_hint);
        } else if (!first_missing) {
            first_missing = p->name;
        }
    }
    if (s == ST_OK && with_mom > 0 && with_mom < trainable)
        s = status_fail(ST_ERR_FORMAT, "%s: has momentum for %s but not for %s (%d of %d "
                        "parameters): the resume state is incomplete", path, first_present,
                        first_missing, with_mom, trainable);
    for (int i = 0; s == ST_OK && i < safetensors_count(st); i++) {
        const char *name = safetensors_tensor(st, i)->name;
        if (!model_find_param(m, name) && !momentum_owner(m, name))
            s = status_fail(ST_ERR_FORMAT, "%s: has tensor %s that the model does not have%s",
                            path, name, g_arch_hint);
    }

    if (s == ST_OK) s = upload_params(st, m, b);
    for (int i = 0; s == ST_OK && with_mom > 0 && i < np; i++) {
        Param *p = model_param(m, i);
        if (p->kind == PARAM_BUFFER) continue;
        Tensor *t = &p->momentum;
        if (!t->data || t->n != p->value.n || t->c != p->value.c || t->h != p->value.h ||
            t->w != p->value.w || t->dtype != p->value.dtype) {
            tensor_shape(t, p->value.n, p->value.c, p->value.h, p->value.w, p->value.dtype);
            s = b->ops->tensor_alloc(b->ctx, t);
        }
        snprintf(mom, sizeof mom, "%s%s", p->name, CHECKPOINT_MOMENTUM_SUFFIX);
        if (s == ST_OK) s = upload_from(st, mom, t, b);
    }
    if (s == ST_OK && scalars_out) s = safetensors_meta_copy(scalars_out, safetensors_metadata(st));
    if (s == ST_OK && momentum_loaded) *momentum_loaded = with_mom > 0;
    safetensors_close(st);
    return s;
}

/* ------------------------------------------------------------------------------------------ */

static Status meta_lookup(const SafetensorsMeta *meta, const char *origin, const char *key,
                          const char **value) {
    if (!origin) origin = "checkpoint";
    *value = safetensors_meta_get(meta, key);
    if (!*value)
        return status_fail(ST_ERR_FORMAT, "%s: has no \"%s\" entry in its metadata (written by "
                           "another version?)", origin, key);
    return ST_OK;
}

Status checkpoint_meta_long(const SafetensorsMeta *meta, const char *origin, const char *key,
                            long long *out) {
    const char *v;
    TRY(meta_lookup(meta, origin, key, &v));
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || errno)
        return status_fail(ST_ERR_FORMAT, "%s: metadata \"%s\" = \"%.40s\" is not an integer",
                           origin ? origin : "checkpoint", key, v);
    *out = x;
    return ST_OK;
}

Status checkpoint_meta_u64(const SafetensorsMeta *meta, const char *origin, const char *key,
                           unsigned long long *out) {
    const char *v;
    TRY(meta_lookup(meta, origin, key, &v));
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (end == v || *end || errno || v[0] == '-' || v[0] == ' ')
        return status_fail(ST_ERR_FORMAT, "%s: metadata \"%s\" = \"%.40s\" is not a non-negative "
                           "integer", origin ? origin : "checkpoint", key, v);
    *out = x;
    return ST_OK;
}

Status checkpoint_meta_double(const SafetensorsMeta *meta, const char *origin, const char *key,
                              double *out) {
    const char *v;
    TRY(meta_lookup(meta, origin, key, &v));
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || (errno == ERANGE && (x > 1.0 || x < -1.0)))
        return status_fail(ST_ERR_FORMAT, "%s: metadata \"%s\" = \"%.40s\" is not a number",
                           origin ? origin : "checkpoint", key, v);
    *out = x;
    return ST_OK;
}
