/*
 * tf_proto.h — the serial frame layer (docs/serial-protocol.md): CRC-32, COBS, frames, and the
 * byte-stream splitter that tells binary frames from MLPerf Tiny text commands.
 *
 * On the wire every frame is 0x00, COBS(body), 0x00. The body is
 *
 *     offset size field
 *     0      1    marker 0xF1 (protocol v1; not printable ASCII)
 *     1      1    type (requests 0x01..0x7F; a reply has the request's type | 0x80)
 *     2      2    request id, little-endian (a reply echoes it)
 *     4      n    payload (replies: status byte first)
 *     4+n    4    CRC-32 (IEEE 802.3, reflected, as zlib.crc32) of bytes 0..4+n-1, little-endian
 *
 * Text commands never contain 0x00: a 0x00 is the only way to enter a frame, so text and frames
 * share one UART.
 */
#ifndef TF_PROTO_H
#define TF_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_FRAME_MARKER 0xF1u
#define TF_FRAME_HEADER 4u
#define TF_FRAME_CRC 4u
#define TF_FRAME_MAX_PAYLOAD 1024u
#define TF_FRAME_MAX_BODY (TF_FRAME_HEADER + TF_FRAME_MAX_PAYLOAD + TF_FRAME_CRC)
/* COBS adds one byte per 254 plus one. */
#define TF_COBS_MAX_ENCODED(n) ((n) + (n) / 254u + 1u)
#define TF_FRAME_MAX_WIRE (TF_COBS_MAX_ENCODED(TF_FRAME_MAX_BODY) + 2u)
#define TF_TEXT_MAX_LINE 80u /* EEMBC commands are at most 80 characters; longer ones are cut */

/* ---- CRC-32 (IEEE), reflected polynomial 0xEDB88320, init and final xor 0xFFFFFFFF ---- */
uint32_t tf_crc32_update(uint32_t crc, const void *data, size_t len); /* start with crc = 0 */
uint32_t tf_crc32(const void *data, size_t len);

/* ---- COBS ----
 * Encode `len` bytes into `out` (capacity `cap`); returns the encoded length (no 0x00 in it) or
 * 0 when `cap` is too small. Decode returns the decoded length, or -1 on a malformed input (a
 * 0x00 inside, a code byte running past the end) or when `cap` is too small. */
size_t tf_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);
long tf_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* ---- Frames ---- */
typedef struct {
    uint8_t type;
    uint16_t req_id;
    const uint8_t *payload; /* points into the decoded body */
    size_t len;
} tf_frame_t;

typedef enum {
    TF_FRAME_OK = 0,
    TF_FRAME_E_COBS = -1,   /* not valid COBS */
    TF_FRAME_E_SHORT = -2,  /* fewer than header + CRC bytes */
    TF_FRAME_E_MARKER = -3, /* first byte is not TF_FRAME_MARKER */
    TF_FRAME_E_CRC = -4,    /* CRC mismatch */
    TF_FRAME_E_LONG = -5,   /* payload above TF_FRAME_MAX_PAYLOAD */
} tf_frame_status_t;

/* Check a decoded body (marker, length, CRC) and point `out` into it. */
tf_frame_status_t tf_frame_parse(const uint8_t *body, size_t len, tf_frame_t *out);

/* Build marker/type/id/payload/CRC, COBS-encode and add both 0x00 delimiters into `wire`
 * (capacity `cap`). Returns the number of bytes to send, 0 if the payload is too long or `cap`
 * too small. `scratch` (capacity >= TF_FRAME_MAX_BODY) holds the unencoded body. */
size_t tf_frame_encode(uint8_t type, uint16_t req_id, const uint8_t *payload, size_t len,
                       uint8_t *scratch, uint8_t *wire, size_t cap);

/* ---- Stream splitter ----
 * Feed received bytes one at a time; it returns an event when a frame or a text command is
 * complete. Rules: outside a frame, 0x00 opens a frame and any other byte is text; text is
 * collected up to '%' (an EEMBC command), CR/LF are ignored, a line longer than
 * TF_TEXT_MAX_LINE keeps its first TF_TEXT_MAX_LINE characters and is answered (as the MLPerf
 * Tiny reference firmware does). Inside a frame, bytes are collected up to the next 0x00, which
 * closes it. An empty frame (0x00 0x00) is skipped and the second 0x00 opens a new frame. A
 * frame that fails to decode makes its closing 0x00 open the next frame (resynchronises after
 * a sender was cut off mid-frame). More than TF_FRAME_MAX_WIRE bytes without 0x00 drops the
 * frame and returns to text mode. */
typedef enum {
    TF_RX_NONE = 0,
    TF_RX_FRAME,     /* a valid frame: see tf_rx_t.frame */
    TF_RX_BAD_FRAME, /* a delimited frame that failed COBS/marker/CRC checks (counted) */
    TF_RX_TEXT,      /* a text command without its '%': see tf_rx_t.text (NUL-terminated) */
} tf_rx_event_t;

typedef struct {
    uint8_t in_frame;
    uint16_t wire_len;
    uint16_t text_len;
    uint8_t wire[TF_FRAME_MAX_WIRE];
    uint8_t body[TF_FRAME_MAX_BODY];
    char text[TF_TEXT_MAX_LINE + 1];
    tf_frame_t frame;
    tf_frame_status_t last_error;
} tf_rx_t;

void tf_rx_init(tf_rx_t *rx);
tf_rx_event_t tf_rx_push(tf_rx_t *rx, uint8_t byte);

/* ---- Little-endian helpers shared by the message codecs ---- */
static inline uint16_t tf_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t tf_get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline void tf_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void tf_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}

#ifdef __cplusplus
}
#endif

#endif /* TF_PROTO_H */
