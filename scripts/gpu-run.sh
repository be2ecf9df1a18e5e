#!/usr/bin/env bash
# gpu-run.sh — on a machine with an NVIDIA GPU: configure with the CUDA backend on (the
# workbench too when ncursesw is found, the viewer off), build, run the CUDA parity tests, time
# `shortcut bench` for the issue's models, and time PyTorch on the same GPU
# (torch_reference_gpu.py). One command; run from anywhere.
#
#   scripts/gpu-run.sh [STEP...]      STEP: env build test bench torch profile data train tui all
#                                     (default: all = env build test bench; torch is separate,
#                                     it takes minutes; profile times every kernel of a few
#                                     steps; data assembles CIFAR-10 from .gpu-data/; train
#                                     runs `shortcut train` on it; tui runs the workbench's
#                                     tmux tests, whose runs then train on the GPU)
#
# Environment:
#   OUT        folder for logs and results (default .gpu/out); every step appends to
#              OUT/gpu-run.log and writes OUT/<step>.txt
#   BUILD      build folder (default build-gpu)
#   BENCH_MODELS / TORCH_MODELS   comma lists to run a subset (default: all four models)
#   BENCH_PRECISIONS              comma list of precisions for bench (default fp32,bf16; bf16
#                                 also runs once with deterministic: true, unless
#                                 BENCH_DETERMINISTIC=0)
#   TEST_VARIANTS                 SHORTCUT_CUDA_ACT16 and SHORTCUT_CUDA_GEMM1X1 values the CUDA
#                                 tests run with, as two digits each (default "00 10 11": 16-bit
#                                 activations off, on, on with 1x1 convolutions on cuBLAS)
#   BENCH_ACT16, BENCH_GEMM1X1    the values bench runs with (default "0 1" and "0"; neither
#                                 applies in fp32, GEMM1X1 only with ACT16). Profile, data and
#                                 train take both variables from the environment as it is.
#   PROFILE_MODEL, PROFILE_PRECISION, PROFILE_KERNELS   what `profile` runs under Nsight Compute
#                                 (default resnet20, bf16, 1500 kernels after the first 10000)
#   TRAIN_CONFIG, TRAIN_SET       what `train` runs (default configs/resnet20.yaml; TRAIN_SET:
#                                 space-separated --set overrides, e.g. "train.epochs=1")
#   TRAIN_MAX_S, TRAIN_RESUME     stop `train` (as Ctrl-C does: it saves) after that many
#                                 seconds; resume the last run instead of starting one, for a
#                                 recipe longer than one device call
#   TORCH_VARIANTS                passed to torch_reference_gpu.py --variants
#   CUDNN_FROM=torch              build against PyTorch's cuDNN (its pip wheel) instead of the
#                                 system's; use another BUILD folder to keep both builds
# Needs: nvcc (CUDA 12+), CMake, ninja, a C compiler, cuDNN 9 (scripts/gpu-find-cudnn.sh finds
# the toolkit's or PyTorch's), and libyaml/OpenBLAS/oneDNN: from the system, or from
# .gpu/hostlibs.tar.xz made by scripts/gpu-pack.sh on a development machine.
# Exit status: 0 when every step ran and passed; the first failing step's status otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUTDIR=${OUT:-$ROOT/.gpu/out}
BUILD=${BUILD:-$ROOT/build-gpu}
mkdir -p "$OUTDIR"
LOG=$OUTDIR/gpu-run.log

say() { echo "gpu-run: $*" | tee -a "$LOG" >&2; }
die() { say "error: $*"; exit 1; }

# ---- environment: cuDNN, host libraries ------------------------------------------------------
PREFIX=""
DNNL=ON
# PyTorch brings its own cuDNN: python3 runs with the library path we were started with, not
# the one that points our build at the system's cuDNN (a different version breaks torch)
ORIG_LD_LIBRARY_PATH=${LD_LIBRARY_PATH-}
setup_env() {
  local exports
  exports=$("$ROOT/scripts/gpu-find-cudnn.sh") || die "cuDNN 9 not found: $exports"
  eval "$exports"
  say "cuDNN: ${CUDNN_LIBRARY} (headers ${CUDNN_INCLUDE_DIR})"
  command -v nvcc >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/nvcc ] ||
    die "nvcc not found (install the CUDA toolkit or put it on PATH)"
  command -v nvcc >/dev/null 2>&1 || export PATH=/usr/local/cuda/bin:$PATH
  local have_sys=1 have_dnnl=1
  pkg-config --exists yaml-0.1 openblas 2>/dev/null || have_sys=0
  ls /usr/lib/*/cmake/dnnl/dnnl-config.cmake /usr/lib/cmake/dnnl/dnnl-config.cmake \
     /usr/local/lib/cmake/dnnl/dnnl-config.cmake >/dev/null 2>&1 || have_dnnl=0
  if [ -z "${FORCE_HOSTLIBS:-}" ] && [ "$have_sys" = 1 ] &&
     { [ "$have_dnnl" = 1 ] || [ ! -e "$ROOT/.gpu/hostlibs.tar.xz" ]; }; then
    [ "$have_dnnl" = 1 ] || DNNL=OFF
    say "host libraries: from the system (oneDNN: ${DNNL})"
    return
  fi
  [ -e "$ROOT/.gpu/hostlibs.tar.xz" ] ||
    die "libyaml/OpenBLAS/oneDNN are missing here and .gpu/hostlibs.tar.xz is absent: run \
scripts/gpu-pack.sh on a development machine and send .gpu along"
  # unpacked outside .gpu (into .hostlibs, ignored by git) so .gpu stays small enough to send
  PREFIX=$ROOT/.hostlibs/gpu-pack
  if [ ! -e "$PREFIX/.unpacked" ] || [ "$ROOT/.gpu/hostlibs.tar.xz" -nt "$PREFIX/.unpacked" ]; then
    rm -rf "$PREFIX"
    mkdir -p "$ROOT/.hostlibs"
    tar -C "$ROOT/.hostlibs" -xJf "$ROOT/.gpu/hostlibs.tar.xz"
    mv "$ROOT/.hostlibs/hostlibs" "$PREFIX"
    touch "$PREFIX/.unpacked"
  fi
  local libdir="" d
  for d in "$PREFIX"/lib/*-linux-gnu; do libdir=$d; break; done
  [ -d "$libdir" ] || die "$PREFIX has no lib/<arch>-linux-gnu folder"
  export PKG_CONFIG_PATH=$libdir/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
  export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  # the packed tmux, and terminfo entries for the terminals it offers, before the system's
  export PATH=$PREFIX/bin:$PATH
  export TERMINFO_DIRS=$PREFIX/share/terminfo:/etc/terminfo:/lib/terminfo:/usr/share/terminfo
  say "host libraries: from .gpu/hostlibs.tar.xz ($libdir)"
}

step_env() {
  {
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
         "($(git -C "$ROOT" status --porcelain 2>/dev/null | wc -l) files changed)"
    echo "host: $(uname -srm), $(nproc) CPUs"
    nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || true
    nvcc --version | tail -n 2
    echo "cuDNN: $CUDNN_LIBRARY"
    LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
"cudnn", torch.backends.cudnn.version())' 2>&1 || echo "torch: not importable"
  } > "$OUTDIR/env.txt"
  cat "$OUTDIR/env.txt" >> "$LOG"
  cat "$OUTDIR/env.txt"
}

# ---- build ----------------------------------------------------------------------------------
step_build() {
  local tui=OFF
  pkg-config --exists ncursesw 2>/dev/null && tui=ON
  local args=(-S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSHORTCUT_WITH_CUDA=ON
              -DSHORTCUT_WITH_TUI=$tui -DSHORTCUT_WITH_VIEWER=OFF -DSHORTCUT_WITH_DNNL="$DNNL"
              --no-warn-unused-cli)
  [ -n "$PREFIX" ] && args+=(-DCMAKE_PREFIX_PATH="$PREFIX")
  say "configure: cmake ${args[*]}"
  cmake "${args[@]}" > "$OUTDIR/build.txt" 2>&1 || { tail -n 40 "$OUTDIR/build.txt"; die "configure failed (see build.txt)"; }
  say "build: cmake --build $BUILD"
  local t0=$SECONDS
  cmake --build "$BUILD" -j"$(nproc)" >> "$OUTDIR/build.txt" 2>&1 ||
    { tail -n 60 "$OUTDIR/build.txt"; die "build failed (see build.txt)"; }
  say "built in $((SECONDS - t0)) s"
}

# ---- tests: the CUDA ones must run, not skip --------------------------------------------------
step_test() {
  [ -x "$BUILD/test_cuda_parity" ] || die "no build in $BUILD (run the build step)"
  local rc=0 t cmd a16
  : > "$OUTDIR/test.txt"
  # each CUDA test with 16-bit activations off (SHORTCUT_CUDA_ACT16=0), on (the default), and
  # on with 1x1 convolutions on cuBLAS (GEMM1X1: act16 and gemm1x1 as two digits, e.g. "11")
  local v g
  for v in ${TEST_VARIANTS:-00 10 11}; do
    a16=${v:0:1} g=${v:1:1}
    for t in "test_cuda_logic" "test_cuda_parity" "test_ops cuda" "test_batchnorm cuda"; do
      say "test: $t (SHORTCUT_CUDA_ACT16=$a16 SHORTCUT_CUDA_GEMM1X1=$g)"
      echo "== $t, SHORTCUT_CUDA_ACT16=$a16 SHORTCUT_CUDA_GEMM1X1=$g" >> "$OUTDIR/test.txt"
      read -r -a cmd <<< "$t"
      set +e
      (cd "$BUILD" && SHORTCUT_CUDA_ACT16=$a16 SHORTCUT_CUDA_GEMM1X1=$g \
         SHORTCUT_SOURCE_DIR=$ROOT ./"${cmd[0]}" "${cmd[@]:1}") >> "$OUTDIR/test.txt" 2>&1
      local r=$?
      set -e
      if [ "$r" = 77 ]; then
        say "test: $t SKIPPED on a GPU machine: the CUDA backend did not start (see test.txt)"
        rc=1
      elif [ "$r" != 0 ]; then
        say "test: $t FAILED (exit $r, SHORTCUT_CUDA_ACT16=$a16 SHORTCUT_CUDA_GEMM1X1=$g)"
        rc=1
      fi
    done
  done
  say "test: the whole unit suite"
  (cd "$BUILD" && ctest -L unit -j"$(nproc)" --output-on-failure) >> "$OUTDIR/test.txt" 2>&1 ||
    { say "test: ctest reported failures (see test.txt)"; rc=1; }
  grep -E "^== |passed, [0-9]+ failed|skipped|tests passed|one step" "$OUTDIR/test.txt" | tee -a "$LOG"
  return $rc
}

# ---- our throughput --------------------------------------------------------------------------
# model name -> config, overrides and batch in BARGS (the models of
# ../shared/bench/torch_reference.py; their parameter counts match)
bench_args() {
  case $1 in
    resnet20)  BARGS=(configs/resnet20.yaml --set model.shortcut=conv1x1 --batch 512) ;;
    resnet18)  BARGS=(configs/quick.yaml --set model.stem_width=64
                      --set "model.stages=[{blocks: 2, width: 64, stride: 1}, {blocks: 2, width: 128, stride: 2}, {blocks: 2, width: 256, stride: 2}, {blocks: 2, width: 512, stride: 2}]"
                      --batch 512) ;;
    wrn_16_4)  BARGS=(configs/wrn-28-10.yaml --set model.depth=16 --set model.width=4
                      --set model.shortcut=conv1x1 --batch 512) ;;
    wrn_28_10) BARGS=(configs/wrn-28-10.yaml --set model.shortcut=conv1x1 --batch 128) ;;
    *) die "unknown model $1" ;;
  esac
}

step_bench() {
  [ -x "$BUILD/shortcut" ] || die "no build in $BUILD (run the build step)"
  local models=${BENCH_MODELS:-resnet20,resnet18,wrn_16_4,wrn_28_10} m prec det a16 rc=0
  local precs=${BENCH_PRECISIONS:-fp32,bf16} dets="false true"
  [ "${BENCH_DETERMINISTIC:-1}" = 0 ] && dets=false
  : > "$OUTDIR/bench.txt"
  for m in ${models//,/ }; do
    for prec in ${precs//,/ }; do
      for det in $dets; do
        # 16-bit activations (SHORTCUT_CUDA_ACT16) only exist in 16-bit precisions
        for a16 in ${BENCH_ACT16:-0 1}; do
          # ... and so do 1x1 convolutions on cuBLAS (SHORTCUT_CUDA_GEMM1X1), on top of them
          for g in ${BENCH_GEMM1X1:-0}; do
            [ "$a16" = 1 ] && [ "$prec" = fp32 ] && continue
            [ "$g" = 1 ] && { [ "$a16" = 0 ] || [ "$prec" = fp32 ]; } && continue
            # the deterministic cost is measured once per model, in bf16
            [ "$det" = true ] && { [ "$prec" != bf16 ] || [ "$a16" = 1 ]; } && continue
            say "bench: $m precision=$prec deterministic=$det act16=$a16 gemm1x1=$g"
            bench_args "$m"
            if ! (cd "$ROOT" && SHORTCUT_CUDA_ACT16=$a16 SHORTCUT_CUDA_GEMM1X1=$g \
                    "$BUILD/shortcut" bench "${BARGS[@]}" \
                    --mode train --windows 5 --window-seconds 2 --set train.device=cuda \
                    --set train.precision=$prec --set train.deterministic=$det) \
                    > "$OUTDIR/bench.one" 2>&1; then
              tee -a "$LOG" < "$OUTDIR/bench.one"
              rc=1
            fi
            sed "s/^/model_name=$m precision=$prec deterministic=$det act16=$a16 gemm1x1=$g /" \
              "$OUTDIR/bench.one" | tee -a "$OUTDIR/bench.txt" >> "$LOG"
          done
        done
      done
    done
  done
  rm -f "$OUTDIR/bench.one"
  cat "$OUTDIR/bench.txt"
  return $rc
}

# ---- PyTorch on the same GPU -----------------------------------------------------------------
step_torch() {
  local script=""
  for s in "$ROOT/.gpu/bench/torch_reference_gpu.py" "$ROOT/../shared/bench/torch_reference_gpu.py"; do
    [ -e "$s" ] && { script=$s; break; }
  done
  [ -n "$script" ] || die "torch_reference_gpu.py not found (scripts/gpu-pack.sh copies it to .gpu/bench)"
  local args=(--models "${TORCH_MODELS:-resnet20,resnet18,wrn_16_4,wrn_28_10}")
  [ -n "${TORCH_VARIANTS:-}" ] && args+=(--variants "$TORCH_VARIANTS")
  say "torch: python3 $script ${args[*]}"
  : > "$OUTDIR/torch.one"
  LD_LIBRARY_PATH=$ORIG_LD_LIBRARY_PATH python3 "$script" "${args[@]}" 2>&1 |
    tee -a "$OUTDIR/torch.txt" "$OUTDIR/torch.one" >> "$LOG"
  local rc=${PIPESTATUS[0]}
  # the figures on standard output too, shortened: a device call may not bring every file back
  grep -o "^model=[^ ]* mode=[^ ]* variant=[^ ]*\|img_per_s=[0-9.]*" "$OUTDIR/torch.one" |
    paste - - || true
  rm -f "$OUTDIR/torch.one"
  return "$rc"
}

# ---- where the GPU time goes: every kernel of a window of training steps -------------------
# Nsight Compute times each kernel (one metric, so one pass per kernel) after skipping the
# warm-up's algorithm search; scripts/gpu-kernel-times.py sums them per kernel name.
step_profile() {
  [ -x "$BUILD/shortcut" ] || die "no build in $BUILD (run the build step)"
  command -v ncu >/dev/null 2>&1 || die "ncu (Nsight Compute) is not on PATH"
  local m=${PROFILE_MODEL:-resnet20} prec=${PROFILE_PRECISION:-bf16}
  local count=${PROFILE_KERNELS:-1500} skip=${PROFILE_SKIP:-10000}
  local csv=$OUTDIR/profile-$m-$prec.csv
  bench_args "$m"
  say "profile: $m precision=$prec, $count kernels after $skip"
  (cd "$ROOT" && ncu --csv --metrics gpu__time_duration.sum --launch-skip "$skip" \
       --launch-count "$count" --clock-control none \
       "$BUILD/shortcut" bench "${BARGS[@]}" --mode train --windows 2 --window-seconds 2 \
       --set train.device=cuda --set train.precision="$prec") > "$csv" 2>> "$LOG" ||
    die "ncu failed (see $LOG and $csv)"
  python3 "$ROOT/scripts/gpu-kernel-times.py" "$csv" | tee "$OUTDIR/profile-$m-$prec.txt" |
    tee -a "$LOG"
}

# ---- real data: CIFAR-10 carried in parts (scripts/gpu-pack.sh --cifar), then a training run --
DATA_ROOT=$ROOT/.hostdata
step_data() {
  local dst=$DATA_ROOT/cifar-10-batches-bin f missing=""
  mkdir -p "$dst"
  for f in "$ROOT"/.gpu-data/*/*; do   # linked, not moved: the parts stay as carried
    [ -e "$f" ] && { ln -f "$f" "$dst/" 2>/dev/null || cp -f "$f" "$dst/"; }
  done
  for f in data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin \
           data_batch_5.bin test_batch.bin; do
    [ -e "$dst/$f" ] || missing="$missing $f"
  done
  [ -z "$missing" ] || die "CIFAR-10 is incomplete in $dst, missing:$missing (carry the rest of \
.gpu-data from scripts/gpu-pack.sh --cifar to this warm machine, then run data again)"
  say "data: CIFAR-10 complete in $dst ($(du -sh "$dst" | cut -f1))"
}

step_train() {
  [ -x "$BUILD/shortcut" ] || die "no build in $BUILD (run the build step)"
  [ -e "$DATA_ROOT/cifar-10-batches-bin/data_batch_5.bin" ] || die "no CIFAR-10 yet (run the data step)"
  local cfg=${TRAIN_CONFIG:-configs/resnet20.yaml} args=() kv cap=()
  local run=$DATA_ROOT/run   # checkpoints stay here (too big to send back); metrics go to OUT
  # TRAIN_MAX_S: Ctrl-C (SIGINT) after that many seconds; the run saves at the next step, so a
  # recipe longer than one device call goes on in the next with TRAIN_RESUME=1
  [ -n "${TRAIN_MAX_S:-}" ] && cap=(timeout --preserve-status -s INT "$TRAIN_MAX_S")
  if [ -n "${TRAIN_RESUME:-}" ]; then
    [ -e "$run/state.safetensors" ] || die "TRAIN_RESUME: no run to resume in $run (a warm \
machine keeps it between calls; a fresh one has none)"
    say "train: resume $run"
    args=(--resume "$run")
  else
    for kv in ${TRAIN_SET:-}; do args+=(--set "$kv"); done
    say "train: $cfg ${TRAIN_SET:-}"
    rm -rf "$run"
    args=("$cfg" --set data.root="$DATA_ROOT" --set train.device=cuda "${args[@]}" --out "$run")
  fi
  set +e
  (cd "$ROOT" && ${cap[@]+"${cap[@]}"} "$BUILD/shortcut" train "${args[@]}") 2>&1 |
    tee "$OUTDIR/train.txt" | tee -a "$LOG"
  local rc=${PIPESTATUS[0]}
  set -e
  cp "$run/metrics.csv" "$OUTDIR/train-metrics.csv" 2>/dev/null || true
  # 130: stopped by TRAIN_MAX_S and saved; resumable, so not a failure
  if [ "$rc" = 130 ] && [ -n "${TRAIN_MAX_S:-}" ]; then
    say "train: stopped after ${TRAIN_MAX_S} s; go on with TRAIN_RESUME=1 on this warm machine"
    rc=0
  fi
  return "$rc"
}

# ---- the workbench on the GPU: its tmux end-to-end tests (device auto picks CUDA here) -------
step_tui() {
  [ -x "$BUILD/shortcut" ] || die "no build in $BUILD (run the build step)"
  command -v tmux >/dev/null 2>&1 || die "tmux is not on PATH (scripts/gpu-pack.sh packs one)"
  grep -q "SHORTCUT_WITH_TUI:BOOL=ON" "$BUILD/CMakeCache.txt" ||
    die "the build has no workbench: ncursesw was not found (scripts/gpu-pack.sh packs it)"
  say "tui: ctest -L tui (tmux $(tmux -V | cut -d' ' -f2))"
  local rc=0
  (cd "$BUILD" && ctest -L tui --output-on-failure) > "$OUTDIR/tui.txt" 2>&1 || rc=1
  grep -E "tests passed|Failed|Passed|Skipped" "$OUTDIR/tui.txt" | tee -a "$LOG"
  return $rc
}

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(all)
status=0
setup_env
for s in "${steps[@]}"; do
  case $s in
    all) step_env; step_build; step_test || status=1; step_bench || status=1 ;;
    env) step_env ;;
    build) step_build ;;
    test) step_test || status=1 ;;
    bench) step_bench || status=1 ;;
    torch) step_torch || status=1 ;;
    profile) step_profile ;;
    data) step_data ;;
    train) step_train || status=1 ;;
    tui) step_tui || status=1 ;;
    *) die "unknown step '$s' (env, build, test, bench, torch, profile, data, train, tui, all)" ;;
  esac
done
say "done (status $status); results in $OUTDIR"
exit $status
