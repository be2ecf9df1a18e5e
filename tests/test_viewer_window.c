/* test_viewer_window.c — a real window (run under Xvfb by tests/run_xvfb.sh) on a live training
 * session, opened the way the workbench opens it (viewer_open on the Session): the batch being
 * trained arrives and is drawn, the view saves as a PNG that reads back with the samples in it;
 * closing the window leaves training running and opening it again works; with no display,
 * opening says so in one line and training goes on. Skips (77) without a display or a font. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "png_io.h"
#include "session.h"
#include "viewer.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void sleep_ms(int ms) {
    struct timespec ts = {0, ms * 1000000L};
    nanosleep(&ts, NULL);
}

static long step_of(Session *s) {
    Snapshot *snap = malloc(sizeof *snap);
    session_snapshot(s, snap);
    long step = snap->global_step;
    free(snap);
    return step;
}

/* Poll until `ready` holds for the viewer's data (or 60 s pass). */
static int poll_until(Viewer *v, int want_samples, int want_filters) {
    double t0 = now_s();
    while (now_s() - t0 < 60) {
        if (!viewer_poll(v)) return 0;
        const ViewData *d = viewer_data(v);
        if ((!want_samples || d->samples_id) && (!want_filters || d->filters_id)) return 1;
        sleep_ms(30);
    }
    return 0;
}

int main(void) {
    if (!viewer_display_available()) CHECK_SKIP("no display (tests/run_xvfb.sh runs this under Xvfb)");
    if (access("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", R_OK) != 0 && !getenv("SHORTCUT_FONT"))
        CHECK_SKIP("no DejaVuSans.ttf (apt-get install fonts-dejavu-core) and no SHORTCUT_FONT");

    SessionOptions o = {0};
    config_defaults(&o.config);
    snprintf(o.config.name, sizeof o.config.name, "window");
    o.config.data.shapes_train = 512;
    o.config.data.shapes_test = 64;
    o.config.data.augment.cutout_holes = 1;
    o.config.data.augment.cutout_size = 10;
    o.config.model.num_stages = 1;
    o.config.model.stem_width = 8;
    o.config.model.stages[0] = (StageConfig){1, 8, 1};
    o.config.train.batch_size = 32;
    o.config.train.epochs = 1000;
    o.config.train.threads = 1;
    snprintf(o.config.train.device, sizeof o.config.train.device, "cpu");
    Session *s;
    CHECK_OK(session_start(&o, &s));
    if (!s) return check_report("test_viewer_window");

    Viewer *v = NULL;
    Status st = viewer_open(s, &v);
    CHECK_OK(st);
    if (st != ST_OK) {
        session_destroy(s);
        return check_report("test_viewer_window");
    }
    CHECK(poll_until(v, 1, 0));
    const ViewData *d = viewer_data(v);
    CHECK_INT(d->sample_count, 32);
    CHECK(d->class_names != NULL);

    const char *png = "viewer-window-samples.png";
    CHECK_OK(viewer_save_png(v, png));
    uint8_t *rgb = NULL;
    int w = 0, h = 0;
    CHECK_OK(png_read_rgb(png, &rgb, &w, &h));
    CHECK(w >= 640 && h >= 400);
    if (rgb) {
        /* the first sample's pixels are in the picture where the viewer says it drew them */
        int r[4];
        CHECK(viewer_item_rect(v, 0, 0, r));
        uint8_t *want = malloc((size_t)d->sample_side * d->sample_side * 3);
        viewdata_sample_rgb(d, 0, want);
        int z = r[2] / d->sample_side, match = 0, total = 0;
        const uint8_t *mask = d->sample_masks;
        for (int y = 0; y < d->sample_side; y++)
            for (int x = 0; x < d->sample_side; x++) {
                if (mask[y * d->sample_side + x]) continue;   /* tinted by the overlay */
                const uint8_t *g = rgb + 3 * ((size_t)(r[1] + y * z + z / 2) * w + r[0] + x * z + z / 2);
                const uint8_t *e = want + 3 * (y * d->sample_side + x);
                total++;
                match += abs(g[0] - e[0]) <= 2 && abs(g[1] - e[1]) <= 2 && abs(g[2] - e[2]) <= 2;
            }
        CHECK(total > 0 && match == total);
        free(want);
        free(rgb);
    }

    /* the filters tab asks for filters; they arrive and save too */
    viewer_act(v, VA_TAB_FILTERS);
    CHECK(poll_until(v, 0, 1));
    CHECK_OK(viewer_save_png(v, "viewer-window-filters.png"));

    /* closing leaves training running; opening again works (the workbench's toggle) */
    CHECK_OK(viewer_toggle(&v, s));
    CHECK(v == NULL);
    CHECK_INT(viewer_poll_slot(&v), 0);
    long a = step_of(s);
    double t0 = now_s();
    while (step_of(s) <= a + 2 && now_s() - t0 < 30) sleep_ms(20);
    CHECK(step_of(s) > a + 2);
    CHECK_OK(viewer_toggle(&v, s));
    CHECK(v != NULL);
    CHECK_INT(viewer_poll_slot(&v), 1);
    if (v) {
        /* the last capture shows at once; the next one (within a quarter second) is newer */
        CHECK(poll_until(v, 1, 0));
        t0 = now_s();
        while (viewer_poll(v) && viewer_data(v)->sample_step <= a && now_s() - t0 < 30) sleep_ms(30);
        CHECK(viewer_data(v)->sample_step > a);
        viewer_close(v);
    }

    /* no display: one line, and training goes on */
    unsetenv("DISPLAY");
    unsetenv("WAYLAND_DISPLAY");
    unsetenv("SDL_VIDEODRIVER");
    CHECK(!viewer_display_available());
    v = NULL;
    st = viewer_open(s, &v);
    CHECK_INT(st, ST_ERR_DEVICE);
    CHECK(v == NULL);
    CHECK(strstr(status_message(), "no display") != NULL);
    CHECK(strchr(status_message(), '\n') == NULL);
    long b = step_of(s);
    t0 = now_s();
    while (step_of(s) <= b && now_s() - t0 < 30) sleep_ms(20);
    CHECK(step_of(s) > b);
    session_destroy(s);
    return check_report("test_viewer_window");
}
