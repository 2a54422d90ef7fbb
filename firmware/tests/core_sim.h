/*
 * Test doubles for the core's OTA and app tests:
 *  - a simulated NOR flash that counts writes and erases and loses power at the N-th one
 *    (the interrupted operation is half done, then every operation fails until power returns);
 *  - a fake runtime for the "FAKE" models of core_fixtures.h (see gen_core_fixtures.py):
 *    output[j] = wrap8(input[j % input_bytes] + weight[j]).
 */
#ifndef CORE_SIM_H
#define CORE_SIM_H

#include <stdint.h>
#include <string.h>

#include "flash_hal.h"
#include "tf_proto.h"
#include "tf_runner.h"

#define SIM_SECTOR 256u
#define SIM_SECTORS 12u
#define SIM_SIZE (SIM_SECTOR * SIM_SECTORS)
#define SIM_ALIGN 8u

typedef struct {
    uint8_t mem[SIM_SIZE];
    long ops;       /* writes + erases so far */
    long cut_at;    /* the operation (1-based) during which power is lost; 0: never */
    int dead;       /* power is off: every operation fails */
    int violations; /* misaligned operations, programming of bytes that were not erased */
} sim_flash_t;

static inline int sim_read(void *ctx, uint32_t off, void *dst, uint32_t len)
{
    sim_flash_t *s = (sim_flash_t *)ctx;
    if (s->dead || off > SIM_SIZE || len > SIM_SIZE - off) return -1;
    memcpy(dst, s->mem + off, len);
    return 0;
}

static inline int sim_write(void *ctx, uint32_t off, const void *src, uint32_t len)
{
    sim_flash_t *s = (sim_flash_t *)ctx;
    const uint8_t *p = (const uint8_t *)src;
    if (s->dead) return -1;
    if (off > SIM_SIZE || len > SIM_SIZE - off || off % SIM_ALIGN || len % SIM_ALIGN) {
        s->violations++;
        return -1;
    }
    uint32_t n = len;
    if (++s->ops == s->cut_at) {
        n = len / 2;
        s->dead = 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (s->mem[off + i] != 0xFF && p[i] != 0xFF) s->violations++;
        s->mem[off + i] &= p[i];
    }
    return s->dead ? -1 : 0;
}

static inline int sim_erase(void *ctx, uint32_t off, uint32_t len)
{
    sim_flash_t *s = (sim_flash_t *)ctx;
    if (s->dead) return -1;
    if (off > SIM_SIZE || len > SIM_SIZE - off || off % SIM_SECTOR || len % SIM_SECTOR) {
        s->violations++;
        return -1;
    }
    uint32_t n = len;
    if (++s->ops == s->cut_at) {
        n = len / 2 + 3; /* a torn erase: part erased, the rest keeps old bytes */
        s->dead = 1;
    }
    memset(s->mem + off, 0xFF, n);
    return s->dead ? -1 : 0;
}

static inline const uint8_t *sim_map(void *ctx) { return ((sim_flash_t *)ctx)->mem; }

static inline tf_flash_t sim_flash_device(sim_flash_t *s)
{
    tf_flash_t f = { sim_read, sim_write, sim_erase, sim_map, s, SIM_SIZE, SIM_SECTOR, SIM_ALIGN };
    return f;
}

static inline void sim_power_on(sim_flash_t *s)
{
    s->dead = 0;
    s->cut_at = 0;
}

/* ---- fake runtime ---- */
typedef struct {
    const uint8_t *model;
    uint32_t nin, nout;
    int8_t in[64];
    int8_t out[64];
    int8_t arena_tail[512]; /* the staging room the fake arena leaves */
    uint32_t tail_bytes;    /* 0: the default (all of arena_tail) */
    int fail_invoke; /* test switch: invoke fails */
    int loads;
} fake_rt_t;

static inline tf_status_t fake_load(void *ctx, const uint8_t *model, uint32_t size)
{
    fake_rt_t *f = (fake_rt_t *)ctx;
    f->model = NULL;
    if (size < 12 || memcmp(model, "FAKE", 4) != 0) return TF_E_MODEL;
    uint32_t nin = tf_get_u32(model + 4), nout = tf_get_u32(model + 8);
    if (nin == 0 || nout == 0 || nin > sizeof f->in || nout > sizeof f->out || 12 + nout > size) return TF_E_MODEL;
    f->model = model;
    f->nin = nin;
    f->nout = nout;
    f->loads++;
    return TF_OK;
}

static inline int8_t *fake_input(void *ctx, uint32_t *bytes)
{
    fake_rt_t *f = (fake_rt_t *)ctx;
    *bytes = f->model ? f->nin : 0;
    return f->model ? f->in : NULL;
}

static inline tf_status_t fake_invoke(void *ctx)
{
    fake_rt_t *f = (fake_rt_t *)ctx;
    if (f->model == NULL || f->fail_invoke) return TF_E_INFER;
    for (uint32_t j = 0; j < f->nout; j++) {
        f->out[j] = (int8_t)(uint8_t)((uint8_t)f->in[j % f->nin] + f->model[12 + j]);
    }
    return TF_OK;
}

static inline const int8_t *fake_output(void *ctx, uint32_t *bytes)
{
    fake_rt_t *f = (fake_rt_t *)ctx;
    *bytes = f->model ? f->nout : 0;
    return f->model ? f->out : NULL;
}

static inline void fake_output_quant(void *ctx, float *scale, int32_t *zero_point)
{
    (void)ctx;
    *scale = 1.0f / 256.0f;
    *zero_point = -128;
}

/* the fake model's input is read as q = round(x * 256) - 128 */
static inline void fake_input_quant(void *ctx, float *scale, int32_t *zero_point)
{
    (void)ctx;
    *scale = 1.0f / 256.0f;
    *zero_point = -128;
}

static inline int8_t *fake_staging(void *ctx, uint32_t *bytes)
{
    fake_rt_t *f = (fake_rt_t *)ctx;
    *bytes = f->model ? (f->tail_bytes ? f->tail_bytes : (uint32_t)sizeof f->arena_tail) : 0u;
    return f->model ? f->arena_tail : NULL;
}

static inline uint32_t fake_arena_used(void *ctx)
{
    return ((fake_rt_t *)ctx)->model ? 128u : 0u;
}

static inline tf_runner_t fake_runner(fake_rt_t *f)
{
    tf_runner_t r = { fake_load, fake_input, fake_invoke, fake_output, fake_output_quant, fake_input_quant, fake_staging, fake_arena_used, 4096u, f };
    return r;
}

/* The boot hook the OTA tests use: load, and on a trial run the golden self-test. */
static inline tf_status_t fake_start(void *ctx, const tf_slot_view_t *view)
{
    const tf_runner_t *r = (const tf_runner_t *)ctx;
    uint32_t failed;
    tf_status_t st = r->load(r->ctx, view->model, view->manifest.model_size);
    if (st != TF_OK || !view->trial) return st;
    return tf_selftest_run(r, &view->manifest, view->golden, &failed);
}

#endif /* CORE_SIM_H */
