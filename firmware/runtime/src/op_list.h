/* op_list.h — the operators the micro runtime registers: GENERATED from the runtime catalogue
 * (tinyfleet/runtimes.toml, runtime tinyfleet-mcu) and the TFLite schema's codes by
 * firmware/runtime/tools/gen_op_names.py. Do not edit: change the catalogue and regenerate.
 * ops.c names each table entry with TFRT_OP(NAME), so an operator missing here does not compile. */
#ifndef TFRT_OP_LIST_H
#define TFRT_OP_LIST_H

#define TFRT_OP_COUNT 22
#define TFRT_SUPPORTED_OPS "ADD,AVERAGE_POOL_2D,CONCATENATION,CONV_2D,DEPTHWISE_CONV_2D,DEQUANTIZE,EXPAND_DIMS,FULLY_CONNECTED,LOGISTIC,MAX_POOL_2D,MEAN,MUL,PACK,PAD,QUANTIZE,RELU,RELU6,RESHAPE,SHAPE,SOFTMAX,SQUEEZE,STRIDED_SLICE"

#define TFRT_BUILTIN_ADD               0
#define TFRT_BUILTIN_AVERAGE_POOL_2D   1
#define TFRT_BUILTIN_CONCATENATION     2
#define TFRT_BUILTIN_CONV_2D           3
#define TFRT_BUILTIN_DEPTHWISE_CONV_2D 4
#define TFRT_BUILTIN_DEQUANTIZE        6
#define TFRT_BUILTIN_EXPAND_DIMS       70
#define TFRT_BUILTIN_FULLY_CONNECTED   9
#define TFRT_BUILTIN_LOGISTIC          14
#define TFRT_BUILTIN_MAX_POOL_2D       17
#define TFRT_BUILTIN_MEAN              40
#define TFRT_BUILTIN_MUL               18
#define TFRT_BUILTIN_PACK              83
#define TFRT_BUILTIN_PAD               34
#define TFRT_BUILTIN_QUANTIZE          114
#define TFRT_BUILTIN_RELU              19
#define TFRT_BUILTIN_RELU6             21
#define TFRT_BUILTIN_RESHAPE           22
#define TFRT_BUILTIN_SHAPE             77
#define TFRT_BUILTIN_SOFTMAX           25
#define TFRT_BUILTIN_SQUEEZE           43
#define TFRT_BUILTIN_STRIDED_SLICE     45

/* BuiltinOperator code and name of an operator of the list, for a tfrt_op_reg initializer. */
#define TFRT_OP(name) TFRT_BUILTIN_##name, #name

#endif /* TFRT_OP_LIST_H */
