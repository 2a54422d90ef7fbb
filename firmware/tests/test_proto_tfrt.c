/*
 * The board's model runner (core/bind/runner_tfrt.c) over the real micro runtime, on the
 * runtime's generated seed models ($TFRT_SEED_DIR, set by the Makefile): load, the int8 input
 * and output the application stages and reads, the output quantization for EEMBC results, and
 * the golden self-test accepting the runtime's own outputs and refusing one changed byte.
 * (Bit-exactness against TFLM is the runtime's own test and the HIL tests'.)
 */
#include <stdio.h>
#include <stdlib.h>

#define TF_ARENA_BYTES (64u * 1024u)
#include "../core/bind/runner_tfrt.c"

#include "core_check.h"
#include "tf_proto.h"

static uint8_t model_bytes[64 * 1024];
static uint8_t golden[16 + 2 * 2 * 4096];

static size_t read_seed(const char *name)
{
    const char *dir = getenv("TFRT_SEED_DIR");
    char path[512];
    if (dir == NULL || (size_t)snprintf(path, sizeof path, "%s/%s.tflite", dir, name) >= sizeof path) return 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL) return 0;
    size_t n = fread(model_bytes, 1, sizeof model_bytes, f);
    fclose(f);
    return n;
}

static void test_seed(const char *name)
{
    const tf_runner_t *r = tf_runner_tfrt();
    size_t size = read_seed(name);
    CHECK(size > 0);
    if (size == 0) {
        fprintf(stderr, "  seed model %s not found (TFRT_SEED_DIR)\n", name);
        return;
    }
    CHECK_EQ(r->load(r->ctx, model_bytes, (uint32_t)size), TF_OK);
    uint32_t nin = 0, nout = 0;
    int8_t *in = r->input(r->ctx, &nin);
    CHECK(in != NULL && nin > 0 && nin <= 4096);
    CHECK(r->output(r->ctx, &nout) != NULL && nout > 0 && nout <= 4096);
    CHECK(r->arena_used(r->ctx) > 0 && r->arena_used(r->ctx) <= TF_ARENA_BYTES);
    float scale = 0;
    int32_t zp = 1000;
    r->output_quant(r->ctx, &scale, &zp);
    CHECK(scale > 0.0f && zp >= -128 && zp <= 127);
    if (in == NULL || nin > 4096 || nout > 4096) return;

    /* golden.bin from the runtime's own outputs for two inputs */
    tf_manifest_t m = { 0 };
    m.input_bytes = nin;
    m.output_bytes = nout;
    m.golden_count = 2;
    memcpy(golden, "TFGV", 4);
    tf_put_u16(golden + 4, 1);
    tf_put_u16(golden + 6, 2);
    tf_put_u32(golden + 8, nin);
    tf_put_u32(golden + 12, nout);
    uint8_t *rec = golden + 16;
    for (int k = 0; k < 2; k++) {
        for (uint32_t i = 0; i < nin; i++) rec[i] = (uint8_t)(i * 37u + 11u * (uint32_t)k);
        memcpy(in, rec, nin);
        CHECK_EQ(r->invoke(r->ctx), TF_OK);
        const int8_t *out = r->output(r->ctx, &nout);
        memcpy(rec + nin, out, nout);
        rec += nin + nout;
    }
    uint32_t failed = 99;
    CHECK_EQ(tf_selftest_run(r, &m, golden, &failed), TF_OK);
    golden[16 + (nin + nout) + nin] ^= 0x01; /* record 1, first output byte */
    CHECK_EQ(tf_selftest_run(r, &m, golden, &failed), TF_E_SELFTEST);
    CHECK_EQ(failed, 1);
    m.input_bytes = nin + 1; /* a manifest that does not match the golden header */
    CHECK_EQ(tf_selftest_run(r, &m, golden, &failed), TF_E_MANIFEST);
}

static void test_refused_model(void)
{
    const tf_runner_t *r = tf_runner_tfrt();
    uint32_t n = 7;
    static const uint8_t junk[64] = { 0x1c, 0, 0, 0, 'T', 'F', 'L', '3' };
    CHECK_EQ(r->load(r->ctx, junk, sizeof junk), TF_E_MODEL);
    CHECK(r->input(r->ctx, &n) == NULL && n == 0);
    CHECK(r->output(r->ctx, &n) == NULL && n == 0);
    CHECK_EQ(r->invoke(r->ctx), TF_E_INFER);
    CHECK_EQ(r->arena_used(r->ctx), 0);
}

int main(void)
{
    test_seed("conv");
    test_seed("dwconv");
    test_refused_model();
    return core_report("test_proto_tfrt");
}
