/* checkpoint.h — model weights and resume state <-> safetensors files.
 *
 * Two files per run, both written atomically (temp + fsync + rename, see fileio.h):
 *
 *  model.safetensors  every Param (weights, biases, BN running_mean/running_var) under its
 *                     PyTorch name with its PyTorch state_dict shape, F32, plus metadata: the
 *                     resolved config YAML under "config" and "shortcut" = "model v1". It loads in
 *                     PyTorch with `model.load_state_dict(safetensors.torch.load_file(path))`
 *                     (BatchNorm's num_batches_tracked is not stored; PyTorch fills it in).
 *  state.safetensors  the same weights, plus "<param>.momentum" for every trainable parameter
 *                     whose optimizer buffer exists, plus the caller's scalars (epoch, step, seed,
 *                     schedule position, ... as strings) and "shortcut" = "state v1". Weights are
 *                     repeated here on purpose: a resume that reads only this file is consistent
 *                     even if a crash fell between writing the two files.
 *
 * Shapes: a Tensor is always NCHW (tensor.h); on disk it has PyTorch's shape — see
 * checkpoint_param_shape(). Loading checks every parameter first (present, F32, right shape) and
 * uploads nothing unless all of them match, so a failed load leaves the model as it was. */
#ifndef SHORTCUT_CHECKPOINT_H
#define SHORTCUT_CHECKPOINT_H

#include <stdint.h>

#include "backend.h"
#include "model.h"
#include "safetensors.h"
#include "status.h"
#include "tensor.h"

#define CHECKPOINT_META_CONFIG "config"     /* resolved config YAML (model files) */
#define CHECKPOINT_META_KIND "shortcut"     /* "model v1" or "state v1" */
#define CHECKPOINT_KIND_MODEL "model v1"
#define CHECKPOINT_KIND_STATE "state v1"
#define CHECKPOINT_MOMENTUM_SUFFIX ".momentum"

/* PyTorch's state_dict shape of a parameter: conv weight (O, I, KH, KW) 4-D; linear weight
 * [out, in] 2-D; BN and bias vectors [C] 1-D. A (n, c, 1, 1) tensor with n > 1 is a 1x1 conv
 * weight when its module name (the part before ".weight") contains "conv", else a linear weight
 * (DESIGN.md names linear layers "fc"). Returns ndim (1, 2 or 4). */
int checkpoint_param_shape(const Param *p, int64_t shape[4]);

/* ---- generic: named backend tensors ---- */
typedef struct CheckpointItem {
    const char *name;
    Tensor *tensor;    /* allocated on the backend; F32, I32 or U8 */
    int ndim;          /* how the NCHW shape is stored: 4 (n,c,h,w), 2 (n, c*h*w), 1 (numel),
                        * 0 (scalar; numel must be 1) */
} CheckpointItem;

/* Download every item from `b` and write them with `meta` (may be NULL) to `path`. Streams one
 * tensor at a time, so host memory is one tensor's size, not the model's. */
Status checkpoint_save_tensors(const char *path, Backend *b, const CheckpointItem *items,
                               int count, const SafetensorsMeta *meta);

/* Check one tensor of an open file against an item (present, dtype of the item's tensor,
 * shape) without uploading. Messages name the file and the tensor. */
Status checkpoint_check_tensor(const Safetensors *st, const CheckpointItem *item);
/* checkpoint_check_tensor, then upload into item->tensor. */
Status checkpoint_read_tensor(const Safetensors *st, const CheckpointItem *item, Backend *b);

/* Load every item from `path` (all must be present with matching dtype and shape; checked
 * before anything is uploaded; tensors in the file that no item names are ignored). `meta_out`
 * (may be NULL) receives the file's metadata. */
Status checkpoint_load_tensors(const char *path, Backend *b, const CheckpointItem *items,
                               int count, SafetensorsMeta *meta_out);

/* ---- model weights ---- */

/* Write every Param of `m` to `path`. `meta` (may be NULL) is stored as well; put the resolved
 * config YAML under CHECKPOINT_META_CONFIG. */
Status checkpoint_save_model(const char *path, Model *m, Backend *b, const SafetensorsMeta *meta);

/* Load weights saved by checkpoint_save_model (or exported from PyTorch: extra
 * "*.num_batches_tracked" tensors are ignored). Every Param must be present with its shape; a
 * tensor the model does not have is an error too (like load_state_dict(strict=True)). On
 * success *config_out (may be NULL) gets a malloc'd copy of the stored config YAML, or NULL
 * when the file has none. */
Status checkpoint_load_model(const char *path, Model *m, Backend *b, char **config_out);

/* ---- resume state ---- */

/* Weights, momentum buffers (Param.momentum where allocated, trainable params only) and
 * `scalars` (may be NULL). Write numbers with safetensors_meta_setf: "%d", "%llu", and "%.17g"
 * for doubles so they read back bit-exactly. */
Status checkpoint_save_state(const char *path, Model *m, Backend *b,
                             const SafetensorsMeta *scalars);

/* Restore what checkpoint_save_state wrote into `m`: weights, and momentum buffers (allocated on
 * `b` with the parameter's shape when missing). Momentum is all or nothing: either every
 * trainable parameter has one in the file or none does; *momentum_loaded (may be NULL) says
 * which. With none, existing buffers are left as they are: the next SGD step must be a first
 * step (SgdParams.first_step). `scalars_out` (may be NULL) receives the metadata, including
 * CHECKPOINT_META_KIND. Everything is checked before anything is uploaded. */
Status checkpoint_load_state(const char *path, Model *m, Backend *b, SafetensorsMeta *scalars_out,
                             int *momentum_loaded);

/* ---- typed metadata reads; `origin` (the file) and the key are named in errors ---- */
Status checkpoint_meta_long(const SafetensorsMeta *meta, const char *origin, const char *key,
                            long long *out);
Status checkpoint_meta_u64(const SafetensorsMeta *meta, const char *origin, const char *key,
                           unsigned long long *out);
Status checkpoint_meta_double(const SafetensorsMeta *meta, const char *origin, const char *key,
                              double *out);

#endif
