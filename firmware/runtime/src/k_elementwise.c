/*
 * k_elementwise.c — ADD, MUL (int8, numpy-style broadcasting), QUANTIZE (int8 -> int8
 * requantization), DEQUANTIZE (int8 -> float32), RELU, RELU6.
 *
 * ADD follows the quantization spec: both inputs, offset-corrected and shifted left by 20 bits,
 * are rescaled to a common scale of twice the larger input scale, summed, then rescaled to the
 * output. MUL requantizes the product of the offset-corrected inputs by in1*in2/out.
 * AddOptions / MulOptions field 0: fused_activation_function.
 */
#include "kernels.h"

#define ADD_LEFT_SHIFT 20

/* Broadcast strides of `t` against output dims `od` (rank n): 0 where t has extent 1. */
static int bcast_strides(const tfrt_tensor *t, const int32_t *od, int n, uint32_t *st) {
    if (t->ndim > n) return 0;
    uint32_t s = 1;
    for (int i = n - 1; i >= 0; i--) {
        int ti = i - (n - t->ndim);
        int32_t d = ti >= 0 ? t->dims[ti] : 1;
        if (d != od[i] && d != 1) return 0;
        st[i] = d == 1 ? 0 : s;
        s *= (uint32_t)d;
    }
    return 1;
}

typedef struct {
    int32_t off1, off2, out_off, mult1, shift1, mult2, shift2, mult, shift, lo, hi;
} binary_params;

static inline int32_t clamp8(int32_t v, int32_t lo, int32_t hi) {
    return v < lo ? lo : (v > hi ? hi : v);
}

static inline int8_t add_one(const binary_params *p, int32_t a, int32_t b) {
    int32_t x1 = tfrt_mbqm((a + p->off1) * (1 << ADD_LEFT_SHIFT), p->mult1, p->shift1);
    int32_t x2 = tfrt_mbqm((b + p->off2) * (1 << ADD_LEFT_SHIFT), p->mult2, p->shift2);
    int32_t r = tfrt_wrap_add(tfrt_mbqm(x1 + x2, p->mult, p->shift), p->out_off);
    return (int8_t)clamp8(r, p->lo, p->hi);
}

static inline int8_t mul_one(const binary_params *p, int32_t a, int32_t b) {
    int32_t r = tfrt_wrap_add(tfrt_mbqm((a + p->off1) * (b + p->off2), p->mult, p->shift), p->out_off);
    return (int8_t)clamp8(r, p->lo, p->hi);
}

/* Walk the output in order; misc[0] = 1 when both inputs have the output's shape. */
static void binary_eval(tfrt_model *m, const tfrt_op *op, int is_add) {
    const tfrt_tensor *a = tfrt_in(m, op, 0), *b = tfrt_in(m, op, 1);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *pa = tfrt_i8(a), *pb = tfrt_i8(b);
    int8_t *py = tfrt_i8_mut(y);
    binary_params p = {-a->zero_point, -b->zero_point, y->zero_point, op->mult[0], op->shift[0],
                       op->mult[1], op->shift[1], op->mult[2], op->shift[2], op->act_min,
                       op->act_max};
    uint32_t n = tfrt_elems(y);
    if (op->misc[0]) {
        for (uint32_t i = 0; i < n; i++)
            py[i] = is_add ? add_one(&p, pa[i], pb[i]) : mul_one(&p, pa[i], pb[i]);
        return;
    }
    uint32_t sa[TFRT_MAX_DIMS], sb[TFRT_MAX_DIMS];
    int nd = y->ndim;
    bcast_strides(a, y->dims, nd, sa);
    bcast_strides(b, y->dims, nd, sb);
    int32_t idx[TFRT_MAX_DIMS] = {0};
    uint32_t ia = 0, ib = 0;
    for (uint32_t i = 0; i < n; i++) {
        py[i] = is_add ? add_one(&p, pa[ia], pb[ib]) : mul_one(&p, pa[ia], pb[ib]);
        for (int d = nd - 1; d >= 0; d--) { /* odometer step */
            ia += sa[d];
            ib += sb[d];
            if (++idx[d] < y->dims[d]) break;
            ia -= sa[d] * (uint32_t)y->dims[d];
            ib -= sb[d] * (uint32_t)y->dims[d];
            idx[d] = 0;
        }
    }
}

static tfrt_status binary_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    op->act = fb_u8(c, opts, 0, 0);
    const tfrt_tensor *a = tfrt_in(m, op, 0), *b = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    if (!a || !b) return TFRT_E_FORMAT;
    if (!tfrt_is_q8(a) || !tfrt_is_q8(b) || !tfrt_is_q8(y)) return TFRT_E_UNSUPPORTED_TYPE;
    uint32_t st[TFRT_MAX_DIMS];
    if (!bcast_strides(a, y->dims, y->ndim, st) || !bcast_strides(b, y->dims, y->ndim, st))
        return TFRT_E_SHAPE;
    op->misc[0] = tfrt_same_shape(a, y) && tfrt_same_shape(b, y);
    return tfrt_act_range(op->act, y, &op->act_min, &op->act_max);
}

static tfrt_status quant(double real, tfrt_op *op, int i) {
    int sh = 0;
    if (tfrt_quantize_multiplier(real, &op->mult[i], &sh) != 0) return TFRT_E_UNSUPPORTED_TYPE;
    op->shift[i] = sh;
    return TFRT_OK;
}

tfrt_status tfrt_add_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    tfrt_status s = binary_prepare(m, op, c, opts);
    if (s != TFRT_OK) return s;
    const tfrt_tensor *a = tfrt_in(m, op, 0), *b = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    double twice_max = 2.0 * (double)(a->scale > b->scale ? a->scale : b->scale);
    if ((s = quant((double)a->scale / twice_max, op, 0)) != TFRT_OK) return s;
    if ((s = quant((double)b->scale / twice_max, op, 1)) != TFRT_OK) return s;
    if ((s = quant(twice_max / ((double)(1 << ADD_LEFT_SHIFT) * (double)y->scale), op, 2)) !=
        TFRT_OK)
        return s;
    if (op->shift[0] > 0 || op->shift[1] > 0 || op->shift[2] > 0) return TFRT_E_UNSUPPORTED_TYPE;
    return TFRT_OK;
}

tfrt_status tfrt_mul_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    tfrt_status s = binary_prepare(m, op, c, opts);
    if (s != TFRT_OK) return s;
    const tfrt_tensor *a = tfrt_in(m, op, 0), *b = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    return quant((double)a->scale * (double)b->scale / (double)y->scale, op, 2);
}

tfrt_status tfrt_add_eval(tfrt_model *m, const tfrt_op *op) {
    binary_eval(m, op, 1);
    return TFRT_OK;
}

tfrt_status tfrt_mul_eval(tfrt_model *m, const tfrt_op *op) {
    binary_eval(m, op, 0);
    return TFRT_OK;
}

/* ---- QUANTIZE (int8 -> int8), DEQUANTIZE (int8 -> float32) ---- */

/* Element-wise unary op: int8 input; output int8 (per-tensor) or float32; same element count. */
static tfrt_status unary_check(tfrt_model *m, const tfrt_op *op, int float_out) {
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!tfrt_is_q8(x)) return TFRT_E_UNSUPPORTED_TYPE;
    if (float_out ? y->type != TFRT_FLOAT32 : !tfrt_is_q8(y)) return TFRT_E_UNSUPPORTED_TYPE;
    return tfrt_elems(x) == tfrt_elems(y) ? TFRT_OK : TFRT_E_SHAPE;
}

tfrt_status tfrt_quantize_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    tfrt_status st = unary_check(m, op, 0);
    if (st != TFRT_OK) return st;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    return quant((double)x->scale / (double)y->scale, op, 0);
}

tfrt_status tfrt_quantize_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *px = tfrt_i8(x);
    int8_t *py = tfrt_i8_mut(y);
    uint32_t n = tfrt_elems(y);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = tfrt_wrap_add(tfrt_mbqm(px[i] - x->zero_point, op->mult[0], op->shift[0]),
                                    y->zero_point);
        py[i] = (int8_t)clamp8(v, -128, 127);
    }
    return TFRT_OK;
}

tfrt_status tfrt_dequantize_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    return unary_check(m, op, 1);
}

tfrt_status tfrt_dequantize_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *px = tfrt_i8(x);
    float *py = (float *)(void *)y->data;
    const double scale = (double)x->scale;
    uint32_t n = tfrt_elems(y);
    for (uint32_t i = 0; i < n; i++) py[i] = (float)(scale * (double)(px[i] - x->zero_point));
    return TFRT_OK;
}

/* ---- RELU (requantizes input -> output scale), RELU6 (clamps, shared scale) ---- */

tfrt_status tfrt_relu_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    tfrt_status st = unary_check(m, op, 0);
    if (st != TFRT_OK) return st;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (op->kind == K_RELU6) {
        int32_t six = y->zero_point + tfrt_round_f32(6.0f / y->scale);
        op->act_min = y->zero_point;
        op->act_max = clamp8(six, -128, 127);
        return TFRT_OK;
    }
    int32_t zero = y->zero_point + tfrt_round_f32(0.0f / y->scale);
    op->act_min = zero > -128 ? zero : -128;
    op->act_max = 127;
    return quant((double)x->scale / (double)y->scale, op, 0);
}

tfrt_status tfrt_relu_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const int8_t *px = tfrt_i8(x);
    int8_t *py = tfrt_i8_mut(y);
    uint32_t n = tfrt_elems(y);
    for (uint32_t i = 0; i < n; i++) {
        int32_t v = px[i];
        if (op->kind == K_RELU)
            v = tfrt_wrap_add(y->zero_point, tfrt_mbqm(v - x->zero_point, op->mult[0], op->shift[0]));
        py[i] = (int8_t)clamp8(v, op->act_min, op->act_max);
    }
    return TFRT_OK;
}
