/* session.h — a training run on a worker thread, steered by commands, observed by snapshots.
 *
 * The one object shared between threads. The worker owns the Trainer; other threads never touch
 * it. They post Commands (applied at the next step boundary, in order) and copy out Snapshots
 * (state, position, metrics, histories, log). One mutex guards the queue and the snapshot, and
 * nobody computes while holding it; a condition variable wakes the worker when a command
 * arrives and wakes observers when a new snapshot is published (seq increases). */
#ifndef SHORTCUT_SESSION_H
#define SHORTCUT_SESSION_H

#include <stdint.h>

#include "config.h"
#include "status.h"

#define SESSION_HISTORY 2048   /* points kept per step-history; older ones are thinned */
#define SESSION_EPOCHS 1024    /* per-epoch points kept */
#define SESSION_LOG 64         /* log lines kept */
#define SESSION_LOG_LEN 320    /* chars a log line keeps: an error with what, where, what to do */
#define SESSION_MARKS 64       /* edit markers kept (oldest dropped) */
#define SESSION_LRF_MAX 1000   /* LR-finder points kept */

typedef enum RunState {
    RUN_STARTING = 0,   /* building model, loading data */
    RUN_RUNNING,
    RUN_PAUSED,
    RUN_FINISHED,       /* reached the last epoch; accepts commands (extend epochs, eval, save) */
    RUN_STOPPED,        /* stopped on request; the worker has exited */
    RUN_ERROR,          /* failed; last_error says why; the worker waits for commands */
} RunState;

typedef enum CommandKind {
    CMD_SET = 0,        /* text: one or more "key=value" lines, applied together */
    CMD_PAUSE,
    CMD_RESUME,
    CMD_STEP,           /* one step, then paused */
    CMD_SAVE,
    CMD_EVAL,
    CMD_STOP,           /* save (when a run dir is set) and end the worker */
    CMD_REBUILD,        /* text: model.* "key=value" lines; rebuilds the model between steps,
                           carrying weights whose name and shape match (see trainer_rebuild) */
    CMD_LR_FIND,        /* text: "" or "start=1e-7 end=10 steps=100 diverge=4" (any subset);
                           runs the LR finder on a copy; the run is unchanged afterwards */
    CMD_CANCEL,         /* cancel a running LR finder (seen between its steps) */
    CMD_RESTART,        /* text: a new run directory ("" only when the run has none); starts
                           over from fresh weights with the current (edited) config; the old
                           run is saved first */
} CommandKind;

typedef enum LrFindState {
    LRF_NONE = 0,
    LRF_RUNNING,
    LRF_DONE,
    LRF_CANCELLED,
    LRF_FAILED,
} LrFindState;

/* A change to the run, drawn on the curves at the step it took effect. */
typedef struct Marker {
    long step;
    char label[40];     /* "lr=0.02", "schedule", "rebuild", ... */
} Marker;

typedef struct LogLine {
    uint64_t seq;       /* increases by one per line over the whole session */
    double time_s;      /* seconds since the session started */
    long step;          /* global step when it happened */
    int is_error;
    char text[SESSION_LOG_LEN];
} LogLine;

typedef struct Snapshot {
    uint64_t seq;
    RunState state;
    char device[256];
    char run_dir[CONFIG_PATH_LEN];
    Config config;              /* current config, edits included */
    int epoch, epochs;          /* epochs completed, planned */
    long batch_in_epoch, steps_per_epoch, global_step;
    double lr;
    double loss, accuracy;      /* last step */
    double loss_smooth;         /* exponential moving average (bias-corrected) */
    double images_per_s;
    double elapsed_s, eta_s;    /* eta: whole run, -1 when unknown */
    double checkpoint_age_s;    /* -1: none yet */
    double test_acc, test_loss, best_test_acc, val_acc, val_loss;   /* -1: not measured */
    long long num_params;
    /* step histories (thinned by 2 when full; point i is step hist_step0 + i * hist_stride) */
    int hist_len;
    long hist_stride;
    long hist_step0;
    float hist_loss[SESSION_HISTORY];
    float hist_acc[SESSION_HISTORY];
    float hist_lr[SESSION_HISTORY];
    float hist_ips[SESSION_HISTORY];
    /* per-epoch histories */
    int ep_len;
    float ep_train_loss[SESSION_EPOCHS], ep_train_acc[SESSION_EPOCHS];
    float ep_test_acc[SESSION_EPOCHS], ep_test_loss[SESSION_EPOCHS];
    /* the last lines of the run log */
    int log_len;
    LogLine log[SESSION_LOG];
    char last_error[SESSION_LOG_LEN];
    Status last_status;
    int run_id;                 /* increases on every restart (fresh weights, new run dir) */
    /* edits, rebuilds and restarts, oldest first */
    int mark_len;
    Marker marks[SESSION_MARKS];
    /* the last architecture rebuild */
    int rebuild_carried, rebuild_total;
    /* the LR finder: points so far (lr increasing), and the result once it ended */
    LrFindState lrf_state;
    int lrf_len, lrf_steps;
    float lrf_lr[SESSION_LRF_MAX], lrf_loss[SESSION_LRF_MAX], lrf_smooth[SESSION_LRF_MAX];
    double lrf_suggested, lrf_steepest, lrf_min_loss_lr;
} Snapshot;

typedef struct Session Session;

typedef struct SessionOptions {
    Config config;              /* validated */
    const char *run_dir;        /* NULL/"": write nothing */
    const char *resume_dir;     /* non-NULL: resume this run instead of starting from config */
    const char *const *overrides;   /* --set strings applied on resume */
    int num_overrides;
    int start_paused;
    int exit_when_done;         /* 1: the worker ends after the last epoch (headless train) */
} SessionOptions;

/* Start the worker. The options are copied. */
Status session_start(const SessionOptions *opt, Session **out);
/* Post a command; never blocks on training. `text` is used by CMD_SET, CMD_REBUILD, CMD_LR_FIND
 * and CMD_RESTART (may be NULL otherwise). Returns 0 when the queue is full (nothing posted),
 * 1 when posted. */
int session_post(Session *s, CommandKind kind, const char *text);
/* Copy out the latest snapshot (cheap: one memcpy under the lock). */
void session_snapshot(Session *s, Snapshot *out);
/* Wait until the snapshot seq exceeds `seq` or timeout_ms passes; returns the current seq. */
uint64_t session_wait(Session *s, uint64_t seq, int timeout_ms);
/* Ask the worker to stop (CMD_STOP), join it, free everything. Safe with NULL. */
void session_destroy(Session *s);
/* 1 when the worker thread has exited. */
int session_finished(Session *s);
/* The viewer's data hand-off (core/viewdata.h); owned by the session. */
struct ViewExchange *session_view_exchange(Session *s);

const char *run_state_name(RunState s);

#endif
