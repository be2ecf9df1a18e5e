/* model.h — a residual network as a list of layers over the backend op table.
 *
 * model_build() expands a ModelConfig (wrn, resnet_cifar, resnet, custom) into
 * stem -> stages of blocks -> head, creates PyTorch-named parameters with PyTorch's
 * initialization, and returns a Model that runs forward and backward through any Backend.
 * Activation and gradient buffers are allocated on the first pass for a batch shape and reused
 * after that (a larger batch grows them once). Parameter names and shapes match DESIGN.md:
 * stem.conv.weight, stages.<i>.<j>.conv1.weight, head.fc.bias, ... (conv OIHW, linear [out, in]).
 *
 * What each family expands to (the keys each reads match config.c's field scopes; every family
 * reads model.num_classes):
 *   wrn           preact blocks, stem conv3x3 16, stages of (depth-4)/6 blocks, widths
 *                 16k/32k/64k, strides 1/2/2, model.dropout between the convs, model.shortcut
 *                 (conv1x1: the paper's 1x1 conv on the pre-activated input; conv3x3: the
 *                 tutorial's BN-ReLU-conv3x3 on the raw input), BN-ReLU-avg-pool head, no bias.
 *   resnet_cifar  basic blocks, stem conv3x3 16 + BN + ReLU, (depth-2)/6 blocks per stage,
 *                 widths 16/32/64, strides 1/2/2, ReLU after the add, model.shortcut, avg head,
 *                 no bias.
 *   resnet        ImageNet layout, depth 18 or 34: stem conv7x7/2 64 + BN + ReLU + maxpool3x3/2,
 *                 widths 64..512, strides 1/2/2/2, conv1x1 + BN downsample (always), avg head,
 *                 model.conv_bias (a bias on every convolution, the downsample's included).
 *   custom        the config's stem_*, stages, block, shortcut, head, relu_after_add, conv_bias;
 *                 no dropout.
 * relu_after_add applies to basic blocks only (pre-activation blocks end with the add). */
#ifndef SHORTCUT_MODEL_H
#define SHORTCUT_MODEL_H

#include <stdint.h>

#include "backend.h"
#include "config.h"
#include "status.h"
#include "tensor.h"

#define PARAM_NAME_LEN 96

typedef enum ParamKind {
    PARAM_WEIGHT = 0,   /* trained: conv/linear weight, BN gamma */
    PARAM_BIAS,         /* trained: conv/linear bias, BN beta */
    PARAM_BUFFER,       /* not trained, but saved: BN running_mean / running_var */
} ParamKind;

typedef struct Param {
    char name[PARAM_NAME_LEN];
    ParamKind kind;
    Tensor value;       /* on the model's backend */
    Tensor grad;        /* same shape, allocated (zeroed) at build; unallocated for buffers */
    Tensor momentum;    /* optimizer state; allocated by the optimizer on first use */
} Param;

/* One row of the summary table (like torchinfo): a layer, its output shape, its own parameter
 * count and multiply-accumulates per image. Container rows ("stem", "stages.1", "stages.1.0",
 * "head") come before the layers they hold and carry the sums of those layers; summing only the
 * rows with container == 0 gives the model totals. */
typedef struct LayerInfo {
    char name[PARAM_NAME_LEN];   /* "stages.0.1.conv2" */
    char kind[24];               /* "Conv2d", "BatchNorm2d", "ReLU", "Add", "Linear", ...;
                                  * containers: "Stem", "Stage", "BasicBlock", "PreActBlock",
                                  * "Head" */
    int out_c, out_h, out_w;
    long long params;            /* trainable elements (BN buffers not counted) */
    long long macs;              /* per image: conv Cout*Ho*Wo*Cin*kh*kw, linear in*out */
    int depth;                   /* nesting level for indentation: stem/stage/head rows 0, their
                                  * layers and blocks 1, a block's layers 2 */
    int container;               /* 1: a group row (sums of the rows under it) */
} LayerInfo;

typedef struct Model Model;

/* Build and initialize. `in_side` is the input image side (32, or 224 when resized);
 * `num_classes` is used when mc->num_classes is 0. Weight init draws from
 * (seed, RNG_STREAM_INIT, per-parameter counters), so the same seed gives the same network on
 * every backend: conv weights Kaiming normal (fan_out, ReLU gain), conv biases and the linear
 * layer PyTorch's default uniform(+-1/sqrt(fan_in)), BN weight 1, bias 0, running mean 0, var 1.
 * Invalid architectures (a depth the family cannot have, an input too small for the stem's
 * downsampling) fail with ST_ERR_CONFIG and a message naming the key. `b` must outlive the
 * model. */
Status model_build(const ModelConfig *mc, int num_classes, int in_side, Backend *b,
                   unsigned long long seed, Model **out);
void model_destroy(Model *m);

/* Parameters (weights, biases and BN buffers) in a stable order: the order of DESIGN.md names,
 * which is also the order of a PyTorch state_dict of the same network (without BN's
 * num_batches_tracked). */
int model_param_count(const Model *m);
Param *model_param(Model *m, int i);
Param *model_find_param(Model *m, const char *name);
/* Trainable element count (what PyTorch's sum(p.numel() for p in parameters()) gives). */
long long model_num_trainable(const Model *m);
/* Bytes training needs, as this model plans its buffers: *per_image for each image of a batch
 * (the activation and gradient pools, the accumulation scratch, dropout masks, max-pool
 * indices, all fp32 but the masks), *fixed for the parameters, their gradients, the optimizer's
 * momentum and the batchnorm running statistics. A backend's own scratch and workspaces come
 * on top; 16-bit activations on a GPU take about half of the per-image part. */
void model_training_bytes(const Model *m, long long *per_image, long long *fixed);

/* Forward a batch x (N, 3, S, S) already on the backend. train = 1 uses batch statistics,
 * updates running stats and applies dropout with masks drawn from `dropout_seed` (each dropout
 * layer mixes in its own ordinal); train = 0 is inference. *logits (N, K, 1, 1) stays owned by
 * the model, valid until the next forward. x must stay unchanged until model_backward. */
Status model_forward(Model *m, const Tensor *x, int train, uint64_t dropout_seed,
                     const Tensor **logits);
/* Backward from dlogits (N, K, 1, 1) of the last train-mode forward; writes every trainable
 * parameter's grad (overwriting, not accumulating). */
Status model_backward(Model *m, const Tensor *dlogits);

/* Also compute d(loss)/d(input) in model_backward (off by default): for gradient checks and
 * saliency views. model_input_grad() is NULL until a backward ran with it on. */
void model_set_input_grad(Model *m, int on);
const Tensor *model_input_grad(const Model *m);

/* The layer table (rows owned by the model) and totals per image. */
int model_layers(const Model *m, const LayerInfo **rows);
long long model_total_macs(const Model *m);
int model_input_side(const Model *m);
int model_num_classes(const Model *m);
/* The family expanded to the explicit custom form the model was built from. */
const ModelConfig *model_expanded_config(const Model *m);
/* The layer table as aligned text (one line per row, then totals); malloc'd, NULL on OOM. */
char *model_summary(const Model *m);

/* Copy into `dst` every parameter of `src` whose name and shape match (architecture edits keep
 * what they can). Returns the number of parameters copied in *copied. The models may live on
 * different backends. */
Status model_copy_matching(Model *dst, Model *src, int *copied);

/* The first-layer (stem) convolution weight, for the viewer: (Cout, 3, K, K). */
const Param *model_stem_weight(const Model *m);

/* Release activation buffers (kept: parameters) — e.g. before an LR-finder copy. The next
 * forward allocates them again. */
void model_release_activations(Model *m);

#endif
