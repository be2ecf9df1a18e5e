/* cmd_eval.c — `shortcut eval`: test loss and accuracy of a trained run, per-class accuracy,
 * the confusion matrix, and optionally every prediction as CSV. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "trainer.h"

static void usage(FILE *f) {
    fprintf(f, "usage: shortcut eval RUN_DIR [--predictions FILE.csv] [--set key=value]...\n"
               "\nEvaluate RUN_DIR/model.safetensors on the test set of the run's config.\n"
               "  --predictions FILE  write index,label,predicted,probability per test image\n"
               "  --set key=value     e.g. --set data.root=/path/to/data\n");
}

static void print_confusion(const EvalResult *r, const Dataset *d) {
    int k = r->num_classes;
    printf("\nper-class accuracy:\n");
    for (int c = 0; c < k; c++) {
        long total = 0;
        for (int p = 0; p < k; p++) total += r->confusion[(size_t)c * k + p];
        const char *name = d->class_names ? d->class_names[c] : "";
        if (total) printf("  %3d %-16s %6.2f%%  (%ld images)\n", c, name,
                          100.0 * r->confusion[(size_t)c * k + c] / total, total);
        else printf("  %3d %-16s      -   (no images)\n", c, name);
    }
    if (k > 20) {
        printf("\n(confusion matrix omitted for %d classes: use --predictions)\n", k);
        return;
    }
    printf("\nconfusion matrix (rows: true class, columns: predicted):\n      ");
    for (int p = 0; p < k; p++) printf("%6d", p);
    printf("\n");
    for (int c = 0; c < k; c++) {
        printf("  %3d ", c);
        for (int p = 0; p < k; p++) printf("%6ld", r->confusion[(size_t)c * k + p]);
        printf("\n");
    }
}

static int write_predictions(const char *path, const EvalResult *r, const Dataset *d) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "shortcut: %s: cannot write predictions: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f, "index,label,predicted,probability\n");
    for (int i = 0; i < r->count; i++)
        fprintf(f, "%d,%d,%d,%.6f\n", d->source_index ? d->source_index[i] : i, d->labels[i],
                r->predicted[i], r->probability[i]);
    if (fclose(f) != 0) {
        fprintf(stderr, "shortcut: %s: write failed: %s\n", path, strerror(errno));
        return 1;
    }
    printf("\npredictions written to %s\n", path);
    return 0;
}

int cmd_eval(int argc, char **argv) {
    SetList sets = {0};
    const char *run = NULL, *preds = NULL;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { usage(stdout); return 0; }
        if (!strcmp(a, "--predictions")) {
            if (++i >= argc) return cli_usage_error("eval", "--predictions needs a file name");
            preds = argv[i];
        } else if (a[0] == '-') {
            return cli_usage_error("eval", "unknown option '%s'", a);
        } else if (!run) {
            run = a;
        } else {
            return cli_usage_error("eval", "more than one run directory given");
        }
    }
    if (!run) return cli_usage_error("eval", "which run? e.g. shortcut eval runs/quick");
    Trainer *t;
    Status st = trainer_open_for_eval(run, sets.items, sets.count, &t);
    if (st != ST_OK) return cli_fail(st);
    EvalResult r;
    st = trainer_evaluate(t, &t->data.test, &r);
    if (st != ST_OK) { trainer_destroy(t); return cli_fail(st); }
    printf("%s: %s\n", run, t->data.test.description);
    printf("test loss %.4f, accuracy %.2f%% (%d images)\n", r.loss, 100.0 * r.accuracy, r.count);
    print_confusion(&r, &t->data.test);
    int rc = preds ? write_predictions(preds, &r, &t->data.test) : 0;
    eval_result_free(&r);
    trainer_destroy(t);
    return rc;
}
