#!/usr/bin/env bash
# run_control.sh — evaluate now, save now, save the edited config as YAML (and load it back),
# restart from fresh weights into a new run directory, the viewer key.
. "$(dirname "$0")/common.sh"
start_tui "${QUICK[@]}" --set train.epochs=200 --set train.eval_every=0 --set train.checkpoint_every=0
wait_for "RUNNING" 20
wait_for "epoch 2/200" 30
keys E
wait_file_has "$RUN/log.txt" "evaluation: test loss" 20
wait_for "evaluation: test loss" 5
keys w
wait_file_has "$RUN/log.txt" "checkpoint saved to runs/quick" 20
[ -s "$RUN/state.safetensors" ] || fail "w did not write state.safetensors"
keys Enter C-u 0.02 Enter                   # an edit, so the saved config differs from the file
wait_file_has "$RUN/log.txt" "set train.lr=0.02" 10
wait_for "lr           0.02" 5
keys Y
wait_for "Save the current config as YAML" 5
screen | grep -qF "runs/quick/edited.yaml" || fail "no default file name"
keys Enter
wait_for "saved the config to runs/quick/edited.yaml" 5
grep -qE "^  lr: 0.02" "$RUN/edited.yaml" || fail "the saved config lacks the edit"
"$SHORTCUT" info "$RUN/edited.yaml" > "$WORK/info.txt" 2>&1 || fail "shortcut info cannot read the saved config: $(cat "$WORK/info.txt")"
# The viewer key: this test runs without a display, so the workbench must say so in one line
# and keep training (tests/test_viewer_window.c opens a real window under Xvfb). A build without
# the viewer (scripts/gpu-run.sh on a GPU machine has no SDL2) says that instead.
keys V
if grep -q "SHORTCUT_WITH_VIEWER:BOOL=OFF" "$(dirname "$SHORTCUT")/CMakeCache.txt" 2>/dev/null; then
    wait_for "this build has no image viewer" 5
else
    wait_for "viewer: no display" 5
fi
keys R
wait_for "Restart the run?" 5
screen | grep -qF "runs/quick-2" || fail "the restart does not name a new run directory"
keys y
wait_file_has "$WORK/runs/quick-2/log.txt" "restarted from fresh weights in runs/quick-2" 20
wait_for "restarted from fresh weights" 10
grep -qE "^  lr: 0.02" "$WORK/runs/quick-2/config.yaml" || fail "the restart did not keep the edited config"
[ -s "$RUN/state.safetensors" ] || fail "the first run was not kept"
quit_and_save 0
[ -s "$WORK/runs/quick-2/state.safetensors" ] || fail "the restarted run was not saved on quit"
echo "ok: run_control"
