/* The golden self-test a model on trial must pass before it can be confirmed. */
#include <string.h>

#include "tf_proto.h"
#include "tf_runner.h"

tf_status_t tf_selftest_run(const tf_runner_t *r, const tf_manifest_t *m, const uint8_t *golden, uint32_t *failed)
{
    uint32_t in_bytes = 0, out_bytes = 0;
    *failed = m->golden_count;
    if (memcmp(golden, "TFGV", 4) != 0 || tf_get_u16(golden + 4) != 1 || tf_get_u16(golden + 6) != m->golden_count ||
        tf_get_u32(golden + 8) != m->input_bytes || tf_get_u32(golden + 12) != m->output_bytes) {
        return TF_E_MANIFEST;
    }
    int8_t *in = r->input(r->ctx, &in_bytes);
    if (in == NULL || in_bytes != m->input_bytes) return TF_E_MODEL;
    const uint8_t *rec = golden + TF_GOLDEN_HEADER;
    for (uint32_t i = 0; i < m->golden_count; i++) {
        memcpy(in, rec, in_bytes);
        if (r->invoke(r->ctx) != TF_OK) {
            *failed = i;
            return TF_E_SELFTEST;
        }
        const int8_t *out = r->output(r->ctx, &out_bytes);
        if (out == NULL || out_bytes != m->output_bytes) return TF_E_MODEL;
        if (memcmp(out, rec + in_bytes, out_bytes) != 0) {
            *failed = i;
            return TF_E_SELFTEST;
        }
        rec += in_bytes + out_bytes;
    }
    return TF_OK;
}
