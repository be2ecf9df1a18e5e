/* cli.c — argument and config helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_take_set(int argc, char **argv, int *i, SetList *sets) {
    const char *a = argv[*i];
    const char *value = NULL;
    if (strcmp(a, "--set") == 0 || strcmp(a, "-s") == 0) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "shortcut: --set needs a value, e.g. --set train.lr=0.05\n");
            return -1;
        }
        value = argv[++*i];
    } else if (strncmp(a, "--set=", 6) == 0) {
        value = a + 6;
    } else {
        return 0;
    }
    if (sets->count == CLI_MAX_SETS) {
        fprintf(stderr, "shortcut: more than %d --set options\n", CLI_MAX_SETS);
        return -1;
    }
    sets->items[sets->count++] = value;
    return 1;
}

int cli_fail(Status st) {
    fprintf(stderr, "shortcut: %s\n", status_message());
    return status_exit_code(st);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "shortcut %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see shortcut %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

int cli_load_config(const char *path, const SetList *sets, Config *cfg) {
    Status st;
    if (path) {
        st = config_read(path, cfg);
        if (st != ST_OK) return cli_fail(st);
    } else {
        config_defaults(cfg);
    }
    for (int i = 0; i < sets->count; i++) {
        st = config_set(cfg, sets->items[i]);
        if (st != ST_OK) return cli_fail(st);
    }
    st = config_validate(cfg);
    if (st != ST_OK) return cli_fail(st);
    return 0;
}

long cli_parse_long(const char *s) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v <= 0) return -1;
    return v;
}
