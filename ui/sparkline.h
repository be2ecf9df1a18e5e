/* sparkline.h — one or more text rows of block glyphs drawing a series, for terminals.
 *
 * Pure functions over float arrays: no ncurses, so they are unit tested directly. A value maps to
 * a level 0..(8*rows - 1) between lo and hi; level 0 is the lowest visible mark, so the smallest
 * value still shows. NaN (and anything non-finite) is a gap. Unicode uses the eight lower
 * blocks U+2581..U+2588; ASCII uses "_.-:=+*#" (and '#' for full cells below the top). */
#ifndef SHORTCUT_UI_SPARKLINE_H
#define SHORTCUT_UI_SPARKLINE_H

#include <stddef.h>

#define SPARK_MAX_WIDTH 1024

/* Compress or stretch n values to exactly `width` columns into out[width] (NaN where nothing
 * falls). n > width: column c averages the finite values in [c*n/width, (c+1)*n/width).
 * n <= width and stretch: each column takes value floor(c*n/width) (per-epoch series fill the
 * width); n <= width and !stretch: the first n columns take the values, the rest are NaN.
 * Returns the number of columns that hold data. */
int spark_resample(const float *v, int n, int width, int stretch, float *out);

/* Smallest and largest finite value; returns 0 (and leaves *lo, *hi) when there is none. */
int spark_range(const float *v, int n, float *lo, float *hi);

/* Exponential moving average with bias correction (beta in [0, 1)); NaN inputs are skipped
 * (the output repeats the last value, NaN before the first). out may equal v. */
void spark_smooth(const float *v, int n, double beta, float *out);

/* Level of a value: 0..levels-1, -1 for a gap. hi <= lo puts every finite value in the middle. */
int spark_level(float v, float lo, float hi, int levels);

/* Render `rows` text rows (top first) of `width` columns from already resampled values.
 * out[r] receives a NUL-terminated UTF-8 (or ASCII) string of at most width*3+1 bytes; each
 * column is exactly one glyph of display width 1. Returns 0, or -1 when a buffer is too small. */
int spark_render(const float *cols, int width, int rows, float lo, float hi, int ascii,
                 char *const *out, size_t out_size);

/* The glyph for a cell filled to `eighths` (0: blank ... 8: full block), as a string. */
const char *spark_glyph(int eighths, int ascii);

#endif
