/* form.h — the editable fields of the workbench and the checks an edit passes before it is sent.
 *
 * Every key, its type, its allowed values and its rules come from the config's field table
 * (config.h): a field here is only a key plus how the workbench applies it. An edit is checked
 * on a copy of the current config with config_set() (the value itself) and config_validate()
 * (the whole config); a refused edit leaves nothing changed and nothing sent, and says why in
 * one line. */
#ifndef SHORTCUT_UI_FORM_H
#define SHORTCUT_UI_FORM_H

#include <stddef.h>

#include "config.h"

typedef enum FieldApply {
    APPLY_EDIT = 0,     /* CMD_SET: takes effect at the next step */
    APPLY_REBUILD,      /* CMD_REBUILD: the model's layers change (model.dropout adds layers) */
    APPLY_SCHEDULE,     /* opens the schedule editor */
} FieldApply;

typedef struct FormField {
    const char *key;    /* config key */
    const char *label;  /* short name shown in the panel */
    FieldApply apply;
} FormField;

/* The hyperparameters panel, in display order. */
extern const FormField FORM_HYPER_FIELDS[];
extern const int FORM_HYPER_COUNT;
/* The schedule editor's fields (train.lr, train.epochs and train.schedule.*). */
extern const FormField FORM_SCHEDULE_FIELDS[];
extern const int FORM_SCHEDULE_COUNT;

/* The architecture editor's fields: every model.* key of the config table except
 * model.num_classes (the dataset decides it), in table order. Returns how many (<= max). */
int form_arch_fields(const char **keys, int max);

typedef enum FormVerdict {
    FORM_OK = 0,          /* valid and different: *out holds the new config */
    FORM_UNCHANGED,       /* valid, same value: nothing to send */
    FORM_REFUSED,         /* the value is wrong: msg says why; nothing changes */
    FORM_INCOMPLETE,      /* the value is fine but the config is not valid yet because of another
                             key (an editor may keep it pending): msg says which */
} FormVerdict;

/* Check `key` := `text` against `base`. `epochs_done` (-1: not running) refuses shortening a
 * run below what is already trained. msg receives one line (no "--set " prefix). */
FormVerdict form_check(const Config *base, const char *key, const char *text, int epochs_done,
                       Config *out, char *msg, size_t len);

/* The field's value as text (config_get), "" on failure. */
void form_value(const Config *c, const char *key, char *buf, size_t len);

/* For enum and bool fields: the next (dir = +1) or previous (-1) allowed value after `current`,
 * wrapping. Returns 0 and writes it, or -1 when the field has no list of values. */
int form_cycle(const char *key, const char *current, int dir, char *buf, size_t len);

/* The model.* keys whose values differ between a and b, as "key=value" lines (for CMD_REBUILD).
 * Returns how many. */
int form_model_diff(const Config *a, const Config *b, char *buf, size_t len);

/* Trim spaces at both ends in place; returns s. */
char *form_trim(char *s);

#endif
