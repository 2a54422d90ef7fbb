/* CRC-32, COBS, frame build/parse and the text/frame stream splitter. */
#include <stdint.h>
#include <stdlib.h>

#include "core_check.h"
#include "tf_proto.h"

static uint32_t rng_state = 12345u;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void test_crc32(void)
{
    CHECK_EQ(tf_crc32("123456789", 9), 0xCBF43926u); /* the CRC-32/ISO-HDLC check value */
    CHECK_EQ(tf_crc32("", 0), 0u);
    uint32_t c = tf_crc32_update(0, "1234", 4);
    CHECK_EQ(tf_crc32_update(c, "56789", 5), 0xCBF43926u);
}

static void roundtrip(const uint8_t *in, size_t n)
{
    static uint8_t enc[4096], dec[4096];
    size_t e = tf_cobs_encode(in, n, enc, sizeof enc);
    CHECK(e >= n + 1 && e <= TF_COBS_MAX_ENCODED(n));
    CHECK(memchr(enc, 0, e) == NULL);
    long d = tf_cobs_decode(enc, e, dec, sizeof dec);
    CHECK_EQ(d, (long)n);
    if (d == (long)n && n > 0) CHECK_MEM(dec, in, n);
}

static void test_cobs(void)
{
    static const uint8_t zero1[1] = { 0 };
    uint8_t enc[16], buf[600];
    CHECK_EQ(tf_cobs_encode(zero1, 1, enc, sizeof enc), 2);
    CHECK(enc[0] == 1 && enc[1] == 1);
    static const uint8_t ex[] = { 0x11, 0x22, 0x00, 0x33 };
    CHECK_EQ(tf_cobs_encode(ex, 4, enc, sizeof enc), 5);
    static const uint8_t ex_enc[] = { 0x03, 0x11, 0x22, 0x02, 0x33 };
    CHECK_MEM(enc, ex_enc, 5);
    roundtrip(NULL, 0);
    /* runs around the 254-byte block boundary, with and without zeros after them */
    for (size_t n = 250; n <= 520; n++) {
        for (size_t i = 0; i < n; i++) buf[i] = (uint8_t)(1 + i % 255);
        roundtrip(buf, n);
        buf[n - 1] = 0;
        roundtrip(buf, n);
    }
    for (int t = 0; t < 2000; t++) {
        size_t n = rnd() % sizeof buf;
        for (size_t i = 0; i < n; i++) buf[i] = (rnd() % 4 == 0) ? 0 : (uint8_t)rnd();
        roundtrip(buf, n);
    }
    /* malformed input: a zero inside, a code running past the end, no room */
    static const uint8_t bad1[] = { 0x03, 0x11, 0x00 };
    static const uint8_t bad2[] = { 0x05, 0x11, 0x22 };
    uint8_t out[8];
    CHECK_EQ(tf_cobs_decode(bad1, sizeof bad1, out, sizeof out), -1);
    CHECK_EQ(tf_cobs_decode(bad2, sizeof bad2, out, sizeof out), -1);
    CHECK_EQ(tf_cobs_decode(ex_enc, sizeof ex_enc, out, 2), -1);
    /* encoder refuses a too small output */
    CHECK_EQ(tf_cobs_encode(ex, 4, enc, 4), 0);
}

static tf_rx_event_t feed(tf_rx_t *rx, const uint8_t *p, size_t n, int *frames, int *texts, int *bad)
{
    tf_rx_event_t last = TF_RX_NONE;
    for (size_t i = 0; i < n; i++) {
        tf_rx_event_t ev = tf_rx_push(rx, p[i]);
        if (ev == TF_RX_FRAME) (*frames)++;
        if (ev == TF_RX_TEXT) (*texts)++;
        if (ev == TF_RX_BAD_FRAME) (*bad)++;
        if (ev != TF_RX_NONE) last = ev;
    }
    return last;
}

static void test_frames(void)
{
    static uint8_t scratch[TF_FRAME_MAX_BODY], wire[TF_FRAME_MAX_WIRE];
    static uint8_t payload[TF_FRAME_MAX_PAYLOAD + 1];
    for (size_t i = 0; i < sizeof payload; i++) payload[i] = (uint8_t)(i * 31);
    size_t n = tf_frame_encode(0x02, 0xBEEF, payload, 300, scratch, wire, sizeof wire);
    CHECK(n > 300 && wire[0] == 0 && wire[n - 1] == 0);
    CHECK(memchr(wire + 1, 0, n - 2) == NULL);
    /* the body on the wire: marker, type, id LE, payload, CRC LE */
    uint8_t body[TF_FRAME_MAX_BODY];
    long b = tf_cobs_decode(wire + 1, n - 2, body, sizeof body);
    CHECK_EQ(b, 308);
    CHECK(body[0] == TF_FRAME_MARKER && body[1] == 0x02 && body[2] == 0xEF && body[3] == 0xBE);
    CHECK_EQ(tf_get_u32(body + 304), tf_crc32(body, 304));
    tf_frame_t f;
    CHECK_EQ(tf_frame_parse(body, (size_t)b, &f), TF_FRAME_OK);
    CHECK(f.type == 0x02 && f.req_id == 0xBEEF && f.len == 300);
    CHECK_MEM(f.payload, payload, 300);
    body[100] ^= 1;
    CHECK_EQ(tf_frame_parse(body, (size_t)b, &f), TF_FRAME_E_CRC);
    body[100] ^= 1;
    body[0] = 'A';
    CHECK_EQ(tf_frame_parse(body, (size_t)b, &f), TF_FRAME_E_MARKER);
    CHECK_EQ(tf_frame_parse(body, 7, &f), TF_FRAME_E_SHORT);
    /* largest payload fits, one more does not */
    CHECK(tf_frame_encode(0x05, 1, payload, TF_FRAME_MAX_PAYLOAD, scratch, wire, sizeof wire) > 0);
    CHECK_EQ(tf_frame_encode(0x05, 1, payload, TF_FRAME_MAX_PAYLOAD + 1, scratch, wire, sizeof wire), 0);
}

static void test_splitter(void)
{
    static tf_rx_t rx;
    static uint8_t scratch[TF_FRAME_MAX_BODY], wire[TF_FRAME_MAX_WIRE];
    int frames = 0, texts = 0, bad = 0;
    tf_rx_init(&rx);
    /* text, a frame, text again */
    const char *t1 = "name%";
    CHECK_EQ(feed(&rx, (const uint8_t *)t1, strlen(t1), &frames, &texts, &bad), TF_RX_TEXT);
    CHECK(strcmp(rx.text, "name") == 0);
    uint8_t p[3] = { 1, 0, 2 };
    size_t n = tf_frame_encode(0x01, 7, p, 3, scratch, wire, sizeof wire);
    CHECK_EQ(feed(&rx, wire, n, &frames, &texts, &bad), TF_RX_FRAME);
    CHECK(rx.frame.type == 0x01 && rx.frame.req_id == 7 && rx.frame.len == 3);
    const char *t2 = "\r\ndb load 490%";
    CHECK_EQ(feed(&rx, (const uint8_t *)t2, strlen(t2), &frames, &texts, &bad), TF_RX_TEXT);
    CHECK(strcmp(rx.text, "db load 490") == 0);
    CHECK(frames == 1 && texts == 2 && bad == 0);
    /* back-to-back frames share nothing but work: 00 A 00 00 B 00 */
    uint8_t two[2 * TF_FRAME_MAX_WIRE];
    size_t n1 = tf_frame_encode(0x01, 1, p, 3, scratch, two, sizeof two);
    size_t n2 = tf_frame_encode(0x01, 2, p, 3, scratch, two + n1, sizeof two - n1);
    frames = texts = bad = 0;
    feed(&rx, two, n1 + n2, &frames, &texts, &bad);
    CHECK(frames == 2 && bad == 0 && rx.frame.req_id == 2);
    /* a sender cut off mid-frame: the next frame is still found (resync on the bad frame) */
    frames = texts = bad = 0;
    feed(&rx, two, n1 / 2, &frames, &texts, &bad);
    feed(&rx, two + n1, n2, &frames, &texts, &bad);
    CHECK(bad == 1 && frames == 1 && rx.frame.req_id == 2);
    /* a corrupted frame is reported, not delivered */
    frames = texts = bad = 0;
    memcpy(wire, two, n1);
    wire[3] ^= 0x40;
    if (wire[3] == 0) wire[3] = 0x40;
    feed(&rx, wire, n1, &frames, &texts, &bad);
    CHECK(frames == 0 && bad == 1);
    CHECK_EQ(rx.last_error, TF_FRAME_E_CRC);
    /* ... and the splitter waits for a frame: text is swallowed until a valid one arrives */
    feed(&rx, (const uint8_t *)"name%", 5, &frames, &texts, &bad);
    CHECK_EQ(texts, 0);
    feed(&rx, two, n1, &frames, &texts, &bad);
    CHECK_EQ(frames, 1);
    /* overlong text keeps its first 80 characters and is delivered (the MLPerf Tiny reference
     * cuts it the same way), then text works again */
    frames = texts = bad = 0;
    for (int i = 0; i < 300; i++) tf_rx_push(&rx, (uint8_t)(i < 80 ? 'a' + i % 26 : 'X'));
    CHECK_EQ(tf_rx_push(&rx, '%'), TF_RX_TEXT);
    CHECK_EQ(strlen(rx.text), 80);
    CHECK(rx.text[0] == 'a' && rx.text[79] == 'a' + 79 % 26 && strchr(rx.text, 'X') == NULL);
    feed(&rx, (const uint8_t *)"results%", 8, &frames, &texts, &bad);
    CHECK(texts == 1 && strcmp(rx.text, "results") == 0);
    /* a frame that never ends falls back to text mode */
    frames = texts = bad = 0;
    tf_rx_push(&rx, 0);
    for (size_t i = 0; i < TF_FRAME_MAX_WIRE + 1; i++) tf_rx_push(&rx, 0x41);
    feed(&rx, (const uint8_t *)"name%", 5, &frames, &texts, &bad);
    CHECK(texts == 1 && strcmp(rx.text, "name") == 0);
}

int main(void)
{
    test_crc32();
    test_cobs();
    test_frames();
    test_splitter();
    return core_report("test_proto");
}
