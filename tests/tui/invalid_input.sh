#!/usr/bin/env bash
# invalid_input.sh — wrong values are refused in place with a one-line message and nothing is
# sent: text in a number, lr <= 0, a depth WRN cannot have.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200
wait_for "RUNNING" 20
keys Enter
wait_for "Enter applies, Esc cancels" 3
keys abc Enter
wait_for "refused: train.lr: expected a number, got 'abc'" 3
screen | tail -1 | grep -qF "refused" || fail "the refusal is not on the message line"
keys C-u -0.5 Enter
wait_for "refused: train.lr: must be > 0" 3
keys Escape
wait_for "edit cancelled" 3
keys 4                                         # architecture editor
wait_for "Architecture" 3
keys Enter C-u wrn Enter                       # family: fine, but depth must follow
wait_for "not valid yet" 3
keys Down Enter C-u 27 Enter                   # depth 27 is not 6n+4
wait_for "refused: model.depth: 27 is not a valid WRN depth" 3
keys Escape
keys a
wait_for "refused: model.depth" 3              # apply refuses the incomplete architecture
sleep 1
grep -qE "set train.lr|rebuilt|edit refused|rebuild refused" "$RUN/log.txt" && fail "something was sent to the worker"
keys u 1
quit_and_save 0
echo "ok: invalid_input"
