#!/usr/bin/env bash
# error_pauses.sh — a worker error (a NaN loss) shows in the status line and the log, the run
# pauses instead of dying, and the workbench stays usable; a lower lr and Space resume it.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200 --set train.lr=1e30 --set train.schedule.type=constant
wait_for "ERROR" 30
screen | sed -n 2p | grep -qF "loss became NaN" || fail "the status line does not say why"
wait_file_has "$RUN/log.txt" "ERROR loss became NaN" 5
wait_for "paused by an error" 20                 # the hint follows the error message
kill -0 "$(shortcut_pid)" || fail "the process died"
keys Enter C-u 0.01 Enter                        # lr 0.01, then resume: the edit is accepted
wait_file_has "$RUN/log.txt" "set train.lr=0.01" 10
keys Space
wait_file_has "$RUN/log.txt" "resumed" 10
quit_and_save '[0-9]+'   # 0, or the error's code if the weights are already broken
echo "ok: error_pauses"
