/* viewer.h — the SDL2 window: augmented samples, misclassified images, first-layer filters,
 * confusion matrix. No SDL type appears here, so ui/ and app/ include it without SDL.
 *
 * Main thread only: open, poll (~30 Hz, never blocks), close. A live viewer reads a running
 * Session through its ViewExchange (core/viewdata.h): it asks only for what the current tab
 * shows, at most four times a second, so training is not slowed; closing the window leaves
 * training alone, and opening it again works. Close the viewer before session_destroy().
 *
 * Views (tabs 1-4, number keys or clicks): 1 the batch being trained, as the network got it
 * (un-normalized), with the original beside it (o), the cutout mask and crop window overlaid
 * (m), a mark on flipped images; 2 the test images the last evaluation got wrong, most
 * confident first, filtered by true (t/T) or predicted (p/P) class, coarse classes (c) on
 * CIFAR-100; 3 the stem's filters now and a filmstrip per epoch, normalized per filter or all
 * together (n); 4 the confusion matrix (n: counts / row fractions, c: coarse), a click on a
 * cell shows its images in view 2. +/- zoom, wheel/PgUp/PgDn scroll, space freezes, s saves
 * the view as PNG, q/Esc closes. */
#ifndef SHORTCUT_VIEWER_H
#define SHORTCUT_VIEWER_H

#include <stdint.h>

#include "session.h"
#include "status.h"
#include "viewdata.h"

typedef struct Viewer Viewer;

typedef enum ViewerTab {
    VIEWER_SAMPLES = 0,
    VIEWER_MISTAKES,
    VIEWER_FILTERS,
    VIEWER_CONFUSION,
    VIEWER_TABS
} ViewerTab;

/* 1 when a window can be opened: DISPLAY or WAYLAND_DISPLAY is set (or SDL_VIDEODRIVER names a
 * driver explicitly). */
int viewer_display_available(void);

/* Open a window on a running session. With no display it fails with ST_ERR_DEVICE and a
 * one-line message ("viewer: no display ..."; viewer_display_available() is 0), and the caller
 * goes on without it. */
Status viewer_open(Session *s, Viewer **out);
/* Open a window on fixed data (`shortcut view RUN_DIR`); the data is copied. */
Status viewer_open_data(const ViewData *vd, Viewer **out);
/* No window: draws into a w x h software surface (tests, `shortcut view --png`). */
Status viewer_create_offscreen(const ViewData *vd, int w, int h, Viewer **out);

/* Handle events, fetch new data, redraw when something changed. Returns 1 while the window
 * is open, 0 once the user closed it (then call viewer_close). */
int viewer_poll(Viewer *v);
void viewer_close(Viewer *v);   /* NULL is fine */

/* For a frontend's key that shows and hides the window: opens on `s` when *slot is NULL
 * (returning viewer_open's status; *slot stays NULL on failure), closes and clears *slot
 * otherwise (ST_OK). */
Status viewer_toggle(Viewer **slot, Session *s);
/* viewer_poll on *slot when it is open; once the user closed the window, closes it and sets
 * *slot = NULL. Returns 1 while a window is open. NULL slot contents are fine. */
int viewer_poll_slot(Viewer **slot);

/* Draw the current tab now and write it to `path` as PNG. */
Status viewer_save_png(Viewer *v, const char *path);
/* Where `s` saves PNGs ("shortcut-<tab>-<n>.png" inside it); default: the session's run
 * directory, else ".". */
void viewer_set_save_dir(Viewer *v, const char *dir);

/* ---- driving it without a person (tests, scripted screenshots) ---- */

typedef enum ViewerAction {
    VA_NONE = 0,
    VA_TAB_SAMPLES, VA_TAB_MISTAKES, VA_TAB_FILTERS, VA_TAB_CONFUSION, VA_NEXT_TAB,
    VA_ZOOM_IN, VA_ZOOM_OUT,
    VA_SCROLL_UP, VA_SCROLL_DOWN, VA_PAGE_UP, VA_PAGE_DOWN, VA_HOME,
    VA_TOGGLE_ORIGINAL,     /* samples: original beside the augmented image */
    VA_TOGGLE_OVERLAY,      /* samples: cutout mask + crop window */
    VA_NEXT_TRUE, VA_PREV_TRUE, VA_NEXT_PRED, VA_PREV_PRED, VA_CLEAR_FILTER,
    VA_TOGGLE_COARSE,       /* mistakes + confusion: CIFAR-100 coarse classes */
    VA_TOGGLE_NORMALIZE,    /* filters: per filter / all; confusion: row fraction / count */
    VA_TOGGLE_FREEZE,
    VA_SAVE_PNG,
    VA_CLOSE,
} ViewerAction;

void viewer_act(Viewer *v, ViewerAction a);
/* A left click at window coordinates (x, y). */
void viewer_click(Viewer *v, int x, int y);
/* Mouse position (the confusion view names the cell under it). */
void viewer_hover(Viewer *v, int x, int y);
/* Replace the data shown (offscreen and fixed-data viewers). */
Status viewer_set_data(Viewer *v, const ViewData *vd);
/* Draw the current tab into the window or surface (not presented). */
Status viewer_render(Viewer *v);
/* The last render as ARGB8888 pixels, row-major, width * height; malloc'd, free() it. */
Status viewer_read_pixels(Viewer *v, uint32_t **argb, int *width, int *height);

ViewerTab viewer_tab(const Viewer *v);
/* The mistakes filter: true / predicted class (-1 any), coarse (0/1). */
void viewer_mistake_filter(const Viewer *v, int *true_class, int *pred_class, int *coarse);
/* The data shown now (owned by the viewer). */
const ViewData *viewer_data(const Viewer *v);
/* The status-bar message (last save, no data yet, ...). */
const char *viewer_message(const Viewer *v);

/* Where item `item` of the current tab is drawn, as {x, y, w, h} in window pixels, after
 * scrolling; returns 0 when the item does not exist. Items: samples i (part 0 augmented,
 * part 1 original); mistakes: the i-th shown (part 0); filters f (part 0 now, part 1 + j
 * filmstrip frame j); confusion: row * K + column (part 0). */
int viewer_item_rect(Viewer *v, int item, int part, int rect[4]);

#endif
