#!/usr/bin/env bash
# smoke.sh — the workbench starts on the quick demo, the sparklines move while it trains, the
# help opens and closes, quitting asks, saves the same files as `shortcut train`, restores the
# terminal and prints how to continue.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200
wait_for "RUNNING" 20
wait_for "Hyperparameters (live)"
wait_for "epoch 3/200" 30
a=$(screen | sed -n '3,14p')
s1=$(status_step)
sleep 1.5
b=$(screen | sed -n '3,14p')
s2=$(status_step)
[ "$s2" -gt "$s1" ] || fail "the step did not advance ($s1 -> $s2)"
[ "$a" != "$b" ] || fail "the curves did not change in 1.5 s"
screen | grep -qF -e '▁' -e '▂' -e '▃' -e '▄' -e '▅' -e '▆' -e '▇' -e '█' ||
    fail "no Unicode block glyphs in a UTF-8 locale"
screen | grep -qF "test acc" || fail "no test accuracy curve"
keys '?'
wait_for "Keys (Up/Down scroll" 3
screen | grep -qF "pause / resume training" || fail "help lacks the pause key"
keys Escape
wait_gone "Keys (Up/Down scroll" 3
quit_and_save 0
screen | grep -qF "continue with:  shortcut --resume runs/quick" || fail "no resume hint"
for f in config.yaml metrics.csv model.safetensors state.safetensors log.txt; do
    [ -s "$RUN/$f" ] || fail "the run directory lacks $f"
done
grep -qF "stopped at epoch" "$RUN/log.txt" || fail "the log does not say where it stopped"
echo "ok: smoke"
