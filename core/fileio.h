/* fileio.h — whole-file reads, atomic writes and mkdir -p.
 *
 * Every file the workbench writes (checkpoints, resolved configs) goes through an atomic write:
 * the bytes go to `<path>.tmp.<pid>` in the same directory (`.<n>` appended when another writer
 * of this process holds that name), are flushed and fsync'd, the temp file
 * is renamed over `<path>`, and the directory is fsync'd so the rename itself is durable. A crash,
 * a full disk or Ctrl-C therefore leaves either the old file or the new one at `<path>`, never half
 * of one; on any failure the temp file is removed. (A process killed by a signal mid-write may
 * leave its `.tmp.<pid>` behind, but `<path>` is intact.) */
#ifndef SHORTCUT_FILEIO_H
#define SHORTCUT_FILEIO_H

#include <stddef.h>

#include "status.h"

/* Write `len` bytes atomically to `path` (replacing it if it exists). The directory must exist. */
Status fileio_write_atomic(const char *path, const void *data, size_t len);

/* Streaming variant for large files: open, write chunks, then commit or abort.
 * After a failed fileio_atomic_write the file is poisoned: commit fails (and cleans up) and
 * abort cleans up; `path` is untouched either way. */
typedef struct AtomicFile AtomicFile;

Status fileio_atomic_open(const char *path, AtomicFile **out);
Status fileio_atomic_write(AtomicFile *f, const void *data, size_t len);
/* Flush, fsync, rename over the target, fsync the directory. Always releases `f`, also on
 * failure (then the temp file is removed and the old target is intact). */
Status fileio_atomic_commit(AtomicFile *f);
/* Close and remove the temp file, leave the target as it was, release `f`. NULL is fine. */
void fileio_atomic_abort(AtomicFile *f);
/* The temp file's path (for tests and messages). */
const char *fileio_atomic_temp_path(const AtomicFile *f);
/* Bytes written so far. */
size_t fileio_atomic_size(const AtomicFile *f);

/* Read a whole regular file into a malloc'd buffer with a NUL byte appended (not counted in
 * *len), so text files can be used as C strings. The caller frees *data. */
Status fileio_read_all(const char *path, char **data, size_t *len);

/* The first of `base`, `base-2`, `base-3`, ... that does not exist (new run directories). */
void fileio_unused_path(const char *base, char *out, size_t len);

/* mkdir -p: create `path` and any missing parents (mode 0777 less the umask). An existing
 * directory is fine; an existing non-directory is an error. */
Status fileio_mkdir_p(const char *path);

#endif
