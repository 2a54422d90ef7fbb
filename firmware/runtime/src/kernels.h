/*
 * kernels.h — the operator registry and what every kernel file shares.
 *
 * Each operator has three phases, as in TFLM:
 *   prepare(m, op, opts)  at load: validates types and shapes, reads the options table,
 *                         precomputes per-tensor multipliers and declares persistent arena bytes;
 *   init(m, op)           after planning (optional): fills its persistent data in the arena
 *                         (per-channel multipliers);
 *   eval(m, op)           at invoke: calls a pure reference function over shapes and pointers.
 * All validation happens in prepare; eval trusts what prepare accepted.
 */
#ifndef TFRT_KERNELS_H
#define TFRT_KERNELS_H

#include "fb.h"
#include "qmath.h"
#include "tfrt.h"

enum {
    K_CONV = 1,
    K_DWCONV,
    K_FC,
    K_AVGPOOL,
    K_MAXPOOL,
    K_ADD,
    K_MUL,
    K_PAD,
    K_MEAN,
    K_CONCAT,
    K_RESHAPE,
    K_SQUEEZE,
    K_EXPAND_DIMS,
    K_SOFTMAX,
    K_LOGISTIC,
    K_QUANTIZE,
    K_DEQUANTIZE,
    K_RELU,
    K_RELU6,
    K_SHAPE,
    K_STRIDED_SLICE,
    K_PACK,
    K_COUNT
};

#define TFRT_NO_TENSOR 0xFF

typedef tfrt_status (*tfrt_prepare_fn)(tfrt_model *m, tfrt_op *op, fb_ctx *c,
                                       const fb_table *opts);
typedef tfrt_status (*tfrt_init_fn)(tfrt_model *m, tfrt_op *op);
typedef tfrt_status (*tfrt_eval_fn)(tfrt_model *m, const tfrt_op *op);

typedef struct {
    int32_t builtin;      /* BuiltinOperator code of the schema */
    const char *name;
    tfrt_prepare_fn prepare;
    tfrt_init_fn init;    /* NULL when nothing to fill after planning */
    tfrt_eval_fn eval;
    uint8_t min_inputs, max_inputs;
    uint8_t alias;        /* output may share its input 0's buffer (reshape family) */
} tfrt_op_reg;

extern const tfrt_op_reg tfrt_ops[K_COUNT];

/* ---- shared helpers (kernel_util.c) ---- */
static inline tfrt_tensor *tfrt_in(tfrt_model *m, const tfrt_op *op, int i) {
    return op->in[i] == TFRT_NO_TENSOR ? NULL : &m->tensors[op->in[i]];
}
static inline tfrt_tensor *tfrt_outt(tfrt_model *m, const tfrt_op *op) {
    return &m->tensors[op->out];
}
static inline const int8_t *tfrt_i8(const tfrt_tensor *t) {
    return t->cdata ? (const int8_t *)(const void *)t->cdata : (const int8_t *)(void *)t->data;
}
static inline int8_t *tfrt_i8_mut(tfrt_tensor *t) { return (int8_t *)(void *)t->data; }
static inline const uint8_t *tfrt_bytes(const tfrt_tensor *t) {
    return t->cdata ? t->cdata : t->data;
}

uint32_t tfrt_elems(const tfrt_tensor *t);
/* roundf(v) as int32, clamped to +-2^30 (a huge quotient of a tiny scale must not overflow). */
int32_t tfrt_round_f32(float v);
int tfrt_same_shape(const tfrt_tensor *a, const tfrt_tensor *b);
/* int32 element i of a tensor (constant or in the arena). */
int32_t tfrt_get_i32(const tfrt_tensor *t, uint32_t i);
/* Quantized activation range for a fused activation (schema ActivationFunctionType). */
tfrt_status tfrt_act_range(int act, const tfrt_tensor *out, int32_t *amin, int32_t *amax);
/* Output size and padding of a windowed op (TFLM's ComputeOutSize / padding rules). */
int tfrt_out_size(int padding, int in, int filter, int stride, int dil);
int tfrt_pad_size(int stride, int dil, int in, int filter, int out);
/* Per-tensor int8 activation: type int8, one scale, scale finite and > 0. */
int tfrt_is_q8(const tfrt_tensor *t);
/* Scale of channel i (per-tensor: the only one). */
float tfrt_scale_at(const tfrt_tensor *t, uint32_t i);
/* Persistent arena bytes: reserve `bytes`, returns the offset inside the persistent area. */
uint32_t tfrt_persist(tfrt_model *m, uint32_t bytes);
uint8_t *tfrt_persist_ptr(tfrt_model *m, uint32_t offset);
/* Scratch shared by all operators (used only during one eval): request at least `bytes`. */
void tfrt_request_scratch(tfrt_model *m, uint32_t bytes);
int16_t *tfrt_scratch(tfrt_model *m);

/* ---- prepare / init / eval of every operator ---- */
#define TFRT_DECLARE_OP(name)                                                               \
    tfrt_status name##_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts); \
    tfrt_status name##_eval(tfrt_model *m, const tfrt_op *op)

TFRT_DECLARE_OP(tfrt_conv);
TFRT_DECLARE_OP(tfrt_dwconv);
TFRT_DECLARE_OP(tfrt_fc);
TFRT_DECLARE_OP(tfrt_avgpool);
TFRT_DECLARE_OP(tfrt_maxpool);
TFRT_DECLARE_OP(tfrt_add);
TFRT_DECLARE_OP(tfrt_mul);
TFRT_DECLARE_OP(tfrt_pad);
TFRT_DECLARE_OP(tfrt_mean);
TFRT_DECLARE_OP(tfrt_concat);
TFRT_DECLARE_OP(tfrt_reshape);
TFRT_DECLARE_OP(tfrt_softmax);
TFRT_DECLARE_OP(tfrt_logistic);
TFRT_DECLARE_OP(tfrt_quantize);
TFRT_DECLARE_OP(tfrt_dequantize);
TFRT_DECLARE_OP(tfrt_relu);
TFRT_DECLARE_OP(tfrt_shape);
TFRT_DECLARE_OP(tfrt_strided_slice);
TFRT_DECLARE_OP(tfrt_pack);
tfrt_status tfrt_conv_init(tfrt_model *m, tfrt_op *op);
tfrt_status tfrt_fc_init(tfrt_model *m, tfrt_op *op);

#endif /* TFRT_KERNELS_H */
