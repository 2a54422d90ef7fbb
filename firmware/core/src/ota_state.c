/*
 * Slot states and the boot decision table (pure logic, no flash).
 *
 * Like MCUboot's boot_swap_tables: a const table, first matching row wins, ANY is a wildcard.
 * Rows are tried for the candidate = slot 0, then slot 1, before moving to the next row, so a
 * trial left over from the last boot is always dealt with before a pending one starts.
 */
#include "tf_ota.h"

#include <string.h>

#include "tf_proto.h"

#define ANY 0xFFu

static const struct boot_rule {
    uint8_t candidate; /* state of the slot the action applies to */
    uint8_t other;     /* state of the other slot */
    tf_boot_action_t action;
} BOOT_RULES[] = {
    /* table order matters: the first matching row decides */
    /* candidate          other                 action */
    { TF_SLOT_TRIAL,      ANY,                  TF_BOOT_REVERT }, /* booted on trial, never confirmed */
    { TF_SLOT_PENDING,    ANY,                  TF_BOOT_TEST   }, /* committed: boot it once on trial */
    { TF_SLOT_CONFIRMED,  ANY,                  TF_BOOT_NONE   }, /* the permanent model */
};

tf_boot_decision_t tf_ota_decide(const tf_ota_record_t *rec)
{
    for (size_t r = 0; r < sizeof BOOT_RULES / sizeof BOOT_RULES[0]; r++) {
        for (int slot = 0; slot < 2; slot++) {
            const struct boot_rule *rule = &BOOT_RULES[r];
            uint8_t mine = rec->state[slot], theirs = rec->state[1 - slot];
            if ((rule->candidate == ANY || rule->candidate == mine) &&
                (rule->other == ANY || rule->other == theirs)) {
                tf_boot_decision_t d = { rule->action, slot };
                return d;
            }
        }
    }
    tf_boot_decision_t none = { TF_BOOT_FAIL, -1 };
    return none;
}

const char *tf_slot_state_name(uint8_t state)
{
    static const char *const NAMES[TF_SLOT_STATE_COUNT] = {
        "empty", "receiving", "pending", "trial", "confirmed", "inactive", "rejected",
    };
    return state < TF_SLOT_STATE_COUNT ? NAMES[state] : "invalid";
}

const char *tf_boot_action_name(tf_boot_action_t a)
{
    switch (a) {
    case TF_BOOT_NONE: return "none";
    case TF_BOOT_TEST: return "test";
    case TF_BOOT_REVERT: return "revert";
    case TF_BOOT_FAIL: return "fail";
    }
    return "invalid";
}

tf_status_t tf_manifest_parse(const uint8_t raw[TF_MANIFEST_SIZE], tf_manifest_t *out)
{
    /* offsets: tf_device_manifest.h, generated from tinyfleet/device_manifest.py */
    if (memcmp(raw + TF_DM_MAGIC_OFF, TF_DM_MAGIC, TF_DM_MAGIC_LEN) != 0 ||
        tf_get_u16(raw + TF_DM_FORMAT_VERSION_OFF) != TF_DM_FORMAT_VERSION ||
        tf_get_u16(raw + TF_DM_HEADER_SIZE_OFF) != TF_DM_SIZE) {
        return TF_E_MANIFEST;
    }
    for (unsigned i = TF_DM_RESERVED_OFF; i < TF_DM_RESERVED_OFF + TF_DM_RESERVED_LEN; i++) {
        if (raw[i] != 0) return TF_E_MANIFEST;
    }
    memset(out, 0, sizeof *out);
    out->security_counter = tf_get_u32(raw + TF_DM_SECURITY_COUNTER_OFF);
    out->version[0] = tf_get_u16(raw + TF_DM_VERSION_MAJOR_OFF);
    out->version[1] = tf_get_u16(raw + TF_DM_VERSION_MINOR_OFF);
    out->version[2] = tf_get_u16(raw + TF_DM_VERSION_PATCH_OFF);
    out->flags = tf_get_u16(raw + TF_DM_FLAGS_OFF);
    /* name: 1..31 bytes, NUL-padded, no NUL inside */
    const uint8_t *name = raw + TF_DM_NAME_OFF;
    size_t n = 0;
    while (n < TF_DM_NAME_LEN && name[n] != 0) n++;
    if (n == 0 || n == TF_DM_NAME_LEN) return TF_E_MANIFEST;
    for (size_t i = n; i < TF_DM_NAME_LEN; i++) {
        if (name[i] != 0) return TF_E_MANIFEST;
    }
    memcpy(out->name, name, n);
    out->model_size = tf_get_u32(raw + TF_DM_MODEL_SIZE_OFF);
    memcpy(out->model_sha256, raw + TF_DM_MODEL_SHA256_OFF, TF_DM_MODEL_SHA256_LEN);
    out->golden_size = tf_get_u32(raw + TF_DM_GOLDEN_SIZE_OFF);
    memcpy(out->golden_sha256, raw + TF_DM_GOLDEN_SHA256_OFF, TF_DM_GOLDEN_SHA256_LEN);
    out->arena_bytes = tf_get_u32(raw + TF_DM_ARENA_BYTES_OFF);
    out->input_bytes = tf_get_u32(raw + TF_DM_INPUT_BYTES_OFF);
    out->output_bytes = tf_get_u32(raw + TF_DM_OUTPUT_BYTES_OFF);
    out->golden_count = tf_get_u32(raw + TF_DM_GOLDEN_COUNT_OFF);
    if (out->model_size == 0 || out->input_bytes == 0 || out->output_bytes == 0 || out->golden_count == 0 ||
        out->golden_count > 0xFFFFu) {
        return TF_E_MANIFEST;
    }
    uint64_t golden = TF_GOLDEN_HEADER + (uint64_t)out->golden_count * ((uint64_t)out->input_bytes + out->output_bytes);
    if (golden != out->golden_size) return TF_E_MANIFEST;
    if ((uint64_t)out->model_size + out->golden_size > 0xFFFFFFFFull) return TF_E_MANIFEST;
    return TF_OK;
}
