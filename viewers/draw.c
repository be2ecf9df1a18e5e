/* draw.c — the drawing primitives the views share: boxes, images through one streaming
 * texture, the heat colour map, and grid layout.
 *
 * A failed primitive (a texture the renderer refuses) leaves a gap in the picture and nothing
 * else; the frame as a whole is checked where it starts (SDL_RenderClear) and where it is read
 * back (SDL_RenderReadPixels). */
#include <stdlib.h>
#include <string.h>

#include "view.h"

Status draw_init(Draw *d, SDL_Renderer *ren) {
    memset(d, 0, sizeof *d);
    d->ren = ren;
    if (SDL_SetRenderDrawBlendMode(ren, SDL_BLENDMODE_BLEND) != 0)
        return status_fail(ST_ERR_DEVICE, "viewer: SDL_SetRenderDrawBlendMode: %s", SDL_GetError());
    return ST_OK;
}

void draw_free(Draw *d) {
    if (!d) return;
    if (d->scratch) SDL_DestroyTexture(d->scratch);
    d->scratch = NULL;
    free(d->pixbuf);
    d->pixbuf = NULL;
    d->pixbuf_cap = 0;
}

void draw_fill(Draw *d, SDL_Rect r, SDL_Color c) {
    SDL_SetRenderDrawColor(d->ren, c.r, c.g, c.b, c.a);
    SDL_RenderFillRect(d->ren, &r);
}

void draw_frame(Draw *d, SDL_Rect r, SDL_Color c, int thickness) {
    SDL_SetRenderDrawColor(d->ren, c.r, c.g, c.b, c.a);
    for (int i = 0; i < thickness; i++) {
        SDL_Rect q = {r.x + i, r.y + i, r.w - 2 * i, r.h - 2 * i};
        if (q.w <= 0 || q.h <= 0) break;
        SDL_RenderDrawRect(d->ren, &q);
    }
}

/* The scratch texture is reused for every image; SDL flushes queued copies before a texture
 * is updated, so each image lands before the next overwrites it. */
void draw_rgb(Draw *d, const uint8_t *rgb, int w, int h, SDL_Rect dst) {
    if (w <= 0 || h <= 0) return;
    if (!d->scratch || d->scratch_w != w || d->scratch_h != h) {
        if (d->scratch) SDL_DestroyTexture(d->scratch);
        d->scratch = SDL_CreateTexture(d->ren, SDL_PIXELFORMAT_ARGB8888,
                                       SDL_TEXTUREACCESS_STREAMING, w, h);
        if (!d->scratch) return;   /* nothing to draw with; the frame shows the gap */
        SDL_SetTextureScaleMode(d->scratch, SDL_ScaleModeNearest);
        d->scratch_w = w;
        d->scratch_h = h;
    }
    size_t n = (size_t)w * (size_t)h;
    if (n > d->pixbuf_cap) {
        uint32_t *p = realloc(d->pixbuf, n * sizeof *p);
        if (!p) return;
        d->pixbuf = p;
        d->pixbuf_cap = n;
    }
    for (size_t i = 0; i < n; i++)
        d->pixbuf[i] = 0xff000000u | (uint32_t)rgb[3 * i] << 16 | (uint32_t)rgb[3 * i + 1] << 8 |
                       rgb[3 * i + 2];
    if (SDL_UpdateTexture(d->scratch, NULL, d->pixbuf, w * 4) != 0) return;
    SDL_RenderCopy(d->ren, d->scratch, NULL, &dst);
}

SDL_Color heat_color(double v) {
    /* Control points of a dark-to-bright map, perceptually ordered like viridis. */
    static const unsigned char stops[5][3] = {
        {24, 22, 52}, {40, 84, 138}, {30, 150, 138}, {122, 206, 80}, {250, 230, 40}};
    if (!(v > 0)) v = 0;
    if (v > 1) v = 1;
    double x = v * 4;
    int i = (int)x;
    if (i >= 4) i = 3;
    double f = x - i;
    SDL_Color c;
    c.r = (Uint8)(stops[i][0] + f * (stops[i + 1][0] - stops[i][0]) + 0.5);
    c.g = (Uint8)(stops[i][1] + f * (stops[i + 1][1] - stops[i][1]) + 0.5);
    c.b = (Uint8)(stops[i][2] + f * (stops[i + 1][2] - stops[i][2]) + 0.5);
    c.a = 255;
    return c;
}

Grid grid_make(int width, int cell_w, int cell_h, int gap, int count) {
    Grid g;
    g.cell_w = cell_w;
    g.cell_h = cell_h;
    g.gap = gap;
    g.cols = (width - gap) / (cell_w + gap);
    if (g.cols < 1) g.cols = 1;
    g.rows = count > 0 ? (count + g.cols - 1) / g.cols : 0;
    return g;
}

SDL_Rect grid_cell(const Grid *g, int i) {
    SDL_Rect r = {g->gap + (i % g->cols) * (g->cell_w + g->gap),
                  g->gap + (i / g->cols) * (g->cell_h + g->gap), g->cell_w, g->cell_h};
    return r;
}

int grid_height(const Grid *g) { return g->gap + g->rows * (g->cell_h + g->gap); }

const char *view_class_name(const ViewData *vd, int c, int coarse, char *buf, size_t n) {
    if (coarse) {
        if (vd->coarse_names && c >= 0 && c < vd->num_coarse) return vd->coarse_names[c];
    } else if (vd->class_names && c >= 0 && c < vd->num_classes) {
        return vd->class_names[c];
    }
    snprintf(buf, n, "%d", c);
    return buf;
}
