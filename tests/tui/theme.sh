#!/usr/bin/env bash
# theme.sh — colours and glyphs: colours by default, none with NO_COLOR; Unicode blocks in a
# UTF-8 locale, ASCII in the C locale and with --ascii.
. "$(dirname "$0")/common.sh"
blocks=(-e '▁' -e '▂' -e '▃' -e '▄' -e '▅' -e '▆' -e '▇' -e '█' -e '─' -e '│')
colour_sgr='\[([0-9;]*;)?(3[0-7]|9[0-7]|38;5;[0-9]+)(;[0-9;]*)?m'
run_case() {   # NAME ENV ARGS...: start, wait for curves, capture with attributes, quit
    local name=$1 env=$2
    shift 2
    TUI_ENV="$env" start_tui "${QUICK[@]}" --set train.epochs=200 "$@"
    wait_for "RUNNING" 20
    wait_for "epoch 2/200" 30
    "${T[@]}" capture-pane -p -e -t t > "$WORK/$name.ansi"
    screen > "$WORK/$name.txt"
    quit_and_save 0
    "${T[@]}" kill-server
    rm -f "$WORK/stty.txt"
    rm -rf "$WORK/runs"
}
run_case colour ""
grep -qE "$colour_sgr" "$WORK/colour.ansi" || fail "no colours by default"
grep -qF "${blocks[@]}" "$WORK/colour.txt" || fail "no Unicode glyphs in a UTF-8 locale"
run_case nocolor "NO_COLOR=1"
grep -qE "$colour_sgr" "$WORK/nocolor.ansi" && fail "colours despite NO_COLOR"
grep -qF $'\e[7m' "$WORK/nocolor.ansi" || fail "NO_COLOR: no reverse video for the selection"
run_case clocale "LANG=C LC_ALL=C"
grep -qF "${blocks[@]}" "$WORK/clocale.txt" && fail "Unicode glyphs in the C locale"
grep -qE '^loss +[_.:=+*#-]' "$WORK/clocale.txt" || grep -qE '^ +[_.:=+*#-]{5}' "$WORK/clocale.txt" ||
    fail "no ASCII sparkline in the C locale"
run_case ascii "" --ascii
grep -qF "${blocks[@]}" "$WORK/ascii.txt" && fail "Unicode glyphs with --ascii"
echo "ok: theme"
