/* keymap.h — what each key does, in which view: one table (keymap.c), shown by the help screen.
 *
 * A key is looked up in the current view's context first, then in the global one, so a view
 * may give a letter its own meaning. The rules the tests hold the table to: no key twice in one
 * context; arrows and vim keys do the same; Enter, Esc, ?, F1, q, space and Ctrl-C mean the
 * same everywhere. */
#ifndef SHORTCUT_UI_KEYMAP_H
#define SHORTCUT_UI_KEYMAP_H

typedef enum Action {
    ACT_NONE = 0,
    /* global */
    ACT_HELP, ACT_QUIT, ACT_PAUSE, ACT_STEP, ACT_SAVE, ACT_EVAL, ACT_RESTART, ACT_SAVE_CONFIG, ACT_VIEWER,
    ACT_VIEW_DASH, ACT_VIEW_CHART, ACT_VIEW_SCHEDULE, ACT_VIEW_ARCH, ACT_VIEW_FINDER, ACT_NEXT_VIEW,
    ACT_PREV_VIEW, ACT_REDRAW,
    /* navigation, everywhere */
    ACT_UP, ACT_DOWN, ACT_LEFT, ACT_RIGHT, ACT_PAGE_UP, ACT_PAGE_DOWN, ACT_HOME, ACT_END, ACT_ENTER, ACT_BACK,
    /* editors */
    ACT_APPLY, ACT_DISCARD,
    /* schedule editor */
    ACT_KNOT_PREV, ACT_KNOT_NEXT, ACT_KNOT_ADD, ACT_KNOT_DELETE, ACT_KNOT_EARLIER, ACT_KNOT_LATER,
    ACT_KNOT_HIGHER, ACT_KNOT_LOWER, ACT_TO_PIECEWISE, ACT_LOG_SCALE,
    /* chart */
    ACT_ZOOM,
    /* lr finder */
    ACT_FIND_RUN, ACT_FIND_APPLY,
    ACT_COUNT
} Action;

typedef enum KeyContext {
    KC_GLOBAL = 0,
    KC_DASH,
    KC_CHART,
    KC_SCHEDULE,
    KC_ARCH,
    KC_FINDER,
    KC_COUNT
} KeyContext;

typedef struct KeyBinding {
    int key;              /* ncurses key code or character */
    KeyContext ctx;
    Action action;
    const char *name;     /* how the help screen writes the key: "Space", "F1", "j" */
} KeyBinding;

extern const KeyBinding KEYMAP[];
extern const int KEYMAP_COUNT;

/* The action for a key in a context (then the global context); ACT_NONE when unbound. */
Action keymap_lookup(KeyContext ctx, int key);
/* One-line description of an action (the help screen). */
const char *action_help(Action a);
/* "Space/p" — every key of `a` in `ctx` (global ones with ctx KC_GLOBAL), into buf. */
const char *keymap_keys_for(KeyContext ctx, Action a, char *buf, int len);
const char *keycontext_name(KeyContext c);

#endif
