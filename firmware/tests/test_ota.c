/*
 * OTA state machine, table-driven (after Mender's state tests): each case is a chain of host
 * actions with the status each must return, the model that runs after each reboot and the slot
 * states after each step. Faults are injected as steps (tampered chunk, wrong key, lowered
 * counter, failing self-test, resets in the middle of a transfer).
 */
#include <stdint.h>

#include "core_check.h"
#include "core_fixtures.h"
#include "core_sim.h"
#include "tf_ota.h"

enum { P_V1, P_V2, P_LOW, P_BAD, P_OTHER, P_COUNT };
static const struct {
    const uint8_t *begin;
    const uint8_t *payload;
    uint32_t size;
} PKG[P_COUNT] = {
    { FX_V1_BEGIN, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD },
    { FX_V2_BEGIN, FX_V2_PAYLOAD, sizeof FX_V2_PAYLOAD },
    { FX_LOW_BEGIN, FX_LOW_PAYLOAD, sizeof FX_LOW_PAYLOAD },
    { FX_BADGOLDEN_BEGIN, FX_BADGOLDEN_PAYLOAD, sizeof FX_BADGOLDEN_PAYLOAD },
    { FX_OTHERKEY_BEGIN, FX_OTHERKEY_PAYLOAD, sizeof FX_OTHERKEY_PAYLOAD },
};

typedef enum {
    END = 0,
    BEGIN,          /* OTA_BEGIN with the package's manifest */
    BEGIN_FLIPPED,  /* OTA_BEGIN with one manifest byte changed */
    SEND,           /* every chunk from the resume offset on */
    SEND_HALF,      /* the chunks of the first half only */
    SEND_TAMPERED,  /* every chunk, one payload byte changed */
    COMMIT,
    REBOOT,         /* open + boot, as after a reset */
    CONFIRM,
} op_t;

#define E 0 /* TF_SLOT_EMPTY */
#define RX TF_SLOT_RECEIVING
#define PD TF_SLOT_PENDING
#define TR TF_SLOT_TRIAL
#define CF TF_SLOT_CONFIRMED
#define IN TF_SLOT_INACTIVE
#define RJ TF_SLOT_REJECTED
#define NONE (-1) /* no model runs */
#define SAME (-2) /* not checked on this step */

typedef struct {
    op_t op;
    int pkg;
    tf_status_t want;    /* status of the step */
    int running;         /* package running after the step, NONE or SAME */
    uint8_t s0, s1;      /* slot states after the step */
} step_t;

typedef struct {
    const char *name;
    step_t steps[16];
} ota_case_t;

/* a first model, installed and confirmed */
#define INSTALL_V1                                   \
    { BEGIN, P_V1, TF_OK, SAME, RX, E },             \
    { SEND, P_V1, TF_OK, SAME, RX, E },              \
    { COMMIT, P_V1, TF_OK, SAME, PD, E },            \
    { REBOOT, 0, TF_OK, P_V1, TR, E },               \
    { CONFIRM, 0, TF_OK, P_V1, CF, E }

#define STAGE_V2                                     \
    { BEGIN, P_V2, TF_OK, SAME, CF, RX },            \
    { SEND, P_V2, TF_OK, SAME, CF, RX },             \
    { COMMIT, P_V2, TF_OK, P_V1, CF, PD }

static const ota_case_t CASES[] = {
    { "first model: pending, trial, confirmed, stays", {
        INSTALL_V1,
        { REBOOT, 0, TF_OK, P_V1, CF, E },
    } },
    { "first model never confirmed: reverted, nothing runs", {
        { BEGIN, P_V1, TF_OK, SAME, RX, E },
        { SEND, P_V1, TF_OK, SAME, RX, E },
        { COMMIT, P_V1, TF_OK, SAME, PD, E },
        { REBOOT, 0, TF_OK, P_V1, TR, E },
        { REBOOT, 0, TF_OK, NONE, RJ, E },
        { CONFIRM, 0, TF_E_NO_MODEL, NONE, RJ, E },
    } },
    { "update confirmed: the old slot becomes inactive", {
        INSTALL_V1, STAGE_V2,
        { REBOOT, 0, TF_OK, P_V2, CF, TR },
        { CONFIRM, 0, TF_OK, P_V2, IN, CF },
        { CONFIRM, 0, TF_OK, P_V2, IN, CF },
        { REBOOT, 0, TF_OK, P_V2, IN, CF },
    } },
    { "update not confirmed: the next boot reverts", {
        INSTALL_V1, STAGE_V2,
        { REBOOT, 0, TF_OK, P_V2, CF, TR },
        { REBOOT, 0, TF_OK, P_V1, CF, RJ },
        { CONFIRM, 0, TF_OK, P_V1, CF, RJ },
    } },
    { "failing self-test: rejected on the trial boot itself", {
        INSTALL_V1,
        { BEGIN, P_BAD, TF_OK, SAME, CF, RX },
        { SEND, P_BAD, TF_OK, SAME, CF, RX },
        { COMMIT, P_BAD, TF_OK, SAME, CF, PD },
        { REBOOT, 0, TF_OK, P_V1, CF, RJ },
        { CONFIRM, 0, TF_OK, P_V1, CF, RJ },
    } },
    { "signed by another key: refused before any write", {
        INSTALL_V1,
        { BEGIN, P_OTHER, TF_E_SIGNATURE, P_V1, CF, E },
        { SEND, P_OTHER, TF_E_STATE, P_V1, CF, E },
    } },
    { "manifest changed after signing: refused", {
        INSTALL_V1,
        { BEGIN_FLIPPED, P_V2, TF_E_SIGNATURE, P_V1, CF, E },
    } },
    { "tampered chunk: commit refuses, old model keeps running", {
        INSTALL_V1,
        { BEGIN, P_V2, TF_OK, SAME, CF, RX },
        { SEND_TAMPERED, P_V2, TF_OK, SAME, CF, RX },
        { COMMIT, P_V2, TF_E_HASH, P_V1, CF, RX },
        { REBOOT, 0, TF_OK, P_V1, CF, RX },
    } },
    { "lower security counter: refused", {
        INSTALL_V1,
        { BEGIN, P_LOW, TF_E_ROLLBACK, P_V1, CF, E },
    } },
    { "confirmed counter raises the floor: the previous version is refused too", {
        INSTALL_V1, STAGE_V2,
        { REBOOT, 0, TF_OK, P_V2, CF, TR },
        { CONFIRM, 0, TF_OK, P_V2, IN, CF },
        { BEGIN, P_V1, TF_E_ROLLBACK, P_V2, IN, CF },
    } },
    { "no new OTA while a trial awaits CONFIRM", {
        INSTALL_V1, STAGE_V2,
        { REBOOT, 0, TF_OK, P_V2, CF, TR },
        { BEGIN, P_V2, TF_E_STATE, P_V2, CF, TR },
    } },
    { "commit before all bytes arrived; chunk without a session", {
        { SEND, P_V1, TF_E_STATE, NONE, E, E },
        { COMMIT, P_V1, TF_E_STATE, NONE, E, E },
        { BEGIN, P_V1, TF_OK, SAME, RX, E },
        { SEND_HALF, P_V1, TF_OK, SAME, RX, E },
        { COMMIT, P_V1, TF_E_OFFSET, SAME, RX, E },
    } },
    { "reset mid-transfer: the same BEGIN resumes", {
        INSTALL_V1,
        { BEGIN, P_V2, TF_OK, SAME, CF, RX },
        { SEND_HALF, P_V2, TF_OK, SAME, CF, RX },
        { REBOOT, 0, TF_OK, P_V1, CF, RX },
        { BEGIN, P_V2, TF_OK, SAME, CF, RX },
        { SEND, P_V2, TF_OK, SAME, CF, RX },
        { COMMIT, P_V2, TF_OK, SAME, CF, PD },
        { REBOOT, 0, TF_OK, P_V2, CF, TR },
    } },
    { "a pending model is replaced by a newer BEGIN", {
        INSTALL_V1, STAGE_V2,
        { BEGIN, P_BAD, TF_OK, SAME, CF, RX },
        { SEND, P_BAD, TF_OK, SAME, CF, RX },
        { COMMIT, P_BAD, TF_OK, SAME, CF, PD },
        { REBOOT, 0, TF_OK, P_V1, CF, RJ },
    } },
};

typedef struct {
    sim_flash_t sim;
    tf_flash_t dev;
    fake_rt_t rt;
    tf_runner_t runner;
    tf_ota_t ota;
    uint32_t resume;
} rig_t;

static rig_t rig;

static void reboot(rig_t *r)
{
    sim_power_on(&r->sim);
    CHECK_EQ(tf_ota_open(&r->ota, &r->dev, FX_PUBKEY), TF_OK);
    tf_ota_boot(&r->ota, fake_start, &r->runner);
}

static void rig_init(rig_t *r)
{
    memset(r, 0, sizeof *r);
    memset(r->sim.mem, 0xFF, sizeof r->sim.mem);
    r->dev = sim_flash_device(&r->sim);
    r->runner = fake_runner(&r->rt);
    reboot(r);
}

static tf_status_t send(rig_t *r, int pkg, uint32_t upto, int tamper)
{
    uint8_t chunk[64];
    uint32_t pos = r->resume, next = 0;
    tf_status_t st = TF_OK;
    while (pos < upto && st == TF_OK) {
        uint32_t n = upto - pos < sizeof chunk ? upto - pos : (uint32_t)sizeof chunk;
        memcpy(chunk, PKG[pkg].payload + pos, n);
        if (tamper && pos <= PKG[pkg].size / 2 && PKG[pkg].size / 2 < pos + n) chunk[PKG[pkg].size / 2 - pos] ^= 0x20;
        st = tf_ota_chunk(&r->ota, pos, chunk, n, &next);
        pos = next;
    }
    return st;
}

/* The package a running model came from, by its signed manifest. */
static int running_pkg(const tf_ota_t *o)
{
    if (o->running < 0) return NONE;
    for (int p = 0; p < P_COUNT; p++) {
        if (memcmp(o->view.manifest.model_sha256, PKG[p].begin + 56, 32) == 0) return p;
    }
    return 99;
}

static void run_case(const ota_case_t *c)
{
    rig_init(&rig);
    for (int i = 0; i < 16 && c->steps[i].op != END; i++) {
        const step_t *s = &c->steps[i];
        tf_status_t st = TF_OK;
        uint8_t raw[TF_OTA_BEGIN_SIZE];
        switch (s->op) {
        case BEGIN:
            st = tf_ota_begin(&rig.ota, PKG[s->pkg].begin, &rig.resume);
            break;
        case BEGIN_FLIPPED:
            memcpy(raw, PKG[s->pkg].begin, sizeof raw);
            raw[8] ^= 0x01; /* security_counter */
            st = tf_ota_begin(&rig.ota, raw, &rig.resume);
            break;
        case SEND: st = send(&rig, s->pkg, PKG[s->pkg].size, 0); break;
        case SEND_HALF: st = send(&rig, s->pkg, PKG[s->pkg].size / 2 / 64 * 64, 0); break;
        case SEND_TAMPERED: st = send(&rig, s->pkg, PKG[s->pkg].size, 1); break;
        case COMMIT: st = tf_ota_commit(&rig.ota); break;
        case REBOOT: reboot(&rig); break;
        case CONFIRM: st = tf_ota_confirm(&rig.ota); break;
        case END: break;
        }
        int ok = st == s->want && rig.ota.rec.state[0] == s->s0 && rig.ota.rec.state[1] == s->s1 &&
                 (s->running == SAME || running_pkg(&rig.ota) == s->running);
        CHECK(ok);
        if (!ok) {
            fprintf(stderr, "  case \"%s\", step %d: status 0x%02x (want 0x%02x), slots %s/%s (want %s/%s), running %d (want %d)\n",
                    c->name, i + 1, st, s->want, tf_slot_state_name(rig.ota.rec.state[0]),
                    tf_slot_state_name(rig.ota.rec.state[1]), tf_slot_state_name(s->s0), tf_slot_state_name(s->s1),
                    running_pkg(&rig.ota), s->running);
            return;
        }
    }
    CHECK_EQ(rig.sim.violations, 0);
}

/* The decision table itself, row by row. */
static void test_decision_table(void)
{
    static const struct { uint8_t s0, s1; tf_boot_action_t action; int slot; } T[] = {
        { E, E, TF_BOOT_FAIL, -1 },   { RX, E, TF_BOOT_FAIL, -1 },  { CF, E, TF_BOOT_NONE, 0 },
        { E, CF, TF_BOOT_NONE, 1 },   { CF, PD, TF_BOOT_TEST, 1 },  { CF, TR, TF_BOOT_REVERT, 1 },
        { TR, CF, TF_BOOT_REVERT, 0 }, { PD, E, TF_BOOT_TEST, 0 },  { IN, CF, TF_BOOT_NONE, 1 },
        { RJ, CF, TF_BOOT_NONE, 1 },  { CF, RX, TF_BOOT_NONE, 0 },  { TR, PD, TF_BOOT_REVERT, 0 },
        { PD, TR, TF_BOOT_REVERT, 1 }, { RJ, IN, TF_BOOT_FAIL, -1 },
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        tf_ota_record_t rec = { 1, { T[i].s0, T[i].s1 }, 0 };
        tf_boot_decision_t d = tf_ota_decide(&rec);
        CHECK(d.action == T[i].action && d.slot == T[i].slot);
    }
    CHECK(strcmp(tf_boot_action_name(TF_BOOT_REVERT), "revert") == 0);
    CHECK(strcmp(tf_slot_state_name(TF_SLOT_TRIAL), "trial") == 0);
}

/* Record copies: the newer valid copy wins, a torn one is ignored. */
static void test_record_codec(void)
{
    uint8_t raw[TF_RECORD_SIZE];
    tf_ota_record_t a = { 7, { CF, PD }, 42 }, b;
    tf_record_encode(&a, raw);
    CHECK(tf_record_decode(raw, &b));
    CHECK(b.seq == 7 && b.state[0] == CF && b.state[1] == PD && b.security_counter == 42);
    raw[9] ^= 0x01;
    CHECK(!tf_record_decode(raw, &b));
    raw[9] ^= 0x01;
    raw[8] = 0x77; /* an unknown state with a fixed-up CRC is still refused */
    tf_put_u32(raw + 28, tf_crc32(raw, 28));
    CHECK(!tf_record_decode(raw, &b));
}

static void test_manifest_parse(void)
{
    tf_manifest_t m;
    uint8_t raw[TF_MANIFEST_SIZE];
    CHECK_EQ(tf_manifest_parse(FX_V2_BEGIN, &m), TF_OK);
    CHECK(strcmp(m.name, "digits") == 0 && m.version[0] == 1 && m.version[1] == 1 && m.security_counter == 6);
    CHECK(m.input_bytes == 16 && m.output_bytes == 6 && m.golden_count == 3 && m.model_size == 420);
    static const int offsets[] = { 0, 4, 6, 20, 88, 136, 150 };
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        memcpy(raw, FX_V2_BEGIN, sizeof raw);
        raw[offsets[i]] ^= (offsets[i] == 20) ? 0xFF : 0x01;
        if (offsets[i] == 20) raw[20] = 0; /* empty name */
        CHECK_EQ(tf_manifest_parse(raw, &m), TF_E_MANIFEST);
    }
}

/* No key provisioned: every OTA is refused (fail closed). */
static void test_no_key(void)
{
    rig_init(&rig);
    CHECK_EQ(tf_ota_open(&rig.ota, &rig.dev, NULL), TF_OK);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V1_BEGIN, &rig.resume), TF_E_NO_KEY);
    /* a confirmed model is not run without a key, and not rejected either */
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V1_BEGIN, &rig.resume), TF_E_NO_KEY);
    reboot(&rig);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V1_BEGIN, &rig.resume), TF_OK);
    CHECK_EQ(send(&rig, P_V1, PKG[P_V1].size, 0), TF_OK);
    CHECK_EQ(tf_ota_commit(&rig.ota), TF_OK);
    reboot(&rig);
    CHECK_EQ(tf_ota_confirm(&rig.ota), TF_OK);
    tf_ota_record_t before = rig.ota.rec;
    CHECK_EQ(tf_ota_open(&rig.ota, &rig.dev, NULL), TF_OK);
    CHECK_EQ(tf_ota_boot(&rig.ota, fake_start, &rig.runner), -1);
    CHECK(before.seq == rig.ota.rec.seq && before.state[0] == rig.ota.rec.state[0] && before.state[1] == rig.ota.rec.state[1]);
    reboot(&rig);
    CHECK(rig.ota.running == 0 && rig.ota.rec.state[0] == CF);
}

/* A region too small for two slots: nothing boots, every OTA is refused, nothing is written. */
static void test_bad_geometry(void)
{
    rig_init(&rig);
    tf_flash_t small = rig.dev;
    small.size = 5 * SIM_SECTOR;
    long ops = rig.sim.ops;
    CHECK_EQ(tf_ota_open(&rig.ota, &small, FX_PUBKEY), TF_E_FLASH);
    CHECK_EQ(tf_ota_boot(&rig.ota, fake_start, &rig.runner), -1);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V1_BEGIN, &rig.resume), TF_E_FLASH);
    CHECK_EQ(rig.sim.ops, ops);
}

/* Resume reports a sector boundary at or before what was written, and the result commits. */
static void test_resume_offset(void)
{
    rig_init(&rig);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V2_BEGIN, &rig.resume), TF_OK);
    CHECK_EQ(rig.resume, 0);
    uint32_t half = 320; /* past the first payload sector */
    CHECK_EQ(send(&rig, P_V2, half, 0), TF_OK);
    reboot(&rig);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V2_BEGIN, &rig.resume), TF_OK);
    CHECK_EQ(rig.resume, SIM_SECTOR);
    uint32_t next = 0;
    CHECK_EQ(tf_ota_chunk(&rig.ota, 0, FX_V2_PAYLOAD, 64, &next), TF_E_OFFSET);
    CHECK_EQ(next, SIM_SECTOR);
    CHECK_EQ(tf_ota_chunk(&rig.ota, SIM_SECTOR, FX_V2_PAYLOAD + SIM_SECTOR, 12, &next), TF_E_BAD_LENGTH);
    CHECK_EQ(send(&rig, P_V2, PKG[P_V2].size, 0), TF_OK);
    CHECK_EQ(tf_ota_commit(&rig.ota), TF_OK);
    /* a different manifest starts over */
    rig_init(&rig);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_V2_BEGIN, &rig.resume), TF_OK);
    CHECK_EQ(send(&rig, P_V2, half, 0), TF_OK);
    reboot(&rig);
    CHECK_EQ(tf_ota_begin(&rig.ota, FX_BADGOLDEN_BEGIN, &rig.resume), TF_OK);
    CHECK_EQ(rig.resume, 0);
    CHECK_EQ(rig.sim.violations, 0);
}

int main(void)
{
    test_decision_table();
    test_record_codec();
    test_manifest_parse();
    test_no_key();
    test_bad_geometry();
    test_resume_offset();
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) run_case(&CASES[i]);
    return core_report("test_ota");
}
