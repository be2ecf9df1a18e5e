/* test_model.c — model construction: family expansion, parameter counts, MACs and names
 * against PyTorch, the layer table, initialization statistics, config errors, copy.
 *
 * Expected numbers come from tests/fixtures/model/param_counts.py (PyTorch 1.13, the twin
 * network in torchnet.py); the entries marked "torch_reference" also equal
 * shared/bench/torch_reference.py's own models (param_counts.py checks that). Runs on the
 * reference backend; building WRN-28-10 (36.5 M parameters) takes about a second. The
 * batchnorm + relu fusion runs on the cpu backend: the same bits as the layers one by one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/backend.h"
#include "../core/config.h"
#include "../core/model.h"
#include "../core/model_internal.h"
#include "../core/rng.h"
#include "check.h"

static Backend g_be;

static ModelConfig family(ModelFamily f, int depth, int width, ShortcutKind sc) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.family = f;
    mc.depth = depth;
    mc.width = width;
    mc.shortcut = sc;
    mc.dropout = f == FAMILY_WRN ? 0.3f : 0.0f;
    return mc;
}

static ModelConfig custom(int stem, BlockKind block, ShortcutKind sc, HeadKind head,
                          int relu_after_add, int n, const int *blocks, const int *widths,
                          const int *strides) {
    ModelConfig mc;
    memset(&mc, 0, sizeof mc);
    mc.family = FAMILY_CUSTOM;
    mc.stem_width = stem;
    mc.stem_kernel = 3;
    mc.stem_stride = 1;
    mc.block = block;
    mc.shortcut = sc;
    mc.head = head;
    mc.relu_after_add = relu_after_add;
    mc.num_stages = n;
    for (int i = 0; i < n; i++)
        mc.stages[i] = (StageConfig){blocks[i], widths[i], strides[i]};
    return mc;
}

static ModelConfig cifar100_net(void) {
    static const int b[4] = {2, 4, 4, 2}, w[4] = {32, 64, 128, 256}, s[4] = {1, 2, 2, 2};
    ModelConfig mc = custom(32, BLOCK_BASIC, SHORTCUT_CONV3X3, HEAD_MAX4, 0, 4, b, w, s);
    mc.stem_dropout2d = 0.02f;
    mc.num_classes = 100;
    return mc;
}

/* ---------------------------------------------------------------------------------------------
 * counts */

typedef struct CountCase {
    const char *name;
    ModelConfig mc;
    int side, classes;
    long long params, macs;
    int entries;   /* state_dict entries without num_batches_tracked */
} CountCase;

static void check_count(const CountCase *c) {
    Model *m = NULL;
    Status st = model_build(&c->mc, c->classes, c->side, &g_be, 1, &m);
    CHECK_OK(st);
    if (st != ST_OK) {
        fprintf(stderr, "  (case %s)\n", c->name);
        return;
    }
    long long p = model_num_trainable(m), macs = model_total_macs(m);
    int entries = model_param_count(m);
    if (p != c->params || macs != c->macs || entries != c->entries)
        fprintf(stderr, "%s: params %lld (PyTorch %lld), MACs %lld (%lld), entries %d (%d)\n",
                c->name, p, c->params, macs, c->macs, entries, c->entries);
    CHECK_INT(p, c->params);
    CHECK_INT(macs, c->macs);
    CHECK_INT(entries, c->entries);

    /* the layer table adds up and ends with the classifier */
    const LayerInfo *rows;
    int n = model_layers(m, &rows);
    long long sp = 0, sm = 0, cp = 0, cm = 0;
    for (int i = 0; i < n; i++) {
        if (rows[i].container) {
            if (rows[i].depth == 0) {
                cp += rows[i].params;
                cm += rows[i].macs;
            }
        } else {
            sp += rows[i].params;
            sm += rows[i].macs;
        }
    }
    CHECK_INT(sp, p);
    CHECK_INT(sm, macs);
    CHECK_INT(cp, p);
    CHECK_INT(cm, macs);
    CHECK(n > 0 && strcmp(rows[n - 1].name, "head.fc") == 0);
    CHECK(n > 0 && strcmp(rows[n - 1].kind, "Linear") == 0);
    CHECK_INT(rows[n - 1].out_c, model_num_classes(m));
    CHECK(n > 0 && strcmp(rows[0].name, "stem") == 0 && rows[0].container);
    model_destroy(m);
}

static void test_counts(void) {
    /* Reference numbers: tests/fixtures/model/param_counts.py. */
    static const int qb[3] = {2, 2, 2}, qw[3] = {16, 32, 64}, qs[3] = {1, 2, 2};
    static const int rb[4] = {2, 2, 2, 2}, rw[4] = {64, 128, 256, 512}, rs[4] = {1, 2, 2, 2};
    ModelConfig r34b = family(FAMILY_RESNET, 34, 1, SHORTCUT_CONV1X1);
    r34b.conv_bias = 1;
    CountCase cases[] = {
        {"resnet20 identity_pad", family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_IDENTITY_PAD), 32,
         10, 269722, 40551040, 97},
        /* torch_reference resnet20 */
        {"resnet20 conv1x1", family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_CONV1X1), 32, 10,
         272474, 40813184, 107},
        {"resnet56 identity_pad", family(FAMILY_RESNET_CIFAR, 56, 1, SHORTCUT_IDENTITY_PAD), 32,
         10, 853018, 125485696, 277},
        {"resnet56 conv1x1", family(FAMILY_RESNET_CIFAR, 56, 1, SHORTCUT_CONV1X1), 32, 10,
         855770, 125747840, 287},
        /* torch_reference wrn_16_4 */
        {"wrn-16-4 conv1x1", family(FAMILY_WRN, 16, 4, SHORTCUT_CONV1X1), 32, 10, 2748890,
         392612352, 70},
        {"wrn-16-4 conv3x3", family(FAMILY_WRN, 16, 4, SHORTCUT_CONV3X3), 32, 10, 3085178,
         434555392, 82},
        /* torch_reference wrn_28_10 */
        {"wrn-28-10 conv1x1", family(FAMILY_WRN, 28, 10, SHORTCUT_CONV1X1), 32, 10, 36479194,
         5243328768LL, 130},
        {"wrn-28-10 conv3x3", family(FAMILY_WRN, 28, 10, SHORTCUT_CONV3X3), 32, 10, 38548666,
         5474015488LL, 142},
        /* torch_reference resnet34 (32x32 input) */
        {"resnet34 no bias 32", family(FAMILY_RESNET, 34, 1, SHORTCUT_CONV1X1), 32, 10, 21289802,
         74765312, 182},
        {"resnet34 no bias 224", family(FAMILY_RESNET, 34, 1, SHORTCUT_CONV1X1), 224, 10,
         21289802, 3663254528LL, 182},
        {"resnet34 bias 224", r34b, 224, 10, 21298314, 3663254528LL, 218},
        {"resnet18 224", family(FAMILY_RESNET, 18, 1, SHORTCUT_IDENTITY_PAD), 224, 10, 11181642,
         1813566464LL, 102},
        {"cifar100 custom", cifar100_net(), 32, 0, 3903620, 227402752, 142},
        /* torch_reference resnet18 (CIFAR variant) */
        {"resnet18-cifar custom",
         custom(64, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 4, rb, rw, rs), 32, 10, 11173962,
         555422720, 102},
        {"quick layout", custom(16, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 3, qb, qw, qs),
         32, 10, 175258, 26657408, 77},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_count(&cases[i]);

    /* the shipped default (config_defaults: the quick demo on shapes, 10 classes) */
    Config c;
    config_defaults(&c);
    CountCase q = {"config_defaults", c.model, 32, 10, 175258, 26657408, 77};
    check_count(&q);
}

/* ---------------------------------------------------------------------------------------------
 * names, kinds, expansion */

static void test_names(void) {
    /* PyTorch state_dict keys of resnet20 conv1x1 (param_counts.py prints them) */
    static const char *const first[] = {
        "stem.conv.weight", "stem.bn.weight", "stem.bn.bias", "stem.bn.running_mean",
        "stem.bn.running_var", "stages.0.0.conv1.weight", "stages.0.0.bn1.weight",
        "stages.0.0.bn1.bias", "stages.0.0.bn1.running_mean", "stages.0.0.bn1.running_var",
        "stages.0.0.conv2.weight", "stages.0.0.bn2.weight"};
    static const char *const last[] = {
        "stages.2.2.conv1.weight", "stages.2.2.bn1.weight", "stages.2.2.bn1.bias",
        "stages.2.2.bn1.running_mean", "stages.2.2.bn1.running_var", "stages.2.2.conv2.weight",
        "stages.2.2.bn2.weight", "stages.2.2.bn2.bias", "stages.2.2.bn2.running_mean",
        "stages.2.2.bn2.running_var", "head.fc.weight", "head.fc.bias"};
    ModelConfig mc = family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_CONV1X1);
    Model *m = NULL;
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 1, &m));
    if (!m)
        return;
    int n = model_param_count(m);
    CHECK_INT(n, 107);
    for (int i = 0; i < 12 && n == 107; i++) {
        CHECK(strcmp(model_param(m, i)->name, first[i]) == 0);
        CHECK(strcmp(model_param(m, n - 12 + i)->name, last[i]) == 0);
    }
    Param *p = model_find_param(m, "stages.1.0.shortcut.conv.weight");
    CHECK(p != NULL);
    if (p) {
        CHECK_INT(p->value.n, 32);
        CHECK_INT(p->value.c, 16);
        CHECK_INT(p->value.h, 1);
        CHECK(p->kind == PARAM_WEIGHT);
    }
    p = model_find_param(m, "stages.1.0.shortcut.bn.running_var");
    CHECK(p != NULL && p->kind == PARAM_BUFFER && p->grad.data == NULL);
    p = model_find_param(m, "head.fc.weight");
    CHECK(p != NULL && p->value.n == 10 && p->value.c == 64);
    CHECK(model_find_param(m, "stages.0.0.shortcut.conv.weight") == NULL);
    const Param *sw = model_stem_weight(m);
    CHECK(sw != NULL && strcmp(sw->name, "stem.conv.weight") == 0 && sw->value.n == 16 &&
          sw->value.c == 3 && sw->value.h == 3);
    CHECK_INT(model_input_side(m), 32);
    CHECK_INT(model_num_classes(m), 10);
    char *text = model_summary(m);
    CHECK(text != NULL);
    if (text) {
        CHECK(strstr(text, "stages.2.2.conv2") != NULL);
        CHECK(strstr(text, "272,474") != NULL);
        CHECK(strstr(text, "40,813,184") != NULL);
        free(text);
    }
    model_destroy(m);

    /* expanded forms */
    mc = family(FAMILY_WRN, 28, 10, SHORTCUT_CONV3X3);
    CHECK_OK(model_build(&mc, 100, 32, &g_be, 1, &m));
    if (m) {
        const ModelConfig *e = model_expanded_config(m);
        CHECK(e->family == FAMILY_CUSTOM && e->block == BLOCK_PREACT && e->num_stages == 3);
        CHECK(e->stages[0].blocks == 4 && e->stages[0].width == 160 && e->stages[0].stride == 1);
        CHECK(e->stages[2].width == 640 && e->stages[2].stride == 2);
        CHECK(e->num_classes == 100 && fabsf(e->dropout - 0.3f) < 1e-7f);
        /* the tutorial shortcut: BN-ReLU-conv3x3 on the raw input, names shortcut.{bn,conv} */
        CHECK(model_find_param(m, "stages.1.0.shortcut.bn.weight") != NULL);
        p = model_find_param(m, "stages.1.0.shortcut.conv.weight");
        CHECK(p != NULL && p->value.c == 160 && p->value.h == 3);
        CHECK(model_find_param(m, "head.bn.running_mean") != NULL);
        CHECK(model_find_param(m, "stem.bn.weight") == NULL);
        const LayerInfo *rows;
        int n2 = model_layers(m, &rows), drop = 0;
        for (int i = 0; i < n2; i++)
            drop += strcmp(rows[i].kind, "Dropout") == 0;
        CHECK_INT(drop, 12);
        model_destroy(m);
    }

    /* layer kinds: CIFAR-100 net (Dropout2d stem, conv3x3 shortcut, max4 head) and option A */
    mc = cifar100_net();
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 1, &m));
    if (m) {
        const LayerInfo *rows;
        int n2 = model_layers(m, &rows), d2 = 0, mp = 0, relu_after = 0;
        for (int i = 0; i < n2; i++) {
            d2 += strcmp(rows[i].kind, "Dropout2d") == 0;
            if (strcmp(rows[i].name, "head.pool") == 0) {
                mp++;
                CHECK(strcmp(rows[i].kind, "MaxPool2d") == 0);
                CHECK(rows[i].out_c == 256 && rows[i].out_h == 1 && rows[i].out_w == 1);
            }
            relu_after += strstr(rows[i].name, ".relu") && !strstr(rows[i].name, ".relu1") &&
                          rows[i].depth == 2;
        }
        CHECK_INT(d2, 1);
        CHECK_INT(mp, 1);
        CHECK_INT(relu_after, 0);
        CHECK_INT(model_num_classes(m), 100);   /* the config's 100 wins over the dataset's */
        p = model_find_param(m, "stages.3.0.shortcut.conv.weight");
        CHECK(p != NULL && p->value.n == 256 && p->value.c == 128 && p->value.h == 3);
        CHECK(model_find_param(m, "stages.3.0.shortcut.bn.weight") != NULL);
        model_destroy(m);
    }
    mc = family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_IDENTITY_PAD);
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 1, &m));
    if (m) {
        const LayerInfo *rows;
        int n2 = model_layers(m, &rows), pads = 0;
        for (int i = 0; i < n2; i++)
            if (strcmp(rows[i].kind, "PadChannels") == 0) {
                pads++;
                CHECK(rows[i].params == 0 && rows[i].macs == 0);
            }
        CHECK_INT(pads, 2);
        model_destroy(m);
    }
    /* resnet: conv1x1 downsample whatever model.shortcut says; bias on every conv */
    mc = family(FAMILY_RESNET, 34, 1, SHORTCUT_CONV3X3);
    mc.conv_bias = 1;
    CHECK_OK(model_build(&mc, 10, 224, &g_be, 1, &m));
    if (m) {
        p = model_find_param(m, "stages.1.0.shortcut.conv.weight");
        CHECK(p != NULL && p->value.h == 1 && p->value.n == 128 && p->value.c == 64);
        CHECK(model_find_param(m, "stages.1.0.shortcut.conv.bias") != NULL);
        CHECK(model_find_param(m, "stem.conv.bias") != NULL);
        p = model_find_param(m, "stem.conv.weight");
        CHECK(p != NULL && p->value.h == 7);
        const LayerInfo *rows;
        int n2 = model_layers(m, &rows);
        for (int i = 0; i < n2; i++) {
            if (strcmp(rows[i].name, "stem.maxpool") == 0)
                CHECK(rows[i].out_h == 56 && rows[i].out_c == 64);
            if (strcmp(rows[i].name, "stages.3") == 0)
                CHECK(rows[i].out_h == 7 && rows[i].out_c == 512);
        }
        model_destroy(m);
    }
}

/* ---------------------------------------------------------------------------------------------
 * initialization */

static float *fetch(const Tensor *t) {
    float *h = malloc(tensor_numel(t) * sizeof *h);
    if (h && g_be.ops->download(g_be.ctx, t, h) != ST_OK) {
        free(h);
        return NULL;
    }
    return h;
}

static void moments(const Param *p, double *mean, double *std, double *maxabs) {
    float *h = fetch(&p->value);
    size_t n = tensor_numel(&p->value);
    double s = 0, ss = 0, mx = 0;
    for (size_t i = 0; h && i < n; i++) {
        s += h[i];
        ss += (double)h[i] * h[i];
        mx = fmax(mx, fabs(h[i]));
    }
    free(h);
    *mean = s / n;
    *std = sqrt(ss / n - (s / n) * (s / n));
    *maxabs = mx;
}

static void test_init(void) {
    ModelConfig mc = family(FAMILY_RESNET, 18, 1, SHORTCUT_CONV1X1);
    mc.conv_bias = 1;
    Model *m = NULL, *m2 = NULL, *m3 = NULL;
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 42, &m));
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 42, &m2));
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 43, &m3));
    if (!m || !m2 || !m3) {
        model_destroy(m);
        model_destroy(m2);
        model_destroy(m3);
        return;
    }
    double mean, std, mx;
    /* Kaiming normal, fan_out: std = sqrt(2 / (512 * 3 * 3)) */
    moments(model_find_param(m, "stages.3.1.conv2.weight"), &mean, &std, &mx);
    CHECK_NEAR(mean, 0.0, 2e-4, 0);
    CHECK_NEAR(std, sqrt(2.0 / (512 * 9)), 0, 5e-3);
    moments(model_find_param(m, "stem.conv.weight"), &mean, &std, &mx);
    CHECK_NEAR(std, sqrt(2.0 / (64 * 49)), 0, 0.05);
    /* conv bias and linear: U(+-1/sqrt(fan_in)), std bound/sqrt(3) */
    moments(model_find_param(m, "stages.3.1.conv2.bias"), &mean, &std, &mx);
    const double slack = 1.0 + 1e-6;   /* the bound is computed in float */
    CHECK(mx <= slack / sqrt(512 * 9) && mx > 0.8 / sqrt(512 * 9));
    moments(model_find_param(m, "head.fc.weight"), &mean, &std, &mx);
    CHECK(mx <= slack / sqrt(512.0) && mx > 0.99 / sqrt(512.0));
    CHECK_NEAR(std, 1.0 / sqrt(512.0) / sqrt(3.0), 0, 0.03);
    moments(model_find_param(m, "head.fc.bias"), &mean, &std, &mx);
    CHECK(mx <= slack / sqrt(512.0) && mx > 0.0);
    /* BN: weight 1, bias 0, running mean 0, var 1 */
    moments(model_find_param(m, "stages.2.0.bn1.weight"), &mean, &std, &mx);
    CHECK(mean == 1.0 && std == 0.0);
    moments(model_find_param(m, "stages.2.0.bn1.bias"), &mean, &std, &mx);
    CHECK(mx == 0.0);
    moments(model_find_param(m, "stages.2.0.bn1.running_mean"), &mean, &std, &mx);
    CHECK(mx == 0.0);
    moments(model_find_param(m, "stages.2.0.bn1.running_var"), &mean, &std, &mx);
    CHECK(mean == 1.0 && std == 0.0);
    /* reproducible per seed; different seeds differ; every parameter gets its own numbers */
    int same = 1, differ = 0;
    for (int i = 0; i < model_param_count(m); i++) {
        Param *a = model_param(m, i), *b = model_param(m2, i), *c = model_param(m3, i);
        float *ha = fetch(&a->value), *hb = fetch(&b->value), *hc = fetch(&c->value);
        size_t bytes = tensor_bytes(&a->value);
        if (ha && hb && hc) {
            same &= memcmp(ha, hb, bytes) == 0;
            differ += a->kind == PARAM_WEIGHT && a->value.n > 1 && memcmp(ha, hc, bytes) != 0;
        }
        free(ha);
        free(hb);
        free(hc);
        /* gradients start at zero */
        if (a->kind != PARAM_BUFFER) {
            float *g = fetch(&a->grad);
            int zero = g != NULL;
            for (size_t k = 0; g && k < tensor_numel(&a->grad); k++)
                zero &= g[k] == 0.0f;
            CHECK(zero);
            free(g);
        }
    }
    CHECK(same);
    CHECK_INT(differ, 21);   /* 17 + 3 downsample convs + fc */
    float *s1 = fetch(&model_find_param(m, "stages.0.0.conv1.weight")->value);
    float *s2 = fetch(&model_find_param(m, "stages.0.0.conv2.weight")->value);
    CHECK(s1 && s2 && memcmp(s1, s2, 64 * sizeof *s1) != 0);
    free(s1);
    free(s2);
    model_destroy(m);
    model_destroy(m2);
    model_destroy(m3);
}

/* ---------------------------------------------------------------------------------------------
 * invalid configs and arguments */

static void expect_config_error(const ModelConfig *mc, int classes, int side, const char *key,
                                const char *also) {
    Model *m = (Model *)&g_be;   /* any non-NULL value: must come back NULL */
    Status st = model_build(mc, classes, side, &g_be, 1, &m);
    CHECK_INT(st, ST_ERR_CONFIG);
    CHECK(m == NULL);
    const char *msg = status_message();
    if (!strstr(msg, key) || (also && !strstr(msg, also)))
        fprintf(stderr, "message lacks '%s'/'%s': %s\n", key, also ? also : "", msg);
    CHECK(strstr(msg, key) != NULL);
    CHECK(also == NULL || strstr(msg, also) != NULL);
}

static void test_errors(void) {
    ModelConfig mc = family(FAMILY_WRN, 15, 4, SHORTCUT_CONV1X1);
    expect_config_error(&mc, 10, 32, "model.depth", "16, 22, 28");
    mc = family(FAMILY_WRN, 4, 4, SHORTCUT_CONV1X1);
    expect_config_error(&mc, 10, 32, "model.depth", "6n+4");
    mc = family(FAMILY_RESNET_CIFAR, 21, 1, SHORTCUT_CONV1X1);
    expect_config_error(&mc, 10, 32, "model.depth", "6n+2");
    mc = family(FAMILY_RESNET, 50, 1, SHORTCUT_CONV1X1);
    expect_config_error(&mc, 10, 224, "model.depth", "18 or 34");
    /* the CIFAR-100 net's max4 head needs a 4x4 map: a 16x16 input leaves 2x2 */
    mc = cifar100_net();
    expect_config_error(&mc, 10, 16, "model.head", "2x2");
    static const int b[2] = {1, 1}, w[2] = {16, 21}, s[2] = {1, 2};
    mc = custom(16, BLOCK_BASIC, SHORTCUT_IDENTITY_PAD, HEAD_AVG, 1, 2, b, w, s);
    expect_config_error(&mc, 10, 32, "model.stages[1]", "identity_pad");
    mc = custom(16, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 2, b, w, s);
    mc.stages[1].blocks = 0;
    expect_config_error(&mc, 10, 32, "model.stages[1].blocks", NULL);
    mc = custom(16, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 0, b, w, s);
    expect_config_error(&mc, 10, 32, "model.stages", NULL);
    mc = custom(16, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 2, b, w, s);
    expect_config_error(&mc, 0, 32, "model.num_classes", NULL);
    mc.stem_dropout2d = 1.0f;
    expect_config_error(&mc, 10, 32, "model.stem_dropout2d", NULL);

    /* arguments */
    mc = custom(8, BLOCK_BASIC, SHORTCUT_CONV1X1, HEAD_AVG, 1, 2, b, w, s);
    Model *m = NULL;
    CHECK(model_build(&mc, 10, 0, &g_be, 1, &m) == ST_ERR_ARG && m == NULL);
    CHECK(model_build(NULL, 10, 32, &g_be, 1, &m) == ST_ERR_ARG);
    CHECK_OK(model_build(&mc, 10, 8, &g_be, 1, &m));
    if (m) {
        Tensor x;
        memset(&x, 0, sizeof x);
        tensor_shape(&x, 2, 3, 16, 16, DT_F32);
        CHECK_OK(g_be.ops->tensor_alloc(g_be.ctx, &x));
        CHECK_OK(g_be.ops->fill(g_be.ctx, &x, 0.5f));
        const Tensor *lg = NULL;
        CHECK(model_forward(m, &x, 0, 0, &lg) == ST_ERR_ARG && lg == NULL);
        CHECK(strstr(status_message(), "(N, 3, 8, 8)") != NULL);
        CHECK(model_backward(m, &x) == ST_ERR_ARG);   /* no forward yet */
        g_be.ops->tensor_free(g_be.ctx, &x);
        model_destroy(m);
    }
    /* training BN on a 1x1 map needs a batch of at least 2 */
    mc = family(FAMILY_RESNET, 18, 1, SHORTCUT_CONV1X1);
    CHECK_OK(model_build(&mc, 10, 32, &g_be, 1, &m));
    if (m) {
        Tensor x;
        memset(&x, 0, sizeof x);
        tensor_shape(&x, 1, 3, 32, 32, DT_F32);
        CHECK_OK(g_be.ops->tensor_alloc(g_be.ctx, &x));
        CHECK_OK(g_be.ops->fill(g_be.ctx, &x, 0.25f));
        const Tensor *lg = NULL;
        CHECK(model_forward(m, &x, 1, 0, &lg) == ST_ERR_ARG);
        CHECK(strstr(status_message(), "batch of 2") != NULL);
        CHECK_OK(model_forward(m, &x, 0, 0, &lg));   /* inference is fine */
        CHECK(lg != NULL && lg->n == 1 && lg->c == 10);
        g_be.ops->tensor_free(g_be.ctx, &x);
        model_destroy(m);
    }
    model_destroy(NULL);
    model_release_activations(NULL);
    CHECK(model_param_count(NULL) == 0 && model_param(NULL, 0) == NULL);
}

/* ---------------------------------------------------------------------------------------------
 * copy */

static void test_copy(void) {
    ModelConfig a = family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_CONV1X1);
    ModelConfig b = family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_IDENTITY_PAD);
    Model *src = NULL, *dst = NULL;
    CHECK_OK(model_build(&a, 10, 32, &g_be, 5, &src));
    CHECK_OK(model_build(&b, 10, 32, &g_be, 6, &dst));
    if (src && dst) {
        int copied = -1;
        CHECK_OK(model_copy_matching(dst, src, &copied));
        CHECK_INT(copied, model_param_count(dst));   /* every option-A name exists in src */
        int equal = 1;
        for (int i = 0; i < model_param_count(dst); i++) {
            Param *d = model_param(dst, i), *s = model_find_param(src, d->name);
            float *hd = fetch(&d->value), *hs = s ? fetch(&s->value) : NULL;
            equal &= hd && hs && memcmp(hd, hs, tensor_bytes(&d->value)) == 0;
            free(hd);
            free(hs);
        }
        CHECK(equal);
        /* the other way only the matching ones: src keeps its shortcut params */
        CHECK_OK(model_copy_matching(src, dst, &copied));
        CHECK_INT(copied, model_param_count(dst));
    }
    model_destroy(src);
    model_destroy(dst);
    /* widths differ: only same-shaped tensors move (the stem conv, the first block's bn1 with
     * its 16 input channels, and the classifier bias) */
    ModelConfig w4 = family(FAMILY_WRN, 10, 1, SHORTCUT_CONV1X1);
    ModelConfig w8 = family(FAMILY_WRN, 10, 2, SHORTCUT_CONV1X1);
    CHECK_OK(model_build(&w4, 10, 32, &g_be, 5, &src));
    CHECK_OK(model_build(&w8, 10, 32, &g_be, 6, &dst));
    if (src && dst) {
        int copied = -1;
        CHECK_OK(model_copy_matching(dst, src, &copied));
        CHECK_INT(copied, 1 + 4 + 1);
    }
    model_destroy(src);
    model_destroy(dst);
}

/* A new tensor of shape (n, c, h, w) on b holding `host` (NULL: left unset). */
static Tensor tensor_on(Backend *b, int n, int c, int h, int w, DType dt, const void *host) {
    Tensor t = {0};
    tensor_shape(&t, n, c, h, w, dt);
    CHECK_OK(b->ops->tensor_alloc(b->ctx, &t));
    if (host) CHECK_OK(b->ops->upload(b->ctx, &t, host));
    return t;
}

/* One training forward + backward and one eval forward of mc on b: logits and every
 * parameter's gradient and value (running statistics included) downloaded into one array. */
static float *step_results(const ModelConfig *mc, Backend *b, size_t *count, int fusions[3]) {
    enum { N = 4, K = 10 };
    Model *m = NULL;
    CHECK_OK(model_build(mc, K, 32, b, 9, &m));
    if (!m) return NULL;
    fusions[0] = fusions[1] = fusions[2] = 0;
    for (int i = 0; i < m->n_layers; i++) {
        fusions[0] += m->layers[i].fuse_relu;
        fusions[1] += m->layers[i].fuse_add_relu;
        fusions[2] += m->layers[i].dy2_scratch;
    }
    float *img = malloc(sizeof(float) * N * 3 * 32 * 32);
    int32_t lab[N];
    for (int i = 0; i < N * 3 * 32 * 32; i++) img[i] = rng_uniform(4, 1, (uint64_t)i) * 4 - 2;
    for (int i = 0; i < N; i++) lab[i] = i % K;
    Tensor x = tensor_on(b, N, 3, 32, 32, DT_F32, img), y = tensor_on(b, N, 1, 1, 1, DT_I32, lab);
    Tensor loss = tensor_on(b, N, 1, 1, 1, DT_F32, NULL);
    Tensor pred = tensor_on(b, N, 1, 1, 1, DT_I32, NULL);
    Tensor prob = tensor_on(b, N, 1, 1, 1, DT_F32, NULL);
    Tensor dz = tensor_on(b, N, K, 1, 1, DT_F32, NULL);
    size_t total = 2 * (size_t)N * K;
    for (int i = 0; i < model_param_count(m); i++)
        total += 2 * tensor_numel(&model_param(m, i)->value);
    float *out = calloc(total, sizeof(float)), *at = out;
    const Tensor *logits;
    CHECK_OK(model_forward(m, &x, 1, 77, &logits));
    CHECK_OK(b->ops->download(b->ctx, logits, at));
    at += N * K;
    CHECK_OK(b->ops->softmax_xent(b->ctx, logits, &y, 0.0f, &loss, &pred, &prob, &dz));
    CHECK_OK(model_backward(m, &dz));
    for (int i = 0; i < model_param_count(m); i++) {
        Param *p = model_param(m, i);
        if (p->kind != PARAM_BUFFER) CHECK_OK(b->ops->download(b->ctx, &p->grad, at));
        at += tensor_numel(&p->value);
        CHECK_OK(b->ops->download(b->ctx, &p->value, at));   /* running stats moved */
        at += tensor_numel(&p->value);
    }
    CHECK_OK(model_forward(m, &x, 0, 0, &logits));
    CHECK_OK(b->ops->download(b->ctx, logits, at));
    Tensor *all[] = {&x, &y, &loss, &pred, &prob, &dz};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) b->ops->tensor_free(b->ctx, all[i]);
    free(img);
    model_destroy(m);
    *count = total;
    return out;
}

/* The cpu backend fuses each batchnorm with the relu after it, and a post-activation block's
 * batchnorm -> add -> relu tail into one op that also takes the next block's gradient part
 * (dy2). With fused ops taken out of its table it runs the layers one by one. All must agree
 * bit for bit (the same float operations), in a post-activation resnet with projection and
 * with identity (option A) shortcuts and in a pre-activation WRN with dropout. */
static void test_fusion(void) {
    Backend cpu;
    CHECK_OK(backend_cpu_create(2, &cpu));
    if (!cpu.ops) return;
    BackendOps no_tail = *cpu.ops, plain_ops = *cpu.ops;
    no_tail.batchnorm_add_relu_forward_train = plain_ops.batchnorm_add_relu_forward_train = NULL;
    no_tail.batchnorm_add_relu_forward_infer = plain_ops.batchnorm_add_relu_forward_infer = NULL;
    no_tail.batchnorm_add_relu_backward = plain_ops.batchnorm_add_relu_backward = NULL;
    plain_ops.batchnorm_relu_forward_train = NULL;
    plain_ops.batchnorm_relu_forward_infer = NULL;
    plain_ops.batchnorm_relu_backward = NULL;
    Backend variants[3] = {cpu, {&no_tail, cpu.ctx}, {&plain_ops, cpu.ctx}};
    const char *names[4] = {"resnet20 (1x1 shortcuts)", "resnet20 (option A)", "wrn-10-2",
                            "resnet18 (ImageNet layout)"};
    ModelConfig nets[4] = {family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_CONV1X1),
                           family(FAMILY_RESNET_CIFAR, 20, 1, SHORTCUT_IDENTITY_PAD),
                           family(FAMILY_WRN, 10, 2, SHORTCUT_CONV1X1),
                           family(FAMILY_RESNET, 18, 1, SHORTCUT_CONV1X1)};
    /* per net: batchnorm+relu pairs, batchnorm+add+relu tails, tails taking dy2.
     * resnet20: the stem's and each block's first batchnorm; each block's tail, and in all
     * but the last block the next block's first convolution hands its gradient part on as
     * dy2. With option A the padding layer sits between the batchnorm and the add in the two
     * blocks that change width, so those two stay unfused. WRN is pre-activation: no tails.
     * resnet18: the stem, 8 blocks; its stem's max pool sits between the stem and block 1. */
    const int want[4][3] = {{1 + 9, 9, 8}, {1 + 9, 7, 6}, {2 * 3 + 1, 0, 0}, {1 + 8, 8, 7}};
    for (int k = 0; k < 4; k++) {
        float *res[3] = {NULL, NULL, NULL};
        size_t n[3] = {0, 0, 0};
        int f[3][3];
        for (int v = 0; v < 3; v++) res[v] = step_results(&nets[k], &variants[v], &n[v], f[v]);
        printf("fusion: %s: %d batchnorm+relu, %d batchnorm+add+relu (%d with dy2)\n", names[k],
               f[0][0], f[0][1], f[0][2]);
        for (int j2 = 0; j2 < 3; j2++) CHECK_INT(f[0][j2], want[k][j2]);
        CHECK_INT(f[1][0], want[k][0]);
        CHECK_INT(f[1][1] + f[1][2] + f[2][0] + f[2][1] + f[2][2], 0);
        for (int v = 1; v < 3; v++)
            CHECK(res[0] && res[v] && n[0] == n[v] &&
                  memcmp(res[0], res[v], n[0] * sizeof(float)) == 0);
        for (int v = 0; v < 3; v++) free(res[v]);
    }
    backend_destroy(&cpu);
}

int main(void) {
    if (backend_reference_create(&g_be) != ST_OK) {
        fprintf(stderr, "reference backend: %s\n", status_message());
        return 1;
    }
    test_counts();
    test_names();
    test_init();
    test_errors();
    test_copy();
    test_fusion();
    if (g_be.ops->destroy)
        g_be.ops->destroy(g_be.ctx);
    return check_report("test_model");
}
