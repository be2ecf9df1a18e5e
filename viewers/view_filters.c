/* view_filters.c — view 3: the stem convolution's filters as RGB tiles (one weight = one
 * square block of pixels, so 3x3 and 7x7 kernels are visible), min-max normalized per filter or
 * over all filters together; below, a filmstrip with the same filters after every epoch. */
#include <stdio.h>
#include <stdlib.h>

#include "view.h"

#define GAP 6
#define LABEL_W 64

typedef struct Layout {
    int pw;             /* pixels per weight, "now" tiles */
    int tile;           /* now tile side */
    Grid now;
    int now_y;          /* top of the now grid */
    int film_title_y;
    int fpw, ftile;     /* filmstrip pixels per weight, tile side */
    Grid frame;         /* one frame of the strip */
    int film_y;         /* top of the first frame */
    int frame_h;
} Layout;

static Layout layout(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l;
    int k = vd->filt_k > 0 ? vd->filt_k : 3;
    int base = k <= 3 ? 8 : k <= 5 ? 5 : 4;
    l.pw = base * ui->zoom[VIEWER_FILTERS];
    l.tile = k * l.pw;
    l.now_y = d->line_h + 4;
    l.now = grid_make(width, l.tile, l.tile, GAP, vd->filters_id ? vd->filt_out : 0);
    l.film_title_y = l.now_y + grid_height(&l.now) + 8;
    l.film_y = l.film_title_y + d->line_h + 4;
    int fk = vd->film_k > 0 ? vd->film_k : k;
    l.fpw = l.pw / 2 > 0 ? l.pw / 2 : 1;
    l.ftile = fk * l.fpw;
    l.frame = grid_make(width - LABEL_W, l.ftile, l.ftile, 2, vd->film_out);
    l.frame_h = grid_height(&l.frame) + 4;
    return l;
}

int view_filters_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l = layout(d, vd, ui, width);
    return l.film_y + vd->film_len * l.frame_h + GAP;
}

int view_filters_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                      int part, SDL_Rect *out) {
    Layout l = layout(d, vd, ui, width);
    if (part == 0) {
        if (!vd->filters_id || item < 0 || item >= vd->filt_out) return 0;
        SDL_Rect c = grid_cell(&l.now, item);
        *out = (SDL_Rect){c.x, c.y + l.now_y, c.w, c.h};
        return 1;
    }
    int j = part - 1;
    if (!vd->film_id || j < 0 || j >= vd->film_len || item < 0 || item >= vd->film_out) return 0;
    SDL_Rect c = grid_cell(&l.frame, item);
    *out = (SDL_Rect){LABEL_W + c.x, l.film_y + j * l.frame_h + c.y, c.w, c.h};
    return 1;
}

static void draw_tiles(Draw *d, const float *w, int out, int in, int k, int per_filter,
                       const Grid *g, int x0, int y0, SDL_Rect clip) {
    uint8_t rgb[3 * 64 * 64];
    if (k > 64) return;
    for (int f = 0; f < out; f++) {
        SDL_Rect c = grid_cell(g, f);
        c.x += x0;
        c.y += y0;
        if (c.y + c.h < clip.y || c.y > clip.y + clip.h) continue;
        viewdata_filter_rgb(w, out, in, k, f, per_filter, rgb);
        draw_rgb(d, rgb, k, k, c);
    }
}

void view_filters_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area) {
    if (!vd->filters_id) {
        text_draw(d, d->font, area.x + GAP, area.y + GAP, COL_DIM, 0, "no filters yet");
        return;
    }
    Layout l = layout(d, vd, ui, area.w);
    int y0 = area.y - ui->scroll[VIEWER_FILTERS];
    char line[200];
    snprintf(line, sizeof line, "now (step %ld): %d filters %dx%d", vd->filters_step,
             vd->filt_out, vd->filt_k, vd->filt_k);
    text_draw(d, d->font, area.x + GAP, y0 + 2, COL_TEXT, 0, line);
    draw_tiles(d, vd->filters, vd->filt_out, vd->filt_in, vd->filt_k, ui->per_filter, &l.now,
               area.x, y0 + l.now_y, area);
    snprintf(line, sizeof line, "filmstrip: after each epoch (%d frame%s)", vd->film_len,
             vd->film_len == 1 ? "" : "s");
    text_draw(d, d->font, area.x + GAP, y0 + l.film_title_y, COL_TEXT, 0, line);
    size_t per = (size_t)vd->film_out * vd->film_in * vd->film_k * vd->film_k;
    for (int j = 0; j < vd->film_len; j++) {
        int fy = y0 + l.film_y + j * l.frame_h;
        if (fy + l.frame_h < area.y || fy > area.y + area.h) continue;
        if (vd->film_epoch[j] == 0) snprintf(line, sizeof line, "init");
        else snprintf(line, sizeof line, "ep %d", vd->film_epoch[j]);
        text_draw(d, d->font, area.x + GAP, fy + 2, COL_DIM, LABEL_W - GAP, line);
        draw_tiles(d, vd->film + (size_t)j * per, vd->film_out, vd->film_in, vd->film_k,
                   ui->per_filter, &l.frame, area.x + LABEL_W, fy, area);
    }
}

void view_filters_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n) {
    if (!vd->filters_id) {
        snprintf(buf, n, "waiting for the model");
        return;
    }
    snprintf(buf, n, "stem convolution %d\xc3\x97%d\xc3\x97%d\xc3\x97%d (out, RGB, k, k) \xc2\xb7 "
             "weights shown min \xe2\x86\x92 black, max \xe2\x86\x92 white %s (n)",
             vd->filt_out, vd->filt_in, vd->filt_k, vd->filt_k,
             ui->per_filter ? "per filter" : "over all filters together");
}
