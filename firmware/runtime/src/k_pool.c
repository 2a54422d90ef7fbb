/*
 * k_pool.c — AVERAGE_POOL_2D and MAX_POOL_2D (int8, NHWC, input and output share quantization).
 * Only the window taps inside the input count; the average divides the int32 sum by that count
 * rounding half away from zero.
 * Pool2DOptions field ids: 0 padding, 1 stride_w, 2 stride_h, 3 filter_width, 4 filter_height,
 * 5 fused_activation_function.
 */
#include "kernels.h"

typedef struct {
    int32_t batches, in_h, in_w, ch, out_h, out_w, f_h, f_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} pool_params;

static void ref_pool(const pool_params *p, const int8_t *in, int8_t *out, int average) {
    for (int32_t b = 0; b < p->batches; b++)
        for (int32_t oy = 0; oy < p->out_h; oy++)
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t iy0 = oy * p->stride_h - p->pad_h;
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
                const int32_t fy1 = p->f_h < p->in_h - iy0 ? p->f_h : p->in_h - iy0;
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
                const int32_t fx1 = p->f_w < p->in_w - ix0 ? p->f_w : p->in_w - ix0;
                for (int32_t c = 0; c < p->ch; c++) {
                    int32_t acc = average ? 0 : -128, n = 0;
                    for (int32_t fy = fy0; fy < fy1; fy++)
                        for (int32_t fx = fx0; fx < fx1; fx++) {
                            int32_t v = in[(((int64_t)b * p->in_h + iy0 + fy) * p->in_w + ix0 +
                                            fx) * p->ch + c];
                            if (average) acc += v;
                            else if (v > acc) acc = v;
                            n++;
                        }
                    if (average) {
                        if (n == 0) n = 1; /* unreachable for validated shapes */
                        acc = acc > 0 ? (acc + n / 2) / n : (acc - n / 2) / n;
                    }
                    acc = acc < p->act_min ? p->act_min : acc;
                    acc = acc > p->act_max ? p->act_max : acc;
                    out[(((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->ch + c] = (int8_t)acc;
                }
            }
}

static tfrt_status pool_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    op->padding = fb_u8(c, opts, 0, 0);
    int32_t sw = fb_i32(c, opts, 1, 0), sh = fb_i32(c, opts, 2, 0);
    int32_t fw = fb_i32(c, opts, 3, 0), fh = fb_i32(c, opts, 4, 0);
    op->act = fb_u8(c, opts, 5, 0);
    if (sw < 1 || sh < 1 || fw < 1 || fh < 1 || sw > 32767 || sh > 32767 || fw > 256 ||
        fh > 256 || op->padding > 1)
        return TFRT_E_UNSUPPORTED_OP; /* fw * fh * 128 must fit the int32 sum */
    tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!tfrt_is_q8(x) || !tfrt_is_q8(y)) return TFRT_E_UNSUPPORTED_TYPE;
    if (x->scale != y->scale || x->zero_point != y->zero_point) return TFRT_E_UNSUPPORTED_TYPE;
    if (x->ndim != 4 || y->ndim != 4 || x->dims[0] != y->dims[0] || x->dims[3] != y->dims[3])
        return TFRT_E_SHAPE;
    int oh = tfrt_out_size(op->padding, x->dims[1], fh, sh, 1);
    int ow = tfrt_out_size(op->padding, x->dims[2], fw, sw, 1);
    if (oh != y->dims[1] || ow != y->dims[2]) return TFRT_E_SHAPE;
    op->stride_w = (int16_t)sw;
    op->stride_h = (int16_t)sh;
    op->filter_w = (int16_t)fw;
    op->filter_h = (int16_t)fh;
    op->pad_h = (int16_t)tfrt_pad_size(sh, 1, x->dims[1], fh, oh);
    op->pad_w = (int16_t)tfrt_pad_size(sw, 1, x->dims[2], fw, ow);
    return tfrt_act_range(op->act, y, &op->act_min, &op->act_max);
}

static tfrt_status pool_eval(tfrt_model *m, const tfrt_op *op, int average) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    pool_params p = {x->dims[0], x->dims[1], x->dims[2], x->dims[3], y->dims[1], y->dims[2],
                     op->filter_h, op->filter_w, op->stride_h, op->stride_w, op->pad_h, op->pad_w,
                     op->act_min, op->act_max};
    ref_pool(&p, tfrt_i8(x), tfrt_i8_mut(y), average);
    return TFRT_OK;
}

tfrt_status tfrt_avgpool_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    return pool_prepare(m, op, c, opts);
}
tfrt_status tfrt_maxpool_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    return pool_prepare(m, op, c, opts);
}
tfrt_status tfrt_avgpool_eval(tfrt_model *m, const tfrt_op *op) { return pool_eval(m, op, 1); }
tfrt_status tfrt_maxpool_eval(tfrt_model *m, const tfrt_op *op) { return pool_eval(m, op, 0); }
