#!/usr/bin/env bash
# signals.sh — signals never leave a broken terminal: SIGTERM stops and saves, SIGINT asks (a
# second one confirms), SIGSEGV restores the terminal before dying.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200
wait_for "RUNNING" 20
wait_for "epoch 2/200" 30
kill -TERM "$(shortcut_pid)"
expect_exit 0
[ -s "$RUN/state.safetensors" ] || fail "SIGTERM did not save"
grep -qF "stopped at epoch" "$RUN/log.txt" || fail "SIGTERM: no stop in the log"
"${T[@]}" kill-server
rm -f "$WORK/stty.txt"

start_tui --resume "$RUN"
wait_for "RUNNING" 20
kill -INT "$(shortcut_pid)"
wait_for "Quit the workbench?" 5
kill -INT "$(shortcut_pid)"
expect_exit 0
"${T[@]}" kill-server
rm -f "$WORK/stty.txt"

start_tui --resume "$RUN"
wait_for "RUNNING" 20
kill -SEGV "$(shortcut_pid)"
expect_exit 139
screen | grep -qF "crashed; the terminal was restored" || fail "no crash message"
echo "ok: signals"
