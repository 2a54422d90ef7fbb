/* kernel_util.c — helpers shared by the kernels' prepare functions. */
#include <math.h>

#include "kernels.h"

uint32_t tfrt_elems(const tfrt_tensor *t) {
    uint32_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= (uint32_t)t->dims[i];
    return n;
}

int tfrt_same_shape(const tfrt_tensor *a, const tfrt_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int32_t tfrt_get_i32(const tfrt_tensor *t, uint32_t i) {
    if (t->type == 4) return (int32_t)tfrt_ld_i64(tfrt_bytes(t) + 8 * i); /* INT64 constant */
    return tfrt_ld_i32(tfrt_bytes(t) + 4 * i);
}

int tfrt_is_q8(const tfrt_tensor *t) {
    return t->type == TFRT_INT8 && t->nscales == 1 && t->scale > 0.0f && isfinite(t->scale);
}

float tfrt_scale_at(const tfrt_tensor *t, uint32_t i) {
    if (t->nscales <= 1 || !t->scales) return t->scale;
    return tfrt_ld_f32(t->scales + 4 * i);
}

int32_t tfrt_round_f32(float v) {
    float r = roundf(v);
    if (!(r > -1073741824.0f)) return -1073741824; /* also NaN */
    if (r > 1073741824.0f) return 1073741824;
    return (int32_t)r;
}

static int32_t quantize_f(float f, const tfrt_tensor *out) {
    return out->zero_point + tfrt_round_f32(f / out->scale);
}

tfrt_status tfrt_act_range(int act, const tfrt_tensor *out, int32_t *amin, int32_t *amax) {
    int32_t lo = -128, hi = 127;
    switch (act) {
    case 0: /* NONE */
        break;
    case 1: { /* RELU */
        int32_t z = quantize_f(0.0f, out);
        lo = z > lo ? z : lo;
        break;
    }
    case 2: { /* RELU_N1_TO_1 */
        int32_t a = quantize_f(-1.0f, out), b = quantize_f(1.0f, out);
        lo = a > lo ? a : lo;
        hi = b < hi ? b : hi;
        break;
    }
    case 3: { /* RELU6 */
        int32_t a = quantize_f(0.0f, out), b = quantize_f(6.0f, out);
        lo = a > lo ? a : lo;
        hi = b < hi ? b : hi;
        break;
    }
    default:
        return TFRT_E_UNSUPPORTED_OP;
    }
    *amin = lo;
    *amax = hi;
    return TFRT_OK;
}

int tfrt_out_size(int padding, int in, int filter, int stride, int dil) {
    int eff = (filter - 1) * dil + 1;
    if (stride <= 0) return 0;
    if (padding == 0) return (in + stride - 1) / stride;
    if (padding == 1) return (in + stride - eff) / stride;
    return 0;
}

int tfrt_pad_size(int stride, int dil, int in, int filter, int out) {
    int eff = (filter - 1) * dil + 1;
    int total = (out - 1) * stride + eff - in;
    return total > 0 ? total / 2 : 0;
}

uint32_t tfrt_persist(tfrt_model *m, uint32_t bytes) {
    uint32_t off = (uint32_t)m->arena_persistent;
    m->arena_persistent += (bytes + 3u) & ~3u;
    return off;
}

uint8_t *tfrt_persist_ptr(tfrt_model *m, uint32_t offset) {
    return m->base + m->persist_base + offset;
}

void tfrt_request_scratch(tfrt_model *m, uint32_t bytes) {
    size_t b = (bytes + 3u) & ~3u;
    if (b > m->scratch_bytes) m->scratch_bytes = b;
}

int16_t *tfrt_scratch(tfrt_model *m) {
    return (int16_t *)(void *)(m->base + m->persist_base + m->arena_persistent);
}
