/* run_dir.h — choosing a run directory that does not exist yet: runs/<name>, then -2, -3, ... */
#ifndef SHORTCUT_UI_RUN_DIR_H
#define SHORTCUT_UI_RUN_DIR_H

#include <stddef.h>

/* The first of base, base-2, base-3, ... that does not exist. */
void run_dir_next(const char *base, char *out, size_t len);
/* For a restart: strip a "-N" suffix from `current`, then run_dir_next() of that. */
void run_dir_sibling(const char *current, char *out, size_t len);

#endif
