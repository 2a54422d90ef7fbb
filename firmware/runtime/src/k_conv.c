/*
 * k_conv.c — CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED (int8, int32 bias).
 *
 * Accumulation: acc = bias[c] + sum(w * (x - input_zp)) over the taps inside the input (taps in
 * the padding are skipped). With |w| <= 127 and |x - zp| <= 255, each product is below 2^15, so
 * an int32 accumulator is exact for up to 2^16 taps per output; prepare refuses larger windows.
 * Requantization: per output channel (conv, depthwise; per-tensor weights use the one scale
 * for every channel), multiplier = in_scale * w_scale[c] / out_scale in double; the per-tensor
 * FULLY_CONNECTED path forms in_scale * w_scale in float first (as TFLM does).
 */
#include "kernels.h"
#include "ref_conv.h"

#define MAX_TAPS (1 << 16)
#define MAX_CHANNELS 65536

/* Options table field ids (schema): Conv2DOptions{0 padding, 1 stride_w, 2 stride_h,
 * 3 fused_activation_function, 4 dilation_w_factor, 5 dilation_h_factor};
 * DepthwiseConv2DOptions{0 padding, 1 stride_w, 2 stride_h, 3 depth_multiplier,
 * 4 fused_activation_function, 5 dilation_w_factor, 6 dilation_h_factor};
 * FullyConnectedOptions{0 fused_activation_function, 1 weights_format, 2 keep_num_dims}. */

static int in_i16(int32_t v) { return v >= 1 && v <= 32767; }

static tfrt_status check_bias(const tfrt_tensor *bias, int32_t channels) {
    if (!bias) return TFRT_OK;
    if (bias->type != TFRT_INT32) return TFRT_E_UNSUPPORTED_TYPE;
    if (!bias->is_const) return TFRT_E_UNSUPPORTED_OP;
    if (tfrt_elems(bias) != (uint32_t)channels) return TFRT_E_SHAPE;
    return TFRT_OK;
}

/* Shared part of CONV_2D and DEPTHWISE_CONV_2D prepare. */
static tfrt_status prepare_window(tfrt_model *m, tfrt_op *op, int depthwise) {
    tfrt_tensor *x = tfrt_in(m, op, 0), *w = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    if (!x || !w) return TFRT_E_FORMAT;
    if (!tfrt_is_q8(x) || !tfrt_is_q8(y) || w->type != TFRT_INT8 || w->nscales == 0)
        return TFRT_E_UNSUPPORTED_TYPE;
    if (!w->is_const) return TFRT_E_UNSUPPORTED_OP;
    if (x->ndim != 4 || w->ndim != 4 || y->ndim != 4) return TFRT_E_SHAPE;
    if (!in_i16(op->stride_w) || !in_i16(op->stride_h) || !in_i16(op->dil_w) ||
        !in_i16(op->dil_h) || op->padding > 1)
        return TFRT_E_UNSUPPORTED_OP;
    int32_t fh = w->dims[1], fw = w->dims[2];
    int32_t cin = x->dims[3], cout = y->dims[3];
    if (fh > 32767 || fw > 32767) return TFRT_E_LIMIT;
    if (depthwise) {
        if (w->dims[0] != 1 || w->dims[3] != cout) return TFRT_E_SHAPE;
        if (op->depth_mult < 1 || (int64_t)cin * op->depth_mult != cout) return TFRT_E_SHAPE;
        if ((int64_t)fh * fw > MAX_TAPS) return TFRT_E_LIMIT;
        if (w->nscales > 1 && (w->nscales != (uint32_t)cout || w->qdim != 3))
            return TFRT_E_UNSUPPORTED_TYPE;
    } else {
        if (w->dims[0] != cout || w->dims[3] != cin) return TFRT_E_SHAPE;
        if ((int64_t)fh * fw * cin > MAX_TAPS) return TFRT_E_LIMIT;
        if (w->nscales > 1 && (w->nscales != (uint32_t)cout || w->qdim != 0))
            return TFRT_E_UNSUPPORTED_TYPE;
    }
    if (cout > MAX_CHANNELS) return TFRT_E_LIMIT;
    if (y->dims[0] != x->dims[0]) return TFRT_E_SHAPE;
    int oh = tfrt_out_size(op->padding, x->dims[1], fh, op->stride_h, op->dil_h);
    int ow = tfrt_out_size(op->padding, x->dims[2], fw, op->stride_w, op->dil_w);
    if (oh != y->dims[1] || ow != y->dims[2]) return TFRT_E_SHAPE;
    op->pad_h = (int16_t)tfrt_pad_size(op->stride_h, op->dil_h, x->dims[1], fh, oh);
    op->pad_w = (int16_t)tfrt_pad_size(op->stride_w, op->dil_w, x->dims[2], fw, ow);
    op->filter_h = (int16_t)fh;
    op->filter_w = (int16_t)fw;
    tfrt_status s = check_bias(tfrt_in(m, op, 2), cout);
    if (s != TFRT_OK) return s;
    s = tfrt_act_range(op->act, y, &op->act_min, &op->act_max);
    if (s != TFRT_OK) return s;
    op->chan_offset = tfrt_persist(m, (uint32_t)cout * 5u);
    if (!depthwise) tfrt_request_scratch(m, (uint32_t)(fh * fw * cin) * 2u);
    uint64_t macs = (uint64_t)tfrt_elems(y) * (uint64_t)fh * (uint64_t)fw *
                    (uint64_t)(depthwise ? 1 : cin);
    uint64_t total = (uint64_t)m->macs + macs;
    m->macs = total > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)total;
    return TFRT_OK;
}

tfrt_status tfrt_conv_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    op->padding = fb_u8(c, opts, 0, 0);
    op->stride_w = (int16_t)fb_i32(c, opts, 1, 0);
    op->stride_h = (int16_t)fb_i32(c, opts, 2, 0);
    op->act = fb_u8(c, opts, 3, 0);
    int32_t dw = fb_i32(c, opts, 4, 1), dh = fb_i32(c, opts, 5, 1);
    int32_t sw = fb_i32(c, opts, 1, 0), sh = fb_i32(c, opts, 2, 0);
    if (!in_i16(sw) || !in_i16(sh) || !in_i16(dw) || !in_i16(dh)) return TFRT_E_UNSUPPORTED_OP;
    op->dil_w = (int16_t)dw;
    op->dil_h = (int16_t)dh;
    return prepare_window(m, op, 0);
}

tfrt_status tfrt_dwconv_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    op->padding = fb_u8(c, opts, 0, 0);
    int32_t sw = fb_i32(c, opts, 1, 0), sh = fb_i32(c, opts, 2, 0);
    int32_t dm = fb_i32(c, opts, 3, 0);
    op->act = fb_u8(c, opts, 4, 0);
    int32_t dw = fb_i32(c, opts, 5, 1), dh = fb_i32(c, opts, 6, 1);
    if (!in_i16(sw) || !in_i16(sh) || !in_i16(dw) || !in_i16(dh) || !in_i16(dm))
        return TFRT_E_UNSUPPORTED_OP;
    op->stride_w = (int16_t)sw;
    op->stride_h = (int16_t)sh;
    op->dil_w = (int16_t)dw;
    op->dil_h = (int16_t)dh;
    op->depth_mult = (int16_t)dm;
    return prepare_window(m, op, 1);
}

/* After planning: per-channel multipliers (int32) then shifts (int8) into the persistent area. */
tfrt_status tfrt_conv_init(tfrt_model *m, tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0), *w = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    int32_t cout = y->dims[y->ndim - 1];
    uint8_t *p = tfrt_persist_ptr(m, op->chan_offset);
    int32_t *mult = (int32_t *)(void *)p;
    int8_t *shift = (int8_t *)(mult + cout);
    for (int32_t ch = 0; ch < cout; ch++) {
        double ws = (double)tfrt_scale_at(w, w->nscales > 1 ? (uint32_t)ch : 0);
        double eff = (double)x->scale * ws / (double)y->scale;
        int sh = 0;
        if (tfrt_quantize_multiplier(eff, &mult[ch], &sh) != 0) return TFRT_E_UNSUPPORTED_TYPE;
        shift[ch] = (int8_t)sh; /* -31 .. 30 */
    }
    return TFRT_OK;
}

tfrt_status tfrt_fc_init(tfrt_model *m, tfrt_op *op) {
    return op->flags ? tfrt_conv_init(m, op) : TFRT_OK;
}

static tfrt_conv_params conv_params(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0), *w = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    const tfrt_tensor *b = tfrt_in(m, op, 2);
    tfrt_conv_params p;
    p.batches = x->dims[0];
    p.in_h = x->dims[1];
    p.in_w = x->dims[2];
    p.in_c = x->dims[3];
    p.out_h = y->dims[1];
    p.out_w = y->dims[2];
    p.out_c = y->dims[3];
    p.f_h = w->dims[1];
    p.f_w = w->dims[2];
    p.stride_h = op->stride_h;
    p.stride_w = op->stride_w;
    p.dil_h = op->dil_h;
    p.dil_w = op->dil_w;
    p.pad_h = op->pad_h;
    p.pad_w = op->pad_w;
    p.depth_mult = op->depth_mult;
    p.in_offset = -x->zero_point;
    p.out_offset = y->zero_point;
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    p.mult = (const int32_t *)(const void *)tfrt_persist_ptr(m, op->chan_offset);
    p.shift = (const int8_t *)(p.mult + p.out_c);
    p.bias = b ? b->cdata : NULL;
    p.scratch = tfrt_scratch(m);
    return p;
}

tfrt_status tfrt_conv_eval(tfrt_model *m, const tfrt_op *op) {
    tfrt_conv_params p = conv_params(m, op);
    tfrt_ref_conv(&p, tfrt_i8(tfrt_in(m, op, 0)), tfrt_i8(tfrt_in(m, op, 1)),
                  tfrt_i8_mut(tfrt_outt(m, op)));
    return TFRT_OK;
}

tfrt_status tfrt_dwconv_eval(tfrt_model *m, const tfrt_op *op) {
    tfrt_conv_params p = conv_params(m, op);
    tfrt_ref_dwconv(&p, tfrt_i8(tfrt_in(m, op, 0)), tfrt_i8(tfrt_in(m, op, 1)),
                    tfrt_i8_mut(tfrt_outt(m, op)));
    return TFRT_OK;
}

/* ---- FULLY_CONNECTED ---- */

tfrt_status tfrt_fc_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    op->act = fb_u8(c, opts, 0, 0);
    if (fb_u8(c, opts, 1, 0) != 0) return TFRT_E_UNSUPPORTED_OP; /* shuffled weights */
    tfrt_tensor *x = tfrt_in(m, op, 0), *w = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    if (!x || !w) return TFRT_E_FORMAT;
    if (!tfrt_is_q8(x) || !tfrt_is_q8(y) || w->type != TFRT_INT8 || w->nscales == 0)
        return TFRT_E_UNSUPPORTED_TYPE;
    if (!w->is_const) return TFRT_E_UNSUPPORTED_OP;
    if (w->ndim != 2) return TFRT_E_SHAPE;
    int32_t units = w->dims[0], depth = w->dims[1];
    if (units > MAX_CHANNELS) return TFRT_E_LIMIT;
    /* per-channel weights: one scale per unit (quantized dimension 0, checked at parse) */
    if (w->nscales > 1 && (w->nscales != (uint32_t)units || w->qdim != 0))
        return TFRT_E_UNSUPPORTED_TYPE;
    op->flags = w->nscales > 1;
    if (depth > MAX_TAPS / 2) return TFRT_E_LIMIT; /* (w - zp) * (x - zp) < 2^16 */
    uint32_t in_n = tfrt_elems(x), out_n = tfrt_elems(y);
    if (in_n % (uint32_t)depth) return TFRT_E_SHAPE;
    uint32_t batches = in_n / (uint32_t)depth;
    if (y->dims[y->ndim - 1] != units || out_n != batches * (uint32_t)units) return TFRT_E_SHAPE;
    tfrt_status s = check_bias(tfrt_in(m, op, 2), units);
    if (s != TFRT_OK) return s;
    s = tfrt_act_range(op->act, y, &op->act_min, &op->act_max);
    if (s != TFRT_OK) return s;
    tfrt_request_scratch(m, (uint32_t)depth * 2u);
    if (op->flags) {
        op->chan_offset = tfrt_persist(m, (uint32_t)units * 5u);
    } else {
        double eff = (double)(x->scale * w->scale) / (double)y->scale;
        int sh = 0;
        if (tfrt_quantize_multiplier(eff, &op->mult[0], &sh) != 0) return TFRT_E_UNSUPPORTED_TYPE;
        op->shift[0] = sh;
    }
    op->misc[0] = (int32_t)batches;
    uint64_t total = (uint64_t)m->macs + (uint64_t)out_n * (uint64_t)depth;
    m->macs = total > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)total;
    return TFRT_OK;
}

tfrt_status tfrt_fc_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0), *w = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    const tfrt_tensor *b = tfrt_in(m, op, 2);
    tfrt_fc_params p;
    p.batches = op->misc[0];
    p.units = w->dims[0];
    p.depth = w->dims[1];
    p.in_offset = -x->zero_point;
    p.w_offset = -w->zero_point;
    p.out_offset = y->zero_point;
    p.mult = op->mult[0];
    p.shift = op->shift[0];
    p.mult_pc = op->flags ? (const int32_t *)(const void *)tfrt_persist_ptr(m, op->chan_offset)
                          : NULL;
    p.shift_pc = p.mult_pc ? (const int8_t *)(p.mult_pc + p.units) : NULL;
    p.scratch = tfrt_scratch(m);
    p.act_min = op->act_min;
    p.act_max = op->act_max;
    p.bias = b ? b->cdata : NULL;
    tfrt_ref_fc(&p, tfrt_i8(x), tfrt_i8(w), tfrt_i8_mut(tfrt_outt(m, op)));
    return TFRT_OK;
}
