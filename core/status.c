/* status.c — thread-local last-error message for the core. */
#include "status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char g_message[1024];

Status status_fail(Status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_message, sizeof g_message, fmt, ap);
    va_end(ap);
    return st;
}

const char *status_message(void) { return g_message; }

const char *status_name(Status st) {
    switch (st) {
    case ST_OK: return "ok";
    case ST_ERR_ARG: return "invalid argument";
    case ST_ERR_IO: return "i/o error";
    case ST_ERR_FORMAT: return "bad file format";
    case ST_ERR_CONFIG: return "config error";
    case ST_ERR_OOM: return "out of memory";
    case ST_ERR_NUMERIC: return "numeric error";
    case ST_ERR_DEVICE: return "device error";
    case ST_ERR_STOPPED: return "stopped";
    }
    return "unknown error";
}

int status_exit_code(Status st) {
    switch (st) {
    case ST_OK: return 0;
    case ST_ERR_ARG: case ST_ERR_CONFIG: case ST_ERR_FORMAT: return 2;
    default: return 1;
    }
}
