/* run_dir.c — fresh run directory names (see run_dir.h). */
#include "run_dir.h"

#include "fileio.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void run_dir_sibling(const char *current, char *out, size_t len) {
    char base[1024];
    snprintf(base, sizeof base, "%s", current);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') base[--n] = 0;
    size_t k = n;
    while (k > 0 && isdigit((unsigned char)base[k - 1])) k--;
    if (k < n && k > 0 && base[k - 1] == '-') base[k - 1] = 0;
    fileio_unused_path(base, out, len);
}
