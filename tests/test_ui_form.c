/* test_ui_form.c — field parsing and validation: text in a number, lr <= 0, a depth WRN cannot
 * have and an empty value are refused with a one-line message and leave the config unchanged;
 * valid edits come back normalized; a value waiting for another key is "incomplete"; switches
 * and lists cycle; the editable lists name real keys; the line editor edits. */
#include <string.h>

#include <curses.h>

#include "check.h"
#include "config.h"
#include "form.h"
#include "lineedit.h"

static void test_refusals(void) {
    Config c, out;
    config_defaults(&c);
    char msg[400];
    CHECK_INT(form_check(&c, "train.lr", "abc", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK(strstr(msg, "train.lr") != NULL);
    CHECK(strncmp(msg, "--set", 5) != 0);
    CHECK(strchr(msg, '\n') == NULL);
    printf("text in a number: %s\n", msg);
    CHECK_INT(form_check(&c, "train.lr", "0", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "train.lr", "-0.1", -1, &out, msg, sizeof msg), FORM_REFUSED);
    printf("lr <= 0: %s\n", msg);
    CHECK_INT(form_check(&c, "train.lr", "   ", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "train.batch_size", "2.5", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "train.momentum", "1.5", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "no.such_key", "1", -1, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "data.augment.pad_mode", "mirror", -1, &out, msg, sizeof msg), FORM_REFUSED);
    /* Nesterov without momentum is a cross-field rule about this key. */
    Config nomom = c;
    nomom.train.momentum = 0;
    CHECK_INT(form_check(&nomom, "train.nesterov", "true", -1, &out, msg, sizeof msg), FORM_REFUSED);
    /* A depth WRN cannot have. */
    Config w = c;
    CHECK_OK(config_set(&w, "model.family=wrn"));
    CHECK_OK(config_set(&w, "model.depth=16"));
    CHECK_OK(config_validate(&w));
    CHECK_INT(form_check(&w, "model.depth", "27", -1, &out, msg, sizeof msg), FORM_REFUSED);
    printf("wrn depth: %s\n", msg);
    CHECK(strstr(msg, "6n+4") != NULL);
    /* Shortening below what is done. */
    CHECK_INT(form_check(&c, "train.epochs", "2", 2, &out, msg, sizeof msg), FORM_REFUSED);
    CHECK_INT(form_check(&c, "train.epochs", "3", 2, &out, msg, sizeof msg), FORM_OK);
}

static void test_accepts(void) {
    Config c, out;
    config_defaults(&c);
    char msg[400], v[64];
    CHECK_INT(form_check(&c, "train.lr", " 1e-2 ", -1, &out, msg, sizeof msg), FORM_OK);
    CHECK_NEAR(out.train.lr, 0.01, 1e-9, 0);
    CHECK_NEAR(c.train.lr, 0.05, 1e-9, 0);   /* the base is untouched */
    form_value(&out, "train.lr", v, sizeof v);
    CHECK(strcmp(v, "0.01") == 0);
    CHECK_INT(form_check(&c, "train.lr", "0.05", -1, &out, msg, sizeof msg), FORM_UNCHANGED);
    CHECK_INT(form_check(&c, "train.schedule.milestones", "[1, 2]", -1, &out, msg, sizeof msg), FORM_OK);
    CHECK_INT(form_check(&c, "train.schedule.milestones", "[2, 1]", -1, &out, msg, sizeof msg), FORM_REFUSED);
    /* Switching the family to wrn leaves depth 0: fine for this key, waiting for model.depth. */
    CHECK_INT(form_check(&c, "model.family", "wrn", -1, &out, msg, sizeof msg), FORM_INCOMPLETE);
    CHECK(strstr(msg, "model.depth") != NULL);
    CHECK_INT(out.model.family, FAMILY_WRN);
    Config next = out;
    CHECK_INT(form_check(&next, "model.depth", "16", -1, &out, msg, sizeof msg), FORM_OK);
    char diff[512];
    CHECK_INT(form_model_diff(&c, &out, diff, sizeof diff), 2);   /* family and depth */
    CHECK(strstr(diff, "model.family=wrn") != NULL);
    CHECK(strstr(diff, "model.depth=16") != NULL);
}

static void test_cycle(void) {
    char buf[64];
    CHECK_INT(form_cycle("train.nesterov", "false", 1, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "true") == 0);
    CHECK_INT(form_cycle("train.nesterov", "true", 1, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "false") == 0);
    CHECK_INT(form_cycle("train.schedule.type", "constant", -1, buf, sizeof buf), 0);
    CHECK(strcmp(buf, "piecewise") == 0);   /* wraps */
    CHECK_INT(form_cycle("train.lr", "0.1", 1, buf, sizeof buf), -1);
}

static void test_field_lists(void) {
    for (int i = 0; i < FORM_HYPER_COUNT; i++) CHECK(config_field_find(FORM_HYPER_FIELDS[i].key) >= 0);
    for (int i = 0; i < FORM_SCHEDULE_COUNT; i++) CHECK(config_field_find(FORM_SCHEDULE_FIELDS[i].key) >= 0);
    const char *keys[64];
    int n = form_arch_fields(keys, 64);
    CHECK(n >= 10);
    int depth = 0;
    for (int i = 0; i < n; i++) {
        CHECK(strncmp(keys[i], "model.", 6) == 0);
        CHECK(strcmp(keys[i], "model.num_classes") != 0);
        depth += !strcmp(keys[i], "model.depth");
    }
    CHECK_INT(depth, 1);
}

static void test_lineedit(void) {
    LineEdit e;
    lineedit_set(&e, "0.05");
    CHECK_INT(lineedit_key(&e, '0'), 1);     /* the first key replaces the selected value */
    CHECK(strcmp(e.buf, "0") == 0);
    lineedit_key(&e, '.');
    lineedit_key(&e, '2');
    CHECK(strcmp(e.buf, "0.2") == 0);
    lineedit_key(&e, KEY_LEFT);
    lineedit_key(&e, KEY_BACKSPACE);
    CHECK(strcmp(e.buf, "02") == 0);
    CHECK_INT(lineedit_cursor_cells(&e), 1);
    lineedit_key(&e, KEY_HOME);
    lineedit_key(&e, KEY_DC);
    CHECK(strcmp(e.buf, "2") == 0);
    CHECK_INT(lineedit_key(&e, '\n'), 0);    /* Enter belongs to the caller */
    lineedit_key(&e, 21);                    /* Ctrl-U */
    CHECK(strcmp(e.buf, "") == 0);
}

int main(void) {
    test_refusals();
    test_accepts();
    test_cycle();
    test_field_lists();
    test_lineedit();
    return check_report("test_ui_form");
}
