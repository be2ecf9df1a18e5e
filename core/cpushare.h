/* cpushare.h — how much CPU other programs use, and how many training threads fit beside them.
 *
 * Why: training with as many threads as cores, beside a program that keeps one of those cores
 * busy, makes every parallel region wait for the thread that shares its core with that
 * program. On a 2-core machine resnet20 then trains at about 650 images/s with 2 threads and
 * about 860 with 1 (docs/BENCHMARKS.md, "Sharing the CPU"). So when train.threads is 0 ("all
 * cores") the worker samples the load about once a second and trains with one thread fewer
 * for each core that others keep busy, going back up when they leave. A program that uses
 * half a core or less is left to share: there 2 threads are still the faster choice.
 *
 * The load is read from /proc/stat for the CPUs this process may run on (its affinity mask),
 * minus this process's own CPU time. Without /proc (other systems) nothing adapts. */
#ifndef SHORTCUT_CPUSHARE_H
#define SHORTCUT_CPUSHARE_H

/* One reading: busy and total time of the allowed CPUs (clock ticks), this process's CPU
 * time (seconds). */
typedef struct CpuLoadSample {
    long long busy, total;
    double own_s;
    int cpus;   /* allowed CPUs found in /proc/stat */
} CpuLoadSample;

/* Read the counters. Returns 0 when /proc/stat cannot be read. */
int cpuload_sample(CpuLoadSample *s);
/* Cores' worth of CPU time (0 = none, 1.0 = one core) that other processes used between two
 * samples; -1 when unknown (no time passed, or a sample failed). */
double cpuload_foreign_cores(const CpuLoadSample *a, const CpuLoadSample *b);
/* The same as a share of all the allowed CPUs, in percent (0 when unknown). */
double cpuload_foreign_pct(const CpuLoadSample *a, const CpuLoadSample *b);

typedef struct CpuShare {
    int max_threads;    /* all allowed cores */
    int threads;        /* what training should use now */
    int calm;           /* samples in a row that would allow more threads */
    double foreign;     /* cores others used in the last window, -1 before the first */
    double last_s;      /* time of `last`, 0 before the first sample */
    CpuLoadSample last;
} CpuShare;

#define CPUSHARE_PERIOD_S 1.0   /* a decision window */

/* Start with all `max_threads`. */
void cpushare_init(CpuShare *c, int max_threads);
/* The number of allowed cores (the affinity mask), at least 1. */
int cpushare_cores(void);
/* Call between steps with a monotonic time in seconds. Samples at most once per period and
 * returns 1 when c->threads changed. A gap of over three periods (a pause) starts a new
 * window without deciding. */
int cpushare_poll(CpuShare *c, double now_s);
/* The decision alone, for one window: the thread count to use next given the current one and
 * the cores others used. `calm` counts windows that would allow more threads; a rise needs two
 * in a row, a fall happens at once. A core counts as taken from 0.65 of it going down and 0.5
 * going up, so a load near the line does not flip the count every second. */
int cpushare_decide(int threads, int max_threads, double foreign_cores, int *calm);

#endif
