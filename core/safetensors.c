/* safetensors.c — the safetensors container: header JSON writer, strict header parser and
 * validator, whole-file reader, streaming atomic writer.
 *
 * The parser accepts exactly the JSON grammar (RFC 8259) restricted to what a safetensors header
 * can hold: a top-level object whose values are either the "__metadata__" object of strings or a
 * tensor object {dtype: string, shape: [uint...], data_offsets: [uint, uint]}. Anything else is
 * an ST_ERR_FORMAT naming the file and the byte offset. After parsing, the tensors are sorted by
 * offset and must tile [0, data length) exactly, as the reference implementation requires. */
#include "safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors stores little-endian data; this code assumes a little-endian host"
#endif

static const char *const g_dtype_names[SFT_DTYPE_COUNT] = {
    "BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
    "I32", "U32", "F32", "F64", "I64", "U64",
};
static const unsigned char g_dtype_sizes[SFT_DTYPE_COUNT] = {
    1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 8, 8, 8,
};

const char *safetensors_dtype_name(SafetensorsDType dt) {
    return (unsigned)dt < SFT_DTYPE_COUNT ? g_dtype_names[dt] : "?";
}

size_t safetensors_dtype_size(SafetensorsDType dt) {
    return (unsigned)dt < SFT_DTYPE_COUNT ? g_dtype_sizes[dt] : 0;
}

char *safetensors_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap) {
    if (!buf || cap == 0) return buf;
    size_t n = 0;
    buf[0] = '\0';
    n += (size_t)snprintf(buf + n, cap - n, "[");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
    return buf;
}

/* "8.0 MB (8388608 bytes)" for messages about sizes. */
static const char *human_bytes(uint64_t n, char *buf, size_t cap) {
    if (n < 1024) snprintf(buf, cap, "%llu bytes", (unsigned long long)n);
    else if (n < 1024ULL * 1024) snprintf(buf, cap, "%.1f KB (%llu bytes)", n / 1024.0,
                                          (unsigned long long)n);
    else if (n < 1024ULL * 1024 * 1024) snprintf(buf, cap, "%.1f MB (%llu bytes)",
                                                 n / (1024.0 * 1024.0), (unsigned long long)n);
    else snprintf(buf, cap, "%.2f GB (%llu bytes)", n / (1024.0 * 1024.0 * 1024.0),
                  (unsigned long long)n);
    return buf;
}

/* Length of the valid UTF-8 sequence starting at s (at most `avail` bytes), 0 if invalid.
 * Rejects overlong forms, surrogates and code points above U+10FFFF, like Rust's from_utf8. */
static size_t utf8_seq(const unsigned char *s, size_t avail) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (avail < len) return 0;
    if (s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

static int utf8_valid(const char *str) {
    const unsigned char *s = (const unsigned char *)str;
    size_t n = strlen(str);
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------------------------------ */
/* metadata dictionary                                                                         */

void safetensors_meta_init(SafetensorsMeta *m) {
    if (m) memset(m, 0, sizeof *m);
}

void safetensors_meta_free(SafetensorsMeta *m) {
    if (!m) return;
    for (int i = 0; i < m->count; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

const char *safetensors_meta_get(const SafetensorsMeta *m, const char *key) {
    if (!m || !key) return NULL;
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->keys[i], key) == 0) return m->values[i];
    return NULL;
}

/* Takes ownership of key and value (malloc'd) on success and on failure. */
static Status meta_put_owned(SafetensorsMeta *m, char *key, char *value) {
    for (int i = 0; i < m->count; i++) {
        if (strcmp(m->keys[i], key) == 0) {
            free(m->values[i]);
            m->values[i] = value;
            free(key);
            return ST_OK;
        }
    }
    if (m->count == m->cap) {
        int ncap = m->cap ? m->cap * 2 : 8;
        char **nk = realloc(m->keys, (size_t)ncap * sizeof *nk);
        if (nk) m->keys = nk;
        char **nv = nk ? realloc(m->values, (size_t)ncap * sizeof *nv) : NULL;
        if (!nk || !nv) {
            free(key);
            free(value);
            return status_fail(ST_ERR_OOM, "safetensors metadata: out of memory");
        }
        m->values = nv;
        m->cap = ncap;
    }
    m->keys[m->count] = key;
    m->values[m->count] = value;
    m->count++;
    return ST_OK;
}

Status safetensors_meta_set(SafetensorsMeta *m, const char *key, const char *value) {
    if (!m || !key || !value)
        return status_fail(ST_ERR_ARG, "safetensors_meta_set: NULL argument");
    if (!utf8_valid(key))
        return status_fail(ST_ERR_ARG, "safetensors metadata: key is not valid UTF-8");
    if (!utf8_valid(value))
        return status_fail(ST_ERR_ARG, "safetensors metadata: value of '%s' is not valid UTF-8",
                           key);
    char *k = dup_string(key), *v = dup_string(value);
    if (!k || !v) {
        free(k);
        free(v);
        return status_fail(ST_ERR_OOM, "safetensors metadata: out of memory");
    }
    return meta_put_owned(m, k, v);
}

Status safetensors_meta_setf(SafetensorsMeta *m, const char *key, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) return status_fail(ST_ERR_ARG, "safetensors metadata: bad format for '%s'", key);
    if ((size_t)n < sizeof small) return safetensors_meta_set(m, key, small);
    char *big = malloc((size_t)n + 1);
    if (!big) return status_fail(ST_ERR_OOM, "safetensors metadata: out of memory");
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    Status st = safetensors_meta_set(m, key, big);
    free(big);
    return st;
}

Status safetensors_meta_copy(SafetensorsMeta *dst, const SafetensorsMeta *src) {
    if (!dst) return status_fail(ST_ERR_ARG, "safetensors_meta_copy: NULL destination");
    SafetensorsMeta tmp;
    safetensors_meta_init(&tmp);
    for (int i = 0; src && i < src->count; i++) {
        Status st = safetensors_meta_set(&tmp, src->keys[i], src->values[i]);
        if (st != ST_OK) {
            safetensors_meta_free(&tmp);
            return st;
        }
    }
    safetensors_meta_free(dst);
    *dst = tmp;
    return ST_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* header writer                                                                               */

typedef struct Buf {
    char *p;
    size_t len, cap;
    int oom;
} Buf;

static void buf_put(Buf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (b->len + n + 1 > ncap) ncap *= 2;
        char *np = realloc(b->p, ncap);
        if (!np) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void buf_puts(Buf *b, const char *s) { buf_put(b, s, strlen(s)); }

/* A JSON string the way serde_json writes it: short escapes for " \ \b \f \n \r \t, \u00XX
 * (lower-case hex) for other control characters, everything else (UTF-8 included) verbatim. */
static void buf_json_string(Buf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    buf_put(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[8];
        switch (*p) {
        case '"': buf_put(b, "\\\"", 2); break;
        case '\\': buf_put(b, "\\\\", 2); break;
        case '\b': buf_put(b, "\\b", 2); break;
        case '\f': buf_put(b, "\\f", 2); break;
        case '\n': buf_put(b, "\\n", 2); break;
        case '\r': buf_put(b, "\\r", 2); break;
        case '\t': buf_put(b, "\\t", 2); break;
        default:
            if (*p < 0x20) {
                esc[0] = '\\'; esc[1] = 'u'; esc[2] = '0'; esc[3] = '0';
                esc[4] = hex[*p >> 4]; esc[5] = hex[*p & 15];
                buf_put(b, esc, 6);
            } else {
                buf_put(b, (const char *)p, 1);
            }
        }
    }
    buf_put(b, "\"", 1);
}

/* Product of the shape times the dtype size; 0 with *overflow set when it does not fit. */
static uint64_t shape_bytes(SafetensorsDType dt, int ndim, const int64_t *shape, int *overflow) {
    uint64_t n = safetensors_dtype_size(dt);
    *overflow = 0;
    for (int i = 0; i < ndim; i++) {
        uint64_t d = (uint64_t)shape[i];
        if (d != 0 && n > UINT64_MAX / d) {
            *overflow = 1;
            return 0;
        }
        n *= d;
    }
    return n;
}

size_t safetensors_entry_bytes(const SafetensorsEntry *e) {
    int overflow;
    if (!e || e->ndim < 0 || e->ndim > SAFETENSORS_MAX_DIMS) return 0;
    uint64_t n = shape_bytes(e->dtype, e->ndim, e->shape, &overflow);
    return overflow || n > SIZE_MAX ? 0 : (size_t)n;
}

/* The reference writer's packing order: dtype descending (so every tensor starts aligned to
 * its element size, since larger elements come first and all sizes are powers of two), then
 * name ascending by bytes. */
static int cmp_pack_order(const void *a, const void *b) {
    const SafetensorsEntry *x = *(const SafetensorsEntry *const *)a;
    const SafetensorsEntry *y = *(const SafetensorsEntry *const *)b;
    if (x->dtype != y->dtype) return x->dtype > y->dtype ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Check the entries and build the padded header. order[k] gets the entry index of the k-th
 * tensor in the file, ends[k] its end offset; *total the data buffer's size. */
static Status build_header(const char *path, const SafetensorsEntry *entries, int count,
                           const SafetensorsMeta *meta, Buf *out, int *order, uint64_t *ends,
                           uint64_t *total) {
    memset(out, 0, sizeof *out);
    for (int i = 0; i < count; i++) {
        const SafetensorsEntry *e = &entries[i];
        if (!e->name || !*e->name)
            return status_fail(ST_ERR_ARG, "%s: tensor %d has no name", path, i);
        if (!utf8_valid(e->name))
            return status_fail(ST_ERR_ARG, "%s: tensor %d's name is not valid UTF-8", path, i);
        if (strcmp(e->name, "__metadata__") == 0)
            return status_fail(ST_ERR_ARG, "%s: '__metadata__' is reserved, not a tensor name",
                               path);
        if ((unsigned)e->dtype >= SFT_DTYPE_COUNT)
            return status_fail(ST_ERR_ARG, "%s: tensor '%s' has an invalid dtype %d", path,
                               e->name, (int)e->dtype);
        if (e->ndim < 0 || e->ndim > SAFETENSORS_MAX_DIMS)
            return status_fail(ST_ERR_ARG, "%s: tensor '%s' has %d dimensions (at most %d)",
                               path, e->name, e->ndim, SAFETENSORS_MAX_DIMS);
        for (int d = 0; d < e->ndim; d++)
            if (e->shape[d] < 0)
                return status_fail(ST_ERR_ARG, "%s: tensor '%s' has a negative dimension", path,
                                   e->name);
        for (int j = 0; j < i; j++)
            if (strcmp(entries[j].name, e->name) == 0)
                return status_fail(ST_ERR_ARG, "%s: tensor name '%s' appears twice", path,
                                   e->name);
    }
    for (int i = 0; meta && i < meta->count; i++)
        if (!utf8_valid(meta->keys[i]) || !utf8_valid(meta->values[i]))
            return status_fail(ST_ERR_ARG, "%s: metadata '%s' is not valid UTF-8", path,
                               meta->keys[i]);

    const SafetensorsEntry **sorted = malloc((size_t)(count > 0 ? count : 1) * sizeof *sorted);
    if (!sorted) return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    for (int i = 0; i < count; i++) sorted[i] = &entries[i];
    if (count > 1) qsort(sorted, (size_t)count, sizeof *sorted, cmp_pack_order);

    Buf *b = out;
    buf_put(b, "{", 1);
    int first = 1;
    if (meta && meta->count > 0) {
        buf_puts(b, "\"__metadata__\":{");
        for (int i = 0; i < meta->count; i++) {
            if (i) buf_put(b, ",", 1);
            buf_json_string(b, meta->keys[i]);
            buf_put(b, ":", 1);
            buf_json_string(b, meta->values[i]);
        }
        buf_put(b, "}", 1);
        first = 0;
    }
    uint64_t offset = 0;
    for (int k = 0; k < count; k++) {
        const SafetensorsEntry *e = sorted[k];
        int overflow;
        uint64_t nb = shape_bytes(e->dtype, e->ndim, e->shape, &overflow);
        if (overflow || offset + nb < offset) {
            free(b->p);
            free(sorted);
            memset(b, 0, sizeof *b);
            return status_fail(ST_ERR_ARG, "%s: tensor '%s' is too large", path, e->name);
        }
        char num[64];
        if (!first) buf_put(b, ",", 1);
        first = 0;
        buf_json_string(b, e->name);
        buf_puts(b, ":{\"dtype\":\"");
        buf_puts(b, g_dtype_names[e->dtype]);
        buf_puts(b, "\",\"shape\":[");
        for (int d = 0; d < e->ndim; d++) {
            snprintf(num, sizeof num, "%s%lld", d ? "," : "", (long long)e->shape[d]);
            buf_puts(b, num);
        }
        snprintf(num, sizeof num, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset,
                 (unsigned long long)(offset + nb));
        buf_puts(b, num);
        offset += nb;
        order[k] = (int)(e - entries);
        ends[k] = offset;
    }
    free(sorted);
    buf_put(b, "}", 1);
    while (!b->oom && b->len % 8 != 0) buf_put(b, " ", 1);
    if (b->oom) {
        free(b->p);
        memset(b, 0, sizeof *b);
        return status_fail(ST_ERR_OOM, "%s: out of memory building the header", path);
    }
    *total = offset;
    return ST_OK;
}

struct SafetensorsWriter {
    AtomicFile *file;
    int count;
    int *order;          /* entry index of the k-th tensor in the file */
    uint64_t *ends;      /* end offset of the k-th tensor in the data buffer */
    int cursor;          /* first k whose bytes are not all written yet */
    uint64_t expected;   /* bytes of tensor data the header promises */
    uint64_t written;
    char *path;
};

static void writer_release(SafetensorsWriter *w) {
    free(w->order);
    free(w->ends);
    free(w->path);
    free(w);
}

void safetensors_writer_abort(SafetensorsWriter *w) {
    if (!w) return;
    fileio_atomic_abort(w->file);
    writer_release(w);
}

Status safetensors_writer_open(const char *path, const SafetensorsEntry *entries, int count,
                               const SafetensorsMeta *meta, SafetensorsWriter **out) {
    if (!out) return status_fail(ST_ERR_ARG, "safetensors_writer_open: NULL output pointer");
    *out = NULL;
    if (!path || !*path) return status_fail(ST_ERR_ARG, "safetensors_writer_open: empty path");
    if (count < 0 || (count > 0 && !entries))
        return status_fail(ST_ERR_ARG, "%s: bad tensor list (%d entries)", path, count);
    SafetensorsWriter *w = calloc(1, sizeof *w);
    size_t slots = count > 0 ? (size_t)count : 1;
    if (!w || !(w->path = dup_string(path)) || !(w->order = malloc(slots * sizeof *w->order)) ||
        !(w->ends = malloc(slots * sizeof *w->ends))) {
        if (w) writer_release(w);
        return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    }
    w->count = count;
    Buf hdr;
    Status st = build_header(path, entries, count, meta, &hdr, w->order, w->ends, &w->expected);
    if (st != ST_OK) {
        writer_release(w);
        return st;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hdr.len >> (8 * i));
    st = fileio_atomic_open(path, &w->file);
    if (st == ST_OK) st = fileio_atomic_write(w->file, len8, 8);
    if (st == ST_OK) st = fileio_atomic_write(w->file, hdr.p, hdr.len);
    free(hdr.p);
    if (st != ST_OK) {
        safetensors_writer_abort(w);
        return st;
    }
    *out = w;
    return ST_OK;
}

int safetensors_writer_next(SafetensorsWriter *w) {
    if (!w) return -1;
    while (w->cursor < w->count && w->ends[w->cursor] <= w->written) w->cursor++;
    return w->cursor < w->count ? w->order[w->cursor] : -1;
}

Status safetensors_writer_data(SafetensorsWriter *w, const void *data, size_t len) {
    if (!w) return status_fail(ST_ERR_ARG, "safetensors_writer_data: NULL writer");
    if (len > w->expected - w->written)
        return status_fail(ST_ERR_ARG, "%s: %llu more bytes of tensor data than the header "
                           "declares (%llu)", w->path,
                           (unsigned long long)(w->written + len - w->expected),
                           (unsigned long long)w->expected);
    TRY(fileio_atomic_write(w->file, data, len));
    w->written += len;
    return ST_OK;
}

Status safetensors_writer_commit(SafetensorsWriter *w) {
    if (!w) return status_fail(ST_ERR_ARG, "safetensors_writer_commit: NULL writer");
    if (w->written != w->expected) {
        Status st = status_fail(ST_ERR_ARG, "%s: only %llu of %llu bytes of tensor data were "
                                "written; the file was not saved", w->path,
                                (unsigned long long)w->written,
                                (unsigned long long)w->expected);
        safetensors_writer_abort(w);
        return st;
    }
    Status st = fileio_atomic_commit(w->file);
    writer_release(w);
    return st;
}

Status safetensors_write(const char *path, const SafetensorsEntry *entries, int count,
                         const SafetensorsMeta *meta) {
    for (int i = 0; i < count && entries; i++)
        if (!entries[i].data && safetensors_entry_bytes(&entries[i]) > 0)
            return status_fail(ST_ERR_ARG, "%s: tensor '%s' has no data", path ? path : "?",
                               entries[i].name ? entries[i].name : "?");
    SafetensorsWriter *w = NULL;
    TRY(safetensors_writer_open(path, entries, count, meta, &w));
    for (int k; (k = safetensors_writer_next(w)) >= 0;) {
        Status st = safetensors_writer_data(w, entries[k].data,
                                            safetensors_entry_bytes(&entries[k]));
        if (st != ST_OK) {
            safetensors_writer_abort(w);
            return st;
        }
    }
    return safetensors_writer_commit(w);
}

/* ------------------------------------------------------------------------------------------ */
/* reader                                                                                      */

struct Safetensors {
    char *path;
    unsigned char *buf;     /* the whole file */
    size_t len;
    SafetensorsTensor *tensors;   /* sorted by offset */
    int count, cap;
    const SafetensorsTensor **by_name;   /* sorted by name, for lookups */
    SafetensorsMeta meta;
};

typedef struct Parser {
    const unsigned char *s;   /* the header */
    size_t n, i;
    const char *origin;
} Parser;

/* Every parse error carries the file and the byte offset within the file (8 + header index). */
static Status perr(const Parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static Status perr(const Parser *p, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return status_fail(ST_ERR_FORMAT, "%s: bad safetensors header at byte %zu: %s", p->origin,
                       p->i + 8, what);
}

static void skip_ws(Parser *p) {
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static Status expect(Parser *p, char c, const char *context) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, "header ends where '%c' was expected %s", c, context);
    if (p->s[p->i] != (unsigned char)c) {
        unsigned char got = p->s[p->i];
        if (got >= 0x20 && got < 0x7f)
            return perr(p, "expected '%c' %s, found '%c'", c, context, got);
        return perr(p, "expected '%c' %s, found byte 0x%02x", c, context, got);
    }
    p->i++;
    return ST_OK;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static Status parse_hex4(Parser *p, unsigned *out) {
    if (p->n - p->i < 4) return perr(p, "\\u escape needs four hex digits");
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p->s[p->i + (size_t)k]);
        if (h < 0) return perr(p, "\\u escape needs four hex digits");
        v = v * 16 + (unsigned)h;
    }
    p->i += 4;
    *out = v;
    return ST_OK;
}

/* A JSON string, decoded to a malloc'd NUL-terminated UTF-8 string. */
static Status parse_string(Parser *p, char **out, const char *context) {
    *out = NULL;
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '"')
        return perr(p, "expected a string %s", context);
    p->i++;
    Buf b = {0};
    buf_put(&b, "", 0);
    for (;;) {
        if (p->i >= p->n) {
            free(b.p);
            return perr(p, "string %s is not terminated", context);
        }
        unsigned char c = p->s[p->i];
        if (c == '"') {
            p->i++;
            break;
        }
        if (c < 0x20) {
            free(b.p);
            return perr(p, "raw control character 0x%02x in a string %s (must be escaped)", c,
                        context);
        }
        if (c >= 0x80) {
            size_t k = utf8_seq(p->s + p->i, p->n - p->i);
            if (!k) {
                free(b.p);
                return perr(p, "invalid UTF-8 in a string %s", context);
            }
            buf_put(&b, (const char *)p->s + p->i, k);
            p->i += k;
            continue;
        }
        if (c != '\\') {
            buf_put(&b, (const char *)&c, 1);
            p->i++;
            continue;
        }
        p->i++;
        if (p->i >= p->n) {
            free(b.p);
            return perr(p, "string %s ends inside an escape", context);
        }
        char e = (char)p->s[p->i++];
        const char *rep = NULL;
        switch (e) {
        case '"': rep = "\""; break;
        case '\\': rep = "\\"; break;
        case '/': rep = "/"; break;
        case 'b': rep = "\b"; break;
        case 'f': rep = "\f"; break;
        case 'n': rep = "\n"; break;
        case 'r': rep = "\r"; break;
        case 't': rep = "\t"; break;
        case 'u': break;
        default:
            free(b.p);
            p->i--;
            return perr(p, "invalid escape '\\%c' in a string %s", e >= 0x20 && e < 0x7f ? e : '?',
                        context);
        }
        if (rep) {
            buf_put(&b, rep, 1);
            continue;
        }
        unsigned cp;
        Status st = parse_hex4(p, &cp);
        if (st == ST_OK && cp >= 0xD800 && cp <= 0xDBFF) {
            unsigned lo = 0;
            if (p->n - p->i < 2 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                st = perr(p, "lone UTF-16 surrogate \\u%04x in a string %s", cp, context);
            } else {
                p->i += 2;
                st = parse_hex4(p, &lo);
                if (st == ST_OK && (lo < 0xDC00 || lo > 0xDFFF))
                    st = perr(p, "lone UTF-16 surrogate \\u%04x in a string %s", cp, context);
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
        } else if (st == ST_OK && cp >= 0xDC00 && cp <= 0xDFFF) {
            st = perr(p, "lone UTF-16 surrogate \\u%04x in a string %s", cp, context);
        } else if (st == ST_OK && cp == 0) {
            st = perr(p, "NUL character (\\u0000) in a string %s is not supported", context);
        }
        if (st != ST_OK) {
            free(b.p);
            return st;
        }
        char u[4];
        size_t ul;
        if (cp < 0x80) { u[0] = (char)cp; ul = 1; }
        else if (cp < 0x800) {
            u[0] = (char)(0xC0 | (cp >> 6)); u[1] = (char)(0x80 | (cp & 0x3F)); ul = 2;
        } else if (cp < 0x10000) {
            u[0] = (char)(0xE0 | (cp >> 12)); u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
            u[2] = (char)(0x80 | (cp & 0x3F)); ul = 3;
        } else {
            u[0] = (char)(0xF0 | (cp >> 18)); u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
            u[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); u[3] = (char)(0x80 | (cp & 0x3F)); ul = 4;
        }
        buf_put(&b, u, ul);
    }
    if (b.oom) {
        free(b.p);
        return status_fail(ST_ERR_OOM, "%s: out of memory reading the header", p->origin);
    }
    *out = b.p;
    return ST_OK;
}

/* A non-negative JSON integer (no sign, fraction or exponent: shapes and offsets are counts). */
static Status parse_uint(Parser *p, uint64_t *out, const char *context) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, "header ends where a number was expected %s", context);
    unsigned char c = p->s[p->i];
    if (c == '-') return perr(p, "negative number %s", context);
    if (c < '0' || c > '9') return perr(p, "expected a whole number %s", context);
    size_t start = p->i;
    uint64_t v = 0;
    while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9') {
        unsigned d = p->s[p->i] - '0';
        if (v > (UINT64_MAX - d) / 10) return perr(p, "number too large %s", context);
        v = v * 10 + d;
        p->i++;
    }
    if (p->i - start > 1 && p->s[start] == '0') {
        p->i = start;
        return perr(p, "number with a leading zero %s", context);
    }
    if (p->i < p->n && (p->s[p->i] == '.' || p->s[p->i] == 'e' || p->s[p->i] == 'E'))
        return perr(p, "expected a whole number %s, found a fraction or exponent", context);
    *out = v;
    return ST_OK;
}

/* [uint, ...] into vals (at most maxn); *count gets the length. */
static Status parse_uint_array(Parser *p, uint64_t *vals, int maxn, int *count,
                               const char *context) {
    *count = 0;
    TRY(expect(p, '[', context));
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return ST_OK;
    }
    for (;;) {
        if (*count == maxn) return perr(p, "more than %d numbers %s", maxn, context);
        TRY(parse_uint(p, &vals[*count], context));
        (*count)++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        return expect(p, ']', context);
    }
}

/* Continue after '{' or ',': returns 1 in *more when another member follows. */
static Status object_next(Parser *p, int *more, int first, const char *context) {
    skip_ws(p);
    if (p->i >= p->n) return perr(p, "header ends inside an object %s", context);
    unsigned char c = p->s[p->i];
    if (c == '}') {
        p->i++;
        *more = 0;
        return ST_OK;
    }
    if (!first) {
        if (c != ',') return perr(p, "expected ',' or '}' %s", context);
        p->i++;
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == '}') return perr(p, "trailing comma %s", context);
    }
    *more = 1;
    return ST_OK;
}

static Status parse_metadata(Parser *p, SafetensorsMeta *meta) {
    const char *ctx = "in \"__metadata__\"";
    TRY(expect(p, '{', ctx));
    for (int first = 1;; first = 0) {
        int more;
        TRY(object_next(p, &more, first, ctx));
        if (!more) return ST_OK;
        char *key = NULL, *value = NULL;
        TRY(parse_string(p, &key, ctx));
        if (safetensors_meta_get(meta, key)) {
            Status st = perr(p, "metadata key '%s' appears twice", key);
            free(key);
            return st;
        }
        Status st = expect(p, ':', ctx);
        if (st == ST_OK) {
            skip_ws(p);
            if (p->i < p->n && p->s[p->i] != '"')
                st = perr(p, "metadata value of '%s' must be a string", key);
        }
        if (st == ST_OK) st = parse_string(p, &value, ctx);
        if (st != ST_OK) {
            free(key);
            return st;
        }
        TRY(meta_put_owned(meta, key, value));
    }
}

static Status parse_dtype(Parser *p, SafetensorsDType *dt, const char *name) {
    char *s = NULL;
    char ctx[160];
    snprintf(ctx, sizeof ctx, "for the dtype of '%.100s'", name);
    TRY(parse_string(p, &s, ctx));
    for (int k = 0; k < SFT_DTYPE_COUNT; k++) {
        if (strcmp(s, g_dtype_names[k]) == 0) {
            *dt = (SafetensorsDType)k;
            free(s);
            return ST_OK;
        }
    }
    Status st = perr(p, "tensor '%.100s' has unknown dtype \"%.40s\"", name, s);
    free(s);
    return st;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, each exactly once. */
static Status parse_tensor(Parser *p, SafetensorsTensor *t) {
    char ctx[160];
    snprintf(ctx, sizeof ctx, "in tensor '%.100s'", t->name);
    TRY(expect(p, '{', ctx));
    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    for (int first = 1;; first = 0) {
        int more;
        TRY(object_next(p, &more, first, ctx));
        if (!more) break;
        char *key = NULL;
        size_t key_at = p->i;
        TRY(parse_string(p, &key, ctx));
        Status st = expect(p, ':', ctx);
        int dup = 0;
        if (st == ST_OK && strcmp(key, "dtype") == 0) {
            dup = have_dtype++;
            if (!dup) st = parse_dtype(p, &t->dtype, t->name);
        } else if (st == ST_OK && strcmp(key, "shape") == 0) {
            dup = have_shape++;
            uint64_t dims[SAFETENSORS_MAX_DIMS];
            if (!dup) st = parse_uint_array(p, dims, SAFETENSORS_MAX_DIMS, &t->ndim, ctx);
            for (int d = 0; st == ST_OK && !dup && d < t->ndim; d++) {
                if (dims[d] > (uint64_t)INT64_MAX) st = perr(p, "dimension too large %s", ctx);
                t->shape[d] = (int64_t)dims[d];
            }
        } else if (st == ST_OK && strcmp(key, "data_offsets") == 0) {
            dup = have_offsets++;
            uint64_t off[2];
            int n = 0;
            if (!dup) st = parse_uint_array(p, off, 2, &n, ctx);
            if (st == ST_OK && !dup && n != 2)
                st = perr(p, "\"data_offsets\" of '%.100s' must be [begin, end]", t->name);
            if (st == ST_OK && !dup) {
                t->begin = off[0];
                t->end = off[1];
            }
        } else if (st == ST_OK) {
            p->i = key_at;
            st = perr(p, "tensor '%.100s' has an unknown field \"%.40s\" (expected dtype, shape, "
                      "data_offsets)", t->name, key);
        }
        if (st == ST_OK && dup) {
            p->i = key_at;
            st = perr(p, "tensor '%.100s' has \"%.40s\" twice", t->name, key);
        }
        free(key);
        TRY(st);
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return perr(p, "tensor '%.100s' lacks \"%s\"", t->name,
                    !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");
    return ST_OK;
}

static Status parse_header(Parser *p, Safetensors *st) {
    skip_ws(p);
    if (p->i >= p->n || p->s[p->i] != '{')
        return perr(p, "the header must be a JSON object starting with '{' (not a safetensors "
                    "file?)");
    p->i++;
    int have_meta = 0;
    for (int first = 1;; first = 0) {
        int more;
        TRY(object_next(p, &more, first, "at the top level"));
        if (!more) break;
        char *key = NULL;
        size_t key_at = p->i;
        TRY(parse_string(p, &key, "for a tensor name"));
        Status s = expect(p, ':', "after a tensor name");
        if (s == ST_OK && strcmp(key, "__metadata__") == 0) {
            free(key);
            if (have_meta++) {
                p->i = key_at;
                return perr(p, "\"__metadata__\" appears twice");
            }
            TRY(parse_metadata(p, &st->meta));
            continue;
        }
        if (s == ST_OK && !*key) {
            p->i = key_at;
            s = perr(p, "a tensor has an empty name");
        }
        if (s == ST_OK && st->count == st->cap) {
            int ncap = st->cap ? st->cap * 2 : 64;
            SafetensorsTensor *nt = realloc(st->tensors, (size_t)ncap * sizeof *nt);
            if (!nt) s = status_fail(ST_ERR_OOM, "%s: out of memory", p->origin);
            else {
                st->tensors = nt;
                st->cap = ncap;
            }
        }
        if (s != ST_OK) {
            free(key);
            return s;
        }
        SafetensorsTensor *t = &st->tensors[st->count++];
        memset(t, 0, sizeof *t);
        t->name = key;
        TRY(parse_tensor(p, t));
    }
    skip_ws(p);
    if (p->i != p->n) return perr(p, "unexpected data after the header's closing '}'");
    return ST_OK;
}

static int cmp_offsets(const void *a, const void *b) {
    const SafetensorsTensor *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_names(const void *a, const void *b) {
    const SafetensorsTensor *const *x = a, *const *y = b;
    return strcmp((*x)->name, (*y)->name);
}

/* Shapes against byte lengths, then the tiling of the data buffer, then the file length. */
static Status validate(Safetensors *st, const char *origin, uint64_t data_len) {
    char sh[160], b1[64], b2[64];
    for (int i = 0; i < st->count; i++) {
        SafetensorsTensor *t = &st->tensors[i];
        if (t->end < t->begin)
            return status_fail(ST_ERR_FORMAT, "%s: tensor '%s' has data_offsets [%llu,%llu] "
                               "that end before they begin", origin, t->name,
                               (unsigned long long)t->begin, (unsigned long long)t->end);
        int overflow;
        uint64_t nb = shape_bytes(t->dtype, t->ndim, t->shape, &overflow);
        safetensors_shape_str(t->ndim, t->shape, sh, sizeof sh);
        if (overflow)
            return status_fail(ST_ERR_FORMAT, "%s: tensor '%s' has an impossibly large shape %s",
                               origin, t->name, sh);
        if (nb != t->end - t->begin)
            return status_fail(ST_ERR_FORMAT, "%s: tensor '%s' is %s %s, which needs %llu bytes, "
                               "but its data_offsets [%llu,%llu] span %llu", origin, t->name,
                               g_dtype_names[t->dtype], sh, (unsigned long long)nb,
                               (unsigned long long)t->begin, (unsigned long long)t->end,
                               (unsigned long long)(t->end - t->begin));
    }
    if (st->count > 1) qsort(st->tensors, (size_t)st->count, sizeof *st->tensors, cmp_offsets);
    uint64_t pos = 0;
    for (int i = 0; i < st->count; i++) {
        SafetensorsTensor *t = &st->tensors[i];
        if (t->begin < pos)
            return status_fail(ST_ERR_FORMAT, "%s: tensors '%s' [%llu,%llu) and '%s' [%llu,%llu) "
                               "overlap in the data buffer", origin, st->tensors[i - 1].name,
                               (unsigned long long)st->tensors[i - 1].begin,
                               (unsigned long long)st->tensors[i - 1].end, t->name,
                               (unsigned long long)t->begin, (unsigned long long)t->end);
        if (t->begin > pos)
            return status_fail(ST_ERR_FORMAT, "%s: %llu unused bytes before tensor '%s' in the "
                               "data buffer (offsets must be contiguous)", origin,
                               (unsigned long long)(t->begin - pos), t->name);
        pos = t->end;
    }
    if (pos > data_len)
        return status_fail(ST_ERR_FORMAT, "%s: truncated: header says %s of tensor data, file has "
                           "%s (was it copied or written completely?)", origin,
                           human_bytes(pos, b1, sizeof b1), human_bytes(data_len, b2, sizeof b2));
    if (pos < data_len)
        return status_fail(ST_ERR_FORMAT, "%s: %llu bytes after the last tensor that the header "
                           "does not describe", origin, (unsigned long long)(data_len - pos));

    size_t slots = st->count > 0 ? (size_t)st->count : 1;
    st->by_name = malloc(slots * sizeof *st->by_name);
    if (!st->by_name) return status_fail(ST_ERR_OOM, "%s: out of memory", origin);
    for (int i = 0; i < st->count; i++) st->by_name[i] = &st->tensors[i];
    if (st->count > 1) qsort(st->by_name, (size_t)st->count, sizeof *st->by_name, cmp_names);
    for (int i = 1; i < st->count; i++)
        if (strcmp(st->by_name[i]->name, st->by_name[i - 1]->name) == 0)
            return status_fail(ST_ERR_FORMAT, "%s: tensor '%s' appears twice in the header",
                               origin, st->by_name[i]->name);
    return ST_OK;
}

void safetensors_close(Safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->count; i++) free((char *)st->tensors[i].name);
    free(st->tensors);
    free(st->by_name);
    safetensors_meta_free(&st->meta);
    free(st->buf);
    free(st->path);
    free(st);
}

/* The 8-byte little-endian header length, checked against the file size. */
static Status check_length_field(const unsigned char *first8, uint64_t file_len,
                                 const char *origin, uint64_t *n_out) {
    char b1[64], b2[64];
    if (file_len < 8)
        return status_fail(ST_ERR_FORMAT, "%s: %llu bytes is too short to be a safetensors file "
                           "(it needs an 8-byte header length first)", origin,
                           (unsigned long long)file_len);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | first8[i];
    if (n < 2 || n > SAFETENSORS_MAX_HEADER)
        return status_fail(ST_ERR_FORMAT, "%s: header length %llu is implausible (a safetensors "
                           "header is 2 bytes to 100 MB): not a safetensors file, or corrupt",
                           origin, (unsigned long long)n);
    if (n > file_len - 8)
        return status_fail(ST_ERR_FORMAT, "%s: truncated: header says the JSON header is %s, "
                           "file has %s after the length field", origin,
                           human_bytes(n, b1, sizeof b1), human_bytes(file_len - 8, b2, sizeof b2));
    *n_out = n;
    return ST_OK;
}

/* Parse and validate the header at hdr[0, n) of a file of file_len bytes; the tensors' data
 * pointers are left NULL. */
static Status parse_validated(const unsigned char *hdr, uint64_t n, uint64_t file_len,
                              const char *origin, Safetensors **out) {
    *out = NULL;
    Safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = dup_string(origin))) {
        free(st);
        return status_fail(ST_ERR_OOM, "%s: out of memory", origin);
    }
    Parser p = {hdr, (size_t)n, 0, origin};
    Status s = parse_header(&p, st);
    if (s == ST_OK) s = validate(st, origin, file_len - 8 - n);
    if (s != ST_OK) {
        safetensors_close(st);
        return s;
    }
    for (int i = 0; i < st->count; i++)
        st->tensors[i].nbytes = (size_t)(st->tensors[i].end - st->tensors[i].begin);
    *out = st;
    return ST_OK;
}

/* Takes ownership of buf (malloc'd) on success and failure. */
static Status parse_owned(unsigned char *buf, size_t len, const char *origin, Safetensors **out) {
    *out = NULL;
    uint64_t n = 0;
    Status s = check_length_field(buf, len, origin, &n);
    Safetensors *st = NULL;
    if (s == ST_OK) s = parse_validated(buf + 8, n, len, origin, &st);
    if (s != ST_OK) {
        free(buf);
        return s;
    }
    st->buf = buf;
    st->len = len;
    const unsigned char *data = buf + 8 + n;
    for (int i = 0; i < st->count; i++) st->tensors[i].data = data + st->tensors[i].begin;
    *out = st;
    return ST_OK;
}

/* read(2) until len bytes or EOF; *got says how many arrived. */
static int read_full(int fd, void *buf, size_t len, size_t *got) {
    *got = 0;
    while (*got < len) {
        ssize_t r = read(fd, (char *)buf + *got, len - *got);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return -1;
        if (r == 0) break;
        *got += (size_t)r;
    }
    return 0;
}

Status safetensors_read_metadata(const char *path, SafetensorsMeta *out) {
    if (!path || !out) return status_fail(ST_ERR_ARG, "safetensors_read_metadata: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status_fail(ST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    unsigned char first8[8];
    unsigned char *hdr = NULL;
    size_t got = 0;
    uint64_t n = 0;
    Status s = ST_OK;
    if (fstat(fd, &sb) != 0)
        s = status_fail(ST_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    else if (!S_ISREG(sb.st_mode))
        s = status_fail(ST_ERR_IO, "%s: not a regular file", path);
    else if (read_full(fd, first8, sb.st_size < 8 ? (size_t)sb.st_size : 8, &got) != 0)
        s = status_fail(ST_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (s == ST_OK) s = check_length_field(first8, (uint64_t)sb.st_size, path, &n);
    if (s == ST_OK && !(hdr = malloc((size_t)n)))
        s = status_fail(ST_ERR_OOM, "%s: out of memory for a %llu-byte header", path,
                        (unsigned long long)n);
    if (s == ST_OK && read_full(fd, hdr, (size_t)n, &got) != 0)
        s = status_fail(ST_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    if (s == ST_OK && got != n)
        s = status_fail(ST_ERR_FORMAT, "%s: truncated while reading its header", path);
    close(fd);
    Safetensors *st = NULL;
    if (s == ST_OK) s = parse_validated(hdr, n, (uint64_t)sb.st_size, path, &st);
    if (s == ST_OK) s = safetensors_meta_copy(out, &st->meta);
    safetensors_close(st);
    free(hdr);
    return s;
}

Status safetensors_open(const char *path, Safetensors **out) {
    if (!out) return status_fail(ST_ERR_ARG, "safetensors_open: NULL output pointer");
    *out = NULL;
    char *buf = NULL;
    size_t len = 0;
    TRY(fileio_read_all(path, &buf, &len));
    return parse_owned((unsigned char *)buf, len, path, out);
}

Status safetensors_parse(const void *bytes, size_t len, const char *origin, Safetensors **out) {
    if (!out) return status_fail(ST_ERR_ARG, "safetensors_parse: NULL output pointer");
    *out = NULL;
    if (!origin) origin = "(memory)";
    if (!bytes && len) return status_fail(ST_ERR_ARG, "%s: NULL buffer", origin);
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy) return status_fail(ST_ERR_OOM, "%s: out of memory", origin);
    if (len) memcpy(copy, bytes, len);
    return parse_owned(copy, len, origin, out);
}

const char *safetensors_path(const Safetensors *st) { return st ? st->path : NULL; }

int safetensors_count(const Safetensors *st) { return st ? st->count : 0; }

const SafetensorsTensor *safetensors_tensor(const Safetensors *st, int i) {
    return st && i >= 0 && i < st->count ? &st->tensors[i] : NULL;
}

const SafetensorsTensor *safetensors_find(const Safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    int lo = 0, hi = st->count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        const SafetensorsTensor *t = st->by_name[mid];
        int c = strcmp(name, t->name);
        if (c == 0) return t;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const SafetensorsMeta *safetensors_metadata(const Safetensors *st) { return st ? &st->meta : NULL; }
