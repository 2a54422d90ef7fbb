/* Consistent Overhead Byte Stuffing (Cheshire and Baker, 1999): each run of up to 254 non-zero
 * bytes is preceded by a code byte = run length + 1; code 0xFF means "254 bytes, no zero after". */
#include "tf_proto.h"

size_t tf_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t o = 0;      /* next output position */
    size_t code_at = 0; /* where the current code byte goes */
    uint8_t code = 1;
    if (cap < 1) return 0;
    o = 1;
    for (size_t i = 0; i < len; i++) {
        if (in[i] == 0) {
            out[code_at] = code;
            code_at = o++;
            code = 1;
            if (o > cap) return 0;
            continue;
        }
        if (o >= cap) return 0;
        out[o++] = in[i];
        code++;
        if (code == 0xFF) {
            out[code_at] = code;
            code = 1;
            /* A full block needs a new code byte only if more data follows. */
            if (i + 1 < len) {
                if (o >= cap) return 0;
                code_at = o++;
            } else {
                return o;
            }
        }
    }
    out[code_at] = code;
    return o;
}

long tf_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i = 0, o = 0;
    while (i < len) {
        uint8_t code = in[i++];
        if (code == 0) return -1;
        size_t run = (size_t)code - 1u;
        if (run > len - i) return -1;
        if (run > cap - o) return -1;
        for (size_t k = 0; k < run; k++) {
            if (in[i] == 0) return -1;
            out[o++] = in[i++];
        }
        if (code != 0xFF && i < len) {
            if (o >= cap) return -1;
            out[o++] = 0;
        }
    }
    return (long)o;
}
