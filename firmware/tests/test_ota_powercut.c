/*
 * Power cuts at every flash operation (after MCUboot's run_perm_with_fails): for every N, a
 * scenario runs on a copy of the starting flash with power lost during its N-th write or erase
 * (that operation half done); then the board boots again and must run a valid model with a
 * consistent record, and the host's retry must still reach the scenario's end state.
 */
#include <stdint.h>

#include "core_check.h"
#include "core_fixtures.h"
#include "core_sim.h"
#include "tf_ota.h"

typedef struct {
    sim_flash_t sim;
    tf_flash_t dev;
    fake_rt_t rt;
    tf_runner_t runner;
    tf_ota_t ota;
} board_t;

static board_t b;
static sim_flash_t start_state;
static long resumed_transfers;

static void boot(board_t *x)
{
    if (tf_ota_open(&x->ota, &x->dev, FX_PUBKEY) != TF_OK) return;
    tf_ota_boot(&x->ota, fake_start, &x->runner);
}

static void board_from(board_t *x, const sim_flash_t *flash)
{
    memset(x, 0, sizeof *x);
    x->sim = *flash;
    x->dev = sim_flash_device(&x->sim);
    x->runner = fake_runner(&x->rt);
}

static int is_pkg(const tf_ota_t *o, const uint8_t *begin)
{
    return o->running >= 0 && memcmp(o->view.manifest.model_sha256, begin + 56, 32) == 0;
}

/* What the host does: BEGIN (resuming), chunks, COMMIT. Stops at the first failure. */
static tf_status_t transfer(board_t *x, const uint8_t *begin, const uint8_t *payload, uint32_t size)
{
    uint32_t pos = 0, next = 0;
    tf_status_t st = tf_ota_begin(&x->ota, begin, &pos);
    if (st != TF_OK) return st;
    if (pos > 0) resumed_transfers++;
    while (pos < size) {
        uint32_t n = size - pos < 64u ? size - pos : 64u;
        if ((st = tf_ota_chunk(&x->ota, pos, payload + pos, n, &next)) != TF_OK) return st;
        pos = next;
    }
    return tf_ota_commit(&x->ota);
}

/* Invariants after any boot: one confirmed slot at most, the running slot is confirmed or a
 * trial that passed its self-test, and no NOR rule was broken. */
static int consistent(const board_t *x)
{
    const tf_ota_t *o = &x->ota;
    int confirmed = (o->rec.state[0] == TF_SLOT_CONFIRMED) + (o->rec.state[1] == TF_SLOT_CONFIRMED);
    if (confirmed > 1 || x->sim.violations != 0 || o->running < 0) return 0;
    uint8_t st = o->rec.state[o->running];
    return st == TF_SLOT_CONFIRMED || (st == TF_SLOT_TRIAL && o->selftest_passed);
}

/* ---- scenario 1: update V1 -> V2 and confirm ---- */
static void update_scenario(board_t *x)
{
    boot(x);
    if (transfer(x, FX_V2_BEGIN, FX_V2_PAYLOAD, sizeof FX_V2_PAYLOAD) != TF_OK) return;
    boot(x); /* reset into the trial */
    if (tf_ota_confirm(&x->ota) != TF_OK) return;
    boot(x);
}

/* The gateway after a reconnect: confirm a passing trial of V2, else send V2 again. */
static void finish_update(board_t *x)
{
    tf_ota_t *o = &x->ota;
    if (is_pkg(o, FX_V2_BEGIN)) {
        CHECK_EQ(tf_ota_confirm(o), TF_OK);
    } else {
        CHECK(is_pkg(o, FX_V1_BEGIN));
        CHECK_EQ(transfer(x, FX_V2_BEGIN, FX_V2_PAYLOAD, sizeof FX_V2_PAYLOAD), TF_OK);
        boot(x);
        CHECK(is_pkg(o, FX_V2_BEGIN));
        CHECK_EQ(tf_ota_confirm(o), TF_OK);
    }
    boot(x);
    CHECK(is_pkg(o, FX_V2_BEGIN) && o->rec.state[o->running] == TF_SLOT_CONFIRMED);
    CHECK_EQ(o->rec.security_counter, 6);
}

/* ---- scenario 2: a trial that is never confirmed (two boots) ---- */
static void revert_scenario(board_t *x)
{
    boot(x); /* TEST: V2 on trial */
    boot(x); /* REVERT */
}

/* ---- scenario 3: a package whose self-test fails, from BEGIN to the trial boot ---- */
static void selftest_scenario(board_t *x)
{
    boot(x);
    if (transfer(x, FX_BADGOLDEN_BEGIN, FX_BADGOLDEN_PAYLOAD, sizeof FX_BADGOLDEN_PAYLOAD) != TF_OK) return;
    boot(x);
}

static long count_ops(void (*scenario)(board_t *))
{
    board_from(&b, &start_state);
    scenario(&b);
    return b.sim.ops;
}

static void cut_everywhere(const char *name, void (*scenario)(board_t *), void (*after)(board_t *))
{
    long total = count_ops(scenario);
    CHECK(total >= 4);
    int bad = 0;
    for (long n = 1; n <= total; n++) {
        board_from(&b, &start_state);
        b.sim.cut_at = n;
        scenario(&b);
        CHECK(b.sim.dead);
        sim_power_on(&b.sim);
        boot(&b);
        int ok = consistent(&b) && (is_pkg(&b.ota, FX_V1_BEGIN) || is_pkg(&b.ota, FX_V2_BEGIN));
        if (!ok && bad++ < 5) {
            fprintf(stderr, "  %s: cut at operation %ld of %ld: running %d, slots %s/%s, violations %d\n", name, n, total,
                    b.ota.running, tf_slot_state_name(b.ota.rec.state[0]), tf_slot_state_name(b.ota.rec.state[1]),
                    b.sim.violations);
        }
        CHECK(ok);
        after(&b);
    }
    printf("%s: power cut at each of %ld flash operations, all recovered\n", name, total);
    fflush(stdout);
}

static void after_revert(board_t *x)
{
    /* Whatever the cut left (a trial of V2 at most), one more boot without CONFIRM is V1. */
    boot(x);
    CHECK(is_pkg(&x->ota, FX_V1_BEGIN) && x->ota.rec.state[x->ota.running] == TF_SLOT_CONFIRMED);
}

static void after_selftest(board_t *x)
{
    boot(x);
    CHECK(is_pkg(&x->ota, FX_V1_BEGIN) && x->ota.rec.state[x->ota.running] == TF_SLOT_CONFIRMED);
    CHECK_EQ(tf_ota_confirm(&x->ota), TF_OK);
}

/* V1 installed and confirmed on a blank flash, no cuts. */
static void install_v1(void)
{
    board_from(&b, &start_state);
    memset(b.sim.mem, 0xFF, sizeof b.sim.mem);
    boot(&b);
    CHECK_EQ(transfer(&b, FX_V1_BEGIN, FX_V1_PAYLOAD, sizeof FX_V1_PAYLOAD), TF_OK);
    boot(&b);
    CHECK_EQ(tf_ota_confirm(&b.ota), TF_OK);
    start_state = b.sim;
    start_state.ops = 0;
}

int main(void)
{
    install_v1();
    cut_everywhere("update+confirm", update_scenario, finish_update);
    CHECK(resumed_transfers > 0); /* some cuts fell mid-transfer and the retry resumed */

    /* V2 committed (pending) on top of V1 */
    board_from(&b, &start_state);
    boot(&b);
    CHECK_EQ(transfer(&b, FX_V2_BEGIN, FX_V2_PAYLOAD, sizeof FX_V2_PAYLOAD), TF_OK);
    start_state = b.sim;
    start_state.ops = 0;
    cut_everywhere("trial+revert", revert_scenario, after_revert);

    install_v1();
    cut_everywhere("failing self-test", selftest_scenario, after_selftest);
    return core_report("test_ota_powercut");
}
