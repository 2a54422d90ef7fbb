/*
 * tf_runner.h — how the application runs a model, and the golden self-test.
 *
 * The application talks to the model runtime through this table so that the OTA and protocol
 * logic can be tested with a fake runtime. app_runner_tfrt.c implements it over tfrt.h (the
 * micro runtime); tests provide their own.
 */
#ifndef TF_RUNNER_H
#define TF_RUNNER_H

#include <stdint.h>

#include "tf_ota.h"
#include "tf_status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tf_runner {
    /* Load a model read in place (bytes stay owned by the caller). TF_OK or TF_E_MODEL. */
    tf_status_t (*load)(void *ctx, const uint8_t *model, uint32_t size);
    /* The int8 input buffer and its size; NULL when nothing is loaded. */
    int8_t *(*input)(void *ctx, uint32_t *bytes);
    /* Run one inference on the current input. TF_OK or TF_E_INFER. */
    tf_status_t (*invoke)(void *ctx);
    /* The int8 output and its size; NULL when nothing is loaded. */
    const int8_t *(*output)(void *ctx, uint32_t *bytes);
    /* Quantization of the output (for the EEMBC `results%` scores). */
    void (*output_quant)(void *ctx, float *scale, int32_t *zero_point);
    /* Quantization of the input (the EEMBC AD benchmark sends float32 and the device quantizes). */
    void (*input_quant)(void *ctx, float *scale, int32_t *zero_point);
    /* The arena bytes the loaded model leaves free (after its activations, per-channel data and
     * scratch): the application stages the model input there. NULL and 0 when nothing is loaded. */
    int8_t *(*staging)(void *ctx, uint32_t *bytes);
    /* Arena bytes the loaded model uses, and the arena the board has. */
    uint32_t (*arena_used)(void *ctx);
    uint32_t arena_size;
    void *ctx;
} tf_runner_t;

/* The runner over the micro runtime (app_runner_tfrt.c). */
const tf_runner_t *tf_runner_tfrt(void);

/* Golden self-test (docs/architecture.md, "Golden vectors"): run every record of `golden`
 * through the loaded model and require every output byte to equal the expected one (the micro
 * runtime is bit-exact with TFLM: tolerance 0, so the arg-max agrees too). Checks that the
 * golden header and the model's input/output sizes match the manifest. On failure, *failed is
 * the index of the first failing record (or golden_count for a header/size mismatch). */
tf_status_t tf_selftest_run(const tf_runner_t *r, const tf_manifest_t *m, const uint8_t *golden, uint32_t *failed);

#ifdef __cplusplus
}
#endif

#endif /* TF_RUNNER_H */
