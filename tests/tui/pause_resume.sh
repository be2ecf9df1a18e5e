#!/usr/bin/env bash
# pause_resume.sh — Space pauses (the step stops moving), s runs exactly one step, Space resumes.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200
wait_for "RUNNING" 20
wait_for "epoch 2/200" 30
keys Space
wait_for "PAUSED" 5
s1=$(status_step)
sleep 1.5
s2=$(status_step)
[ "$s1" = "$s2" ] || fail "the step moved while paused ($s1 -> $s2)"
grep -qF "paused" "$RUN/log.txt" || fail "the pause is not in the log"
keys s
wait_for "step $((s1 + 1)) " 10
sleep 1
[ "$(status_step)" = "$((s1 + 1))" ] || fail "s ran more than one step"
screen | sed -n 2p | grep -qF "PAUSED" || fail "not paused after a single step"
keys Space
wait_for "RUNNING" 5
sleep 1.5
[ "$(status_step)" -gt "$((s1 + 2))" ] || fail "did not resume"
quit_and_save 0
echo "ok: pause_resume"
