/* cmd_view.c — the viewer from the command line.
 *
 *   shortcut view RUN_DIR      open the viewer on a finished or stopped run without training:
 *                              a batch of augmented samples recomputed from the run's config
 *                              and seed (the first batch of its last epoch), the checkpoint
 *                              evaluated on the test set (misclassified + confusion matrix),
 *                              and the filters of the checkpoint.
 *   shortcut --viewer [CONFIG] train headless (like `shortcut train`) with the viewer open on
 *                              the live run; closing the window leaves training running.
 *
 * Both take --png DIR: write every view as DIR/view-<name>.png, drawn offscreen (no display
 * needed); --viewer does it once training has finished. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "checkpoint.h"
#include "cli.h"
#include "fileio.h"
#include "session.h"
#include "trainer.h"
#include "viewer.h"

#define PNG_W 1100
#define PNG_H 720

int cmd_view(int argc, char **argv);
int cmd_view_train(int argc, char **argv);

static volatile sig_atomic_t g_interrupts;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupts++;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void view_usage(FILE *f) {
    fprintf(f,
            "usage: shortcut view RUN_DIR [--png DIR] [--set key=value]...\n"
            "\n"
            "Open the viewer on a run directory without training: augmented samples recomputed\n"
            "from the run's config and seed, the checkpoint's mistakes and confusion matrix on\n"
            "the test set, and its first-layer filters.\n"
            "  --png DIR          write each view to DIR/view-<name>.png instead (no display needed)\n"
            "  --set key=value    e.g. --set data.root=/path/to/data\n"
            "Keys in the window: 1-4 views, s save PNG, q close; see the bottom line.\n");
}

static void viewer_train_usage(FILE *f) {
    fprintf(f,
            "usage: shortcut --viewer [CONFIG.yaml] [--set key=value]... [--out DIR] [--png DIR]\n"
            "\n"
            "Train headless (like shortcut train) with the SDL viewer open on the live run:\n"
            "augmented samples, misclassified test images, first-layer filters, confusion.\n"
            "Closing the window leaves training running; Ctrl-C stops and saves.\n"
            "  --out DIR   run directory (default runs/<config name>, numbered if taken)\n"
            "  --png DIR   when training has finished, write every view to DIR/view-<name>.png\n");
}

/* Draw every tab offscreen and write DIR/view-<name>.png. */
static int save_all_views(const ViewData *vd, const char *dir) {
    static const char *const names[VIEWER_TABS] = {"samples", "misclassified", "filters",
                                                   "confusion"};
    Status st = fileio_mkdir_p(dir);
    if (st != ST_OK) return cli_fail(st);
    Viewer *v;
    st = viewer_create_offscreen(vd, PNG_W, PNG_H, &v);
    if (st != ST_OK) return cli_fail(st);
    static const ViewerAction tabs[VIEWER_TABS] = {VA_TAB_SAMPLES, VA_TAB_MISTAKES,
                                                   VA_TAB_FILTERS, VA_TAB_CONFUSION};
    for (int i = 0; i < VIEWER_TABS && st == ST_OK; i++) {
        char path[CONFIG_PATH_LEN + 64];
        snprintf(path, sizeof path, "%s/view-%s.png", dir, names[i]);
        viewer_act(v, tabs[i]);
        st = viewer_save_png(v, path);
        if (st == ST_OK) printf("wrote %s\n", path);
    }
    viewer_close(v);
    return st == ST_OK ? 0 : cli_fail(st);
}

/* ---- shortcut view RUN_DIR ---- */

static Status stem_filters(Trainer *t, ViewData *vd, long step) {
    const Param *p = model_stem_weight(t->model);
    if (!p) return ST_OK;
    size_t n = tensor_numel(&p->value);
    float *w = malloc(sizeof(float) * (n ? n : 1));
    if (!w) return status_fail(ST_ERR_OOM, "out of memory for the filters");
    Status st = t->backend.ops->download(t->backend.ctx, &p->value, w);
    if (st == ST_OK) st = viewdata_set_filters(vd, w, p->value.n, p->value.c, p->value.h, step);
    free(w);
    return st;
}

/* The first batch of the epoch the checkpoint finished last, exactly as training drew it. */
static Status sample_batch(Trainer *t, int epoch, long step, ViewData *vd) {
    LoaderOptions lo = {0};
    lo.data = &t->data.train;
    lo.batch_size = t->cfg.train.batch_size < VIEW_MAX_SAMPLES ? t->cfg.train.batch_size
                                                               : VIEW_MAX_SAMPLES;
    lo.train = 1;
    lo.seed = t->cfg.train.seed;
    lo.augment = t->cfg.data.augment;
    memcpy(lo.mean, t->cfg.data.mean, sizeof lo.mean);
    memcpy(lo.std, t->cfg.data.std, sizeof lo.std);
    lo.prefetch = 0;
    Loader *l;
    TRY(loader_create(&lo, &l));
    loader_seek(l, epoch, 0);
    const Batch *b;
    Status st = loader_next(l, &b);
    if (st == ST_OK)
        st = viewdata_capture_batch(vd, b, &t->data.train, &t->cfg.data.augment,
                                    t->cfg.data.mean, t->cfg.data.std, step);
    loader_destroy(l);
    return st;
}

static Status load_run_view(const char *run, const SetList *sets, ViewData *vd) {
    char path[CONFIG_PATH_LEN + 32];
    snprintf(path, sizeof path, "%s/model.safetensors", run);
    long long epoch = 0, step = 0;
    SafetensorsMeta meta;
    safetensors_meta_init(&meta);
    Status st = safetensors_read_metadata(path, &meta);
    /* Older or exported checkpoints may lack the position; it only labels the views. */
    if (st == ST_OK && safetensors_meta_get(&meta, "epoch"))
        st = checkpoint_meta_long(&meta, path, "epoch", &epoch);
    if (st == ST_OK && safetensors_meta_get(&meta, "global_step"))
        st = checkpoint_meta_long(&meta, path, "global_step", &step);
    safetensors_meta_free(&meta);
    TRY(st);

    Trainer *t;
    TRY(trainer_open_for_eval(run, sets->items, sets->count, &t));
    snprintf(vd->name, sizeof vd->name, "%s", t->cfg.name);
    vd->epoch = (int)epoch;
    vd->epochs = t->cfg.train.epochs;
    vd->global_step = (long)step;
    viewdata_set_classes(vd, t->data.test.count ? &t->data.test : &t->data.train);
    /* batch 0 of the last epoch trained: the step that used it is the first of that epoch */
    int last = epoch > 0 ? (int)epoch - 1 : 0;
    st = sample_batch(t, last, (long)last * trainer_steps_per_epoch(t) + 1, vd);
    EvalResult r = {0};
    if (st == ST_OK && t->data.test.count > 0) {
        st = trainer_evaluate(t, &t->data.test, &r);
        if (st == ST_OK)
            st = viewdata_capture_eval(vd, r.num_classes, r.confusion, r.predicted, r.probability,
                                       &t->data.test, r.accuracy, r.loss, (long)step, (int)epoch);
        if (st == ST_OK) vd->test_acc = r.accuracy;
    }
    eval_result_free(&r);
    if (st == ST_OK) st = stem_filters(t, vd, (long)step);
    if (st == ST_OK) st = viewdata_film_push(vd, (int)epoch);
    trainer_destroy(t);
    return st;
}

int cmd_view(int argc, char **argv) {
    SetList sets = {0};
    const char *run = NULL, *png_dir = NULL;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { view_usage(stdout); return 0; }
        if (!strcmp(a, "--png")) {
            if (++i >= argc) return cli_usage_error("view", "--png needs a directory");
            png_dir = argv[i];
        } else if (a[0] == '-') {
            return cli_usage_error("view", "unknown option '%s'", a);
        } else if (!run) {
            run = a;
        } else {
            return cli_usage_error("view", "more than one run directory given");
        }
    }
    if (!run) return cli_usage_error("view", "which run? e.g. shortcut view runs/cpu-demo");
    if (!png_dir && !viewer_display_available()) {
        fprintf(stderr, "shortcut: viewer: no display (neither DISPLAY nor WAYLAND_DISPLAY is "
                        "set); use --png DIR to write the views as pictures\n");
        return 1;
    }
    ViewData *vd = malloc(sizeof *vd);
    if (!vd) { fprintf(stderr, "shortcut: out of memory\n"); return 1; }
    viewdata_init(vd);
    Status st = load_run_view(run, &sets, vd);
    int rc = 0;
    if (st != ST_OK) {
        rc = cli_fail(st);
    } else if (png_dir) {
        rc = save_all_views(vd, png_dir);
    } else {
        Viewer *v;
        st = viewer_open_data(vd, &v);
        if (st != ST_OK) {
            rc = cli_fail(st);
        } else {
            while (viewer_poll(v)) sleep_ms(30);
            viewer_close(v);
        }
    }
    viewdata_free(vd);
    free(vd);
    return rc;
}

/* ---- shortcut --viewer [CONFIG]: train with the window open ---- */

/* Once training has finished: everything the views show, then the pictures. */
static int save_final_views(Session *s, const char *dir) {
    ViewExchange *vx = session_view_exchange(s);
    ViewData *vd = malloc(sizeof *vd);
    if (!vd) { fprintf(stderr, "shortcut: out of memory\n"); return 1; }
    viewdata_init(vd);
    for (int tries = 0; tries < 200; tries++) {
        view_exchange_request(vx, VIEW_WANT_ALL);
        if (view_exchange_copy(vx, vd) < 0) break;
        if (vd->samples_id && vd->eval_id && vd->filters_id && vd->eval_step == vd->global_step)
            break;
        sleep_ms(50);
    }
    int rc = save_all_views(vd, dir);
    viewdata_free(vd);
    free(vd);
    return rc;
}

int cmd_view_train(int argc, char **argv) {
    SetList sets = {0};
    const char *config_path = NULL, *out_dir = NULL, *png_dir = NULL;
    for (int i = 0; i < argc; i++) {
        int r = cli_take_set(argc, argv, &i, &sets);
        if (r < 0) return 2;
        if (r > 0) continue;
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) { viewer_train_usage(stdout); return 0; }
        if (!strcmp(a, "--out") || !strcmp(a, "-o")) {
            if (++i >= argc) return cli_usage_error("--viewer", "--out needs a directory");
            out_dir = argv[i];
        } else if (!strcmp(a, "--png")) {
            if (++i >= argc) return cli_usage_error("--viewer", "--png needs a directory");
            png_dir = argv[i];
        } else if (a[0] == '-') {
            return cli_usage_error("--viewer", "unknown option '%s'", a);
        } else if (!config_path) {
            config_path = a;
        } else {
            return cli_usage_error("--viewer", "more than one config given");
        }
    }
    SessionOptions opt;
    char run_dir[CONFIG_PATH_LEN];
    int rc = cli_session_options("--viewer", config_path, out_dir, NULL, &sets, &opt, run_dir);
    if (rc) return rc;
    opt.exit_when_done = 0;   /* a finished run still answers the viewer */

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) != 0 || sigaction(SIGTERM, &sa, NULL) != 0)
        fprintf(stderr, "shortcut: cannot catch Ctrl-C (%s); it will end without saving\n",
                strerror(errno));

    Session *s;
    Status st = session_start(&opt, &s);
    if (st != ST_OK) return cli_fail(st);
    Viewer *v = NULL;
    st = viewer_open(s, &v);
    if (st != ST_OK) fprintf(stderr, "shortcut: %s\n", status_message());
    Snapshot *snap = malloc(sizeof *snap);
    if (!snap) {
        viewer_close(v);
        session_destroy(s);
        fprintf(stderr, "shortcut: out of memory\n");
        return 1;
    }
    uint64_t last_log = 0;
    int said_done = 0;
    rc = 0;
    for (;;) {
        if (v && !viewer_poll(v)) {
            viewer_close(v);
            v = NULL;
            printf("viewer closed; training goes on (Ctrl-C stops and saves)\n");
        }
        session_snapshot(s, snap);
        for (int i = 0; i < snap->log_len; i++) {
            const LogLine *l = &snap->log[i];
            if (l->seq <= last_log) continue;
            last_log = l->seq;
            fprintf(l->is_error ? stderr : stdout, "%s%s\n", l->is_error ? "shortcut: " : "",
                    l->text);
        }
        fflush(stdout);
        int done = snap->state == RUN_FINISHED || snap->state == RUN_ERROR ||
                   snap->state == RUN_STOPPED;
        if (g_interrupts || session_finished(s)) break;
        if (done && !said_done) {
            said_done = 1;
            if (snap->state == RUN_ERROR) rc = status_exit_code(snap->last_status ? snap->last_status : ST_ERR_IO);
            if (png_dir && save_final_views(s, png_dir) != 0) rc = 1;
            if (v) printf("training has ended; close the viewer window to exit\n");
        }
        if (done && !v) break;
        sleep_ms(30);
    }
    viewer_close(v);
    session_destroy(s);
    free(snap);
    printf("run in %s\n", run_dir);
    return g_interrupts ? 130 : rc;
}
