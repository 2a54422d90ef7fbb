/* test_runtime_model.c — tfrt_load/tfrt_invoke on the generated seed models (TFRT_SEED_DIR,
 * written by runtime/tools/synth_tflite.py): valid models run, the arena contract holds, and
 * truncated, bit-flipped and random buffers are refused with an error code, never a crash or an
 * out-of-bounds read (each candidate sits in an exact-size heap block, under ASan). */
#include <stdlib.h>
#include <string.h>

#include "runtime_check.h"
#include "tfrt.h"

#define MAX_MODEL (64 * 1024)

static const char *const k_seeds[] = {"conv", "dwconv", "squeeze", "expand_dims", "requantize",
                                      "relu"};
#define NSEEDS (sizeof k_seeds / sizeof k_seeds[0])

static uint8_t models[NSEEDS][MAX_MODEL];
static size_t sizes[NSEEDS];
static tfrt_model m;
static uint8_t arena[64 * 1024];

static int read_seeds(void) {
    const char *dir = getenv("TFRT_SEED_DIR");
    if (!dir) return 0;
    for (size_t i = 0; i < NSEEDS; i++) {
        char path[512];
        size_t n = strlen(dir);
        if (n + strlen(k_seeds[i]) + 9 > sizeof path) return 0;
        memcpy(path, dir, n);
        path[n] = '/';
        strcpy(path + n + 1, k_seeds[i]);
        strcat(path, ".tflite");
        FILE *f = fopen(path, "rb");
        if (!f) return 0;
        sizes[i] = fread(models[i], 1, MAX_MODEL, f);
        fclose(f);
        if (sizes[i] == 0) return 0;
    }
    return 1;
}

/* Load a copy in an exact-size heap block (so ASan sees any read past the end); invoke when
 * the load succeeds. Returns the load status. */
static tfrt_status try_model(const uint8_t *bytes, size_t n) {
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy) return TFRT_E_BAD_ARG;
    memcpy(copy, bytes, n);
    tfrt_status s = tfrt_load(&m, copy, n, arena, sizeof arena);
    EXPECT(s >= TFRT_OK && s <= TFRT_E_NOT_LOADED);
    if (s == TFRT_OK) {
        size_t in_n = 0;
        int8_t *in = tfrt_input(&m, &in_n);
        EXPECT(in != NULL);
        if (in) memset(in, 0x5A, in_n);
        EXPECT_EQ(tfrt_invoke(&m), TFRT_OK);
    } else {
        EXPECT_EQ(tfrt_invoke(&m), TFRT_E_NOT_LOADED);
    }
    char name[32];
    (void)tfrt_unsupported_op(&m, name, sizeof name);
    free(copy);
    return s;
}

static void seed_models_load_and_run(void) {
    for (size_t i = 0; i < NSEEDS; i++) {
        EXPECT_EQ(try_model(models[i], sizes[i]), TFRT_OK);
        EXPECT(tfrt_arena_required(&m) > 0);
    }
}

static void invoke_is_deterministic(void) {
    EXPECT_EQ(tfrt_load(&m, models[0], sizes[0], arena, sizeof arena), TFRT_OK);
    size_t n = 0, on = 0;
    int type = -1;
    int8_t *in = tfrt_input(&m, &n);
    for (size_t i = 0; i < n; i++) in[i] = (int8_t)(i * 37);
    EXPECT_EQ(tfrt_invoke(&m), TFRT_OK);
    const int8_t *out = tfrt_output(&m, &on, &type);
    EXPECT_EQ(type, TFRT_INT8);
    int8_t first[256];
    EXPECT(on <= sizeof first);
    memcpy(first, out, on);
    for (size_t i = 0; i < n; i++) in[i] = (int8_t)(i * 37);
    EXPECT_EQ(tfrt_invoke(&m), TFRT_OK);
    EXPECT(memcmp(first, out, on) == 0);
}

static void too_small_arena_is_refused_with_the_size_needed(void) {
    EXPECT_EQ(tfrt_load(&m, models[0], sizes[0], NULL, 0), TFRT_E_ARENA_TOO_SMALL);
    size_t need = tfrt_arena_required(&m);
    EXPECT(need > 0);
    EXPECT_EQ(tfrt_load(&m, models[0], sizes[0], arena, need - 1), TFRT_E_ARENA_TOO_SMALL);
    EXPECT_EQ(tfrt_arena_required(&m), need);
    EXPECT(tfrt_input(&m, NULL) == NULL);
    EXPECT_EQ(tfrt_invoke(&m), TFRT_E_NOT_LOADED);
    EXPECT_EQ(tfrt_load(&m, models[0], sizes[0], arena, need), TFRT_OK);
    /* a misaligned arena costs at most 3 bytes of slack */
    tfrt_status s = tfrt_load(&m, models[0], sizes[0], arena + 1, need + 3);
    EXPECT_EQ(s, TFRT_OK);
    EXPECT_EQ(tfrt_invoke(&m), TFRT_OK);
}

static void bad_arguments_are_refused(void) {
    EXPECT_EQ(tfrt_load(NULL, models[0], sizes[0], arena, sizeof arena), TFRT_E_BAD_ARG);
    EXPECT_EQ(tfrt_load(&m, NULL, 10, arena, sizeof arena), TFRT_E_BAD_ARG);
    EXPECT_EQ(tfrt_load(&m, models[0], sizes[0], NULL, 100), TFRT_E_BAD_ARG);
    EXPECT_EQ(tfrt_invoke(NULL), TFRT_E_BAD_ARG);
    EXPECT(tfrt_output(NULL, NULL, NULL) == NULL);
    EXPECT(tfrt_status_str((tfrt_status)99) != NULL);
}

static void every_truncation_is_refused(void) {
    for (size_t i = 0; i < NSEEDS; i++) {
        size_t refused = 0;
        for (size_t n = 0; n < sizes[i]; n++)
            if (try_model(models[i], n) != TFRT_OK) refused++;
        EXPECT_EQ(refused, sizes[i]); /* every referenced byte matters in these models */
    }
}

static void every_single_byte_corruption_is_survived(void) {
    static uint8_t buf[MAX_MODEL];
    for (size_t i = 0; i < NSEEDS; i++) {
        memcpy(buf, models[i], sizes[i]);
        size_t refused = 0;
        for (size_t p = 0; p < sizes[i]; p++) {
            static const uint8_t masks[] = {0xFF, 0x01, 0x80};
            for (size_t k = 0; k < sizeof masks; k++) {
                buf[p] ^= masks[k];
                if (try_model(buf, sizes[i]) != TFRT_OK) refused++;
                buf[p] ^= masks[k];
            }
        }
        EXPECT(refused > 0);
    }
}

static void random_buffers_are_refused(void) {
    static uint8_t buf[4096];
    uint32_t x = 2463534242u;
    for (int round = 0; round < 400; round++) {
        size_t n = (size_t)(round * 10 % (int)sizeof buf);
        for (size_t i = 0; i < n; i++) {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            buf[i] = (uint8_t)x;
        }
        if (n >= 8) memcpy(buf + 4, "TFL3", 4); /* get past the identifier check */
        EXPECT(try_model(buf, n) != TFRT_OK);
    }
}

int main(void) {
    if (!read_seeds()) {
        fprintf(stderr, "test_runtime_model: set TFRT_SEED_DIR to the generated seed models "
                        "(make -C firmware host-test does)\n");
        return 1;
    }
    RUN(seed_models_load_and_run);
    RUN(invoke_is_deterministic);
    RUN(too_small_arena_is_refused_with_the_size_needed);
    RUN(bad_arguments_are_refused);
    RUN(every_truncation_is_refused);
    RUN(every_single_byte_corruption_is_survived);
    RUN(random_buffers_are_refused);
    return rt_report("test_runtime_model");
}
