/* png_io.h — PNG files through libpng's simplified API (screenshots, and tests reading them
 * back). No SDL here. */
#ifndef SHORTCUT_PNG_IO_H
#define SHORTCUT_PNG_IO_H

#include <stdint.h>

#include "status.h"

/* Write ARGB8888 pixels (w * h, row-major; alpha ignored) as an 8-bit RGB PNG. The file is
 * written under a temporary name and renamed, so a failure never leaves half a picture. */
Status png_write_argb(const char *path, const uint32_t *argb, int w, int h);
/* Read any PNG as 8-bit RGB (w * h * 3, malloc'd). */
Status png_read_rgb(const char *path, uint8_t **rgb, int *w, int *h);

#endif
