/*
 * ops.c — the operator registry: builtin code, name, phases, input count, aliasing.
 * The operator list itself comes from the runtime catalogue (op_list.h, generated): an entry
 * whose name the catalogue lacks does not compile, and the table must have as many entries.
 */
#include "kernels.h"
#include "op_list.h"

_Static_assert(K_COUNT - 1 == TFRT_OP_COUNT, "tfrt_ops[] and the catalogue (op_list.h) differ in size");

/* clang-format off */
const tfrt_op_reg tfrt_ops[K_COUNT] = {
    [K_CONV]          = {TFRT_OP(CONV_2D),           tfrt_conv_prepare,     tfrt_conv_init, tfrt_conv_eval,     2, 3, 0},
    [K_DWCONV]        = {TFRT_OP(DEPTHWISE_CONV_2D), tfrt_dwconv_prepare,   tfrt_conv_init, tfrt_dwconv_eval,   2, 3, 0},
    [K_FC]            = {TFRT_OP(FULLY_CONNECTED),   tfrt_fc_prepare,       tfrt_fc_init, tfrt_fc_eval,                2, 3, 0},
    [K_AVGPOOL]       = {TFRT_OP(AVERAGE_POOL_2D),   tfrt_avgpool_prepare,  NULL, tfrt_avgpool_eval,            1, 1, 0},
    [K_MAXPOOL]       = {TFRT_OP(MAX_POOL_2D),       tfrt_maxpool_prepare,  NULL, tfrt_maxpool_eval,            1, 1, 0},
    [K_ADD]           = {TFRT_OP(ADD),               tfrt_add_prepare,      NULL, tfrt_add_eval,                2, 2, 0},
    [K_MUL]           = {TFRT_OP(MUL),               tfrt_mul_prepare,      NULL, tfrt_mul_eval,                2, 2, 0},
    [K_PAD]           = {TFRT_OP(PAD),               tfrt_pad_prepare,      NULL, tfrt_pad_eval,                2, 2, 0},
    [K_MEAN]          = {TFRT_OP(MEAN),              tfrt_mean_prepare,     NULL, tfrt_mean_eval,               2, 2, 0},
    [K_CONCAT]        = {TFRT_OP(CONCATENATION),     tfrt_concat_prepare,   NULL, tfrt_concat_eval,             1, TFRT_MAX_OP_INPUTS, 0},
    [K_RESHAPE]       = {TFRT_OP(RESHAPE),           tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            1, 2, 1},
    [K_SQUEEZE]       = {TFRT_OP(SQUEEZE),           tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            1, 1, 1},
    [K_EXPAND_DIMS]   = {TFRT_OP(EXPAND_DIMS),       tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            2, 2, 1},
    [K_SOFTMAX]       = {TFRT_OP(SOFTMAX),           tfrt_softmax_prepare,  NULL, tfrt_softmax_eval,            1, 1, 0},
    [K_LOGISTIC]      = {TFRT_OP(LOGISTIC),          tfrt_logistic_prepare, NULL, tfrt_logistic_eval,           1, 1, 0},
    [K_QUANTIZE]      = {TFRT_OP(QUANTIZE),          tfrt_quantize_prepare, NULL, tfrt_quantize_eval,           1, 1, 0},
    [K_DEQUANTIZE]    = {TFRT_OP(DEQUANTIZE),        tfrt_dequantize_prepare, NULL, tfrt_dequantize_eval,       1, 1, 0},
    [K_RELU]          = {TFRT_OP(RELU),              tfrt_relu_prepare,     NULL, tfrt_relu_eval,               1, 1, 0},
    [K_RELU6]         = {TFRT_OP(RELU6),             tfrt_relu_prepare,     NULL, tfrt_relu_eval,               1, 1, 0},
    [K_SHAPE]         = {TFRT_OP(SHAPE),             tfrt_shape_prepare,    NULL, tfrt_shape_eval,              1, 1, 0},
    [K_STRIDED_SLICE] = {TFRT_OP(STRIDED_SLICE),     tfrt_strided_slice_prepare, NULL, tfrt_strided_slice_eval, 4, 4, 0},
    [K_PACK]          = {TFRT_OP(PACK),              tfrt_pack_prepare,     NULL, tfrt_pack_eval,               1, TFRT_MAX_OP_INPUTS, 0},
};
/* clang-format on */

const char *tfrt_supported_ops(void) {
    return TFRT_SUPPORTED_OPS;
}
