/* view_misclassified.c — view 2: the test images the last evaluation got wrong, most confident
 * first, each labelled "true →" / "predicted (p)"; filtered by true and/or predicted class
 * (fine classes, or CIFAR-100's coarse ones). */
#include <stdio.h>
#include <stdlib.h>

#include "view.h"

#define GAP 8
#define MIN_CELL_W 128

typedef struct Layout {
    int disp;
    int lines;
    Grid grid;
} Layout;

static Layout layout(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int count) {
    Layout l;
    l.disp = DATASET_SIDE * ui->zoom[VIEWER_MISTAKES];
    l.lines = ui->coarse && vd->num_coarse ? 3 : 2;
    int cell_w = l.disp > MIN_CELL_W ? l.disp : MIN_CELL_W;
    l.grid = grid_make(width, cell_w, l.disp + l.lines * d->line_h + 2, GAP, count);
    return l;
}

static int shown(const ViewData *vd, const ViewUi *ui, int *idx) {
    if (!vd->eval_id) return 0;
    return viewdata_mistakes_select(vd, ui->true_class, ui->pred_class,
                                    ui->coarse && vd->num_coarse, idx);
}

int view_mistakes_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l = layout(d, vd, ui, width, shown(vd, ui, NULL));
    return grid_height(&l.grid);
}

int view_mistakes_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                       int part, SDL_Rect *out) {
    int n = shown(vd, ui, NULL);
    if (item < 0 || item >= n || part != 0) return 0;
    Layout l = layout(d, vd, ui, width, n);
    SDL_Rect c = grid_cell(&l.grid, item);
    *out = (SDL_Rect){c.x, c.y, l.disp, l.disp};
    return 1;
}

int view_mistakes_hit(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int x,
                      int y) {
    if (!vd->eval_id || vd->wrong_count == 0) return -1;
    int *idx = malloc(sizeof(int) * (size_t)vd->wrong_count);
    if (!idx) return -1;
    int n = shown(vd, ui, idx);
    Layout l = layout(d, vd, ui, width, n);
    int hit = -1;
    int col = (x - l.grid.gap) / (l.grid.cell_w + l.grid.gap);
    int row = (y - l.grid.gap) / (l.grid.cell_h + l.grid.gap);
    if (x >= l.grid.gap && y >= l.grid.gap && col < l.grid.cols) {
        SDL_Rect c = grid_cell(&l.grid, row * l.grid.cols + col);
        int k = row * l.grid.cols + col;
        if (k < n && x < c.x + c.w && y < c.y + c.h) hit = idx[k];
    }
    free(idx);
    return hit;
}

void view_mistakes_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area) {
    if (!vd->eval_id) {
        text_draw(d, d->font, area.x + GAP, area.y + GAP, COL_DIM, 0,
                  "no evaluation yet: the end of an epoch (or an eval command) fills this view");
        return;
    }
    int *idx = malloc(sizeof(int) * (size_t)(vd->wrong_count ? vd->wrong_count : 1));
    if (!idx) return;
    int n = shown(vd, ui, idx);
    if (n == 0)
        text_draw(d, d->font, area.x + GAP, area.y + GAP, COL_DIM, 0,
                  vd->wrong_count ? "no mistakes pass this filter (a clears it)"
                                  : "no mistakes: every test image was classified correctly");
    Layout l = layout(d, vd, ui, area.w, n);
    int y0 = area.y - ui->scroll[VIEWER_MISTAKES];
    int coarse = ui->coarse && vd->num_coarse;
    uint8_t rgb[DATASET_PIXELS];
    for (int k = 0; k < n; k++) {
        SDL_Rect c = grid_cell(&l.grid, k);
        c.x += area.x;
        c.y += y0;
        if (c.y + c.h < area.y || c.y > area.y + area.h) continue;
        const ViewMistake *m = &vd->wrong[idx[k]];
        viewdata_chw_to_rgb(vd->wrong_images + (size_t)idx[k] * DATASET_PIXELS, DATASET_SIDE, rgb);
        draw_rgb(d, rgb, DATASET_SIDE, DATASET_SIDE, (SDL_Rect){c.x, c.y, l.disp, l.disp});
        char a[16], b[16], line[160];
        int ty = c.y + l.disp + 1;
        snprintf(line, sizeof line, "%s \xe2\x86\x92", view_class_name(vd, m->label, 0, a, sizeof a));
        text_draw(d, d->font, c.x, ty, COL_TEXT, c.w, line);
        snprintf(line, sizeof line, "%s (%.2f)", view_class_name(vd, m->predicted, 0, b, sizeof b),
                 m->probability);
        text_draw(d, d->font, c.x, ty + d->line_h, COL_WRONG, c.w, line);
        if (coarse) {
            int ct = vd->coarse_of[m->label], cp = vd->coarse_of[m->predicted];
            snprintf(line, sizeof line, "%s \xe2\x86\x92 %s", view_class_name(vd, ct, 1, a, sizeof a),
                     view_class_name(vd, cp, 1, b, sizeof b));
            text_draw(d, d->small, c.x, ty + 2 * d->line_h, ct == cp ? COL_DIM : COL_ACCENT, c.w,
                      line);
        }
    }
    free(idx);
}

void view_mistakes_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n) {
    if (!vd->eval_id) {
        snprintf(buf, n, "waiting for an evaluation");
        return;
    }
    int coarse = ui->coarse && vd->num_coarse;
    char a[16], b[16];
    const char *t = ui->true_class >= 0 ? view_class_name(vd, ui->true_class, coarse, a, sizeof a) : "any";
    const char *p = ui->pred_class >= 0 ? view_class_name(vd, ui->pred_class, coarse, b, sizeof b) : "any";
    snprintf(buf, n, "%d shown of %d wrong in %d test images (%.1f%% correct, epoch %d) \xc2\xb7 "
             "%s %s \xc2\xb7 predicted %s \xc2\xb7 most confident first",
             shown(vd, ui, NULL), vd->wrong_count, vd->eval_count, 100.0 * vd->eval_accuracy,
             vd->eval_epoch, coarse ? "true superclass" : "true", t, p);
}
