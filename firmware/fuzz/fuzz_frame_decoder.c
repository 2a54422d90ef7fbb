/*
 * libFuzzer target: the serial input path of the device, from raw UART bytes on.
 *
 * Each input is fed (1) byte by byte to the frame/text splitter, checking that every frame it
 * delivers re-encodes to a frame that parses back the same, (2) straight to the COBS decoder and
 * the frame parser, and (3) to the whole device application (frame dispatch, OTA handlers, EEMBC
 * text commands) on a simulated flash holding a confirmed model, restored to the same booted
 * state for every input. Fuzzing builds skip the frame CRC check (proto_frame.c) so that
 * mutated frames reach the handlers. Any crash, sanitizer report or broken invariant is a finding.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/core_fixtures.h"
#include "../tests/core_sim.h"
#include "../core/src/app_priv.h"
#include "tf_app.h"
#include "tf_proto.h"

#define ASSERT(c) do { if (!(c)) abort(); } while (0)

static sim_flash_t sim, installed;
static tf_app_t booted_app;
static fake_rt_t booted_rt;
static tf_flash_t flash_dev;
static fake_rt_t rt;
static tf_runner_t runner;
static const uint8_t *feed;
static size_t feed_len, feed_pos;
static uint64_t clock_ticks;

static size_t uart_read(uint8_t *buf, size_t max)
{
    size_t n = feed_len - feed_pos < max ? feed_len - feed_pos : max;
    memcpy(buf, feed + feed_pos, n);
    feed_pos += n;
    return n;
}
static void uart_write(const uint8_t *buf, size_t len) { (void)buf; (void)len; }
static uint64_t ticks(void) { return clock_ticks += 3; }
static void reset(void) {}

static void app_boot(void)
{
    tf_app_env_t env = { uart_read, uart_write, ticks, 1000000u, "fuzz", FX_PUBKEY, reset, &flash_dev, &runner };
    tf_app_init(&env);
}

/* Once: a flash with V1 installed and confirmed, through the application itself. */
static void install(void)
{
    memset(sim.mem, 0xFF, sizeof sim.mem);
    flash_dev = sim_flash_device(&sim);
    runner = fake_runner(&rt);
    app_boot();
    uint32_t resume = 0, next = 0;
    tf_ota_t *w = &tf_app.ota;
    ASSERT(tf_ota_begin(w, FX_V1_BEGIN, &resume) == TF_OK);
    ASSERT(tf_ota_chunk(w, 0, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD, &next) == TF_OK);
    ASSERT(tf_ota_commit(w) == TF_OK);
    app_boot();
    ASSERT(tf_ota_confirm(&tf_app.ota) == TF_OK);
    installed = sim;
    booted_app = tf_app;
    booted_rt = rt;
}

static void check_splitter(const uint8_t *data, size_t size)
{
    static tf_rx_t rx;
    static uint8_t scratch[TF_FRAME_MAX_BODY], wire[TF_FRAME_MAX_WIRE], body[TF_FRAME_MAX_BODY];
    tf_rx_init(&rx);
    for (size_t i = 0; i < size; i++) {
        tf_rx_event_t ev = tf_rx_push(&rx, data[i]);
        if (ev == TF_RX_FRAME) {
            tf_frame_t f = rx.frame;
            ASSERT(f.len <= TF_FRAME_MAX_PAYLOAD);
            size_t n = tf_frame_encode(f.type, f.req_id, f.payload, f.len, scratch, wire, sizeof wire);
            ASSERT(n > 2 && wire[0] == 0 && wire[n - 1] == 0);
            long b = tf_cobs_decode(wire + 1, n - 2, body, sizeof body);
            tf_frame_t g;
            ASSERT(b > 0 && tf_frame_parse(body, (size_t)b, &g) == TF_FRAME_OK);
            ASSERT(g.type == f.type && g.req_id == f.req_id && g.len == f.len && memcmp(g.payload, f.payload, f.len) == 0);
        } else if (ev == TF_RX_TEXT) {
            ASSERT(strlen(rx.text) <= TF_TEXT_MAX_LINE);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t body[TF_FRAME_MAX_BODY];
    if (!ready) {
        install();
        ready = 1;
    }
    check_splitter(data, size);
    long n = tf_cobs_decode(data, size, body, sizeof body);
    if (n >= 0) {
        tf_frame_t f;
        tf_frame_parse(body, (size_t)n, &f);
    }
    sim = installed;
    tf_app = booted_app;
    rt = booted_rt;
    feed = data;
    feed_len = size;
    feed_pos = 0;
    tf_app_poll();
    ASSERT(sim.violations == 0);
    return 0;
}
