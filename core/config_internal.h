/* config_internal.h — the field table shared by config.c (table, defaults, YAML writer,
 * accessors), config_read.c (YAML reader, --set) and config_check.c (range rules, cross-field
 * validation). Private to those three files; nothing outside core/config*.c includes it.
 *
 * A Field is one user-visible key. Everything the four consumers need is in its row: where the
 * value lives in Config, its type, its range or rule, its allowed names, which family /
 * schedule / dataset reads it, its default (YAML text, parsed by the reader itself, so the
 * defaults go through the same checks as a user's file) and its help. */
#ifndef SHORTCUT_CONFIG_INTERNAL_H
#define SHORTCUT_CONFIG_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>

#include "config.h"

/* Range flags. */
enum {
    R_MIN = 1,        /* has a lower bound */
    R_MAX = 2,        /* has an upper bound */
    R_MIN_OPEN = 4,   /* lower bound excluded (> min) */
    R_MAX_OPEN = 8,   /* upper bound excluded (< max) */
};

typedef struct Range {
    double min, max;
    unsigned flags;
} Range;

/* Checks beyond a range. */
typedef enum FieldRule {
    RULE_NONE = 0,
    RULE_ODD,            /* int: odd (kernel sizes) */
    RULE_ZERO_OR_RANGE,  /* int: 0 means off, anything else must be in the range */
    RULE_INCREASING,     /* float list / knot epochs: strictly increasing */
    RULE_NONEMPTY,       /* string: not "" */
} FieldRule;

/* Which setting decides whether a field is read at all (for comments and greying out). */
typedef enum FieldScope { SCOPE_ALL = 0, SCOPE_FAMILY, SCOPE_SCHEDULE, SCOPE_DATASET } FieldScope;

#define FIELD_NO_COUNT ((size_t)-1)

typedef struct Field {
    const char *key;             /* dotted: "train.schedule.gamma" */
    ConfigFieldType type;
    size_t offset;               /* value, or the first array (knots: epochs; stages) */
    size_t offset2;              /* knots: the lr array */
    size_t count_offset;         /* lists: int element count; FIELD_NO_COUNT: fixed length */
    int capacity;                /* lists: max (or fixed) elements; strings: buffer size */
    const char *const *names;    /* enums and restricted strings: NULL-terminated */
    Range range;                 /* numbers, and each element of a list */
    FieldRule rule;
    FieldScope scope;
    unsigned used_by;            /* scope != ALL: bit per family / schedule kind / dataset */
    const char *def;             /* default as YAML text */
    const char *help;
} Field;

extern const Field CONFIG_FIELDS[];
extern const int CONFIG_NUM_FIELDS;

/* The stage mapping's keys ({blocks, width, stride}), with their ranges. */
typedef struct StageKey {
    const char *name;
    size_t offset;               /* in StageConfig */
    Range range;
    int required;
} StageKey;
extern const StageKey CONFIG_STAGE_KEYS[3];

/* Field index by exact key, -1 if none. */
int cfg_find(const char *key);
/* 1 when `prefix` ("train", "data.augment") is a section: some key starts with "prefix.". */
int cfg_is_section(const char *prefix);
/* Number of names in a NULL-terminated list. */
int cfg_count_names(const char *const *names);

/* Shortest decimal text that reads back as exactly `v` (YAML/pyyaml-friendly: "0.05",
 * "1.0e-05", "10000"). buf >= 32. */
void cfg_format_float(float v, char *buf, size_t len);

/* A growable string. Appends after an allocation failure are ignored and `failed` is set. */
typedef struct StrBuf {
    char *data;
    size_t len, cap;
    int failed;
} StrBuf;
void cfg_sb_printf(StrBuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse `text` (YAML) as the value of field `field` of *c, with the reader's checks; how
 * config_defaults() applies the table's defaults (config_read.c). */
Status cfg_set_from_text(Config *c, int field, const char *text);

/* Append field f's value in c as one-line flow YAML. */
void cfg_format_value(const Field *f, const Config *c, StrBuf *sb);

/* "unknown key 'lr_sheduler' in 'train' (did you mean 'schedule'?)" for a name under a
 * section ("" = the top level). */
void cfg_unknown_key_message(const char *section, const char *name, char *buf, size_t len);
/* The closest of `n` candidates to `name` by edit distance, or NULL when none is close. */
const char *cfg_suggest(const char *name, const char *const *cands, int n);

/* Range / rule checks shared by the reader and config_validate. On failure they write the
 * problem ("must be > 0, got -0.1") to msg and return 0. */
int cfg_check_number(const Range *r, FieldRule rule, double v, int is_int, char *msg, size_t len);
int cfg_check_choice(const char *const *names, const char *value, char *msg, size_t len);

#endif
