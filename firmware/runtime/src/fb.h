/*
 * fb.h — a bounds-checked FlatBuffers reader (just what a .tflite needs).
 *
 * Wire format facts used: the buffer starts with a uoffset (u32) to the root table; a table
 * starts with an soffset (i32) to its vtable (vtable = table - soffset); a vtable is u16 vtable
 * size, u16 table size, then one u16 offset per field (0 = absent, use the default); fields that
 * reference tables, vectors and strings hold a u32 offset relative to the field's own position,
 * always forward; a vector is a u32 element count followed by the elements. All little-endian.
 *
 * Every access is checked against the buffer length. An invalid access sets the sticky `err`
 * flag and returns a harmless default (0, an empty vector, an absent table), so a caller may
 * read a whole structure and test `err` once. Offsets only point forward, so no walk can loop.
 */
#ifndef TFRT_FB_H
#define TFRT_FB_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const uint8_t *buf;
    uint32_t len;
    int err;
} fb_ctx;

typedef struct {
    uint32_t pos;    /* table start */
    uint32_t vt;     /* vtable start */
    uint16_t vtlen;  /* vtable size in bytes */
    uint16_t tlen;   /* table inline size in bytes */
} fb_table;

typedef struct {
    uint32_t pos;    /* first element */
    uint32_t len;    /* element count */
} fb_vec;

/* Root table; checks the 4-byte file identifier at offset 4 when `ident` is not NULL. */
int fb_root(fb_ctx *c, const char *ident, fb_table *out);

/* Scalar fields with defaults. */
uint8_t fb_u8(fb_ctx *c, const fb_table *t, int id, uint8_t def);
int32_t fb_i32(fb_ctx *c, const fb_table *t, int id, int32_t def);
uint32_t fb_u32(fb_ctx *c, const fb_table *t, int id, uint32_t def);
uint64_t fb_u64(fb_ctx *c, const fb_table *t, int id, uint64_t def);
float fb_f32(fb_ctx *c, const fb_table *t, int id, float def);

/* Sub-table field: 1 when present and valid, 0 when absent (or invalid: then err is set). */
int fb_table_field(fb_ctx *c, const fb_table *t, int id, fb_table *out);

/* Vector field of elements of `esize` bytes (strings: esize 1). Absent: len 0. */
fb_vec fb_vector(fb_ctx *c, const fb_table *t, int id, uint32_t esize);

/* Element i of a vector of tables. */
int fb_vec_table(fb_ctx *c, fb_vec v, uint32_t i, fb_table *out);

/* Element i of a vector of int32 (i must be < v.len; checked). */
int32_t fb_vec_i32(fb_ctx *c, fb_vec v, uint32_t i);
int64_t fb_vec_i64(fb_ctx *c, fb_vec v, uint32_t i);
float fb_vec_f32(fb_ctx *c, fb_vec v, uint32_t i);

#endif /* TFRT_FB_H */
