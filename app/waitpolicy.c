/* waitpolicy.c — how long idle OpenMP threads spin before they sleep.
 *
 * libgomp's default spins about 3 ms (GOMP_SPINCOUNT 300000) after each parallel region before
 * a thread sleeps. shortcut always has other threads that need a core at the same moment: the
 * data loader building the next batch, the workbench redrawing, the viewer, and on a 2-core
 * laptop anything else the user runs. Spinning that long starved them (docs/BENCHMARKS.md:
 * ~165 against ~350 images/s with other work running). Never spinning (PASSIVE) costs a
 * wake-up of the sleeping thread at each of the ~300 parallel regions of a resnet20 step,
 * 45-55 us each on a virtual machine. A short spin of 1000 iterations (25-30 us on the Zen 5
 * development VM, measured with gaps of known length between regions) covers the
 * gaps between consecutive regions of one step without holding a core when the step waits
 * for something else. Measured with `shortcut train` on resnet20 (docs/BENCHMARKS.md, "OpenMP
 * wait policy"): +15% on an idle machine against PASSIVE, -8% with a busy process or a second
 * training beside it, where the default spin lost 28% (busy process) and far more (a second
 * training did not finish its 60 steps in minutes).
 *
 * libgomp reads these variables once, when it is loaded — before main() — so the only way to
 * set them for our own process is to re-execute ourselves once with them set. A user who sets
 * OMP_WAIT_POLICY or GOMP_SPINCOUNT (e.g. ACTIVE for a dedicated benchmark) keeps theirs. */
#include "cli.h"

#include <stdlib.h>
#include <unistd.h>

void cli_prefer_passive_wait(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GOMP_SPINCOUNT")) return;
    if (setenv("OMP_WAIT_POLICY", "PASSIVE", 1) != 0) return;
    /* GOMP_SPINCOUNT overrides the spin count PASSIVE implies (0) */
    if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
    execv("/proc/self/exe", argv);
    /* exec failed (no /proc): carry on with the default policy; nothing else changes. */
}
