#!/bin/sh
# run_xvfb.sh — run a test under a virtual X server (xvfb-run), for the viewer's window test.
# Exits 77 (ctest: skipped) with a message when xvfb-run is not installed.
if ! command -v xvfb-run >/dev/null 2>&1; then
  echo "skipped: xvfb-run not found (apt-get install xvfb xauth, or scripts/setup.sh)"
  exit 77
fi
exec xvfb-run -a -s "-screen 0 1280x1024x24 -nolisten tcp" "$@"
