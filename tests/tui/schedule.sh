#!/usr/bin/env bash
# schedule.sh — the schedule editor: change the type and the milestones (pending until applied),
# apply, and find the edit in the log with its step; extend the run from the dashboard with the
# milestones keeping their fraction; then turn the schedule into knots, move some, apply.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=60
wait_for "RUNNING" 20
wait_for "epoch 2/60" 30
keys 3
wait_for "Learning rate: recorded" 3
keys Enter                                     # type
keys C-u multistep Enter
wait_for "Schedule (pending)" 3
keys Down Down Down Down Down Enter            # milestones
keys '[40, 50]' Enter
wait_for "x0.1" 3                              # milestone marks on the chart
grep -qF "set train.schedule" "$RUN/log.txt" && fail "an edit was sent before it was applied"
keys a
wait_file_has "$RUN/log.txt" "set train.schedule.type=multistep (from step" 10
wait_file_has "$RUN/log.txt" "set train.schedule.milestones=[40, 50] (from step" 10
wait_gone "Schedule (pending)" 5
keys 1                                         # dashboard: extend the run, scale milestones
keys End Enter C-u 120 Enter
wait_for "Change the run length" 5
keys s
wait_file_has "$RUN/log.txt" "set train.epochs=120 (from step" 10
wait_file_has "$RUN/log.txt" "set train.schedule.milestones=[80, 100] (from step" 10
keys 3
wait_for "Learning rate: recorded" 3
keys P                                         # into knots
wait_for "knot " 3
keys K K K                                     # raise the selected (last) knot
keys '['
keys J
keys a
wait_file_has "$RUN/log.txt" "set train.schedule.type=piecewise (from step" 10
wait_file_has "$RUN/log.txt" "set train.schedule.knots=[[" 10
quit_and_save 0
grep -qE "type: piecewise" "$RUN/config.yaml" || fail "config.yaml does not have the piecewise schedule"
echo "ok: schedule"
