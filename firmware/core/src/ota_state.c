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
    if (memcmp(raw, "TFDM", 4) != 0 || tf_get_u16(raw + 4) != 1 || tf_get_u16(raw + 6) != TF_MANIFEST_SIZE) {
        return TF_E_MANIFEST;
    }
    for (unsigned i = 140; i < TF_MANIFEST_SIZE; i++) {
        if (raw[i] != 0) return TF_E_MANIFEST;
    }
    memset(out, 0, sizeof *out);
    out->security_counter = tf_get_u32(raw + 8);
    for (int i = 0; i < 3; i++) out->version[i] = tf_get_u16(raw + 12 + 2 * i);
    out->flags = tf_get_u16(raw + 18);
    /* name: 1..31 bytes, NUL-padded, no NUL inside */
    size_t n = 0;
    while (n < 32 && raw[20 + n] != 0) n++;
    if (n == 0 || n == 32) return TF_E_MANIFEST;
    for (size_t i = n; i < 32; i++) {
        if (raw[20 + i] != 0) return TF_E_MANIFEST;
    }
    memcpy(out->name, raw + 20, n);
    out->model_size = tf_get_u32(raw + 52);
    memcpy(out->model_sha256, raw + 56, 32);
    out->golden_size = tf_get_u32(raw + 88);
    memcpy(out->golden_sha256, raw + 92, 32);
    out->arena_bytes = tf_get_u32(raw + 124);
    out->input_bytes = tf_get_u32(raw + 128);
    out->output_bytes = tf_get_u32(raw + 132);
    out->golden_count = tf_get_u32(raw + 136);
    if (out->model_size == 0 || out->input_bytes == 0 || out->output_bytes == 0 || out->golden_count == 0 ||
        out->golden_count > 0xFFFFu) {
        return TF_E_MANIFEST;
    }
    uint64_t golden = TF_GOLDEN_HEADER + (uint64_t)out->golden_count * ((uint64_t)out->input_bytes + out->output_bytes);
    if (golden != out->golden_size) return TF_E_MANIFEST;
    if ((uint64_t)out->model_size + out->golden_size > 0xFFFFFFFFull) return TF_E_MANIFEST;
    return TF_OK;
}
