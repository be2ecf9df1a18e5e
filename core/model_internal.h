/* model_internal.h — the Model struct shared by model_build.c (construction), model.c
 * (execution) and model_summary.c (the table). Not part of the public interface.
 *
 * A model is a flat list of layers in execution order over a list of values. Value 0 is the
 * input image batch, the last value is the logits. Each value has a per-image shape, an
 * activation buffer and, for backward, a gradient buffer. Both are slots in pools planned at
 * build time from the values' lifetimes: an activation that some backward reads keeps its
 * buffer to the end, one that none reads only until its last consumer; an in-place ReLU shares
 * its input's; gradients live from their last consumer's backward to their producer's. A
 * pool buffer is reserved for its largest user and reshaped before each write. */
#ifndef SHORTCUT_MODEL_INTERNAL_H
#define SHORTCUT_MODEL_INTERNAL_H

#include "model.h"

typedef enum LayerKind {
    LK_CONV = 0,
    LK_BN,
    LK_RELU,
    LK_MAXPOOL,
    LK_AVGPOOL,
    LK_DROPOUT,     /* per element or, with per_channel, per (n, c) plane */
    LK_ADD,
    LK_PAD,         /* He et al. option A shortcut */
    LK_LINEAR,
} LayerKind;

typedef struct Layer {
    LayerKind kind;
    char name[PARAM_NAME_LEN];
    int in, in2, out;         /* value indices; in2 only for LK_ADD (else -1) */
    int accum, accum2;        /* backward adds into the input's gradient (another consumer
                               * later in execution order already wrote it) */
    int p[4];                 /* param indices: conv/linear {weight, bias or -1};
                               * BN {weight, bias, running_mean, running_var} */
    ConvDesc conv;
    PoolDesc pool;
    float drop_p;
    int per_channel;
    int drop_ordinal;         /* mixed into the dropout seed: every dropout layer differs */
    int stride;               /* LK_PAD */
    int fuse_relu;            /* LK_BN: the next layer is its only consumer, a relu, and both
                               * run as one fused op (BackendOps.batchnorm_relu_*) */
    int fuse_add_relu;        /* LK_BN: the add and relu after it run inside it, one fused op
                               * (BackendOps.batchnorm_add_relu_*): the batchnorm's output
                               * feeds only the add, the add's only the relu */
    int residual;             /* LK_BN with fuse_add_relu: the add's other input (value) */
    int dy2_scratch;          /* LK_BN with fuse_add_relu: the last part of the gradient at the
                               * relu's output waits in Model.scratch (see defer_sum) */
    int defer_sum;            /* the input's gradient part this layer computes is left in
                               * Model.scratch for the fused op that runs next in backward and
                               * produced that input, instead of accumulated */
    int fused;                /* LK_RELU, LK_ADD: run inside the batchnorm before them */
    int stage, block;         /* -1 for the stem, -2 for the head; block -1 outside blocks */
    Tensor save_mean, save_invstd;   /* BN, (1, C, 1, 1) */
    Tensor mask;                     /* dropout, U8, shape of the input */
    Tensor idx;                      /* max pooling, I32, shape of the output */
} Layer;

typedef struct Value {
    int c, h, w;              /* per image */
    int producer;             /* layer index; -1 for the input */
    int last_consumer;        /* layer index; -1 for the logits */
    int act;                  /* index into Model.acts; -1 for the input */
    int grad;                 /* index into Model.grads; -1 for the input and the logits */
} Value;

struct Model {
    Backend *b;
    ModelConfig cfg;          /* expanded to the custom form */
    int in_side;
    int num_classes;

    Param *params;
    int n_params, cap_params;

    Layer *layers;
    int n_layers, cap_layers;
    int n_dropout;

    Value *values;
    int n_values, cap_values;

    Tensor *acts;             /* the activation buffer pool */
    long long *act_numel;     /* per image, the largest value each pool buffer serves */
    int n_acts;
    Tensor *grads;            /* the gradient buffer pool */
    long long *grad_numel;    /* per image, the largest value each pool buffer serves */
    int n_grads;
    Tensor scratch;           /* a second gradient for inputs that need accumulation */
    long long scratch_numel;  /* per image */

    Tensor x;                 /* view of the last forward's input (not owned) */
    Tensor input_grad;
    int want_input_grad, have_input_grad;
    int last_n, last_train;   /* last forward; last_n 0 when there was none */

    LayerInfo *rows;
    int n_rows;
    long long total_macs;
};

/* model_summary.c: builds m->rows from the layers (called at the end of model_build). */
Status model_rows_build(Model *m);

#endif
