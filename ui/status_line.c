/* status_line.c — the status line (see status_line.h). */
#include "status_line.h"

#include <stdio.h>
#include <string.h>

#include "grid.h"

void format_duration(double s, char *buf, size_t len) {
    if (s < 0) { snprintf(buf, len, "--:--"); return; }
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, len, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else snprintf(buf, len, "%02ld:%02ld", t / 60, t % 60);
}

void status_device_short(const char *line, char *buf, size_t len) {
    char backend[32] = "";
    const char *colon = strchr(line, ':');
    size_t n = colon ? (size_t)(colon - line) : strlen(line);
    if (n >= sizeof backend) n = sizeof backend - 1;
    memcpy(backend, line, n);
    backend[n] = 0;
    /* The precision is the last comma-separated part outside parentheses ("..., OpenBLAS
     * (Haswell), fp32 (precision bf16 needs ...)" gives "fp32"). */
    char prec[32] = "";
    const char *start = NULL;
    int depth = 0;
    for (const char *p = line; *p; p++) {
        if (*p == '(') depth++;
        else if (*p == ')' && depth > 0) depth--;
        else if (*p == ',' && depth == 0) start = p + 1;
    }
    if (start) {
        while (*start == ' ') start++;
        size_t m = 0;
        while (start[m] && start[m] != '(' && m + 1 < sizeof prec) m++;
        while (m > 0 && start[m - 1] == ' ') m--;
        memcpy(prec, start, m);
        prec[m] = 0;
    }
    if (!colon || !prec[0] || !strcmp(prec, backend)) snprintf(buf, len, "%s", backend);
    else snprintf(buf, len, "%s %s", backend, prec);
}

const char *status_state_word(const Snapshot *s, int stopping) {
    if (stopping && s->state != RUN_STOPPED && s->state != RUN_ERROR) return "STOPPING";
    if (s->lrf_state == LRF_RUNNING) return "LR-FIND";
    switch (s->state) {
    case RUN_STARTING: return "STARTING";
    case RUN_RUNNING: return "RUNNING";
    case RUN_PAUSED: return "PAUSED";
    case RUN_FINISHED: return "FINISHED";
    case RUN_STOPPED: return s->last_status != ST_OK ? "FAILED" : "STOPPED";
    case RUN_ERROR: return "ERROR";
    }
    return "?";
}

typedef struct Part {
    char text[SESSION_LOG_LEN + 16];
    int priority;   /* lower is more important */
} Part;

void status_line_format(const Snapshot *s, int width, char *buf, size_t len) {
    Part parts[8];
    int n = 0;
    char a[32], b[32];
    if ((s->state == RUN_ERROR || s->state == RUN_STOPPED) && s->last_error[0]) {
        snprintf(parts[n].text, sizeof parts[n].text, "%s", s->last_error);
        parts[n++].priority = 0;
    }
    status_device_short(s->device, a, sizeof a);
    if (a[0]) {
        snprintf(parts[n].text, sizeof parts[n].text, "%s", a);
        parts[n++].priority = 3;
    }
    int shown_epoch = s->epoch < s->epochs ? s->epoch + 1 : s->epochs;
    snprintf(parts[n].text, sizeof parts[n].text, "epoch %d/%d step %ld", shown_epoch, s->epochs,
             s->global_step);
    parts[n++].priority = 1;
    if (s->images_per_s > 0) {
        snprintf(parts[n].text, sizeof parts[n].text, "%.0f img/s", s->images_per_s);
        parts[n++].priority = 4;
    }
    format_duration(s->eta_s, a, sizeof a);
    snprintf(parts[n].text, sizeof parts[n].text, "ETA %s", a);
    parts[n++].priority = 2;
    format_duration(s->elapsed_s, b, sizeof b);
    snprintf(parts[n].text, sizeof parts[n].text, "elapsed %s", b);
    parts[n++].priority = 5;
    if (s->checkpoint_age_s >= 0) format_duration(s->checkpoint_age_s, a, sizeof a);
    snprintf(parts[n].text, sizeof parts[n].text, "ckpt %s", s->checkpoint_age_s >= 0 ? a : "none");
    parts[n++].priority = 6;

    /* Drop the least important part until the rest fits. */
    int keep[8];
    for (int i = 0; i < n; i++) keep[i] = 1;
    for (;;) {
        int total = 0, worst = -1;
        for (int i = 0; i < n; i++) {
            if (!keep[i]) continue;
            total += utf8_width(parts[i].text) + (total ? 3 : 0);
            if (worst < 0 || parts[i].priority > parts[worst].priority) worst = i;
        }
        if (total <= width || worst < 0 || parts[worst].priority == 0) break;
        keep[worst] = 0;
    }
    size_t used = 0;
    if (len) buf[0] = 0;
    for (int i = 0; i < n; i++) {
        if (!keep[i]) continue;
        int w = snprintf(buf + used, used < len ? len - used : 0, "%s%s", used ? " | " : "",
                         parts[i].text);
        if (w > 0) used += (size_t)w;
        if (used >= len) break;
    }
    /* The error text may still be too long: the caller clips at the screen edge. */
}
