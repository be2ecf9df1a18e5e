/* config_read.c — YAML into a Config: config_load, config_load_string and config_set.
 *
 * libyaml builds the document tree (with line/column marks); we walk it against the field
 * table: a key is a field (its value is parsed by type and range-checked at its node), a
 * section (recurse) or an error that names the closest valid key. Duplicate keys are errors
 * (libyaml keeps both). Every entry point works on a copy and writes the caller's Config only
 * on success, so a bad file or a bad --set never leaves a half-changed config. */
#include "config_internal.h"
#include "fileio.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

/* Larger than any config; a cap so that pointing at /dev/zero fails cleanly. */
#define CONFIG_MAX_FILE_BYTES (4u << 20)


typedef struct Reader {
    Config *c;
    yaml_document_t *doc;
    const char *origin;   /* file or string name; NULL: --set (messages say "--set key") */
} Reader;

/* ---- messages ---- */

static void describe(const yaml_node_t *n, char *buf, size_t len) {
    if (!n) { snprintf(buf, len, "nothing"); return; }
    switch (n->type) {
    case YAML_SCALAR_NODE:
        if (n->data.scalar.length == 0 && n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            snprintf(buf, len, "nothing");
        else if (n->data.scalar.length > 40)
            snprintf(buf, len, "'%.37s...'", (const char *)n->data.scalar.value);
        else
            snprintf(buf, len, "'%s'", (const char *)n->data.scalar.value);
        return;
    case YAML_SEQUENCE_NODE: snprintf(buf, len, "a list"); return;
    case YAML_MAPPING_NODE: snprintf(buf, len, "a mapping"); return;
    case YAML_NO_NODE: break;
    }
    snprintf(buf, len, "nothing");
}

/* `where` is the dotted key (for --set) and `text` the complete message after the location. */
static Status fail_at(const Reader *r, const yaml_node_t *n, const char *where, const char *text) {
    if (r->origin) {
        size_t line = n ? n->start_mark.line + 1 : 1, col = n ? n->start_mark.column + 1 : 1;
        return status_fail(ST_ERR_CONFIG, "%s:%zu:%zu: %s", r->origin, line, col, text);
    }
    return status_fail(ST_ERR_CONFIG, "--set %s: %s", where, text);
}

/* A bad value: "file:L:C: key: problem", or "--set key: problem". */
static Status fail_value(const Reader *r, const yaml_node_t *n, const char *key, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));

static Status fail_value(const Reader *r, const yaml_node_t *n, const char *key, const char *fmt,
                         ...) {
    char problem[512], text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(problem, sizeof problem, fmt, ap);
    va_end(ap);
    if (r->origin) snprintf(text, sizeof text, "%s: %s", key, problem);
    else snprintf(text, sizeof text, "%s", problem);
    return fail_at(r, n, key, text);
}

static Status fail_unknown(const Reader *r, const yaml_node_t *n, const char *section,
                           const char *name) {
    char msg[1024], where[256];
    cfg_unknown_key_message(section, name, msg, sizeof msg);
    snprintf(where, sizeof where, "%s%s%s", section, section[0] ? "." : "", name);
    return fail_at(r, n, where, msg);
}

static void mark_origin(Reader *r, int field, const yaml_node_t *n) {
    if (field < 0 || field >= CONFIG_MAX_FIELDS) return;
    if (r->origin && n) {
        r->c->origin[field].line = (int)n->start_mark.line + 1;
        r->c->origin[field].col = (int)n->start_mark.column + 1;
    } else {
        r->c->origin[field].line = CONFIG_ORIGIN_SET;
        r->c->origin[field].col = 0;
    }
}

/* ---- scalars ---- */

static int is_null(const yaml_node_t *n) {
    if (!n) return 1;
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* The scalar's text, or NULL (with the message set) when the node is not a usable scalar. */
static const char *scalar_text(const Reader *r, const yaml_node_t *n, const char *key,
                               const char *expected, Status *st) {
    char got[64];
    if (!n || n->type != YAML_SCALAR_NODE || is_null(n)) {
        describe(n, got, sizeof got);
        *st = fail_value(r, n, key, "expected %s, got %s", expected, got);
        return NULL;
    }
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length) {
        *st = fail_value(r, n, key, "expected %s, got text with a NUL character", expected);
        return NULL;
    }
    return s;
}

static Status parse_long(const Reader *r, const yaml_node_t *n, const char *key, long long *out) {
    Status st = ST_OK;
    const char *s = scalar_text(r, n, key, "an integer", &st);
    if (!s) return st;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX) {
        if (errno == ERANGE || ((end != s && !*end)))
            return fail_value(r, n, key, "expected an integer, got '%s' (out of range)", s);
        return fail_value(r, n, key, "expected an integer, got '%s'", s);
    }
    *out = v;
    return ST_OK;
}

static Status parse_float(const Reader *r, const yaml_node_t *n, const char *key, float *out) {
    Status st = ST_OK;
    const char *s = scalar_text(r, n, key, "a number", &st);
    if (!s) return st;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end) return fail_value(r, n, key, "expected a number, got '%s'", s);
    if (!isfinite(v) || fabs(v) > FLT_MAX)
        return fail_value(r, n, key, "expected a finite number, got '%s'", s);
    *out = (float)v;
    return ST_OK;
}

static Status read_int(Reader *r, const yaml_node_t *n, const char *key, const Range *rg,
                       FieldRule rule, int *out) {
    long long v = 0;
    TRY(parse_long(r, n, key, &v));
    char msg[384];
    if (!cfg_check_number(rg, rule, (double)v, 1, msg, sizeof msg))
        return fail_value(r, n, key, "%s", msg);
    *out = (int)v;
    return ST_OK;
}

static Status read_float(Reader *r, const yaml_node_t *n, const char *key, const Range *rg,
                         FieldRule rule, float *out) {
    float v = 0;
    TRY(parse_float(r, n, key, &v));
    char msg[384];
    if (!cfg_check_number(rg, rule, v, 0, msg, sizeof msg)) return fail_value(r, n, key, "%s", msg);
    *out = v;
    return ST_OK;
}

static Status read_bool(Reader *r, const yaml_node_t *n, const char *key, int *out) {
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    Status st = ST_OK;
    const char *s = scalar_text(r, n, key, "true or false", &st);
    if (!s) return st;
    for (int i = 0; yes[i]; i++)
        if (strcasecmp(s, yes[i]) == 0) { *out = 1; return ST_OK; }
    for (int i = 0; no[i]; i++)
        if (strcasecmp(s, no[i]) == 0) { *out = 0; return ST_OK; }
    return fail_value(r, n, key, "expected true or false, got '%s'", s);
}

static Status read_u64(Reader *r, const yaml_node_t *n, const char *key,
                       unsigned long long *out) {
    Status st = ST_OK;
    const char *s = scalar_text(r, n, key, "a non-negative integer", &st);
    if (!s) return st;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || *end || errno == ERANGE || strchr(s, '-'))
        return fail_value(r, n, key, "expected a non-negative integer, got '%s'", s);
    *out = v;
    return ST_OK;
}

static Status read_enum(Reader *r, const yaml_node_t *n, const Field *f, int *out) {
    Status st = ST_OK;
    const char *s = scalar_text(r, n, f->key, "a name", &st);
    if (!s) return st;
    for (int i = 0; f->names[i]; i++)
        if (strcasecmp(s, f->names[i]) == 0) { *out = i; return ST_OK; }
    char msg[512];
    cfg_check_choice(f->names, s, msg, sizeof msg);
    return fail_value(r, n, f->key, "%s", msg);
}

/* Raw --set text skips libyaml's decoder, and what we store must read back from YAML. */
static int valid_utf8(const char *s) {
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int extra = *p < 0x80 ? 0
                  : (*p >> 5) == 0x6 ? 1
                  : (*p >> 4) == 0xe ? 2
                  : (*p >> 3) == 0x1e ? 3
                  : -1;
        if (extra < 0 || (extra == 1 && *p < 0xc2)) return 0;
        p++;
        for (int i = 0; i < extra; i++, p++)
            if ((*p & 0xc0) != 0x80) return 0;
    }
    return 1;
}

static Status read_string(Reader *r, const yaml_node_t *n, const Field *f, char *out) {
    const char *s = "";
    if (!is_null(n)) {
        Status st = ST_OK;
        s = scalar_text(r, n, f->key, "a string", &st);
        if (!s) return st;
    }
    if (strlen(s) >= (size_t)f->capacity)
        return fail_value(r, n, f->key, "too long (at most %d characters)", f->capacity - 1);
    char msg[512];
    if (!valid_utf8(s)) return fail_value(r, n, f->key, "must be UTF-8 text");
    if (f->rule == RULE_NONEMPTY && !*s) return fail_value(r, n, f->key, "must not be empty");
    if (f->names && !cfg_check_choice(f->names, s, msg, sizeof msg))
        return fail_value(r, n, f->key, "%s", msg);
    memcpy(out, s, strlen(s) + 1);
    return ST_OK;
}

/* ---- lists ---- */

static yaml_node_t *item(const Reader *r, const yaml_node_t *seq, int i) {
    return yaml_document_get_node(r->doc, seq->data.sequence.items.start[i]);
}

static int seq_len(const yaml_node_t *n) {
    return (int)(n->data.sequence.items.top - n->data.sequence.items.start);
}

/* A counted list may be written as nothing (empty); fixed ones must be sequences. */
static Status expect_sequence(const Reader *r, const yaml_node_t *n, const Field *f,
                              const char *example, int *len) {
    if (f->count_offset != FIELD_NO_COUNT && is_null(n)) { *len = 0; return ST_OK; }
    if (!n || n->type != YAML_SEQUENCE_NODE) {
        char got[64];
        describe(n, got, sizeof got);
        return fail_value(r, n, f->key, "expected a list like %s, got %s", example, got);
    }
    *len = seq_len(n);
    if (f->count_offset == FIELD_NO_COUNT && *len != f->capacity)
        return fail_value(r, n, f->key, "expected %d numbers like %s, got %d", f->capacity,
                          example, *len);
    if (*len > f->capacity)
        return fail_value(r, n, f->key, "at most %d items, got %d", f->capacity, *len);
    return ST_OK;
}

static void set_count(Config *c, const Field *f, int n) {
    if (f->count_offset != FIELD_NO_COUNT) *(int *)((char *)c + f->count_offset) = n;
}

static Status read_float_list(Reader *r, const yaml_node_t *n, const Field *f) {
    const char *example =
        f->count_offset == FIELD_NO_COUNT ? "[0.4914, 0.4822, 0.4465]" : "[60, 120, 160]";
    int len = 0;
    TRY(expect_sequence(r, n, f, example, &len));
    float v[SCHEDULE_MAX_KNOTS + SCHEDULE_MAX_MILESTONES + 3];
    if (len > (int)(sizeof v / sizeof v[0])) return fail_value(r, n, f->key, "too many items");
    for (int i = 0; i < len; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s[%d]", f->key, i);
        const yaml_node_t *it = item(r, n, i);
        TRY(read_float(r, it, key, &f->range, RULE_NONE, &v[i]));
        if (f->rule == RULE_INCREASING && i > 0 && !(v[i] > v[i - 1])) {
            char a[48], b[48];
            cfg_format_float(v[i], a, sizeof a);
            cfg_format_float(v[i - 1], b, sizeof b);
            return fail_value(r, it, f->key, "must be increasing, got %s after %s", a, b);
        }
    }
    memcpy((char *)r->c + f->offset, v, (size_t)len * sizeof(float));
    set_count(r->c, f, len);
    return ST_OK;
}

static Status read_knots(Reader *r, const yaml_node_t *n, const Field *f) {
    int len = 0;
    TRY(expect_sequence(r, n, f, "[[0, 0.1], [5, 0.01]]", &len));
    float e[SCHEDULE_MAX_KNOTS], lr[SCHEDULE_MAX_KNOTS];
    for (int i = 0; i < len; i++) {
        char key[160], got[64];
        snprintf(key, sizeof key, "%s[%d]", f->key, i);
        const yaml_node_t *it = item(r, n, i);
        if (!it || it->type != YAML_SEQUENCE_NODE || seq_len(it) != 2) {
            describe(it, got, sizeof got);
            if (it && it->type == YAML_SEQUENCE_NODE)
                snprintf(got, sizeof got, "a list of %d", seq_len(it));
            return fail_value(r, it, key, "expected a knot [epoch, lr], got %s", got);
        }
        const yaml_node_t *ne = item(r, it, 0), *nl = item(r, it, 1);
        TRY(parse_float(r, ne, key, &e[i]));
        TRY(parse_float(r, nl, key, &lr[i]));
        char msg[384];
        if (!cfg_check_number(&f->range, RULE_NONE, e[i], 0, msg, sizeof msg))
            return fail_value(r, ne, key, "epoch %s", msg);
        if (!cfg_check_number(&f->range, RULE_NONE, lr[i], 0, msg, sizeof msg))
            return fail_value(r, nl, key, "lr %s", msg);
        if (i > 0 && !(e[i] > e[i - 1])) {
            char a[48], b[48];
            cfg_format_float(e[i], a, sizeof a);
            cfg_format_float(e[i - 1], b, sizeof b);
            return fail_value(r, ne, f->key, "knot epochs must be increasing, got %s after %s", a,
                              b);
        }
    }
    memcpy((char *)r->c + f->offset, e, (size_t)len * sizeof(float));
    memcpy((char *)r->c + f->offset2, lr, (size_t)len * sizeof(float));
    set_count(r->c, f, len);
    return ST_OK;
}

static Status check_duplicates(const Reader *r, const yaml_node_t *map, const char *section) {
    const yaml_node_pair_t *start = map->data.mapping.pairs.start;
    const yaml_node_pair_t *top = map->data.mapping.pairs.top;
    for (const yaml_node_pair_t *p = start; p < top; p++) {
        const yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
        if (!k || k->type != YAML_SCALAR_NODE) continue;
        for (const yaml_node_pair_t *q = start; q < p; q++) {
            const yaml_node_t *k0 = yaml_document_get_node(r->doc, q->key);
            if (!k0 || k0->type != YAML_SCALAR_NODE) continue;
            if (strcmp((const char *)k->data.scalar.value, (const char *)k0->data.scalar.value))
                continue;
            char msg[768], where[256], in[300] = "";
            if (section[0]) snprintf(in, sizeof in, " in '%s'", section);
            snprintf(msg, sizeof msg, "duplicate key '%s'%s (first at line %zu)",
                     (const char *)k->data.scalar.value, in, k0->start_mark.line + 1);
            snprintf(where, sizeof where, "%s", section);
            return fail_at(r, k, where, msg);
        }
    }
    return ST_OK;
}

static Status key_text(const Reader *r, const yaml_node_t *k, const char *section,
                       const char **out) {
    if (!k || k->type != YAML_SCALAR_NODE || is_null(k)) {
        char got[64], msg[256];
        describe(k, got, sizeof got);
        snprintf(msg, sizeof msg, "expected a key name%s%s, got %s", section[0] ? " in " : "",
                 section, got);
        return fail_at(r, k, section, msg);
    }
    *out = (const char *)k->data.scalar.value;
    return ST_OK;
}

static Status read_stage(Reader *r, const yaml_node_t *n, const char *key, StageConfig *out) {
    if (!n || n->type != YAML_MAPPING_NODE) {
        char got[64];
        describe(n, got, sizeof got);
        return fail_value(r, n, key,
                          "expected a stage {blocks: N, width: C, stride: 1 or 2}, got %s", got);
    }
    TRY(check_duplicates(r, n, key));
    int seen[3] = {0, 0, 0};
    StageConfig s = {0, 0, 1};
    for (const yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
         p++) {
        const yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(r->doc, p->value);
        const char *name = NULL;
        TRY(key_text(r, k, key, &name));
        int which = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(name, CONFIG_STAGE_KEYS[i].name) == 0) which = i;
        if (which < 0) {
            const char *cands[3] = {"blocks", "width", "stride"};
            const char *near = cfg_suggest(name, cands, 3);
            char msg[512], where[256];
            snprintf(where, sizeof where, "%s.%s", key, name);
            if (near)
                snprintf(msg, sizeof msg, "unknown key '%s' in a stage (did you mean '%s'?)", name,
                         near);
            else
                snprintf(msg, sizeof msg,
                         "unknown key '%s' in a stage (valid keys: blocks, width, stride)", name);
            return fail_at(r, k, where, msg);
        }
        char sub[192];
        snprintf(sub, sizeof sub, "%s.%s", key, name);
        const StageKey *sk = &CONFIG_STAGE_KEYS[which];
        TRY(read_int(r, v, sub, &sk->range, RULE_NONE, (int *)((char *)&s + sk->offset)));
        seen[which] = 1;
    }
    for (int i = 0; i < 3; i++)
        if (CONFIG_STAGE_KEYS[i].required && !seen[i])
            return fail_value(r, n, key,
                              "missing '%s' (a stage is {blocks: N, width: C, stride: 1 or 2})",
                              CONFIG_STAGE_KEYS[i].name);
    *out = s;
    return ST_OK;
}

static Status read_stages(Reader *r, const yaml_node_t *n, const Field *f) {
    int len = 0;
    TRY(expect_sequence(r, n, f, "[{blocks: 2, width: 16, stride: 1}]", &len));
    StageConfig s[CONFIG_MAX_STAGES];
    for (int i = 0; i < len; i++) {
        char key[160];
        snprintf(key, sizeof key, "%s[%d]", f->key, i);
        TRY(read_stage(r, item(r, n, i), key, &s[i]));
    }
    memcpy((char *)r->c + f->offset, s, (size_t)len * sizeof(StageConfig));
    set_count(r->c, f, len);
    return ST_OK;
}

/* ---- fields and sections ---- */

static Status read_field(Reader *r, int idx, const yaml_node_t *n) {
    const Field *f = &CONFIG_FIELDS[idx];
    void *dst = (char *)r->c + f->offset;
    switch (f->type) {
    case CFT_INT: TRY(read_int(r, n, f->key, &f->range, f->rule, dst)); break;
    case CFT_U64: TRY(read_u64(r, n, f->key, dst)); break;
    case CFT_FLOAT: TRY(read_float(r, n, f->key, &f->range, f->rule, dst)); break;
    case CFT_BOOL: TRY(read_bool(r, n, f->key, dst)); break;
    case CFT_STRING: TRY(read_string(r, n, f, dst)); break;
    case CFT_ENUM: TRY(read_enum(r, n, f, dst)); break;
    case CFT_FLOAT_LIST: TRY(read_float_list(r, n, f)); break;
    case CFT_KNOTS: TRY(read_knots(r, n, f)); break;
    case CFT_STAGES: TRY(read_stages(r, n, f)); break;
    }
    mark_origin(r, idx, n);
    return ST_OK;
}

static Status read_section(Reader *r, const yaml_node_t *map, const char *section) {
    /* "train:" with everything under it commented out is an empty section. */
    if (is_null(map)) return ST_OK;
    if (map->type != YAML_MAPPING_NODE) {
        char got[64], msg[256];
        describe(map, got, sizeof got);
        if (section[0])
            return fail_value(r, map, section, "expected a mapping of keys, got %s", got);
        snprintf(msg, sizeof msg,
                 "expected a mapping of sections (name, model, data, train) at the top level, "
                 "got %s", got);
        return fail_at(r, map, section, msg);
    }
    TRY(check_duplicates(r, map, section));
    for (const yaml_node_pair_t *p = map->data.mapping.pairs.start;
         p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *k = yaml_document_get_node(r->doc, p->key);
        const yaml_node_t *v = yaml_document_get_node(r->doc, p->value);
        const char *name = NULL;
        TRY(key_text(r, k, section, &name));
        char full[256];
        if (snprintf(full, sizeof full, "%s%s%s", section, section[0] ? "." : "", name) >=
            (int)sizeof full)
            return fail_unknown(r, k, section, name);
        int idx = cfg_find(full);
        if (idx >= 0) TRY(read_field(r, idx, v));
        else if (cfg_is_section(full)) TRY(read_section(r, v, full));
        else return fail_unknown(r, k, section, name);
    }
    return ST_OK;
}

/* ---- libyaml plumbing ---- */

static Status yaml_failure(const yaml_parser_t *p, const char *origin, const char *set_key,
                           const char *text, size_t text_len) {
    if (p->error == YAML_MEMORY_ERROR)
        return status_fail(ST_ERR_OOM, "%s: out of memory reading YAML", origin ? origin : "--set");
    const char *problem = p->problem ? p->problem : "unreadable YAML";
    char context[160] = "";
    if (p->context)
        snprintf(context, sizeof context, " (%s at line %zu)", p->context,
                 p->context_mark.line + 1);
    const char *hint = "";
    if (p->problem_mark.index < text_len && text[p->problem_mark.index] == '\t')
        hint = "; indent with spaces, YAML does not allow tabs";
    if (origin)
        return status_fail(ST_ERR_CONFIG, "%s:%zu:%zu: invalid YAML: %s%s%s", origin,
                           p->problem_mark.line + 1, p->problem_mark.column + 1, problem, context,
                           hint);
    return status_fail(ST_ERR_CONFIG, "--set %s: cannot read '%s' as a YAML value: %s%s", set_key,
                       text, problem, hint);
}

/* Parse `text` into *doc (caller deletes it when this returns ST_OK). A second document is an
 * error for files. */
static Status parse_document(const char *text, const char *origin, const char *set_key,
                             yaml_document_t *doc) {
    size_t len = strlen(text);
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return status_fail(ST_ERR_OOM, "%s: out of memory starting the YAML parser",
                           origin ? origin : "--set");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, doc)) {
        Status st = yaml_failure(&parser, origin, set_key, text, len);
        yaml_parser_delete(&parser);
        return st;
    }
    if (yaml_document_get_root_node(doc)) {
        yaml_document_t next;
        if (!yaml_parser_load(&parser, &next)) {
            Status st = yaml_failure(&parser, origin, set_key, text, len);
            yaml_document_delete(doc);
            yaml_parser_delete(&parser);
            return st;
        }
        yaml_node_t *root2 = yaml_document_get_root_node(&next);
        if (root2) {
            size_t line = next.start_mark.line + 1, col = next.start_mark.column + 1;
            yaml_document_delete(&next);
            yaml_document_delete(doc);
            yaml_parser_delete(&parser);
            if (origin)
                return status_fail(ST_ERR_CONFIG,
                                   "%s:%zu:%zu: a config is one YAML document; found a second one",
                                   origin, line, col);
            return status_fail(ST_ERR_CONFIG, "--set %s: the value must be one YAML value",
                               set_key);
        }
        yaml_document_delete(&next);
    }
    yaml_parser_delete(&parser);
    return ST_OK;
}

/* ---- entry points ---- */

static Status load_string(const char *yaml, const char *origin, Config *c, int validate) {
    if (!yaml || !c) return status_fail(ST_ERR_ARG, "config_load_string: no text or config");
    if (!origin || !*origin) origin = "<string>";
    Config tmp;
    config_defaults(&tmp);
    snprintf(tmp.source, sizeof tmp.source, "%s", origin);
    yaml_document_t doc;
    TRY(parse_document(yaml, origin, NULL, &doc));
    Reader r = {&tmp, &doc, origin};
    Status st = ST_OK;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root) st = read_section(&r, root, "");
    yaml_document_delete(&doc);
    if (st != ST_OK) return st;
    if (validate) TRY(config_validate(&tmp));
    *c = tmp;
    return ST_OK;
}

Status config_load_string(const char *yaml, const char *origin, Config *c) {
    return load_string(yaml, origin, c, 1);
}

static Status load_file(const char *path, Config *c, int validate) {
    if (!path || !c) return status_fail(ST_ERR_ARG, "config_load: no path or config");
    char *buf;
    size_t len;
    TRY(fileio_read_all(path, &buf, &len));
    if (len > CONFIG_MAX_FILE_BYTES) {
        free(buf);
        return status_fail(ST_ERR_CONFIG, "%s: larger than %u MiB, not a config file", path,
                           CONFIG_MAX_FILE_BYTES >> 20);
    }
    if (strlen(buf) != len) {
        free(buf);
        return status_fail(ST_ERR_CONFIG, "%s: contains a NUL byte; is it a text file?", path);
    }
    Status st = load_string(buf, path, c, validate);
    free(buf);
    return st;
}

Status config_load(const char *path, Config *c) { return load_file(path, c, 1); }

Status config_read(const char *path, Config *c) { return load_file(path, c, 0); }

/* Parse `value` as YAML and apply it to field `idx` or section `key` of *c. A string field
 * takes the raw text when it is not a single YAML scalar ("name=my run: 2" stays text). */
static Status apply_value(Config *c, const char *key, int idx, const char *value) {
    yaml_document_t doc;
    Status st = parse_document(value, NULL, key, &doc);
    int is_string = idx >= 0 && CONFIG_FIELDS[idx].type == CFT_STRING;
    if (st != ST_OK && !is_string) return st;
    Reader r = {c, st == ST_OK ? &doc : NULL, NULL};
    yaml_node_t *root = st == ST_OK ? yaml_document_get_root_node(&doc) : NULL;
    if (is_string && (st != ST_OK || (root && root->type != YAML_SCALAR_NODE))) {
        if (st == ST_OK) yaml_document_delete(&doc);
        /* A synthetic scalar node carrying the raw text. */
        yaml_node_t raw;
        memset(&raw, 0, sizeof raw);
        raw.type = YAML_SCALAR_NODE;
        raw.data.scalar.value = (yaml_char_t *)value;
        raw.data.scalar.length = strlen(value);
        raw.data.scalar.style = YAML_SINGLE_QUOTED_SCALAR_STYLE;
        r.doc = NULL;
        return read_field(&r, idx, &raw);
    }
    if (idx >= 0) st = read_field(&r, idx, root);
    else st = read_section(&r, root, key);
    yaml_document_delete(&doc);
    return st;
}

static void trim(char **s) {
    while (**s == ' ' || **s == '\t') (*s)++;
    size_t n = strlen(*s);
    while (n && ((*s)[n - 1] == ' ' || (*s)[n - 1] == '\t' || (*s)[n - 1] == '\n' ||
                 (*s)[n - 1] == '\r'))
        (*s)[--n] = '\0';
}

/* The message for a --set key that is neither a field nor a section. */
static Status unknown_set_key(const char *key) {
    char section[256] = "", msg[1024];
    const char *name = key;
    /* The longest proper prefix that is a section: the key's name is the next component. */
    for (const char *dot = strchr(key, '.'); dot; dot = strchr(dot + 1, '.')) {
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(dot - key), key);
        if (cfg_find(prefix) >= 0)
            return status_fail(ST_ERR_CONFIG, "--set %s: '%s' is a value, not a section", key,
                               prefix);
        if (!cfg_is_section(prefix)) break;
        snprintf(section, sizeof section, "%s", prefix);
        name = dot + 1;
    }
    char first[128];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(name, "."), name);
    cfg_unknown_key_message(section, first, msg, sizeof msg);
    return status_fail(ST_ERR_CONFIG, "--set %s: %s", key, msg);
}

Status config_set(Config *c, const char *assignment) {
    if (!c || !assignment) return status_fail(ST_ERR_ARG, "config_set: no config or assignment");
    size_t n = strlen(assignment);
    char *copy = malloc(n + 1);
    if (!copy) return status_fail(ST_ERR_OOM, "--set %s: out of memory", assignment);
    memcpy(copy, assignment, n + 1);
    char *eq = strchr(copy, '=');
    char *key = copy, *value = eq ? eq + 1 : copy + n;
    if (eq) *eq = '\0';
    trim(&key);
    trim(&value);
    Status st;
    if (!eq || !*key) {
        st = status_fail(ST_ERR_CONFIG, "--set %s: expected key=value, e.g. train.lr=0.05",
                         *key ? key : assignment);
    } else {
        int idx = cfg_find(key);
        if (idx < 0 && !cfg_is_section(key)) {
            st = unknown_set_key(key);
        } else {
            Config tmp = *c;
            st = apply_value(&tmp, key, idx, value);
            if (st == ST_OK) *c = tmp;
        }
    }
    free(copy);
    return st;
}

Status cfg_set_from_text(Config *c, int field, const char *text) {
    if (field < 0 || field >= CONFIG_NUM_FIELDS)
        return status_fail(ST_ERR_ARG, "config: no field %d", field);
    return apply_value(c, CONFIG_FIELDS[field].key, field, text);
}
