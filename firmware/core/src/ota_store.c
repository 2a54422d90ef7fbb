/*
 * OTA sessions and boot over the two model slots (layout in tf_ota.h, states in ota_state.c).
 *
 * Ordering rules that make every power cut safe:
 *  - a slot is marked RECEIVING in the record before it is erased or written;
 *  - its header (device.bin + device.sig) is written only after its payload sectors are erased,
 *    so a matching header means "the bytes after the last programmed one are erased";
 *  - PENDING is recorded only after signature, counter and both digests are checked in flash;
 *  - TRIAL is recorded before the trial model is started, so a crash during the trial reverts;
 *  - the CONFIRMED slot is never erased or written.
 */
#include <string.h>

#include "ota_priv.h"
#include "tf_crypto.h"
#include "tf_proto.h"

#define IO_BLOCK 128u

static uint32_t round_up(uint32_t v, uint32_t m) { return (v + m - 1u) / m * m; }

uint32_t tf_ota_slot_capacity(const tf_ota_t *o) { return o->slot_size - o->payload_off; }

tf_status_t tf_ota_open(tf_ota_t *o, const tf_flash_t *flash, const uint8_t *pubkey)
{
    memset(o, 0, sizeof *o);
    o->flash = flash;
    o->rx_slot = -1;
    o->running = -1;
    o->rec_copy = -1;
    if (pubkey != NULL) {
        memcpy(o->pubkey, pubkey, 32);
        o->has_key = true;
    }
    uint32_t s = flash->sector_size;
    if (s == 0 || (s & (s - 1u)) != 0 || flash->size % s != 0 || flash->size / s < 6 ||
        flash->write_align == 0 || s % flash->write_align != 0 || TF_OTA_BEGIN_SIZE > s) {
        return TF_E_FLASH;
    }
    uint32_t slot_sectors = (flash->size / s - 2u) / 2u;
    o->slot_size = slot_sectors * s;
    o->slot_base[0] = 2u * s;
    o->slot_base[1] = 2u * s + o->slot_size;
    o->payload_off = s;
    tf_status_t st = tf_record_load(o);
    o->ready = st == TF_OK;
    return st;
}

/* sha256 of flash [at, at + len) */
static tf_status_t hash_flash(const tf_flash_t *f, uint32_t at, uint32_t len, uint8_t out[32])
{
    uint8_t buf[IO_BLOCK];
    tf_sha256_t h;
    tf_sha256_init(&h);
    while (len > 0) {
        uint32_t n = len < IO_BLOCK ? len : IO_BLOCK;
        if (f->read(f->ctx, at, buf, n) != 0) return TF_E_FLASH;
        tf_sha256_update(&h, buf, n);
        at += n;
        len -= n;
    }
    tf_sha256_final(&h, out);
    return TF_OK;
}

/* The checks a manifest must pass before anything is written for it. */
static tf_status_t check_manifest(const tf_ota_t *o, const uint8_t raw[TF_OTA_BEGIN_SIZE], tf_manifest_t *m)
{
    tf_status_t st = tf_manifest_parse(raw, m);
    if (st != TF_OK) return st;
    if (!o->has_key) return TF_E_NO_KEY;
    if (!tf_ed25519_verify(raw + TF_MANIFEST_SIZE, o->pubkey, raw, TF_MANIFEST_SIZE)) return TF_E_SIGNATURE;
    if (m->security_counter < o->rec.security_counter) return TF_E_ROLLBACK;
    if ((uint64_t)m->model_size + m->golden_size > tf_ota_slot_capacity(o)) return TF_E_TOO_LARGE;
    return TF_OK;
}

/* Everything a slot must satisfy to be committed or booted: a signed header, payload digests
 * equal to it, a golden header that matches it. Fills *m. */
static tf_status_t validate_slot(const tf_ota_t *o, int slot, uint8_t raw[TF_OTA_BEGIN_SIZE], tf_manifest_t *m)
{
    const tf_flash_t *f = o->flash;
    uint32_t base = o->slot_base[slot];
    uint8_t digest[32];
    uint8_t gh[TF_GOLDEN_HEADER];
    if (f->read(f->ctx, base, raw, TF_OTA_BEGIN_SIZE) != 0) return TF_E_FLASH;
    tf_status_t st = check_manifest(o, raw, m);
    if (st != TF_OK) return st;
    uint32_t payload = base + o->payload_off;
    if ((st = hash_flash(f, payload, m->model_size, digest)) != TF_OK) return st;
    if (!tf_ct_equal(digest, m->model_sha256, 32)) return TF_E_HASH;
    if ((st = hash_flash(f, payload + m->model_size, m->golden_size, digest)) != TF_OK) return st;
    if (!tf_ct_equal(digest, m->golden_sha256, 32)) return TF_E_HASH;
    if (f->read(f->ctx, payload + m->model_size, gh, sizeof gh) != 0) return TF_E_FLASH;
    if (memcmp(gh, "TFGV", 4) != 0 || tf_get_u16(gh + 4) != 1 || tf_get_u16(gh + 6) != m->golden_count ||
        tf_get_u32(gh + 8) != m->input_bytes || tf_get_u32(gh + 12) != m->output_bytes) {
        return TF_E_MANIFEST;
    }
    return TF_OK;
}

static tf_status_t start_slot(tf_ota_t *o, int slot, bool trial, tf_ota_start_fn start, void *ctx)
{
    uint8_t raw[TF_OTA_BEGIN_SIZE];
    tf_status_t st = validate_slot(o, slot, raw, &o->view.manifest);
    if (st != TF_OK) return st;
    const uint8_t *base = o->flash->map ? o->flash->map(o->flash->ctx) : NULL;
    if (base == NULL) return TF_E_NO_MODEL;
    o->view.slot = slot;
    o->view.trial = trial;
    o->view.model = base + o->slot_base[slot] + o->payload_off;
    o->view.golden = o->view.model + o->view.manifest.model_size;
    return start(ctx, &o->view);
}

int tf_ota_boot(tf_ota_t *o, tf_ota_start_fn start, void *ctx)
{
    o->running = -1;
    o->selftest_passed = false;
    o->boot_events = 0;
    o->rx_slot = -1;
    /* A board without a key or without memory-mapped flash cannot verify or run any model:
     * it boots none and leaves the record alone (a later build with a key boots as before). */
    if (!o->ready || !o->has_key || o->flash->map == NULL || o->flash->map(o->flash->ctx) == NULL) return -1;
    /* Each pass either starts a model or moves one slot to REJECTED: at most 4 passes. */
    for (int pass = 0; pass < 4; pass++) {
        tf_boot_decision_t d = tf_ota_decide(&o->rec);
        switch (d.action) {
        case TF_BOOT_FAIL:
            return -1;
        case TF_BOOT_REVERT:
            o->boot_events |= TF_BOOT_EV_REVERTED;
            if (tf_record_set(o, d.slot, TF_SLOT_REJECTED) != TF_OK) return -1;
            break;
        case TF_BOOT_TEST:
            if (tf_record_set(o, d.slot, TF_SLOT_TRIAL) != TF_OK) return -1;
            if (start_slot(o, d.slot, true, start, ctx) == TF_OK) {
                o->running = d.slot;
                o->selftest_passed = true;
                o->boot_events |= TF_BOOT_EV_TRIAL;
                return d.slot;
            }
            o->boot_events |= TF_BOOT_EV_SELFTEST_FAILED;
            if (tf_record_set(o, d.slot, TF_SLOT_REJECTED) != TF_OK) return -1;
            break;
        case TF_BOOT_NONE:
            if (start_slot(o, d.slot, false, start, ctx) == TF_OK) {
                o->running = d.slot;
                return d.slot;
            }
            /* A confirmed model that no longer verifies: never run it. */
            o->boot_events |= TF_BOOT_EV_INVALID;
            if (tf_record_set(o, d.slot, TF_SLOT_REJECTED) != TF_OK) return -1;
            break;
        }
    }
    return -1;
}

/* The slot an OTA may write: neither running nor confirmed nor on trial; a slot already
 * receiving comes first so that a transfer resumes where it was. */
static int target_slot(const tf_ota_t *o)
{
    int found = -1;
    for (int s = 1; s >= 0; s--) {
        uint8_t st = o->rec.state[s];
        if (s == o->running || st == TF_SLOT_CONFIRMED || st == TF_SLOT_TRIAL) continue;
        if (found < 0 || st == TF_SLOT_RECEIVING || o->rec.state[found] != TF_SLOT_RECEIVING) found = s;
    }
    return found;
}

/* Offset of the first payload sector that may hold programmed bytes past the valid data:
 * the sector of the last non-erased byte (it is erased again before the transfer goes on). */
static tf_status_t find_resume(const tf_ota_t *o, int slot, uint32_t total, uint32_t *resume)
{
    const tf_flash_t *f = o->flash;
    uint32_t payload = o->slot_base[slot] + o->payload_off;
    uint8_t buf[IO_BLOCK];
    uint32_t end = total;
    while (end > 0) {
        uint32_t n = end < IO_BLOCK ? end : IO_BLOCK;
        uint32_t at = end - n;
        if (f->read(f->ctx, payload + at, buf, n) != 0) return TF_E_FLASH;
        for (uint32_t i = n; i-- > 0;) {
            if (buf[i] != 0xFFu) {
                *resume = (at + i) / f->sector_size * f->sector_size;
                return TF_OK;
            }
        }
        end = at;
    }
    *resume = 0;
    return TF_OK;
}

tf_status_t tf_ota_begin(tf_ota_t *o, const uint8_t raw[TF_OTA_BEGIN_SIZE], uint32_t *resume)
{
    const tf_flash_t *f = o->flash;
    tf_manifest_t m;
    *resume = 0;
    if (!o->ready) return TF_E_FLASH;
    tf_status_t st = check_manifest(o, raw, &m);
    if (st != TF_OK) return st;
    int slot = target_slot(o);
    if (slot < 0) return TF_E_STATE;
    o->rx_slot = -1;
    uint32_t base = o->slot_base[slot];
    uint32_t total = m.model_size + m.golden_size;
    uint32_t pos = 0;
    bool same = false;
    if (o->rec.state[slot] == TF_SLOT_RECEIVING) {
        uint8_t hdr[TF_OTA_BEGIN_SIZE];
        if (f->read(f->ctx, base, hdr, sizeof hdr) != 0) return TF_E_FLASH;
        same = memcmp(hdr, raw, TF_OTA_BEGIN_SIZE) == 0;
    }
    if (same) {
        if ((st = find_resume(o, slot, total, &pos)) != TF_OK) return st;
        if (f->erase(f->ctx, base + o->payload_off + pos, f->sector_size) != 0) return TF_E_FLASH;
    } else {
        if (o->rec.state[slot] != TF_SLOT_RECEIVING && (st = tf_record_set(o, slot, TF_SLOT_RECEIVING)) != TF_OK) {
            return st;
        }
        uint32_t span = o->payload_off + round_up(total, f->sector_size);
        if (f->erase(f->ctx, base, span) != 0) return TF_E_FLASH;
        uint8_t back[TF_OTA_BEGIN_SIZE];
        if (f->write(f->ctx, base, raw, TF_OTA_BEGIN_SIZE) != 0) return TF_E_FLASH;
        if (f->read(f->ctx, base, back, sizeof back) != 0 || memcmp(back, raw, sizeof back) != 0) return TF_E_FLASH;
    }
    memcpy(o->rx_raw, raw, TF_OTA_BEGIN_SIZE);
    o->rx_manifest = m;
    o->rx_slot = slot;
    o->rx_pos = pos;
    o->rx_total = total;
    *resume = pos;
    return TF_OK;
}

static tf_status_t write_verified(const tf_flash_t *f, uint32_t at, const uint8_t *data, uint32_t len)
{
    uint8_t back[IO_BLOCK];
    if (f->write(f->ctx, at, data, len) != 0) return TF_E_FLASH;
    for (uint32_t done = 0; done < len;) {
        uint32_t n = (len - done) < IO_BLOCK ? (len - done) : IO_BLOCK;
        if (f->read(f->ctx, at + done, back, n) != 0 || memcmp(back, data + done, n) != 0) return TF_E_FLASH;
        done += n;
    }
    return TF_OK;
}

tf_status_t tf_ota_chunk(tf_ota_t *o, uint32_t offset, const uint8_t *data, uint32_t len, uint32_t *next)
{
    const tf_flash_t *f = o->flash;
    *next = o->rx_slot >= 0 ? o->rx_pos : 0;
    if (o->rx_slot < 0) return TF_E_STATE;
    if (offset != o->rx_pos) return TF_E_OFFSET;
    if (len == 0 || len > o->rx_total - o->rx_pos) return TF_E_BAD_LENGTH;
    uint32_t align = f->write_align;
    bool last = o->rx_pos + len == o->rx_total;
    if (len % align != 0 && !last) return TF_E_BAD_LENGTH;
    uint32_t at = o->slot_base[o->rx_slot] + o->payload_off + offset;
    uint32_t whole = len / align * align;
    tf_status_t st;
    if (whole > 0 && (st = write_verified(f, at, data, whole)) != TF_OK) return st;
    if (whole < len) {
        uint8_t tail[16];
        if (align > sizeof tail) return TF_E_FLASH;
        memset(tail, 0xFF, align);
        memcpy(tail, data + whole, len - whole);
        if ((st = write_verified(f, at + whole, tail, align)) != TF_OK) return st;
    }
    o->rx_pos += len;
    *next = o->rx_pos;
    return TF_OK;
}

tf_status_t tf_ota_commit(tf_ota_t *o)
{
    if (o->rx_slot < 0) return TF_E_STATE;
    if (o->rx_pos != o->rx_total) return TF_E_OFFSET;
    uint8_t raw[TF_OTA_BEGIN_SIZE];
    tf_manifest_t m;
    int slot = o->rx_slot;
    tf_status_t st = validate_slot(o, slot, raw, &m);
    if (st != TF_OK) return st;
    if (memcmp(raw, o->rx_raw, TF_OTA_BEGIN_SIZE) != 0) return TF_E_FLASH;
    if ((st = tf_record_set(o, slot, TF_SLOT_PENDING)) != TF_OK) return st;
    o->rx_slot = -1;
    return TF_OK;
}

tf_status_t tf_ota_confirm(tf_ota_t *o)
{
    if (o->running < 0) return TF_E_NO_MODEL;
    int slot = o->running;
    if (o->rec.state[slot] == TF_SLOT_CONFIRMED) return TF_OK;
    if (o->rec.state[slot] != TF_SLOT_TRIAL || !o->selftest_passed) return TF_E_NOT_TRIAL;
    tf_ota_record_t next = o->rec;
    if (next.state[1 - slot] == TF_SLOT_CONFIRMED) next.state[1 - slot] = TF_SLOT_INACTIVE;
    next.state[slot] = TF_SLOT_CONFIRMED;
    if (o->view.manifest.security_counter > next.security_counter) {
        next.security_counter = o->view.manifest.security_counter;
    }
    return tf_record_store(o, &next);
}
