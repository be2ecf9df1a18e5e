/* png_io.c — PNG read/write with libpng's simplified API (png_image), which reports errors
 * through its message field instead of longjmp. */
#include "png_io.h"

#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Status png_write_argb(const char *path, const uint32_t *argb, int w, int h) {
    if (w <= 0 || h <= 0) return status_fail(ST_ERR_ARG, "%s: cannot save an empty image", path);
    size_t n = (size_t)w * (size_t)h;
    uint8_t *rgb = malloc(n * 3);
    if (!rgb) return status_fail(ST_ERR_OOM, "%s: out of memory for the PNG", path);
    for (size_t i = 0; i < n; i++) {
        uint32_t p = argb[i];
        rgb[3 * i] = (uint8_t)(p >> 16);
        rgb[3 * i + 1] = (uint8_t)(p >> 8);
        rgb[3 * i + 2] = (uint8_t)p;
    }
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        free(rgb);
        return status_fail(ST_ERR_ARG, "%s: path too long", path);
    }
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = PNG_FORMAT_RGB;
    int ok = png_image_write_to_file(&img, tmp, 0, rgb, w * 3, NULL);
    free(rgb);
    if (!ok) {
        Status st = status_fail(ST_ERR_IO, "%s: cannot write PNG: %s", tmp, img.message);
        png_image_free(&img);
        remove(tmp);
        return st;
    }
    if (rename(tmp, path) != 0) {
        Status st = status_fail(ST_ERR_IO, "%s: cannot rename to %s: %s", tmp, path,
                                strerror(errno));
        remove(tmp);
        return st;
    }
    return ST_OK;
}

Status png_read_rgb(const char *path, uint8_t **rgb, int *w, int *h) {
    *rgb = NULL;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path))
        return status_fail(ST_ERR_IO, "%s: cannot read PNG: %s", path, img.message);
    img.format = PNG_FORMAT_RGB;
    size_t bytes = PNG_IMAGE_SIZE(img);
    uint8_t *buf = malloc(bytes ? bytes : 1);
    if (!buf) {
        png_image_free(&img);
        return status_fail(ST_ERR_OOM, "%s: out of memory reading the PNG", path);
    }
    if (!png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        Status st = status_fail(ST_ERR_FORMAT, "%s: bad PNG: %s", path, img.message);
        free(buf);
        png_image_free(&img);
        return st;
    }
    *rgb = buf;
    *w = (int)img.width;
    *h = (int)img.height;
    return ST_OK;
}
