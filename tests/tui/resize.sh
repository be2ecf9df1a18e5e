#!/usr/bin/env bash
# resize.sh — the terminal may change size at any time: below 80x24 the workbench says so (and
# keeps training, keys still work), back at 80x24 the whole screen returns.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200
wait_for "RUNNING" 20
"${T[@]}" resize-window -t t -x 60 -y 20
wait_for "needs at least 80x24; this terminal is 60x20" 5
keys Space
wait_for "(PAUSED)" 5
"${T[@]}" resize-window -t t -x 80 -y 24
wait_for "Hyperparameters (live)" 5
screen | sed -n 2p | grep -qF "PAUSED" || fail "the state line is missing at 80x24"
"${T[@]}" resize-window -t t -x 160 -y 50
wait_for "Hyperparameters (live)" 5
keys 2
wait_for "loss (smoothed" 5
"${T[@]}" resize-window -t t -x 79 -y 24
wait_for "this terminal is 79x24" 5
"${T[@]}" resize-window -t t -x 100 -y 30
wait_gone "this terminal is" 5
quit_and_save 0
echo "ok: resize"
