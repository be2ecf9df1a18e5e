#!/usr/bin/env bash
# commands.sh — end-to-end test of the headless command line: the real `shortcut` binary run as
# a user runs it (train, resume, Ctrl-C, eval, info, bench) and fed bad input, checking exit
# codes, what it prints and the run directory it writes.
#
# Everything runs on the built-in `shapes` dataset (no download), small: 512 training images
# (8 steps of 64 per epoch), 128 test images, one thread. Exit codes follow app/cli.h and
# status_exit_code() in core/status.c: 0 success, 1 runtime failure (a file that cannot be opened,
# missing data), 2 bad input (arguments, config keys and values, a malformed file); a stopped
# `shortcut train` returns 130. Errors are one line on stderr.
#
# usage: bash tests/cli/commands.sh path/to/shortcut
set -euo pipefail
SHORTCUT=${1:?usage: $0 path/to/shortcut}
[ -x "$SHORTCUT" ] || { echo "FAIL: $SHORTCUT is not an executable"; exit 1; }
SHORTCUT=$(cd "$(dirname "$SHORTCUT")" && pwd)/$(basename "$SHORTCUT")
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QUICK_YAML="$SRC/configs/quick.yaml"
WRN_YAML="$SRC/configs/wrn-28-10.yaml"
WORK=$(mktemp -d /tmp/shortcut_cli_XXXXXX)
BGPID=""
cleanup() {
    # A background training still running (a failed check): stop it before the directory goes.
    if [ -n "$BGPID" ] && kill -0 "$BGPID" 2>/dev/null; then
        kill -TERM "$BGPID" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$BGPID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$BGPID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"   # anything written to a default path (runs/...) stays inside the work dir

SMALL=(--set data.shapes_train=512 --set data.shapes_test=128 --set train.threads=1)
STEPS_PER_EPOCH=8   # 512 images / batch 64 (configs/quick.yaml)
METRICS_HEADER="epoch,step,lr,train_loss,train_acc,val_loss,val_acc,test_loss,test_acc,images_per_s,elapsed_s"

LAST="" RC=0
fail() {
    echo "FAIL: $*"
    if [ -n "$LAST" ]; then
        echo "---- last command: $LAST (exit $RC)"
        echo "---- stdout ----"; cat "$WORK/out" 2>/dev/null || true
        echo "---- stderr ----"; cat "$WORK/err" 2>/dev/null || true
        echo "----------------"
    fi
    exit 1
}
# sc ARGS...: run shortcut ARGS; stdout in $WORK/out, stderr in $WORK/err, exit code in $RC.
sc() {
    LAST="shortcut $*"
    RC=0
    "$SHORTCUT" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null || RC=$?
}
nlines() { awk 'END { print NR }' "$1"; }   # counts a last line without a newline too
# expect_rc CODE [WHY]: exit CODE; an unexpected code >= 128 is reported as a death by signal.
expect_rc() {
    [ "$RC" -lt 128 ] || [ "$RC" -eq "$1" ] || fail "$LAST crashed (exit $RC, killed by signal $((RC - 128)))"
    [ "$RC" -eq "$1" ] || fail "$LAST: expected exit $1, got $RC${2:+ ($2)}"
}
# expect_error CODE TEXT...: exit CODE, nothing on stdout, exactly one line on stderr that
# contains every TEXT (fixed strings).
expect_error() {
    local code=$1
    shift
    expect_rc "$code"
    [ -s "$WORK/out" ] && fail "$LAST: printed on stdout while failing"
    [ "$(nlines "$WORK/err")" -eq 1 ] || fail "$LAST: expected a one-line error on stderr, got $(nlines "$WORK/err") lines"
    local t
    for t in "$@"; do
        grep -qF -- "$t" "$WORK/err" || fail "$LAST: the error does not mention '$t'"
    done
}
# metrics_col FILE N: column N of every data row of metrics.csv, space-separated.
metrics_col() { awk -F, -v c="$2" 'NR > 1 { printf "%s%s", (NR > 2 ? " " : ""), $c }' "$1"; }
no_temp_files() {
    local left
    left=$(find "$1" -name '*.tmp*')   # core/fileio.c writes <path>.tmp.<pid>[.<n>]
    [ -z "$left" ] || fail "temporary files left in $1: $left"
}

# ---- 1. --version, --help, unknown command and option ------------------------------------------
sc --version
expect_rc 0
version=$(sed -n 's/^project(shortcut VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")
[ -n "$version" ] || fail "no project version in $SRC/CMakeLists.txt"
[ "$(cat "$WORK/out")" = "shortcut $version" ] || fail "--version: expected 'shortcut $version'"

sc --help
expect_rc 0
grep -q "^usage: shortcut " "$WORK/out" || fail "--help: no usage line"
for c in train eval info bench; do
    grep -qE "^ +shortcut $c( |$)" "$WORK/out" || fail "--help does not list '$c'"
done
[ -s "$WORK/err" ] && fail "--help wrote to stderr"
for c in train eval info bench; do
    sc "$c" --help
    expect_rc 0
    head -1 "$WORK/out" | grep -q "^usage: shortcut $c " || fail "$c --help: first line is not its usage"
done

sc frobnicate
expect_error 2 "unknown command 'frobnicate'" "shortcut --help"
sc --frobnicate                     # an option goes to the workbench, which refuses it
expect_error 2
sc train --frobnicate
expect_error 2 "unknown option '--frobnicate'" "shortcut train --help"
sc eval
expect_error 2 "which run?"
sc bench "$QUICK_YAML" --batch 0
expect_error 2 "--batch must be a positive integer"

# ---- 2. train ----------------------------------------------------------------------------------
RUN="$WORK/run"
sc train "$QUICK_YAML" "${SMALL[@]}" --set train.epochs=1 --out "$RUN" --quiet
expect_rc 0
[ "$(nlines "$WORK/out")" -eq 1 ] || fail "train --quiet: expected only the final summary line"
grep -q "^done: 1 epochs, $STEPS_PER_EPOCH steps in .*; run in $RUN\$" "$WORK/out" \
    || fail "train: unexpected summary line"
for f in config.yaml metrics.csv model.safetensors state.safetensors log.txt; do
    [ -s "$RUN/$f" ] || fail "train did not write $RUN/$f"
done
[ "$(head -1 "$RUN/metrics.csv")" = "$METRICS_HEADER" ] || fail "metrics.csv: unexpected header"
[ "$(metrics_col "$RUN/metrics.csv" 1)" = "1" ] || fail "metrics.csv: expected one row for epoch 1"
[ "$(metrics_col "$RUN/metrics.csv" 2)" = "$STEPS_PER_EPOCH" ] || fail "metrics.csv: epoch 1 should end at step $STEPS_PER_EPOCH"
grep -qx "  shapes_train: 512" "$RUN/config.yaml" || fail "config.yaml does not carry data.shapes_train=512"
grep -qx "  epochs: 1" "$RUN/config.yaml" || fail "config.yaml does not carry train.epochs=1"
grep -qF "epoch 1/1: train loss" "$RUN/log.txt" || fail "log.txt has no line for epoch 1"
no_temp_files "$RUN"

# ---- 3. resume ---------------------------------------------------------------------------------
sc train --resume "$RUN" --set train.epochs=2 --quiet
expect_rc 0
grep -q "^done: 2 epochs, $((2 * STEPS_PER_EPOCH)) steps" "$WORK/out" || fail "resume: unexpected summary line"
[ "$(metrics_col "$RUN/metrics.csv" 1)" = "1 2" ] || fail "resume: metrics.csv epochs should be '1 2', got '$(metrics_col "$RUN/metrics.csv" 1)'"
[ "$(metrics_col "$RUN/metrics.csv" 2)" = "$STEPS_PER_EPOCH $((2 * STEPS_PER_EPOCH))" ] \
    || fail "resume: metrics.csv steps should be '$STEPS_PER_EPOCH $((2 * STEPS_PER_EPOCH))'"
grep -qF "resumed $RUN at epoch 1, step $STEPS_PER_EPOCH" "$RUN/log.txt" || fail "log.txt does not record the resume"
grep -qx "  epochs: 2" "$RUN/config.yaml" || fail "config.yaml does not carry the resumed train.epochs=2"
no_temp_files "$RUN"

# ---- 4. Ctrl-C: stops at the next step, saves, says how to resume, exits 130 --------------------
SIG="$WORK/sig"
LAST="shortcut train $QUICK_YAML ... --set train.epochs=50 --out $SIG (in the background)"
"$SHORTCUT" train "$QUICK_YAML" "${SMALL[@]}" --set train.epochs=50 --out "$SIG" \
    >"$WORK/out" 2>"$WORK/err" </dev/null &
BGPID=$!
deadline=$((SECONDS + 60))
until [ -f "$SIG/metrics.csv" ] && [ "$(nlines "$SIG/metrics.csv")" -ge 2 ]; do
    kill -0 "$BGPID" 2>/dev/null || fail "the background training ended before finishing an epoch"
    [ $SECONDS -ge $deadline ] && fail "the background training wrote no epoch to metrics.csv within 60s"
    sleep 0.1
done
kill -INT "$BGPID"
deadline=$((SECONDS + 30))
while kill -0 "$BGPID" 2>/dev/null && [ "$(ps -o stat= -p "$BGPID" 2>/dev/null | cut -c1)" != Z ]; do
    [ $SECONDS -ge $deadline ] && fail "shortcut train did not exit within 30s of SIGINT"
    sleep 0.1
done
RC=0
wait "$BGPID" || RC=$?
BGPID=""
# cmd_train returns 130 itself after a stop (bash reports death by SIGINT as 130 too: the resume
# message below, printed just before cmd_train returns, tells the two apart).
expect_rc 130 "cmd_train returns 130 after a stop on SIGINT"
grep -qF "stopping after this step and saving" "$WORK/err" || fail "SIGINT: no 'stopping' notice on stderr"
stopped=$(sed -n 's|^stopped at epoch \([0-9]*\)/50, step \([0-9]*\)\. Resume with:$|\1 \2|p' "$WORK/out")
[ -n "$stopped" ] || fail "SIGINT: no 'stopped at epoch N/50, step S. Resume with:' line"
read -r sig_epoch sig_step <<<"$stopped"
grep -qx "  shortcut train --resume $SIG" "$WORK/out" || fail "SIGINT: the resume command is not printed"
[ "$sig_epoch" -ge 1 ] && [ "$sig_epoch" -lt 50 ] || fail "SIGINT: stopped at epoch $sig_epoch, expected 1..49"
[ "$sig_step" -ge $((sig_epoch * STEPS_PER_EPOCH)) ] && [ "$sig_step" -le $(((sig_epoch + 1) * STEPS_PER_EPOCH)) ] \
    || fail "SIGINT: step $sig_step is not within epoch $((sig_epoch + 1))"
grep -qF "stopped at epoch $sig_epoch, step $sig_step" "$SIG/log.txt" || fail "SIGINT: log.txt does not record the stop"
[ -s "$SIG/state.safetensors" ] && [ -s "$SIG/model.safetensors" ] || fail "SIGINT: no checkpoint in $SIG"
no_temp_files "$SIG"
next=$((sig_epoch + 1))
sc train --resume "$SIG" --set train.epochs=$next --quiet
expect_rc 0 "resuming the interrupted run"
grep -q "^done: $next epochs, $((next * STEPS_PER_EPOCH)) steps" "$WORK/out" || fail "resume after SIGINT: unexpected summary"
[ "$(metrics_col "$SIG/metrics.csv" 1)" = "$(seq -s ' ' 1 $next)" ] \
    || fail "resume after SIGINT: metrics.csv epochs '$(metrics_col "$SIG/metrics.csv" 1)', expected 1..$next once each"
[ "$(awk -F, 'END { print $2 }' "$SIG/metrics.csv")" = "$((next * STEPS_PER_EPOCH))" ] \
    || fail "resume after SIGINT: the last row should be step $((next * STEPS_PER_EPOCH)) (resumed mid-epoch at step $sig_step)"
no_temp_files "$SIG"

# ---- 5. eval -----------------------------------------------------------------------------------
sc eval "$RUN" --predictions "$WORK/preds.csv"
expect_rc 0
acc_line=$(grep -E "^test loss [0-9.]+, accuracy [0-9.]+% \(128 images\)$" "$WORK/out" || true)
[ -n "$acc_line" ] || fail "eval: no 'test loss L, accuracy A% (128 images)' line"
grep -qF "confusion matrix (rows: true class, columns: predicted):" "$WORK/out" || fail "eval: no confusion matrix"
grep -qF "per-class accuracy:" "$WORK/out" || fail "eval: no per-class accuracy"
# The matrix: 10 rows of a class index and 10 counts; they add up to the 128 test images.
read -r m_rows m_total m_diag < <(awk '/^confusion matrix/ { on = 1; next }
    on && NF == 11 && /^[ 0-9]+$/ { r++; for (i = 2; i <= NF; i++) t += $i; d += $(r + 1) }
    END { print r + 0, t + 0, d + 0 }' "$WORK/out")
[ "$m_rows" -eq 10 ] || fail "eval: confusion matrix has $m_rows rows, expected 10"
[ "$m_total" -eq 128 ] || fail "eval: confusion matrix counts add up to $m_total, expected 128"
# The predictions: header, one row per test image in order, consistent with the matrix and the
# printed accuracy.
P="$WORK/preds.csv"
[ -f "$P" ] || fail "eval: $P not written"
[ "$(head -1 "$P")" = "index,label,predicted,probability" ] || fail "preds.csv: unexpected header '$(head -1 "$P")'"
[ "$(nlines "$P")" -eq 129 ] || fail "preds.csv: $(($(nlines "$P") - 1)) rows, expected 128"
bad=$(awk -F, 'NR > 1 && !(NF == 4 && $1 == NR - 2 && $2 ~ /^[0-9]$/ && $3 ~ /^[0-9]$/ && $4 > 0 && $4 <= 1) { print NR ": " $0; exit }' "$P")
[ -z "$bad" ] || fail "preds.csv: malformed row $bad"
correct=$(awk -F, 'NR > 1 && $2 == $3 { n++ } END { print n + 0 }' "$P")
[ "$correct" -eq "$m_diag" ] || fail "preds.csv has $correct correct predictions, the confusion matrix diagonal $m_diag"
printed_acc=$(sed -n 's/^test loss [0-9.]*, accuracy \([0-9.]*\)%.*/\1/p' "$WORK/out")
[ "$(awk -v c="$correct" 'BEGIN { printf "%.2f", 100 * c / 128 }')" = "$printed_acc" ] \
    || fail "eval prints accuracy $printed_acc%, preds.csv has $correct/128 correct"
# The checkpoint is the model training evaluated last: same test loss as metrics.csv's last row.
printed_loss=$(sed -n 's/^test loss \([0-9.]*\),.*/\1/p' "$WORK/out")
train_loss=$(awk -F, 'END { print $8 }' "$RUN/metrics.csv")
awk -v a="$printed_loss" -v b="$train_loss" 'BEGIN { d = a - b; exit !(d < 0.001 && d > -0.001) }' \
    || fail "eval test loss $printed_loss differs from metrics.csv's last test_loss $train_loss"

# ---- 6. info -----------------------------------------------------------------------------------
# configs/wrn-28-10.yaml is the tutorial recipe with a BN-ReLU-conv3x3 shortcut (38,548,666
# parameters); the paper's 1x1 shortcut gives the published 36,479,194 (36.5M).
sc info "$WRN_YAML"
expect_rc 0
grep -qx "wrn-28-10: wrn, input 3x32x32, 10 classes" "$WORK/out" || fail "info: unexpected first line"
grep -qx "trainable parameters: 38548666 (38.55 M), 154.2 MB as float32" "$WORK/out" \
    || fail "info: wrn-28-10 (conv3x3 shortcut) should have 38548666 parameters"
sc info "$WRN_YAML" --set model.shortcut=conv1x1
expect_rc 0
grep -qx "trainable parameters: 36479194 (36.48 M), 145.9 MB as float32" "$WORK/out" \
    || fail "info: wrn-28-10 with the 1x1 shortcut should have 36479194 parameters"
grep -qx "multiply-accumulates per image (forward): 5243328768 (5.24 GMAC)" "$WORK/out" \
    || fail "info: wrn-28-10 with the 1x1 shortcut should have 5243328768 MACs per image"

# ---- 7. bench ----------------------------------------------------------------------------------
BENCH=(bench "$QUICK_YAML" --batch 16 --threads 1 --windows 1 --window-seconds 1 --mode train)
positive() { awk -v v="$1" 'BEGIN { exit !(v + 0 > 0) }'; }
# One `mode=train` line with a positive img_per_s; leaves it in $line. $1 names the run.
bench_line() {
    expect_rc 0
    [ "$(nlines "$WORK/out")" -eq 1 ] || fail "bench ($1): expected exactly one line"
    line=$(cat "$WORK/out")
    case "$line" in "mode=train "*) ;; *) fail "bench ($1): the line does not start with 'mode=train '" ;; esac
    local rate
    rate=$(sed -n 's/.* img_per_s=\([0-9.]*\) .*/\1/p' <<<"$line")
    [ -n "$rate" ] && positive "$rate" || fail "bench ($1): img_per_s='$rate' is not a positive number"
}
sc "${BENCH[@]}"
bench_line default
# device auto (quick.yaml's) measuring the CPU says why on stderr, as training does
case "$line" in *'device="cpu'*)
    grep -qF "; benchmarking the CPU" "$WORK/err" || fail "bench: auto fell back to the CPU silently"
esac
for kv in "batch=16" "threads=1" "model=quick" "deterministic=0"; do
    grep -qF " $kv " <<<"$line" || fail "bench: no ' $kv ' in the line"
done
grep -qF "nondeterministic_img_per_s=" <<<"$line" && fail "bench: nondeterministic_img_per_s= without train.deterministic"
# how much other programs disturbed the measurement, a share of all CPUs in percent
fp=$(sed -n 's/.* foreign_cpu_pct=\([0-9.]*\) .*/\1/p' <<<"$line")
[ -n "$fp" ] && awk -v v="$fp" 'BEGIN { exit !(v >= 0 && v <= 100) }' || fail "bench: foreign_cpu_pct='$fp' is not a percentage"

sc "${BENCH[@]}" --set train.deterministic=true
bench_line deterministic
grep -qF " deterministic=1 " <<<"$line" || fail "bench: no ' deterministic=1 ' with train.deterministic=true"
nd=$(sed -n 's/.* nondeterministic_img_per_s=\([0-9.]*\) .*/\1/p' <<<"$line")
[ -n "$nd" ] && positive "$nd" || fail "bench: nondeterministic_img_per_s='$nd' is not a positive number"
grep -qE " deterministic_cost_pct=-?[0-9]+\.[0-9] " <<<"$line" || fail "bench: no deterministic_cost_pct=<number>"

# ---- 8. bad input: exit code and a one-line message naming the problem --------------------------
sc train "$WORK/missing.yaml" "${SMALL[@]}" --out "$WORK/bad1" --quiet
expect_error 1 "$WORK/missing.yaml" "cannot open"   # ST_ERR_IO: a file that cannot be opened
[ -e "$WORK/bad1" ] && fail "a missing config still created the run directory"

printf 'name: typo\ntrain:\n  epochs: 1\n  lrr: 0.1\n' > "$WORK/typo.yaml"
sc train "$WORK/typo.yaml" --out "$WORK/bad2" --quiet
expect_error 2 "$WORK/typo.yaml:4:3:" "unknown key 'lrr'" "'lr'"
[ -e "$WORK/bad2" ] && fail "a config with an unknown key still created the run directory"

sc train "$QUICK_YAML" "${SMALL[@]}" --set train.batch_size=0 --out "$WORK/bad3" --quiet
expect_error 2 "train.batch_size" "got 0"
[ -e "$WORK/bad3" ] && fail "train.batch_size=0 still created the run directory"

sc train "$QUICK_YAML" "${SMALL[@]}" --set train.lr=-1 --out "$WORK/bad4" --quiet
expect_error 2 "train.lr" "got -1"
[ -e "$WORK/bad4" ] && fail "train.lr=-1 still created the run directory"

mkdir "$WORK/empty"
sc eval "$WORK/empty"
expect_error 1 "$WORK/empty/model.safetensors"   # ST_ERR_IO: cannot open

cp -r "$RUN" "$WORK/trunc"
size=$(stat -c %s "$WORK/trunc/model.safetensors")
truncate -s $((size / 2)) "$WORK/trunc/model.safetensors"
sc eval "$WORK/trunc"
expect_error 2 "$WORK/trunc/model.safetensors" "truncated"   # ST_ERR_FORMAT, no crash

cp -r "$RUN" "$WORK/trunc_state"
size=$(stat -c %s "$WORK/trunc_state/state.safetensors")
truncate -s $((size / 2)) "$WORK/trunc_state/state.safetensors"
sc train --resume "$WORK/trunc_state" --set train.epochs=3 --quiet
expect_error 2 "$WORK/trunc_state/state.safetensors" "truncated"
cmp -s "$RUN/metrics.csv" "$WORK/trunc_state/metrics.csv" || fail "a failed resume changed metrics.csv"

sc train --resume "$WORK/empty" --quiet
expect_error 2 "$WORK/empty/state.safetensors" "missing"

sc train "$QUICK_YAML" "${SMALL[@]}" --set data.dataset=cifar10 --set data.root="$WORK/nowhere" \
    --out "$WORK/bad5" --quiet
expect_error 1 "$WORK/nowhere" "scripts/fetch-cifar.sh"

echo "ok: cli commands"
