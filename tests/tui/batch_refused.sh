#!/usr/bin/env bash
# batch_refused.sh — raise the batch size past what the device may hold (train.memory_limit_mb
# stands in for a full GPU): the next step refuses the edit, the log says why, the panel shows
# the old size again, and training goes on.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200 --set train.schedule.type=constant \
    --set train.memory_limit_mb=120
wait_for "RUNNING" 20
wait_for "epoch 2/200" 30
keys Down Down Down Down Down   # lr, schedule, momentum, nesterov, weight decay, batch size
keys Enter
wait_for "Enter applies, Esc cancels" 3
keys C-u 512 Enter
wait_file_has "$RUN/log.txt" "batch_size 512 refused, training goes on at 64" 20
grep -qF "train.memory_limit_mb" "$RUN/log.txt" || fail "the log does not say which limit"
screen | grep -qE "batch size +64" || fail "the panel does not show the old batch size"
screen | sed -n 2p | grep -qF "RUNNING" || fail "the run did not go on"
s0=$(status_step)
deadline=$((SECONDS + 20))
until [ "$(status_step)" -gt $((s0 + 8)) ]; do
    [ $SECONDS -ge $deadline ] && fail "no steps after the refusal (still at $(status_step))"
    sleep 0.2
done
quit_and_save 0
grep -qE "^  batch_size: 64" "$RUN/config.yaml" || fail "config.yaml does not keep batch size 64"
echo "ok: batch_refused"
