/* waitpolicy.c — make OpenMP worker threads sleep instead of spin when they are idle.
 *
 * libgomp spins (burns a core) for a while after each parallel region by default. shortcut
 * always has other threads that need a core at the same moment: the data loader building the
 * next batch, the workbench redrawing, the viewer. Measured on the 2-core development machine
 * with other work running, resnet20 training went from ~165 to ~350 images/s with passive
 * waiting (docs/BENCHMARKS.md). libgomp reads OMP_WAIT_POLICY once, when it is loaded — before
 * main() — so the only way to set it for our own process is to re-execute ourselves once with it
 * set. A user who sets OMP_WAIT_POLICY (e.g. "active" for a dedicated benchmark) keeps theirs. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

void cli_prefer_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy; nothing else changes. */
}
