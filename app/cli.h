/* cli.h — pieces shared by the subcommands of the `shortcut` command line.
 *
 * Each subcommand is one function `cmd_<name>(argc, argv)` returning the process exit code:
 * 0 success, 1 runtime failure, 2 bad input (config, arguments, file format). Messages go to
 * stderr as one line: "shortcut: <what>, <where>; <what to do>". */
#ifndef SHORTCUT_CLI_H
#define SHORTCUT_CLI_H

#include "config.h"
#include "session.h"
#include "status.h"

#define CLI_MAX_SETS 64

/* --set collection while parsing arguments. */
typedef struct SetList {
    int count;
    const char *items[CLI_MAX_SETS];
} SetList;

/* Parse "--set k=v" / "--set=k=v" at argv[*i]; returns 1 when consumed (advancing *i), 0 when
 * argv[*i] is not --set, -1 on error (message printed). */
int cli_take_set(int argc, char **argv, int *i, SetList *sets);

/* Load `path` (NULL: built-in defaults = quick) and apply the --set list, then validate.
 * Prints the error and returns its exit code (2 or 1), 0 on success. */
int cli_load_config(const char *path, const SetList *sets, Config *cfg);

/* The run a training command starts, from its arguments: either --resume DIR (the config comes
 * from the run; --set are overrides) or CONFIG + --set + --out DIR (default runs/<name>,
 * numbered when taken). Fills opt (config, run_dir / resume_dir, overrides) and run_dir, which
 * opt points into and which must outlive it. Prints the error and returns its exit code, 0 on
 * success. */
int cli_session_options(const char *cmd, const char *config_path, const char *out_dir,
                        const char *resume_dir, const SetList *sets, SessionOptions *opt,
                        char run_dir[CONFIG_PATH_LEN]);

/* Print "shortcut: <message>" for a failed status and return its exit code. */
int cli_fail(Status st);

/* Usage errors: print "shortcut <cmd>: <message>" and a hint to --help; return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse a positive integer argument; returns -1 on error. */
long cli_parse_long(const char *s);

/* Re-execute once with a short OpenMP spin (OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=1000)
 * unless the user set either (see waitpolicy.c). */
void cli_prefer_passive_wait(char **argv);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
