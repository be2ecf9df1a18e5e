/* config.c — the field table (every key a user can write) and what reads it without parsing:
 * defaults, the YAML writer, atomic save, equality and the accessors the workbench edits with.
 *
 * Invariants: every key is one row of CONFIG_FIELDS; rows of one section are contiguous and
 * sections appear in the order of the resolved YAML (name, model, data, data.augment, train,
 * train.schedule), so the writer can open each mapping once. Defaults are YAML text in the
 * table and go through the same reader as a user's file. Reading lives in config_read.c,
 * range rules and cross-field validation in config_check.c. */
#include "config_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "augment.h"

static const char *const FAMILY_NAMES[] = {"wrn", "resnet_cifar", "resnet", "custom", NULL};
static const char *const BLOCK_NAMES[] = {"basic", "preact", NULL};
static const char *const SHORTCUT_NAMES[] = {"conv1x1", "conv3x3", "identity_pad", NULL};
static const char *const HEAD_NAMES[] = {"avg", "max4", NULL};
static const char *const DATASET_NAMES[] = {"shapes", "cifar10", "cifar100", NULL};
static const char *const PAD_NAMES[] = {"zeros", "reflect", NULL};
static const char *const PRECISION_NAMES[] = {"auto", "fp32", "bf16", "fp16", NULL};
static const char *const DEVICE_NAMES[] = {"auto", "cpu", "cuda", "reference", NULL};
static const char *const LOSS_SCALING_NAMES[] = {"auto", "dynamic", "none", NULL};

_Static_assert(sizeof(ModelFamily) == sizeof(int) && sizeof(BlockKind) == sizeof(int) &&
               sizeof(ShortcutKind) == sizeof(int) && sizeof(HeadKind) == sizeof(int) &&
               sizeof(DatasetKind) == sizeof(int) && sizeof(PadMode) == sizeof(int) &&
               sizeof(Precision) == sizeof(int) && sizeof(ScheduleKind) == sizeof(int),
               "enum fields are stored and read as int");

#define OFF(m) offsetof(Config, m)
#define FAM(f) (1u << (f))
#define SCHED(k) (1u << (k))
#define DATA(d) (1u << (d))

/* Row openers by type; ranges and the rest are designated initializers after them. */
#define F_INT(k, m) .key = k, .type = CFT_INT, .offset = OFF(m)
#define F_U64(k, m) .key = k, .type = CFT_U64, .offset = OFF(m)
#define F_FLOAT(k, m) .key = k, .type = CFT_FLOAT, .offset = OFF(m)
#define F_BOOL(k, m) .key = k, .type = CFT_BOOL, .offset = OFF(m)
#define F_STRING(k, m) .key = k, .type = CFT_STRING, .offset = OFF(m), \
                       .capacity = (int)sizeof(((Config *)0)->m)
#define F_ENUM(k, m, n) .key = k, .type = CFT_ENUM, .offset = OFF(m), .names = n
#define F_FIXED3(k, m) .key = k, .type = CFT_FLOAT_LIST, .offset = OFF(m), \
                       .count_offset = FIELD_NO_COUNT, .capacity = 3

#define GE(a) .range = {(a), 0, R_MIN}
#define GT(a) .range = {(a), 0, R_MIN | R_MIN_OPEN}
#define IN_CC(a, b) .range = {(a), (b), R_MIN | R_MAX}
#define IN_CO(a, b) .range = {(a), (b), R_MIN | R_MAX | R_MAX_OPEN}
#define IN_OO(a, b) .range = {(a), (b), R_MIN | R_MAX | R_MIN_OPEN | R_MAX_OPEN}

#define FOR_FAMILIES(mask) .scope = SCOPE_FAMILY, .used_by = (mask)
#define FOR_SCHEDULES(mask) .scope = SCOPE_SCHEDULE, .used_by = (mask)
#define FOR_DATASETS(mask) .scope = SCOPE_DATASET, .used_by = (mask)

const Field CONFIG_FIELDS[] = {
    {F_STRING("name", name), .rule = RULE_NONEMPTY, .def = "quick",
     .help = "Name of the run: the run directory and the logs use it."},

    /* ---- model ---- */
    {F_ENUM("model.family", model.family, FAMILY_NAMES), .def = "custom",
     .help = "Architecture family. wrn (Wide ResNet: reads depth, width, dropout, shortcut), "
             "resnet_cifar (He et al. 2015 CIFAR ResNet: depth, shortcut), resnet (ImageNet "
             "layout ResNet-18/34: depth, conv_bias) or custom (reads the stem_*, block, "
             "relu_after_add, head, stages, shortcut and conv_bias keys)."},
    {F_INT("model.depth", model.depth), GE(0), .def = "0",
     FOR_FAMILIES(FAM(FAMILY_WRN) | FAM(FAMILY_RESNET_CIFAR) | FAM(FAMILY_RESNET)),
     .help = "Layers. wrn: 6n+4 (10, 16, 22, 28, 34, 40); resnet_cifar: 6n+2 (20, 32, 44, "
             "56, 110); resnet: 18 or 34. Not read by custom."},
    {F_INT("model.width", model.width), IN_CC(1, 64), .def = "1", FOR_FAMILIES(FAM(FAMILY_WRN)),
     .help = "wrn widening factor k: stage widths 16k, 32k, 64k (WRN-28-10 has k = 10)."},
    {F_FLOAT("model.dropout", model.dropout), IN_CO(0, 1), .def = "0",
     FOR_FAMILIES(FAM(FAMILY_WRN)),
     .help = "wrn: dropout probability between the two convolutions of each block."},
    {F_ENUM("model.shortcut", model.shortcut, SHORTCUT_NAMES), .def = "conv1x1",
     FOR_FAMILIES(FAM(FAMILY_WRN) | FAM(FAMILY_RESNET_CIFAR) | FAM(FAMILY_CUSTOM)),
     .help = "Skip path of a block that changes shape: conv1x1 (+BN; WRN paper, He et al. "
             "option B), conv3x3 (+BN; the WRN and CIFAR-100 tutorials) or identity_pad "
             "(subsample and zero-pad channels; He et al. option A). resnet always uses "
             "conv1x1."},
    {F_INT("model.stem_width", model.stem_width), IN_CC(1, 4096), .def = "16",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: output channels of the stem convolution."},
    {F_INT("model.stem_kernel", model.stem_kernel), IN_CC(1, 11), .rule = RULE_ODD, .def = "3",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: stem convolution kernel side (odd; padding keeps the size at stride 1)."},
    {F_INT("model.stem_stride", model.stem_stride), IN_CC(1, 4), .def = "1",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)), .help = "custom: stem convolution stride."},
    {F_BOOL("model.stem_maxpool", model.stem_maxpool), .def = "false",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: max pool 3x3 stride 2 after the stem (the ImageNet layout)."},
    {F_FLOAT("model.stem_dropout2d", model.stem_dropout2d), IN_CO(0, 1), .def = "0",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: channel dropout (Dropout2d) probability after the stem."},
    {F_BOOL("model.conv_bias", model.conv_bias), .def = "false",
     FOR_FAMILIES(FAM(FAMILY_RESNET) | FAM(FAMILY_CUSTOM)),
     .help = "Convolutions carry a bias (the ResNet-34 tutorial does). resnet and custom."},
    {F_ENUM("model.block", model.block, BLOCK_NAMES), .def = "basic",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: basic (conv-BN-ReLU-conv-BN, add) or preact (BN-ReLU-conv twice, add)."},
    {F_BOOL("model.relu_after_add", model.relu_after_add), .def = "true",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: ReLU after the residual add (He et al.); the CIFAR-100 tutorial has none."},
    {F_ENUM("model.head", model.head, HEAD_NAMES), .def = "avg", FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: avg (global average pool, linear) or max4 (max pool 4 stride 1, linear; "
             "the CIFAR-100 tutorial)."},
    {.key = "model.stages", .type = CFT_STAGES, .offset = OFF(model.stages),
     .count_offset = OFF(model.num_stages), .capacity = CONFIG_MAX_STAGES,
     .def = "[{blocks: 2, width: 16, stride: 1}, {blocks: 2, width: 32, stride: 2}, "
            "{blocks: 2, width: 64, stride: 2}]",
     FOR_FAMILIES(FAM(FAMILY_CUSTOM)),
     .help = "custom: stages of blocks, each {blocks: N, width: C, stride: 1 or 2 (default 1)}; "
             "the first block of a stage applies the stride."},
    {F_INT("model.num_classes", model.num_classes), IN_CC(0, 100000), .def = "0",
     .help = "Outputs of the final linear layer; 0 takes it from the dataset (10 or 100)."},

    /* ---- data ---- */
    {F_ENUM("data.dataset", data.dataset, DATASET_NAMES), .def = "shapes",
     .help = "shapes (built in, procedural, 10 classes), cifar10 or cifar100 (official binary "
             "files, see scripts/fetch-cifar.sh)."},
    {F_STRING("data.root", data.root), .def = "\"\"",
     FOR_DATASETS(DATA(DATASET_CIFAR10) | DATA(DATASET_CIFAR100)),
     .help = "Directory holding cifar-10-batches-bin/ or cifar-100-binary/; empty: "
             "$SHORTCUT_DATA, then ./data, then ../shared/data."},
    {F_FLOAT("data.val_fraction", data.val_fraction), IN_CC(0, 0.9), .def = "0",
     .help = "Fraction of the training set held out for validation (chosen by train.seed)."},
    {F_INT("data.limit_train", data.limit_train), GE(0), .def = "0",
     .help = "Use only the first N training images (after the split); 0: all."},
    {F_INT("data.limit_test", data.limit_test), GE(0), .def = "0",
     .help = "Use only the first N test images; 0: all."},
    {F_FIXED3("data.mean", data.mean), .def = "[0.5, 0.5, 0.5]",
     .help = "Per-channel (R, G, B) mean subtracted after scaling pixels to [0, 1]."},
    {F_FIXED3("data.std", data.std), GT(0), .def = "[0.5, 0.5, 0.5]",
     .help = "Per-channel (R, G, B) standard deviation divided by after the mean."},
    {F_INT("data.shapes_train", data.shapes_train), IN_CC(1, 1000000), .def = "5000",
     FOR_DATASETS(DATA(DATASET_SHAPES)), .help = "shapes: training images generated."},
    {F_INT("data.shapes_test", data.shapes_test), IN_CC(1, 1000000), .def = "1000",
     FOR_DATASETS(DATA(DATASET_SHAPES)), .help = "shapes: test images generated."},
    {F_INT("data.augment.crop_pad", data.augment.crop_pad), IN_CC(0, 16), .def = "4",
     .help = "Random crop: pad the image by this many pixels, crop 32x32 back; 0: no crop."},
    {F_ENUM("data.augment.pad_mode", data.augment.pad_mode, PAD_NAMES), .def = "zeros",
     .help = "Padding for the random crop: zeros or reflect."},
    {F_BOOL("data.augment.flip", data.augment.flip), .def = "true",
     .help = "Random horizontal flip with probability 0.5."},
    {F_INT("data.augment.cutout_holes", data.augment.cutout_holes), IN_CC(0, AUGMENT_MAX_HOLES),
     .def = "0", .help = "Cutout: square holes zeroed per image (after normalization); 0: off."},
    {F_INT("data.augment.cutout_size", data.augment.cutout_size), IN_CC(0, 1024), .def = "16",
     .help = "Cutout: side of each hole in pixels, clipped at the border."},
    {F_INT("data.augment.resize", data.augment.resize), IN_CC(32, 1024),
     .rule = RULE_ZERO_OR_RANGE, .def = "0",
     .help = "Resize images to this side (bilinear) after crop and flip; 0: keep 32."},

    /* ---- train ---- */
    {F_INT("train.epochs", train.epochs), IN_CC(1, 100000), .def = "4",
     .help = "Passes over the training set."},
    {F_INT("train.batch_size", train.batch_size), IN_CC(1, 65536), .def = "64",
     .help = "Images per optimizer step."},
    {F_FLOAT("train.lr", train.lr), GT(0), .def = "0.05",
     .help = "Base learning rate: the peak the schedule scales (onecycle: max_lr)."},
    {F_FLOAT("train.momentum", train.momentum), IN_CO(0, 1), .def = "0.9",
     .help = "SGD momentum (torch.optim.SGD semantics)."},
    {F_BOOL("train.nesterov", train.nesterov), .def = "false",
     .help = "Nesterov momentum (needs momentum > 0)."},
    {F_FLOAT("train.weight_decay", train.weight_decay), GE(0), .def = "0.0005",
     .help = "L2 weight decay added to the gradient (coupled, like torch.optim.SGD)."},
    {F_FLOAT("train.label_smoothing", train.label_smoothing), IN_CO(0, 1), .def = "0",
     .help = "Label smoothing of the cross-entropy target."},
    {F_U64("train.seed", train.seed), .def = "0",
     .help = "Seed of every random choice: init, shuffling, augmentation, dropout, split."},
    {F_INT("train.eval_every", train.eval_every), GE(0), .def = "1",
     .help = "Epochs between evaluations; 0: only at the end."},
    {F_INT("train.checkpoint_every", train.checkpoint_every), GE(0), .def = "1",
     .help = "Epochs between checkpoints; 0: only at the end."},
    {F_STRING("train.device", train.device), .names = DEVICE_NAMES, .def = "auto",
     .help = "auto (cuda when a GPU works, else cpu), cpu, cuda or reference (the slow, plain "
             "CPU oracle)."},
    {F_ENUM("train.precision", train.precision, PRECISION_NAMES), .def = "auto",
     .help = "Compute precision: auto (bf16 where supported on the GPU, else fp32), fp32, bf16 "
             "or fp16; master weights stay fp32."},
    {F_ENUM("train.loss_scaling", train.loss_scaling, LOSS_SCALING_NAMES), .def = "auto",
     .help = "Loss scaling, so small fp16 gradients do not flush to zero: auto (dynamic with "
             "precision fp16, else none), dynamic or none. Steps whose gradients overflow are "
             "skipped and the scale halves; 2000 good steps double it."},
    {F_FLOAT("train.loss_scale_init", train.loss_scale_init), IN_CC(1.0 / 16777216, 16777216),
     .def = "65536", .help = "First loss scale of dynamic scaling, rounded to a power of two."},
    {F_INT("train.threads", train.threads), IN_CC(0, 4096), .def = "0",
     .help = "CPU threads; 0: all cores, one fewer per core other programs keep busy."},
    {F_INT("train.memory_limit_mb", train.memory_limit_mb), IN_CC(0, 16777216), .def = "0",
     .help = "Most MiB of tensors the run may hold on its device (0: all it has; cpu and cuda "
             "devices); a batch size raised past it is refused, training goes on at the old one."},
    {F_BOOL("train.deterministic", train.deterministic), .def = "false",
     .help = "Prefer deterministic algorithms (same numbers run to run) over the fastest."},
    {F_ENUM("train.schedule.type", train.schedule.kind, SCHEDULE_KIND_NAMES), .def = "cosine",
     .help = "Learning-rate schedule: constant, multistep (x gamma at each milestone), cosine "
             "(to min_lr at the end), onecycle (torch OneCycleLR) or piecewise (knots)."},
    {.key = "train.schedule.milestones", .type = CFT_FLOAT_LIST,
     .offset = OFF(train.schedule.milestones), .count_offset = OFF(train.schedule.num_milestones),
     .capacity = SCHEDULE_MAX_MILESTONES, GT(0), .rule = RULE_INCREASING, .def = "[]",
     FOR_SCHEDULES(SCHED(SCHEDULE_MULTISTEP)),
     .help = "multistep: epochs at which the lr is multiplied by gamma, increasing."},
    {F_FLOAT("train.schedule.gamma", train.schedule.gamma), GT(0), .def = "0.1",
     FOR_SCHEDULES(SCHED(SCHEDULE_MULTISTEP)), .help = "multistep: factor at each milestone."},
    {F_FLOAT("train.schedule.warmup_epochs", train.schedule.warmup_epochs), GE(0), .def = "0",
     .help = "Linear warmup length in epochs (fractions allowed); multiplies any schedule by a "
             "factor rising from warmup_start to 1."},
    {F_FLOAT("train.schedule.warmup_start", train.schedule.warmup_start), IN_CC(0, 1),
     .def = "0", .help = "Warmup starts at this fraction of the scheduled lr."},
    {F_FLOAT("train.schedule.min_lr", train.schedule.min_lr), GE(0), .def = "0",
     FOR_SCHEDULES(SCHED(SCHEDULE_COSINE)), .help = "cosine: the lr at the last epoch."},
    {F_FLOAT("train.schedule.pct_start", train.schedule.pct_start), IN_OO(0, 1), .def = "0.3",
     FOR_SCHEDULES(SCHED(SCHEDULE_ONECYCLE)),
     .help = "onecycle: fraction of the run spent rising to the peak lr."},
    {F_FLOAT("train.schedule.div_factor", train.schedule.div_factor), GT(0), .def = "25",
     FOR_SCHEDULES(SCHED(SCHEDULE_ONECYCLE)), .help = "onecycle: start lr = lr / div_factor."},
    {F_FLOAT("train.schedule.final_div_factor", train.schedule.final_div_factor), GT(0),
     .def = "10000", FOR_SCHEDULES(SCHED(SCHEDULE_ONECYCLE)),
     .help = "onecycle: final lr = start lr / final_div_factor."},
    {.key = "train.schedule.knots", .type = CFT_KNOTS, .offset = OFF(train.schedule.knot_epoch),
     .offset2 = OFF(train.schedule.knot_lr), .count_offset = OFF(train.schedule.num_knots),
     .capacity = SCHEDULE_MAX_KNOTS, GE(0), .rule = RULE_INCREASING, .def = "[]",
     FOR_SCHEDULES(SCHED(SCHEDULE_PIECEWISE)),
     .help = "piecewise: [[epoch, lr], ...] with increasing epochs; linear between knots, flat "
             "outside; the lrs are absolute (train.lr is not used)."},
};

const int CONFIG_NUM_FIELDS = (int)(sizeof CONFIG_FIELDS / sizeof CONFIG_FIELDS[0]);
_Static_assert(sizeof CONFIG_FIELDS / sizeof CONFIG_FIELDS[0] <= CONFIG_MAX_FIELDS,
               "raise CONFIG_MAX_FIELDS in config.h");

const StageKey CONFIG_STAGE_KEYS[3] = {
    {"blocks", offsetof(StageConfig, blocks), {1, 1000, R_MIN | R_MAX}, 1},
    {"width", offsetof(StageConfig, width), {1, 16384, R_MIN | R_MAX}, 1},
    {"stride", offsetof(StageConfig, stride), {1, 2, R_MIN | R_MAX}, 0},
};

/* ---- lookup ---- */

int cfg_find(const char *key) {
    if (!key) return -1;
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++)
        if (strcmp(CONFIG_FIELDS[i].key, key) == 0) return i;
    return -1;
}

int cfg_is_section(const char *prefix) {
    if (!prefix) return 0;
    if (!*prefix) return 1;
    size_t n = strlen(prefix);
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++)
        if (strncmp(CONFIG_FIELDS[i].key, prefix, n) == 0 && CONFIG_FIELDS[i].key[n] == '.')
            return 1;
    return 0;
}

int cfg_count_names(const char *const *names) {
    int n = 0;
    while (names && names[n]) n++;
    return n;
}

/* ---- defaults ---- */

void config_defaults(Config *c) {
    if (!c) return;
    memset(c, 0, sizeof *c);
    schedule_defaults(&c->train.schedule);
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++) {
        /* A default that does not parse is a bug in the table; test_config checks every one
         * through config_field_default(), so the status carries no news at run time. */
        Status st = cfg_set_from_text(c, i, CONFIG_FIELDS[i].def);
        (void)st;
    }
    for (int i = 0; i < CONFIG_MAX_FIELDS; i++) c->origin[i].line = c->origin[i].col = 0;
}

/* ---- formatting ---- */

void cfg_sb_printf(StrBuf *sb, const char *fmt, ...) {
    if (sb->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        size_t room = sb->cap - sb->len;
        int n = vsnprintf(sb->data ? sb->data + sb->len : NULL, sb->data ? room : 0, fmt, ap);
        va_end(ap);
        if (n < 0) { sb->failed = 1; return; }
        if (sb->data && (size_t)n < room) { sb->len += (size_t)n; return; }
        size_t want = sb->len + (size_t)n + 1;
        size_t cap = sb->cap ? sb->cap : 256;
        while (cap < want) cap *= 2;
        char *p = realloc(sb->data, cap);
        if (!p) { sb->failed = 1; return; }
        sb->data = p;
        sb->cap = cap;
    }
}

void cfg_format_float(float v, char *buf, size_t len) {
    char tmp[48];
    for (int prec = 6; prec <= 9; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, (double)v);
        if (strtof(tmp, NULL) == v) break;
    }
    /* pyyaml reads "1e-05" as a string; "1.0e-05" is a float everywhere. */
    char *e = strchr(tmp, 'e');
    if (e && !memchr(tmp, '.', (size_t)(e - tmp))) {
        char out[56];
        snprintf(out, sizeof out, "%.*s.0%s", (int)(e - tmp), tmp, e);
        snprintf(buf, len, "%s", out);
        return;
    }
    snprintf(buf, len, "%s", tmp);
}

/* Plain YAML when the text cannot be mistaken for anything but a string (by us or by pyyaml),
 * double-quoted with escapes otherwise. */
static int plain_safe(const char *s) {
    static const char *const reserved[] = {"true", "false", "yes", "no", "on", "off", "y", "n",
                                           "null", NULL};
    if (!*s) return 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == '/'))
        return 0;
    for (const char *p = s; *p; p++) {
        char ch = *p;
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-' || ch == '.' || ch == '/' || ch == '+';
        if (!ok) return 0;
    }
    for (int i = 0; reserved[i]; i++)
        if (strcasecmp(s, reserved[i]) == 0) return 0;
    return 1;
}

static void format_string(const char *s, StrBuf *sb) {
    if (plain_safe(s)) { cfg_sb_printf(sb, "%s", s); return; }
    cfg_sb_printf(sb, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': cfg_sb_printf(sb, "\\\""); break;
        case '\\': cfg_sb_printf(sb, "\\\\"); break;
        case '\n': cfg_sb_printf(sb, "\\n"); break;
        case '\t': cfg_sb_printf(sb, "\\t"); break;
        default:
            if (*p < 0x20 || *p == 0x7f) cfg_sb_printf(sb, "\\x%02x", *p);
            else cfg_sb_printf(sb, "%c", *p);
        }
    }
    cfg_sb_printf(sb, "\"");
}

static void format_float_value(float v, StrBuf *sb) {
    char buf[48];
    cfg_format_float(v, buf, sizeof buf);
    cfg_sb_printf(sb, "%s", buf);
}

static int list_count(const Field *f, const Config *c) {
    if (f->count_offset == FIELD_NO_COUNT) return f->capacity;
    int n = *(const int *)((const char *)c + f->count_offset);
    if (n < 0) return 0;
    return n > f->capacity ? f->capacity : n;
}

static void format_stage(const StageConfig *s, StrBuf *sb) {
    cfg_sb_printf(sb, "{blocks: %d, width: %d, stride: %d}", s->blocks, s->width, s->stride);
}

void cfg_format_value(const Field *f, const Config *c, StrBuf *sb) {
    const char *base = (const char *)c + f->offset;
    switch (f->type) {
    case CFT_INT: cfg_sb_printf(sb, "%d", *(const int *)base); break;
    case CFT_U64: cfg_sb_printf(sb, "%llu", *(const unsigned long long *)base); break;
    case CFT_FLOAT: format_float_value(*(const float *)base, sb); break;
    case CFT_BOOL: cfg_sb_printf(sb, "%s", *(const int *)base ? "true" : "false"); break;
    case CFT_STRING: format_string(base, sb); break;
    case CFT_ENUM: {
        int v = *(const int *)base;
        if (v >= 0 && v < cfg_count_names(f->names)) cfg_sb_printf(sb, "%s", f->names[v]);
        else cfg_sb_printf(sb, "%d", v);
        break;
    }
    case CFT_FLOAT_LIST: {
        int n = list_count(f, c);
        cfg_sb_printf(sb, "[");
        for (int i = 0; i < n; i++) {
            if (i) cfg_sb_printf(sb, ", ");
            format_float_value(((const float *)base)[i], sb);
        }
        cfg_sb_printf(sb, "]");
        break;
    }
    case CFT_KNOTS: {
        int n = list_count(f, c);
        const float *lr = (const float *)((const char *)c + f->offset2);
        cfg_sb_printf(sb, "[");
        for (int i = 0; i < n; i++) {
            cfg_sb_printf(sb, i ? ", [" : "[");
            format_float_value(((const float *)base)[i], sb);
            cfg_sb_printf(sb, ", ");
            format_float_value(lr[i], sb);
            cfg_sb_printf(sb, "]");
        }
        cfg_sb_printf(sb, "]");
        break;
    }
    case CFT_STAGES: {
        int n = list_count(f, c);
        cfg_sb_printf(sb, "[");
        for (int i = 0; i < n; i++) {
            if (i) cfg_sb_printf(sb, ", ");
            format_stage((const StageConfig *)base + i, sb);
        }
        cfg_sb_printf(sb, "]");
        break;
    }
    }
}

/* ---- relevance ---- */

static int field_relevant(const Field *f, const Config *c) {
    int v;
    switch (f->scope) {
    case SCOPE_FAMILY: v = (int)c->model.family; break;
    case SCOPE_SCHEDULE: v = (int)c->train.schedule.kind; break;
    case SCOPE_DATASET: v = (int)c->data.dataset; break;
    case SCOPE_ALL:
    default: return 1;
    }
    if (v < 0 || v >= 32) return 1;
    return (f->used_by >> v) & 1u;
}

static const char *unused_note(const Field *f, const Config *c, char *buf, size_t len) {
    if (field_relevant(f, c)) return NULL;
    switch (f->scope) {
    case SCOPE_FAMILY:
        snprintf(buf, len, "unused by family %s", config_family_name(c->model.family));
        break;
    case SCOPE_SCHEDULE:
        snprintf(buf, len, "unused by schedule %s", schedule_kind_name(c->train.schedule.kind));
        break;
    case SCOPE_DATASET:
        snprintf(buf, len, "unused with dataset %s", config_dataset_name(c->data.dataset));
        break;
    case SCOPE_ALL: return NULL;
    }
    return buf;
}

/* ---- YAML writer ---- */

/* Number of leading dot-separated components `a` and `b` share. */
static int common_depth(const char *a, const char *b) {
    int depth = 0;
    for (;;) {
        const char *da = strchr(a, '.'), *db = strchr(b, '.');
        if (!da || !db) return depth;
        if (da - a != db - b || strncmp(a, b, (size_t)(da - a)) != 0) return depth;
        depth++;
        a = da + 1;
        b = db + 1;
    }
}

char *config_to_yaml(const Config *c) {
    if (!c) return NULL;
    StrBuf sb = {0};
    cfg_sb_printf(&sb, "# shortcut configuration, fully resolved: every key, defaults included.\n"
                   "# Keys marked 'unused' are not read with this family, schedule or dataset.\n");
    const char *prev = "";
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++) {
        const Field *f = &CONFIG_FIELDS[i];
        /* Open the sections this key enters that the previous key was not in. */
        int shared = common_depth(prev, f->key);
        const char *p = f->key;
        int depth = 0;
        for (const char *dot; (dot = strchr(p, '.')) != NULL; p = dot + 1, depth++)
            if (depth >= shared) cfg_sb_printf(&sb, "%*s%.*s:\n", 2 * depth, "", (int)(dot - p), p);

        size_t line_start = sb.len;
        cfg_sb_printf(&sb, "%*s%s:", 2 * depth, "", p);
        if (f->type == CFT_STAGES && list_count(f, c) > 0) {
            char note[80];
            const char *u = unused_note(f, c, note, sizeof note);
            if (u) cfg_sb_printf(&sb, "  # %s", u);
            cfg_sb_printf(&sb, "\n");
            const StageConfig *st = (const StageConfig *)((const char *)c + f->offset);
            for (int s = 0; s < list_count(f, c); s++) {
                cfg_sb_printf(&sb, "%*s- ", 2 * depth + 2, "");
                format_stage(&st[s], &sb);
                cfg_sb_printf(&sb, "\n");
            }
        } else {
            cfg_sb_printf(&sb, " ");
            cfg_format_value(f, c, &sb);
            char note[80];
            const char *u = unused_note(f, c, note, sizeof note);
            if (u && !sb.failed) {
                size_t width = sb.len - line_start;
                cfg_sb_printf(&sb, "%*s# %s", width < 40 ? (int)(40 - width) : 2, "", u);
            }
            cfg_sb_printf(&sb, "\n");
        }
        prev = f->key;
    }
    if (sb.failed) {
        free(sb.data);
        return NULL;
    }
    return sb.data;
}

Status config_save(const Config *c, const char *path) {
    if (!c || !path) return status_fail(ST_ERR_ARG, "config_save: no config or path");
    char *text = config_to_yaml(c);
    if (!text) return status_fail(ST_ERR_OOM, "%s: out of memory formatting the config", path);
    size_t n = strlen(text);

    char tmp[CONFIG_PATH_LEN + 16];
    if (snprintf(tmp, sizeof tmp, "%s.tmpXXXXXX", path) >= (int)sizeof tmp) {
        free(text);
        return status_fail(ST_ERR_IO, "%s: path too long", path);
    }
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(text);
        return status_fail(ST_ERR_IO, "%s: cannot create a temporary file next to it: %s", path,
                           strerror(e));
    }
    const char *what = NULL;
    int err = 0;
    size_t done = 0;
    while (done < n) {
        ssize_t w = write(fd, text + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            what = "write";
            err = errno;
            break;
        }
        done += (size_t)w;
    }
    free(text);
    /* mkstemp makes 0600; a config is meant to be read by anyone who can read the run. */
    if (!what && fchmod(fd, 0644) != 0) { what = "chmod"; err = errno; }
    if (!what && fsync(fd) != 0) { what = "fsync"; err = errno; }
    if (close(fd) != 0 && !what) { what = "close"; err = errno; }
    if (!what && rename(tmp, path) != 0) { what = "rename"; err = errno; }
    if (what) {
        if (unlink(tmp) != 0) { /* already gone or never there: nothing more to undo */ }
        return status_fail(ST_ERR_IO, "%s: cannot save the config (%s): %s", path, what,
                           strerror(err));
    }
    return ST_OK;
}

/* ---- equality ---- */

static int field_equal(const Field *f, const Config *a, const Config *b) {
    const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
    switch (f->type) {
    case CFT_INT: case CFT_BOOL: case CFT_ENUM: return *(const int *)pa == *(const int *)pb;
    case CFT_U64: return *(const unsigned long long *)pa == *(const unsigned long long *)pb;
    case CFT_FLOAT: return memcmp(pa, pb, sizeof(float)) == 0;
    case CFT_STRING: return strncmp(pa, pb, (size_t)f->capacity) == 0;
    case CFT_FLOAT_LIST: {
        int n = list_count(f, a);
        return n == list_count(f, b) && memcmp(pa, pb, (size_t)n * sizeof(float)) == 0;
    }
    case CFT_KNOTS: {
        int n = list_count(f, a);
        const char *la = (const char *)a + f->offset2, *lb = (const char *)b + f->offset2;
        return n == list_count(f, b) && memcmp(pa, pb, (size_t)n * sizeof(float)) == 0 &&
               memcmp(la, lb, (size_t)n * sizeof(float)) == 0;
    }
    case CFT_STAGES: {
        int n = list_count(f, a);
        return n == list_count(f, b) && memcmp(pa, pb, (size_t)n * sizeof(StageConfig)) == 0;
    }
    }
    return 0;
}

int config_equal(const Config *a, const Config *b) {
    if (!a || !b) return a == b;
    for (int i = 0; i < CONFIG_NUM_FIELDS; i++)
        if (!field_equal(&CONFIG_FIELDS[i], a, b)) return 0;
    return 1;
}

/* ---- accessors ---- */

int config_field_count(void) { return CONFIG_NUM_FIELDS; }

static const Field *field_at(int i) {
    return i >= 0 && i < CONFIG_NUM_FIELDS ? &CONFIG_FIELDS[i] : NULL;
}

const char *config_field_key(int i) { return field_at(i) ? field_at(i)->key : NULL; }
const char *config_field_help(int i) { return field_at(i) ? field_at(i)->help : NULL; }
const char *config_field_default(int i) { return field_at(i) ? field_at(i)->def : NULL; }
ConfigFieldType config_field_type(int i) { return field_at(i) ? field_at(i)->type : CFT_INT; }
const char *const *config_field_choices(int i) { return field_at(i) ? field_at(i)->names : NULL; }
int config_field_find(const char *key) { return cfg_find(key); }

int config_field_relevant(const Config *c, int i) {
    if (!c || !field_at(i)) return 0;
    return field_relevant(field_at(i), c);
}

Status config_get(const Config *c, const char *key, char *buf, size_t len) {
    if (!c || !key || !buf || len == 0) return status_fail(ST_ERR_ARG, "config_get: bad arguments");
    int i = cfg_find(key);
    if (i < 0) {
        char msg[512];
        const char *dot = strrchr(key, '.');
        char section[128] = "";
        if (dot) snprintf(section, sizeof section, "%.*s", (int)(dot - key), key);
        if (dot && cfg_is_section(section)) {
            cfg_unknown_key_message(section, dot + 1, msg, sizeof msg);
        } else if (cfg_is_section(key)) {
            snprintf(msg, sizeof msg, "'%s' is a section, not a key", key);
        } else {
            snprintf(msg, sizeof msg, "unknown key '%s'", key);
        }
        return status_fail(ST_ERR_CONFIG, "%s", msg);
    }
    StrBuf sb = {0};
    cfg_format_value(&CONFIG_FIELDS[i], c, &sb);
    if (sb.failed) {
        free(sb.data);
        return status_fail(ST_ERR_OOM, "config_get %s: out of memory", key);
    }
    if (sb.len + 1 > len) {
        free(sb.data);
        return status_fail(ST_ERR_ARG,
                           "config_get %s: the value needs %zu bytes, the buffer has %zu", key,
                           sb.len + 1, len);
    }
    memcpy(buf, sb.data, sb.len + 1);
    free(sb.data);
    return ST_OK;
}

const char *config_family_name(ModelFamily f) {
    return (int)f >= 0 && (int)f < cfg_count_names(FAMILY_NAMES) ? FAMILY_NAMES[f] : "unknown";
}

const char *config_dataset_name(DatasetKind d) {
    return (int)d >= 0 && (int)d < cfg_count_names(DATASET_NAMES) ? DATASET_NAMES[d] : "unknown";
}

const char *config_precision_name(Precision p) {
    return (int)p >= 0 && (int)p < cfg_count_names(PRECISION_NAMES) ? PRECISION_NAMES[p]
                                                                       : "unknown";
}
