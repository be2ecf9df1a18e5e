/* keymap.c — the key table (see keymap.h). Change keys here and only here. */
#include "keymap.h"

#include <curses.h>
#include <stdio.h>
#include <string.h>

#define CTRL(c) ((c) & 0x1f)
#define ESC 27

const KeyBinding KEYMAP[] = {
    /* global */
    {'?', KC_GLOBAL, ACT_HELP, "?"},
    {KEY_F(1), KC_GLOBAL, ACT_HELP, "F1"},
    {'q', KC_GLOBAL, ACT_QUIT, "q"},
    {CTRL('c'), KC_GLOBAL, ACT_QUIT, "Ctrl-C"},
    {' ', KC_GLOBAL, ACT_PAUSE, "Space"},
    {'p', KC_GLOBAL, ACT_PAUSE, "p"},
    {'s', KC_GLOBAL, ACT_STEP, "s"},
    {'w', KC_GLOBAL, ACT_SAVE, "w"},
    {'E', KC_GLOBAL, ACT_EVAL, "E"},
    {'R', KC_GLOBAL, ACT_RESTART, "R"},
    {'Y', KC_GLOBAL, ACT_SAVE_CONFIG, "Y"},
    {'V', KC_GLOBAL, ACT_VIEWER, "V"},
    {'1', KC_GLOBAL, ACT_VIEW_DASH, "1"},
    {KEY_F(2), KC_GLOBAL, ACT_VIEW_DASH, "F2"},
    {'2', KC_GLOBAL, ACT_VIEW_CHART, "2"},
    {KEY_F(3), KC_GLOBAL, ACT_VIEW_CHART, "F3"},
    {'3', KC_GLOBAL, ACT_VIEW_SCHEDULE, "3"},
    {KEY_F(4), KC_GLOBAL, ACT_VIEW_SCHEDULE, "F4"},
    {'4', KC_GLOBAL, ACT_VIEW_ARCH, "4"},
    {KEY_F(5), KC_GLOBAL, ACT_VIEW_ARCH, "F5"},
    {'5', KC_GLOBAL, ACT_VIEW_FINDER, "5"},
    {KEY_F(6), KC_GLOBAL, ACT_VIEW_FINDER, "F6"},
    {'\t', KC_GLOBAL, ACT_NEXT_VIEW, "Tab"},
    {KEY_BTAB, KC_GLOBAL, ACT_PREV_VIEW, "Shift-Tab"},
    {CTRL('l'), KC_GLOBAL, ACT_REDRAW, "Ctrl-L"},
    /* navigation */
    {KEY_UP, KC_GLOBAL, ACT_UP, "Up"},
    {'k', KC_GLOBAL, ACT_UP, "k"},
    {KEY_DOWN, KC_GLOBAL, ACT_DOWN, "Down"},
    {'j', KC_GLOBAL, ACT_DOWN, "j"},
    {KEY_LEFT, KC_GLOBAL, ACT_LEFT, "Left"},
    {'h', KC_GLOBAL, ACT_LEFT, "h"},
    {KEY_RIGHT, KC_GLOBAL, ACT_RIGHT, "Right"},
    {'l', KC_GLOBAL, ACT_RIGHT, "l"},
    {KEY_PPAGE, KC_GLOBAL, ACT_PAGE_UP, "PgUp"},
    {CTRL('b'), KC_GLOBAL, ACT_PAGE_UP, "Ctrl-B"},
    {KEY_NPAGE, KC_GLOBAL, ACT_PAGE_DOWN, "PgDn"},
    {CTRL('f'), KC_GLOBAL, ACT_PAGE_DOWN, "Ctrl-F"},
    {KEY_HOME, KC_GLOBAL, ACT_HOME, "Home"},
    {'g', KC_GLOBAL, ACT_HOME, "g"},
    {KEY_END, KC_GLOBAL, ACT_END, "End"},
    {'G', KC_GLOBAL, ACT_END, "G"},
    {'\n', KC_GLOBAL, ACT_ENTER, "Enter"},
    {'\r', KC_GLOBAL, ACT_ENTER, "Enter"},
    {KEY_ENTER, KC_GLOBAL, ACT_ENTER, "Enter"},
    {ESC, KC_GLOBAL, ACT_BACK, "Esc"},
    /* chart */
    {'z', KC_CHART, ACT_ZOOM, "z"},
    {'o', KC_CHART, ACT_LOG_SCALE, "o"},
    /* schedule editor */
    {'a', KC_SCHEDULE, ACT_APPLY, "a"},
    {'u', KC_SCHEDULE, ACT_DISCARD, "u"},
    {'[', KC_SCHEDULE, ACT_KNOT_PREV, "["},
    {'<', KC_SCHEDULE, ACT_KNOT_PREV, "<"},
    {']', KC_SCHEDULE, ACT_KNOT_NEXT, "]"},
    {'>', KC_SCHEDULE, ACT_KNOT_NEXT, ">"},
    {'+', KC_SCHEDULE, ACT_KNOT_ADD, "+"},
    {'-', KC_SCHEDULE, ACT_KNOT_DELETE, "-"},
    {'x', KC_SCHEDULE, ACT_KNOT_DELETE, "x"},
    {KEY_SLEFT, KC_SCHEDULE, ACT_KNOT_EARLIER, "Shift-Left"},
    {'H', KC_SCHEDULE, ACT_KNOT_EARLIER, "H"},
    {KEY_SRIGHT, KC_SCHEDULE, ACT_KNOT_LATER, "Shift-Right"},
    {'L', KC_SCHEDULE, ACT_KNOT_LATER, "L"},
    {KEY_SR, KC_SCHEDULE, ACT_KNOT_HIGHER, "Shift-Up"},
    {'K', KC_SCHEDULE, ACT_KNOT_HIGHER, "K"},
    {KEY_SF, KC_SCHEDULE, ACT_KNOT_LOWER, "Shift-Down"},
    {'J', KC_SCHEDULE, ACT_KNOT_LOWER, "J"},
    {'P', KC_SCHEDULE, ACT_TO_PIECEWISE, "P"},
    {'o', KC_SCHEDULE, ACT_LOG_SCALE, "o"},
    /* architecture editor */
    {'a', KC_ARCH, ACT_APPLY, "a"},
    {'u', KC_ARCH, ACT_DISCARD, "u"},
    /* lr finder */
    {'r', KC_FINDER, ACT_FIND_RUN, "r"},
    {'a', KC_FINDER, ACT_FIND_APPLY, "a"},
};
const int KEYMAP_COUNT = (int)(sizeof KEYMAP / sizeof KEYMAP[0]);

static const char *const HELP[ACT_COUNT] = {
    [ACT_NONE] = "",
    [ACT_HELP] = "this help",
    [ACT_QUIT] = "quit (asks while training; the run is saved)",
    [ACT_PAUSE] = "pause / resume training",
    [ACT_STEP] = "one training step, then pause",
    [ACT_SAVE] = "save a checkpoint now",
    [ACT_EVAL] = "evaluate on the test set now",
    [ACT_RESTART] = "restart: fresh weights, current config, new run dir",
    [ACT_SAVE_CONFIG] = "save the current config as YAML",
    [ACT_VIEWER] = "open the image viewer window",
    [ACT_VIEW_DASH] = "dashboard: curves, hyperparameters, log",
    [ACT_VIEW_CHART] = "large chart of one curve",
    [ACT_VIEW_SCHEDULE] = "learning-rate schedule editor",
    [ACT_VIEW_ARCH] = "architecture editor",
    [ACT_VIEW_FINDER] = "learning-rate finder",
    [ACT_NEXT_VIEW] = "next view",
    [ACT_PREV_VIEW] = "previous view",
    [ACT_REDRAW] = "redraw the screen",
    [ACT_UP] = "move up",
    [ACT_DOWN] = "move down",
    [ACT_LEFT] = "previous value / move left",
    [ACT_RIGHT] = "next value / move right",
    [ACT_PAGE_UP] = "scroll the log back",
    [ACT_PAGE_DOWN] = "scroll the log forward",
    [ACT_HOME] = "first item",
    [ACT_END] = "last item",
    [ACT_ENTER] = "edit the field / confirm",
    [ACT_BACK] = "cancel / close",
    [ACT_APPLY] = "apply the pending changes to the run",
    [ACT_DISCARD] = "discard the pending changes",
    [ACT_KNOT_PREV] = "select the previous knot",
    [ACT_KNOT_NEXT] = "select the next knot",
    [ACT_KNOT_ADD] = "add a knot after the selected one",
    [ACT_KNOT_DELETE] = "delete the selected knot",
    [ACT_KNOT_EARLIER] = "move the knot earlier",
    [ACT_KNOT_LATER] = "move the knot later",
    [ACT_KNOT_HIGHER] = "raise the knot's lr",
    [ACT_KNOT_LOWER] = "lower the knot's lr",
    [ACT_TO_PIECEWISE] = "turn the schedule into knots you can drag",
    [ACT_LOG_SCALE] = "toggle a log y axis",
    [ACT_ZOOM] = "whole run / last 200 points",
    [ACT_FIND_RUN] = "run the lr finder on a copy of the weights",
    [ACT_FIND_APPLY] = "use the suggested lr",
};

Action keymap_lookup(KeyContext ctx, int key) {
    for (int i = 0; i < KEYMAP_COUNT; i++)
        if (KEYMAP[i].ctx == ctx && ctx != KC_GLOBAL && KEYMAP[i].key == key) return KEYMAP[i].action;
    for (int i = 0; i < KEYMAP_COUNT; i++)
        if (KEYMAP[i].ctx == KC_GLOBAL && KEYMAP[i].key == key) return KEYMAP[i].action;
    return ACT_NONE;
}

const char *action_help(Action a) {
    return (int)a >= 0 && a < ACT_COUNT && HELP[a] ? HELP[a] : "";
}

static int has_token(const char *list, const char *name) {
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p++)
        if ((p == list || p[-1] == '/') && (p[n] == 0 || p[n] == '/')) return 1;
    return 0;
}

const char *keymap_keys_for(KeyContext ctx, Action a, char *buf, int len) {
    int used = 0;
    buf[0] = 0;
    for (int i = 0; i < KEYMAP_COUNT; i++) {
        if (KEYMAP[i].ctx != ctx || KEYMAP[i].action != a) continue;
        if (has_token(buf, KEYMAP[i].name)) continue;   /* \n and \r are both "Enter" */
        int w = snprintf(buf + used, (size_t)(len - used), "%s%s", used ? "/" : "", KEYMAP[i].name);
        if (w < 0 || w >= len - used) break;
        used += w;
    }
    return buf;
}

const char *keycontext_name(KeyContext c) {
    switch (c) {
    case KC_GLOBAL: return "everywhere";
    case KC_DASH: return "dashboard";
    case KC_CHART: return "chart";
    case KC_SCHEDULE: return "schedule editor";
    case KC_ARCH: return "architecture editor";
    case KC_FINDER: return "lr finder";
    case KC_COUNT: break;
    }
    return "?";
}
