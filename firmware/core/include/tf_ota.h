/*
 * tf_ota.h — model-only OTA over two flash slots (firmware/docs/ota.md).
 *
 * Region layout (offsets in the model-store flash region, S = sector size):
 *
 *     [0, S)        state record, copy 0      each copy: 32 bytes, sequence number + CRC-32;
 *     [S, 2S)       state record, copy 1      the valid copy with the higher sequence wins
 *     slot 0        header sector (device.bin + device.sig, 224 bytes), then the payload
 *     slot 1        same; the payload is model.tflite followed by golden.bin
 *
 * The slot states and the const boot decision table (MCUboot's NONE/TEST/REVERT meanings) are
 * in ota_state.c; flash handling in ota_record.c (record) and ota_store.c (sessions, boot).
 * Every state change is written to the record before the flash it describes is touched, so
 * a power cut at any point leaves the previous record and a bootable model.
 */
#ifndef TF_OTA_H
#define TF_OTA_H

#include <stdbool.h>
#include <stdint.h>

#include "flash_hal.h"
#include "tf_device_manifest.h"
#include "tf_status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TF_MANIFEST_SIZE TF_DM_SIZE
#define TF_SIGNATURE_SIZE 64u
#define TF_OTA_BEGIN_SIZE (TF_MANIFEST_SIZE + TF_SIGNATURE_SIZE)
#define TF_GOLDEN_HEADER TF_GV_HEADER_SIZE
#define TF_RECORD_SIZE 32u

/* Per-slot state, persisted in the record. */
typedef enum {
    TF_SLOT_EMPTY = 0,     /* nothing usable */
    TF_SLOT_RECEIVING = 1, /* an OTA writes it; resumable with the same OTA_BEGIN */
    TF_SLOT_PENDING = 2,   /* committed and verified: boots next as a trial (MCUboot TEST) */
    TF_SLOT_TRIAL = 3,     /* booted as a trial; absent CONFIRM, the next boot reverts it */
    TF_SLOT_CONFIRMED = 4, /* the permanent model (MCUboot PERM) */
    TF_SLOT_INACTIVE = 5,  /* the previous confirmed model, superseded by a newer one */
    TF_SLOT_REJECTED = 6,  /* reverted or failed its self-test */
} tf_slot_state_t;
#define TF_SLOT_STATE_COUNT 7
const char *tf_slot_state_name(uint8_t state);

typedef struct {
    uint32_t seq;              /* 0 = never written */
    uint8_t state[2];          /* tf_slot_state_t per slot */
    uint32_t security_counter; /* the highest counter ever confirmed (anti-rollback) */
} tf_ota_record_t;

/* What a boot does (MCUboot swap types). */
typedef enum {
    TF_BOOT_NONE = 0,   /* run the confirmed slot */
    TF_BOOT_TEST = 1,   /* mark the pending slot TRIAL, then run it with its golden self-test */
    TF_BOOT_REVERT = 2, /* a trial was booted and never confirmed: reject it, decide again */
    TF_BOOT_FAIL = 3,   /* nothing bootable */
} tf_boot_action_t;

typedef struct {
    tf_boot_action_t action;
    int slot; /* the slot the action applies to; -1 for FAIL */
} tf_boot_decision_t;

/* Pure: the first row of the decision table that matches the record. */
tf_boot_decision_t tf_ota_decide(const tf_ota_record_t *rec);
const char *tf_boot_action_name(tf_boot_action_t a);

/* What the last boot found (tf_ota_t.boot_events, reported by INFO). */
enum {
    TF_BOOT_EV_TRIAL = 0x01,           /* a pending model started on trial and passed its self-test */
    TF_BOOT_EV_REVERTED = 0x02,        /* an unconfirmed trial from the last boot was rejected */
    TF_BOOT_EV_SELFTEST_FAILED = 0x04, /* a pending model failed to load or its self-test: rejected */
    TF_BOOT_EV_INVALID = 0x08,         /* a confirmed model no longer verified: rejected */
};

/* device.bin, parsed (docs/architecture.md, "Device manifest"). */
typedef struct {
    uint32_t security_counter;
    uint16_t version[3];
    uint16_t flags;
    char name[32];             /* NUL-terminated */
    uint32_t model_size;
    uint8_t model_sha256[32];
    uint32_t golden_size;
    uint8_t golden_sha256[32];
    uint32_t arena_bytes;
    uint32_t input_bytes;
    uint32_t output_bytes;
    uint32_t golden_count;
} tf_manifest_t;

/* Checks magic, format, header size, reserved bytes, name and that golden_size matches
 * golden_count x (input_bytes + output_bytes) + 16. Returns TF_OK or TF_E_MANIFEST. */
tf_status_t tf_manifest_parse(const uint8_t raw[TF_MANIFEST_SIZE], tf_manifest_t *out);

/* Journaled state record (ota_record.c). */
bool tf_record_decode(const uint8_t raw[TF_RECORD_SIZE], tf_ota_record_t *out);
void tf_record_encode(const tf_ota_record_t *rec, uint8_t raw[TF_RECORD_SIZE]);

/* A model that boot hands to the application. */
typedef struct {
    int slot;
    bool trial;
    tf_manifest_t manifest;
    const uint8_t *model;  /* memory-mapped, model_size bytes */
    const uint8_t *golden; /* memory-mapped, golden_size bytes */
} tf_slot_view_t;

/* The application's part of a boot: load the model and, for a trial, run the golden self-test.
 * Returns TF_OK when the model is usable. */
typedef tf_status_t (*tf_ota_start_fn)(void *ctx, const tf_slot_view_t *view);

typedef struct {
    const tf_flash_t *flash;
    bool ready;            /* tf_ota_open() succeeded: the layout is valid */
    uint8_t pubkey[32];
    bool has_key;
    /* layout */
    uint32_t slot_base[2];
    uint32_t slot_size;    /* bytes per slot including its header sector */
    uint32_t payload_off;  /* = sector size */
    /* persisted record and the copy that holds it */
    tf_ota_record_t rec;
    int rec_copy;          /* 0 or 1; -1 when no valid copy exists yet */
    /* receiving session (RAM only; after a reset the host sends OTA_BEGIN again) */
    int rx_slot;           /* -1: no session */
    uint32_t rx_pos;
    uint32_t rx_total;
    uint8_t rx_raw[TF_OTA_BEGIN_SIZE];
    tf_manifest_t rx_manifest;
    /* what runs */
    int running;           /* -1: no model */
    bool selftest_passed;  /* the running model passed its golden self-test (trials only) */
    uint8_t boot_events;   /* TF_BOOT_EV_* bits of the last tf_ota_boot() */
    tf_slot_view_t view;
} tf_ota_t;

/* Compute the layout and read the newest valid record. `pubkey` NULL: no key (fail closed).
 * TF_E_FLASH if the region is too small (fewer than 6 sectors: two record sectors and two slots
 * of a header sector and at least one payload sector each) or unreadable. */
tf_status_t tf_ota_open(tf_ota_t *o, const tf_flash_t *flash, const uint8_t *pubkey);

/* Decide, persist, validate and start a model (REVERT/TEST/NONE as the table says) until one
 * runs or none can. Returns the running slot or -1. */
int tf_ota_boot(tf_ota_t *o, tf_ota_start_fn start, void *ctx);

/* OTA_BEGIN: `raw` = device.bin || device.sig. On TF_OK, *resume is the payload offset the host
 * continues from (0 for a new transfer). */
tf_status_t tf_ota_begin(tf_ota_t *o, const uint8_t raw[TF_OTA_BEGIN_SIZE], uint32_t *resume);

/* OTA_CHUNK at `offset` (must equal the next expected offset, reported in *next on every
 * return). Lengths are multiples of the write alignment except for the last chunk. */
tf_status_t tf_ota_chunk(tf_ota_t *o, uint32_t offset, const uint8_t *data, uint32_t len, uint32_t *next);

/* OTA_COMMIT: all bytes written, signature, counter and both sha256 check out → PENDING. */
tf_status_t tf_ota_commit(tf_ota_t *o);

/* CONFIRM: the running trial (self-test passed) becomes CONFIRMED; idempotent. */
tf_status_t tf_ota_confirm(tf_ota_t *o);

/* Largest payload (model + golden) a slot holds. */
uint32_t tf_ota_slot_capacity(const tf_ota_t *o);

#ifdef __cplusplus
}
#endif

#endif /* TF_OTA_H */
