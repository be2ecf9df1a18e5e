/* config.h — a run's complete configuration, read from YAML and written back resolved.
 *
 * One Config describes a run: model, data, training. Every key a user can write is one entry of
 * a field table (config.c), which drives the YAML reader, `--set a.b=value` overrides, the YAML
 * writer and the workbench's editable fields, so the four can never disagree. Errors name
 * `file:line:col`, the key, what is wrong and what would be valid. */
#ifndef SHORTCUT_CONFIG_H
#define SHORTCUT_CONFIG_H

#include <stddef.h>

#include "schedule.h"
#include "status.h"

#define CONFIG_MAX_STAGES 8
#define CONFIG_NAME_LEN 64
#define CONFIG_PATH_LEN 512
#define CONFIG_MAX_FIELDS 96   /* capacity of the per-field origin table; >= the field count */

typedef enum ModelFamily { FAMILY_WRN = 0, FAMILY_RESNET_CIFAR, FAMILY_RESNET, FAMILY_CUSTOM } ModelFamily;
typedef enum BlockKind { BLOCK_BASIC = 0, BLOCK_PREACT } BlockKind;
typedef enum ShortcutKind { SHORTCUT_CONV1X1 = 0, SHORTCUT_CONV3X3, SHORTCUT_IDENTITY_PAD } ShortcutKind;
typedef enum HeadKind { HEAD_AVG = 0, HEAD_MAX4 } HeadKind;
typedef enum DatasetKind { DATASET_SHAPES = 0, DATASET_CIFAR10, DATASET_CIFAR100 } DatasetKind;
typedef enum PadMode { PAD_ZEROS = 0, PAD_REFLECT } PadMode;
typedef enum Precision { PRECISION_AUTO = 0, PRECISION_FP32, PRECISION_BF16, PRECISION_FP16 } Precision;
/* auto: dynamic when train.precision is fp16 (lossscale.h), none otherwise */
typedef enum LossScaling { LOSS_SCALING_AUTO = 0, LOSS_SCALING_DYNAMIC, LOSS_SCALING_NONE } LossScaling;

typedef struct StageConfig {
    int blocks;
    int width;
    int stride;
} StageConfig;

typedef struct ModelConfig {
    ModelFamily family;
    int depth;            /* wrn: 6n+4; resnet_cifar: 6n+2; resnet: 18 or 34 */
    int width;            /* wrn: widening factor k */
    float dropout;        /* wrn: dropout between the two convs of a block */
    ShortcutKind shortcut;
    /* custom (and the expanded form of every family): */
    int stem_width;
    int stem_kernel;
    int stem_stride;
    int stem_maxpool;     /* 1: maxpool 3x3/2 after the stem (ImageNet layout) */
    float stem_dropout2d;
    int conv_bias;        /* 1: convolutions carry a bias (the ImageNet ResNet tutorial) */
    BlockKind block;
    int relu_after_add;
    HeadKind head;
    int num_stages;
    StageConfig stages[CONFIG_MAX_STAGES];
    int num_classes;      /* 0: from the dataset */
} ModelConfig;

typedef struct AugmentConfig {
    int crop_pad;         /* pixels of padding before the random 32x32 crop; 0: no crop */
    PadMode pad_mode;
    int flip;             /* random horizontal flip with p = 0.5 */
    int cutout_holes;
    int cutout_size;      /* side of each square hole, pixels */
    int resize;           /* 0: native 32; else the side to resize to (224) */
} AugmentConfig;

typedef struct DataConfig {
    DatasetKind dataset;
    char root[CONFIG_PATH_LEN];   /* "" = $SHORTCUT_DATA, then ./data, then ../shared/data */
    float val_fraction;           /* held out of the training set, chosen by seed */
    int limit_train;              /* 0: all */
    int limit_test;               /* 0: all */
    float mean[3];
    float std[3];
    AugmentConfig augment;
    int shapes_train;             /* images in the generated shapes dataset */
    int shapes_test;
} DataConfig;

typedef struct TrainConfig {
    int epochs;
    int batch_size;
    float lr;
    float momentum;
    int nesterov;
    float weight_decay;
    float label_smoothing;
    ScheduleConfig schedule;
    unsigned long long seed;
    int eval_every;               /* epochs between evaluations; 0: only at the end */
    int checkpoint_every;         /* epochs between checkpoints; 0: only at the end */
    char device[16];              /* auto | cpu | cuda | reference */
    Precision precision;
    LossScaling loss_scaling;
    float loss_scale_init;        /* first scale, rounded to a power of two */
    int threads;                  /* 0: all cores, less while others are busy (cpushare.h) */
    int deterministic;
    int memory_limit_mb;          /* most MiB of tensors the backend holds; 0: the device's all */
} TrainConfig;

typedef struct Config {
    char name[CONFIG_NAME_LEN];
    ModelConfig model;
    DataConfig data;
    TrainConfig train;
    char source[CONFIG_PATH_LEN]; /* file it was read from, for messages; "" if none */
    /* Where each field's current value came from, indexed like the field table, so that
     * config_validate() can point at it: line > 0 is source:line:col (1-based), line
     * CONFIG_ORIGIN_SET a config_set() (--set), 0 the default. Not part of the value:
     * config_equal() and config_to_yaml() ignore it and `source`. */
    struct { int line, col; } origin[CONFIG_MAX_FIELDS];
} Config;

#define CONFIG_ORIGIN_SET (-1)

/* Value kinds of the field table, for editors. */
typedef enum ConfigFieldType {
    CFT_INT = 0,
    CFT_U64,          /* train.seed */
    CFT_FLOAT,
    CFT_BOOL,
    CFT_STRING,       /* config_field_choices() non-NULL: one of those (train.device) */
    CFT_ENUM,         /* one of config_field_choices() */
    CFT_FLOAT_LIST,   /* [a, b, ...] */
    CFT_KNOTS,        /* [[epoch, lr], ...] */
    CFT_STAGES,       /* [{blocks: 2, width: 16, stride: 1}, ...] */
} ConfigFieldType;

/* Defaults: the `quick` demo (small resnet on shapes; configs/quick.yaml spells it out).
 * Origins are all 0 and source is "". */
void config_defaults(Config *c);

/* config_defaults() then every key in the file. Errors: ST_ERR_IO (unreadable file),
 * ST_ERR_CONFIG (with `file:line:col: message`). Validates at the end. *c is only written on
 * success. */
Status config_load(const char *path, Config *c);
/* config_load without the final config_validate: for callers that apply overrides first
 * (`--set` may make a file valid, e.g. shorten train.epochs below a warmup). */
Status config_read(const char *path, Config *c);
/* The same from a string; `origin` names it in messages. */
Status config_load_string(const char *yaml, const char *origin, Config *c);

/* Apply one override "section.key=value" (value in YAML syntax: 0.1, true, [60, 120], zeros;
 * a section takes a flow mapping: train.schedule={type: multistep, milestones: [2, 4]}).
 * Checks the value itself (type, range) and leaves *c unchanged on failure; messages start
 * with `--set section.key: `. Does not validate cross-field rules; call config_validate after
 * the last one. */
Status config_set(Config *c, const char *assignment);

/* Every field's own rule (ranges, names, increasing lists) and the cross-field ones (a depth the
 * family can build, custom has stages, nesterov needs momentum, milestones within the run,
 * piecewise has knots, warmup within the run, ...). The message names the key and where its
 * value came from: `file:line:col: key: ...`, `--set key: ...`, or `file: key: ...` for a
 * default the file left unset. */
Status config_validate(const Config *c);

/* The fully-resolved config as YAML (every key, in table order; keys the family, schedule or
 * dataset does not read carry an `# unused ...` comment). Loading it back gives a Config that
 * config_equal()s this one. Returns a malloc'd string, NULL when out of memory. */
char *config_to_yaml(const Config *c);
/* Write config_to_yaml() to `path` atomically (temp file in the same directory, fsync,
 * rename; mode 0644). */
Status config_save(const Config *c, const char *path);

/* Field table access for the workbench: dotted key ("train.lr"), current value as YAML text
 * (one line, flow style: what config_set() accepts back). config_get fails with ST_ERR_CONFIG
 * for an unknown key, ST_ERR_ARG when `len` is too small. */
int config_field_count(void);
const char *config_field_key(int i);
const char *config_field_help(int i);
Status config_get(const Config *c, const char *key, char *buf, size_t len);
/* Index of a dotted key, -1 if none. */
int config_field_find(const char *key);
ConfigFieldType config_field_type(int i);
/* The default value as YAML text ("0.05", "cosine", "[0.5, 0.5, 0.5]"). */
const char *config_field_default(int i);
/* NULL-terminated allowed values of an enum (or restricted string) field; NULL otherwise. */
const char *const *config_field_choices(int i);
/* 0 when the current family / schedule type / dataset does not read field i (the model.stages
 * of a wrn, train.schedule.milestones of a cosine schedule): editors can grey it out. */
int config_field_relevant(const Config *c, int i);

/* 1 when every field has the same value (source and origins are not compared). */
int config_equal(const Config *a, const Config *b);

/* Names used in messages and summaries. */
const char *config_family_name(ModelFamily f);
const char *config_dataset_name(DatasetKind d);
const char *config_precision_name(Precision p);

#endif
