/*
 * tf_runner_t over the micro runtime (firmware/runtime/include/tfrt.h).
 *
 * The arena is static; its size is TF_ARENA_BYTES (the port sets it from the board's RAM
 * budget). Models whose input or output is not int8 are refused.
 */
#include "tf_runner.h"
#include "tfrt.h"

#ifndef TF_ARENA_BYTES
#define TF_ARENA_BYTES (128u * 1024u)
#endif

static tfrt_model model;
static int usable; /* loaded, with int8 input and output */
static uint8_t arena[TF_ARENA_BYTES] __attribute__((aligned(16)));

static tf_status_t rt_load(void *ctx, const uint8_t *bytes, uint32_t size)
{
    tfrt_io in, out;
    (void)ctx;
    usable = tfrt_load(&model, bytes, size, arena, sizeof arena) == TFRT_OK &&
             tfrt_io_info(&model, 0, &in) == TFRT_OK && tfrt_io_info(&model, 1, &out) == TFRT_OK &&
             in.type == TFRT_INT8 && out.type == TFRT_INT8;
    return usable ? TF_OK : TF_E_MODEL;
}

static int8_t *rt_input(void *ctx, uint32_t *bytes)
{
    size_t n = 0;
    (void)ctx;
    int8_t *p = usable ? tfrt_input(&model, &n) : 0;
    *bytes = p ? (uint32_t)n : 0u;
    return p;
}

static tf_status_t rt_invoke(void *ctx)
{
    (void)ctx;
    return usable && tfrt_invoke(&model) == TFRT_OK ? TF_OK : TF_E_INFER;
}

static const int8_t *rt_output(void *ctx, uint32_t *bytes)
{
    size_t n = 0;
    int type = -1;
    (void)ctx;
    const void *p = usable ? tfrt_output(&model, &n, &type) : 0;
    if (p == 0 || type != TFRT_INT8) {
        *bytes = 0;
        return 0;
    }
    *bytes = (uint32_t)n;
    return (const int8_t *)p;
}

static void io_quant(int which, float *scale, int32_t *zero_point)
{
    tfrt_io io;
    if (tfrt_io_info(&model, which, &io) == TFRT_OK) {
        *scale = io.scale;
        *zero_point = io.zero_point;
    } else {
        *scale = 1.0f;
        *zero_point = 0;
    }
}

static void rt_output_quant(void *ctx, float *scale, int32_t *zero_point)
{
    (void)ctx;
    io_quant(1, scale, zero_point);
}

static void rt_input_quant(void *ctx, float *scale, int32_t *zero_point)
{
    (void)ctx;
    io_quant(0, scale, zero_point);
}

static int8_t *rt_staging(void *ctx, uint32_t *bytes)
{
    (void)ctx;
    size_t used = usable ? (tfrt_arena_required(&model) + 3u) & ~(size_t)3u : sizeof arena;
    if (used >= sizeof arena) {
        *bytes = 0;
        return 0;
    }
    *bytes = (uint32_t)(sizeof arena - used);
    return (int8_t *)(arena + used);
}

static uint32_t rt_arena_used(void *ctx)
{
    (void)ctx;
    return usable ? (uint32_t)tfrt_arena_required(&model) : 0u;
}

const tf_runner_t *tf_runner_tfrt(void)
{
    static const tf_runner_t runner = {
        rt_load, rt_input, rt_invoke, rt_output, rt_output_quant, rt_input_quant, rt_staging, rt_arena_used, TF_ARENA_BYTES, 0,
    };
    return &runner;
}
