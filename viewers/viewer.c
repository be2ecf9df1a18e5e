/* viewer.c — the window: tabs, bars, key and mouse handling, data refresh, PNG saving.
 *
 * Owns the SDL window (or an offscreen surface), the UI state and the ViewData being shown.
 * Events become ViewerActions through the key table below; actions change the state and mark
 * the picture dirty; a dirty picture is redrawn once per poll. A live viewer asks its
 * ViewExchange for the current tab's part at most every REQUEST_INTERVAL_S and copies out what
 * changed; a frozen viewer asks for nothing. */
#include "viewer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "png_io.h"
#include "view.h"

#define REQUEST_INTERVAL_S 0.25
#define WINDOW_W 1200
#define WINDOW_H 800

struct Viewer {
    ViewExchange *vx;           /* live source; NULL for fixed data */
    ViewData data;              /* what is shown */
    SDL_Window *win;
    SDL_Renderer *ren;
    SDL_Surface *surface;       /* offscreen target; NULL with a window */
    int video_inited;
    Draw draw;
    ViewUi ui;
    int frozen;
    int dirty;
    int closed;
    int samples_zoom_set;       /* the first batch picked a zoom for its image size */
    double last_request_s;
    char message[256];
    char save_dir[1024];
    int tab_x[VIEWER_TABS + 1]; /* tab bar: tab i spans [tab_x[i], tab_x[i + 1]) */
};

static const char *const TAB_NAMES[VIEWER_TABS] = {"Augmented samples", "Misclassified",
                                                   "First-layer filters", "Confusion matrix"};
static const char *const TAB_FILES[VIEWER_TABS] = {"samples", "misclassified", "filters",
                                                   "confusion"};
static const char *const TAB_HELP[VIEWER_TABS] = {
    "o original \xc2\xb7 m mask + crop \xc2\xb7 +/- zoom \xc2\xb7 wheel scroll \xc2\xb7 "
    "space freeze \xc2\xb7 s save PNG \xc2\xb7 q close",
    "t/T true class \xc2\xb7 p/P predicted \xc2\xb7 a all \xc2\xb7 c coarse \xc2\xb7 click: same "
    "mix-up \xc2\xb7 +/- zoom \xc2\xb7 s save PNG \xc2\xb7 q close",
    "n per filter / all filters \xc2\xb7 +/- zoom \xc2\xb7 wheel scroll \xc2\xb7 space freeze "
    "\xc2\xb7 s save PNG \xc2\xb7 q close",
    "click a cell: its images \xc2\xb7 n count / fraction \xc2\xb7 c coarse \xc2\xb7 +/- zoom "
    "\xc2\xb7 s save PNG \xc2\xb7 q close",
};

/* ---- key bindings ---- */

typedef struct KeyBinding {
    SDL_Keycode key;
    int shift;                  /* -1 either, 0 without, 1 with */
    ViewerAction action;
} KeyBinding;

static const KeyBinding KEYS[] = {
    {SDLK_1, -1, VA_TAB_SAMPLES},     {SDLK_2, -1, VA_TAB_MISTAKES},
    {SDLK_3, -1, VA_TAB_FILTERS},     {SDLK_4, -1, VA_TAB_CONFUSION},
    {SDLK_KP_1, -1, VA_TAB_SAMPLES},  {SDLK_KP_2, -1, VA_TAB_MISTAKES},
    {SDLK_KP_3, -1, VA_TAB_FILTERS},  {SDLK_KP_4, -1, VA_TAB_CONFUSION},
    {SDLK_TAB, -1, VA_NEXT_TAB},
    {SDLK_PLUS, -1, VA_ZOOM_IN},      {SDLK_EQUALS, -1, VA_ZOOM_IN},
    {SDLK_KP_PLUS, -1, VA_ZOOM_IN},   {SDLK_MINUS, -1, VA_ZOOM_OUT},
    {SDLK_KP_MINUS, -1, VA_ZOOM_OUT},
    {SDLK_UP, -1, VA_SCROLL_UP},      {SDLK_DOWN, -1, VA_SCROLL_DOWN},
    {SDLK_PAGEUP, -1, VA_PAGE_UP},    {SDLK_PAGEDOWN, -1, VA_PAGE_DOWN},
    {SDLK_HOME, -1, VA_HOME},
    {SDLK_o, -1, VA_TOGGLE_ORIGINAL}, {SDLK_m, -1, VA_TOGGLE_OVERLAY},
    {SDLK_t, 0, VA_NEXT_TRUE},        {SDLK_t, 1, VA_PREV_TRUE},
    {SDLK_p, 0, VA_NEXT_PRED},        {SDLK_p, 1, VA_PREV_PRED},
    {SDLK_a, -1, VA_CLEAR_FILTER},    {SDLK_c, -1, VA_TOGGLE_COARSE},
    {SDLK_n, -1, VA_TOGGLE_NORMALIZE},
    {SDLK_SPACE, -1, VA_TOGGLE_FREEZE},
    {SDLK_s, -1, VA_SAVE_PNG},        {SDLK_F2, -1, VA_SAVE_PNG},
    {SDLK_q, -1, VA_CLOSE},           {SDLK_ESCAPE, -1, VA_CLOSE},
};

static ViewerAction key_action(SDL_Keycode key, Uint16 mod) {
    int shift = (mod & KMOD_SHIFT) != 0;
    for (size_t i = 0; i < sizeof KEYS / sizeof *KEYS; i++)
        if (KEYS[i].key == key && (KEYS[i].shift < 0 || KEYS[i].shift == shift))
            return KEYS[i].action;
    return VA_NONE;
}

/* ---- helpers ---- */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int viewer_display_available(void) {
    const char *d = getenv("DISPLAY"), *w = getenv("WAYLAND_DISPLAY"), *v = getenv("SDL_VIDEODRIVER");
    return (d && *d) || (w && *w) || (v && *v);
}

static void output_size(const Viewer *v, int *w, int *h) {
    if (v->surface) {
        *w = v->surface->w;
        *h = v->surface->h;
    } else if (SDL_GetRendererOutputSize(v->ren, w, h) != 0) {
        *w = WINDOW_W;
        *h = WINDOW_H;
    }
}

static int bar_h(const Viewer *v) { return v->draw.line_h + 8; }

static SDL_Rect content_area(const Viewer *v) {
    int w, h;
    output_size(v, &w, &h);
    int top = 2 * bar_h(v);
    SDL_Rect r = {0, top, w, h - top - bar_h(v)};
    if (r.h < 1) r.h = 1;
    return r;
}

static int content_height(const Viewer *v, int width) {
    const Draw *d = &v->draw;
    switch (v->ui.tab) {
    case VIEWER_SAMPLES: return view_samples_height(d, &v->data, &v->ui, width);
    case VIEWER_MISTAKES: return view_mistakes_height(d, &v->data, &v->ui, width);
    case VIEWER_FILTERS: return view_filters_height(d, &v->data, &v->ui, width);
    case VIEWER_CONFUSION: return view_confusion_height(d, &v->data, &v->ui, width);
    default: return 0;
    }
}

static void clamp_scroll(Viewer *v) {
    SDL_Rect a = content_area(v);
    v->ui.area_h = a.h;
    int max = content_height(v, a.w) - a.h;
    int *s = &v->ui.scroll[v->ui.tab];
    if (*s > max) *s = max;
    if (*s < 0) *s = 0;
}

static unsigned tab_wants(ViewerTab t) {
    switch (t) {
    case VIEWER_SAMPLES: return VIEW_WANT_SAMPLES;
    case VIEWER_FILTERS: return VIEW_WANT_FILTERS;
    default: return VIEW_WANT_EVAL;
    }
}

static void set_message(Viewer *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_message(Viewer *v, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->message, sizeof v->message, fmt, ap);
    va_end(ap);
    v->dirty = 1;
}

static void data_arrived(Viewer *v) {
    if (!v->samples_zoom_set && v->data.samples_id && v->data.sample_side > 0) {
        int z = 96 / v->data.sample_side;
        v->ui.zoom[VIEWER_SAMPLES] = z < 1 ? 1 : z;
        v->samples_zoom_set = 1;
    }
    v->dirty = 1;
}

/* ---- construction ---- */

static Viewer *viewer_new(void) {
    Viewer *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    viewdata_init(&v->data);
    v->ui.tab = VIEWER_SAMPLES;
    v->ui.zoom[VIEWER_SAMPLES] = 3;
    v->ui.zoom[VIEWER_MISTAKES] = 3;
    v->ui.zoom[VIEWER_FILTERS] = 3;
    v->ui.zoom[VIEWER_CONFUSION] = 4;
    v->ui.show_original = 1;
    v->ui.overlay = 1;
    v->ui.true_class = v->ui.pred_class = -1;
    v->ui.per_filter = 1;
    v->ui.hover_x = v->ui.hover_y = -1;
    v->last_request_s = -1e30;
    v->dirty = 1;
    snprintf(v->save_dir, sizeof v->save_dir, ".");
    return v;
}

static Status finish_setup(Viewer *v) {
    TRY(draw_init(&v->draw, v->ren));
    TRY(text_open(&v->draw));
    return ST_OK;
}

static Status open_window(Viewer *v) {
    if (!viewer_display_available())
        return status_fail(ST_ERR_DEVICE, "viewer: no display (neither DISPLAY nor "
                                          "WAYLAND_DISPLAY is set); training goes on without it");
    /* The workbench and `shortcut train` handle Ctrl-C themselves. */
    SDL_SetHint(SDL_HINT_NO_SIGNAL_HANDLERS, "1");
    SDL_SetMainReady();
    if (SDL_InitSubSystem(SDL_INIT_VIDEO) != 0)
        return status_fail(ST_ERR_DEVICE, "viewer: cannot open the display: %s", SDL_GetError());
    v->video_inited = 1;
    v->win = SDL_CreateWindow("shortcut viewer", SDL_WINDOWPOS_UNDEFINED, SDL_WINDOWPOS_UNDEFINED,
                              WINDOW_W, WINDOW_H, SDL_WINDOW_RESIZABLE);
    if (!v->win) return status_fail(ST_ERR_DEVICE, "viewer: cannot create a window: %s", SDL_GetError());
    v->ren = SDL_CreateRenderer(v->win, -1, 0);
    if (!v->ren) v->ren = SDL_CreateRenderer(v->win, -1, SDL_RENDERER_SOFTWARE);
    if (!v->ren) return status_fail(ST_ERR_DEVICE, "viewer: cannot create a renderer: %s", SDL_GetError());
    return finish_setup(v);
}

Status viewer_open(Session *s, Viewer **out) {
    *out = NULL;
    ViewExchange *vx = session_view_exchange(s);
    if (!vx) return status_fail(ST_ERR_ARG, "viewer: no running session to show");
    if (!viewer_display_available())
        return status_fail(ST_ERR_DEVICE, "viewer: no display (neither DISPLAY nor "
                                          "WAYLAND_DISPLAY is set); training goes on without it");
    Viewer *v = viewer_new();
    if (!v) return status_fail(ST_ERR_OOM, "viewer: out of memory");
    v->vx = vx;
    Status st = open_window(v);
    if (st != ST_OK) {
        viewer_close(v);
        return st;
    }
    Snapshot *snap = malloc(sizeof *snap);
    if (snap) {
        session_snapshot(s, snap);
        if (snap->run_dir[0]) viewer_set_save_dir(v, snap->run_dir);
        free(snap);
    }
    if (view_exchange_copy(vx, &v->data) > 0) data_arrived(v);
    *out = v;
    return ST_OK;
}

Status viewer_toggle(Viewer **slot, Session *s) {
    if (*slot) {
        viewer_close(*slot);
        *slot = NULL;
        return ST_OK;
    }
    return viewer_open(s, slot);
}

int viewer_poll_slot(Viewer **slot) {
    if (!*slot) return 0;
    if (viewer_poll(*slot)) return 1;
    viewer_close(*slot);
    *slot = NULL;
    return 0;
}

Status viewer_open_data(const ViewData *vd, Viewer **out) {
    *out = NULL;
    Viewer *v = viewer_new();
    if (!v) return status_fail(ST_ERR_OOM, "viewer: out of memory");
    Status st = open_window(v);
    if (st == ST_OK) st = viewer_set_data(v, vd);
    if (st != ST_OK) {
        viewer_close(v);
        return st;
    }
    *out = v;
    return ST_OK;
}

Status viewer_create_offscreen(const ViewData *vd, int w, int h, Viewer **out) {
    *out = NULL;
    Viewer *v = viewer_new();
    if (!v) return status_fail(ST_ERR_OOM, "viewer: out of memory");
    Status st = ST_OK;
    v->surface = SDL_CreateRGBSurfaceWithFormat(0, w, h, 32, SDL_PIXELFORMAT_ARGB8888);
    if (!v->surface) st = status_fail(ST_ERR_OOM, "viewer: cannot create a %dx%d surface: %s", w, h,
                                      SDL_GetError());
    if (st == ST_OK) {
        v->ren = SDL_CreateSoftwareRenderer(v->surface);
        if (!v->ren) st = status_fail(ST_ERR_DEVICE, "viewer: software renderer: %s", SDL_GetError());
    }
    if (st == ST_OK) st = finish_setup(v);
    if (st == ST_OK && vd) st = viewer_set_data(v, vd);
    if (st != ST_OK) {
        viewer_close(v);
        return st;
    }
    *out = v;
    return ST_OK;
}

void viewer_close(Viewer *v) {
    if (!v) return;
    text_close(&v->draw);
    draw_free(&v->draw);
    if (v->ren) SDL_DestroyRenderer(v->ren);
    if (v->win) SDL_DestroyWindow(v->win);
    if (v->surface) SDL_FreeSurface(v->surface);
    if (v->video_inited) SDL_QuitSubSystem(SDL_INIT_VIDEO);
    viewdata_free(&v->data);
    free(v);
}

Status viewer_set_data(Viewer *v, const ViewData *vd) {
    TRY(viewdata_copy(&v->data, vd));
    data_arrived(v);
    return ST_OK;
}

void viewer_set_save_dir(Viewer *v, const char *dir) {
    snprintf(v->save_dir, sizeof v->save_dir, "%s", dir && *dir ? dir : ".");
}

/* ---- drawing ---- */

static void draw_bars(Viewer *v, int w, int h) {
    Draw *d = &v->draw;
    int bh = bar_h(v);
    draw_fill(d, (SDL_Rect){0, 0, w, bh}, COL_BAR);
    int x = 4;
    for (int i = 0; i < VIEWER_TABS; i++) {
        char label[64];
        snprintf(label, sizeof label, "%d %s", i + 1, TAB_NAMES[i]);
        int tw = text_width(d->font, label) + 16;
        v->tab_x[i] = x;
        if ((int)v->ui.tab == i) draw_fill(d, (SDL_Rect){x, 2, tw, bh - 2}, COL_TAB);
        text_draw(d, d->font, x + 8, 4, (int)v->ui.tab == i ? COL_ACCENT : COL_TEXT, 0, label);
        x += tw + 2;
    }
    v->tab_x[VIEWER_TABS] = x;

    const ViewData *vd = &v->data;
    char right[256];
    if (vd->seq || vd->samples_id || vd->eval_id || vd->filters_id) {
        char acc[32] = "";
        if (vd->test_acc >= 0) snprintf(acc, sizeof acc, " \xc2\xb7 test %.1f%%", 100.0 * vd->test_acc);
        snprintf(right, sizeof right, "%s%s \xc2\xb7 epoch %d/%d \xc2\xb7 step %ld%s", v->frozen ? "FROZEN \xc2\xb7 " : "",
                 vd->name[0] ? vd->name : "run", vd->epoch, vd->epochs, vd->global_step, acc);
    } else {
        snprintf(right, sizeof right, "%swaiting for data from the training thread",
                 v->frozen ? "FROZEN \xc2\xb7 " : "");
    }
    int rw = text_width(d->font, right);
    if (w - rw - 8 > x) text_draw(d, d->font, w - rw - 8, 4, v->frozen ? COL_ACCENT : COL_DIM, 0, right);

    /* info bar */
    char info[512];
    SDL_Rect area = content_area(v);
    switch (v->ui.tab) {
    case VIEWER_SAMPLES: view_samples_info(vd, &v->ui, info, sizeof info); break;
    case VIEWER_MISTAKES: view_mistakes_info(vd, &v->ui, info, sizeof info); break;
    case VIEWER_FILTERS: view_filters_info(vd, &v->ui, info, sizeof info); break;
    default: view_confusion_info(vd, &v->ui, area, info, sizeof info); break;
    }
    if (v->ui.tab == VIEWER_CONFUSION && v->ui.hover_y >= area.y) {
        int r, c, k;
        if (view_confusion_hit(d, vd, &v->ui, area.w, v->ui.hover_x - area.x,
                               v->ui.hover_y - area.y + v->ui.scroll[VIEWER_CONFUSION], &r, &c)) {
            long *m = view_confusion_matrix(vd, v->ui.coarse, &k);
            if (m) {
                long row = 0;
                for (int j = 0; j < k; j++) row += m[(size_t)r * k + j];
                char a[16], b[16];
                int fold = v->ui.coarse && vd->num_coarse > 0;
                snprintf(info, sizeof info, "true %s \xe2\x86\x92 predicted %s: %ld images (%.1f%% of %s)",
                         view_class_name(vd, r, fold, a, sizeof a),
                         view_class_name(vd, c, fold, b, sizeof b), m[(size_t)r * k + c],
                         row ? 100.0 * m[(size_t)r * k + c] / row : 0.0, a);
                free(m);
            }
        }
    }
    draw_fill(d, (SDL_Rect){0, bh, w, bh}, (SDL_Color){36, 36, 42, 255});
    text_draw(d, d->font, 8, bh + 4, COL_TEXT, w - 16, info);

    /* help + message */
    draw_fill(d, (SDL_Rect){0, h - bh, w, bh}, COL_BAR);
    int mw = v->message[0] ? text_width(d->font, v->message) + 16 : 0;
    text_draw(d, d->font, 8, h - bh + 4, COL_DIM, w - 16 - mw, TAB_HELP[v->ui.tab]);
    if (mw) text_draw(d, d->font, w - mw + 8, h - bh + 4, COL_ACCENT, mw, v->message);
}

Status viewer_render(Viewer *v) {
    int w, h;
    output_size(v, &w, &h);
    clamp_scroll(v);
    SDL_SetRenderDrawColor(v->ren, COL_BG.r, COL_BG.g, COL_BG.b, 255);
    if (SDL_RenderClear(v->ren) != 0)
        return status_fail(ST_ERR_DEVICE, "viewer: SDL_RenderClear: %s", SDL_GetError());
    SDL_Rect area = content_area(v);
    SDL_RenderSetClipRect(v->ren, &area);
    switch (v->ui.tab) {
    case VIEWER_SAMPLES: view_samples_draw(&v->draw, &v->data, &v->ui, area); break;
    case VIEWER_MISTAKES: view_mistakes_draw(&v->draw, &v->data, &v->ui, area); break;
    case VIEWER_FILTERS: view_filters_draw(&v->draw, &v->data, &v->ui, area); break;
    default: view_confusion_draw(&v->draw, &v->data, &v->ui, area); break;
    }
    SDL_RenderSetClipRect(v->ren, NULL);
    draw_bars(v, w, h);
    v->dirty = 0;
    return ST_OK;
}

Status viewer_read_pixels(Viewer *v, uint32_t **argb, int *width, int *height) {
    int w, h;
    output_size(v, &w, &h);
    uint32_t *buf = malloc((size_t)w * (size_t)h * 4);
    if (!buf) return status_fail(ST_ERR_OOM, "viewer: out of memory reading pixels");
    if (SDL_RenderReadPixels(v->ren, NULL, SDL_PIXELFORMAT_ARGB8888, buf, w * 4) != 0) {
        free(buf);
        return status_fail(ST_ERR_DEVICE, "viewer: cannot read the picture back: %s", SDL_GetError());
    }
    *argb = buf;
    *width = w;
    *height = h;
    return ST_OK;
}

Status viewer_save_png(Viewer *v, const char *path) {
    TRY(viewer_render(v));
    uint32_t *px;
    int w, h;
    TRY(viewer_read_pixels(v, &px, &w, &h));
    Status st = png_write_argb(path, px, w, h);
    free(px);
    if (v->win) SDL_RenderPresent(v->ren);
    return st;
}

static void save_numbered(Viewer *v) {
    char path[1200];
    struct stat sb;
    for (int n = 1; n < 10000; n++) {
        snprintf(path, sizeof path, "%s/shortcut-%s-%d.png", v->save_dir, TAB_FILES[v->ui.tab], n);
        if (stat(path, &sb) != 0) break;
    }
    Status st = viewer_save_png(v, path);
    if (st == ST_OK) set_message(v, "saved %s", path);
    else set_message(v, "%s", status_message());
}

/* ---- actions ---- */

static int class_count(const Viewer *v) {
    return v->ui.coarse && v->data.num_coarse ? v->data.num_coarse : v->data.num_classes;
}

static int cycle(int cur, int n, int dir) {
    if (n <= 0) return -1;
    int next = cur + dir;            /* -1 is "any", between the last and the first class */
    if (next >= n) next = -1;
    if (next < -1) next = n - 1;
    return next;
}

static void set_tab(Viewer *v, ViewerTab t) {
    if (v->ui.tab != t) v->last_request_s = -1e30;   /* ask for the new tab's data now */
    v->ui.tab = t;
    v->dirty = 1;
}

void viewer_act(Viewer *v, ViewerAction a) {
    ViewUi *ui = &v->ui;
    int page = content_area(v).h - v->draw.line_h;
    int *zoom = &ui->zoom[ui->tab];
    switch (a) {
    case VA_NONE: return;
    case VA_TAB_SAMPLES: set_tab(v, VIEWER_SAMPLES); break;
    case VA_TAB_MISTAKES: set_tab(v, VIEWER_MISTAKES); break;
    case VA_TAB_FILTERS: set_tab(v, VIEWER_FILTERS); break;
    case VA_TAB_CONFUSION: set_tab(v, VIEWER_CONFUSION); break;
    case VA_NEXT_TAB: set_tab(v, (ViewerTab)((ui->tab + 1) % VIEWER_TABS)); break;
    case VA_ZOOM_IN: if (*zoom < ZOOM_MAX) (*zoom)++; break;
    case VA_ZOOM_OUT: if (*zoom > ZOOM_MIN) (*zoom)--; break;
    case VA_SCROLL_UP: ui->scroll[ui->tab] -= 3 * v->draw.line_h; break;
    case VA_SCROLL_DOWN: ui->scroll[ui->tab] += 3 * v->draw.line_h; break;
    case VA_PAGE_UP: ui->scroll[ui->tab] -= page; break;
    case VA_PAGE_DOWN: ui->scroll[ui->tab] += page; break;
    case VA_HOME: ui->scroll[ui->tab] = 0; break;
    case VA_TOGGLE_ORIGINAL: ui->show_original = !ui->show_original; break;
    case VA_TOGGLE_OVERLAY: ui->overlay = !ui->overlay; break;
    case VA_NEXT_TRUE: ui->true_class = cycle(ui->true_class, class_count(v), 1); break;
    case VA_PREV_TRUE: ui->true_class = cycle(ui->true_class, class_count(v), -1); break;
    case VA_NEXT_PRED: ui->pred_class = cycle(ui->pred_class, class_count(v), 1); break;
    case VA_PREV_PRED: ui->pred_class = cycle(ui->pred_class, class_count(v), -1); break;
    case VA_CLEAR_FILTER: ui->true_class = ui->pred_class = -1; break;
    case VA_TOGGLE_COARSE:
        if (!v->data.num_coarse) {
            set_message(v, "coarse classes exist for CIFAR-100 only");
            return;
        }
        ui->coarse = !ui->coarse;
        ui->true_class = ui->pred_class = -1;   /* the class numbers mean something else now */
        break;
    case VA_TOGGLE_NORMALIZE:
        if (ui->tab == VIEWER_CONFUSION) ui->conf_counts = !ui->conf_counts;
        else ui->per_filter = !ui->per_filter;
        break;
    case VA_TOGGLE_FREEZE:
        v->frozen = !v->frozen;
        set_message(v, v->frozen ? "frozen: space to follow training again" : "following training");
        break;
    case VA_SAVE_PNG: save_numbered(v); break;
    case VA_CLOSE: v->closed = 1; break;
    }
    if (a >= VA_NEXT_TRUE && a <= VA_TOGGLE_COARSE) ui->scroll[VIEWER_MISTAKES] = 0;
    v->dirty = 1;
}

void viewer_click(Viewer *v, int x, int y) {
    if (y < bar_h(v)) {
        for (int i = 0; i < VIEWER_TABS; i++)
            if (x >= v->tab_x[i] && x < v->tab_x[i + 1]) set_tab(v, (ViewerTab)i);
        return;
    }
    clamp_scroll(v);
    SDL_Rect area = content_area(v);
    if (y < area.y || y >= area.y + area.h) return;
    int cx = x - area.x, cy = y - area.y + v->ui.scroll[v->ui.tab];
    if (v->ui.tab == VIEWER_CONFUSION) {
        int r, c;
        if (!view_confusion_hit(&v->draw, &v->data, &v->ui, area.w, cx, cy, &r, &c)) return;
        v->ui.true_class = r;
        v->ui.pred_class = c;
        v->ui.scroll[VIEWER_MISTAKES] = 0;
        set_tab(v, VIEWER_MISTAKES);
        if (r == c && !(v->ui.coarse && v->data.num_coarse))
            set_message(v, "a diagonal cell holds correct answers; only mistakes are kept as images");
    } else if (v->ui.tab == VIEWER_MISTAKES) {
        int k = view_mistakes_hit(&v->draw, &v->data, &v->ui, area.w, cx, cy);
        if (k < 0) return;
        const ViewMistake *m = &v->data.wrong[k];
        int coarse = v->ui.coarse && v->data.num_coarse;
        int t = coarse ? v->data.coarse_of[m->label] : m->label;
        int p = coarse ? v->data.coarse_of[m->predicted] : m->predicted;
        /* A click shows every image of the same mix-up; a second click shows all again. */
        if (v->ui.true_class == t && v->ui.pred_class == p) {
            v->ui.true_class = v->ui.pred_class = -1;
        } else {
            v->ui.true_class = t;
            v->ui.pred_class = p;
        }
        v->ui.scroll[VIEWER_MISTAKES] = 0;
        v->dirty = 1;
    }
}

void viewer_hover(Viewer *v, int x, int y) {
    v->ui.hover_x = x;
    v->ui.hover_y = y;
    if (v->ui.tab == VIEWER_CONFUSION) v->dirty = 1;
}

/* ---- the loop ---- */

static void handle_event(Viewer *v, const SDL_Event *e) {
    Uint32 id = v->win ? SDL_GetWindowID(v->win) : 0;
    switch (e->type) {
    case SDL_QUIT: v->closed = 1; break;
    case SDL_WINDOWEVENT:
        if (e->window.windowID != id) break;
        if (e->window.event == SDL_WINDOWEVENT_CLOSE) v->closed = 1;
        else v->dirty = 1;   /* resized, exposed, ... */
        break;
    case SDL_KEYDOWN:
        if (e->key.windowID == id) viewer_act(v, key_action(e->key.keysym.sym, e->key.keysym.mod));
        break;
    case SDL_MOUSEBUTTONDOWN:
        if (e->button.windowID == id && e->button.button == SDL_BUTTON_LEFT)
            viewer_click(v, e->button.x, e->button.y);
        break;
    case SDL_MOUSEMOTION:
        if (e->motion.windowID == id) viewer_hover(v, e->motion.x, e->motion.y);
        break;
    case SDL_MOUSEWHEEL:
        if (e->wheel.windowID == id) {
            v->ui.scroll[v->ui.tab] -= e->wheel.y * 3 * v->draw.line_h;
            v->dirty = 1;
        }
        break;
    default: break;
    }
}

int viewer_poll(Viewer *v) {
    if (!v || v->closed) return 0;
    SDL_Event e;
    if (v->win)
        while (!v->closed && SDL_PollEvent(&e)) handle_event(v, &e);
    if (v->closed) return 0;
    if (v->vx && !v->frozen) {
        double t = now_s();
        if (t - v->last_request_s >= REQUEST_INTERVAL_S) {
            view_exchange_request(v->vx, tab_wants(v->ui.tab));
            v->last_request_s = t;
        }
        int r = view_exchange_copy(v->vx, &v->data);
        if (r > 0) data_arrived(v);
        else if (r < 0) set_message(v, "%s", status_message());
    }
    if (v->dirty) {
        if (viewer_render(v) != ST_OK) set_message(v, "%s", status_message());
        if (v->win) SDL_RenderPresent(v->ren);
    }
    return 1;
}

/* ---- queries ---- */

ViewerTab viewer_tab(const Viewer *v) { return v->ui.tab; }

void viewer_mistake_filter(const Viewer *v, int *true_class, int *pred_class, int *coarse) {
    *true_class = v->ui.true_class;
    *pred_class = v->ui.pred_class;
    *coarse = v->ui.coarse;
}

const ViewData *viewer_data(const Viewer *v) { return &v->data; }

const char *viewer_message(const Viewer *v) { return v->message; }

int viewer_item_rect(Viewer *v, int item, int part, int rect[4]) {
    clamp_scroll(v);
    SDL_Rect area = content_area(v), r;
    int ok = 0;
    switch (v->ui.tab) {
    case VIEWER_SAMPLES: ok = view_samples_item(&v->draw, &v->data, &v->ui, area.w, item, part, &r); break;
    case VIEWER_MISTAKES: ok = view_mistakes_item(&v->draw, &v->data, &v->ui, area.w, item, part, &r); break;
    case VIEWER_FILTERS: ok = view_filters_item(&v->draw, &v->data, &v->ui, area.w, item, part, &r); break;
    default: ok = view_confusion_item(&v->draw, &v->data, &v->ui, area.w, item, part, &r); break;
    }
    if (!ok) return 0;
    rect[0] = area.x + r.x;
    rect[1] = area.y + r.y - v->ui.scroll[v->ui.tab];
    rect[2] = r.w;
    rect[3] = r.h;
    return 1;
}
