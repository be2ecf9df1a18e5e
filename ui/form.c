/* form.c — editable fields and edit checks (see form.h). */
#include "form.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const FormField FORM_HYPER_FIELDS[] = {
    {"train.lr", "lr", APPLY_EDIT},
    {"train.schedule.type", "schedule", APPLY_SCHEDULE},
    {"train.momentum", "momentum", APPLY_EDIT},
    {"train.nesterov", "nesterov", APPLY_EDIT},
    {"train.weight_decay", "weight decay", APPLY_EDIT},
    {"train.batch_size", "batch size", APPLY_EDIT},
    {"train.label_smoothing", "label smooth", APPLY_EDIT},
    {"model.dropout", "dropout", APPLY_REBUILD},
    {"data.augment.crop_pad", "crop pad", APPLY_EDIT},
    {"data.augment.pad_mode", "pad mode", APPLY_EDIT},
    {"data.augment.flip", "flip", APPLY_EDIT},
    {"data.augment.cutout_holes", "cutout holes", APPLY_EDIT},
    {"data.augment.cutout_size", "cutout size", APPLY_EDIT},
    {"train.eval_every", "eval every", APPLY_EDIT},
    {"train.checkpoint_every", "ckpt every", APPLY_EDIT},
    {"train.epochs", "epochs", APPLY_EDIT},
};
const int FORM_HYPER_COUNT = (int)(sizeof FORM_HYPER_FIELDS / sizeof FORM_HYPER_FIELDS[0]);

const FormField FORM_SCHEDULE_FIELDS[] = {
    {"train.schedule.type", "type", APPLY_EDIT},
    {"train.lr", "base lr", APPLY_EDIT},
    {"train.epochs", "epochs", APPLY_EDIT},
    {"train.schedule.warmup_epochs", "warmup epochs", APPLY_EDIT},
    {"train.schedule.warmup_start", "warmup start", APPLY_EDIT},
    {"train.schedule.milestones", "milestones", APPLY_EDIT},
    {"train.schedule.gamma", "gamma", APPLY_EDIT},
    {"train.schedule.min_lr", "min lr", APPLY_EDIT},
    {"train.schedule.pct_start", "pct start", APPLY_EDIT},
    {"train.schedule.div_factor", "div factor", APPLY_EDIT},
    {"train.schedule.final_div_factor", "final div", APPLY_EDIT},
    {"train.schedule.knots", "knots", APPLY_EDIT},
};
const int FORM_SCHEDULE_COUNT = (int)(sizeof FORM_SCHEDULE_FIELDS / sizeof FORM_SCHEDULE_FIELDS[0]);

int form_arch_fields(const char **keys, int max) {
    int n = 0;
    for (int i = 0; i < config_field_count() && n < max; i++) {
        const char *k = config_field_key(i);
        if (strncmp(k, "model.", 6) == 0 && strcmp(k, "model.num_classes") != 0) keys[n++] = k;
    }
    return n;
}

char *form_trim(char *s) {
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1])) s[--n] = 0;
    size_t a = 0;
    while (s[a] && isspace((unsigned char)s[a])) a++;
    if (a) memmove(s, s + a, n - a + 1);
    return s;
}

/* Messages from config_set() speak about --set; in the workbench the user typed into a field. */
static void copy_message(const char *m, char *msg, size_t len) {
    if (strncmp(m, "--set ", 6) == 0) m += 6;
    snprintf(msg, len, "%s", m);
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
}

void form_value(const Config *c, const char *key, char *buf, size_t len) {
    if (config_get(c, key, buf, len) != ST_OK && len) buf[0] = 0;
}

FormVerdict form_check(const Config *base, const char *key, const char *text, int epochs_done,
                       Config *out, char *msg, size_t len) {
    char value[1024];
    snprintf(value, sizeof value, "%s", text ? text : "");
    form_trim(value);
    if (msg && len) msg[0] = 0;
    if (config_field_find(key) < 0) {
        snprintf(msg, len, "%s: not a config key", key);
        return FORM_REFUSED;
    }
    if (!value[0]) {
        snprintf(msg, len, "%s: empty; type a value (Esc keeps %s)", key, key);
        return FORM_REFUSED;
    }
    char assignment[1200];
    snprintf(assignment, sizeof assignment, "%s=%s", key, value);
    Config next = *base;
    if (config_set(&next, assignment) != ST_OK) {
        copy_message(status_message(), msg, len);
        return FORM_REFUSED;
    }
    if (config_equal(&next, base)) {
        *out = next;
        return FORM_UNCHANGED;
    }
    if (!strcmp(key, "train.epochs") && epochs_done >= 0 && next.train.epochs <= epochs_done) {
        snprintf(msg, len, "train.epochs: %d epochs are already done; the run can be shortened "
                 "to %d at the least", epochs_done, epochs_done + 1);
        return FORM_REFUSED;
    }
    if (config_validate(&next) != ST_OK) {
        copy_message(status_message(), msg, len);
        /* The message names the key it is about: when that is another key, this value is
         * fine and the config only waits for the other one. */
        const char *about = strstr(msg, key);
        size_t kl = strlen(key);
        int this_key = about && (about[kl] == ':' || about[kl] == ' ' || about[kl] == 0);
        if (this_key) return FORM_REFUSED;
        *out = next;
        return FORM_INCOMPLETE;
    }
    *out = next;
    return FORM_OK;
}

int form_cycle(const char *key, const char *current, int dir, char *buf, size_t len) {
    int i = config_field_find(key);
    if (i < 0) return -1;
    static const char *const bools[] = {"false", "true", NULL};
    const char *const *choices = config_field_type(i) == CFT_BOOL ? bools : config_field_choices(i);
    if (!choices) return -1;
    int n = 0, at = -1;
    while (choices[n]) {
        if (current && !strcmp(choices[n], current)) at = n;
        n++;
    }
    if (n == 0) return -1;
    int next = at < 0 ? 0 : ((at + dir) % n + n) % n;
    snprintf(buf, len, "%s", choices[next]);
    return 0;
}

int form_model_diff(const Config *a, const Config *b, char *buf, size_t len) {
    int n = 0;
    size_t used = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < config_field_count(); i++) {
        const char *k = config_field_key(i);
        if (strncmp(k, "model.", 6) != 0) continue;
        char va[512], vb[512];
        form_value(a, k, va, sizeof va);
        form_value(b, k, vb, sizeof vb);
        if (!strcmp(va, vb)) continue;
        int w = snprintf(buf + used, used < len ? len - used : 0, "%s%s=%s", n ? "\n" : "", k, vb);
        if (w > 0) used += (size_t)w;
        n++;
    }
    return n;
}
