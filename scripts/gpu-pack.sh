#!/usr/bin/env bash
# gpu-pack.sh — run on a development machine (Debian, packages from scripts/setup.sh) to pack
# what a GPU machine may lack into .gpu/ (ignored by git), for scripts/gpu-run.sh there:
#   .gpu/hostlibs.tar.xz   headers + shared libraries of libyaml, OpenBLAS (+ libgfortran,
#                          libquadmath), oneDNN (+ its CMake package) and the OpenCL loader
#                          oneDNN's package asks for, in a prefix laid out like /usr
#                          (include/, lib/x86_64-linux-gnu/{,pkgconfig,cmake/dnnl}); also
#                          ncursesw (the workbench) and tmux with its libraries and a few
#                          terminfo entries (bin/, share/terminfo), so `gpu-run.sh tui` can run
#                          the workbench's tmux tests on the GPU; about 8 MB compressed
#   .gpu/bench/            ../shared/bench/torch_reference{,_gpu}.py, PyTorch's figures
# Then send .gpu with the working tree (the device tool's `carry: [".gpu"]`) and run
# scripts/gpu-run.sh on the GPU machine. Libraries built for Debian 12 (glibc 2.36) load on any
# distribution with glibc 2.36 or newer.
#
#   scripts/gpu-pack.sh --cifar [DIR]   also split CIFAR-10 (DIR/cifar-10-batches-bin, default
#                                       $SHORTCUT_DATA, then ../shared/data) into
#                                       .gpu-data/{a,b,c}, each small enough to carry in one
#                                       call (a: batch 1 + test, b: 2-3, c: 4-5; ~31-62 MB);
#                                       carry them in three calls to one warm machine, then
#                                       run `scripts/gpu-run.sh data` there (docs/GPU.md)
set -euo pipefail
cd "$(dirname "$0")/.."
cifar=""
if [ "${1:-}" = --cifar ]; then
  cifar=${2:-${SHORTCUT_DATA:-../shared/data}}
  [ -e "$cifar/cifar-10-batches-bin/data_batch_1.bin" ] || {
    echo "gpu-pack: no CIFAR-10 in $cifar/cifar-10-batches-bin (run scripts/fetch-cifar.sh, or" \
         "name the folder that holds cifar-10-batches-bin)" >&2; exit 1; }
elif [ $# -gt 0 ]; then
  echo "gpu-pack: unknown argument '$1' (usage: scripts/gpu-pack.sh [--cifar [DIR]])" >&2
  exit 2
fi
arch=x86_64-linux-gnu
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
p=$stage/hostlibs
mkdir -p "$p/include" "$p/lib/$arch/pkgconfig" "$p/lib/$arch/cmake"

need() { [ -e "$1" ] || { echo "gpu-pack: $1 is missing (run scripts/setup.sh first)" >&2; exit 1; }; }

# libyaml
need /usr/include/yaml.h
cp /usr/include/yaml.h "$p/include/"
cp -P /usr/lib/$arch/libyaml*.so* "$p/lib/$arch/"
# OpenBLAS (the pthread flavour the build links), headers and its Fortran runtime
blas_lib=$(readlink -f /usr/lib/$arch/libopenblas.so.0)
need "$blas_lib"
cp "$blas_lib" "$p/lib/$arch/libopenblas.so.0"
ln -s libopenblas.so.0 "$p/lib/$arch/libopenblas.so"
for f in libgfortran.so.5 libquadmath.so.0; do
  need "/usr/lib/$arch/$f"
  cp -L "/usr/lib/$arch/$f" "$p/lib/$arch/"
done
blas_inc=$(pkg-config --variable=includedir openblas)
mkdir -p "$p/include/openblas"
cp -L "$blas_inc"/*.h "$p/include/openblas/"
# oneDNN: library, headers, CMake package (it computes its prefix from its own location, so the
# same depth below the prefix keeps it valid), and the OpenCL loader + headers it requires
dnnl_lib=$(readlink -f /usr/lib/$arch/libdnnl.so)
need "$dnnl_lib"
cp "$dnnl_lib" "$p/lib/$arch/"
ln -s "$(basename "$dnnl_lib")" "$p/lib/$arch/libdnnl.so.2"
ln -s libdnnl.so.2 "$p/lib/$arch/libdnnl.so"
cp -r /usr/include/oneapi "$p/include/"
cp /usr/include/dnnl*.h* "$p/include/" 2>/dev/null || true
cp -r /usr/lib/$arch/cmake/dnnl "$p/lib/$arch/cmake/"
need /usr/include/CL/cl.h
cp -r /usr/include/CL "$p/include/"
cp -L /usr/lib/$arch/libOpenCL.so.1 "$p/lib/$arch/"
ln -s libOpenCL.so.1 "$p/lib/$arch/libOpenCL.so"
# ncursesw for the workbench: headers, libraries, and a pkg-config file of our own (Debian's
# names /usr/lib in its Libs line)
need /usr/include/ncursesw/curses.h
for h in curses.h ncurses.h ncurses_dll.h term.h termcap.h unctrl.h eti.h; do
  cp -L "/usr/include/$h" "$p/include/"
done
cp -rL /usr/include/ncursesw "$p/include/"
for l in libncursesw.so.6 libtinfo.so.6; do
  cp -L "/usr/lib/$arch/$l" "$p/lib/$arch/" 2>/dev/null || cp -L "/lib/$arch/$l" "$p/lib/$arch/"
  ln -s "$l" "$p/lib/$arch/${l%.6}"
done
# shellcheck disable=SC2016
printf '%s\n' 'prefix=${pcfiledir}/../../..' "libdir=\${prefix}/lib/$arch" \
  'includedir=${prefix}/include' '' 'Name: ncursesw' 'Description: ncurses (packed by gpu-pack.sh)' \
  "Version: $(pkg-config --modversion ncursesw)" 'Libs: -L${libdir} -lncursesw -ltinfo' \
  'Cflags: -I${includedir} -D_DEFAULT_SOURCE -D_XOPEN_SOURCE=600' \
  > "$p/lib/$arch/pkgconfig/ncursesw.pc"
# tmux, which the workbench's end-to-end tests drive, and the terminfo entries they meet
tmux_bin=$(command -v tmux) || { echo "gpu-pack: tmux is missing (apt-get install tmux)" >&2; exit 1; }
mkdir -p "$p/bin" "$p/share/terminfo"
cp -L "$tmux_bin" "$p/bin/"
for l in $(ldd "$tmux_bin" | awk '/=> \// { print $3 }'); do
  case $(basename "$l") in
    libc.so*|libm.so*|libresolv.so*|libpthread.so*|libdl.so*) ;;   # glibc: the GPU machine's own
    *) [ -e "$p/lib/$arch/$(basename "$l")" ] || cp -L "$l" "$p/lib/$arch/" ;;
  esac
done
for t in s/screen s/screen-256color t/tmux t/tmux-256color x/xterm x/xterm-256color d/dumb; do
  for d in /lib/terminfo /usr/share/terminfo /etc/terminfo; do
    if [ -e "$d/$t" ]; then mkdir -p "$p/share/terminfo/${t%%/*}"; cp -L "$d/$t" "$p/share/terminfo/$t"; break; fi
  done
done

# pkg-config files relative to their own folder (${pcfiledir} is pkg-config's, not the shell's)
# shellcheck disable=SC2016
for pc in yaml-0.1 openblas; do
  src=$(pkg-config --path "$pc")
  sed -e 's|^prefix=.*|prefix=${pcfiledir}/../../..|' \
      -e "s|^libdir=.*|libdir=\${prefix}/lib/$arch|" \
      -e "s|^includedir=.*|includedir=\${prefix}/include$( [ "$pc" = openblas ] && echo /openblas)|" \
      "$src" > "$p/lib/$arch/pkgconfig/$pc.pc"
  grep -q '^prefix=' "$p/lib/$arch/pkgconfig/$pc.pc" ||
    sed -i '1i prefix=${pcfiledir}/../../..' "$p/lib/$arch/pkgconfig/$pc.pc"
done

mkdir -p .gpu
grep -qx '/.gpu/' .gitignore 2>/dev/null || grep -qx '/.gpu/' .git/info/exclude 2>/dev/null ||
  echo '/.gpu/' >> .git/info/exclude
tar -C "$stage" -cf - hostlibs | xz -T0 -6 > .gpu/hostlibs.tar.xz.tmp
mv .gpu/hostlibs.tar.xz.tmp .gpu/hostlibs.tar.xz
if [ -d ../shared/bench ]; then
  mkdir -p .gpu/bench
  cp ../shared/bench/torch_reference.py ../shared/bench/torch_reference_gpu.py .gpu/bench/
fi
du -sh .gpu/hostlibs.tar.xz .gpu/bench 2>/dev/null
if [ -n "$cifar" ]; then
  src=$cifar/cifar-10-batches-bin
  grep -qx '/.gpu-data/' .gitignore 2>/dev/null || grep -qx '/.gpu-data/' .git/info/exclude 2>/dev/null ||
    echo '/.gpu-data/' >> .git/info/exclude
  rm -rf .gpu-data
  mkdir -p .gpu-data/a .gpu-data/b .gpu-data/c
  cp "$src/data_batch_1.bin" "$src/test_batch.bin" "$src/batches.meta.txt" .gpu-data/a/
  cp "$src/data_batch_2.bin" "$src/data_batch_3.bin" .gpu-data/b/
  cp "$src/data_batch_4.bin" "$src/data_batch_5.bin" .gpu-data/c/
  du -sh .gpu-data/a .gpu-data/b .gpu-data/c
fi
