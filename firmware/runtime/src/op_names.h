/* op_names.h — name of a TFLite BuiltinOperator code ("" when unknown). */
#ifndef TFRT_OP_NAMES_H
#define TFRT_OP_NAMES_H

#include <stdint.h>

const char *tfrt_builtin_name(int32_t code);

#endif /* TFRT_OP_NAMES_H */
