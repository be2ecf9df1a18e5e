#!/usr/bin/env bash
# responsive.sh — the screen never waits on training: with a model whose steps take seconds,
# keys still answer at once. Each of 6 presses toggles the help; the time from send-keys to
# the changed screen (tmux round trip included) must stay well under a step.
. "$(dirname "$0")/common.sh"
# ~2-3 s per step on one core: 64-wide convolutions at 32x32 on batches of 128. On the CPU even
# where a GPU is: a GPU trains this in a second, and the test needs steps that take long.
start_tui --set train.device=cpu --set data.shapes_train=512 --set data.shapes_test=128 \
    --set train.threads=1 --set train.batch_size=128 --set model.stem_width=64 \
    --set 'model.stages=[{blocks: 2, width: 64, stride: 1}]'
wait_for "RUNNING" 20
wait_for "step 1 " 60                      # one step done: the next one is under way
s0=$(status_step)
now_ms() { date +%s%3N; }
worst=0
total=0
for i in 1 2 3 4 5 6; do
    t0=$(now_ms)
    keys '?'
    until screen | grep -qF "Keys (Up/Down scroll"; do
        [ $(( $(now_ms) - t0 )) -gt 3000 ] && fail "no answer to ? within 3 s"
    done
    t1=$(now_ms)
    keys Escape
    until ! screen | grep -qF "Keys (Up/Down scroll"; do
        [ $(( $(now_ms) - t1 )) -gt 3000 ] && fail "no answer to Esc within 3 s"
    done
    t2=$(now_ms)
    for d in $((t1 - t0)) $((t2 - t1)); do
        total=$((total + d))
        [ $d -gt $worst ] && worst=$d
    done
done
s1=$(status_step)
echo "key to screen: mean $((total / 12)) ms, worst $worst ms; steps during the test: $((s1 - s0))"
[ $((s1 - s0)) -le 6 ] || fail "steps were too fast for this test to mean anything ($s0 -> $s1)"
[ $((total / 12)) -lt 150 ] || fail "keys answered in $((total / 12)) ms on average (want < 150 incl. tmux)"
[ $worst -lt 500 ] || fail "a key took $worst ms"
quit_and_save 0
echo "ok: responsive"
