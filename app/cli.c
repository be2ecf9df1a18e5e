/* cli.c — argument and config helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fileio.h"

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

int cli_session_options(const char *cmd, const char *config_path, const char *out_dir,
                        const char *resume_dir, const SetList *sets, SessionOptions *opt,
                        char run_dir[CONFIG_PATH_LEN]) {
    memset(opt, 0, sizeof *opt);
    if (resume_dir) {
        if (config_path || out_dir)
            return cli_usage_error(cmd, "--resume takes its config and directory from the run; "
                                        "use --set to change keys");
        struct stat sb;
        char state[CONFIG_PATH_LEN + 32];
        snprintf(state, sizeof state, "%s/state.safetensors", resume_dir);
        if (stat(state, &sb) != 0) {
            fprintf(stderr, "shortcut: cannot resume '%s': %s is missing (%s); is it a run "
                            "directory written by shortcut?\n",
                    resume_dir, state, strerror(errno));
            return 2;
        }
        snprintf(run_dir, CONFIG_PATH_LEN, "%s", resume_dir);
        config_defaults(&opt->config);
        opt->resume_dir = run_dir;
        opt->overrides = sets->items;
        opt->num_overrides = sets->count;
        return 0;
    }
    int rc = cli_load_config(config_path, sets, &opt->config);
    if (rc) return rc;
    if (out_dir) {
        snprintf(run_dir, CONFIG_PATH_LEN, "%s", out_dir);
    } else {
        char base[CONFIG_NAME_LEN + 16];
        snprintf(base, sizeof base, "runs/%s", opt->config.name[0] ? opt->config.name : "run");
        fileio_unused_path(base, run_dir, CONFIG_PATH_LEN);
    }
    opt->run_dir = run_dir;
    return 0;
}
