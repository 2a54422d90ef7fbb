/*
 * ops.c — the operator registry: builtin code, name, phases, input count, aliasing.
 * runtime/ops.txt lists the same names (tests keep the two in step).
 */
#include "kernels.h"

/* clang-format off */
const tfrt_op_reg tfrt_ops[K_COUNT] = {
    [K_CONV]          = {3,   "CONV_2D",           tfrt_conv_prepare,     tfrt_conv_init, tfrt_conv_eval,     2, 3, 0},
    [K_DWCONV]        = {4,   "DEPTHWISE_CONV_2D", tfrt_dwconv_prepare,   tfrt_conv_init, tfrt_dwconv_eval,   2, 3, 0},
    [K_FC]            = {9,   "FULLY_CONNECTED",   tfrt_fc_prepare,       tfrt_fc_init, tfrt_fc_eval,                2, 3, 0},
    [K_AVGPOOL]       = {1,   "AVERAGE_POOL_2D",   tfrt_avgpool_prepare,  NULL, tfrt_avgpool_eval,            1, 1, 0},
    [K_MAXPOOL]       = {17,  "MAX_POOL_2D",       tfrt_maxpool_prepare,  NULL, tfrt_maxpool_eval,            1, 1, 0},
    [K_ADD]           = {0,   "ADD",               tfrt_add_prepare,      NULL, tfrt_add_eval,                2, 2, 0},
    [K_MUL]           = {18,  "MUL",               tfrt_mul_prepare,      NULL, tfrt_mul_eval,                2, 2, 0},
    [K_PAD]           = {34,  "PAD",               tfrt_pad_prepare,      NULL, tfrt_pad_eval,                2, 2, 0},
    [K_MEAN]          = {40,  "MEAN",              tfrt_mean_prepare,     NULL, tfrt_mean_eval,               2, 2, 0},
    [K_CONCAT]        = {2,   "CONCATENATION",     tfrt_concat_prepare,   NULL, tfrt_concat_eval,             1, TFRT_MAX_OP_INPUTS, 0},
    [K_RESHAPE]       = {22,  "RESHAPE",           tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            1, 2, 1},
    [K_SQUEEZE]       = {43,  "SQUEEZE",           tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            1, 1, 1},
    [K_EXPAND_DIMS]   = {70,  "EXPAND_DIMS",       tfrt_reshape_prepare,  NULL, tfrt_reshape_eval,            2, 2, 1},
    [K_SOFTMAX]       = {25,  "SOFTMAX",           tfrt_softmax_prepare,  NULL, tfrt_softmax_eval,            1, 1, 0},
    [K_LOGISTIC]      = {14,  "LOGISTIC",          tfrt_logistic_prepare, NULL, tfrt_logistic_eval,           1, 1, 0},
    [K_QUANTIZE]      = {114, "QUANTIZE",          tfrt_quantize_prepare, NULL, tfrt_quantize_eval,           1, 1, 0},
    [K_DEQUANTIZE]    = {6,   "DEQUANTIZE",        tfrt_dequantize_prepare, NULL, tfrt_dequantize_eval,       1, 1, 0},
    [K_RELU]          = {19,  "RELU",              tfrt_relu_prepare,     NULL, tfrt_relu_eval,               1, 1, 0},
    [K_RELU6]         = {21,  "RELU6",             tfrt_relu_prepare,     NULL, tfrt_relu_eval,               1, 1, 0},
    [K_SHAPE]         = {77,  "SHAPE",             tfrt_shape_prepare,    NULL, tfrt_shape_eval,              1, 1, 0},
    [K_STRIDED_SLICE] = {45,  "STRIDED_SLICE",     tfrt_strided_slice_prepare, NULL, tfrt_strided_slice_eval, 4, 4, 0},
    [K_PACK]          = {83,  "PACK",              tfrt_pack_prepare,     NULL, tfrt_pack_eval,               1, TFRT_MAX_OP_INPUTS, 0},
};
/* clang-format on */

const char *tfrt_supported_ops(void) {
    return "ADD,AVERAGE_POOL_2D,CONCATENATION,CONV_2D,DEPTHWISE_CONV_2D,DEQUANTIZE,EXPAND_DIMS,"
           "FULLY_CONNECTED,LOGISTIC,MAX_POOL_2D,MEAN,MUL,PACK,PAD,QUANTIZE,RELU,RELU6,RESHAPE,"
           "SHAPE,SOFTMAX,SQUEEZE,STRIDED_SLICE";
}
