# common.sh — helpers for the workbench's tmux end-to-end tests (sourced, not run).
#
# Each test drives the real `shortcut` binary inside a private tmux server (its own socket in a
# temporary directory) with send-keys, reads the screen with capture-pane, and checks the run
# directory the workbench writes. The pane runs a wrapper that records the exit status and the
# terminal modes (stty -a) after shortcut returns, so "the terminal was restored" is checked,
# not assumed. Missing tmux skips (exit 77).
set -u
SHORTCUT=${1:?usage: $0 path/to/shortcut}
command -v tmux >/dev/null 2>&1 || { echo "skipped: tmux is not installed (apt-get install tmux)"; exit 77; }
[ -x "$SHORTCUT" ] || { echo "FAIL: $SHORTCUT is not an executable"; exit 1; }
SHORTCUT=$(cd "$(dirname "$SHORTCUT")" && pwd)/$(basename "$SHORTCUT")
WORK=$(mktemp -d /tmp/shortcut_tui_XXXXXX)
T=(tmux -S "$WORK/tmux.sock" -f /dev/null)
# Closing the pane sends SIGHUP: shortcut then stops and saves; let it finish before the
# directory goes.
cleanup() {
    local pid=""
    [ -f "$WORK/wrapper.pid" ] && pid=$(pgrep -P "$(cat "$WORK/wrapper.pid")" | head -1)
    "${T[@]}" kill-server >/dev/null 2>&1
    for _ in $(seq 100); do [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -rf "$WORK"
}
trap cleanup EXIT
# The quick demo, small: 512 shapes images (8 steps per epoch), one thread (CI has 2 cores).
QUICK=(--set data.shapes_train=512 --set data.shapes_test=128 --set train.threads=1)
RUN="$WORK/runs/quick"

# start_tui ARGS...: shortcut ARGS in a W x H (default 100 x 30) pane; env TUI_ENV adds variables.
# TERM is tmux's own (default-terminal): the key sequences tmux sends are the ones it describes.
start_tui() {
    local args
    args=$(printf '%q ' "$@")
    cat > "$WORK/run.sh" <<EOS
cd "$WORK"
echo \$\$ > "$WORK/wrapper.pid"
"$SHORTCUT" $args
echo "EXIT=\$?"
stty -a > "$WORK/stty.txt"
sleep 600
EOS
    "${T[@]}" new-session -d -s t -x "${W:-100}" -y "${H:-30}" \
        "env -u DISPLAY -u WAYLAND_DISPLAY LANG=C.UTF-8 LC_ALL=C.UTF-8 ${TUI_ENV:-} bash '$WORK/run.sh'"
}

screen() { "${T[@]}" capture-pane -p -t t; }
keys() { "${T[@]}" send-keys -t t "$@"; }
fail() {
    echo "FAIL: $*"
    echo "---- screen ----"
    screen
    echo "----------------"
    [ -f "$RUN/log.txt" ] && { echo "---- log.txt ----"; cat "$RUN/log.txt"; }
    exit 1
}
# wait_for TEXT [SECONDS]: until TEXT (fixed string) is on the screen.
wait_for() {
    local deadline=$((SECONDS + ${2:-20}))
    until screen | grep -qF -- "$1"; do
        [ $SECONDS -ge $deadline ] && fail "'$1' did not appear within ${2:-20}s"
        sleep 0.1
    done
}
# wait_gone TEXT [SECONDS]
wait_gone() {
    local deadline=$((SECONDS + ${2:-20}))
    while screen | grep -qF -- "$1"; do
        [ $SECONDS -ge $deadline ] && fail "'$1' still on the screen after ${2:-20}s"
        sleep 0.1
    done
}
# wait_file_has FILE TEXT [SECONDS]
wait_file_has() {
    local deadline=$((SECONDS + ${3:-20}))
    until [ -f "$1" ] && grep -qF -- "$2" "$1"; do
        [ $SECONDS -ge $deadline ] && fail "$1 did not get '$2' within ${3:-20}s"
        sleep 0.1
    done
}
# The global step shown in the status line.
status_step() { screen | sed -n '2p' | grep -o 'step [0-9]*' | head -1 | awk '{print $2}'; }
# The pid of shortcut itself: the wrapper's only child while it runs (its name may differ:
# the binary can re-exec itself).
shortcut_pid() { pgrep -P "$(cat "$WORK/wrapper.pid")" | head -1; }
# expect_exit CODE: shortcut ended with CODE (an extended regex) and left the terminal in its
# normal modes.
expect_exit() {
    wait_for "EXIT=" 30
    screen | grep -qE "^EXIT=($1)\$" || fail "expected EXIT=$1"
    local deadline=$((SECONDS + 5))
    until [ -s "$WORK/stty.txt" ]; do [ $SECONDS -ge $deadline ] && fail "no stty output"; sleep 0.1; done
    for mode in icanon echo icrnl opost; do
        grep -qE "(^| )$mode( |$)" "$WORK/stty.txt" || fail "terminal not restored: $mode is off ($(cat "$WORK/stty.txt"))"
    done
    # Left the alternate screen: nothing of the workbench is left on the normal screen.
    screen | grep -qF "Hyperparameters (live)" && fail "the workbench is still on the screen"
    return 0
}
# quit_and_save: q, confirm, and the worker saved.
quit_and_save() {
    keys q
    wait_for "Quit the workbench?" 5
    keys y
    expect_exit "${1:-0}"
}
