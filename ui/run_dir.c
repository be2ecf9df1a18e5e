/* run_dir.c — fresh run directory names (see run_dir.h). */
#include "run_dir.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

void run_dir_next(const char *base, char *out, size_t len) {
    struct stat sb;
    snprintf(out, len, "%s", base);
    for (int i = 2; stat(out, &sb) == 0 && i < 100000; i++) snprintf(out, len, "%s-%d", base, i);
}

void run_dir_sibling(const char *current, char *out, size_t len) {
    char base[1024];
    snprintf(base, sizeof base, "%s", current);
    size_t n = strlen(base);
    while (n > 0 && base[n - 1] == '/') base[--n] = 0;
    size_t k = n;
    while (k > 0 && isdigit((unsigned char)base[k - 1])) k--;
    if (k < n && k > 0 && base[k - 1] == '-') base[k - 1] = 0;
    run_dir_next(base, out, len);
}
