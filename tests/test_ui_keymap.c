/* test_ui_keymap.c — the key table: no key bound twice in a context, every action reachable,
 * arrows and vim keys agree, the keys that must mean the same everywhere do, and the help
 * text covers every action. */
#include <string.h>

#include <curses.h>

#include "check.h"
#include "keymap.h"

static void test_no_duplicates(void) {
    for (int i = 0; i < KEYMAP_COUNT; i++)
        for (int j = i + 1; j < KEYMAP_COUNT; j++)
            if (KEYMAP[i].ctx == KEYMAP[j].ctx && KEYMAP[i].key == KEYMAP[j].key) {
                fprintf(stderr, "key %s bound twice in %s\n", KEYMAP[i].name,
                        keycontext_name(KEYMAP[i].ctx));
                CHECK(0);
            }
}

static void test_every_action_bound_and_described(void) {
    for (int a = 1; a < ACT_COUNT; a++) {
        int bound = 0;
        for (int i = 0; i < KEYMAP_COUNT; i++) bound |= KEYMAP[i].action == (Action)a;
        if (!bound) fprintf(stderr, "action %d has no key\n", a);
        CHECK(bound);
        CHECK(strlen(action_help((Action)a)) > 3);
    }
}

static void test_same_everywhere(void) {
    static const int keys[] = {'?', KEY_F(1), 'q', 3, ' ', '\n', 27, KEY_UP, KEY_DOWN, '\t'};
    static const Action want[] = {ACT_HELP, ACT_HELP, ACT_QUIT, ACT_QUIT, ACT_PAUSE, ACT_ENTER, ACT_BACK, ACT_UP,
                                  ACT_DOWN, ACT_NEXT_VIEW};
    for (int c = 0; c < KC_COUNT; c++)
        for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
            CHECK_INT(keymap_lookup((KeyContext)c, keys[k]), want[k]);
}

static void test_vim_keys(void) {
    for (int c = 0; c < KC_COUNT; c++) {
        if (c == KC_SCHEDULE) continue;   /* H J K L move knots there; h j k l still navigate */
        CHECK_INT(keymap_lookup((KeyContext)c, 'k'), keymap_lookup((KeyContext)c, KEY_UP));
        CHECK_INT(keymap_lookup((KeyContext)c, 'j'), keymap_lookup((KeyContext)c, KEY_DOWN));
        CHECK_INT(keymap_lookup((KeyContext)c, 'h'), keymap_lookup((KeyContext)c, KEY_LEFT));
        CHECK_INT(keymap_lookup((KeyContext)c, 'l'), keymap_lookup((KeyContext)c, KEY_RIGHT));
    }
    CHECK_INT(keymap_lookup(KC_SCHEDULE, 'k'), ACT_UP);
    CHECK_INT(keymap_lookup(KC_SCHEDULE, 'K'), ACT_KNOT_HIGHER);
    CHECK_INT(keymap_lookup(KC_SCHEDULE, KEY_SR), ACT_KNOT_HIGHER);
}

static void test_view_keys(void) {
    CHECK_INT(keymap_lookup(KC_SCHEDULE, 'a'), ACT_APPLY);
    CHECK_INT(keymap_lookup(KC_ARCH, 'a'), ACT_APPLY);
    CHECK_INT(keymap_lookup(KC_FINDER, 'a'), ACT_FIND_APPLY);
    CHECK_INT(keymap_lookup(KC_DASH, 'a'), ACT_NONE);
    CHECK_INT(keymap_lookup(KC_DASH, '3'), ACT_VIEW_SCHEDULE);
    CHECK_INT(keymap_lookup(KC_DASH, 'R'), ACT_RESTART);
    CHECK_INT(keymap_lookup(KC_DASH, 'V'), ACT_VIEWER);
    CHECK_INT(keymap_lookup(KC_DASH, 0x7fff), ACT_NONE);
    char buf[64];
    keymap_keys_for(KC_GLOBAL, ACT_ENTER, buf, sizeof buf);
    CHECK(strcmp(buf, "Enter") == 0);      /* \n, \r and KEY_ENTER are written once */
    keymap_keys_for(KC_GLOBAL, ACT_PAUSE, buf, sizeof buf);
    CHECK(strcmp(buf, "Space/p") == 0);
}

int main(void) {
    test_no_duplicates();
    test_every_action_bound_and_described();
    test_same_everywhere();
    test_vim_keys();
    test_view_keys();
    return check_report("test_ui_keymap");
}
