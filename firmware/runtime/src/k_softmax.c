/*
 * k_softmax.c — SOFTMAX and LOGISTIC, int8 in, int8 out with scale 1/256 and zero point -128.
 *
 * SOFTMAX (over the last dimension): differences to the row maximum are scaled by
 * beta * in_scale into Q5 (5 integer bits); differences below -radius contribute 0; exp() of
 * each in fixed point, summed in Q12, then each exp times the Q0 reciprocal of the sum,
 * divided down to 8 fractional bits. LOGISTIC: the input, offset-corrected and scaled into Q4,
 * gives 1/(1+exp(-|x|)) in Q0, mirrored for negative inputs; beyond +-radius it saturates.
 * SoftmaxOptions field 0: beta (float).
 */
#include <math.h>

#include "kernels.h"

#define SOFTMAX_DIFF_INT_BITS 5
#define SOFTMAX_ACC_INT_BITS 12
#define LOGISTIC_IN_INT_BITS 4

/* Largest |input| (in the rescaled domain) the fixed-point exp covers, as TFLM computes it. */
static int32_t input_radius(int int_bits, int left_shift) {
    double max_rescaled = 1.0 * (double)((1 << int_bits) - 1) *
                          (double)(1LL << (31 - int_bits)) / (double)(1LL << left_shift);
    return (int32_t)floor(max_rescaled);
}

static int is_prob_output(const tfrt_tensor *y) {
    return tfrt_is_q8(y) && y->zero_point == -128 && fabsf(y->scale - 1.0f / 256) < 1e-6f;
}

tfrt_status tfrt_softmax_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    float beta = fb_f32(c, opts, 0, 0.0f);
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!tfrt_is_q8(x) || !is_prob_output(y)) return TFRT_E_UNSUPPORTED_TYPE;
    if (!tfrt_same_shape(x, y) || x->ndim < 1) return TFRT_E_SHAPE;
    if (x->dims[x->ndim - 1] > 65536) return TFRT_E_LIMIT; /* the Q12 sum must not wrap */
    if (!(beta > 0.0f) || !isfinite(beta)) return TFRT_E_UNSUPPORTED_OP;
    double real = (double)beta * (double)x->scale * (double)(1 << (31 - SOFTMAX_DIFF_INT_BITS));
    if (real > (double)((1LL << 31) - 1)) real = (double)((1LL << 31) - 1);
    int sh = 0;
    if (tfrt_quantize_multiplier(real, &op->mult[0], &sh) != 0 || sh < 0)
        return TFRT_E_UNSUPPORTED_TYPE;
    op->shift[0] = sh;
    op->misc[0] = -input_radius(SOFTMAX_DIFF_INT_BITS, sh); /* diff_min */
    op->misc[1] = x->dims[x->ndim - 1];                      /* row length */
    return TFRT_OK;
}

static void ref_softmax(const int8_t *in, int8_t *out, uint32_t rows, int32_t depth, int32_t mult,
                        int32_t shift, int32_t diff_min) {
    for (uint32_t r = 0; r < rows; r++) {
        const int8_t *x = in + (uint64_t)r * (uint32_t)depth;
        int8_t *y = out + (uint64_t)r * (uint32_t)depth;
        int32_t maxv = -128;
        for (int32_t i = 0; i < depth; i++) maxv = x[i] > maxv ? x[i] : maxv;
        int32_t sum = 0; /* Q12 */
        for (int32_t i = 0; i < depth; i++) {
            int32_t diff = x[i] - maxv;
            if (diff >= diff_min) {
                int32_t scaled = tfrt_srdhm(diff * (1 << shift), mult); /* Q5 */
                int32_t e = tfrt_exp_on_negative_values(scaled, SOFTMAX_DIFF_INT_BITS);
                sum = tfrt_wrap_add(sum, tfrt_rdbpot(e, SOFTMAX_ACC_INT_BITS) /* Q0 -> Q12 */);
            }
        }
        /* reciprocal of the sum: normalise it into [1, 2) and invert 1 + x */
        int headroom_plus_one = tfrt_clz32((uint32_t)sum);
        int bits_over_unit = SOFTMAX_ACC_INT_BITS - headroom_plus_one;
        int32_t shifted_sum_minus_one =
            (int32_t)(((uint32_t)sum << headroom_plus_one) - ((uint32_t)1 << 31));
        int32_t scale = tfrt_one_over_one_plus_x(shifted_sum_minus_one);
        for (int32_t i = 0; i < depth; i++) {
            int32_t diff = x[i] - maxv;
            int32_t v = -128;
            if (diff >= diff_min) {
                int32_t scaled = tfrt_srdhm(diff * (1 << shift), mult);
                int32_t e = tfrt_exp_on_negative_values(scaled, SOFTMAX_DIFF_INT_BITS);
                int32_t u = tfrt_rdbpot(tfrt_srdhm(scale, e), bits_over_unit + 31 - 8);
                v = u - 128;
                v = v < -128 ? -128 : (v > 127 ? 127 : v);
            }
            y[i] = (int8_t)v;
        }
    }
}

tfrt_status tfrt_softmax_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    int32_t depth = op->misc[1];
    ref_softmax(tfrt_i8(x), tfrt_i8_mut(y), tfrt_elems(x) / (uint32_t)depth, depth, op->mult[0],
                op->shift[0], op->misc[0]);
    return TFRT_OK;
}

tfrt_status tfrt_logistic_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!tfrt_is_q8(x) || !is_prob_output(y)) return TFRT_E_UNSUPPORTED_TYPE;
    if (tfrt_elems(x) != tfrt_elems(y)) return TFRT_E_SHAPE;
    double real = (double)x->scale * (double)(1 << (31 - LOGISTIC_IN_INT_BITS));
    int sh = 0;
    double q = frexp(real, &sh);
    if (sh < 0 || sh > 30) return TFRT_E_UNSUPPORTED_TYPE;
    int64_t qm = (int64_t)round(q * (double)(1LL << 31));
    op->mult[0] = qm >= (1LL << 31) ? INT32_MIN : (int32_t)qm; /* TFLM keeps no carry here */
    op->shift[0] = sh;
    op->misc[0] = input_radius(LOGISTIC_IN_INT_BITS, sh);
    return TFRT_OK;
}

tfrt_status tfrt_logistic_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *px = tfrt_i8(x);
    int8_t *py = tfrt_i8_mut(y);
    const int32_t radius = op->misc[0];
    uint32_t n = tfrt_elems(y);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = px[i] - x->zero_point;
        int32_t out;
        if (v <= -radius) {
            out = -128;
        } else if (v >= radius) {
            out = 127;
        } else {
            int32_t q4 = tfrt_mbqm(v, op->mult[0], op->shift[0]);
            int32_t q0 = tfrt_logistic_q4(q4);
            out = tfrt_rdbpot(q0, 31 - 8) - 128;
            out = out < -128 ? -128 : (out > 127 ? 127 : out);
        }
        py[i] = (int8_t)out;
    }
    return TFRT_OK;
}
