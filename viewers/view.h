/* view.h — what the viewer's files share (internal to viewers/): the drawing context, the UI
 * state, and one entry point set per view.
 *
 * A view draws a ViewData into a content rectangle for a ViewUi state; it never changes the
 * state and never touches the window. Layout is a pure function of (data, state, rectangle),
 * so drawing, hit-testing (clicks) and the tests' pixel checks all agree on where things are. */
#ifndef SHORTCUT_VIEW_H
#define SHORTCUT_VIEW_H

#include <SDL.h>
#include <SDL_ttf.h>

#include "viewdata.h"
#include "viewer.h"

/* Palette. */
#define COL_BG ((SDL_Color){28, 28, 32, 255})
#define COL_BAR ((SDL_Color){44, 44, 52, 255})
#define COL_TAB ((SDL_Color){70, 70, 84, 255})
#define COL_TEXT ((SDL_Color){222, 222, 222, 255})
#define COL_DIM ((SDL_Color){150, 150, 160, 255})
#define COL_ACCENT ((SDL_Color){255, 196, 64, 255})
#define COL_WRONG ((SDL_Color){255, 110, 100, 255})
#define COL_CROP ((SDL_Color){255, 220, 0, 255})
/* The cutout overlay: mask pixels become (1 - a) * pixel + a * tint. */
#define CUTOUT_TINT_R 255
#define CUTOUT_TINT_G 0
#define CUTOUT_TINT_B 255
#define CUTOUT_ALPHA 0.6f

#define ZOOM_MIN 1
#define ZOOM_MAX 12

typedef struct Draw {
    SDL_Renderer *ren;
    TTF_Font *font;           /* labels and bars */
    TTF_Font *small;          /* dense labels (confusion counts) */
    int line_h, small_h;      /* pixels per line */
    int ttf_inited;           /* this Draw holds one TTF_Init */
    SDL_Texture *scratch;     /* streaming ARGB8888 texture for images */
    int scratch_w, scratch_h;
    uint32_t *pixbuf;         /* staging for the scratch texture */
    size_t pixbuf_cap;
} Draw;

typedef struct ViewUi {
    ViewerTab tab;
    int zoom[VIEWER_TABS];
    int scroll[VIEWER_TABS];    /* pixels scrolled down */
    int show_original;          /* samples */
    int overlay;                /* samples: cutout mask + crop window */
    int true_class, pred_class; /* mistakes filter; -1: any */
    int coarse;                 /* mistakes + confusion: coarse classes (CIFAR-100) */
    int per_filter;             /* filters: min-max per filter (1) or over all filters (0) */
    int conf_counts;            /* confusion: colour by count (1) or by row fraction (0) */
    int hover_x, hover_y;       /* mouse, window pixels; -1: outside */
    int area_h;                 /* content height, pixels (the confusion matrix fits in it) */
} ViewUi;

/* ---- draw.c: images, boxes, colours, grids ---- */
Status draw_init(Draw *d, SDL_Renderer *ren);
void draw_free(Draw *d);
void draw_fill(Draw *d, SDL_Rect r, SDL_Color c);
void draw_frame(Draw *d, SDL_Rect r, SDL_Color c, int thickness);
/* An RGB image (w, h, HWC) scaled to dst with nearest-neighbour sampling. */
void draw_rgb(Draw *d, const uint8_t *rgb, int w, int h, SDL_Rect dst);
/* Heat colour for v in [0, 1] (dark blue -> teal -> yellow). */
SDL_Color heat_color(double v);

/* A grid of equal cells filling `width` from the left. */
typedef struct Grid {
    int cols, rows;
    int cell_w, cell_h, gap;
} Grid;
Grid grid_make(int width, int cell_w, int cell_h, int gap, int count);
/* Cell i's rectangle relative to the grid's top-left corner. */
SDL_Rect grid_cell(const Grid *g, int i);
int grid_height(const Grid *g);

/* ---- text.c: a real font through SDL2_ttf ---- */
Status text_open(Draw *d);   /* finds and opens the font (SHORTCUT_FONT, then DejaVu paths) */
void text_close(Draw *d);
/* Draw UTF-8 text with its top-left at (x, y); at most max_w pixels wide (cut with an
 * ellipsis), or unlimited when max_w <= 0. Returns the width drawn. */
int text_draw(Draw *d, TTF_Font *f, int x, int y, SDL_Color c, int max_w, const char *s);
int text_width(TTF_Font *f, const char *s);

/* ---- class names ---- */
const char *view_class_name(const ViewData *vd, int c, int coarse, char *buf, size_t n);

/* ---- the views: height of the content for a width (for scrolling), draw, item rectangles
 * relative to the content area's top-left (before scrolling) ---- */
int view_samples_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width);
void view_samples_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area);
int view_samples_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                      int part, SDL_Rect *out);
void view_samples_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n);

int view_mistakes_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width);
void view_mistakes_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area);
int view_mistakes_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                       int part, SDL_Rect *out);
void view_mistakes_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n);
/* The mistake (index into vd->wrong) drawn at content-relative (x, y), or -1. */
int view_mistakes_hit(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int x,
                      int y);

int view_filters_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width);
void view_filters_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area);
int view_filters_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int item,
                      int part, SDL_Rect *out);
void view_filters_info(const ViewData *vd, const ViewUi *ui, char *buf, size_t n);

int view_confusion_height(const Draw *d, const ViewData *vd, const ViewUi *ui, int width);
void view_confusion_draw(Draw *d, const ViewData *vd, const ViewUi *ui, SDL_Rect area);
int view_confusion_item(const Draw *d, const ViewData *vd, const ViewUi *ui, int width,
                        int item, int part, SDL_Rect *out);
void view_confusion_info(const ViewData *vd, const ViewUi *ui, SDL_Rect area, char *buf,
                         size_t n);
/* The matrix size shown (K, or the coarse count) and its counts (malloc'd K x K; NULL when
 * there is no evaluation). */
long *view_confusion_matrix(const ViewData *vd, int coarse, int *k);
/* The cell at content-relative (x, y): row/col, or 0 when outside the matrix. */
int view_confusion_hit(const Draw *d, const ViewData *vd, const ViewUi *ui, int width, int x,
                       int y, int *row, int *col);

#endif
