/* cmd_info.c — `shortcut info`: a torchinfo-like summary of a config's model. */
#include <stdio.h>
#include <string.h>

#include "augment.h"
#include "backend.h"
#include "cli.h"
#include "model.h"

static void usage(FILE *f) {
    fprintf(f, "usage: shortcut info [CONFIG.yaml] [--set key=value]...\n"
               "\nPrint the model a config builds: every layer with its output shape, parameters\n"
               "and multiply-accumulates per image, then the totals and the memory training\n"
               "needs at the config's batch size.\n");
}

static int classes_of(const Config *c) {
    if (c->model.num_classes > 0) return c->model.num_classes;
    return c->data.dataset == DATASET_CIFAR100 ? 100 : 10;
}

static void human(double v, char *buf, size_t n) {
    if (v >= 1e9) snprintf(buf, n, "%.2f G", v / 1e9);
    else if (v >= 1e6) snprintf(buf, n, "%.2f M", v / 1e6);
    else if (v >= 1e3) snprintf(buf, n, "%.2f k", v / 1e3);
    else snprintf(buf, n, "%.0f", v);
}

int cmd_info(int argc, char **argv) {
    SetList sets = {0};
    const char *path = NULL;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
        if (argv[i][0] == '-') return cli_usage_error("info", "unknown option '%s'", argv[i]);
        if (path) return cli_usage_error("info", "more than one config given");
        path = argv[i];
    }
    Config cfg;
    int rc = cli_load_config(path, &sets, &cfg);
    if (rc) return rc;
    Backend b;
    Status st = backend_create("reference", 1, &b, NULL);
    if (st != ST_OK) return cli_fail(st);
    Model *m;
    int side = augment_out_side(&cfg.data.augment);
    st = model_build(&cfg.model, classes_of(&cfg), side, &b, cfg.train.seed, &m);
    if (st != ST_OK) { backend_destroy(&b); return cli_fail(st); }

    const LayerInfo *rows;
    int n = model_layers(m, &rows);
    printf("%s: %s, input 3x%dx%d, %d classes\n", cfg.name[0] ? cfg.name : "config",
           config_family_name(cfg.model.family), side, side, classes_of(&cfg));
    printf("%-44s %-16s %-18s %14s %16s\n", "layer", "type", "output shape", "params", "MACs");
    for (int i = 0; i < 112; i++) putchar('-');
    putchar('\n');
    for (int i = 0; i < n; i++) {
        const LayerInfo *r = &rows[i];
        char shape[48], name[PARAM_NAME_LEN + 64];
        snprintf(shape, sizeof shape, "[%d, %d, %d]", r->out_c, r->out_h, r->out_w);
        snprintf(name, sizeof name, "%*s%s", 2 * r->depth, "", r->name);
        printf("%-44s %-16s %-18s %14lld %16lld\n", name, r->kind, shape, r->params, r->macs);
    }
    for (int i = 0; i < 112; i++) putchar('-');
    putchar('\n');
    long long params = model_num_trainable(m), macs = model_total_macs(m);
    char hp[32], hm[32];
    human((double)params, hp, sizeof hp);
    human((double)macs, hm, sizeof hm);
    printf("trainable parameters: %lld (%s), %.1f MB as float32\n", params, hp, params * 4.0 / 1e6);
    printf("multiply-accumulates per image (forward): %lld (%sMAC)\n", macs, hm);
    printf("training FLOPs per image (forward + backward, 6 x MACs): %.3g\n", 6.0 * (double)macs);
    long long per_image, fixed;
    model_training_bytes(m, &per_image, &fixed);
    const int batch = cfg.train.batch_size;
    printf("training memory at batch %d: %.1f MB = %d x %.2f MB of fp32 buffers per image + %.1f MB "
           "of weights, gradients and momentum\n",
           batch, ((double)per_image * batch + (double)fixed) / 1e6, batch, per_image / 1e6,
           fixed / 1e6);
    printf("  (16-bit activations on a GPU take about half the per-image part; a GPU also holds "
           "the training images, 3 KB each, and a backend's workspaces come on top; "
           "train.memory_limit_mb caps the tensors)\n");
    model_destroy(m);
    backend_destroy(&b);
    return 0;
}
