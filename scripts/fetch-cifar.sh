#!/usr/bin/env bash
# fetch-cifar.sh — download the official CIFAR-10 / CIFAR-100 binary archives, check their md5
# and unpack them where shortcut looks for data (./data by default).
#
#   scripts/fetch-cifar.sh [DIR [cifar10|cifar100|all]]
#
# Result: DIR/cifar-10-batches-bin/ and/or DIR/cifar-100-binary/. Point shortcut at DIR with
# data.root or $SHORTCUT_DATA (./data is found without either). Works with curl or wget.
# An archive already in DIR with the right md5 is not downloaded again; a dataset already
# unpacked is left alone.
#
# Not run by the tests: the machines this project is developed on have no internet access, so
# only its argument handling and its md5 check (on a local file:// archive) are exercised.
# $CIFAR_BASE_URL overrides the download location (a mirror, or file:// for that check).
set -euo pipefail

BASE_URL="${CIFAR_BASE_URL:-https://www.cs.toronto.edu/~kriz}"
C10_ARCHIVE="cifar-10-binary.tar.gz"
C10_MD5="c32a1d4ab5d03f1284b67883e8d87530"
C10_DIR="cifar-10-batches-bin"
C100_ARCHIVE="cifar-100-binary.tar.gz"
C100_MD5="03b5dce01913d631647c71ecec9e9cb8"
C100_DIR="cifar-100-binary"

usage() {
    cat <<EOF
usage: $0 [DIR [cifar10|cifar100|all]]

Downloads the official CIFAR binary archives from $BASE_URL,
checks their md5 and unpacks them into DIR (default: ./data).
Which: cifar10, cifar100 or all (default: all).
EOF
}

die() {
    echo "fetch-cifar: error: $*" >&2
    exit 1
}

case "${1:-}" in
    -h|--help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option '$1'" ;;
esac
[ "$#" -le 2 ] || { usage >&2; die "too many arguments"; }
dest="${1:-./data}"
which="${2:-all}"
case "$which" in
    cifar10|cifar100|all) ;;
    *) usage >&2; die "unknown dataset '$which' (valid: cifar10, cifar100, all)" ;;
esac
[ -n "$dest" ] || die "empty destination directory"

if command -v curl >/dev/null 2>&1; then
    fetch() { curl -fL --retry 3 --connect-timeout 30 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
    fetch() { wget -O "$2" "$1"; }
else
    die "neither curl nor wget is installed (Debian: apt-get install curl)"
fi

if command -v md5sum >/dev/null 2>&1; then
    md5_of() { md5sum "$1" | cut -d' ' -f1; }
elif command -v md5 >/dev/null 2>&1; then
    md5_of() { md5 -q "$1"; }
else
    die "neither md5sum nor md5 is installed (Debian: coreutils)"
fi
command -v tar >/dev/null 2>&1 || die "tar is not installed"

mkdir -p "$dest" || die "cannot create '$dest'"
[ -w "$dest" ] || die "'$dest' is not writable (pass another directory as the first argument)"

# get ARCHIVE MD5 DIR MARKER: download (unless a good copy is there), verify, unpack.
get() {
    local archive="$1" md5="$2" dir="$3" marker="$4"
    local path="$dest/$archive"
    if [ -f "$dest/$dir/$marker" ]; then
        echo "fetch-cifar: $dest/$dir already present, skipping"
        return 0
    fi
    if [ -f "$path" ] && [ "$(md5_of "$path")" = "$md5" ]; then
        echo "fetch-cifar: using the existing $path"
    else
        echo "fetch-cifar: downloading $BASE_URL/$archive"
        rm -f "$path.part"
        if ! fetch "$BASE_URL/$archive" "$path.part"; then
            rm -f "$path.part"
            die "download of $BASE_URL/$archive failed (no network? behind a proxy? set" \
                "https_proxy, or download it by hand into $dest and run this again)"
        fi
        local got
        got="$(md5_of "$path.part")"
        if [ "$got" != "$md5" ]; then
            rm -f "$path.part"
            die "$archive: md5 $got does not match the official $md5 (corrupt or" \
                "intercepted download); removed it, run this again"
        fi
        mv -f "$path.part" "$path" || die "cannot move $path.part to $path"
    fi
    echo "fetch-cifar: unpacking $path"
    tar -xzf "$path" -C "$dest" || die "cannot unpack $path (disk full?)"
    [ -f "$dest/$dir/$marker" ] || die "$path did not contain $dir/$marker"
    echo "fetch-cifar: $dest/$dir ready"
}

case "$which" in
    cifar10) get "$C10_ARCHIVE" "$C10_MD5" "$C10_DIR" "test_batch.bin" ;;
    cifar100) get "$C100_ARCHIVE" "$C100_MD5" "$C100_DIR" "test.bin" ;;
    all)
        get "$C10_ARCHIVE" "$C10_MD5" "$C10_DIR" "test_batch.bin"
        get "$C100_ARCHIVE" "$C100_MD5" "$C100_DIR" "test.bin" ;;
esac
echo "fetch-cifar: done; shortcut finds $dest if it is ./data, else set data.root: $dest or SHORTCUT_DATA=$dest"
