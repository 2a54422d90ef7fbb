/*
 * model.c — tfrt_load(): walk the .tflite flatbuffer with the bounds-checked reader, validate
 * every tensor and operator, prepare the kernels, plan the arena; and the small public API.
 *
 * Schema facts (TFLite schema field ids): Model{0 version, 1 operator_codes, 2 subgraphs,
 * 4 buffers}; OperatorCode{0 deprecated_builtin_code, 1 custom_code, 3 builtin_code};
 * SubGraph{0 tensors, 1 inputs, 2 outputs, 3 operators}; Tensor{0 shape, 1 type, 2 buffer,
 * 4 quantization, 5 is_variable, 6 sparsity}; QuantizationParameters{2 scale, 3 zero_point,
 * 6 quantized_dimension}; Operator{0 opcode_index, 1 inputs, 2 outputs, 4 builtin_options};
 * Buffer{0 data, 1 offset, 2 size}.
 */
#include <math.h>
#include <string.h>

#include "kernels.h"
#include "op_names.h"
#include "planner.h"

_Static_assert(TFRT_MAX_TENSORS <= 255, "tensor indices are stored in a byte (0xFF = none)");

#define TFLITE_SCHEMA_VERSION 3u
#define BUILTIN_CUSTOM 32
#define MAX_DIM_VALUE (1 << 24)
#define MAX_TENSOR_ELEMS (1u << 28)

static uint32_t type_size(uint8_t type) {
    switch (type) {
    case TFRT_INT8: return 1;
    case TFRT_INT32: return 4;
    case TFRT_FLOAT32: return 4;
    case 4: return 8; /* INT64: read-only parameters (paddings, axes) */
    default: return 0;
    }
}

static tfrt_status parse_quant(fb_ctx *c, tfrt_tensor *t, const fb_table *tt) {
    fb_table q;
    memset(&q, 0, sizeof q);
    int has_q = fb_table_field(c, tt, 4, &q);
    if (c->err) return TFRT_E_FORMAT;
    t->nscales = 0;
    if (!has_q) return t->type == TFRT_INT8 ? TFRT_E_UNSUPPORTED_TYPE : TFRT_OK;
    fb_vec sc = fb_vector(c, &q, 2, 4);
    fb_vec zp = fb_vector(c, &q, 3, 8);
    int32_t qdim = fb_i32(c, &q, 6, 0);
    fb_table details;
    memset(&details, 0, sizeof details);
    if (c->err) return TFRT_E_FORMAT;
    if (t->type != TFRT_INT8) return TFRT_OK; /* bias / shape tensors: scales unused */
    if (fb_u8(c, &q, 4, 0) != 0) return TFRT_E_UNSUPPORTED_TYPE; /* custom quantization */
    if (sc.len == 0) return TFRT_E_UNSUPPORTED_TYPE;
    for (uint32_t i = 0; i < sc.len; i++) {
        float s = fb_vec_f32(c, sc, i);
        if (!(s > 0.0f) || !isfinite(s)) return TFRT_E_UNSUPPORTED_TYPE;
    }
    if (sc.len > 1) {
        if (qdim < 0 || qdim >= t->ndim || (uint32_t)t->dims[qdim] != sc.len)
            return TFRT_E_FORMAT;
        if (zp.len != 0 && zp.len != sc.len) return TFRT_E_FORMAT;
        for (uint32_t i = 0; i < zp.len; i++)
            if (fb_vec_i64(c, zp, i) != 0) return TFRT_E_UNSUPPORTED_TYPE;
        t->scales = c->buf + sc.pos;
        t->qdim = (uint8_t)qdim;
    }
    int64_t z = zp.len ? fb_vec_i64(c, zp, 0) : 0;
    if (z < -128 || z > 127) return TFRT_E_UNSUPPORTED_TYPE;
    t->zero_point = (int32_t)z;
    t->scale = fb_vec_f32(c, sc, 0);
    t->nscales = sc.len;
    return c->err ? TFRT_E_FORMAT : TFRT_OK;
}

static tfrt_status parse_tensor(fb_ctx *c, tfrt_tensor *t, const fb_table *tt, fb_vec buffers) {
    fb_vec shape = fb_vector(c, tt, 0, 4);
    if (c->err) return TFRT_E_FORMAT;
    if (shape.len > TFRT_MAX_DIMS) return TFRT_E_LIMIT;
    t->ndim = (uint8_t)shape.len;
    uint64_t elems = 1;
    for (uint32_t i = 0; i < shape.len; i++) {
        int32_t d = fb_vec_i32(c, shape, i);
        if (d < 1 || d > MAX_DIM_VALUE) return TFRT_E_SHAPE;
        t->dims[i] = d;
        elems *= (uint64_t)d;
        if (elems > MAX_TENSOR_ELEMS) return TFRT_E_LIMIT;
    }
    t->type = fb_u8(c, tt, 1, 0);
    uint32_t es = type_size(t->type);
    if (es == 0) return TFRT_E_UNSUPPORTED_TYPE;
    t->bytes = (uint32_t)elems * es;
    t->alias_of = TFRT_NO_TENSOR;
    t->first_op = t->last_op = -1;
    if (fb_u8(c, tt, 5, 0)) return TFRT_E_UNSUPPORTED_TYPE; /* variable tensor */
    fb_table sparsity;
    memset(&sparsity, 0, sizeof sparsity);
    if (fb_table_field(c, tt, 6, &sparsity)) return TFRT_E_UNSUPPORTED_TYPE;

    uint32_t bi = fb_u32(c, tt, 2, 0);
    if (c->err) return TFRT_E_FORMAT;
    if (bi != 0) {
        fb_table b;
        if (bi >= buffers.len || !fb_vec_table(c, buffers, bi, &b)) return TFRT_E_FORMAT;
        fb_vec data = fb_vector(c, &b, 0, 1);
        uint64_t off = fb_u64(c, &b, 1, 0), size = fb_u64(c, &b, 2, 0);
        if (c->err) return TFRT_E_FORMAT;
        if (data.len) {
            if (data.len != t->bytes) return TFRT_E_FORMAT;
            t->cdata = c->buf + data.pos;
        } else if (off > 1) { /* data after the flatbuffer (large models) */
            if (size != t->bytes || off > c->len || size > c->len - off) return TFRT_E_FORMAT;
            t->cdata = c->buf + off;
        }
    }
    t->is_const = t->cdata != NULL;
    if (t->type == 4 && !t->is_const) return TFRT_E_UNSUPPORTED_TYPE;
    return parse_quant(c, t, tt);
}

static int find_kind(int32_t builtin) {
    for (int k = 1; k < K_COUNT; k++)
        if (tfrt_ops[k].builtin == builtin) return k;
    return 0;
}

static tfrt_status parse_op(fb_ctx *c, tfrt_model *m, tfrt_op *op, const fb_table *ot,
                            fb_vec codes, uint8_t *produced, fb_table *opts) {
    uint32_t ci = fb_u32(c, ot, 0, 0);
    fb_table ct;
    if (c->err || ci >= codes.len || !fb_vec_table(c, codes, ci, &ct)) return TFRT_E_FORMAT;
    int32_t dep = (int8_t)fb_u8(c, &ct, 0, 0);
    int32_t code = fb_i32(c, &ct, 3, 0);
    if (dep > code) code = dep;
    if (c->err) return TFRT_E_FORMAT;
    m->failed_code = code;
    if (code == BUILTIN_CUSTOM) {
        fb_vec name = fb_vector(c, &ct, 1, 1);
        if (c->err) return TFRT_E_FORMAT;
        m->failed_kind = 1;
        m->failed_custom = c->buf + name.pos;
        m->failed_custom_len = name.len;
        return TFRT_E_UNSUPPORTED_OP;
    }
    int kind = find_kind(code);
    if (!kind) return TFRT_E_UNSUPPORTED_OP;
    const tfrt_op_reg *reg = &tfrt_ops[kind];
    op->kind = (uint8_t)kind;

    fb_vec ins = fb_vector(c, ot, 1, 4), outs = fb_vector(c, ot, 2, 4);
    if (c->err) return TFRT_E_FORMAT;
    if (ins.len > TFRT_MAX_OP_INPUTS) return TFRT_E_LIMIT;
    if (ins.len < reg->min_inputs || ins.len > reg->max_inputs) return TFRT_E_FORMAT;
    if (outs.len != 1) return outs.len == 0 ? TFRT_E_FORMAT : TFRT_E_UNSUPPORTED_OP;
    op->ninputs = (uint8_t)ins.len;
    for (uint32_t i = 0; i < TFRT_MAX_OP_INPUTS; i++) op->in[i] = TFRT_NO_TENSOR;
    for (uint32_t i = 0; i < ins.len; i++) {
        int32_t ti = fb_vec_i32(c, ins, i);
        if (ti == -1) { /* an absent optional input: only the bias of conv / depthwise / FC */
            if (i == 2 && (kind == K_CONV || kind == K_DWCONV || kind == K_FC)) continue;
            return TFRT_E_FORMAT;
        }
        if (ti < 0 || ti >= m->ntensors) return TFRT_E_FORMAT;
        if (!m->tensors[ti].is_const && !produced[ti]) return TFRT_E_FORMAT; /* not yet computed */
        op->in[i] = (uint8_t)ti;
    }
    int32_t to = fb_vec_i32(c, outs, 0);
    if (to < 0 || to >= m->ntensors || m->tensors[to].is_const || produced[to])
        return TFRT_E_FORMAT;
    op->out = (uint8_t)to;
    produced[to] = 1;
    memset(opts, 0, sizeof *opts);
    fb_table_field(c, ot, 4, opts);
    return c->err ? TFRT_E_FORMAT : TFRT_OK;
}

static tfrt_status load(tfrt_model *m, fb_ctx *c) {
    fb_table root, sg;
    if (!fb_root(c, "TFL3", &root)) return TFRT_E_FORMAT;
    if (fb_u32(c, &root, 0, 0) != TFLITE_SCHEMA_VERSION) return TFRT_E_FORMAT;
    fb_vec codes = fb_vector(c, &root, 1, 4);
    fb_vec subgraphs = fb_vector(c, &root, 2, 4);
    fb_vec buffers = fb_vector(c, &root, 4, 4);
    if (c->err || subgraphs.len < 1 || !fb_vec_table(c, subgraphs, 0, &sg)) return TFRT_E_FORMAT;
    fb_vec tensors = fb_vector(c, &sg, 0, 4);
    fb_vec inputs = fb_vector(c, &sg, 1, 4);
    fb_vec outputs = fb_vector(c, &sg, 2, 4);
    fb_vec operators = fb_vector(c, &sg, 3, 4);
    if (c->err) return TFRT_E_FORMAT;
    if (tensors.len > TFRT_MAX_TENSORS || operators.len > TFRT_MAX_OPS) return TFRT_E_LIMIT;
    if (tensors.len == 0 || operators.len == 0 || outputs.len == 0) return TFRT_E_FORMAT;
    if (inputs.len != 1) return inputs.len == 0 ? TFRT_E_FORMAT : TFRT_E_LIMIT;
    m->ntensors = (uint16_t)tensors.len;
    m->nops = (uint16_t)operators.len;

    for (uint32_t i = 0; i < tensors.len; i++) {
        fb_table tt;
        if (!fb_vec_table(c, tensors, i, &tt)) return TFRT_E_FORMAT;
        tfrt_status s = parse_tensor(c, &m->tensors[i], &tt, buffers);
        if (s != TFRT_OK) return s;
    }
    int32_t in = fb_vec_i32(c, inputs, 0), out = fb_vec_i32(c, outputs, 0);
    if (c->err || in < 0 || in >= m->ntensors || out < 0 || out >= m->ntensors)
        return TFRT_E_FORMAT;
    for (uint32_t i = 1; i < outputs.len; i++) {
        int32_t o = fb_vec_i32(c, outputs, i);
        if (c->err || o < 0 || o >= m->ntensors) return TFRT_E_FORMAT;
    }
    if (m->tensors[in].is_const) return TFRT_E_FORMAT;
    if (m->tensors[in].type != TFRT_INT8) return TFRT_E_UNSUPPORTED_TYPE;
    m->input = (uint8_t)in;
    m->output = (uint8_t)out;

    uint8_t produced[TFRT_MAX_TENSORS];
    memset(produced, 0, sizeof produced);
    produced[in] = 1;
    for (uint32_t k = 0; k < operators.len; k++) {
        fb_table ot, opts;
        tfrt_op *op = &m->ops[k];
        if (!fb_vec_table(c, operators, k, &ot)) return TFRT_E_FORMAT;
        tfrt_status s = parse_op(c, m, op, &ot, codes, produced, &opts);
        if (s != TFRT_OK) return s;
        s = tfrt_ops[op->kind].prepare(m, op, c, &opts);
        if (c->err) return TFRT_E_FORMAT;
        if (s != TFRT_OK) return s;
    }
    for (uint32_t i = 0; i < outputs.len; i++)
        if (!produced[fb_vec_i32(c, outputs, i)]) return TFRT_E_FORMAT;
    m->failed_code = -1;
    return c->err ? TFRT_E_FORMAT : TFRT_OK;
}

tfrt_status tfrt_load(tfrt_model *m, const uint8_t *model, size_t model_size, uint8_t *arena,
                      size_t arena_size) {
    if (!m) return TFRT_E_BAD_ARG;
    memset(m, 0, sizeof *m);
    m->failed_code = -1;
    if (!model || (!arena && arena_size)) return TFRT_E_BAD_ARG;
    if (model_size > 0x7FFFFFFFu) return TFRT_E_FORMAT;
    fb_ctx c = {model, (uint32_t)model_size, 0};
    m->model = model;
    m->model_size = model_size;
    tfrt_status s = load(m, &c);
    if (s != TFRT_OK) return s;

    size_t act = 0;
    s = tfrt_plan(m, &act);
    if (s != TFRT_OK) return s;
    size_t slack = arena ? (size_t)((4u - ((uintptr_t)arena & 3u)) & 3u) : 0;
    m->persist_base = act;
    m->arena_required = slack + act + m->arena_persistent + m->scratch_bytes;
    if (arena_size < m->arena_required) return TFRT_E_ARENA_TOO_SMALL;
    m->arena = arena;
    m->arena_size = arena_size;
    m->base = arena + slack;
    for (uint32_t i = 0; i < m->ntensors; i++) {
        tfrt_tensor *t = &m->tensors[i];
        if (t->is_const || t->first_op < 0) continue;
        uint32_t root = t->alias_of == TFRT_NO_TENSOR ? i : t->alias_of;
        t->data = m->base + m->tensors[root].arena_offset;
    }
    for (uint32_t k = 0; k < m->nops; k++) {
        tfrt_op *op = &m->ops[k];
        if (tfrt_ops[op->kind].init) {
            s = tfrt_ops[op->kind].init(m, op);
            if (s != TFRT_OK) return s;
        }
    }
    m->loaded = 1;
    return TFRT_OK;
}

size_t tfrt_arena_required(const tfrt_model *m) { return m ? m->arena_required : 0; }

tfrt_status tfrt_invoke(tfrt_model *m) {
    if (!m) return TFRT_E_BAD_ARG;
    if (!m->loaded) return TFRT_E_NOT_LOADED;
    for (uint32_t k = 0; k < m->nops; k++) {
        const tfrt_op *op = &m->ops[k];
        tfrt_status s = tfrt_ops[op->kind].eval(m, op);
        if (s != TFRT_OK) return s;
    }
    return TFRT_OK;
}

int8_t *tfrt_input(tfrt_model *m, size_t *bytes) {
    if (!m || !m->loaded) return NULL;
    tfrt_tensor *t = &m->tensors[m->input];
    if (bytes) *bytes = t->bytes;
    return (int8_t *)(void *)t->data;
}

const void *tfrt_output(const tfrt_model *m, size_t *bytes, int *type) {
    if (!m || !m->loaded) return NULL;
    const tfrt_tensor *t = &m->tensors[m->output];
    if (bytes) *bytes = t->bytes;
    if (type) *type = t->type;
    return t->data;
}

tfrt_status tfrt_io_info(const tfrt_model *m, int is_output, tfrt_io *info) {
    if (!m || !info || (!m->loaded && m->arena_required == 0)) return TFRT_E_BAD_ARG;
    const tfrt_tensor *t = &m->tensors[is_output ? m->output : m->input];
    memset(info, 0, sizeof *info);
    info->type = t->type;
    info->ndim = t->ndim;
    for (int i = 0; i < t->ndim; i++) info->dims[i] = t->dims[i];
    info->scale = t->scale;
    info->zero_point = t->zero_point;
    info->bytes = t->bytes;
    return TFRT_OK;
}

uint32_t tfrt_macs(const tfrt_model *m) { return m ? m->macs : 0; }

size_t tfrt_sizeof_model(void) { return sizeof(tfrt_model); }

static size_t copy_name(char *dst, size_t n, const char *src, size_t len) {
    if (dst && n) {
        size_t k = len < n - 1 ? len : n - 1;
        memcpy(dst, src, k);
        dst[k] = '\0';
    }
    return len;
}

size_t tfrt_unsupported_op(const tfrt_model *m, char *name, size_t n) {
    if (!m || m->failed_code < 0) return copy_name(name, n, "", 0);
    if (m->failed_kind == 1)
        return copy_name(name, n, (const char *)m->failed_custom, m->failed_custom_len);
    const char *s = tfrt_builtin_name(m->failed_code);
    if (*s) return copy_name(name, n, s, strlen(s));
    char buf[24] = "BUILTIN_";
    char digits[12];
    int nd = 0;
    uint32_t v = (uint32_t)m->failed_code;
    do {
        digits[nd++] = (char)('0' + v % 10);
        v /= 10;
    } while (v && nd < 11);
    size_t len = 8;
    while (nd) buf[len++] = digits[--nd];
    return copy_name(name, n, buf, len);
}

const char *tfrt_status_str(tfrt_status s) {
    switch (s) {
    case TFRT_OK: return "ok";
    case TFRT_E_FORMAT: return "not a valid .tflite flatbuffer";
    case TFRT_E_UNSUPPORTED_OP: return "unsupported operator";
    case TFRT_E_UNSUPPORTED_TYPE: return "unsupported tensor type or quantization";
    case TFRT_E_ARENA_TOO_SMALL: return "tensor arena too small";
    case TFRT_E_BAD_ARG: return "bad argument";
    case TFRT_E_LIMIT: return "model exceeds the runtime's fixed limits";
    case TFRT_E_SHAPE: return "tensor shapes do not fit the operator";
    case TFRT_E_NOT_LOADED: return "no model loaded";
    }
    return "unknown status";
}
