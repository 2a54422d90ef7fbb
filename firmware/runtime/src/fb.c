/* fb.c — bounds-checked FlatBuffers reader (see fb.h for the format facts). */
#include "fb.h"

#include "qmath.h"

static int fail(fb_ctx *c) {
    c->err = 1;
    return 0;
}

/* 1 when [pos, pos + n) lies inside the buffer. */
static int in_bounds(const fb_ctx *c, uint64_t pos, uint64_t n) {
    return pos <= c->len && n <= (uint64_t)c->len - pos;
}

static uint16_t rd_u16(const fb_ctx *c, uint32_t pos) {
    return (uint16_t)(c->buf[pos] | (c->buf[pos + 1] << 8));
}

static int table_at(fb_ctx *c, uint64_t pos, fb_table *out) {
    if (!in_bounds(c, pos, 4)) return fail(c);
    int64_t vt = (int64_t)pos - (int64_t)tfrt_ld_i32(c->buf + pos);
    if (vt < 0 || !in_bounds(c, (uint64_t)vt, 4)) return fail(c);
    uint16_t vtlen = rd_u16(c, (uint32_t)vt);
    uint16_t tlen = rd_u16(c, (uint32_t)vt + 2);
    if (vtlen < 4 || (vtlen & 1) || !in_bounds(c, (uint64_t)vt, vtlen)) return fail(c);
    if (tlen < 4 || !in_bounds(c, pos, tlen)) return fail(c);
    out->pos = (uint32_t)pos;
    out->vt = (uint32_t)vt;
    out->vtlen = vtlen;
    out->tlen = tlen;
    return 1;
}

int fb_root(fb_ctx *c, const char *ident, fb_table *out) {
    if (c->len < 8) return fail(c);
    if (ident) {
        for (int i = 0; i < 4; i++)
            if (c->buf[4 + i] != (uint8_t)ident[i]) return fail(c);
    }
    return table_at(c, (uint32_t)tfrt_ld_i32(c->buf), out);
}

/* Absolute position of field `id` holding `size` bytes, 0 when absent (0 is never a field
 * position: a table's first 4 bytes are its vtable offset). */
static uint32_t field_pos(fb_ctx *c, const fb_table *t, int id, uint32_t size) {
    if (c->err || t->tlen == 0) return 0;
    uint32_t slot = 4u + 2u * (uint32_t)id;
    if (slot + 2 > t->vtlen) return 0;
    uint16_t off = rd_u16(c, t->vt + slot);
    if (off == 0) return 0;
    if (off < 4 || (uint32_t)off + size > t->tlen) {
        fail(c);
        return 0;
    }
    return t->pos + off;
}

uint8_t fb_u8(fb_ctx *c, const fb_table *t, int id, uint8_t def) {
    uint32_t p = field_pos(c, t, id, 1);
    return p ? c->buf[p] : def;
}

int32_t fb_i32(fb_ctx *c, const fb_table *t, int id, int32_t def) {
    uint32_t p = field_pos(c, t, id, 4);
    return p ? tfrt_ld_i32(c->buf + p) : def;
}

uint32_t fb_u32(fb_ctx *c, const fb_table *t, int id, uint32_t def) {
    uint32_t p = field_pos(c, t, id, 4);
    return p ? (uint32_t)tfrt_ld_i32(c->buf + p) : def;
}

uint64_t fb_u64(fb_ctx *c, const fb_table *t, int id, uint64_t def) {
    uint32_t p = field_pos(c, t, id, 8);
    return p ? (uint64_t)tfrt_ld_i64(c->buf + p) : def;
}

float fb_f32(fb_ctx *c, const fb_table *t, int id, float def) {
    uint32_t p = field_pos(c, t, id, 4);
    return p ? tfrt_ld_f32(c->buf + p) : def;
}

/* Follow the uoffset stored at field `id`; 0 when absent. */
static uint64_t deref(fb_ctx *c, const fb_table *t, int id) {
    uint32_t p = field_pos(c, t, id, 4);
    if (!p) return 0;
    return (uint64_t)p + (uint32_t)tfrt_ld_i32(c->buf + p);
}

int fb_table_field(fb_ctx *c, const fb_table *t, int id, fb_table *out) {
    uint64_t target = deref(c, t, id);
    if (!target) return 0;
    return table_at(c, target, out);
}

fb_vec fb_vector(fb_ctx *c, const fb_table *t, int id, uint32_t esize) {
    fb_vec v = {0, 0};
    uint64_t target = deref(c, t, id);
    if (!target) return v;
    if (!in_bounds(c, target, 4)) {
        fail(c);
        return v;
    }
    uint32_t n = (uint32_t)tfrt_ld_i32(c->buf + target);
    if (!in_bounds(c, target + 4, (uint64_t)n * esize)) {
        fail(c);
        return v;
    }
    v.pos = (uint32_t)target + 4;
    v.len = n;
    return v;
}

int fb_vec_table(fb_ctx *c, fb_vec v, uint32_t i, fb_table *out) {
    if (c->err || i >= v.len) return fail(c);
    uint32_t p = v.pos + 4 * i;
    return table_at(c, (uint64_t)p + (uint32_t)tfrt_ld_i32(c->buf + p), out);
}

int32_t fb_vec_i32(fb_ctx *c, fb_vec v, uint32_t i) {
    if (c->err || i >= v.len) return fail(c);
    return tfrt_ld_i32(c->buf + v.pos + 4 * i);
}

int64_t fb_vec_i64(fb_ctx *c, fb_vec v, uint32_t i) {
    if (c->err || i >= v.len) return fail(c);
    return tfrt_ld_i64(c->buf + v.pos + 8 * i);
}

float fb_vec_f32(fb_ctx *c, fb_vec v, uint32_t i) {
    if (c->err || i >= v.len) return (float)fail(c);
    return tfrt_ld_f32(c->buf + v.pos + 4 * i);
}
