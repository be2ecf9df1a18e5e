/* arch_editor.c — edit the architecture of the running model and rebuild it.
 *
 * Every model.* key of the config table is a field; edits stay pending while parameters, MACs
 * and how many tensors would carry over are estimated on a helper thread (arch_estimate.h).
 * Applying asks first, then sends CMD_REBUILD with the changed keys: the worker rebuilds between
 * steps, carries every tensor whose name and shape match, and logs how many. */
#include <stdio.h>
#include <string.h>

#include "augment.h"
#include "form.h"
#include "paint.h"
#include "tui_internal.h"

#define LIST_W 42

static int arch_keys(const char **keys) { return form_arch_fields(keys, 32); }

static int num_classes_of(const Config *c) {
    if (c->model.num_classes > 0) return c->model.num_classes;
    return c->data.dataset == DATASET_CIFAR100 ? 100 : 10;
}

static void recheck(Tui *t) {
    ArchState *st = &t->arch;
    st->problem[0] = 0;
    if (config_validate(&st->pending) != ST_OK) {
        const char *m = status_message();
        snprintf(st->problem, sizeof st->problem, "%s", strncmp(m, "--set ", 6) ? m : m + 6);
    }
}

void arch_enter(Tui *t) {
    if (!t->arch.dirty) t->arch.pending = t->snap->config;
    recheck(t);
}

void arch_sync(Tui *t) {
    ArchState *st = &t->arch;
    if (!st->dirty || !memcmp(&st->pending.model, &t->snap->config.model, sizeof st->pending.model)) {
        st->dirty = 0;
        st->pending = t->snap->config;
        st->problem[0] = 0;
    }
}

static void format_count(long long v, char *buf, size_t len) {
    if (v >= 1000000000LL) snprintf(buf, len, "%.2fG", (double)v / 1e9);
    else if (v >= 1000000LL) snprintf(buf, len, "%.2fM", (double)v / 1e6);
    else if (v >= 10000LL) snprintf(buf, len, "%.1fk", (double)v / 1e3);
    else snprintf(buf, len, "%lld", v);
}

void arch_draw(Tui *t) {
    ArchState *st = &t->arch;
    const Snapshot *s = t->snap;
    int top = tui_body_top(t), body = tui_body_rows(t);
    const char *keys[32];
    int n = arch_keys(keys);
    paint_rule(top, 0, LIST_W, st->dirty ? "Architecture (pending)" : "Architecture");
    int visible = body - 1, first = st->field >= visible ? st->field - visible + 1 : 0;
    for (int i = 0; i < visible && first + i < n; i++) {
        const char *k = keys[first + i];
        char value[512];
        form_value(&st->pending, k, value, sizeof value);
        int idx = config_field_find(k);
        draw_field_row(t, top + 1 + i, 0, LIST_W, 16, k + 6, k, value, first + i == st->field,
                       idx >= 0 && config_field_relevant(&st->pending, idx), VIEW_ARCH);
    }
    int c = LIST_W + 1, w = t->cols - c - 1;
    paint_vline(top, LIST_W, body, CS_AXIS);
    paint_rule(top, c, w + 1, "Size");
    int side = augment_out_side(&st->pending.data.augment);
    ArchEstimate e;
    arch_estimator_request(st->est, &st->pending.model, &s->config.model, num_classes_of(&s->config), side);
    arch_estimator_result(st->est, &e);
    if (e.ready && e.ok && !memcmp(&e.config, &s->config.model, sizeof e.config)) {
        st->cur_macs = e.macs;
        st->cur_macs_for = s->config.model;
    }
    char a[32], b[32];
    int r = top + 2;
    format_count(s->num_params, a, sizeof a);
    if (st->cur_macs > 0 && !memcmp(&st->cur_macs_for, &s->config.model, sizeof st->cur_macs_for))
        format_count(st->cur_macs, b, sizeof b);
    else
        snprintf(b, sizeof b, "?");
    paint_textf(r++, c + 1, w, CS_NORMAL, "training now:  %s parameters, %s MACs per image", a, b);
    r++;
    if (!st->dirty) {
        paint_text(r++, c + 1, w, "No pending changes: edit a field (Enter, or Left/Right for a", CS_DIM);
        paint_text(r++, c + 1, w, "choice); the size of the edited model shows here.", CS_DIM);
    } else if (!e.ready) {
        paint_text(r++, c + 1, w, "edited:        estimating (building it aside)...", CS_WARN);
    } else if (!e.ok) {
        paint_text(r++, c + 1, w, "edited:        cannot be built:", CS_BAD);
        paint_text(r++, c + 3, w - 2, e.message, CS_BAD);
    } else {
        format_count(e.params, a, sizeof a);
        format_count(e.macs, b, sizeof b);
        double ratio = s->num_params > 0 ? (double)e.params / (double)s->num_params : 0;
        paint_textf(r++, c + 1, w, CS_TITLE, "edited:        %s parameters (x%.2f), %s MACs per image",
                    a, ratio, b);
        paint_textf(r++, c + 1, w, CS_NORMAL, "carries over:  %d of %d tensors (name and shape match);",
                    e.carried, e.tensors);
        paint_text(r++, c + 1, w, "               the rest start from a fresh initialization", CS_DIM);
    }
    if (st->dirty && st->problem[0]) {
        r++;
        paint_text(r++, c + 1, w, "not valid yet:", CS_BAD);
        paint_text(r++, c + 3, w - 2, st->problem, CS_BAD);
    }
    r++;
    if (st->dirty) paint_text(r++, c + 1, w, "a: rebuild the running model (asks first)   u: discard", CS_WARN);
    if (s->rebuild_total > 0)
        paint_textf(r++, c + 1, w, CS_DIM, "last rebuild carried %d of %d tensors", s->rebuild_carried,
                    s->rebuild_total);
    int idx = config_field_find(keys[st->field]);
    if (idx >= 0 && r + 2 < top + body) {
        r++;
        char value[512];
        form_value(&st->pending, keys[st->field], value, sizeof value);
        paint_textf(r++, c + 1, w, CS_TITLE, "%s: %s", keys[st->field], value);
        /* The field's help, wrapped. */
        const char *h = config_field_help(idx);
        while (*h && r < top + body) {
            int len = (int)strlen(h), cut = len > w - 2 ? w - 2 : len;
            if (cut < len) while (cut > 0 && h[cut] != ' ') cut--;
            if (cut <= 0) cut = len > w - 2 ? w - 2 : len;
            paint_textf(r++, c + 1, w, CS_DIM, "%.*s", cut, h);
            h += cut;
            while (*h == ' ') h++;
        }
    }
}

int arch_commit(Tui *t, const char *key, const char *text) {
    ArchState *st = &t->arch;
    Config next;
    char msg[400];
    FormVerdict v = form_check(&st->pending, key, text, -1, &next, msg, sizeof msg);
    if (v == FORM_REFUSED) {
        tui_message(t, CS_BAD, "refused: %s", msg);
        return 0;
    }
    if (v == FORM_UNCHANGED) return 1;
    st->pending = next;
    st->dirty = memcmp(&next.model, &t->snap->config.model, sizeof next.model) != 0;
    recheck(t);
    if (v == FORM_INCOMPLETE) tui_message(t, CS_WARN, "pending, not valid yet: %s", msg);
    else tui_message(t, CS_NORMAL, "pending: a rebuilds the running model with it, u discards");
    return 1;
}

static void apply(Tui *t) {
    ArchState *st = &t->arch;
    if (!st->dirty) { tui_message(t, CS_NORMAL, "no pending architecture changes"); return; }
    recheck(t);
    if (st->problem[0]) { tui_message(t, CS_BAD, "refused: %s", st->problem); return; }
    char diff[2048];
    if (form_model_diff(&t->snap->config, &st->pending, diff, sizeof diff) == 0) {
        st->dirty = 0;
        return;
    }
    ArchEstimate e;
    arch_estimator_result(st->est, &e);
    char text[4500], a[32], b[32];
    if (e.ready && e.ok) {
        format_count(e.params, a, sizeof a);
        format_count(e.macs, b, sizeof b);
        snprintf(text, sizeof text, "The model is rebuilt at the next step: %s parameters, %s MACs "
                 "per image. %d of %d tensors carry over (with their momentum); the others start "
                 "fresh. Changes:\n%s", a, b, e.carried, e.tensors, diff);
    } else {
        snprintf(text, sizeof text, "The model is rebuilt at the next step; tensors whose name and "
                 "shape match carry over. Changes:\n%s", diff);
    }
    tui_open_dialog(t, DLG_CONFIRM, DP_REBUILD, "Rebuild the model?", text);
    snprintf(t->dialog.payload, sizeof t->dialog.payload, "%s", diff);
}

void arch_action(Tui *t, Action a) {
    ArchState *st = &t->arch;
    const char *keys[32];
    int n = arch_keys(keys);
    switch (a) {
    case ACT_UP: if (st->field > 0) st->field--; break;
    case ACT_DOWN: if (st->field + 1 < n) st->field++; break;
    case ACT_HOME: st->field = 0; break;
    case ACT_END: st->field = n - 1; break;
    case ACT_ENTER: tui_edit_field(t, VIEW_ARCH, keys[st->field]); break;
    case ACT_LEFT: case ACT_RIGHT: {
        char cur[128], next[128];
        int idx = config_field_find(keys[st->field]);
        if (idx < 0 || !config_field_relevant(&st->pending, idx)) break;
        form_value(&st->pending, keys[st->field], cur, sizeof cur);
        if (form_cycle(keys[st->field], cur, a == ACT_RIGHT ? 1 : -1, next, sizeof next) == 0)
            arch_commit(t, keys[st->field], next);
        break;
    }
    case ACT_APPLY: apply(t); break;
    case ACT_DISCARD:
        st->dirty = 0;
        st->pending = t->snap->config;
        st->problem[0] = 0;
        tui_message(t, CS_NORMAL, "architecture edits discarded");
        break;
    default: break;
    }
}

void arch_mouse(Tui *t, const MEVENT *ev) {
    if (!(ev->bstate & MOUSE_DOWN) || ev->x >= LIST_W) return;
    const char *keys[32];
    int n = arch_keys(keys);
    int visible = tui_body_rows(t) - 1;
    int first = t->arch.field >= visible ? t->arch.field - visible + 1 : 0;
    int i = first + ev->y - tui_body_top(t) - 1;
    if (i < first || i >= n) return;
    if (i == t->arch.field) arch_action(t, ACT_ENTER);
    else t->arch.field = i;
}
