/* test_runtime_planner.c — the arena planner on hand-made graphs: buffers alive at the same
 * operator never overlap, dead buffers are reused, reshape outputs share their input. */
#include <string.h>

#include "kernels.h"
#include "planner.h"
#include "runtime_check.h"

static tfrt_model m;

/* A graph of `n` ops where op k reads tensor in_a[k] (and in_b[k] unless 0xFF), writes k + 1. */
static void build(int n, const uint8_t *in_a, const uint8_t *in_b, const uint32_t *bytes,
                  const uint8_t *kinds) {
    memset(&m, 0, sizeof m);
    m.ntensors = (uint16_t)(n + 1);
    m.nops = (uint16_t)n;
    m.input = 0;
    m.output = (uint8_t)n;
    for (int i = 0; i <= n; i++) {
        m.tensors[i].bytes = bytes[i];
        m.tensors[i].first_op = m.tensors[i].last_op = -1;
        m.tensors[i].alias_of = TFRT_NO_TENSOR;
    }
    for (int k = 0; k < n; k++) {
        tfrt_op *op = &m.ops[k];
        memset(op->in, TFRT_NO_TENSOR, sizeof op->in);
        op->kind = kinds ? kinds[k] : K_ADD;
        op->in[0] = in_a[k];
        op->in[1] = in_b[k];
        op->ninputs = in_b[k] == TFRT_NO_TENSOR ? 1 : 2;
        op->out = (uint8_t)(k + 1);
    }
}

static int overlap(const tfrt_tensor *a, const tfrt_tensor *b) {
    int live = a->first_op <= b->last_op && b->first_op <= a->last_op;
    int mem = a->arena_offset < b->arena_offset + b->bytes && b->arena_offset < a->arena_offset + a->bytes;
    return live && mem;
}

static void no_two_live_buffers_overlap(size_t total) {
    for (int i = 0; i < m.ntensors; i++) {
        EXPECT(m.tensors[i].arena_offset + m.tensors[i].bytes <= total);
        EXPECT_EQ(m.tensors[i].arena_offset % 4, 0);
        for (int j = i + 1; j < m.ntensors; j++) {
            if (m.tensors[i].alias_of != TFRT_NO_TENSOR || m.tensors[j].alias_of != TFRT_NO_TENSOR)
                continue;
            EXPECT(!overlap(&m.tensors[i], &m.tensors[j]));
        }
    }
}

static void a_chain_needs_only_the_largest_adjacent_pair(void) {
    const uint8_t a[] = {0, 1, 2, 3};
    const uint8_t b[] = {0xFF, 0xFF, 0xFF, 0xFF};
    const uint32_t bytes[] = {100, 400, 200, 300, 40};
    build(4, a, b, bytes, NULL);
    size_t total = 0;
    EXPECT_EQ(tfrt_plan(&m, &total), TFRT_OK);
    EXPECT_EQ(total, 600); /* op 1 reads 400 and writes 200 */
    no_two_live_buffers_overlap(total);
}

static void a_skip_connection_stays_alive_until_its_last_reader(void) {
    /* t1 = f(t0); t2 = f(t1); t3 = f(t2); t4 = t3 + t1 */
    const uint8_t a[] = {0, 1, 2, 3};
    const uint8_t b[] = {0xFF, 0xFF, 0xFF, 1};
    const uint32_t bytes[] = {64, 64, 64, 64, 64};
    build(4, a, b, bytes, NULL);
    size_t total = 0;
    EXPECT_EQ(tfrt_plan(&m, &total), TFRT_OK);
    EXPECT_EQ(m.tensors[1].last_op, 3);
    EXPECT_EQ(total, 192);
    no_two_live_buffers_overlap(total);
}

static void reshape_outputs_share_their_input_buffer(void) {
    const uint8_t a[] = {0, 1, 2};
    const uint8_t b[] = {0xFF, 0xFF, 0xFF};
    const uint32_t bytes[] = {50, 120, 120, 10};
    const uint8_t kinds[] = {K_ADD, K_RESHAPE, K_ADD};
    build(3, a, b, bytes, kinds);
    size_t total = 0;
    EXPECT_EQ(tfrt_plan(&m, &total), TFRT_OK);
    EXPECT_EQ(m.tensors[2].alias_of, 1);
    EXPECT_EQ(m.tensors[1].last_op, 2); /* the alias extends the input's life */
    EXPECT_EQ(total, 52 + 120);         /* 50 rounds up to 52 */
    no_two_live_buffers_overlap(total);
}

static void graph_output_is_never_reused(void) {
    const uint8_t a[] = {0, 0};
    const uint8_t b[] = {0xFF, 0xFF};
    const uint32_t bytes[] = {16, 16, 16};
    build(2, a, b, bytes, NULL);
    m.output = 1; /* tensor 1 is the output, tensor 2 written later */
    size_t total = 0;
    EXPECT_EQ(tfrt_plan(&m, &total), TFRT_OK);
    EXPECT(!(m.tensors[1].arena_offset < m.tensors[2].arena_offset + 16 &&
             m.tensors[2].arena_offset < m.tensors[1].arena_offset + 16));
}

int main(void) {
    RUN(a_chain_needs_only_the_largest_adjacent_pair);
    RUN(a_skip_connection_stays_alive_until_its_last_reader);
    RUN(reshape_outputs_share_their_input_buffer);
    RUN(graph_output_is_never_reused);
    return rt_report("test_runtime_planner");
}
