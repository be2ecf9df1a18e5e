/* test_safetensors.c — safetensors reader/writer and atomic file writes.
 *
 * Round trip of every dtype we use (plus scalar and empty tensors) with metadata full of
 * newlines, quotes, control characters and Unicode; the byte-exact layout of a tiny file as the
 * reference implementation writes it; a catalogue of corrupt files, each of which must fail with
 * ST_ERR_FORMAT and a message naming the file (and must never crash: run under ASan too), plus
 * random mutations; atomic writes that abort, fail or are killed mid-way leave the old file
 * intact. When /usr/bin/python3 has torch, the round-trip file is also loaded in PyTorch by
 * tests/fixtures/check_safetensors_torch.py and compared value by value. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../core/fileio.h"
#include "../core/safetensors.h"
#include "../core/status.h"
#include "check.h"

static char g_dir[1024];

static const char *META_CONFIG =
    "model:\n  family: wrn\n  note: \"quoted\" and 'single' and back\\slash\n\ttabbed: [1, 2]\n";
static const char *META_UNICODE = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x80\x94 "
                                  "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x99\x82";
static const char *META_CONTROL = "bell\x07 \x01\x1f del\x7f cr\r end";

static const char *path_in(const char *name) {
    static char buf[4][PATH_MAX];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* A path in the test directory, copied into buf (PATH_MAX bytes): for paths kept across calls. */
static void tpath(char *buf, const char *name) { snprintf(buf, PATH_MAX, "%s/%s", g_dir, name); }

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb; (void)flag; (void)ftw;
    return remove(p);
}

static void write_raw(const char *path, const void *bytes, size_t len) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK_INT(fwrite(bytes, 1, len, f), len);
    CHECK(fclose(f) == 0);
}

/* Number of "*.tmp.*" files left in the test directory. */
static int temp_files(void) {
    DIR *d = opendir(g_dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static int msg_has(const char *needle) { return strstr(status_message(), needle) != NULL; }

/* ---- round trip ---------------------------------------------------------------------------- */

typedef struct RoundTrip {
    float weight[120];
    int32_t ids[7];
    uint8_t mask[15];
    int64_t big[4];
    double dbl[3];
    float scalar;
} RoundTrip;

static void fill_roundtrip(RoundTrip *r) {
    for (int i = 0; i < 120; i++) r->weight[i] = (float)(i - 60) * 0.25f;
    for (int i = 0; i < 7; i++) r->ids[i] = (i - 3) * 100000;
    for (int i = 0; i < 15; i++) r->mask[i] = (uint8_t)((i * 37) & 255);
    for (int i = 0; i < 4; i++) r->big[i] = (int64_t)(1LL << 40) * (i - 2) + i;
    r->dbl[0] = 1.0 / 3.0;
    r->dbl[1] = -2.5e300;
    r->dbl[2] = 5e-310;
    r->scalar = 42.5f;
}

static Status write_roundtrip(const char *path, const RoundTrip *r) {
    SafetensorsEntry e[7] = {
        {"mask", SFT_U8, 2, {3, 5}, r->mask},
        {"weight", SFT_F32, 4, {2, 3, 4, 5}, r->weight},
        {"empty", SFT_F32, 2, {0, 4}, NULL},
        {"ids", SFT_I32, 1, {7}, r->ids},
        {"scalar", SFT_F32, 0, {0}, &r->scalar},
        {"big", SFT_I64, 2, {2, 2}, r->big},
        {"dbl", SFT_F64, 1, {3}, r->dbl},
    };
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    Status st = safetensors_meta_set(&meta, "config", META_CONFIG);
    if (st == ST_OK) st = safetensors_meta_set(&meta, "unicode", META_UNICODE);
    if (st == ST_OK) st = safetensors_meta_set(&meta, "control", META_CONTROL);
    if (st == ST_OK) st = safetensors_meta_set(&meta, "empty", "");
    if (st == ST_OK) st = safetensors_write(path, e, 7, &meta);
    safetensors_meta_free(&meta);
    return st;
}

static void check_tensor(const Safetensors *st, const char *name, SafetensorsDType dt, int ndim,
                         const int64_t *shape, const void *data, size_t nbytes) {
    const SafetensorsTensor *t = safetensors_find(st, name);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(strcmp(t->name, name) == 0);
    CHECK_INT(t->dtype, dt);
    CHECK_INT(t->ndim, ndim);
    for (int d = 0; d < ndim && d < t->ndim; d++) CHECK_INT(t->shape[d], shape[d]);
    CHECK_INT(t->nbytes, nbytes);
    if (nbytes) CHECK(t->nbytes == nbytes && memcmp(t->data, data, nbytes) == 0);
    /* The packing order keeps every tensor aligned to its element size. */
    CHECK_INT((uintptr_t)t->data % safetensors_dtype_size(dt), 0);
}

static void test_roundtrip(void) {
    RoundTrip r;
    fill_roundtrip(&r);
    char path[PATH_MAX];
    tpath(path, "roundtrip.safetensors");
    CHECK_OK(write_roundtrip(path, &r));
    CHECK_INT(temp_files(), 0);

    Safetensors *st = NULL;
    CHECK_OK(safetensors_open(path, &st));
    if (!st) return;
    CHECK_INT(safetensors_count(st), 7);
    CHECK(strcmp(safetensors_path(st), path) == 0);
    check_tensor(st, "weight", SFT_F32, 4, (int64_t[]){2, 3, 4, 5}, r.weight, sizeof r.weight);
    check_tensor(st, "ids", SFT_I32, 1, (int64_t[]){7}, r.ids, sizeof r.ids);
    check_tensor(st, "mask", SFT_U8, 2, (int64_t[]){3, 5}, r.mask, sizeof r.mask);
    check_tensor(st, "big", SFT_I64, 2, (int64_t[]){2, 2}, r.big, sizeof r.big);
    check_tensor(st, "dbl", SFT_F64, 1, (int64_t[]){3}, r.dbl, sizeof r.dbl);
    check_tensor(st, "scalar", SFT_F32, 0, NULL, &r.scalar, sizeof r.scalar);
    check_tensor(st, "empty", SFT_F32, 2, (int64_t[]){0, 4}, NULL, 0);
    CHECK(safetensors_find(st, "missing") == NULL);
    CHECK(safetensors_find(st, "__metadata__") == NULL);

    /* data-buffer order: I64, F64, F32 (by name), I32, U8 — like the reference writer */
    const char *order[7] = {"big", "dbl", "empty", "scalar", "weight", "ids", "mask"};
    for (int i = 0; i < 7; i++) {
        const SafetensorsTensor *t = safetensors_tensor(st, i);
        CHECK(t && strcmp(t->name, order[i]) == 0);
    }
    CHECK(safetensors_tensor(st, 7) == NULL);

    const SafetensorsMeta *m = safetensors_metadata(st);
    CHECK_INT(m->count, 4);
    CHECK(safetensors_meta_get(m, "config") && !strcmp(safetensors_meta_get(m, "config"),
                                                       META_CONFIG));
    CHECK(safetensors_meta_get(m, "unicode") && !strcmp(safetensors_meta_get(m, "unicode"),
                                                        META_UNICODE));
    CHECK(safetensors_meta_get(m, "control") && !strcmp(safetensors_meta_get(m, "control"),
                                                        META_CONTROL));
    CHECK(safetensors_meta_get(m, "empty") && !strcmp(safetensors_meta_get(m, "empty"), ""));
    CHECK(safetensors_meta_get(m, "nope") == NULL);
    /* metadata keeps the written order */
    CHECK(m->count == 4 && !strcmp(m->keys[0], "config") && !strcmp(m->keys[3], "empty"));
    safetensors_close(st);

    /* The header alone: metadata without reading the tensors. */
    SafetensorsMeta hm;
    safetensors_meta_init(&hm);
    CHECK_OK(safetensors_meta_set(&hm, "stale", "replaced"));
    CHECK_OK(safetensors_read_metadata(path, &hm));
    CHECK_INT(hm.count, 4);
    CHECK(safetensors_meta_get(&hm, "stale") == NULL);
    CHECK(safetensors_meta_get(&hm, "unicode") &&
          !strcmp(safetensors_meta_get(&hm, "unicode"), META_UNICODE));
    char *whole = NULL;
    size_t whole_len = 0;
    CHECK_OK(fileio_read_all(path, &whole, &whole_len));
    char cut[PATH_MAX];
    tpath(cut, "roundtrip-cut.safetensors");
    if (whole) CHECK_OK(fileio_write_atomic(cut, whole, whole_len - 1));
    CHECK_INT(safetensors_read_metadata(cut, &hm), ST_ERR_FORMAT);
    CHECK(msg_has(cut) && msg_has("truncated"));
    if (whole) CHECK_OK(fileio_write_atomic(cut, whole, 100));   /* inside the header */
    CHECK_INT(safetensors_read_metadata(cut, &hm), ST_ERR_FORMAT);
    CHECK(msg_has(cut) && msg_has("truncated"));
    if (whole) CHECK_OK(fileio_write_atomic(cut, whole, 5));
    CHECK_INT(safetensors_read_metadata(cut, &hm), ST_ERR_FORMAT);
    CHECK(msg_has("too short"));
    free(whole);
    CHECK_INT(safetensors_read_metadata(path_in("absent.safetensors"), &hm), ST_ERR_IO);
    CHECK_INT(safetensors_read_metadata(g_dir, &hm), ST_ERR_IO);
    safetensors_meta_free(&hm);

    /* Overwriting an existing file works and replaces it completely. */
    r.weight[0] = 99.0f;
    CHECK_OK(write_roundtrip(path, &r));
    CHECK_OK(safetensors_open(path, &st));
    if (st) {
        const SafetensorsTensor *t = safetensors_find(st, "weight");
        float w0 = 0;
        if (t) memcpy(&w0, t->data, sizeof w0);
        CHECK_NEAR(w0, 99.0, 0, 0);
        safetensors_close(st);
    }
    r.weight[0] = (float)(0 - 60) * 0.25f;
    CHECK_OK(write_roundtrip(path, &r));
}

/* ---- byte-exact layout --------------------------------------------------------------------- */

static void test_exact_bytes(void) {
    const uint8_t b_data[3] = {1, 2, 3};
    const float a_data[2] = {1.0f, -2.0f};
    const float c_data[1] = {0.5f};
    SafetensorsEntry e[3] = {
        {"b", SFT_U8, 1, {3}, b_data},
        {"a", SFT_F32, 1, {2}, a_data},
        {"c", SFT_F32, 1, {1}, c_data},
    };
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    CHECK_OK(safetensors_meta_set(&meta, "format", "pt"));
    char path[PATH_MAX];
    tpath(path, "exact.safetensors");
    CHECK_OK(safetensors_write(path, e, 3, &meta));
    safetensors_meta_free(&meta);

    /* What safetensors.torch.save_file({"b":..., "a":..., "c":...}, metadata={"format": "pt"})
     * writes: sorted by dtype (F32 before U8) then name, compact JSON, padded to 200 bytes. */
    static const char header[] =
        "{\"__metadata__\":{\"format\":\"pt\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"c\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
        "\"b\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[12,15]}}       ";
    uint8_t want[8 + 200 + 15];
    const uint8_t len8[8] = {200, 0, 0, 0, 0, 0, 0, 0};
    CHECK_INT(sizeof header - 1, 200);
    memcpy(want, len8, 8);
    memcpy(want + 8, header, 200);
    const uint8_t data[15] = {0x00, 0x00, 0x80, 0x3f,  0x00, 0x00, 0x00, 0xc0,   /* 1, -2 */
                              0x00, 0x00, 0x00, 0x3f,                            /* 0.5 */
                              1, 2, 3};
    memcpy(want + 208, data, 15);

    char *got = NULL;
    size_t len = 0;
    CHECK_OK(fileio_read_all(path, &got, &len));
    CHECK_INT(len, sizeof want);
    if (got && len == sizeof want) {
        size_t first_diff = len;
        for (size_t i = 0; i < len; i++)
            if ((uint8_t)got[i] != want[i]) { first_diff = i; break; }
        if (first_diff != len)
            fprintf(stderr, "first differing byte %zu: got '%.40s'\n", first_diff, got + 8);
        CHECK_INT(first_diff, len);
    }
    free(got);

    /* No metadata: no "__metadata__" key at all. */
    CHECK_OK(safetensors_write(path, e + 1, 1, NULL));
    CHECK_OK(fileio_read_all(path, &got, &len));
    static const char header2[] =
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    CHECK(got && len == 8 + 56 + 8 && got[0] == 56 && !memcmp(got + 8, header2, sizeof header2 - 1)
          && got[8 + 55] == ' ');
    free(got);

    /* An empty file: "{}" padded. */
    CHECK_OK(safetensors_write(path, NULL, 0, NULL));
    CHECK_OK(fileio_read_all(path, &got, &len));
    CHECK(got && len == 16 && got[0] == 8 && !memcmp(got + 8, "{}      ", 8));
    free(got);
    Safetensors *st = NULL;
    CHECK_OK(safetensors_open(path, &st));
    CHECK_INT(safetensors_count(st), 0);
    CHECK_INT(safetensors_metadata(st)->count, 0);
    safetensors_close(st);
}

/* ---- reader: valid JSON variations --------------------------------------------------------- */

/* A file from a header string and `data_len` bytes of data 0, 1, 2, ... */
static size_t make_file(uint8_t *out, size_t cap, const char *header, size_t data_len) {
    size_t n = strlen(header);
    if (8 + n + data_len > cap) return 0;
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(out + 8, header, n);
    for (size_t i = 0; i < data_len; i++) out[8 + n + i] = (uint8_t)i;
    return 8 + n + data_len;
}

static void test_reader_variants(void) {
    uint8_t buf[4096];
    Safetensors *st = NULL;
    /* Pretty-printed, fields in another order, tensors listed out of offset order, escapes. */
    const char *pretty =
        "{\n  \"b\\u00e9\\ud83d\\ude42\\/x\" : {\"data_offsets\" : [ 8 , 16 ], \"shape\": [2],\n"
        "    \"dtype\": \"I32\"},\n"
        "  \"__metadata__\": {\"k\\n\\\"\": \"v\\t\\u0041\\\\\"},\n"
        "  \"a\": {\"dtype\": \"BF16\", \"shape\": [2, 2], \"data_offsets\": [0, 8]}\n}\n  ";
    size_t n = make_file(buf, sizeof buf, pretty, 16);
    CHECK_OK(safetensors_parse(buf, n, "pretty.safetensors", &st));
    if (st) {
        CHECK_INT(safetensors_count(st), 2);
        const SafetensorsTensor *t = safetensors_find(st, "b\xc3\xa9\xf0\x9f\x99\x82/x");
        CHECK(t != NULL);
        if (t) {
            CHECK_INT(t->dtype, SFT_I32);
            CHECK_INT(t->begin, 8);
            CHECK(((const uint8_t *)t->data)[0] == 8);
        }
        t = safetensors_find(st, "a");
        CHECK(t && t->dtype == SFT_BF16 && t->nbytes == 8 && ((const uint8_t *)t->data)[7] == 7);
        CHECK(strcmp(safetensors_tensor(st, 0)->name, "a") == 0);
        const char *v = safetensors_meta_get(safetensors_metadata(st), "k\n\"");
        CHECK(v && strcmp(v, "v\tA\\") == 0);
        safetensors_close(st);
    }
    /* Empty metadata object and a zero-size tensor at the end. */
    n = make_file(buf, sizeof buf, "{\"__metadata__\":{},\"z\":{\"dtype\":\"U8\",\"shape\":[0],"
                  "\"data_offsets\":[4,4]},\"a\":{\"dtype\":\"U8\",\"shape\":[4],"
                  "\"data_offsets\":[0,4]}}", 4);
    CHECK_OK(safetensors_parse(buf, n, "zero.safetensors", &st));
    CHECK_INT(safetensors_count(st), 2);
    safetensors_close(st);
    /* Every dtype name is understood with its size. */
    const char *names[] = {"BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16",
                           "I32", "U32", "F32", "F64", "I64", "U64"};
    for (int k = 0; k < SFT_DTYPE_COUNT; k++) {
        char hdr[256];
        size_t sz = safetensors_dtype_size((SafetensorsDType)k);
        snprintf(hdr, sizeof hdr,
                 "{\"t\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%zu]}}",
                 names[k], 3 * sz);
        n = make_file(buf, sizeof buf, hdr, 3 * sz);
        CHECK_OK(safetensors_parse(buf, n, "dtypes.safetensors", &st));
        CHECK(st && safetensors_find(st, "t")->dtype == (SafetensorsDType)k);
        CHECK(strcmp(safetensors_dtype_name((SafetensorsDType)k), names[k]) == 0);
        safetensors_close(st);
        st = NULL;
    }
}

/* ---- reader: corrupt files ----------------------------------------------------------------- */

static int g_case;

/* The file must fail to open with ST_ERR_FORMAT and a message naming it and containing `needle`. */
static void expect_bad(const uint8_t *bytes, size_t len, const char *needle) {
    char name[64];
    snprintf(name, sizeof name, "bad%02d.safetensors", g_case++);
    char path[PATH_MAX];
    tpath(path, name);
    write_raw(path, bytes, len);
    Safetensors *st = (Safetensors *)1;
    Status s = safetensors_open(path, &st);
    CHECK_INT(s, ST_ERR_FORMAT);
    CHECK(st == NULL);
    int ok = msg_has(path) && msg_has(needle);
    if (!ok) fprintf(stderr, "  %s: message lacks '%s': %s\n", name, needle, status_message());
    CHECK(ok);
    if (s == ST_OK) safetensors_close(st);
}

static void expect_bad_header(const char *header, size_t data_len, const char *needle) {
    uint8_t buf[4096];
    size_t n = make_file(buf, sizeof buf, header, data_len);
    CHECK(n > 0);
    expect_bad(buf, n, needle);
}

static void test_corrupt(void) {
    uint8_t buf[4096] = {0};
    const char *ok_hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";

    /* too short / bad header length */
    expect_bad(buf, 0, "too short");
    expect_bad((const uint8_t *)"\x02\0\0\0\0", 5, "too short");
    size_t n = make_file(buf, sizeof buf, ok_hdr, 16);
    memset(buf, 0, 8);
    expect_bad(buf, n, "implausible");
    n = make_file(buf, sizeof buf, ok_hdr, 16);
    buf[7] = 0x80;                 /* 2^63 */
    expect_bad(buf, n, "implausible");
    n = make_file(buf, sizeof buf, ok_hdr, 16);
    buf[0] = 0xff; buf[1] = 0x01;  /* 511 bytes of header in a 80-byte file */
    expect_bad(buf, n, "truncated");
    n = make_file(buf, sizeof buf, ok_hdr, 16);
    buf[0] = (uint8_t)(buf[0] - 3);  /* header cut short: JSON does not close */
    expect_bad(buf, n, "bad safetensors header");

    /* truncated data, with human sizes like the brief's example */
    {
        size_t big = 3u << 20;
        uint8_t *f = calloc(1, big + 256);
        CHECK(f != NULL);
        if (f) {
            char hdr[160];
            snprintf(hdr, sizeof hdr, "{\"w\":{\"dtype\":\"F32\",\"shape\":[%zu],"
                     "\"data_offsets\":[0,%zu]}}", big / 4, big);
            size_t hl = strlen(hdr);
            for (int i = 0; i < 8; i++) f[i] = (uint8_t)((uint64_t)hl >> (8 * i));
            memcpy(f + 8, hdr, hl);
            expect_bad(f, 8 + hl + (size_t)(1.2 * (1 << 20)), "truncated: header says 3.0 MB");
            CHECK(msg_has("file has 1.2 MB"));
            free(f);
        }
    }
    expect_bad_header(ok_hdr, 12, "truncated");
    expect_bad_header(ok_hdr, 20, "4 bytes after the last tensor");

    /* offsets */
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24,
                      "overlap");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}", 24,
                      "unused bytes before tensor 'b'");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12,
                      "unused bytes");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[16,0]}}", 16,
                      "end before they begin");
    expect_bad_header("{\"a\":{\"dtype\":\"F64\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "needs 32 bytes");
    expect_bad_header("{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,4294967296],"
                      "\"data_offsets\":[0,16]}}", 16, "impossibly large");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8,
                      "appears twice");

    /* JSON grammar and schema */
    expect_bad_header("not json at all", 0, "must be a JSON object");
    expect_bad_header("[1, 2]", 0, "must be a JSON object");
    expect_bad_header("{\"a\":}", 0, "expected '{'");
    expect_bad_header("{\"a\" {\"dtype\":\"F32\"}}", 0, "expected ':'");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},}", 16,
                      "trailing comma");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}} x", 16,
                      "after the header's closing");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}", 16,
                      "ends inside an object");
    expect_bad_header("{\"a\":{\"dtype\":\"F32", 0, "not terminated");
    expect_bad_header("{\"a\":{\"dtype\":\"F33\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "unknown dtype \"F33\"");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,16]}}", 16,
                      "fraction");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-4],\"data_offsets\":[0,16]}}", 16,
                      "negative");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[04],\"data_offsets\":[0,16]}}", 16,
                      "leading zero");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],"
                      "\"data_offsets\":[0,16]}}", 16, "too large");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,4],"
                      "\"data_offsets\":[0,16]}}", 16, "more than 8");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16,32]}}", 16,
                      "more than 2");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[16]}}", 16,
                      "[begin, end]");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"offsets\":[0,16]}}", 16,
                      "unknown field \"offsets\"");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4]}}", 16, "lacks \"data_offsets\"");
    expect_bad_header("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[4],"
                      "\"data_offsets\":[0,16]}}", 16, "\"dtype\" twice");
    expect_bad_header("{\"__metadata__\":{\"k\":1}}", 0, "must be a string");
    expect_bad_header("{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "appears twice");
    expect_bad_header("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "appears twice");
    expect_bad_header("{\"__metadata__\":null}", 0, "expected '{'");
    expect_bad_header("{\"\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "empty name");
    expect_bad_header("{\"a\xff\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "invalid UTF-8");
    expect_bad_header("{\"a\xc0\xaf\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                      16, "invalid UTF-8");   /* overlong '/' */
    expect_bad_header("{\"a\\ud800\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                      16, "lone UTF-16 surrogate");
    expect_bad_header("{\"a\\u0000\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}",
                      16, "NUL character");
    expect_bad_header("{\"a\\q\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "invalid escape");
    expect_bad_header("{\"a\\u12\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "four hex digits");
    expect_bad_header("{\"a\nb\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 16,
                      "control character");
    /* NUL padding is not JSON whitespace */
    n = make_file(buf, sizeof buf, ok_hdr, 16);
    {
        uint8_t f[256];
        size_t hl = strlen(ok_hdr) + 4;
        for (int i = 0; i < 8; i++) f[i] = (uint8_t)((uint64_t)hl >> (8 * i));
        memcpy(f + 8, ok_hdr, hl - 4);
        memset(f + 8 + hl - 4, 0, 4);
        memset(f + 8 + hl, 0, 16);
        expect_bad(f, 8 + hl + 16, "after the header's closing");
    }

    /* A missing file is an I/O error that names it. */
    Safetensors *st = NULL;
    char missing[PATH_MAX];
    tpath(missing, "does-not-exist.safetensors");
    CHECK_INT(safetensors_open(missing, &st), ST_ERR_IO);
    CHECK(msg_has(missing));
    CHECK_INT(safetensors_open(g_dir, &st), ST_ERR_IO);
    CHECK(msg_has("directory"));
}

/* Random damage to a valid file: every outcome must be OK or a clean ST_ERR_FORMAT, and a file
 * that still parses must describe tensors inside its buffer. */
static void test_fuzz(void) {
    RoundTrip r;
    fill_roundtrip(&r);
    char path[PATH_MAX];
    tpath(path, "fuzz-src.safetensors");
    CHECK_OK(write_roundtrip(path, &r));
    char *orig = NULL;
    size_t len = 0;
    CHECK_OK(fileio_read_all(path, &orig, &len));
    if (!orig) return;
    uint8_t *buf = malloc(len);
    uint64_t seed = 0x1234567;
    int bad_status = 0, parsed = 0, rejected = 0, outside = 0;
    for (int iter = 0; iter < 4000 && buf; iter++) {
        memcpy(buf, orig, len);
        size_t n = len;
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        int mode = (int)((seed >> 33) % 4);
        if (mode == 0) {
            n = (size_t)((seed >> 20) % len);   /* truncate anywhere */
        } else {
            int flips = 1 + (int)((seed >> 40) % 4);
            for (int k = 0; k < flips; k++) {
                seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
                /* mostly in the length field and header, where the parser lives */
                size_t at = (size_t)((seed >> 16) % (mode == 3 ? len : 8 + 400));
                if (at >= len) at = len - 1;
                buf[at] = (uint8_t)(seed >> 56);
            }
        }
        Safetensors *st = NULL;
        Status s = safetensors_parse(buf, n, "fuzz.safetensors", &st);
        if (s == ST_OK) {
            parsed++;
            for (int i = 0; i < safetensors_count(st); i++) {
                const SafetensorsTensor *t = safetensors_tensor(st, i);
                if (t->end > n || t->nbytes != t->end - t->begin) outside++;
            }
            safetensors_close(st);
        } else if (s == ST_ERR_FORMAT && st == NULL &&
                   strstr(status_message(), "fuzz.safetensors")) {
            rejected++;
        } else {
            bad_status++;
        }
    }
    CHECK_INT(bad_status, 0);
    CHECK_INT(outside, 0);
    CHECK(rejected > 1000);
    CHECK(parsed > 0);   /* flips inside tensor data leave a valid file */
    free(buf);
    free(orig);
}

/* ---- writer argument checks ---------------------------------------------------------------- */

static void test_writer_errors(void) {
    float x[2] = {1, 2};
    char path[PATH_MAX];
    tpath(path, "writer-errors.safetensors");
    SafetensorsEntry dup[2] = {{"x", SFT_F32, 1, {2}, x}, {"x", SFT_F32, 1, {2}, x}};
    CHECK_INT(safetensors_write(path, dup, 2, NULL), ST_ERR_ARG);
    CHECK(msg_has("appears twice"));
    SafetensorsEntry reserved = {"__metadata__", SFT_F32, 1, {2}, x};
    CHECK_INT(safetensors_write(path, &reserved, 1, NULL), ST_ERR_ARG);
    SafetensorsEntry noname = {"", SFT_F32, 1, {2}, x};
    CHECK_INT(safetensors_write(path, &noname, 1, NULL), ST_ERR_ARG);
    SafetensorsEntry nodata = {"x", SFT_F32, 1, {2}, NULL};
    CHECK_INT(safetensors_write(path, &nodata, 1, NULL), ST_ERR_ARG);
    SafetensorsEntry neg = {"x", SFT_F32, 1, {-2}, x};
    CHECK_INT(safetensors_write(path, &neg, 1, NULL), ST_ERR_ARG);
    SafetensorsEntry dims = {"x", SFT_F32, 9, {1}, x};
    CHECK_INT(safetensors_write(path, &dims, 1, NULL), ST_ERR_ARG);
    SafetensorsEntry badutf = {"x\xff", SFT_F32, 1, {2}, x};
    CHECK_INT(safetensors_write(path, &badutf, 1, NULL), ST_ERR_ARG);
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    CHECK_INT(safetensors_meta_set(&meta, "k", "bad \xc3"), ST_ERR_ARG);
    CHECK_OK(safetensors_meta_setf(&meta, "epoch", "%d", 7));
    CHECK_OK(safetensors_meta_setf(&meta, "epoch", "%d", 8));   /* replaces */
    CHECK_INT(meta.count, 1);
    CHECK(strcmp(safetensors_meta_get(&meta, "epoch"), "8") == 0);
    char longv[600];
    memset(longv, 'x', sizeof longv - 1);
    longv[sizeof longv - 1] = '\0';
    CHECK_OK(safetensors_meta_setf(&meta, "long", "%s", longv));
    CHECK(strcmp(safetensors_meta_get(&meta, "long"), longv) == 0);
    SafetensorsMeta copy;
    safetensors_meta_init(&copy);
    CHECK_OK(safetensors_meta_copy(&copy, &meta));
    CHECK(copy.count == 2 && strcmp(safetensors_meta_get(&copy, "epoch"), "8") == 0);
    safetensors_meta_free(&copy);
    safetensors_meta_free(&meta);
    safetensors_meta_free(NULL);
    safetensors_close(NULL);
    safetensors_writer_abort(NULL);
    CHECK(access(path, F_OK) != 0);   /* nothing above created the file */
    CHECK_INT(temp_files(), 0);
    char shape[32];
    CHECK(strcmp(safetensors_shape_str(4, (int64_t[]){16, 16, 3, 3}, shape, sizeof shape),
                 "[16,16,3,3]") == 0);
    CHECK(strcmp(safetensors_shape_str(0, NULL, shape, sizeof shape), "[]") == 0);
}

/* ---- atomic writes ------------------------------------------------------------------------- */

static int file_is(const char *path, const char *content) {
    char *d = NULL;
    size_t n = 0;
    if (fileio_read_all(path, &d, &n) != ST_OK) return 0;
    int same = n == strlen(content) && memcmp(d, content, n) == 0;
    free(d);
    return same;
}

static void test_atomic(void) {
    char path[PATH_MAX];
    tpath(path, "atomic.txt");
    CHECK_OK(fileio_write_atomic(path, "old contents\n", 13));
    CHECK(file_is(path, "old contents\n"));
    CHECK_INT(temp_files(), 0);

    /* streaming, aborted: old file intact, temp gone */
    AtomicFile *f = NULL;
    CHECK_OK(fileio_atomic_open(path, &f));
    CHECK_OK(fileio_atomic_write(f, "new ", 4));
    CHECK_INT(fileio_atomic_size(f), 4);
    struct stat sb;
    CHECK(stat(fileio_atomic_temp_path(f), &sb) == 0);   /* the temp file is beside the target */
    CHECK(strncmp(fileio_atomic_temp_path(f), path, strlen(path)) == 0);
    CHECK(file_is(path, "old contents\n"));
    fileio_atomic_abort(f);
    CHECK(file_is(path, "old contents\n"));
    CHECK_INT(temp_files(), 0);

    /* streaming, committed */
    CHECK_OK(fileio_atomic_open(path, &f));
    for (int i = 0; i < 1000; i++) CHECK_OK(fileio_atomic_write(f, "0123456789", 10));
    CHECK(file_is(path, "old contents\n"));
    CHECK_OK(fileio_atomic_commit(f));
    char *d = NULL;
    size_t n = 0;
    CHECK_OK(fileio_read_all(path, &d, &n));
    CHECK_INT(n, 10000);
    CHECK(d && d[n] == '\0' && d[9999] == '9');
    free(d);
    CHECK_INT(temp_files(), 0);
    CHECK_OK(fileio_write_atomic(path, "old contents\n", 13));

    /* two writers of one path at once (two threads saving) get distinct temp files */
    AtomicFile *f1 = NULL, *f2 = NULL;
    CHECK_OK(fileio_atomic_open(path, &f1));
    CHECK_OK(fileio_atomic_open(path, &f2));
    CHECK(f1 && f2 && strcmp(fileio_atomic_temp_path(f1), fileio_atomic_temp_path(f2)) != 0);
    CHECK_OK(fileio_atomic_write(f1, "first\n", 6));
    CHECK_OK(fileio_atomic_write(f2, "second\n", 7));
    CHECK_OK(fileio_atomic_commit(f2));
    CHECK(file_is(path, "second\n"));
    CHECK_OK(fileio_atomic_commit(f1));
    CHECK(file_is(path, "first\n"));
    CHECK_INT(temp_files(), 0);
    CHECK_OK(fileio_write_atomic(path, "old contents\n", 13));

    /* a safetensors writer that is short of data refuses to commit */
    float x[4] = {1, 2, 3, 4};
    SafetensorsEntry e = {"x", SFT_F32, 1, {4}, x};
    SafetensorsWriter *w = NULL;
    CHECK_OK(safetensors_writer_open(path, &e, 1, NULL, &w));
    CHECK_INT(safetensors_writer_next(w), 0);
    CHECK_OK(safetensors_writer_data(w, x, 8));
    CHECK_INT(safetensors_writer_data(w, x, 12), ST_ERR_ARG);   /* more than declared */
    CHECK_INT(safetensors_writer_commit(w), ST_ERR_ARG);
    CHECK(msg_has("8 of 16 bytes"));
    CHECK(file_is(path, "old contents\n"));
    CHECK_INT(temp_files(), 0);
    CHECK_OK(safetensors_writer_open(path, &e, 1, NULL, &w));
    safetensors_writer_abort(w);
    CHECK(file_is(path, "old contents\n"));
    CHECK_INT(temp_files(), 0);

    /* a process killed mid-write (Ctrl-C, crash) leaves the old file intact */
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        AtomicFile *cf = NULL;
        if (fileio_atomic_open(path, &cf) == ST_OK) {
            fileio_atomic_write(cf, "half of a new fi", 16);
            fflush(NULL);
        }
        raise(SIGKILL);
        _exit(3);
    }
    int wst = 0;
    CHECK(pid > 0 && waitpid(pid, &wst, 0) == pid);
    CHECK(WIFSIGNALED(wst) && WTERMSIG(wst) == SIGKILL);
    CHECK(file_is(path, "old contents\n"));
    char stale[PATH_MAX + 32];
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)pid);
    CHECK(access(stale, F_OK) == 0);   /* the dead process's temp file, never the target */
    remove(stale);

    /* failures name the path */
    char nodir[PATH_MAX];
    tpath(nodir, "no/such/dir/file.bin");
    CHECK_INT(fileio_write_atomic(nodir, "x", 1), ST_ERR_IO);
    CHECK(msg_has(nodir) && msg_has("does its directory exist"));
    CHECK_INT(fileio_write_atomic(g_dir, "x", 1), ST_ERR_IO);
    CHECK(msg_has("is a directory"));
    CHECK_INT(safetensors_write(nodir, &e, 1, NULL), ST_ERR_IO);
    CHECK(msg_has(nodir));
    CHECK_INT(temp_files(), 0);
}

static void test_fileio_misc(void) {
    char nested[PATH_MAX];
    snprintf(nested, sizeof nested, "%s/runs//a/b/c/", g_dir);
    CHECK_OK(fileio_mkdir_p(nested));
    struct stat sb;
    CHECK(stat(path_in("runs/a/b/c"), &sb) == 0 && S_ISDIR(sb.st_mode));
    CHECK_OK(fileio_mkdir_p(nested));   /* exists: fine */
    CHECK_OK(fileio_write_atomic(path_in("runs/a/file"), "x", 1));
    CHECK_INT(fileio_mkdir_p(path_in("runs/a/file/sub")), ST_ERR_IO);
    CHECK(msg_has("not a directory"));
    CHECK_INT(fileio_mkdir_p(path_in("runs/a/file")), ST_ERR_IO);

    char *d = (char *)1;
    size_t n = 5;
    CHECK_INT(fileio_read_all(path_in("runs/a/nope"), &d, &n), ST_ERR_IO);
    CHECK(d == NULL && n == 0 && msg_has("runs/a/nope"));
    CHECK_INT(fileio_read_all(path_in("runs/a"), &d, &n), ST_ERR_IO);
    CHECK(msg_has("is a directory"));
    /* /proc files report size 0 but have contents: read to EOF, not to st_size */
    CHECK_OK(fileio_read_all("/proc/self/status", &d, &n));
    CHECK(d && n > 100 && strlen(d) == n && strstr(d, "Pid:") != NULL);
    free(d);
    /* a file larger than the probe read's buffer, read exactly */
    size_t big = 3 * 4096 + 17;
    char *blob = malloc(big);
    for (size_t i = 0; blob && i < big; i++) blob[i] = (char)('a' + i % 26);
    if (blob) CHECK_OK(fileio_write_atomic(path_in("runs/blob"), blob, big));
    CHECK_OK(fileio_read_all(path_in("runs/blob"), &d, &n));
    CHECK(d && blob && n == big && memcmp(d, blob, big) == 0 && d[n] == '\0');
    free(d);
    free(blob);
    CHECK_OK(fileio_write_atomic(path_in("runs/empty"), NULL, 0));
    CHECK_OK(fileio_read_all(path_in("runs/empty"), &d, &n));
    CHECK(d && n == 0 && d[0] == '\0');
    free(d);
}

/* ---- PyTorch cross-check ------------------------------------------------------------------- */

static void fixtures_dir(char *out, size_t cap) {
    const char *env = getenv("SHORTCUT_TEST_FIXTURES");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return;
    }
    env = getenv("SHORTCUT_SOURCE_DIR");   /* set by ctest */
    if (env && *env) {
        snprintf(out, cap, "%s/tests/fixtures", env);
        return;
    }
    snprintf(out, cap, "%s", __FILE__);
    char *slash = strrchr(out, '/');
    if (slash) snprintf(slash + 1, cap - (size_t)(slash + 1 - out), "fixtures");
    else snprintf(out, cap, "fixtures");
}

static void test_pytorch(void) {
    char dir[PATH_MAX], script[PATH_MAX + 64], cmd[3 * PATH_MAX];
    fixtures_dir(dir, sizeof dir);
    snprintf(script, sizeof script, "%s/check_safetensors_torch.py", dir);
    if (access(script, R_OK) != 0) {
        printf("note: PyTorch cross-check skipped: %s not found (set SHORTCUT_TEST_FIXTURES)\n",
               script);
        return;
    }
    if (system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
        printf("note: PyTorch cross-check skipped: /usr/bin/python3 cannot import torch\n");
        return;
    }
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 '%s' '%s'", script,
             path_in("roundtrip.safetensors"));
    fflush(NULL);
    int rc = system(cmd);
    CHECK(rc == 0);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/test_safetensors.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot create a temp directory: %s\n", strerror(errno));
        return 1;
    }
    test_roundtrip();
    test_exact_bytes();
    test_reader_variants();
    test_corrupt();
    test_fuzz();
    test_writer_errors();
    test_atomic();
    test_fileio_misc();
    test_pytorch();
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_report("test_safetensors");
}
