/* planner.c — lifetimes + greedy-by-size placement (see planner.h). */
#include "planner.h"

#include "kernels.h"

static uint32_t align4(uint32_t v) { return (v + 3u) & ~3u; }

static int overlap_life(const tfrt_tensor *a, const tfrt_tensor *b) {
    return a->first_op <= b->last_op && b->first_op <= a->last_op;
}

tfrt_status tfrt_plan(tfrt_model *m, size_t *bytes) {
    const int16_t end = (int16_t)m->nops; /* graph outputs live past the last operator */
    tfrt_tensor *in = &m->tensors[m->input];
    in->first_op = 0;
    in->last_op = 0;
    for (int16_t k = 0; k < (int16_t)m->nops; k++) {
        const tfrt_op *op = &m->ops[k];
        for (int i = 0; i < op->ninputs; i++) {
            tfrt_tensor *t = tfrt_in(m, op, i);
            if (!t || t->is_const) continue;
            if (t->last_op < k) t->last_op = k;
        }
        tfrt_tensor *o = tfrt_outt(m, op);
        o->first_op = k;
        if (o->last_op < k) o->last_op = k;
    }
    m->tensors[m->output].last_op = end;

    /* reshape family: the output reuses the input's buffer */
    for (int16_t k = 0; k < (int16_t)m->nops; k++) {
        const tfrt_op *op = &m->ops[k];
        if (!tfrt_ops[op->kind].alias) continue;
        tfrt_tensor *src = tfrt_in(m, op, 0), *o = tfrt_outt(m, op);
        if (!src || src->is_const || src->bytes != o->bytes) continue;
        uint8_t root = src->alias_of == TFRT_NO_TENSOR ? op->in[0] : src->alias_of;
        tfrt_tensor *r = &m->tensors[root];
        o->alias_of = root;
        if (r->last_op < o->last_op) r->last_op = o->last_op;
    }

    /* order the buffers: size descending, then first use */
    uint8_t order[TFRT_MAX_TENSORS];
    int n = 0;
    for (int i = 0; i < m->ntensors; i++) {
        const tfrt_tensor *t = &m->tensors[i];
        if (t->is_const || t->first_op < 0 || t->alias_of != TFRT_NO_TENSOR) continue;
        int j = n++;
        while (j > 0) {
            const tfrt_tensor *p = &m->tensors[order[j - 1]];
            if (p->bytes > t->bytes || (p->bytes == t->bytes && p->first_op <= t->first_op)) break;
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint8_t)i;
    }

    /* place each at the lowest offset free during its lifetime */
    uint64_t total = 0;
    for (int a = 0; a < n; a++) {
        tfrt_tensor *t = &m->tensors[order[a]];
        uint64_t size = align4(t->bytes);
        uint8_t conflicts[TFRT_MAX_TENSORS];
        int nc = 0;
        for (int b = 0; b < a; b++) { /* placed ones that live at the same time, by offset */
            const tfrt_tensor *p = &m->tensors[order[b]];
            if (!overlap_life(t, p)) continue;
            int j = nc++;
            while (j > 0 && m->tensors[conflicts[j - 1]].arena_offset > p->arena_offset) {
                conflicts[j] = conflicts[j - 1];
                j--;
            }
            conflicts[j] = order[b];
        }
        uint64_t off = 0;
        for (int j = 0; j < nc; j++) {
            const tfrt_tensor *p = &m->tensors[conflicts[j]];
            if (off + size <= p->arena_offset) break;
            uint64_t endp = (uint64_t)p->arena_offset + align4(p->bytes);
            if (endp > off) off = endp;
        }
        if (off + size > 0x7FFFFFFFu) return TFRT_E_LIMIT;
        t->arena_offset = (uint32_t)off;
        if (off + size > total) total = off + size;
    }
    *bytes = (size_t)total;
    return TFRT_OK;
}
