/* test_cpushare.c — the thread count beside other programs' load (core/cpushare.h): the
 * decision rule window by window, and the /proc/stat sampler against this process's own
 * measured CPU time. */
#include <time.h>

#include "../core/cpushare.h"
#include "check.h"

/* Feed one window per value; returns the thread count after the last. */
static int run_windows(int threads, int max, const double *foreign, int count) {
    int calm = 0;
    for (int i = 0; i < count; i++) threads = cpushare_decide(threads, max, foreign[i], &calm);
    return threads;
}

static void test_decide(void) {
    int calm = 0;
    /* 2 cores, nobody else: all of them */
    CHECK_INT(cpushare_decide(2, 2, 0.0, &calm), 2);
    /* a program keeping a core busy: one thread fewer, at once */
    CHECK_INT(cpushare_decide(2, 2, 1.0, &calm), 1);
    CHECK_INT(cpushare_decide(2, 2, 0.7, &calm), 1);
    /* half a core or a bit more is shared: 2 threads are still faster there */
    CHECK_INT(cpushare_decide(2, 2, 0.5, &calm), 2);
    CHECK_INT(cpushare_decide(2, 2, 0.6, &calm), 2);
    /* never below one thread, never above the cores */
    CHECK_INT(cpushare_decide(2, 2, 5.0, &calm), 1);
    CHECK_INT(cpushare_decide(1, 1, 3.0, &calm), 1);
    calm = 5;
    CHECK_INT(cpushare_decide(2, 2, 0.0, &calm), 2);
    /* unknown load: no change */
    CHECK_INT(cpushare_decide(1, 2, -1.0, &calm), 1);
    /* wider machines: one thread fewer per busy core */
    calm = 0;
    CHECK_INT(cpushare_decide(8, 8, 3.2, &calm), 5);
    CHECK_INT(cpushare_decide(8, 8, 2.7, &calm), 5);

    /* back up only after two calm windows in a row */
    const double calm2[] = {0.0, 0.0};
    CHECK_INT(run_windows(1, 2, calm2, 1), 1);
    CHECK_INT(run_windows(1, 2, calm2, 2), 2);
    const double broken[] = {0.0, 0.9, 0.0};
    CHECK_INT(run_windows(1, 2, broken, 3), 1);
    /* between the two lines (0.5-0.65 of a core) the count holds either way */
    const double middle[] = {0.55, 0.55, 0.55, 0.6};
    CHECK_INT(run_windows(1, 2, middle, 4), 1);
    CHECK_INT(run_windows(2, 2, middle, 4), 2);
    const double leaving[] = {0.45, 0.4};
    CHECK_INT(run_windows(1, 2, leaving, 2), 2);
    /* 8 cores coming free step by step: rises to what the load allows */
    const double falling[] = {3.0, 3.0, 1.0, 1.0};
    CHECK_INT(run_windows(5, 8, falling, 2), 5);
    CHECK_INT(run_windows(5, 8, falling, 4), 7);
}

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_sampler(void) {
    CpuLoadSample a, b;
    if (!cpuload_sample(&a)) CHECK_SKIP("no /proc/stat here");
    CHECK(a.cpus >= 1);
    CHECK_INT(a.cpus, cpushare_cores());
    CHECK(a.busy >= 0 && a.busy <= a.total);
    /* burn 0.4 s of this process's CPU: it is our own time, counted in the busy ticks and
     * subtracted again, so the foreign figure stays within what the other cores could do */
    double t0 = cpu_now();
    volatile double x = 0;
    while (cpu_now() - t0 < 0.4) x += 1.0;
    CHECK(cpuload_sample(&b));
    CHECK(b.own_s - a.own_s >= 0.4);
    CHECK(b.busy > a.busy);
    CHECK(b.total > a.total);
    double f = cpuload_foreign_cores(&a, &b);
    CHECK(f >= 0.0);
    CHECK(f <= (double)a.cpus);
    double pct = cpuload_foreign_pct(&a, &b);
    CHECK(pct >= 0.0 && pct <= 100.0);
    /* no time between two identical samples: unknown */
    CHECK(cpuload_foreign_cores(&b, &b) < 0);
}

static void test_poll(void) {
    CpuShare c;
    cpushare_init(&c, 2);
    CHECK_INT(c.threads, 2);
    CHECK(c.foreign < 0);
    /* the first sample starts a window and decides nothing */
    CHECK_INT(cpushare_poll(&c, 100.0), 0);
    double first = c.last_s;
    CHECK(first == 100.0);
    /* within the period nothing is sampled */
    CHECK_INT(cpushare_poll(&c, 100.5), 0);
    CHECK(c.last_s == first);
    /* after a long gap (a pause) the window restarts without a decision */
    CHECK_INT(cpushare_poll(&c, 110.0), 0);
    CHECK(c.last_s == 110.0);
    CHECK(c.foreign < 0);
    /* a regular window samples again (its figure may be unknown: little real time passed) */
    cpushare_poll(&c, 111.2);
    CHECK(c.last_s == 111.2);
    CHECK(c.threads >= 1 && c.threads <= 2);
    cpushare_init(&c, 0);
    CHECK_INT(c.max_threads, 1);
}

int main(void) {
    test_decide();
    test_poll();
    test_sampler();
    return check_report("test_cpushare");
}
