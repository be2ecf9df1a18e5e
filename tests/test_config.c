/* test_config.c — the config reader, --set, validation messages, the YAML writer, and every
 * shipped recipe.
 *
 * Usage: test_config [CONFIGS_DIR [FIXTURES_DIR]]
 *   CONFIGS_DIR   the repository's configs/ (every *.yaml there must load and validate);
 *                 default $SHORTCUT_SOURCE_DIR/configs (what ctest sets)
 *   FIXTURES_DIR  bad configs, each with a first line "# expect: L:C: message"; default
 *                 CONFIGS_DIR/../tests/fixtures/config
 * Error messages are compared in full: they are the user interface of this module. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/config.h"
#include "check.h"

static void check_str_at(const char *file, int line, const char *got, const char *want) {
    if (got && want && strcmp(got, want) == 0) {
        check_passed_++;
        return;
    }
    check_failed_++;
    fprintf(stderr, "%s:%d: message mismatch\n  got:  %s\n  want: %s\n", file, line,
            got ? got : "(null)", want ? want : "(null)");
}
#define CHECK_STR(got, want) check_str_at(__FILE__, __LINE__, (got), (want))

/* A call that must fail with status `st` and exactly message `msg`. */
#define CHECK_FAILS(expr, st, msg) do { Status s__ = (expr); CHECK_INT(s__, (st)); \
    CHECK_STR(status_message(), (msg)); } while (0)

/* config_get into a static buffer, for comparisons. */
static const char *get(const Config *c, const char *key) {
    static char buf[4096];
    if (config_get(c, key, buf, sizeof buf) != ST_OK) return "(config_get failed)";
    return buf;
}

/* ---- defaults and the table ---- */

static void test_defaults(void) {
    Config c;
    config_defaults(&c);
    CHECK_OK(config_validate(&c));
    CHECK_STR(c.name, "quick");
    CHECK_INT(c.model.family, FAMILY_CUSTOM);
    CHECK_INT(c.model.block, BLOCK_BASIC);
    CHECK_INT(c.model.shortcut, SHORTCUT_CONV1X1);
    CHECK_INT(c.model.head, HEAD_AVG);
    CHECK_INT(c.model.relu_after_add, 1);
    CHECK_INT(c.model.stem_width, 16);
    CHECK_INT(c.model.stem_kernel, 3);
    CHECK_INT(c.model.num_stages, 3);
    const int want_stages[3][3] = {{2, 16, 1}, {2, 32, 2}, {2, 64, 2}};
    for (int i = 0; i < 3; i++) {
        CHECK_INT(c.model.stages[i].blocks, want_stages[i][0]);
        CHECK_INT(c.model.stages[i].width, want_stages[i][1]);
        CHECK_INT(c.model.stages[i].stride, want_stages[i][2]);
    }
    CHECK_INT(c.data.dataset, DATASET_SHAPES);
    CHECK_INT(c.data.shapes_train, 5000);
    CHECK_INT(c.data.shapes_test, 1000);
    for (int i = 0; i < 3; i++) {
        CHECK_NEAR(c.data.mean[i], 0.5, 0, 0);
        CHECK_NEAR(c.data.std[i], 0.5, 0, 0);
    }
    CHECK_INT(c.data.augment.crop_pad, 4);
    CHECK_INT(c.data.augment.pad_mode, PAD_ZEROS);
    CHECK_INT(c.data.augment.flip, 1);
    CHECK_INT(c.data.augment.cutout_holes, 0);
    CHECK_INT(c.train.epochs, 4);
    CHECK_INT(c.train.batch_size, 64);
    CHECK_NEAR(c.train.lr, 0.05, 0, 1e-7);
    CHECK_NEAR(c.train.momentum, 0.9, 0, 1e-7);
    CHECK_NEAR(c.train.weight_decay, 5e-4, 0, 1e-7);
    CHECK_INT(c.train.schedule.kind, SCHEDULE_COSINE);
    CHECK_INT(c.train.seed, 0);
    CHECK_INT(c.train.eval_every, 1);
    CHECK_INT(c.train.checkpoint_every, 1);
    CHECK_STR(c.train.device, "auto");
    CHECK_INT(c.train.precision, PRECISION_AUTO);
    CHECK_INT(c.train.threads, 0);
    CHECK_STR(c.source, "");
    for (int i = 0; i < CONFIG_MAX_FIELDS; i++) CHECK_INT(c.origin[i].line, 0);

    /* The schedule defaults other than the kind are schedule_defaults(). */
    ScheduleConfig s;
    schedule_defaults(&s);
    s.kind = SCHEDULE_COSINE;
    CHECK(memcmp(&s, &c.train.schedule, sizeof s) == 0);
}

static void test_field_table(void) {
    Config def;
    config_defaults(&def);
    int n = config_field_count();
    CHECK(n > 50);
    CHECK(n <= CONFIG_MAX_FIELDS);
    for (int i = 0; i < n; i++) {
        const char *key = config_field_key(i);
        CHECK(key != NULL);
        CHECK(config_field_help(i) && strlen(config_field_help(i)) > 10);
        CHECK_INT(config_field_find(key), i);
        for (int j = 0; j < i; j++) CHECK(strcmp(key, config_field_key(j)) != 0);
        /* Every default is accepted by --set and is what config_defaults() holds. */
        char assignment[512];
        snprintf(assignment, sizeof assignment, "%s=%s", key, config_field_default(i));
        Config c = def;
        CHECK_OK(config_set(&c, assignment));
        CHECK(config_equal(&c, &def));
        /* Enums list their names; the current value is one of them. */
        if (config_field_type(i) == CFT_ENUM) {
            const char *const *names = config_field_choices(i);
            CHECK(names != NULL);
            int found = 0;
            for (int k = 0; names && names[k]; k++) found |= strcmp(names[k], get(&def, key)) == 0;
            CHECK(found);
        }
    }
    CHECK_INT(config_field_find("train.lr_sheduler"), -1);
    CHECK_INT(config_field_find("train"), -1);
    CHECK(config_field_key(-1) == NULL);
    CHECK(config_field_key(n) == NULL);
    CHECK_INT(config_field_type(config_field_find("model.stages")), CFT_STAGES);
    CHECK_INT(config_field_type(config_field_find("train.schedule.knots")), CFT_KNOTS);
    CHECK_INT(config_field_type(config_field_find("train.seed")), CFT_U64);
    CHECK(config_field_choices(config_field_find("train.lr")) == NULL);
    const char *const *dev = config_field_choices(config_field_find("train.device"));
    CHECK(dev && strcmp(dev[0], "auto") == 0 && strcmp(dev[3], "reference") == 0 && !dev[4]);
    const char *const *kinds = config_field_choices(config_field_find("train.schedule.type"));
    for (int k = 0; k < SCHEDULE_KIND_COUNT; k++)
        CHECK(kinds && strcmp(kinds[k], schedule_kind_name((ScheduleKind)k)) == 0);

    CHECK_STR(config_family_name(FAMILY_RESNET_CIFAR), "resnet_cifar");
    CHECK_STR(config_dataset_name(DATASET_CIFAR100), "cifar100");
    CHECK_STR(config_precision_name(PRECISION_BF16), "bf16");
    CHECK_STR(config_family_name((ModelFamily)42), "unknown");
}

/* ---- --set ---- */

static void test_set_types(void) {
    Config c;
    config_defaults(&c);
    /* int */
    CHECK_OK(config_set(&c, "train.batch_size=128"));
    CHECK_INT(c.train.batch_size, 128);
    CHECK_OK(config_set(&c, "  train.epochs =  12 "));
    CHECK_INT(c.train.epochs, 12);
    /* u64 */
    CHECK_OK(config_set(&c, "train.seed=18446744073709551615"));
    CHECK(c.train.seed == 18446744073709551615ULL);
    CHECK_STR(get(&c, "train.seed"), "18446744073709551615");
    /* float */
    CHECK_OK(config_set(&c, "train.lr=0.1"));
    CHECK(c.train.lr == 0.1f);
    CHECK_STR(get(&c, "train.lr"), "0.1");
    CHECK_OK(config_set(&c, "train.weight_decay=1e-5"));
    CHECK(c.train.weight_decay == 1e-5f);
    CHECK_STR(get(&c, "train.weight_decay"), "1.0e-05");
    CHECK_OK(config_set(&c, "train.momentum=0"));
    CHECK(c.train.momentum == 0.0f);
    /* bool, in YAML's spellings */
    CHECK_OK(config_set(&c, "train.nesterov=true"));
    CHECK_INT(c.train.nesterov, 1);
    CHECK_OK(config_set(&c, "data.augment.flip=off"));
    CHECK_INT(c.data.augment.flip, 0);
    CHECK_OK(config_set(&c, "data.augment.flip=Yes"));
    CHECK_INT(c.data.augment.flip, 1);
    CHECK_STR(get(&c, "data.augment.flip"), "true");
    /* string: plain, quoted, raw text that is not a YAML scalar, empty */
    CHECK_OK(config_set(&c, "name=wrn-test"));
    CHECK_STR(c.name, "wrn-test");
    CHECK_OK(config_set(&c, "name=\"two words\""));
    CHECK_STR(c.name, "two words");
    CHECK_STR(get(&c, "name"), "\"two words\"");
    CHECK_OK(config_set(&c, "name=run: 2"));
    CHECK_STR(c.name, "run: 2");
    CHECK_OK(config_set(&c, "data.root=/data/cifar"));
    CHECK_STR(c.data.root, "/data/cifar");
    CHECK_OK(config_set(&c, "data.root="));
    CHECK_STR(c.data.root, "");
    CHECK_STR(get(&c, "data.root"), "\"\"");
    CHECK_OK(config_set(&c, "train.device=reference"));
    CHECK_STR(c.train.device, "reference");
    /* enum (case-insensitive in, canonical out) */
    CHECK_OK(config_set(&c, "model.family=WRN"));
    CHECK_INT(c.model.family, FAMILY_WRN);
    CHECK_STR(get(&c, "model.family"), "wrn");
    CHECK_OK(config_set(&c, "train.precision=bf16"));
    CHECK_INT(c.train.precision, PRECISION_BF16);
    CHECK_OK(config_set(&c, "data.augment.pad_mode=reflect"));
    CHECK_INT(c.data.augment.pad_mode, PAD_REFLECT);
    CHECK_OK(config_set(&c, "train.schedule.type=onecycle"));
    CHECK_INT(c.train.schedule.kind, SCHEDULE_ONECYCLE);
    /* float lists: counted, fixed, empty */
    CHECK_OK(config_set(&c, "train.schedule.milestones=[60, 120, 160]"));
    CHECK_INT(c.train.schedule.num_milestones, 3);
    CHECK(c.train.schedule.milestones[2] == 160.0f);
    CHECK_STR(get(&c, "train.schedule.milestones"), "[60, 120, 160]");
    CHECK_OK(config_set(&c, "train.schedule.milestones=[]"));
    CHECK_INT(c.train.schedule.num_milestones, 0);
    CHECK_OK(config_set(&c, "train.schedule.milestones=[1.5]"));
    CHECK_OK(config_set(&c, "train.schedule.milestones="));
    CHECK_INT(c.train.schedule.num_milestones, 0);
    CHECK_OK(config_set(&c, "data.mean=[0.4914, 0.4822, 0.4465]"));
    CHECK(c.data.mean[0] == 0.4914f && c.data.mean[2] == 0.4465f);
    CHECK_STR(get(&c, "data.mean"), "[0.4914, 0.4822, 0.4465]");
    /* knots */
    CHECK_OK(config_set(&c, "train.schedule.knots=[[0, 0.1], [5, 0.01], [7.5, 0]]"));
    CHECK_INT(c.train.schedule.num_knots, 3);
    CHECK(c.train.schedule.knot_epoch[2] == 7.5f && c.train.schedule.knot_lr[1] == 0.01f);
    CHECK_STR(get(&c, "train.schedule.knots"), "[[0, 0.1], [5, 0.01], [7.5, 0]]");
    /* stages, block and flow style; stride defaults to 1 */
    CHECK_OK(config_set(&c, "model.stages=[{blocks: 3, width: 24}, {width: 48, blocks: 1, stride: 2}]"));
    CHECK_INT(c.model.num_stages, 2);
    CHECK_INT(c.model.stages[0].stride, 1);
    CHECK_INT(c.model.stages[1].blocks, 1);
    CHECK_INT(c.model.stages[1].width, 48);
    CHECK_STR(get(&c, "model.stages"),
              "[{blocks: 3, width: 24, stride: 1}, {blocks: 1, width: 48, stride: 2}]");
    /* a whole section as a flow mapping */
    CHECK_OK(config_set(&c, "train.schedule={type: multistep, milestones: [2, 4], gamma: 0.5}"));
    CHECK_INT(c.train.schedule.kind, SCHEDULE_MULTISTEP);
    CHECK_INT(c.train.schedule.num_milestones, 2);
    CHECK(c.train.schedule.gamma == 0.5f);
    /* origins: --set marks the field */
    CHECK_INT(c.origin[config_field_find("train.schedule.gamma")].line, CONFIG_ORIGIN_SET);
    CHECK_INT(c.origin[config_field_find("model.depth")].line, 0);
}

static void test_set_errors(void) {
    Config c, before;
    config_defaults(&c);
    before = c;
    CHECK_FAILS(config_set(&c, "train.lr_sheduler=cosine"), ST_ERR_CONFIG,
                "--set train.lr_sheduler: unknown key 'lr_sheduler' in 'train' (did you mean 'schedule'?)");
    CHECK_FAILS(config_set(&c, "trian.lr=0.1"), ST_ERR_CONFIG,
                "--set trian.lr: unknown key 'trian' (did you mean 'train'?)");
    CHECK_FAILS(config_set(&c, "model.lr=0.1"), ST_ERR_CONFIG,
                "--set model.lr: unknown key 'lr' in 'model' (did you mean 'train.lr'?)");
    CHECK_FAILS(config_set(&c, "train.lr.x=1"), ST_ERR_CONFIG,
                "--set train.lr.x: 'train.lr' is a value, not a section");
    CHECK_FAILS(config_set(&c, "train.lr"), ST_ERR_CONFIG,
                "--set train.lr: expected key=value, e.g. train.lr=0.05");
    CHECK_FAILS(config_set(&c, "=3"), ST_ERR_CONFIG,
                "--set =3: expected key=value, e.g. train.lr=0.05");
    CHECK_FAILS(config_set(&c, "train.lr=-0.1"), ST_ERR_CONFIG, "--set train.lr: must be > 0, got -0.1");
    CHECK_FAILS(config_set(&c, "train.lr=fast"), ST_ERR_CONFIG,
                "--set train.lr: expected a number, got 'fast'");
    CHECK_FAILS(config_set(&c, "train.lr=.inf"), ST_ERR_CONFIG,
                "--set train.lr: expected a number, got '.inf'");
    CHECK_FAILS(config_set(&c, "train.lr=1e40"), ST_ERR_CONFIG,
                "--set train.lr: expected a finite number, got '1e40'");
    CHECK_FAILS(config_set(&c, "train.lr="), ST_ERR_CONFIG,
                "--set train.lr: expected a number, got nothing");
    CHECK_FAILS(config_set(&c, "train.batch_size=abc"), ST_ERR_CONFIG,
                "--set train.batch_size: expected an integer, got 'abc'");
    CHECK_FAILS(config_set(&c, "train.batch_size=12.5"), ST_ERR_CONFIG,
                "--set train.batch_size: expected an integer, got '12.5'");
    CHECK_FAILS(config_set(&c, "train.batch_size=99999999999"), ST_ERR_CONFIG,
                "--set train.batch_size: expected an integer, got '99999999999' (out of range)");
    CHECK_FAILS(config_set(&c, "train.batch_size=0"), ST_ERR_CONFIG,
                "--set train.batch_size: must be between 1 and 65536, got 0");
    CHECK_FAILS(config_set(&c, "train.batch_size=[1, 2]"), ST_ERR_CONFIG,
                "--set train.batch_size: expected an integer, got a list");
    CHECK_FAILS(config_set(&c, "train.seed=-1"), ST_ERR_CONFIG,
                "--set train.seed: expected a non-negative integer, got '-1'");
    CHECK_FAILS(config_set(&c, "train.nesterov=maybe"), ST_ERR_CONFIG,
                "--set train.nesterov: expected true or false, got 'maybe'");
    CHECK_FAILS(config_set(&c, "model.family=wrm"), ST_ERR_CONFIG,
                "--set model.family: 'wrm' is not one of wrn, resnet_cifar, resnet, custom (did you mean 'wrn'?)");
    CHECK_FAILS(config_set(&c, "train.device=gpu"), ST_ERR_CONFIG,
                "--set train.device: 'gpu' is not one of auto, cpu, cuda, reference (did you mean 'cpu'?)");
    CHECK_FAILS(config_set(&c, "train.device=tpu9000x"), ST_ERR_CONFIG,
                "--set train.device: 'tpu9000x' is not one of auto, cpu, cuda, reference");
    CHECK_FAILS(config_set(&c, "name="), ST_ERR_CONFIG, "--set name: must not be empty");
    CHECK_FAILS(config_set(&c, "name=caf\xff"), ST_ERR_CONFIG, "--set name: must be UTF-8 text");
    CHECK_OK(config_set(&c, "name=caf\xc3\xa9"));
    CHECK_STR(c.name, "caf\xc3\xa9");
    c = before;
    CHECK_FAILS(config_set(&c, "name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
                ST_ERR_CONFIG, "--set name: too long (at most 63 characters)");
    CHECK_FAILS(config_set(&c, "train.momentum=1"), ST_ERR_CONFIG,
                "--set train.momentum: must be in [0, 1), got 1");
    CHECK_FAILS(config_set(&c, "train.weight_decay=-1e-4"), ST_ERR_CONFIG,
                "--set train.weight_decay: must be >= 0, got -0.0001");
    CHECK_FAILS(config_set(&c, "train.label_smoothing=1"), ST_ERR_CONFIG,
                "--set train.label_smoothing: must be in [0, 1), got 1");
    CHECK_FAILS(config_set(&c, "model.dropout=1.5"), ST_ERR_CONFIG,
                "--set model.dropout: must be in [0, 1), got 1.5");
    CHECK_FAILS(config_set(&c, "data.val_fraction=0.95"), ST_ERR_CONFIG,
                "--set data.val_fraction: must be in [0, 0.9], got 0.95");
    CHECK_FAILS(config_set(&c, "data.augment.cutout_holes=9"), ST_ERR_CONFIG,
                "--set data.augment.cutout_holes: must be between 0 and 8, got 9");
    CHECK_FAILS(config_set(&c, "data.augment.resize=16"), ST_ERR_CONFIG,
                "--set data.augment.resize: must be 0 (off) or between 32 and 1024, got 16");
    CHECK_FAILS(config_set(&c, "model.stem_kernel=4"), ST_ERR_CONFIG,
                "--set model.stem_kernel: must be odd (1, 3, 5, 7, ...), got 4");
    CHECK_FAILS(config_set(&c, "data.std=[0.2, 0, 0.2]"), ST_ERR_CONFIG,
                "--set data.std[1]: must be > 0, got 0");
    CHECK_FAILS(config_set(&c, "data.mean=[0.5, 0.5]"), ST_ERR_CONFIG,
                "--set data.mean: expected 3 numbers like [0.4914, 0.4822, 0.4465], got 2");
    CHECK_FAILS(config_set(&c, "data.mean=0.5"), ST_ERR_CONFIG,
                "--set data.mean: expected a list like [0.4914, 0.4822, 0.4465], got '0.5'");
    CHECK_FAILS(config_set(&c, "train.schedule.milestones=[120, 60]"), ST_ERR_CONFIG,
                "--set train.schedule.milestones: must be increasing, got 60 after 120");
    CHECK_FAILS(config_set(&c, "train.schedule.milestones=[0, 60]"), ST_ERR_CONFIG,
                "--set train.schedule.milestones[0]: must be > 0, got 0");
    CHECK_FAILS(config_set(&c, "train.schedule.milestones=[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17]"),
                ST_ERR_CONFIG, "--set train.schedule.milestones: at most 16 items, got 17");
    CHECK_FAILS(config_set(&c, "train.schedule.knots=[[0, 0.1], [5, -0.01]]"), ST_ERR_CONFIG,
                "--set train.schedule.knots[1]: lr must be >= 0, got -0.01");
    CHECK_FAILS(config_set(&c, "train.schedule.knots=[[5, 0.1], [2, 0.01]]"), ST_ERR_CONFIG,
                "--set train.schedule.knots: knot epochs must be increasing, got 2 after 5");
    CHECK_FAILS(config_set(&c, "train.schedule.knots=[[0, 0.1, 3]]"), ST_ERR_CONFIG,
                "--set train.schedule.knots[0]: expected a knot [epoch, lr], got a list of 3");
    CHECK_FAILS(config_set(&c, "model.stages=[{blocks: 2, widht: 16}]"), ST_ERR_CONFIG,
                "--set model.stages[0].widht: unknown key 'widht' in a stage (did you mean 'width'?)");
    CHECK_FAILS(config_set(&c, "model.stages=[{blocks: 2}]"), ST_ERR_CONFIG,
                "--set model.stages[0]: missing 'width' (a stage is {blocks: N, width: C, stride: 1 or 2})");
    CHECK_FAILS(config_set(&c, "model.stages=[{blocks: 0, width: 16}]"), ST_ERR_CONFIG,
                "--set model.stages[0].blocks: must be between 1 and 1000, got 0");
    CHECK_FAILS(config_set(&c, "model.stages=[{blocks: 1, width: 16, stride: 3}]"), ST_ERR_CONFIG,
                "--set model.stages[0].stride: must be 1 or 2, got 3");
    CHECK_FAILS(config_set(&c, "model.stages=[[2, 16, 1]]"), ST_ERR_CONFIG,
                "--set model.stages[0]: expected a stage {blocks: N, width: C, stride: 1 or 2}, got a list");
    CHECK_FAILS(config_set(&c, "train.schedule={type: cosine, gama: 0.5}"), ST_ERR_CONFIG,
                "--set train.schedule.gama: unknown key 'gama' in 'train.schedule' (did you mean 'gamma'?)");
    CHECK_FAILS(config_set(&c, "train.schedule={type: cosine, type: constant}"), ST_ERR_CONFIG,
                "--set train.schedule: duplicate key 'type' in 'train.schedule' (first at line 1)");
    CHECK_FAILS(config_set(&c, "train=5"), ST_ERR_CONFIG,
                "--set train: expected a mapping of keys, got '5'");
    CHECK_FAILS(config_set(&c, "train.schedule.milestones=[60, 120"), ST_ERR_CONFIG,
                "--set train.schedule.milestones: cannot read '[60, 120' as a YAML value: "
                "did not find expected ',' or ']'");
    /* Nothing above changed the config. */
    CHECK(config_equal(&c, &before));
    CHECK(memcmp(&c, &before, sizeof c) == 0);
    CHECK_FAILS(config_set(NULL, "train.lr=1"), ST_ERR_ARG, "config_set: no config or assignment");
}

/* ---- errors from YAML text ---- */

static void test_load_errors(void) {
    Config c, before;
    config_defaults(&c);
    c.train.epochs = 77;
    before = c;
    const char *origin = "configs/wrn.yaml";
    CHECK_FAILS(config_load_string("model:\n  family: wrn\n  depth: 28\n  width: 10\n"
                                   "train:\n  batch_size: abc\n", origin, &c),
                ST_ERR_CONFIG, "configs/wrn.yaml:6:15: train.batch_size: expected an integer, got 'abc'");
    CHECK_FAILS(config_load_string("model:\n  family: wrn\n  depth: 27\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:3:10: model.depth: 27 is not a valid WRN depth "
                "(must be 6n+4: 10, 16, 22, 28, 34, 40)");
    CHECK_FAILS(config_load_string("train:\n  lr: -0.1\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:7: train.lr: must be > 0, got -0.1");
    CHECK_FAILS(config_load_string("train:\n  epochs: 10\n    lr: 2\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:3:7: invalid YAML: mapping values are not allowed in this context");
    CHECK_FAILS(config_load_string("train: {epochs: 10\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:1: invalid YAML: did not find expected ',' or '}' "
                "(while parsing a flow mapping at line 1)");
    CHECK_FAILS(config_load_string("data:\n  dataset: cifar10\n  dataset: cifar100\n", origin, &c),
                ST_ERR_CONFIG, "configs/wrn.yaml:3:3: duplicate key 'dataset' in 'data' (first at line 2)");
    CHECK_FAILS(config_load_string("name: a\nname: b\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:1: duplicate key 'name' (first at line 1)");
    CHECK_FAILS(config_load_string("data:\n  augment: [4, true]\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:12: data.augment: expected a mapping of keys, got a list");
    CHECK_FAILS(config_load_string("model: wrn\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:1:8: model: expected a mapping of keys, got 'wrn'");
    CHECK_FAILS(config_load_string("just text\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:1:1: expected a mapping of sections (name, model, data, train) "
                "at the top level, got 'just text'");
    CHECK_FAILS(config_load_string("modle:\n  depth: 3\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:1:1: unknown key 'modle' (did you mean 'model'?)");
    CHECK_FAILS(config_load_string("data:\n  augment:\n    flip: true\n    cutuot_size: 8\n", origin, &c),
                ST_ERR_CONFIG,
                "configs/wrn.yaml:4:5: unknown key 'cutuot_size' in 'data.augment' (did you mean 'cutout_size'?)");
    CHECK_FAILS(config_load_string("train:\n  optimizer: adam\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:3: unknown key 'optimizer' in 'train' (valid keys: epochs, "
                "batch_size, lr, momentum, nesterov, weight_decay, label_smoothing, seed, eval_every, "
                "checkpoint_every, device, precision, loss_scaling, loss_scale_init, threads, "
                "memory_limit_mb, deterministic, schedule)");
    CHECK_FAILS(config_load_string("data:\n  flip: false\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:3: unknown key 'flip' in 'data' (did you mean 'data.augment.flip'?)");
    CHECK_FAILS(config_load_string("train:\n  [1, 2]: 3\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:3: expected a key name in train, got a list");
    CHECK_FAILS(config_load_string("a: 1\n---\nb: 2\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:2:1: a config is one YAML document; found a second one");
    CHECK_FAILS(config_load_string("name: \"a\\0b\"\n", origin, &c), ST_ERR_CONFIG,
                "configs/wrn.yaml:1:7: name: expected a string, got text with a NUL character");
    /* No origin: messages name "<string>". */
    CHECK_FAILS(config_load_string("train:\n  lr: 0\n", NULL, &c), ST_ERR_CONFIG,
                "<string>:2:7: train.lr: must be > 0, got 0");
    /* The target is untouched by every failure. */
    CHECK(memcmp(&c, &before, sizeof c) == 0);

    /* Empty documents and empty sections are the defaults. */
    Config d, def;
    config_defaults(&def);
    CHECK_OK(config_load_string("", "empty", &d));
    CHECK(config_equal(&d, &def));
    CHECK_STR(d.source, "empty");
    CHECK_OK(config_load_string("# only a comment\ntrain:\nmodel: ~\n", "empty", &d));
    CHECK(config_equal(&d, &def));
    /* Dotted keys inside a section are accepted as a shorthand, and anchors work. */
    CHECK_OK(config_load_string("train:\n  schedule.type: constant\n  lr: &base 0.2\n"
                                "  schedule:\n    knots: [[0, *base]]\n", "x", &d));
    CHECK_INT(d.train.schedule.kind, SCHEDULE_CONSTANT);
    CHECK(d.train.schedule.knot_lr[0] == 0.2f);
    /* Origins point at the values. */
    CHECK_OK(config_load_string("train:\n  epochs: 9\n", "x", &d));
    CHECK_INT(d.origin[config_field_find("train.epochs")].line, 2);
    CHECK_INT(d.origin[config_field_find("train.epochs")].col, 11);
    CHECK_INT(d.origin[config_field_find("train.lr")].line, 0);

    /* Files. */
    CHECK_FAILS(config_load("/nonexistent/dir/x.yaml", &d), ST_ERR_IO,
                "/nonexistent/dir/x.yaml: cannot open: No such file or directory");
    CHECK_FAILS(config_load("/", &d), ST_ERR_IO, "/: is a directory, not a regular file");
    CHECK_FAILS(config_load(NULL, &d), ST_ERR_ARG, "config_load: no path or config");
}

/* ---- cross-field validation ---- */

static void test_validate(void) {
    Config def;
    config_defaults(&def);
    struct {
        const char *sets[4];
        const char *msg;
    } cases[] = {
        {{"model.family=wrn"}, "model.depth: 0 is not a valid WRN depth (must be 6n+4: 10, 16, 22, 28, 34, 40)"},
        {{"model.family=wrn", "model.depth=27"},
         "--set model.depth: 27 is not a valid WRN depth (must be 6n+4: 10, 16, 22, 28, 34, 40)"},
        {{"model.family=resnet_cifar", "model.depth=21"},
         "--set model.depth: 21 is not a valid resnet_cifar depth (must be 6n+2: 8, 14, 20, 32, 44, 56, 110, ...)"},
        {{"model.family=resnet", "model.depth=50"},
         "--set model.depth: 50 is not a valid resnet depth (must be 18 or 34)"},
        {{"model.stages=[]"},
         "--set model.stages: family custom needs at least one stage, e.g. [{blocks: 2, width: 16, stride: 1}]"},
        {{"data.dataset=cifar100", "model.num_classes=10"},
         "--set model.num_classes: 10 outputs cannot score the 100 classes of cifar100 (0 takes it from the dataset)"},
        {{"train.momentum=0", "train.nesterov=true"},
         "--set train.nesterov: nesterov needs momentum > 0 (train.momentum is 0)"},
        {{"data.augment.cutout_holes=1", "data.augment.cutout_size=0"},
         "--set data.augment.cutout_size: must be >= 1 when cutout_holes is 1, got 0"},
        {{"data.augment.cutout_holes=1", "data.augment.cutout_size=40"},
         "--set data.augment.cutout_size: 40 is larger than the 32-pixel image"},
        {{"train.schedule.type=piecewise"},
         "train.schedule.knots: schedule piecewise needs at least one [epoch, lr] knot, e.g. [[0, 0.1], [10, 0.001]]"},
        {{"train.schedule.min_lr=0.5"}, "--set train.schedule.min_lr: 0.5 is above train.lr (0.05)"},
        {{"train.schedule.warmup_epochs=4.5"},
         "--set train.schedule.warmup_epochs: 4.5 is longer than the run (train.epochs is 4)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Config c = def;
        for (int k = 0; k < 4 && cases[i].sets[k]; k++) CHECK_OK(config_set(&c, cases[i].sets[k]));
        CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, cases[i].msg);
    }

    /* Rules that only apply to the schedule in use: milestones beyond the run are fine for a
     * cosine schedule (so --set train.epochs=2 works on a multistep recipe switched to it). */
    Config c = def;
    CHECK_OK(config_set(&c, "train.schedule.milestones=[82, 123]"));
    CHECK_OK(config_validate(&c));
    /* Milestones past the end of a multistep run are allowed (never reached, as in PyTorch), so
     * a recipe can be shortened with --set train.epochs=N. */
    CHECK_OK(config_set(&c, "train.schedule.type=multistep"));
    CHECK_OK(config_validate(&c));

    /* A Config edited in code goes through the same per-field rules. */
    c = def;
    c.train.batch_size = 0;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "train.batch_size: must be between 1 and 65536, got 0");
    c = def;
    c.train.epochs = 0;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "train.epochs: must be between 1 and 100000, got 0");
    c = def;
    c.train.lr = 0;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "train.lr: must be > 0, got 0");
    c = def;
    c.data.std[2] = -1;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "data.std[2]: must be > 0, got -1");
    c = def;
    c.train.schedule.num_milestones = 2;
    c.train.schedule.milestones[0] = 3;
    c.train.schedule.milestones[1] = 2;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG,
                "train.schedule.milestones: must be increasing, got 2 after 3");
    c = def;
    c.model.stages[1].width = 0;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG,
                "model.stages[1].width: must be between 1 and 16384, got 0");
    c = def;
    c.model.num_stages = 9;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "model.stages: 9 items; at most 8 are allowed");
    c = def;
    snprintf(c.train.device, sizeof c.train.device, "gpu");
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG,
                "train.device: 'gpu' is not one of auto, cpu, cuda, reference (did you mean 'cpu'?)");
    c = def;
    c.model.family = (ModelFamily)7;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "model.family: invalid value 7");
    c = def;
    c.data.augment.cutout_holes = 9;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG,
                "data.augment.cutout_holes: must be between 0 and 8, got 9");
    c = def;
    c.data.augment.resize = 31;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG,
                "data.augment.resize: must be 0 (off) or between 32 and 1024, got 31");
    c = def;
    c.train.schedule.num_knots = 2;
    c.train.schedule.knot_epoch[1] = 3;
    c.train.schedule.knot_lr[1] = -0.5f;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "train.schedule.knots[1]: lr must be >= 0, got -0.5");
    c = def;
    c.model.dropout = 1.0f;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "model.dropout: must be in [0, 1), got 1");
    c = def;
    c.model.dropout = NAN;
    CHECK_FAILS(config_validate(&c), ST_ERR_CONFIG, "model.dropout: must be a finite number, got nan");
    CHECK_FAILS(config_validate(NULL), ST_ERR_ARG, "config_validate: no config");

    /* Loaded from a file, a cross-field error points at the value's line and column; a
     * default value names only the file. */
    CHECK_FAILS(config_load_string("train:\n  epochs: 3\n  schedule:\n    warmup_epochs: 4\n",
                                   "cfg.yaml", &c),
                ST_ERR_CONFIG, "cfg.yaml:4:20: train.schedule.warmup_epochs: 4 is longer than the run (train.epochs is 3)");
    CHECK_FAILS(config_load_string("model:\n  family: resnet\n", "cfg.yaml", &c), ST_ERR_CONFIG,
                "cfg.yaml: model.depth: 0 is not a valid resnet depth (must be 18 or 34)");
}

/* ---- writer, round trip, save ---- */

static void check_round_trip(const Config *c, const char *what) {
    char *yaml = config_to_yaml(c);
    CHECK(yaml != NULL);
    if (!yaml) return;
    Config back;
    Status st = config_load_string(yaml, what, &back);
    CHECK_OK(st);
    if (st == ST_OK) {
        CHECK(config_equal(c, &back));
        char *again = config_to_yaml(&back);
        CHECK(again && strcmp(again, yaml) == 0);
        free(again);
    } else {
        fprintf(stderr, "%s: the YAML that did not load back:\n%s", what, yaml);
    }
    /* Every key appears once, in table order; each section opens once. */
    const char *pos = yaml;
    for (int i = 0; i < config_field_count(); i++) {
        const char *key = config_field_key(i);
        const char *leaf = strrchr(key, '.') ? strrchr(key, '.') + 1 : key;
        char pat[96];
        snprintf(pat, sizeof pat, " %s:", leaf);
        const char *hit = strstr(pos, pat);
        if (!hit && pos == yaml && strncmp(yaml, pat + 1, strlen(pat) - 1) == 0) hit = yaml;
        if (!hit) {
            snprintf(pat, sizeof pat, "\n%s:", leaf);
            hit = strstr(pos, pat);
        }
        CHECK(hit != NULL);
        if (hit) pos = hit + 1;
    }
    const char *sections[] = {"\nmodel:\n", "\ndata:\n", "\n  augment:\n", "\ntrain:\n", "\n  schedule:\n"};
    for (int i = 0; i < 5; i++) {
        const char *first = strstr(yaml, sections[i]);
        CHECK(first && !strstr(first + 1, sections[i]));
    }
    free(yaml);
}

static void test_round_trip(void) {
    Config c;
    config_defaults(&c);
    check_round_trip(&c, "defaults");

    /* Everything away from its default, with values that are hard to print. */
    const char *sets[] = {
        "name=\"quote \\\" backslash \\\\ colon: hash # tab \\t end\"",
        "model.family=wrn", "model.depth=16", "model.width=3", "model.dropout=0.1",
        "model.shortcut=identity_pad", "model.stem_width=17", "model.stem_kernel=7",
        "model.stem_stride=2", "model.stem_maxpool=true", "model.stem_dropout2d=0.05",
        "model.conv_bias=true", "model.block=preact", "model.relu_after_add=false", "model.head=max4",
        ("model.stages=[{blocks: 1, width: 8, stride: 1}, {blocks: 2, width: 9, stride: 2}, "
         "{blocks: 3, width: 10, stride: 2}, {blocks: 4, width: 11, stride: 1}]"),
        "model.num_classes=12", "data.dataset=cifar10", "data.root=\"/tmp/a dir/with: colon\"",
        "data.val_fraction=0.1", "data.limit_train=1234", "data.limit_test=321",
        "data.mean=[0.4914, 0.4822, 0.4465]", "data.std=[0.2470, 0.2435, 0.2616]",
        "data.shapes_train=77", "data.shapes_test=33", "data.augment.crop_pad=2",
        "data.augment.pad_mode=reflect", "data.augment.flip=false", "data.augment.cutout_holes=2",
        "data.augment.cutout_size=7", "data.augment.resize=224", "train.epochs=200",
        "train.batch_size=96", "train.lr=0.123456789", "train.momentum=0.95", "train.nesterov=true",
        "train.weight_decay=3.3e-7", "train.label_smoothing=0.1", "train.seed=12345678901234567",
        "train.eval_every=3", "train.checkpoint_every=0", "train.device=cpu",
        "train.precision=fp16", "train.threads=2", "train.memory_limit_mb=3000",
        "train.deterministic=true",
        "train.loss_scaling=dynamic", "train.loss_scale_init=1024",
        "train.schedule.type=piecewise", "train.schedule.milestones=[0.5, 60, 120.25]",
        "train.schedule.gamma=0.3", "train.schedule.warmup_epochs=1.5",
        "train.schedule.warmup_start=0.01", "train.schedule.min_lr=1e-6",
        "train.schedule.pct_start=0.25", "train.schedule.div_factor=10",
        "train.schedule.final_div_factor=1e5", "train.schedule.knots=[[0, 0.1], [100.5, 3.4e-38], [150, 1e30]]",
    };
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++) CHECK_OK(config_set(&c, sets[i]));
    CHECK_STR(c.name, "quote \" backslash \\ colon: hash # tab \t end");
    Config def;
    config_defaults(&def);
    /* Every field differs from its default: the list above covers the whole table. */
    for (int i = 0; i < config_field_count(); i++) {
        char a[1024], b[1024];
        CHECK_OK(config_get(&c, config_field_key(i), a, sizeof a));
        CHECK_OK(config_get(&def, config_field_key(i), b, sizeof b));
        if (strcmp(a, b) == 0) fprintf(stderr, "not exercised by the round trip: %s\n", config_field_key(i));
        CHECK(strcmp(a, b) != 0);
    }
    CHECK_OK(config_validate(&c));
    check_round_trip(&c, "everything");

    /* Floats print as the shortest text that reads back exactly. */
    CHECK_STR(get(&c, "train.lr"), "0.12345679");
    CHECK_STR(get(&c, "train.schedule.min_lr"), "1.0e-06");
    CHECK_STR(get(&c, "data.std"), "[0.247, 0.2435, 0.2616]");

    /* Comments mark what the family / schedule does not read. */
    char *yaml = config_to_yaml(&c);
    CHECK(yaml && strstr(yaml, "# unused by family wrn"));
    CHECK(yaml && strstr(yaml, "gamma: 0.3") && strstr(yaml, "# unused by schedule piecewise"));
    free(yaml);
    CHECK_INT(config_field_relevant(&c, config_field_find("model.stages")), 0);
    CHECK_INT(config_field_relevant(&c, config_field_find("model.depth")), 1);
    CHECK_INT(config_field_relevant(&c, config_field_find("model.shortcut")), 1);
    CHECK_INT(config_field_relevant(&c, config_field_find("train.schedule.knots")), 1);
    CHECK_INT(config_field_relevant(&c, config_field_find("train.schedule.milestones")), 0);
    CHECK_INT(config_field_relevant(&c, config_field_find("data.root")), 1);
    CHECK_INT(config_field_relevant(&c, config_field_find("data.shapes_train")), 0);
    CHECK_INT(config_field_relevant(&c, config_field_find("train.lr")), 1);

    /* config_equal sees single-field differences, ignores source and origins. */
    Config d = c;
    CHECK(config_equal(&c, &d));
    snprintf(d.source, sizeof d.source, "elsewhere");
    d.origin[3].line = 99;
    CHECK(config_equal(&c, &d));
    d.train.schedule.knot_lr[2] = 2e30f;
    CHECK(!config_equal(&c, &d));
    d = c;
    d.train.schedule.milestones[5] = 4;  /* beyond the count: not part of the value */
    CHECK(config_equal(&c, &d));

    /* config_get errors. */
    char small[4];
    CHECK_FAILS(config_get(&c, "train.lr", small, sizeof small), ST_ERR_ARG,
                "config_get train.lr: the value needs 11 bytes, the buffer has 4");
    char buf[64];
    CHECK_FAILS(config_get(&c, "train.lrr", buf, sizeof buf), ST_ERR_CONFIG,
                "unknown key 'lrr' in 'train' (did you mean 'lr'?)");
    CHECK_FAILS(config_get(&c, "train", buf, sizeof buf), ST_ERR_CONFIG,
                "'train' is a section, not a key");
}

static void test_save(void) {
    char dir[] = "/tmp/test_config_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
        CHECK(0);
        return;
    }
    char path[256];
    snprintf(path, sizeof path, "%s/resolved.yaml", dir);
    Config c, back;
    config_defaults(&c);
    CHECK_OK(config_set(&c, "train.schedule.type=onecycle"));
    CHECK_OK(config_set(&c, "name=saved"));
    CHECK_OK(config_save(&c, path));
    CHECK_OK(config_save(&c, path));   /* replaces atomically */
    CHECK_OK(config_load(path, &back));
    CHECK(config_equal(&c, &back));
    CHECK_STR(back.source, path);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0644);
    /* No temporary left behind. */
    DIR *d = opendir(dir);
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') entries++;
    if (d) closedir(d);
    CHECK_INT(entries, 1);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/x.yaml", dir);
    Status st = config_save(&c, bad);
    CHECK_INT(st, ST_ERR_IO);
    CHECK(strncmp(status_message(), bad, strlen(bad)) == 0);
    CHECK(unlink(path) == 0);
    CHECK(rmdir(dir) == 0);
}

/* ---- fixtures: bad configs that declare their own message ---- */

/* dir + "/" + name into buf; 0 when it does not fit. */
static int join_path(char *buf, size_t len, const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    if (a + 1 + b + 1 > len) return 0;
    memcpy(buf, dir, a);
    buf[a] = '/';
    memcpy(buf + a + 1, name, b + 1);
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted *.yaml names of a directory (caller frees). */
static int list_yaml(const char *dir, char ***out) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (!ends_with(e->d_name, ".yaml")) continue;
        char **p = realloc(names, (size_t)(n + 1) * sizeof *names);
        if (!p) break;
        names = p;
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_names);
    *out = names;
    return n;
}

static void test_fixtures(const char *dir) {
    char **names = NULL;
    int n = list_yaml(dir, &names);
    if (n < 0) {
        fprintf(stderr, "%s: cannot open the fixtures: %s\n", dir, strerror(errno));
        CHECK(0);
        return;
    }
    CHECK(n >= 10);
    for (int i = 0; i < n; i++) {
        char path[2200], first[1024] = "";
        CHECK(join_path(path, sizeof path, dir, names[i]));
        FILE *f = fopen(path, "r");
        CHECK(f != NULL);
        if (f) {
            if (!fgets(first, sizeof first, f)) first[0] = '\0';
            fclose(f);
        }
        first[strcspn(first, "\n")] = '\0';
        const char *tag = "# expect: ";
        CHECK(strncmp(first, tag, strlen(tag)) == 0);
        char want[3300];
        snprintf(want, sizeof want, "%s:%s", path, first + strlen(tag));
        Config c;
        CHECK_FAILS(config_load(path, &c), ST_ERR_CONFIG, want);
        free(names[i]);
    }
    free(names);
}

/* ---- the shipped recipes ---- */

static void test_shipped(const char *dir) {
    char **names = NULL;
    int n = list_yaml(dir, &names);
    if (n < 0) {
        fprintf(stderr, "%s: cannot open the configs: %s\n", dir, strerror(errno));
        CHECK(0);
        return;
    }
    const char *required[] = {"quick.yaml", "resnet20.yaml", "resnet56.yaml", "wrn-28-10.yaml",
                              "resnet34-224.yaml", "resnet-cifar100.yaml", "cpu-demo.yaml"};
    for (size_t r = 0; r < sizeof required / sizeof required[0]; r++) {
        int found = 0;
        for (int i = 0; i < n; i++) found |= strcmp(names[i], required[r]) == 0;
        if (!found) fprintf(stderr, "missing config: %s\n", required[r]);
        CHECK(found);
    }
    Config def;
    config_defaults(&def);
    for (int i = 0; i < n; i++) {
        char path[2200];
        CHECK(join_path(path, sizeof path, dir, names[i]));
        Config c;
        Status st = config_load(path, &c);
        CHECK_OK(st);
        if (st == ST_OK) {
            CHECK_OK(config_validate(&c));
            check_round_trip(&c, names[i]);
            /* Each recipe starts with a comment saying what it is. */
            FILE *f = fopen(path, "r");
            int ch = f ? fgetc(f) : EOF;
            if (f) fclose(f);
            CHECK(ch == '#');
        }
        const char *stem = names[i];
        if (strcmp(stem, "quick.yaml") == 0) {
            CHECK(config_equal(&c, &def));
        } else if (strcmp(stem, "resnet20.yaml") == 0 || strcmp(stem, "resnet56.yaml") == 0) {
            CHECK_INT(c.model.family, FAMILY_RESNET_CIFAR);
            CHECK_INT(c.model.depth, stem[6] == '2' ? 20 : 56);
            CHECK_INT(c.model.shortcut, SHORTCUT_IDENTITY_PAD);
            CHECK_INT(c.data.dataset, DATASET_CIFAR10);
            CHECK_INT(c.train.batch_size, 128);
            CHECK(c.train.lr == 0.1f && c.train.momentum == 0.9f && c.train.weight_decay == 1e-4f);
            CHECK_INT(c.train.epochs, 164);
            CHECK_INT(c.train.schedule.kind, SCHEDULE_MULTISTEP);
            CHECK_INT(c.train.schedule.num_milestones, 2);
            CHECK(c.train.schedule.milestones[0] == 82 && c.train.schedule.milestones[1] == 123);
            CHECK(c.train.schedule.gamma == 0.1f);
            CHECK_INT(c.data.augment.crop_pad, 4);
            CHECK_INT(c.data.augment.flip, 1);
            CHECK(c.data.mean[0] == 0.4914f && c.data.std[2] == 0.2616f);
        } else if (strcmp(stem, "wrn-28-10.yaml") == 0) {
            CHECK_INT(c.model.family, FAMILY_WRN);
            CHECK_INT(c.model.depth, 28);
            CHECK_INT(c.model.width, 10);
            CHECK(c.model.dropout == 0.3f);
            CHECK_INT(c.model.shortcut, SHORTCUT_CONV3X3);
            CHECK_INT(c.data.augment.cutout_holes, 1);
            CHECK_INT(c.data.augment.cutout_size, 16);
            CHECK_INT(c.train.batch_size, 128);
            CHECK(c.train.lr == 0.01f && c.train.weight_decay == 5e-4f);
            CHECK_INT(c.train.epochs, 200);
            CHECK_INT(c.train.schedule.num_milestones, 3);
            CHECK(c.train.schedule.milestones[2] == 160 && c.train.schedule.gamma == 0.2f);
        } else if (strcmp(stem, "resnet34-224.yaml") == 0) {
            CHECK_INT(c.model.family, FAMILY_RESNET);
            CHECK_INT(c.model.depth, 34);
            CHECK_INT(c.model.conv_bias, 1);
            CHECK_INT(c.data.augment.resize, 224);
            CHECK(c.data.val_fraction == 0.1f);
            CHECK_INT(c.train.batch_size, 16);
            CHECK(c.train.lr == 0.01f && c.train.weight_decay == 1e-3f);
            CHECK_INT(c.train.epochs, 20);
            CHECK_INT(c.train.schedule.kind, SCHEDULE_CONSTANT);
            CHECK(c.data.mean[0] == 0.485f && c.data.std[0] == 0.229f);
        } else if (strcmp(stem, "resnet-cifar100.yaml") == 0) {
            CHECK_INT(c.model.family, FAMILY_CUSTOM);
            CHECK_INT(c.data.dataset, DATASET_CIFAR100);
            CHECK_INT(c.model.stem_width, 32);
            CHECK(c.model.stem_dropout2d == 0.02f);
            CHECK_INT(c.model.shortcut, SHORTCUT_CONV3X3);
            CHECK_INT(c.model.relu_after_add, 0);
            CHECK_INT(c.model.head, HEAD_MAX4);
            CHECK_INT(c.model.num_stages, 4);
            const int blocks[4] = {2, 4, 4, 2}, widths[4] = {32, 64, 128, 256}, strides[4] = {1, 2, 2, 2};
            for (int s = 0; s < 4; s++) {
                CHECK_INT(c.model.stages[s].blocks, blocks[s]);
                CHECK_INT(c.model.stages[s].width, widths[s]);
                CHECK_INT(c.model.stages[s].stride, strides[s]);
            }
            CHECK_INT(c.train.batch_size, 256);
            CHECK(c.train.lr == 0.1f && c.train.weight_decay == 1e-5f);
            CHECK_INT(c.train.epochs, 70);
        } else if (strcmp(stem, "cpu-demo.yaml") == 0) {
            CHECK_INT(c.data.dataset, DATASET_CIFAR10);
            CHECK_INT(c.train.schedule.kind, SCHEDULE_ONECYCLE);
        }
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    char configs[1024], fixtures[1100];
    const char *src = getenv("SHORTCUT_SOURCE_DIR");
    if (argc > 1) {
        snprintf(configs, sizeof configs, "%s", argv[1]);
    } else if (src && *src) {
        snprintf(configs, sizeof configs, "%s/configs", src);
    } else {
        fprintf(stderr, "usage: %s CONFIGS_DIR [FIXTURES_DIR] (or set SHORTCUT_SOURCE_DIR)\n",
                argv[0]);
        return 2;
    }
    if (argc > 2) snprintf(fixtures, sizeof fixtures, "%s", argv[2]);
    else snprintf(fixtures, sizeof fixtures, "%s/../tests/fixtures/config", configs);

    test_defaults();
    test_field_table();
    test_set_types();
    test_set_errors();
    test_load_errors();
    test_validate();
    test_round_trip();
    test_save();
    test_fixtures(fixtures);
    test_shipped(configs);
    return check_report("test_config");
}
