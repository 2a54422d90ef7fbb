/*
 * The slot state record: two copies in the first two sectors of the region.
 *
 *     0  4  magic "TFSR"          12 4  security_counter
 *     4  4  sequence number       16 12 reserved, zero
 *     8  2  state of slot 0, 1    28 4  CRC-32 of bytes 0..27
 *     10 2  reserved, zero
 *
 * An update goes to the other copy (erase, write, read back), so a power cut while writing
 * leaves the older copy as the newest valid one.
 */
#include <string.h>

#include "ota_priv.h"
#include "tf_proto.h"

void tf_record_encode(const tf_ota_record_t *rec, uint8_t raw[TF_RECORD_SIZE])
{
    memset(raw, 0, TF_RECORD_SIZE);
    memcpy(raw, "TFSR", 4);
    tf_put_u32(raw + 4, rec->seq);
    raw[8] = rec->state[0];
    raw[9] = rec->state[1];
    tf_put_u32(raw + 12, rec->security_counter);
    tf_put_u32(raw + 28, tf_crc32(raw, 28));
}

bool tf_record_decode(const uint8_t raw[TF_RECORD_SIZE], tf_ota_record_t *out)
{
    if (memcmp(raw, "TFSR", 4) != 0 || tf_crc32(raw, 28) != tf_get_u32(raw + 28)) return false;
    if (raw[8] >= TF_SLOT_STATE_COUNT || raw[9] >= TF_SLOT_STATE_COUNT) return false;
    out->seq = tf_get_u32(raw + 4);
    out->state[0] = raw[8];
    out->state[1] = raw[9];
    out->security_counter = tf_get_u32(raw + 12);
    return true;
}

tf_status_t tf_record_load(tf_ota_t *o)
{
    const tf_flash_t *f = o->flash;
    memset(&o->rec, 0, sizeof o->rec);
    o->rec_copy = -1;
    for (int copy = 0; copy < 2; copy++) {
        uint8_t raw[TF_RECORD_SIZE];
        tf_ota_record_t rec;
        if (f->read(f->ctx, (uint32_t)copy * f->sector_size, raw, TF_RECORD_SIZE) != 0) continue;
        if (!tf_record_decode(raw, &rec)) continue;
        if (o->rec_copy < 0 || rec.seq > o->rec.seq) {
            o->rec = rec;
            o->rec_copy = copy;
        }
    }
    return TF_OK;
}

tf_status_t tf_record_store(tf_ota_t *o, const tf_ota_record_t *next)
{
    const tf_flash_t *f = o->flash;
    int copy = (o->rec_copy == 0) ? 1 : 0;
    uint32_t at = (uint32_t)copy * f->sector_size;
    uint8_t raw[TF_RECORD_SIZE], back[TF_RECORD_SIZE];
    tf_ota_record_t rec = *next;
    rec.seq = o->rec.seq + 1u;
    tf_record_encode(&rec, raw);
    if (f->erase(f->ctx, at, f->sector_size) != 0) return TF_E_FLASH;
    if (f->write(f->ctx, at, raw, TF_RECORD_SIZE) != 0) return TF_E_FLASH;
    if (f->read(f->ctx, at, back, TF_RECORD_SIZE) != 0 || memcmp(raw, back, TF_RECORD_SIZE) != 0) {
        return TF_E_FLASH;
    }
    o->rec = rec;
    o->rec_copy = copy;
    return TF_OK;
}

tf_status_t tf_record_set(tf_ota_t *o, int slot, tf_slot_state_t state)
{
    tf_ota_record_t next = o->rec;
    next.state[slot] = (uint8_t)state;
    return tf_record_store(o, &next);
}
