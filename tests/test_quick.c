/* test_quick.c — the default config (= configs/quick.yaml, what `shortcut` starts) learns the
 * built-in shapes data to >= 90% test accuracy in its 4 epochs, and its run directory holds
 * every file a user expects (config.yaml, metrics.csv with one row per epoch, checkpoints). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "config.h"
#include "trainer.h"

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static void test_quick_learns_and_writes_run_dir(const char *tmp) {
    Config c;
    config_defaults(&c);
    c.train.threads = 2;
    snprintf(c.train.device, sizeof c.train.device, "cpu");
    char dir[512];
    snprintf(dir, sizeof dir, "%s/learn", tmp);
    Trainer *t;
    CHECK_OK(trainer_create(&c, dir, &t));
    EvalResult before;
    CHECK_OK(trainer_evaluate(t, &t->data.test, &before));
    while (!trainer_done(t)) {
        StepResult r;
        if (trainer_step(t, &r) != ST_OK) { CHECK_OK(ST_ERR_ARG); break; }
        if (r.epoch_finished) CHECK_OK(trainer_end_epoch(t, trainer_done(t), trainer_done(t)));
    }
    EvalResult after;
    CHECK_OK(trainer_evaluate(t, &t->data.test, &after));
    printf("quick on shapes: test accuracy %.3f -> %.3f after %d epochs\n", before.accuracy,
           after.accuracy, c.train.epochs);
    CHECK(before.accuracy < 0.3);
    CHECK(after.accuracy >= 0.90);
    long sum = 0;
    for (int i = 0; i < after.num_classes * after.num_classes; i++) sum += after.confusion[i];
    CHECK_INT(sum, after.count);
    eval_result_free(&before);
    eval_result_free(&after);
    trainer_destroy(t);

    const char *files[] = {"config.yaml", "metrics.csv", "model.safetensors", "state.safetensors"};
    for (int i = 0; i < 4; i++) {
        char path[600];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        CHECK(stat(path, &sb) == 0 && sb.st_size > 0);
    }
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.csv", dir);
    char *csv = read_file(path);
    CHECK(csv != NULL);
    if (csv) {
        int lines = 0;
        for (char *p = csv; *p; p++) lines += *p == '\n';
        CHECK_INT(lines, 1 + c.train.epochs);   /* header + one row per epoch */
        CHECK(strncmp(csv, "epoch,step,lr,train_loss", 24) == 0);
        free(csv);
    }
}


int main(void) {
    char tmp[] = "/tmp/shortcut_test_quick_XXXXXX";
    if (!mkdtemp(tmp)) { perror("mkdtemp"); return 1; }
    test_quick_learns_and_writes_run_dir(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", tmp);
    return check_report("test_quick");
}
