/* status.h — how the core reports failure.
 *
 * Every fallible core function returns a Status. On failure it also leaves a one-line,
 * user-facing message (what, where, what to do) in a thread-local buffer that status_message()
 * returns. The core never prints and never calls exit(): only app/ decides what to do. */
#ifndef SHORTCUT_STATUS_H
#define SHORTCUT_STATUS_H

typedef enum Status {
    ST_OK = 0,
    ST_ERR_ARG,      /* a caller passed something invalid */
    ST_ERR_IO,       /* a file could not be opened, read or written */
    ST_ERR_FORMAT,   /* a file exists but its contents are wrong (truncated, bad header) */
    ST_ERR_CONFIG,   /* a config key or value is invalid */
    ST_ERR_OOM,      /* host or device memory exhausted */
    ST_ERR_NUMERIC,  /* loss or a gradient became NaN or infinite */
    ST_ERR_DEVICE,   /* a backend (CUDA, cuDNN, oneDNN) call failed */
    ST_ERR_STOPPED,  /* work was interrupted on request */
} Status;

/* Record the message for the current failure (printf-style) and return `st`, so that call sites
 * read `return status_fail(ST_ERR_IO, "%s: cannot open: %s", path, strerror(errno));`. */
Status status_fail(Status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The last message recorded on this thread ("" if none). */
const char *status_message(void);

/* Short name of a status code ("io error", ...). */
const char *status_name(Status st);

/* Process exit code for a status: 2 for bad input a user can fix (config, arguments, format),
 * 1 for everything else. */
int status_exit_code(Status st);

#define TRY(expr) do { Status st__ = (expr); if (st__ != ST_OK) return st__; } while (0)

#endif
