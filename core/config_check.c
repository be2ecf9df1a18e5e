/* config_check.c — what makes a Config valid, and the words for what does not.
 *
 * Per-field rules (ranges, odd kernels, increasing lists, allowed names) live in the field
 * table and are checked here for the reader (at the offending YAML node) and for
 * config_validate (at the field's recorded origin). Cross-field rules (a depth the family can
 * build, milestones inside the run, ...) exist only in config_validate. Misspelled keys get the
 * closest valid key by edit distance. */
#include "config_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- suggestions ---- */

static int lower(int ch) { return ch >= 'A' && ch <= 'Z' ? ch - 'A' + 'a' : ch; }

/* Optimal-string-alignment distance (Levenshtein plus adjacent transpositions), ignoring
 * case: "lr_sheduler" -> "schedule" is 5, "batchsize" -> "batch_size" is 1. */
static int edit_distance(const char *a, const char *b) {
    enum { MAXLEN = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAXLEN || lb >= MAXLEN) return 1000;
    int d[MAXLEN + 1][MAXLEN + 1];
    for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = lower(a[i - 1]) != lower(b[j - 1]);
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && lower(a[i - 1]) == lower(b[j - 2]) &&
                lower(a[i - 2]) == lower(b[j - 1]) && d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

/* Close enough to be the same word mistyped: up to half the longer word. */
static int close_enough(const char *a, const char *b, int dist) {
    size_t la = strlen(a), lb = strlen(b);
    size_t longer = la > lb ? la : lb;
    int limit = (int)(longer / 2);
    if (limit < 1) limit = 1;
    return dist <= limit;
}

static const char *suggest_with_distance(const char *name, const char *const *cands, int n,
                                         int *dist_out) {
    const char *best = NULL;
    int best_d = 1 << 30;
    for (int i = 0; i < n; i++) {
        int d = edit_distance(name, cands[i]);
        if (d < best_d && close_enough(name, cands[i], d)) {
            best = cands[i];
            best_d = d;
        }
    }
    if (dist_out) *dist_out = best_d;
    return best;
}

const char *cfg_suggest(const char *name, const char *const *cands, int n) {
    return suggest_with_distance(name, cands, n, NULL);
}

enum { MAX_CHILDREN = 64, CHILD_LEN = 48 };

/* The distinct next components under `section` (fields and subsections), in table order. */
static int section_children(const char *section, char out[][CHILD_LEN]) {
    size_t sl = strlen(section);
    int n = 0;
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++) {
        const char *k = CONFIG_FIELDS[i].key;
        if (sl) {
            if (strncmp(k, section, sl) != 0 || k[sl] != '.') continue;
            k += sl + 1;
        }
        size_t cl = strcspn(k, ".");
        if (cl >= CHILD_LEN) continue;
        int seen = 0;
        for (int j = 0; j < n && !seen; j++)
            seen = strlen(out[j]) == cl && strncmp(out[j], k, cl) == 0;
        if (!seen && n < MAX_CHILDREN) {
            memcpy(out[n], k, cl);
            out[n][cl] = '\0';
            n++;
        }
    }
    return n;
}

/* A key or section elsewhere in the schema whose last component is exactly `name`
 * ("lr" written under model is train.lr). */
static int find_elsewhere(const char *section, const char *name, char *out, size_t len) {
    size_t nl = strlen(name);
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++) {
        const char *k = CONFIG_FIELDS[i].key;
        for (const char *p = k;; ) {
            size_t cl = strcspn(p, ".");
            if (cl == nl && strncasecmp(p, name, nl) == 0) {
                size_t prefix = (size_t)(p - k);
                int same_section = prefix == 0 ? section[0] == '\0'
                                               : prefix - 1 == strlen(section) &&
                                                     strncmp(k, section, prefix - 1) == 0;
                if (!same_section) {
                    snprintf(out, len, "%.*s", (int)(prefix + cl), k);
                    return 1;
                }
            }
            if (!p[cl]) break;
            p += cl + 1;
        }
    }
    return 0;
}

void cfg_unknown_key_message(const char *section, const char *name, char *buf, size_t len) {
    char children[MAX_CHILDREN][CHILD_LEN];
    const char *cands[MAX_CHILDREN] = {0};
    int n = section_children(section, children);
    for (int i = 0; i < n; i++) cands[i] = children[i];

    char where[96] = "";
    if (section[0]) snprintf(where, sizeof where, " in '%s'", section);
    int d = 0;
    const char *near = suggest_with_distance(name, cands, n, &d);
    char other[128];
    int elsewhere = find_elsewhere(section, name, other, sizeof other);

    if (near && (d <= 1 || !elsewhere)) {
        snprintf(buf, len, "unknown key '%s'%s (did you mean '%s'?)", name, where, near);
    } else if (elsewhere) {
        snprintf(buf, len, "unknown key '%s'%s (did you mean '%s'?)", name, where, other);
    } else {
        char list[768] = "";
        size_t used = 0;
        for (int i = 0; i < n && used + 1 < sizeof list; i++) {
            int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", cands[i]);
            if (w < 0) break;
            used += (size_t)w;
        }
        snprintf(buf, len, "unknown key '%s'%s (valid keys: %s)", name, where, list);
    }
}

/* ---- per-value checks ---- */

static void format_number(double v, int is_int, char *buf, size_t len) {
    if (is_int) snprintf(buf, len, "%lld", (long long)v);
    else cfg_format_float((float)v, buf, len);
}

static void range_text(const Range *r, int is_int, char *buf, size_t len) {
    char lo[48], hi[48];
    format_number(r->min, is_int, lo, sizeof lo);
    format_number(r->max, is_int, hi, sizeof hi);
    int has_min = (r->flags & R_MIN) != 0, has_max = (r->flags & R_MAX) != 0;
    int min_open = (r->flags & R_MIN_OPEN) != 0, max_open = (r->flags & R_MAX_OPEN) != 0;
    if (has_min && has_max) {
        if (is_int && !min_open && !max_open) {
            if (r->max - r->min == 1) snprintf(buf, len, "%s or %s", lo, hi);
            else snprintf(buf, len, "between %s and %s", lo, hi);
        } else {
            snprintf(buf, len, "in %c%s, %s%c", min_open ? '(' : '[', lo, hi, max_open ? ')' : ']');
        }
    } else if (has_min) {
        snprintf(buf, len, "%s %s", min_open ? ">" : ">=", lo);
    } else if (has_max) {
        snprintf(buf, len, "%s %s", max_open ? "<" : "<=", hi);
    } else {
        snprintf(buf, len, "a number");
    }
}

static int in_range(const Range *r, double v) {
    if (r->flags & R_MIN) {
        if ((r->flags & R_MIN_OPEN) ? !(v > r->min) : !(v >= r->min)) return 0;
    }
    if (r->flags & R_MAX) {
        if ((r->flags & R_MAX_OPEN) ? !(v < r->max) : !(v <= r->max)) return 0;
    }
    return 1;
}

int cfg_check_number(const Range *r, FieldRule rule, double v, int is_int, char *msg, size_t len) {
    char got[48], want[128];
    format_number(v, is_int, got, sizeof got);
    if (!is_int && !isfinite(v)) {
        snprintf(msg, len, "must be a finite number, got %s", got);
        return 0;
    }
    if (rule == RULE_ZERO_OR_RANGE) {
        if (v == 0 || in_range(r, v)) return 1;
        range_text(r, is_int, want, sizeof want);
        snprintf(msg, len, "must be 0 (off) or %s, got %s", want, got);
        return 0;
    }
    if (!in_range(r, v)) {
        range_text(r, is_int, want, sizeof want);
        snprintf(msg, len, "must be %s, got %s", want, got);
        return 0;
    }
    if (rule == RULE_ODD && is_int && ((long long)v % 2) == 0) {
        snprintf(msg, len, "must be odd (1, 3, 5, 7, ...), got %s", got);
        return 0;
    }
    return 1;
}

int cfg_check_choice(const char *const *names, const char *value, char *msg, size_t len) {
    int n = cfg_count_names(names);
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], value) == 0) return 1;
    char list[256] = "";
    size_t used = 0;
    for (int i = 0; i < n && used + 1 < sizeof list; i++) {
        int w = snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", names[i]);
        if (w < 0) break;
        used += (size_t)w;
    }
    const char *near = cfg_suggest(value, names, n);
    if (near)
        snprintf(msg, len, "'%s' is not one of %s (did you mean '%s'?)", value, list, near);
    else
        snprintf(msg, len, "'%s' is not one of %s", value, list);
    return 0;
}

/* ---- config_validate ---- */

/* A problem with one field: the element index / stage key refine the location in the key. */
typedef struct Problem {
    int index;          /* list element, -1 for the whole field */
    const char *sub;    /* stage key, NULL otherwise */
    char text[384];
} Problem;

static Status fail_field(const Config *c, int field, const Problem *p) {
    const Field *f = &CONFIG_FIELDS[field];
    char key[160];
    int n = snprintf(key, sizeof key, "%s", f->key);
    if (p->index >= 0 && n >= 0 && (size_t)n < sizeof key)
        n += snprintf(key + n, sizeof key - (size_t)n, "[%d]", p->index);
    if (p->sub && n >= 0 && (size_t)n < sizeof key)
        snprintf(key + n, sizeof key - (size_t)n, ".%s", p->sub);
    int line = field < CONFIG_MAX_FIELDS ? c->origin[field].line : 0;
    int col = field < CONFIG_MAX_FIELDS ? c->origin[field].col : 0;
    const char *src = c->source[0] ? c->source : "<config>";
    if (line > 0)
        return status_fail(ST_ERR_CONFIG, "%s:%d:%d: %s: %s", src, line, col, key, p->text);
    if (line == CONFIG_ORIGIN_SET)
        return status_fail(ST_ERR_CONFIG, "--set %s: %s", key, p->text);
    if (c->source[0])
        return status_fail(ST_ERR_CONFIG, "%s: %s: %s", c->source, key, p->text);
    return status_fail(ST_ERR_CONFIG, "%s: %s", key, p->text);
}

static int list_len(const Field *f, const Config *c, Problem *p) {
    if (f->count_offset == FIELD_NO_COUNT) return f->capacity;
    int n = *(const int *)((const char *)c + f->count_offset);
    if (n < 0 || n > f->capacity) {
        snprintf(p->text, sizeof p->text, "%d items; at most %d are allowed", n, f->capacity);
        return -1;
    }
    return n;
}

/* The field's own rules, as the reader applies them. */
static int check_field(const Field *f, const Config *c, Problem *p) {
    const char *base = (const char *)c + f->offset;
    p->index = -1;
    p->sub = NULL;
    char msg[300];
    switch (f->type) {
    case CFT_INT:
        if (!cfg_check_number(&f->range, f->rule, *(const int *)base, 1, p->text, sizeof p->text))
            return 0;
        return 1;
    case CFT_U64: return 1;
    case CFT_FLOAT:
        return cfg_check_number(&f->range, f->rule, *(const float *)base, 0, p->text,
                                sizeof p->text);
    case CFT_BOOL: {
        int v = *(const int *)base;
        if (v == 0 || v == 1) return 1;
        snprintf(p->text, sizeof p->text, "must be true or false, got %d", v);
        return 0;
    }
    case CFT_STRING:
        if (!memchr(base, '\0', (size_t)f->capacity)) {
            snprintf(p->text, sizeof p->text, "longer than %d characters", f->capacity - 1);
            return 0;
        }
        if (f->rule == RULE_NONEMPTY && !base[0]) {
            snprintf(p->text, sizeof p->text, "must not be empty");
            return 0;
        }
        if (f->names && !cfg_check_choice(f->names, base, p->text, sizeof p->text)) return 0;
        return 1;
    case CFT_ENUM: {
        int v = *(const int *)base;
        if (v >= 0 && v < cfg_count_names(f->names)) return 1;
        snprintf(p->text, sizeof p->text, "invalid value %d", v);
        return 0;
    }
    case CFT_FLOAT_LIST: {
        int n = list_len(f, c, p);
        if (n < 0) return 0;
        const float *v = (const float *)base;
        for (int i = 0; i < n; i++) {
            if (!cfg_check_number(&f->range, RULE_NONE, v[i], 0, p->text, sizeof p->text)) {
                p->index = i;
                return 0;
            }
            if (f->rule == RULE_INCREASING && i > 0 && !(v[i] > v[i - 1])) {
                char a[48], b[48];
                cfg_format_float(v[i], a, sizeof a);
                cfg_format_float(v[i - 1], b, sizeof b);
                snprintf(p->text, sizeof p->text, "must be increasing, got %s after %s", a, b);
                return 0;
            }
        }
        return 1;
    }
    case CFT_KNOTS: {
        int n = list_len(f, c, p);
        if (n < 0) return 0;
        const float *e = (const float *)base;
        const float *lr = (const float *)((const char *)c + f->offset2);
        for (int i = 0; i < n; i++) {
            p->index = i;
            if (!cfg_check_number(&f->range, RULE_NONE, e[i], 0, msg, sizeof msg)) {
                snprintf(p->text, sizeof p->text, "epoch %s", msg);
                return 0;
            }
            if (!cfg_check_number(&f->range, RULE_NONE, lr[i], 0, msg, sizeof msg)) {
                snprintf(p->text, sizeof p->text, "lr %s", msg);
                return 0;
            }
            if (i > 0 && !(e[i] > e[i - 1])) {
                char a[48], b[48];
                cfg_format_float(e[i], a, sizeof a);
                cfg_format_float(e[i - 1], b, sizeof b);
                p->index = -1;
                snprintf(p->text, sizeof p->text,
                         "knot epochs must be increasing, got %s after %s", a, b);
                return 0;
            }
        }
        p->index = -1;
        return 1;
    }
    case CFT_STAGES: {
        int n = list_len(f, c, p);
        if (n < 0) return 0;
        const StageConfig *s = (const StageConfig *)base;
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < 3; k++) {
                const StageKey *sk = &CONFIG_STAGE_KEYS[k];
                int v = *(const int *)((const char *)&s[i] + sk->offset);
                if (!cfg_check_number(&sk->range, RULE_NONE, v, 1, p->text, sizeof p->text)) {
                    p->index = i;
                    p->sub = sk->name;
                    return 0;
                }
            }
        }
        return 1;
    }
    }
    return 1;
}

static Status fail_rule(const Config *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static Status fail_rule(const Config *c, const char *key, const char *fmt, ...) {
    Problem p = {.index = -1, .sub = NULL};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p.text, sizeof p.text, fmt, ap);
    va_end(ap);
    return fail_field(c, cfg_find(key), &p);
}

static int dataset_classes(DatasetKind d) { return d == DATASET_CIFAR100 ? 100 : 10; }

static Status check_model(const Config *c) {
    const ModelConfig *m = &c->model;
    int d = m->depth;
    switch (m->family) {
    case FAMILY_WRN:
        if (d < 10 || (d - 4) % 6 != 0)
            return fail_rule(c, "model.depth",
                             "%d is not a valid WRN depth (must be 6n+4: 10, 16, 22, 28, 34, 40)",
                             d);
        break;
    case FAMILY_RESNET_CIFAR:
        if (d < 8 || (d - 2) % 6 != 0)
            return fail_rule(c, "model.depth",
                             "%d is not a valid resnet_cifar depth (must be 6n+2: 8, 14, 20, 32, "
                             "44, 56, 110, ...)", d);
        break;
    case FAMILY_RESNET:
        if (d != 18 && d != 34)
            return fail_rule(c, "model.depth", "%d is not a valid resnet depth (must be 18 or 34)",
                             d);
        break;
    case FAMILY_CUSTOM:
        if (m->num_stages < 1)
            return fail_rule(c, "model.stages",
                             "family custom needs at least one stage, e.g. "
                             "[{blocks: 2, width: 16, stride: 1}]");
        break;
    }
    int k = dataset_classes(c->data.dataset);
    if (m->num_classes != 0 && m->num_classes < k)
        return fail_rule(c, "model.num_classes",
                         "%d outputs cannot score the %d classes of %s "
                         "(0 takes it from the dataset)",
                         m->num_classes, k, config_dataset_name(c->data.dataset));
    return ST_OK;
}

static Status check_data(const Config *c) {
    const AugmentConfig *a = &c->data.augment;
    int side = a->resize ? a->resize : 32;
    if (a->cutout_holes > 0 && a->cutout_size < 1)
        return fail_rule(c, "data.augment.cutout_size",
                         "must be >= 1 when cutout_holes is %d, got %d", a->cutout_holes,
                         a->cutout_size);
    if (a->cutout_holes > 0 && a->cutout_size > side)
        return fail_rule(c, "data.augment.cutout_size",
                         "%d is larger than the %d-pixel image", a->cutout_size, side);
    return ST_OK;
}

static Status check_train(const Config *c) {
    const TrainConfig *t = &c->train;
    const ScheduleConfig *s = &t->schedule;
    char a[48], b[48];
    if (t->nesterov && !(t->momentum > 0)) {
        cfg_format_float(t->momentum, a, sizeof a);
        return fail_rule(c, "train.nesterov", "nesterov needs momentum > 0 (train.momentum is %s)",
                         a);
    }
    if (s->warmup_epochs > (float)t->epochs) {
        cfg_format_float(s->warmup_epochs, a, sizeof a);
        return fail_rule(c, "train.schedule.warmup_epochs",
                         "%s is longer than the run (train.epochs is %d)", a, t->epochs);
    }
    switch (s->kind) {
    case SCHEDULE_MULTISTEP:
        /* Milestones past the end are allowed (as in PyTorch): they are simply never reached,
         * so a recipe can be shortened with --set train.epochs=N. */
        break;
    case SCHEDULE_COSINE:
        if (s->min_lr > t->lr) {
            cfg_format_float(s->min_lr, a, sizeof a);
            cfg_format_float(t->lr, b, sizeof b);
            return fail_rule(c, "train.schedule.min_lr", "%s is above train.lr (%s)", a, b);
        }
        break;
    case SCHEDULE_PIECEWISE:
        if (s->num_knots < 1)
            return fail_rule(c, "train.schedule.knots",
                             "schedule piecewise needs at least one [epoch, lr] knot, "
                             "e.g. [[0, 0.1], [10, 0.001]]");
        break;
    case SCHEDULE_CONSTANT:
    case SCHEDULE_ONECYCLE:
        break;
    }
    return ST_OK;
}

Status config_validate(const Config *c) {
    if (!c) return status_fail(ST_ERR_ARG, "config_validate: no config");
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++) {
        Problem p;
        if (!check_field(&CONFIG_FIELDS[i], c, &p)) return fail_field(c, i, &p);
    }
    TRY(check_model(c));
    TRY(check_data(c));
    TRY(check_train(c));
    return ST_OK;
}
