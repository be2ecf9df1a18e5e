/* view_confusion.c — view 4: the confusion matrix of the last evaluation as a heat map (rows:
 * true class, columns: predicted), coloured by each row's fraction or by count; CIFAR-100 can
 * fold to its 20 coarse classes. The viewer turns a click on a cell into a filter of view 2. */
#include <stdio.h>
#include <stdlib.h>

#include "view.h"

#define GAP 8

typedef struct Layout {
    int k;
    int label_w;        /* row labels, left of the matrix */
    int header_h;       /* column numbers, above */
    int cell;
    int x0, y0;         /* matrix top-left, content-relative */
    int names;          /* 1: row labels carry names */
} Layout;

long *view_confusion_matrix(const ViewData *vd, int coarse, int *k) {
    *k = 0;
    if (!vd->eval_id || vd->eval_classes <= 0) return NULL;
    int K = vd->eval_classes;
    int fold = coarse && vd->num_coarse > 0;
    int n = fold ? vd->num_coarse : K;
    long *m = calloc((size_t)n * (size_t)n, sizeof(long));
    if (!m) return NULL;
    for (int r = 0; r < K; r++)
        for (int c = 0; c < K; c++) {
            int rr = fold ? vd->coarse_of[r] : r, cc = fold ? vd->coarse_of[c] : c;
            if (rr < 0 || cc < 0 || rr >= n || cc >= n) continue;
            m[(size_t)rr * n + cc] += vd->confusion[(size_t)r * K + c];
        }
    *k = n;
    return m;
}

static Layout layout(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l = {0};
    int fold = ui->coarse && vd->num_coarse > 0;
    l.k = vd->eval_id ? (fold ? vd->num_coarse : vd->eval_classes) : 0;
    if (l.k <= 0) return l;
    l.names = l.k <= 20;
    char buf[16];
    l.label_w = text_width(d->font, "000") + GAP;
    if (l.names)
        for (int c = 0; c < l.k; c++) {
            char line[64];
            snprintf(line, sizeof line, "%d %s", c, view_class_name(vd, c, fold, buf, sizeof buf));
            int w = text_width(d->font, line) + GAP;
            if (w > l.label_w) l.label_w = w;
        }
    l.header_h = d->line_h + 4;
    int cell = (width - l.label_w - 2 * GAP) / l.k;
    int cap = 16 * ui->zoom[VIEWER_CONFUSION];
    if (cell > cap) cell = cap;
    int fit = (ui->area_h - l.header_h - 3 * GAP - d->line_h) / l.k;   /* no scrolling needed */
    if (ui->area_h > 0 && cell > fit) cell = fit;
    if (cell < 3) cell = 3;
    l.cell = cell;
    l.x0 = GAP + l.label_w;
    l.y0 = GAP + l.header_h;
    return l;
}

int view_confusion_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width) {
    Layout l = layout(d, vd, ui, width);
    return l.y0 + l.k * l.cell + 2 * GAP + d->line_h;
}

int view_confusion_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                        int part, SDL_Rect *out) {
    Layout l = layout(d, vd, ui, width);
    if (l.k <= 0 || part != 0 || item < 0 || item >= l.k * l.k) return 0;
    *out = (SDL_Rect){l.x0 + (item % l.k) * l.cell, l.y0 + (item / l.k) * l.cell, l.cell, l.cell};
    return 1;
}

int view_confusion_hit(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int x,
                       int y, int *row, int *col) {
    Layout l = layout(d, vd, ui, width);
    if (l.k <= 0 || x < l.x0 || y < l.y0) return 0;
    int c = (x - l.x0) / l.cell, r = (y - l.y0) / l.cell;
    if (c >= l.k || r >= l.k) return 0;
    *row = r;
    *col = c;
    return 1;
}

/* Colour value of a cell: the fraction of its row, or its count over the largest count. */
static double cell_value(const long *m, int k, int r, int c, int counts, long max) {
    long v = m[(size_t)r * k + c];
    if (counts) return max > 0 ? (double)v / (double)max : 0;
    long row = 0;
    for (int j = 0; j < k; j++) row += m[(size_t)r * k + j];
    return row > 0 ? (double)v / (double)row : 0;
}

void view_confusion_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area) {
    int k;
    long *m = view_confusion_matrix(vd, ui->coarse, &k);
    if (!m) {
        text_draw(d, d->font, area.x + GAP, area.y + GAP, COL_DIM, 0,
                  "no evaluation yet: the end of an epoch (or an eval command) fills this view");
        return;
    }
    Layout l = layout(d, vd, ui, area.w);
    int ox = area.x + l.x0, oy = area.y - ui->scroll[VIEWER_CONFUSION] + l.y0;
    int fold = ui->coarse && vd->num_coarse > 0;
    long max = 0;
    for (int i = 0; i < k * k; i++)
        if (m[i] > max) max = m[i];
    char buf[64], nb[16];
    /* column numbers (every one when they fit, else every tenth) */
    int step = l.cell >= text_width(d->small, "00") + 2 ? 1 : 10;
    for (int c = 0; c < k; c += step) {
        snprintf(buf, sizeof buf, "%d", c);
        int w = text_width(d->small, buf);
        text_draw(d, d->small, ox + c * l.cell + (l.cell - w) / 2, oy - l.header_h + 2, COL_DIM, 0, buf);
    }
    for (int r = 0; r < k; r++) {
        int ry = oy + r * l.cell;
        if (l.names) {
            snprintf(buf, sizeof buf, "%d %s", r, view_class_name(vd, r, fold, nb, sizeof nb));
            text_draw(d, d->font, area.x + GAP, ry + (l.cell - d->line_h) / 2, COL_TEXT,
                      l.label_w - GAP, buf);
        } else if (r % 10 == 0) {
            snprintf(buf, sizeof buf, "%d", r);
            text_draw(d, d->small, area.x + GAP, ry, COL_DIM, 0, buf);
        }
        for (int c = 0; c < k; c++) {
            SDL_Rect cell = {ox + c * l.cell, ry, l.cell, l.cell};
            SDL_Color col = heat_color(cell_value(m, k, r, c, ui->conf_counts, max));
            draw_fill(d, cell, col);
            if (l.cell >= 28) {
                snprintf(buf, sizeof buf, "%ld", m[(size_t)r * k + c]);
                int w = text_width(d->small, buf);
                int bright = col.r * 3 + col.g * 6 + col.b > 1200;
                SDL_Color tc = bright ? (SDL_Color){0, 0, 0, 255} : (SDL_Color){235, 235, 235, 255};
                text_draw(d, d->small, cell.x + (l.cell - w) / 2, cell.y + (l.cell - d->small_h) / 2,
                          tc, 0, buf);
            }
        }
    }
    /* outline the diagonal so the correct answers read as a line */
    if (l.cell >= 6)
        for (int i = 0; i < k; i++)
            draw_frame(d, (SDL_Rect){ox + i * l.cell, oy + i * l.cell, l.cell, l.cell},
                       (SDL_Color){255, 255, 255, 90}, 1);
    text_draw(d, d->font, ox, oy + k * l.cell + GAP, COL_DIM, 0,
              "rows: true class \xc2\xb7 columns: predicted \xc2\xb7 click a cell to see its "
              "images in view 2");
    free(m);
}

void view_confusion_info(const ViewData *vd, const ViewUi *ui, SDL_Rect area, char *buf,
                         size_t n) {
    (void)area;
    if (!vd->eval_id) {
        snprintf(buf, n, "waiting for an evaluation");
        return;
    }
    int fold = ui->coarse && vd->num_coarse > 0;
    snprintf(buf, n, "%d test images, %.1f%% correct (epoch %d) \xc2\xb7 colour: %s (n)%s",
             vd->eval_count, 100.0 * vd->eval_accuracy, vd->eval_epoch,
             ui->conf_counts ? "count" : "fraction of the true class",
             vd->num_coarse ? (fold ? " \xc2\xb7 coarse classes (c)" : " \xc2\xb7 fine classes (c: coarse)")
                            : "");
}
