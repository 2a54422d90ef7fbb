/*
 * The device application end to end over its UART: frames (INFO, INFER, OTA_*, CONFIRM,
 * TELEMETRY, RESET) and EEMBC text commands, on a simulated flash with the fake runtime.
 */
#include <stdint.h>

#include "core_check.h"
#include "core_fixtures.h"
#include "core_sim.h"
#include "app.h"
#include "tf_app.h"

static sim_flash_t sim;
static tf_flash_t flash_dev;
static fake_rt_t rt;
static tf_runner_t runner;
static uint8_t rx_q[8192];
static size_t rx_len, rx_pos;
static uint8_t tx[16384];
static size_t tx_len;
static uint32_t clock_ticks;
static int resets;

static size_t uart_read(uint8_t *buf, size_t max)
{
    size_t n = rx_len - rx_pos < max ? rx_len - rx_pos : max;
    memcpy(buf, rx_q + rx_pos, n);
    rx_pos += n;
    return n;
}
static void uart_write(const uint8_t *buf, size_t len)
{
    if (len > sizeof tx - tx_len) len = sizeof tx - tx_len;
    memcpy(tx + tx_len, buf, len);
    tx_len += len;
}
static uint32_t ticks(void) { return clock_ticks += 7; }
static void reset(void) { resets++; }

static void boot(const uint8_t *key)
{
    tf_app_env_t env = { uart_read, uart_write, ticks, 25000000u, "qemu-0001", key, reset, &flash_dev, &runner };
    tf_app_init(&env);
}

static void power_up(void)
{
    memset(&sim, 0, sizeof sim);
    memset(sim.mem, 0xFF, sizeof sim.mem);
    flash_dev = sim_flash_device(&sim);
    runner = fake_runner(&rt);
    boot(FX_PUBKEY);
}

/* Send one request, poll, decode the one reply; returns its status, copies its payload. */
static uint16_t next_id = 1;
static uint8_t reply[TF_FRAME_MAX_PAYLOAD];
static size_t reply_len;

static int request(uint8_t type, const uint8_t *payload, size_t len)
{
    static uint8_t scratch[TF_FRAME_MAX_BODY];
    static tf_rx_t rx;
    uint16_t id = next_id++;
    rx_len = tf_frame_encode(type, id, payload, len, scratch, rx_q, sizeof rx_q);
    rx_pos = 0;
    tx_len = 0;
    tf_app_poll();
    tf_rx_init(&rx);
    int got = -1;
    for (size_t i = 0; i < tx_len; i++) {
        if (tf_rx_push(&rx, tx[i]) == TF_RX_FRAME) {
            CHECK(got < 0);
            CHECK(rx.frame.type == (type | TF_MSG_REPLY) && rx.frame.req_id == id && rx.frame.len >= 1);
            got = rx.frame.payload[0];
            reply_len = rx.frame.len - 1;
            memcpy(reply, rx.frame.payload + 1, reply_len);
        }
    }
    return got;
}

static int ota(const uint8_t *begin, const uint8_t *payload, uint32_t size, int tamper_at)
{
    uint8_t buf[4 + TF_OTA_MAX_CHUNK];
    int st = request(TF_MSG_OTA_BEGIN, begin, TF_OTA_BEGIN_SIZE);
    if (st != TF_OK) return st;
    CHECK_EQ(reply_len, 12);
    uint32_t pos = tf_get_u32(reply), total = tf_get_u32(reply + 4), max = tf_get_u32(reply + 8);
    CHECK(total == size && max == TF_OTA_MAX_CHUNK);
    uint32_t step = 200; /* several chunks even for the small fixtures */
    while (pos < size) {
        uint32_t n = size - pos < step ? size - pos : step;
        tf_put_u32(buf, pos);
        memcpy(buf + 4, payload + pos, n);
        if (tamper_at >= 0 && (uint32_t)tamper_at >= pos && (uint32_t)tamper_at < pos + n) buf[4 + tamper_at - pos] ^= 1;
        if ((st = request(TF_MSG_OTA_CHUNK, buf, 4 + n)) != TF_OK) return st;
        CHECK_EQ(tf_get_u32(reply), pos + n);
        pos = tf_get_u32(reply);
    }
    return request(TF_MSG_OTA_COMMIT, NULL, 0);
}

static void reset_and_boot(void)
{
    int before = resets;
    CHECK_EQ(request(TF_MSG_RESET, NULL, 0), TF_OK);
    CHECK_EQ(resets, before + 1);
    boot(FX_PUBKEY);
}

static void test_info_empty(void)
{
    power_up();
    CHECK_EQ(request(TF_MSG_INFO, NULL, 0), TF_OK);
    CHECK_EQ(reply_len, 172);
    CHECK(reply[0] == 1 && (reply[1] & 0x01) == 0 && (reply[1] & 0x08) && (int8_t)reply[3] == -1);
    CHECK(strcmp((const char *)reply + 36, "qemu-0001") == 0);
    CHECK(strcmp((const char *)reply + 68, TF_FIRMWARE_VERSION) == 0);
    CHECK_EQ(tf_get_u32(reply + 12), (SIM_SECTORS - 2) / 2 * SIM_SECTOR - SIM_SECTOR);
    CHECK_EQ(tf_get_u32(reply + 24), 25000000u);
    CHECK_EQ(request(TF_MSG_INFO, (const uint8_t *)"x", 1), TF_E_BAD_LENGTH);
    CHECK_EQ(request(0x42, NULL, 0), TF_E_UNKNOWN_TYPE);
    CHECK_EQ(request(TF_MSG_INFER, (const uint8_t *)"\0\0\0\0\1", 5), TF_E_NO_MODEL);
    CHECK_EQ(request(TF_MSG_CONFIRM, NULL, 0), TF_E_NO_MODEL);
}

static void test_ota_over_frames(void)
{
    power_up();
    CHECK_EQ(ota(FX_V1_BEGIN, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD, -1), TF_OK);
    reset_and_boot();
    CHECK_EQ(request(TF_MSG_INFO, NULL, 0), TF_OK);
    CHECK((reply[1] & 0x07) == 0x07);            /* model, on trial, self-test passed */
    CHECK(reply[2] == TF_BOOT_EV_TRIAL && reply[4] == TF_SLOT_TRIAL);
    CHECK(strcmp((const char *)reply + 84, "digits") == 0);
    CHECK(tf_get_u16(reply + 116) == 1 && tf_get_u16(reply + 118) == 0 && tf_get_u32(reply + 124) == 5);
    CHECK_MEM(reply + 128, FX_V1_BEGIN + 56, 32);
    CHECK(tf_get_u32(reply + 160) == 16 && tf_get_u32(reply + 164) == 6 && tf_get_u32(reply + 20) == 128);
    CHECK_EQ(request(TF_MSG_CONFIRM, NULL, 0), TF_OK);
    CHECK_EQ(request(TF_MSG_INFO, NULL, 0), TF_OK);
    CHECK((reply[1] & 0x02) == 0 && reply[4] == TF_SLOT_CONFIRMED && tf_get_u32(reply + 8) == 5);

    /* refused: another key, a lower counter, a tampered chunk; then a failing self-test */
    CHECK_EQ(ota(FX_OTHERKEY_BEGIN, FX_OTHERKEY_PAYLOAD, sizeof FX_OTHERKEY_PAYLOAD, -1), TF_E_SIGNATURE);
    CHECK_EQ(ota(FX_LOW_BEGIN, FX_LOW_PAYLOAD, sizeof FX_LOW_PAYLOAD, -1), TF_E_ROLLBACK);
    CHECK_EQ(ota(FX_V2_BEGIN, FX_V2_PAYLOAD, sizeof FX_V2_PAYLOAD, 300), TF_E_HASH);
    CHECK_EQ(ota(FX_BADGOLDEN_BEGIN, FX_BADGOLDEN_PAYLOAD, sizeof FX_BADGOLDEN_PAYLOAD, -1), TF_OK);
    reset_and_boot();
    CHECK_EQ(request(TF_MSG_INFO, NULL, 0), TF_OK);
    CHECK(reply[2] == TF_BOOT_EV_SELFTEST_FAILED && reply[4] == TF_SLOT_CONFIRMED && reply[5] == TF_SLOT_REJECTED);
    CHECK_MEM(reply + 128, FX_V1_BEGIN + 56, 32);

    /* a chunk at the wrong offset is refused with the expected one */
    CHECK_EQ(request(TF_MSG_OTA_BEGIN, FX_V2_BEGIN, TF_OTA_BEGIN_SIZE), TF_OK);
    uint8_t chunk[4 + 16];
    tf_put_u32(chunk, 64);
    memcpy(chunk + 4, FX_V2_PAYLOAD + 64, 16);
    CHECK_EQ(request(TF_MSG_OTA_CHUNK, chunk, sizeof chunk), TF_E_OFFSET);
    CHECK_EQ(tf_get_u32(reply), 0);
    CHECK_EQ(request(TF_MSG_OTA_BEGIN, FX_V2_BEGIN, 100), TF_E_BAD_LENGTH);
    CHECK_EQ(sim.violations, 0);
}

static void test_infer_and_telemetry(void)
{
    power_up();
    CHECK_EQ(ota(FX_V1_BEGIN, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD, -1), TF_OK);
    reset_and_boot();
    uint8_t req[5 + 16];
    memset(req, 0, 5);
    for (int i = 0; i < 16; i++) req[5 + i] = (uint8_t)(i * 16); /* -128..112 after +128 shift: bins 8..15, 0..7 */
    req[4] = 1;
    /* the input arrives in two pieces: 10 bytes staged, 6 bytes and run */
    uint8_t part[5 + 10];
    memcpy(part, req, 5);
    part[4] = 0;
    memcpy(part + 5, req + 5, 10);
    CHECK_EQ(request(TF_MSG_INFER, part, sizeof part), TF_OK);
    uint8_t rest[5 + 6];
    tf_put_u32(rest, 10);
    rest[4] = 1;
    memcpy(rest + 5, req + 15, 6);
    CHECK_EQ(request(TF_MSG_INFER, rest, sizeof rest), TF_OK);
    CHECK_EQ(reply_len, 8 + 6);
    CHECK(tf_get_u32(reply) > 0 && tf_get_u32(reply + 4) == 6);
    /* the fake model: out[j] = in[j] + weight[j] */
    for (int j = 0; j < 6; j++) CHECK_EQ((int8_t)reply[8 + j], (int8_t)(uint8_t)(req[5 + j] + FX_V1_PAYLOAD[12 + j]));
    int8_t first_out[6];
    memcpy(first_out, reply + 8, 6);
    CHECK_EQ(request(TF_MSG_INFER, req, sizeof req), TF_OK);
    uint8_t too_long[5 + 17] = { 0 };
    CHECK_EQ(request(TF_MSG_INFER, too_long, sizeof too_long), TF_E_BAD_LENGTH);

    /* TELEMETRY: read and start a new period */
    const uint8_t read_reset[2] = { 1, 0 };
    CHECK_EQ(request(TF_MSG_TELEMETRY, read_reset, 2), TF_OK);
    CHECK_EQ(reply_len, 40 + 64 + 4 * 6 + 64);
    CHECK(reply[1] == 1 && reply[2] == 6 && tf_get_u32(reply + 12) == 2 && tf_get_u32(reply + 16) == 0);
    uint32_t total = 0;
    for (int b = 0; b < 16; b++) total += tf_get_u32(reply + 40 + 4 * b);
    CHECK_EQ(total, 32);
    int top = 0;
    for (int j = 1; j < 6; j++) if (first_out[j] > first_out[top]) top = j;
    CHECK_EQ(tf_get_u32(reply + 104 + 4 * top), 2);
    CHECK_EQ(request(TF_MSG_TELEMETRY, NULL, 0), TF_OK);
    CHECK(tf_get_u32(reply + 4) == 1 && tf_get_u32(reply + 12) == 0);

    /* a damaged frame is counted, not answered */
    static uint8_t scratch[TF_FRAME_MAX_BODY];
    rx_len = tf_frame_encode(TF_MSG_INFO, 9, NULL, 0, scratch, rx_q, sizeof rx_q);
    rx_q[2] ^= 0x55;
    rx_pos = 0;
    tx_len = 0;
    tf_app_poll();
    CHECK_EQ(tx_len, 0);
    CHECK_EQ(request(TF_MSG_TELEMETRY, NULL, 0), TF_OK);
    CHECK_EQ(tf_get_u32(reply + 20), 1);
}

static const char *text(const char *cmd)
{
    static char out[4096];
    rx_len = strlen(cmd);
    memcpy(rx_q, cmd, rx_len);
    rx_pos = 0;
    tx_len = 0;
    tf_app_poll();
    size_t n = tx_len < sizeof out - 1 ? tx_len : sizeof out - 1;
    memcpy(out, tx, n);
    out[n] = '\0';
    return out;
}

static void test_eembc(void)
{
    power_up();
    CHECK(strcmp(text("name%"), "m-name-dut-[tinyfleet]\r\nm-ready\r\n") == 0);
    CHECK(strstr(text("db load 16%"), "e-[db load: the model input has 0 bytes]") != NULL);
    CHECK_EQ(ota(FX_V1_BEGIN, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD, -1), TF_OK);
    reset_and_boot();
    CHECK(strcmp(text("profile%"), "m-profile-[ULPMark for tinyML Firmware V0.0.1]\r\nm-model-[digits]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(text("db load 16%"), "m-[Expecting 16 bytes]\r\nm-ready\r\n") == 0);
    CHECK(strcmp(text("db 000102030405060708090a0b%"), "m-ready\r\n") == 0);
    CHECK(strcmp(text("db 80ff7f01%"), "m-load-done\r\nm-ready\r\n") == 0);
    CHECK(strstr(text("db 00%"), "e-[db: more bytes than announced]") != NULL);
    CHECK(strstr(text("db print%"), "m-buffer-000102030405060708090a0b80ff7f01\r\n") != NULL);
    const char *r = text("infer 3 2%");
    CHECK(strstr(r, "m-warmup-start-2\r\nm-warmup-done\r\nm-infer-start-3\r\nm-lap-us-") != NULL);
    CHECK(strstr(r, "m-infer-done\r\nm-results-[") != NULL);
    CHECK(strstr(r, "]\r\nm-ready\r\n") != NULL);
    /* results: (q + 128) / 256 with 3 decimals; out[0] = in[0] + weight[0] */
    int8_t q = (int8_t)(uint8_t)(0 + FX_V1_PAYLOAD[12]);
    int milli = (int)(((q + 128) / 256.0) * 1000.0 + 0.5);
    char want[32];
    snprintf(want, sizeof want, "m-results-[%d.%03d,", milli / 1000, milli % 1000);
    CHECK(strstr(text("results%"), want) != NULL);
    CHECK_EQ(tf_app_telemetry()->inferences, 5);
    CHECK(strncmp(text("timestamp%"), "m-lap-us-", 9) == 0);
    CHECK(strstr(text("bogus%"), "e-[Unknown command: bogus]\r\nm-ready") != NULL);
    CHECK(strstr(text("infer x%"), "e-[infer needs N [W], each at most 100000]") != NULL);
    CHECK(strstr(text("infer 4294967295 1%"), "e-[infer needs N [W]") != NULL);
    CHECK(strstr(text("infer 1 100001%"), "e-[infer needs N [W]") != NULL);
    /* text and frames interleave on the one UART */
    CHECK(strcmp(text("name%"), "m-name-dut-[tinyfleet]\r\nm-ready\r\n") == 0);
    CHECK_EQ(request(TF_MSG_INFO, NULL, 0), TF_OK);
}

int main(void)
{
    test_info_empty();
    test_ota_over_frames();
    test_infer_and_telemetry();
    test_eembc();
    return core_report("test_proto_app");
}
