/* fileio.c — atomic file writes (temp + fsync + rename + directory fsync), whole-file reads and
 * mkdir -p. Invariant: the target path only ever changes by one rename(2) of a fully written and
 * fsync'd temp file in the same directory; every failure path removes the temp file. */
#include "fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct AtomicFile {
    FILE *fp;
    char *path;
    char *tmp;
    size_t size;
    int failed;   /* a write failed: the contents are incomplete and must never be committed */
};

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* The directory holding `path` ("." when it has no slash), malloc'd. */
static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return dup_string(".");
    if (slash == path) return dup_string("/");
    size_t n = (size_t)(slash - path);
    char *d = malloc(n + 1);
    if (!d) return NULL;
    memcpy(d, path, n);
    d[n] = '\0';
    return d;
}

/* fsync a directory so a rename inside it survives a power loss. Filesystems that cannot sync
 * directories (EINVAL) are accepted: there is nothing more we can do there. */
static Status sync_dir(const char *file_path) {
    char *dir = parent_dir(file_path);
    if (!dir) return status_fail(ST_ERR_OOM, "%s: out of memory", file_path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        Status st = status_fail(ST_ERR_IO, "%s: written, but cannot open its directory %s to sync "
                                "it: %s", file_path, dir, strerror(errno));
        free(dir);
        return st;
    }
    Status st = ST_OK;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        st = status_fail(ST_ERR_IO, "%s: written, but syncing directory %s failed: %s", file_path,
                         dir, strerror(errno));
    if (close(fd) != 0 && st == ST_OK)
        st = status_fail(ST_ERR_IO, "%s: closing directory %s failed: %s", file_path, dir,
                         strerror(errno));
    free(dir);
    return st;
}

static void atomic_release(AtomicFile *f) {
    free(f->path);
    free(f->tmp);
    free(f);
}

Status fileio_atomic_open(const char *path, AtomicFile **out) {
    if (!out) return status_fail(ST_ERR_ARG, "fileio_atomic_open: NULL output pointer");
    *out = NULL;
    if (!path || !*path) return status_fail(ST_ERR_ARG, "fileio_atomic_open: empty path");
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return status_fail(ST_ERR_IO, "%s: is a directory; give a file name to write to", path);

    AtomicFile *f = calloc(1, sizeof *f);
    if (!f) return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    size_t tmp_len = strlen(path) + 32;
    f->path = dup_string(path);
    f->tmp = malloc(tmp_len);
    if (!f->path || !f->tmp) {
        atomic_release(f);
        return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    }
    /* O_EXCL: two threads of this process saving the same path (or a stale file of a dead
     * process that had our pid) must not share a temp file; the second one gets a suffix. */
    int fd = -1;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        if (attempt == 0) snprintf(f->tmp, tmp_len, "%s.tmp.%ld", path, (long)getpid());
        else snprintf(f->tmp, tmp_len, "%s.tmp.%ld.%d", path, (long)getpid(), attempt);
        fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd >= 0) {
        f->fp = fdopen(fd, "wb");
        if (!f->fp) {
            int e = errno;
            close(fd);
            unlink(f->tmp);
            errno = e;
        }
    }
    if (!f->fp) {
        int e = errno;
        Status st = status_fail(ST_ERR_IO, "%s: cannot create %s: %s%s", path, f->tmp,
                                strerror(e), e == ENOENT ? " (does its directory exist?)" : "");
        atomic_release(f);
        return st;
    }
    *out = f;
    return ST_OK;
}

Status fileio_atomic_write(AtomicFile *f, const void *data, size_t len) {
    if (!f) return status_fail(ST_ERR_ARG, "fileio_atomic_write: NULL file");
    if (f->failed)
        return status_fail(ST_ERR_IO, "%s: an earlier write failed; the file was not written",
                           f->path);
    if (len == 0) return ST_OK;
    if (!data) return status_fail(ST_ERR_ARG, "%s: write of %zu bytes from NULL", f->path, len);
    if (fwrite(data, 1, len, f->fp) != len) {
        f->failed = 1;
        return status_fail(ST_ERR_IO, "%s: cannot write %s: %s", f->path, f->tmp,
                           strerror(errno ? errno : EIO));
    }
    f->size += len;
    return ST_OK;
}

void fileio_atomic_abort(AtomicFile *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);   /* the contents are discarded, so a close error is irrelevant */
    unlink(f->tmp);
    atomic_release(f);
}

Status fileio_atomic_commit(AtomicFile *f) {
    if (!f) return status_fail(ST_ERR_ARG, "fileio_atomic_commit: NULL file");
    if (f->failed) {
        Status st = status_fail(ST_ERR_IO, "%s: not written: an earlier write failed", f->path);
        fileio_atomic_abort(f);
        return st;
    }
    Status st = ST_OK;
    if (fflush(f->fp) != 0)
        st = status_fail(ST_ERR_IO, "%s: cannot write %s: %s", f->path, f->tmp, strerror(errno));
    else if (fsync(fileno(f->fp)) != 0)
        st = status_fail(ST_ERR_IO, "%s: cannot sync %s to disk: %s", f->path, f->tmp,
                         strerror(errno));
    int close_rc = fclose(f->fp);
    f->fp = NULL;
    if (st == ST_OK && close_rc != 0)
        st = status_fail(ST_ERR_IO, "%s: cannot close %s: %s", f->path, f->tmp, strerror(errno));
    if (st == ST_OK && rename(f->tmp, f->path) != 0)
        st = status_fail(ST_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp,
                         strerror(errno));
    if (st != ST_OK) {
        unlink(f->tmp);
        atomic_release(f);
        return st;
    }
    st = sync_dir(f->path);
    atomic_release(f);
    return st;
}

const char *fileio_atomic_temp_path(const AtomicFile *f) { return f ? f->tmp : NULL; }

size_t fileio_atomic_size(const AtomicFile *f) { return f ? f->size : 0; }

Status fileio_write_atomic(const char *path, const void *data, size_t len) {
    AtomicFile *f = NULL;
    TRY(fileio_atomic_open(path, &f));
    Status st = fileio_atomic_write(f, data, len);
    if (st != ST_OK) {
        fileio_atomic_abort(f);
        return st;
    }
    return fileio_atomic_commit(f);
}

Status fileio_read_all(const char *path, char **data, size_t *len) {
    if (!data || !len) return status_fail(ST_ERR_ARG, "fileio_read_all: NULL output pointer");
    *data = NULL;
    *len = 0;
    if (!path || !*path) return status_fail(ST_ERR_ARG, "fileio_read_all: empty path");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status_fail(ST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        Status st = status_fail(ST_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return status_fail(ST_ERR_IO, "%s: %s, not a regular file", path,
                           S_ISDIR(sb.st_mode) ? "is a directory" : "is a special file");
    }
    /* The size is a hint: the loop reads to EOF, so a file that grows or shrinks while being
     * read still yields a consistent buffer rather than an overrun. When the buffer is full, a
     * small probe read finds EOF without doubling the allocation of a large checkpoint. */
    size_t cap = (size_t)sb.st_size + 1, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        close(fd);
        return status_fail(ST_ERR_OOM, "%s: out of memory reading %lld bytes", path,
                           (long long)sb.st_size);
    }
    for (;;) {
        char probe[4096];
        int full = n + 1 == cap;
        ssize_t r = full ? read(fd, probe, sizeof probe) : read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR) continue;
            Status st = status_fail(ST_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
            free(buf);
            close(fd);
            return st;
        }
        if (r == 0) break;
        if (full) {
            size_t ncap = cap * 2 + (size_t)r;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                close(fd);
                return status_fail(ST_ERR_OOM, "%s: out of memory", path);
            }
            buf = nb;
            cap = ncap;
            memcpy(buf + n, probe, (size_t)r);
        }
        n += (size_t)r;
    }
    if (close(fd) != 0) {
        Status st = status_fail(ST_ERR_IO, "%s: cannot close: %s", path, strerror(errno));
        free(buf);
        return st;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return ST_OK;
}

/* Create one directory level; an existing directory is success. */
static Status mkdir_one(const char *dir, const char *full) {
    if (mkdir(dir, 0777) == 0) return ST_OK;
    int e = errno;
    struct stat sb;
    if (e == EEXIST) {
        if (stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)) return ST_OK;
        return status_fail(ST_ERR_IO, "%s: cannot create directory: %s exists and is not a "
                           "directory", full, dir);
    }
    return status_fail(ST_ERR_IO, "%s: cannot create directory %s: %s", full, dir, strerror(e));
}

Status fileio_mkdir_p(const char *path) {
    if (!path || !*path) return status_fail(ST_ERR_ARG, "fileio_mkdir_p: empty path");
    char *p = dup_string(path);
    if (!p) return status_fail(ST_ERR_OOM, "%s: out of memory", path);
    Status st = ST_OK;
    for (char *s = p + 1; *s && st == ST_OK; s++) {
        if (*s != '/' || s[-1] == '/') continue;
        *s = '\0';
        st = mkdir_one(p, path);
        *s = '/';
    }
    if (st == ST_OK) {
        size_t n = strlen(p);
        while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
        st = mkdir_one(p, path);
    }
    free(p);
    return st;
}

void fileio_unused_path(const char *base, char *out, size_t len) {
    struct stat sb;
    snprintf(out, len, "%s", base);
    for (int i = 2; stat(out, &sb) == 0 && i < 100000; i++) snprintf(out, len, "%s-%d", base, i);
}
