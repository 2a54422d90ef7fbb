/* CRC-32 (IEEE 802.3): reflected polynomial 0xEDB88320, init 0xFFFFFFFF, final xor 0xFFFFFFFF.
 * A 16-entry nibble table keeps it small for flash (64 bytes) at two lookups per byte. */
#include "tf_proto.h"

static const uint32_t CRC_NIBBLE[16] = {
    0x00000000u, 0x1db71064u, 0x3b6e20c8u, 0x26d930acu, 0x76dc4190u, 0x6b6b51f4u, 0x4db26158u, 0x5005713cu,
    0xedb88320u, 0xf00f9344u, 0xd6d6a3e8u, 0xcb61b38cu, 0x9b64c2b0u, 0x86d3d2d4u, 0xa00ae278u, 0xbdbdf21cu,
};

uint32_t tf_crc32_update(uint32_t crc, const void *data, size_t len)
{
    const uint8_t *p = (const uint8_t *)data;
    crc = ~crc;
    for (size_t i = 0; i < len; i++) {
        crc ^= p[i];
        crc = (crc >> 4) ^ CRC_NIBBLE[crc & 0x0Fu];
        crc = (crc >> 4) ^ CRC_NIBBLE[crc & 0x0Fu];
    }
    return ~crc;
}

uint32_t tf_crc32(const void *data, size_t len) { return tf_crc32_update(0, data, len); }
