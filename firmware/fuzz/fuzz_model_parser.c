/* fuzz_model_parser.c — libFuzzer target: any byte string given to tfrt_load() is refused with an
 * error code or loads into a model that runs; never a crash, hang or out-of-bounds access
 * (built with ASan + UBSan by `make -C firmware host-fuzz`).
 *
 * Models that load are invoked only when their work is small (a valid but huge model is slow,
 * not wrong): at most 4M MACs and 4M pooling taps. */
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "tfrt.h"

#define MAX_WORK (4u * 1024u * 1024u)

static tfrt_model m;
static uint8_t arena[128 * 1024];

static uint64_t pool_taps(const tfrt_model *mm) {
    uint64_t taps = 0;
    for (uint32_t k = 0; k < mm->nops; k++) {
        const tfrt_op *op = &mm->ops[k];
        if (op->kind == K_AVGPOOL || op->kind == K_MAXPOOL)
            taps += (uint64_t)mm->tensors[op->out].bytes * (uint64_t)op->filter_w *
                    (uint64_t)op->filter_h;
    }
    return taps;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tfrt_status s = tfrt_load(&m, data, size, arena, sizeof arena);
    char name[40];
    (void)tfrt_unsupported_op(&m, name, sizeof name);
    (void)tfrt_status_str(s);
    if (s != TFRT_OK) {
        if (tfrt_invoke(&m) != TFRT_E_NOT_LOADED) __builtin_trap();
        return 0;
    }
    if (tfrt_macs(&m) > MAX_WORK || pool_taps(&m) > MAX_WORK) return 0;
    size_t n = 0;
    int8_t *in = tfrt_input(&m, &n);
    if (!in) __builtin_trap();
    for (size_t i = 0; i < n; i++) in[i] = (int8_t)(i * 131u + size);
    if (tfrt_invoke(&m) != TFRT_OK) __builtin_trap();
    int type = 0;
    const void *out = tfrt_output(&m, &n, &type);
    if (!out || (type != TFRT_INT8 && type != TFRT_FLOAT32 && type != TFRT_INT32)) __builtin_trap();
    return 0;
}
