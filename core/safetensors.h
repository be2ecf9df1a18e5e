/* safetensors.h — reader and writer of the safetensors format (Hugging Face), no JSON library.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON
 *   {"__metadata__": {"key": "value", ...},
 *    "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 * padded with spaces to a multiple of 8, then the data buffer: every tensor dense, row-major,
 * little-endian, at [begin, end) relative to the buffer start, packed without gaps or overlaps.
 *
 * The writer emits byte for byte what the reference implementation (safetensors' Rust
 * serializer, as used by `safetensors.torch.save_file`) emits for the same tensors and metadata
 * order: tensors packed by dtype descending (U64, I64, F64, F32, ... BOOL — so every tensor is
 * aligned to its element size) then by name, compact JSON, "__metadata__" first (omitted when
 * empty), fields in the order dtype, shape, data_offsets, serde_json's string escaping, space
 * padding. Readers look tensors up by name, so the packing order is invisible to them.
 *
 * The reader is strict: it validates the header length, UTF-8, the JSON grammar, every tensor's
 * dtype/shape/byte length, that the tensors tile the data buffer exactly, and that the file is not
 * truncated; every error names the file and what is wrong. Metadata values are arbitrary UTF-8
 * strings (newlines, quotes, any Unicode) and round-trip exactly; a NUL character is refused
 * because values are C strings. */
#ifndef SHORTCUT_SAFETENSORS_H
#define SHORTCUT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define SAFETENSORS_MAX_DIMS 8
/* The reference implementation's limit; a larger header means a corrupt or foreign file. */
#define SAFETENSORS_MAX_HEADER 100000000ULL

typedef enum SafetensorsDType {
    SFT_BOOL = 0, SFT_U8, SFT_I8, SFT_F8_E5M2, SFT_F8_E4M3, SFT_I16, SFT_U16, SFT_F16, SFT_BF16,
    SFT_I32, SFT_U32, SFT_F32, SFT_F64, SFT_I64, SFT_U64,
    SFT_DTYPE_COUNT
} SafetensorsDType;

/* "F32", "I64", ... */
const char *safetensors_dtype_name(SafetensorsDType dt);
/* Bytes per element (0 for an out-of-range value). */
size_t safetensors_dtype_size(SafetensorsDType dt);
/* Format a shape as "[16,16,3,3]" ("[]" for a scalar) into buf; returns buf. */
char *safetensors_shape_str(int ndim, const int64_t *shape, char *buf, size_t cap);

/* ---- metadata: an ordered string -> string dictionary (the "__metadata__" object) ---- */
typedef struct SafetensorsMeta {
    int count;
    int cap;
    char **keys;     /* owned, valid UTF-8, insertion order */
    char **values;
} SafetensorsMeta;

void safetensors_meta_init(SafetensorsMeta *m);
void safetensors_meta_free(SafetensorsMeta *m);   /* NULL is fine; leaves m empty and reusable */
/* Add or replace. Key and value must be valid UTF-8 (ST_ERR_ARG otherwise). */
Status safetensors_meta_set(SafetensorsMeta *m, const char *key, const char *value);
Status safetensors_meta_setf(SafetensorsMeta *m, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The value for key, or NULL when absent. */
const char *safetensors_meta_get(const SafetensorsMeta *m, const char *key);
/* Replace dst's contents with a copy of src. */
Status safetensors_meta_copy(SafetensorsMeta *dst, const SafetensorsMeta *src);

/* ---- writing ---- */
typedef struct SafetensorsEntry {
    const char *name;                       /* unique, non-empty UTF-8, not "__metadata__" */
    SafetensorsDType dtype;
    int ndim;                               /* 0 (scalar) .. SAFETENSORS_MAX_DIMS */
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const void *data;                       /* host bytes, dense row-major (safetensors_write) */
} SafetensorsEntry;

/* Byte length of one entry's data (shape product times dtype size). */
size_t safetensors_entry_bytes(const SafetensorsEntry *e);

/* Write `count` entries and optional metadata (NULL or empty: no "__metadata__") to `path`
 * atomically (see fileio.h). */
Status safetensors_write(const char *path, const SafetensorsEntry *entries, int count,
                         const SafetensorsMeta *meta);

/* Streaming writer for data that is produced piecewise (downloaded from a device tensor by
 * tensor): the header is written from the entries (their `data` is ignored), then the tensors'
 * bytes are appended in packing order, in chunks of any size:
 *     for (int k; (k = safetensors_writer_next(w)) >= 0;) { fetch entries[k]; writer_data(...); }
 * Commit checks that every byte arrived, then renames into place; it always releases the
 * writer. */
typedef struct SafetensorsWriter SafetensorsWriter;

Status safetensors_writer_open(const char *path, const SafetensorsEntry *entries, int count,
                               const SafetensorsMeta *meta, SafetensorsWriter **out);
/* Index (into the entries given to open) of the tensor whose bytes come next; -1 when done. */
int safetensors_writer_next(SafetensorsWriter *w);
Status safetensors_writer_data(SafetensorsWriter *w, const void *data, size_t len);
Status safetensors_writer_commit(SafetensorsWriter *w);
void safetensors_writer_abort(SafetensorsWriter *w);   /* NULL is fine; the target is untouched */

/* ---- reading ---- */
typedef struct SafetensorsTensor {
    const char *name;
    SafetensorsDType dtype;
    int ndim;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t begin, end;     /* data_offsets, relative to the data buffer */
    size_t nbytes;           /* end - begin == product(shape) * dtype size */
    const void *data;        /* into the loaded file; valid until safetensors_close. Aligned to
                              * the dtype size in files we write; possibly not in foreign ones,
                              * so copy with memcpy rather than casting. */
} SafetensorsTensor;

typedef struct Safetensors Safetensors;

/* Read and validate a whole file. Errors: ST_ERR_IO (cannot read), ST_ERR_FORMAT (anything
 * wrong with the contents; the message names the file and the problem). */
Status safetensors_open(const char *path, Safetensors **out);
/* Read and validate only the header (the whole header is checked, and the file size against
 * it, but no tensor data is read) and copy its metadata into `out` (replacing its contents):
 * cheap even for a large checkpoint, e.g. to get the stored config before building a model. */
Status safetensors_read_metadata(const char *path, SafetensorsMeta *out);
/* The same from a buffer in memory (copied); `origin` names it in messages. */
Status safetensors_parse(const void *bytes, size_t len, const char *origin, Safetensors **out);
void safetensors_close(Safetensors *st);   /* NULL is fine */

const char *safetensors_path(const Safetensors *st);
int safetensors_count(const Safetensors *st);
/* The i-th tensor in data-buffer order. */
const SafetensorsTensor *safetensors_tensor(const Safetensors *st, int i);
/* Lookup by name; NULL when absent. */
const SafetensorsTensor *safetensors_find(const Safetensors *st, const char *name);
/* The "__metadata__" dictionary (empty when the file has none). */
const SafetensorsMeta *safetensors_metadata(const Safetensors *st);

#endif
