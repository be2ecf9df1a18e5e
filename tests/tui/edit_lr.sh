#!/usr/bin/env bash
# edit_lr.sh — change the learning rate while it trains: the edit is logged with the step it
# took effect, metrics.csv has the old lr before that step and the new one after, and the curves
# carry a marker.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200 --set train.schedule.type=constant
wait_for "RUNNING" 20
wait_for "epoch 3/200" 30
keys Enter                      # the lr field is selected first
wait_for "Enter applies, Esc cancels" 3
keys 0.0123 Enter
wait_file_has "$RUN/log.txt" "set train.lr=0.0123 (from step" 10
n=$(grep -o 'set train.lr=0.0123 (from step [0-9]*' "$RUN/log.txt" | grep -o '[0-9]*$')
wait_for "lr=0.0123@$n" 5
screen | grep -qE "lr +0\.0123" || fail "the hyperparameter panel does not show the new lr"
# Two more epochs, so metrics.csv has rows after the edit.
deadline=$((SECONDS + 30))
until awk -F, -v n="$n" 'NR > 1 && $2 > n + 8 { found = 1 } END { exit !found }' "$RUN/metrics.csv"; do
    [ $SECONDS -ge $deadline ] && fail "no metrics row after step $n"
    sleep 0.2
done
awk -F, -v n="$n" 'NR > 1 && $2 < n && $3 != 0.05 { print "before the edit:", $0; bad = 1 }
                   NR > 1 && $2 > n && $3 != 0.0123 { print "after the edit:", $0; bad = 1 }
                   END { exit bad }' "$RUN/metrics.csv" || fail "metrics.csv lr column does not change at step $n"
quit_and_save 0
grep -qF "train:" "$RUN/config.yaml" || fail "no config.yaml"
grep -qE "^  lr: 0.0123" "$RUN/config.yaml" || fail "config.yaml does not carry the edited lr"
echo "ok: edit_lr (from step $n)"
