#!/usr/bin/env bash
# gpu-find-cudnn.sh — print shell exports that point the build (cmake/FindCUDNN.cmake) and the
# dynamic loader at cuDNN 9, wherever this machine keeps it:
#   eval "$(scripts/gpu-find-cudnn.sh)"
# Looks, in order: CUDNN_INCLUDE_DIR / CUDNN_LIBRARY_DIR already set, the CUDA toolkit
# (/usr/local/cuda*), system folders, and PyTorch's pip wheel (python3 -c 'import nvidia.cudnn'),
# which is where GPU machines that have no cuDNN package keep it. CUDNN_FROM=torch skips straight
# to PyTorch's wheel (to compare a newer cuDNN with the system's: docs/GPU.md). Prints a failing
# command and exits 1 when nothing is found.
set -u

lib_in() {   # first libcudnn.so* in folder $1 (the unversioned name preferred)
  local d=$1
  [ -d "$d" ] || return 1
  if [ -e "$d/libcudnn.so" ]; then echo "$d/libcudnn.so"; return 0; fi
  local f
  for f in "$d"/libcudnn.so.[0-9]*; do   # sorted by the glob; the first is the shortest name
    [ -e "$f" ] && { echo "$f"; return 0; }
  done
  return 1
}

inc="" lib=""
if [ -n "${CUDNN_INCLUDE_DIR:-}" ] && [ -e "$CUDNN_INCLUDE_DIR/cudnn_version.h" ]; then
  inc=$CUDNN_INCLUDE_DIR
fi
if [ -n "${CUDNN_LIBRARY_DIR:-}" ]; then
  lib=$(lib_in "$CUDNN_LIBRARY_DIR") || lib=""
fi

if [ "${CUDNN_FROM:-}" != torch ] && { [ -z "$inc" ] || [ -z "$lib" ]; }; then
  for prefix in /usr/local/cuda /usr/local/cuda-* /usr /usr/local; do
    for i in "$prefix/include" "$prefix/include/x86_64-linux-gnu"; do
      if [ -z "$inc" ] && [ -e "$i/cudnn_version.h" ]; then inc=$i; fi
    done
    for l in "$prefix/lib" "$prefix/lib64" "$prefix/lib/x86_64-linux-gnu"; do
      if [ -z "$lib" ]; then lib=$(lib_in "$l") || lib=""; fi
    done
  done
fi

if [ -z "$inc" ] || [ -z "$lib" ]; then
  for py in python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    wheel=$("$py" -c 'import nvidia.cudnn as c, os; print(os.path.dirname(c.__file__) if c.__file__ else list(c.__path__)[0])' 2>/dev/null) || continue
    [ -n "$wheel" ] || continue
    if [ -z "$inc" ] && [ -e "$wheel/include/cudnn_version.h" ]; then inc=$wheel/include; fi
    if [ -z "$lib" ]; then lib=$(lib_in "$wheel/lib") || lib=""; fi
    [ -n "$inc" ] && [ -n "$lib" ] && break
  done
fi

if [ -z "$inc" ] || [ -z "$lib" ]; then
  echo "echo 'gpu-find-cudnn: no cuDNN found (header: ${inc:-none}, library: ${lib:-none}); install cuDNN 9 or PyTorch with its nvidia-cudnn wheel' >&2; false"
  exit 1
fi
libdir=$(dirname "$lib")
echo "export CUDNN_INCLUDE_DIR='$inc' CUDNN_LIBRARY_DIR='$libdir' CUDNN_LIBRARY='$lib'"
echo "export LD_LIBRARY_PATH='$libdir'\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
