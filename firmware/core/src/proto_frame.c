/* Frame build/parse and the text/frame stream splitter (rules in tf_proto.h). */
#include "tf_proto.h"

#include <string.h>

tf_frame_status_t tf_frame_parse(const uint8_t *body, size_t len, tf_frame_t *out)
{
    if (len < TF_FRAME_HEADER + TF_FRAME_CRC) return TF_FRAME_E_SHORT;
    if (body[0] != TF_FRAME_MARKER) return TF_FRAME_E_MARKER;
    size_t n = len - TF_FRAME_HEADER - TF_FRAME_CRC;
    if (n > TF_FRAME_MAX_PAYLOAD) return TF_FRAME_E_LONG;
#ifndef TF_FUZZING
    if (tf_crc32(body, len - TF_FRAME_CRC) != tf_get_u32(body + len - TF_FRAME_CRC)) return TF_FRAME_E_CRC;
#else
    /* Fuzzing builds only (-DTF_FUZZING): a mutated payload would almost never keep a valid
     * CRC, so the checksum is not checked and the fuzzer reaches the message handlers. */
#endif
    out->type = body[1];
    out->req_id = tf_get_u16(body + 2);
    out->payload = body + TF_FRAME_HEADER;
    out->len = n;
    return TF_FRAME_OK;
}

size_t tf_frame_encode(uint8_t type, uint16_t req_id, const uint8_t *payload, size_t len,
                       uint8_t *scratch, uint8_t *wire, size_t cap)
{
    if (len > TF_FRAME_MAX_PAYLOAD || cap < 3) return 0;
    scratch[0] = TF_FRAME_MARKER;
    scratch[1] = type;
    tf_put_u16(scratch + 2, req_id);
    if (len > 0) memmove(scratch + TF_FRAME_HEADER, payload, len);
    size_t body = TF_FRAME_HEADER + len;
    tf_put_u32(scratch + body, tf_crc32(scratch, body));
    body += TF_FRAME_CRC;
    wire[0] = 0;
    size_t n = tf_cobs_encode(scratch, body, wire + 1, cap - 2);
    if (n == 0) return 0;
    wire[n + 1] = 0;
    return n + 2;
}

void tf_rx_init(tf_rx_t *rx)
{
    rx->in_frame = 0;
    rx->wire_len = 0;
    rx->text_len = 0;
    rx->last_error = TF_FRAME_OK;
}

static tf_rx_event_t close_frame(tf_rx_t *rx)
{
    if (rx->wire_len == 0) return TF_RX_NONE; /* 0x00 0x00: this 0x00 opens the next frame */
    long n = tf_cobs_decode(rx->wire, rx->wire_len, rx->body, sizeof rx->body);
    rx->wire_len = 0;
    tf_frame_status_t st = (n < 0) ? TF_FRAME_E_COBS : tf_frame_parse(rx->body, (size_t)n, &rx->frame);
    if (st == TF_FRAME_OK) {
        rx->in_frame = 0;
        return TF_RX_FRAME;
    }
    rx->last_error = st;
    return TF_RX_BAD_FRAME; /* stay in frame mode: this 0x00 may open the next frame */
}

tf_rx_event_t tf_rx_push(tf_rx_t *rx, uint8_t byte)
{
    if (rx->in_frame) {
        if (byte == 0) return close_frame(rx);
        if (rx->wire_len >= sizeof rx->wire) {
            /* No delimiter in sight: give the line back to text mode. */
            rx->in_frame = 0;
            rx->wire_len = 0;
            rx->last_error = TF_FRAME_E_LONG;
            return TF_RX_BAD_FRAME;
        }
        rx->wire[rx->wire_len++] = byte;
        return TF_RX_NONE;
    }
    if (byte == 0) {
        rx->in_frame = 1;
        rx->wire_len = 0;
        rx->text_len = 0;
        return TF_RX_NONE;
    }
    if (byte == '\r' || byte == '\n') return TF_RX_NONE;
    if (byte == '%') {
        rx->text[rx->text_len] = '\0';
        rx->text_len = 0;
        return TF_RX_TEXT;
    }
    if (rx->text_len >= TF_TEXT_MAX_LINE) return TF_RX_NONE; /* cut: the rest of the line is ignored */
    rx->text[rx->text_len++] = (char)byte;
    return TF_RX_NONE;
}
