/* kernels_launch.cuh — how the backend's elementwise kernels are launched: blocks of 256
 * threads walking their range with a grid-stride loop, so any size works with a bounded grid. */
#ifndef SHORTCUT_KERNELS_LAUNCH_CUH
#define SHORTCUT_KERNELS_LAUNCH_CUH

#include <stddef.h>

namespace launch {

const int kThreads = 256;

/* Blocks for a grid-stride loop over n items: one item per thread, at least one block, at
 * most max_blocks. */
inline unsigned blocks_for(size_t n, unsigned max_blocks = 4096) {
    size_t b = (n + kThreads - 1) / kThreads;
    if (b == 0)
        b = 1;
    return b > max_blocks ? max_blocks : (unsigned)b;
}

}  // namespace launch

/* for (i over [0, n)) as a grid-stride loop of the current kernel */
#define GRID_STRIDE(i, n)                                                                        \
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n);                       \
         i += (size_t)gridDim.x * blockDim.x)

#endif
