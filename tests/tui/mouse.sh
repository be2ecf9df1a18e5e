#!/usr/bin/env bash
# mouse.sh — clicks select tabs and fields, a knot of the schedule is dragged (press on it,
# release elsewhere). Mouse events are written into the pane as the terminal would (X10
# encoding: ESC [ M, button + 32, column + 33, row + 33).
. "$(dirname "$0")/common.sh"
mouse() {   # BUTTON(0 press, 3 release) COL ROW, 0-based; sent as hex bytes (a literal ';'
            # would end the tmux command)
    "${T[@]}" send-keys -t t -H 1b 5b 4d "$(printf '%02x' $(( $1 + 32 )))" \
        "$(printf '%02x' $(( $2 + 33 )))" "$(printf '%02x' $(( $3 + 33 )))"
}
click() { mouse 0 "$1" "$2"; mouse 3 "$1" "$2"; }
# find GLYPH: "row col" (0-based cells) of its last occurrence on the screen
find_glyph() {
    screen | LC_ALL=C.UTF-8 awk -v g="$1" '{ if (index($0, g)) { line = NR - 1; text = $0 } }
        END { if (line == "") exit 1; print line; print text }' > "$WORK/found" || return 1
    local row text prefix
    row=$(sed -n 1p "$WORK/found")
    text=$(sed -n 2p "$WORK/found")
    prefix=${text%"$1"*}
    echo "$row $(printf '%s' "$prefix" | LC_ALL=C.UTF-8 wc -m)"
}
start_tui "${QUICK[@]}" --set train.epochs=100
wait_for "RUNNING" 20
# the tabs: click "3 Schedule"
row0=$(screen | head -1)
pre=${row0%%"3 Schedule"*}
click "$(printf '%s' "$pre" | LC_ALL=C.UTF-8 wc -m)" 0
wait_for "Learning rate: recorded" 5
keys P
wait_for "knot " 5                          # the last knot is selected: the rightmost on the chart
before=$(screen | grep -o 'knot [0-9]*/[0-9]*: epoch [0-9.]* lr [0-9.e-]*')
# Drag: press on the knot, release 4 columns left and 6 rows up. The pane was already pending
# (the preset), so success shows as the knot's own line changing. About one first drag in 30
# leaves no trace (twice in fresh-clone CI runs; here 2 of 61 runs, idle or busy; the second
# drag always took; cause not found, see the session-4 note), so a drag that changed nothing
# in 5 s is tried again from a fresh reading of the screen, up to 3 times. Every attempt
# failing is a failure, and the ok line says how many were needed.
after=$before
for attempt in 1 2 3; do
    read -r krow kcol < <(find_glyph "◆") || fail "no knot on the chart"
    mouse 0 "$kcol" "$krow"
    mouse 3 "$((kcol - 4))" "$((krow - 6))"
    for _ in $(seq 50); do
        after=$(screen | grep -o 'knot [0-9]*/[0-9]*: epoch [0-9.]* lr [0-9.e-]*')
        [ "$after" != "$before" ] && break 2
        sleep 0.1
    done
done
wait_for "Schedule (pending)" 5
[ "$before" != "$after" ] || fail "the drag did not move the knot ($before)"
awk -v a="${before##* }" -v b="${after##* }" 'BEGIN { exit !(b > a) }' || fail "the knot did not go up: $before -> $after"
keys a
wait_file_has "$RUN/log.txt" "set train.schedule.knots=[[" 10
# the dashboard: click a field to select it, again to edit it
pre=${row0%%"1 Dashboard"*}
click "$(printf '%s' "$pre" | LC_ALL=C.UTF-8 wc -m)" 0
wait_for "Hyperparameters (live)" 5
read -r mrow mcol < <(find_glyph "momentum") || fail "no momentum field"
click "$mcol" "$mrow"
sleep 0.3
click "$mcol" "$mrow"
wait_for "SGD momentum" 5                   # the field's help: its editor is open
keys Escape
quit_and_save 0
echo "ok: mouse ($before -> $after, drag attempts: $attempt)"
