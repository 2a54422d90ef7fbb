/*
 * k_mean.c — MEAN of int8 over constant axes (ReducerOptions field 0: keep_dims).
 *
 * Each output is the int32 sum of its input elements; the sum, less count * input_zp, is
 * requantized by in_scale / out_scale with the 1/count factor folded into the multiplier:
 * shift = min(floor(log2(count)), 32, 31 + out_shift), multiplier' = (multiplier << shift) /
 * count, out_shift' = out_shift - shift. TFLM takes this path even when input and output share
 * their quantization (checked against it), so there is no separate divide-by-count path.
 */
#include "kernels.h"

#define MAX_REDUCED (1 << 23) /* 2^23 * 255 fits an int32 sum */

static int clz64(uint64_t v) {
    int n = 0;
    while (n < 64 && !(v & (1ULL << 63))) {
        v <<= 1;
        n++;
    }
    return n;
}

tfrt_status tfrt_mean_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)fb_u8(c, opts, 0, 0); /* keep_dims: the output tensor's shape already says it */
    const tfrt_tensor *x = tfrt_in(m, op, 0), *ax = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    if (!x || !ax) return TFRT_E_FORMAT;
    if (!tfrt_is_q8(x) || !tfrt_is_q8(y)) return TFRT_E_UNSUPPORTED_TYPE;
    if (!ax->is_const || (ax->type != TFRT_INT32 && ax->type != 4)) return TFRT_E_UNSUPPORTED_OP;
    uint32_t mask = 0, naxes = tfrt_elems(ax);
    if (naxes > 16) return TFRT_E_SHAPE;
    for (uint32_t i = 0; i < naxes; i++) {
        int32_t a = tfrt_get_i32(ax, i);
        if (a < 0) a += x->ndim;
        if (a < 0 || a >= x->ndim) return TFRT_E_SHAPE;
        mask |= 1u << a;
    }
    uint32_t count = 1, kept = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (mask & (1u << d)) count *= (uint32_t)x->dims[d];
        else kept *= (uint32_t)x->dims[d];
    }
    if (kept != tfrt_elems(y)) return TFRT_E_SHAPE;
    if (count > MAX_REDUCED) return TFRT_E_LIMIT;
    op->misc[0] = (int32_t)mask;
    op->misc[1] = (int32_t)count;
    int32_t mult;
    int sh;
    if (tfrt_quantize_multiplier((double)x->scale / (double)y->scale, &mult, &sh) != 0)
        return TFRT_E_UNSUPPORTED_TYPE;
    int s = 63 - clz64(count);
    if (s > 32) s = 32;
    if (s > 31 + sh) s = 31 + sh;
    if (s < 0) s = 0;
    op->mult[0] = (int32_t)(((int64_t)mult << s) / (int64_t)count);
    op->shift[0] = sh - s;
    if (op->shift[0] < -31 || op->shift[0] > 30) return TFRT_E_UNSUPPORTED_TYPE;
    return TFRT_OK;
}

tfrt_status tfrt_mean_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *px = tfrt_i8(x);
    int8_t *py = tfrt_i8_mut(y);
    const uint32_t mask = (uint32_t)op->misc[0];
    const int32_t count = op->misc[1];
    const int nd = x->ndim;
    uint32_t stride[TFRT_MAX_DIMS];
    uint32_t s = 1;
    for (int d = nd - 1; d >= 0; d--) {
        stride[d] = s;
        s *= (uint32_t)x->dims[d];
    }
    int32_t ko[TFRT_MAX_DIMS] = {0}; /* odometer over kept dims */
    uint32_t nout = tfrt_elems(y);
    for (uint32_t o = 0; o < nout; o++) {
        uint32_t base = 0;
        for (int d = 0; d < nd; d++)
            if (!(mask & (1u << d))) base += (uint32_t)ko[d] * stride[d];
        int32_t ro[TFRT_MAX_DIMS] = {0}; /* odometer over reduced dims */
        int32_t sum = 0;
        for (int32_t k = 0; k < count; k++) {
            uint32_t off = base;
            for (int d = 0; d < nd; d++)
                if (mask & (1u << d)) off += (uint32_t)ro[d] * stride[d];
            sum += px[off];
            for (int d = nd - 1; d >= 0; d--) {
                if (!(mask & (1u << d))) continue;
                if (++ro[d] < x->dims[d]) break;
                ro[d] = 0;
            }
        }
        int32_t v = tfrt_wrap_add(tfrt_mbqm(sum - x->zero_point * count, op->mult[0], op->shift[0]),
                                  y->zero_point);
        py[o] = (int8_t)(v < -128 ? -128 : (v > 127 ? 127 : v));
        for (int d = nd - 1; d >= 0; d--) {
            if (mask & (1u << d)) continue;
            if (++ko[d] < x->dims[d]) break;
            ko[d] = 0;
        }
    }
    return TFRT_OK;
}
