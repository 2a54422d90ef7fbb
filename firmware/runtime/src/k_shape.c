/*
 * k_shape.c — operators that move bytes without arithmetic: RESHAPE, SQUEEZE, EXPAND_DIMS
 * (the planner lets their output share the input buffer), PAD, CONCATENATION, PACK,
 * STRIDED_SLICE, SHAPE. They work on int8 and int32 tensors alike (element size 1 or 4).
 * Options field ids: ConcatenationOptions{0 axis, 1 fused_activation_function};
 * PackOptions{0 values_count, 1 axis}; StridedSliceOptions{0 begin_mask, 1 end_mask,
 * 2 ellipsis_mask, 3 new_axis_mask, 4 shrink_axis_mask, 5 offset}; ShapeOptions{0 out_type}.
 */
#include <string.h>

#include "kernels.h"

static uint32_t esize(const tfrt_tensor *t) { return t->type == TFRT_INT8 ? 1u : 4u; }

static int same_quant(const tfrt_tensor *a, const tfrt_tensor *b) {
    if (a->type != b->type) return 0;
    if (a->type != TFRT_INT8) return 1;
    return a->scale == b->scale && a->zero_point == b->zero_point;
}

static int movable_type(const tfrt_tensor *t) {
    return t->type == TFRT_INT8 || t->type == TFRT_INT32 || t->type == TFRT_FLOAT32;
}

/* ---- RESHAPE / SQUEEZE / EXPAND_DIMS ---- */

tfrt_status tfrt_reshape_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!x) return TFRT_E_FORMAT;
    if (x->type != y->type || !movable_type(x)) return TFRT_E_UNSUPPORTED_TYPE;
    if (tfrt_elems(x) != tfrt_elems(y)) return TFRT_E_SHAPE;
    return TFRT_OK;
}

tfrt_status tfrt_reshape_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    const uint8_t *src = tfrt_bytes(x);
    if (src != y->data) memmove(y->data, src, y->bytes);
    return TFRT_OK;
}

/* ---- PAD (int8: pads with the output zero point) ---- */

tfrt_status tfrt_pad_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    (void)c;
    (void)opts;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *p = tfrt_in(m, op, 1), *y = tfrt_outt(m, op);
    if (!x || !p) return TFRT_E_FORMAT;
    if (!same_quant(x, y) || !movable_type(x)) return TFRT_E_UNSUPPORTED_TYPE;
    if (!p->is_const || (p->type != TFRT_INT32 && p->type != 4)) return TFRT_E_UNSUPPORTED_OP;
    if (x->ndim != y->ndim || tfrt_elems(p) != 2u * x->ndim) return TFRT_E_SHAPE;
    for (int d = 0; d < x->ndim; d++) {
        int32_t before = tfrt_get_i32(p, 2u * (uint32_t)d), after = tfrt_get_i32(p, 2u * d + 1);
        if (before < 0 || after < 0 || (int64_t)x->dims[d] + before + after != y->dims[d])
            return TFRT_E_SHAPE;
    }
    return TFRT_OK;
}

tfrt_status tfrt_pad_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0), *p = tfrt_in(m, op, 1);
    tfrt_tensor *y = tfrt_outt(m, op);
    const uint32_t es = esize(y), nd = y->ndim;
    const uint8_t *src = tfrt_bytes(x);
    uint8_t *dst = y->data;
    if (y->type == TFRT_INT8) memset(dst, (uint8_t)(int8_t)y->zero_point, y->bytes);
    else memset(dst, 0, y->bytes);
    /* copy input rows (innermost dimension) to their padded place */
    int32_t before[TFRT_MAX_DIMS], idx[TFRT_MAX_DIMS] = {0};
    for (uint32_t d = 0; d < nd; d++) before[d] = tfrt_get_i32(p, 2 * d);
    uint32_t row = (uint32_t)x->dims[nd - 1] * es;
    uint32_t rows = tfrt_elems(x) / (uint32_t)x->dims[nd - 1];
    for (uint32_t r = 0; r < rows; r++) {
        uint64_t o = 0;
        for (uint32_t d = 0; d < nd; d++) o = o * (uint32_t)y->dims[d] + (uint32_t)(idx[d] + before[d]);
        memcpy(dst + o * es, src + (uint64_t)r * row, row);
        for (int d = (int)nd - 2; d >= 0; d--) {
            if (++idx[d] < x->dims[d]) break;
            idx[d] = 0;
        }
    }
    return TFRT_OK;
}

/* ---- CONCATENATION / PACK: outer x (input chunk) copies ---- */

static tfrt_status concat_common(tfrt_model *m, tfrt_op *op, int axis, int pack) {
    const tfrt_tensor *y = tfrt_outt(m, op);
    const tfrt_tensor *x0 = tfrt_in(m, op, 0);
    if (!x0) return TFRT_E_FORMAT;
    int rank = pack ? x0->ndim + 1 : x0->ndim;
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || y->ndim != rank) return TFRT_E_SHAPE;
    if (!movable_type(y)) return TFRT_E_UNSUPPORTED_TYPE;
    int64_t along = 0;
    for (int i = 0; i < op->ninputs; i++) {
        const tfrt_tensor *x = tfrt_in(m, op, i);
        if (!x) return TFRT_E_FORMAT;
        if (!same_quant(x, y)) return TFRT_E_UNSUPPORTED_TYPE;
        if (x->ndim != x0->ndim) return TFRT_E_SHAPE;
        for (int d = 0; d < x->ndim; d++) {
            int yd = pack && d >= axis ? d + 1 : d;
            if (!pack && d == axis) continue;
            if (x->dims[d] != y->dims[yd]) return TFRT_E_SHAPE;
        }
        along += pack ? 1 : x->dims[axis];
    }
    if (along != y->dims[axis]) return TFRT_E_SHAPE;
    op->axis = (int16_t)axis;
    return TFRT_OK;
}

static void concat_eval(tfrt_model *m, const tfrt_op *op) {
    tfrt_tensor *y = tfrt_outt(m, op);
    uint32_t outer = 1;
    for (int d = 0; d < op->axis; d++) outer *= (uint32_t)y->dims[d];
    uint8_t *dst = y->data;
    for (uint32_t o = 0; o < outer; o++) {
        for (int i = 0; i < op->ninputs; i++) {
            const tfrt_tensor *x = tfrt_in(m, op, i);
            uint32_t chunk = x->bytes / outer;
            memcpy(dst, tfrt_bytes(x) + (uint64_t)o * chunk, chunk);
            dst += chunk;
        }
    }
}

tfrt_status tfrt_concat_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    int32_t axis = fb_i32(c, opts, 0, 0);
    if (fb_u8(c, opts, 1, 0) != 0) return TFRT_E_UNSUPPORTED_OP;
    if (axis < -TFRT_MAX_DIMS || axis > TFRT_MAX_DIMS) return TFRT_E_SHAPE;
    return concat_common(m, op, axis, 0);
}

tfrt_status tfrt_concat_eval(tfrt_model *m, const tfrt_op *op) {
    concat_eval(m, op);
    return TFRT_OK;
}

tfrt_status tfrt_pack_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    int32_t count = fb_i32(c, opts, 0, 0), axis = fb_i32(c, opts, 1, 0);
    if (count != op->ninputs) return TFRT_E_FORMAT;
    if (axis < -TFRT_MAX_DIMS || axis > TFRT_MAX_DIMS) return TFRT_E_SHAPE;
    return concat_common(m, op, axis, 1);
}

tfrt_status tfrt_pack_eval(tfrt_model *m, const tfrt_op *op) {
    concat_eval(m, op);
    return TFRT_OK;
}

/* ---- SHAPE ---- */

tfrt_status tfrt_shape_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c, const fb_table *opts) {
    int32_t out_type = fb_u8(c, opts, 0, TFRT_INT32); /* TensorType: a byte */
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    if (!x) return TFRT_E_FORMAT;
    if (out_type != TFRT_INT32 || y->type != TFRT_INT32) return TFRT_E_UNSUPPORTED_TYPE;
    if (tfrt_elems(y) != x->ndim) return TFRT_E_SHAPE;
    return TFRT_OK;
}

tfrt_status tfrt_shape_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    int32_t *y = (int32_t *)(void *)tfrt_outt(m, op)->data;
    for (int d = 0; d < x->ndim; d++) y[d] = x->dims[d];
    return TFRT_OK;
}

/* ---- STRIDED_SLICE (begin/end/strides constant; no ellipsis, no new axes) ---- */

typedef struct {
    int32_t start[TFRT_MAX_DIMS], stop[TFRT_MAX_DIMS], step[TFRT_MAX_DIMS];
} slice_plan;

static int32_t clampi(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* Resolve the slice per dimension; returns the element count it yields. */
static uint32_t plan_slice(const tfrt_model *m, const tfrt_op *op, slice_plan *s) {
    const tfrt_tensor *x = &m->tensors[op->in[0]];
    const tfrt_tensor *b = &m->tensors[op->in[1]], *e = &m->tensors[op->in[2]];
    const tfrt_tensor *st = &m->tensors[op->in[3]];
    const uint32_t nspec = tfrt_elems(b);
    const int32_t bmask = op->misc[0], emask = op->misc[1], smask = op->misc[2];
    uint32_t count = 1;
    for (int d = 0; d < x->ndim; d++) {
        int32_t size = x->dims[d];
        int32_t step = (uint32_t)d < nspec ? tfrt_get_i32(st, (uint32_t)d) : 1;
        int32_t start, stop;
        if ((uint32_t)d >= nspec) {
            start = 0;
            stop = size;
        } else {
            start = tfrt_get_i32(b, (uint32_t)d);
            stop = tfrt_get_i32(e, (uint32_t)d);
            if (bmask & (1 << d)) start = step > 0 ? 0 : size - 1;
            else if (start < 0) start += size;
            if (step > 0) start = clampi(start, 0, size);
            else start = clampi(start, -1, size - 1);
            if (smask & (1 << d)) {
                stop = start + 1;
                step = 1;
            } else {
                if (emask & (1 << d)) stop = step > 0 ? size : -1;
                else if (stop < 0) stop += size;
                if (step > 0) stop = clampi(stop, 0, size);
                else stop = clampi(stop, -1, size - 1);
            }
        }
        s->start[d] = start;
        s->stop[d] = stop;
        s->step[d] = step;
        int32_t n = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
        count *= (uint32_t)(n > 0 ? n : 0);
    }
    return count;
}

tfrt_status tfrt_strided_slice_prepare(tfrt_model *m, tfrt_op *op, fb_ctx *c,
                                       const fb_table *opts) {
    op->misc[0] = fb_i32(c, opts, 0, 0);
    op->misc[1] = fb_i32(c, opts, 1, 0);
    int32_t ellipsis = fb_i32(c, opts, 2, 0), new_axis = fb_i32(c, opts, 3, 0);
    op->misc[2] = fb_i32(c, opts, 4, 0);
    if (ellipsis || new_axis || fb_u8(c, opts, 5, 0)) return TFRT_E_UNSUPPORTED_OP;
    const tfrt_tensor *x = tfrt_in(m, op, 0), *y = tfrt_outt(m, op);
    for (int i = 0; i < 4; i++) {
        const tfrt_tensor *t = tfrt_in(m, op, i);
        if (!t) return TFRT_E_FORMAT;
        if (i > 0 && (!t->is_const || t->type != TFRT_INT32)) return TFRT_E_UNSUPPORTED_OP;
    }
    if (!same_quant(x, y) || !movable_type(x)) return TFRT_E_UNSUPPORTED_TYPE;
    uint32_t nspec = tfrt_elems(tfrt_in(m, op, 1));
    if (nspec > x->ndim || tfrt_elems(tfrt_in(m, op, 2)) != nspec ||
        tfrt_elems(tfrt_in(m, op, 3)) != nspec)
        return TFRT_E_SHAPE;
    for (uint32_t d = 0; d < nspec; d++) {
        int32_t step = tfrt_get_i32(tfrt_in(m, op, 3), d);
        int32_t bv = tfrt_get_i32(tfrt_in(m, op, 1), d), ev = tfrt_get_i32(tfrt_in(m, op, 2), d);
        if (step == 0 || step < -(1 << 24) || step > (1 << 24)) return TFRT_E_UNSUPPORTED_OP;
        if (bv < -(1 << 25) || bv > (1 << 25) || ev < -(1 << 25) || ev > (1 << 25))
            return TFRT_E_SHAPE;
    }
    slice_plan s;
    if (plan_slice(m, op, &s) != tfrt_elems(y)) return TFRT_E_SHAPE;
    return TFRT_OK;
}

tfrt_status tfrt_strided_slice_eval(tfrt_model *m, const tfrt_op *op) {
    const tfrt_tensor *x = tfrt_in(m, op, 0);
    tfrt_tensor *y = tfrt_outt(m, op);
    slice_plan s;
    uint32_t n = plan_slice(m, op, &s);
    if (n == 0) return TFRT_OK;
    const uint32_t es = esize(x), nd = x->ndim;
    const uint8_t *src = tfrt_bytes(x);
    uint8_t *dst = y->data;
    int32_t idx[TFRT_MAX_DIMS];
    for (uint32_t d = 0; d < nd; d++) idx[d] = s.start[d];
    for (uint32_t i = 0; i < n; i++) {
        uint64_t o = 0;
        for (uint32_t d = 0; d < nd; d++) o = o * (uint32_t)x->dims[d] + (uint32_t)idx[d];
        memcpy(dst + (uint64_t)i * es, src + o * es, es);
        for (int d = (int)nd - 1; d >= 0; d--) {
            idx[d] += s.step[d];
            if (s.step[d] > 0 ? idx[d] < s.stop[d] : idx[d] > s.stop[d]) break;
            idx[d] = s.start[d];
        }
    }
    return TFRT_OK;
}
