/* test_ui_log.c — the log pane: word wrapping of long lines, and picking up a snapshot's new
 * lines by sequence number. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "log_pane.h"

/* Row k of text wrapped at width, as a string. */
static const char *row_of(const char *text, int width, int k) {
    static char buf[SESSION_LOG_LEN];
    int starts[32], lens[32];
    int rows = log_wrap(text, width, starts, lens, 32);
    if (k >= rows) return NULL;
    snprintf(buf, sizeof buf, "%.*s", lens[k], text + starts[k]);
    return buf;
}

static void test_wrap(void) {
    int s[8], l[8];
    CHECK_INT(log_wrap("", 10, s, l, 8), 1);   /* an empty line still takes its row */
    CHECK_INT(l[0], 0);
    CHECK_INT(log_wrap("fits", 10, s, l, 8), 1);
    CHECK_INT(log_wrap("exactly10!", 10, s, l, 8), 1);
    /* breaks at the last space that fits, and the space starts no row */
    const char *t = "batch_size 512 refused, training goes on at 64";
    CHECK_INT(log_wrap(t, 20, s, l, 8), 3);
    CHECK(strcmp(row_of(t, 20, 0), "batch_size 512") == 0);
    CHECK(strcmp(row_of(t, 20, 1), "refused, training") == 0);
    CHECK(strcmp(row_of(t, 20, 2), "goes on at 64") == 0);
    /* a word wider than the row is cut where the row ends */
    CHECK_INT(log_wrap("abcdefghijklmnop qr", 6, s, l, 8), 4);
    CHECK(strcmp(row_of("abcdefghijklmnop qr", 6, 0), "abcdef") == 0);
    CHECK(strcmp(row_of("abcdefghijklmnop qr", 6, 2), "mnop") == 0);
    CHECK(strcmp(row_of("abcdefghijklmnop qr", 6, 3), "qr") == 0);
    /* every byte of the text lands in some row, once, in order */
    const char *u = "one two  three    four five-six-seven eight";
    for (int w = 1; w <= 12; w++) {
        int st[64], ln[64];
        int rows = log_wrap(u, w, st, ln, 64);
        int at = 0, ok = 1;
        for (int k = 0; k < rows; k++) {
            while (u[at] == ' ' && at < st[k]) at++;
            ok &= st[k] == at && ln[k] <= w && ln[k] >= 0;
            at += ln[k];
        }
        while (u[at] == ' ') at++;
        CHECK(ok && at == (int)strlen(u));
    }
    /* more rows than the caller has room for: counted, and only `max` written */
    CHECK_INT(log_wrap("a b c d e f", 1, s, l, 2), 6);
    CHECK_INT(log_wrap("abc", 0, s, l, 8), 3);   /* a width below 1 counts as 1 */
}

static void test_update(void) {
    LogPane *p = calloc(1, sizeof *p);
    Snapshot *s = calloc(1, sizeof *s);
    if (!p || !s) { CHECK(0); free(p); free(s); return; }
    s->log_len = 2;
    s->log[0].seq = 1;
    snprintf(s->log[0].text, sizeof s->log[0].text, "first");
    s->log[1].seq = 2;
    s->log[1].is_error = 1;
    snprintf(s->log[1].text, sizeof s->log[1].text, "an error");
    const LogLine *err = NULL;
    CHECK_INT(log_pane_update(p, s, &err), 2);
    CHECK(err && strcmp(err->text, "an error") == 0);
    CHECK_INT(log_pane_update(p, s, &err), 0);   /* nothing new */
    CHECK(err == NULL);
    CHECK(strcmp(log_pane_line(p, 0)->text, "first") == 0);
    /* a scrolled-back view stays on its lines as new ones arrive */
    log_pane_scroll(p, 1, 1);
    CHECK_INT(p->scroll, 1);
    s->log[0] = s->log[1];
    s->log[1].seq = 3;
    s->log[1].is_error = 0;
    snprintf(s->log[1].text, sizeof s->log[1].text, "third");
    CHECK_INT(log_pane_update(p, s, NULL), 1);
    CHECK_INT(p->scroll, 2);
    CHECK_INT(p->count, 3);
    free(p);
    free(s);
}

int main(void) {
    test_wrap();
    test_update();
    return check_report("test_ui_log");
}
