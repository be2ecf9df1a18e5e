/* run_dir.h — choosing a run directory that does not exist yet: runs/<name>, then -2, -3, ... */
#ifndef SHORTCUT_UI_RUN_DIR_H
#define SHORTCUT_UI_RUN_DIR_H

#include <stddef.h>

/* For a restart: strip a "-N" suffix from `current`, then the first unused of base, base-2, ...
 * (fileio_unused_path). */
void run_dir_sibling(const char *current, char *out, size_t len);

#endif
