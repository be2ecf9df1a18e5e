/* sparkline.c — block-glyph sparklines (see sparkline.h).
 *
 * A cell is filled in eighths; a series of `rows` rows has 8*rows levels. The lowest level of a
 * data column is one eighth, not zero, so that a minimum is still visible and a gap (blank) is
 * never confused with a small value. */
#include "sparkline.h"

#include <math.h>
#include <string.h>

static const char *const BLOCKS[9] = {
    " ", "\u2581", "\u2582", "\u2583", "\u2584", "\u2585", "\u2586", "\u2587", "\u2588",
};

const char *spark_glyph(int eighths, int ascii) {
    static const char *const ascii_glyphs[9] = {" ", "_", ".", "-", ":", "=", "+", "*", "#"};
    if (eighths < 0) eighths = 0;
    if (eighths > 8) eighths = 8;
    return ascii ? ascii_glyphs[eighths] : BLOCKS[eighths];
}

int spark_resample(const float *v, int n, int width, int stretch, float *out) {
    if (width <= 0) return 0;
    for (int c = 0; c < width; c++) out[c] = NAN;
    if (n <= 0 || !v) return 0;
    int filled = 0;
    if (n > width) {
        for (int c = 0; c < width; c++) {
            long a = (long)c * n / width, b = (long)(c + 1) * n / width;
            double sum = 0;
            int cnt = 0;
            for (long i = a; i < b; i++)
                if (isfinite(v[i])) { sum += v[i]; cnt++; }
            if (cnt) { out[c] = (float)(sum / cnt); filled = c + 1; }
        }
        return filled;
    }
    if (stretch) {
        for (int c = 0; c < width; c++) out[c] = v[(long)c * n / width];
        return width;
    }
    for (int c = 0; c < n; c++) out[c] = v[c];
    return n;
}

int spark_range(const float *v, int n, float *lo, float *hi) {
    int any = 0;
    float a = 0, b = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(v[i])) continue;
        if (!any || v[i] < a) a = v[i];
        if (!any || v[i] > b) b = v[i];
        any = 1;
    }
    if (any) { *lo = a; *hi = b; }
    return any;
}

void spark_smooth(const float *v, int n, double beta, float *out) {
    double ema = 0, weight = 0;
    float last = NAN;
    for (int i = 0; i < n; i++) {
        if (isfinite(v[i])) {
            ema = beta * ema + (1 - beta) * v[i];
            weight = beta * weight + (1 - beta);
            last = (float)(ema / weight);
        }
        out[i] = last;
    }
}

int spark_level(float v, float lo, float hi, int levels) {
    if (!isfinite(v) || levels <= 0) return -1;
    if (!(hi > lo)) return levels / 2;
    double f = ((double)v - lo) / ((double)hi - lo);
    if (f < 0) f = 0;
    if (f > 1) f = 1;
    int l = (int)floor(f * levels);
    return l >= levels ? levels - 1 : l;
}

int spark_render(const float *cols, int width, int rows, float lo, float hi, int ascii,
                 char *const *out, size_t out_size) {
    if (rows <= 0 || width < 0 || out_size < (size_t)width * 3 + 1) return -1;
    for (int r = 0; r < rows; r++) out[r][0] = 0;
    int levels = 8 * rows;
    for (int r = 0; r < rows; r++) {
        char *p = out[r];
        int row_from_bottom = rows - 1 - r;
        for (int c = 0; c < width; c++) {
            int l = spark_level(cols[c], lo, hi, levels);
            /* Level l fills l+1 eighths in total, counted from the bottom row up. */
            int eighths = l < 0 ? 0 : l + 1 - 8 * row_from_bottom;
            if (eighths < 0) eighths = 0;
            if (eighths > 8) eighths = 8;
            const char *g = spark_glyph(eighths, ascii);
            size_t len = strlen(g);
            memcpy(p, g, len);
            p += len;
        }
        *p = 0;
    }
    return 0;
}
