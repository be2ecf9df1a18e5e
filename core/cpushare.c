/* cpushare.c — the CPU load of other programs and the thread count that fits beside it. */
/* sched_getaffinity and CPU_COUNT need _GNU_SOURCE, which the build defines for every file. */
#include "cpushare.h"

#include <math.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int cpushare_cores(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (int)n : 1;
    }
    int n = CPU_COUNT(&set);
    return n > 0 ? n : 1;
}

int cpuload_sample(CpuLoadSample *s) {
    memset(s, 0, sizeof *s);
    cpu_set_t set;
    int have_mask = sched_getaffinity(0, sizeof set, &set) == 0;
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        int cpu;
        long long v[8] = {0};
        /* "cpuN user nice system idle iowait irq softirq steal ..."; the "cpu " total line has
         * no number and is skipped. Steal (the hypervisor ran someone else) counts as busy. */
        if (sscanf(line, "cpu%d %lld %lld %lld %lld %lld %lld %lld %lld", &cpu, &v[0], &v[1],
                   &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) < 5)
            continue;
        if (have_mask && (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &set))) continue;
        long long total = 0;
        for (int i = 0; i < 8; i++) total += v[i];
        s->total += total;
        s->busy += total - v[3] - v[4];
        s->cpus++;
    }
    fclose(f);
    struct timespec ts;
    if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) != 0) return 0;
    s->own_s = (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
    return s->cpus > 0;
}

double cpuload_foreign_cores(const CpuLoadSample *a, const CpuLoadSample *b) {
    long hz = sysconf(_SC_CLK_TCK);
    long long total = b->total - a->total;
    if (hz <= 0 || total <= 0 || a->cpus <= 0 || a->cpus != b->cpus) return -1;
    double wall_s = (double)total / (double)a->cpus / (double)hz;
    double foreign_s = (double)(b->busy - a->busy) / (double)hz - (b->own_s - a->own_s);
    /* The tick-sampled counters and the exact own time disagree by a tick or two. */
    return foreign_s > 0 ? foreign_s / wall_s : 0.0;
}

double cpuload_foreign_pct(const CpuLoadSample *a, const CpuLoadSample *b) {
    double cores = cpuload_foreign_cores(a, b);
    return cores > 0 ? 100.0 * cores / (double)a->cpus : 0.0;
}

void cpushare_init(CpuShare *c, int max_threads) {
    memset(c, 0, sizeof *c);
    c->max_threads = max_threads > 0 ? max_threads : 1;
    c->threads = c->max_threads;
    c->foreign = -1;
}

int cpushare_decide(int threads, int max_threads, double foreign_cores, int *calm) {
    if (foreign_cores < 0) return threads;
    int down = max_threads - (int)floor(foreign_cores + 0.35);
    int up = max_threads - (int)floor(foreign_cores + 0.5);
    if (down < 1) down = 1;
    if (up < 1) up = 1;
    if (down < threads) {
        *calm = 0;
        return down;
    }
    if (up > threads) {
        if (++*calm >= 2) {
            *calm = 0;
            return up;
        }
        return threads;
    }
    *calm = 0;
    return threads;
}

int cpushare_poll(CpuShare *c, double now_s) {
    if (c->last_s > 0 && now_s - c->last_s < CPUSHARE_PERIOD_S) return 0;
    CpuLoadSample s;
    if (!cpuload_sample(&s)) return 0;
    int stale = c->last_s <= 0 || now_s - c->last_s > 3 * CPUSHARE_PERIOD_S;
    CpuLoadSample prev = c->last;
    c->last = s;
    c->last_s = now_s;
    if (stale) return 0;
    c->foreign = cpuload_foreign_cores(&prev, &s);
    int next = cpushare_decide(c->threads, c->max_threads, c->foreign, &c->calm);
    if (next == c->threads) return 0;
    c->threads = next;
    return 1;
}
