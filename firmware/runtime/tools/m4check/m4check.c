/*
 * m4check.c — the micro runtime on the emulated Cortex-M4F (QEMU mps2-an386), bare metal.
 *
 * 1. Checks the DSP (SMLAD) inner product against plain C on pseudo-random vectors.
 * 2. Loads the embedded model, runs the embedded input once, and prints over semihosting:
 *    dsp_mismatches, status, arena, macs, ticks (SysTick at 25 MHz; with QEMU
 *    `-icount shift=6` an instruction takes 64 ns, so instructions = ticks * 40 / 64) and the
 *    output bytes in hex; then runs the operators one by one and prints op_<NAME> ticks per
 *    operator kind (a profile). Built and run by `make -C firmware m4-check MODEL=... INPUT=...`.
 */
#include <stdint.h>
#include <string.h>

#include "kernels.h"
#include "ref_conv.h"
#include "tfrt.h"

extern const uint8_t m4_model[], m4_model_end[], m4_input[], m4_input_end[];
extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;

static tfrt_model model;
static uint8_t arena[512 * 1024] __attribute__((aligned(16)));
static volatile uint32_t systick_wraps;

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define CPACR (*(volatile uint32_t *)0xE000ED88u)

static int32_t semihost(uint32_t op, const void *arg) {
    register uint32_t r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
    return (int32_t)r0;
}

static void put(const char *s) { (void)semihost(0x04u, s); }

static void put_u32(const char *key, uint32_t v) {
    char buf[48];
    size_t n = strlen(key);
    memcpy(buf, key, n);
    buf[n++] = ' ';
    char digits[12];
    int d = 0;
    do {
        digits[d++] = (char)('0' + v % 10u);
        v /= 10u;
    } while (v);
    while (d) buf[n++] = digits[--d];
    buf[n++] = '\n';
    buf[n] = '\0';
    put(buf);
}

static uint32_t xorshift(uint32_t *s) {
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

static uint32_t dsp_mismatches(void) {
    static int8_t a[80], b[80];
    uint32_t seed = 12345u, bad = 0;
    for (int round = 0; round < 400; round++) {
        int32_t n = (int32_t)(xorshift(&seed) % 80u);
        int32_t off = (int32_t)(xorshift(&seed) % 256u) - 128;
        for (int32_t i = 0; i < n; i++) {
            a[i] = (int8_t)xorshift(&seed);
            b[i] = (int8_t)xorshift(&seed);
        }
        if (round % 7 == 0) memset(a, -128, sizeof a);
        int32_t want = 0;
        for (int32_t i = 0; i < n; i++) want += a[i] * (b[i] + off);
        if (tfrt_dot_offset(a, b, off, n) != want) bad++;
    }
    return bad;
}

int main(void);
int main(void) {
    put_u32("dsp_mismatches", dsp_mismatches());
    tfrt_status s = tfrt_load(&model, m4_model, (size_t)(m4_model_end - m4_model), arena,
                              sizeof arena);
    put_u32("status", (uint32_t)s);
    put_u32("arena", (uint32_t)tfrt_arena_required(&model));
    if (s != TFRT_OK) return 1;
    put_u32("macs", tfrt_macs(&model));
    size_t n = 0;
    int8_t *in = tfrt_input(&model, &n);
    if ((size_t)(m4_input_end - m4_input) < n) return 1;
    memcpy(in, m4_input, n);
    SYST_RVR = 0x00FFFFFFu;
    SYST_CVR = 0;
    systick_wraps = 0;
    SYST_CSR = 7u; /* enable, interrupt, processor clock */
    uint32_t w0 = systick_wraps, c0 = SYST_CVR;
    s = tfrt_invoke(&model);
    uint32_t c1 = SYST_CVR, w1 = systick_wraps;
    SYST_CSR = 0;
    uint64_t ticks = (uint64_t)(w1 - w0) * 0x01000000u + c0 - c1;
    put_u32("invoke_status", (uint32_t)s);
    put_u32("ticks", (uint32_t)ticks);
    int type = 0;
    const uint8_t *out = tfrt_output(&model, &n, &type);
    static char hex[2 * 4096 + 8];
    static const char digits[] = "0123456789abcdef";
    size_t k = 0;
    memcpy(hex, "out ", 4);
    k = 4;
    for (size_t i = 0; i < n && i < 4096; i++) {
        hex[k++] = digits[out[i] >> 4];
        hex[k++] = digits[out[i] & 15];
    }
    hex[k++] = '\n';
    hex[k] = '\0';
    put(hex);
    in = tfrt_input(&model, &n); /* the planner may have reused the input buffer */
    memcpy(in, m4_input, n);
    /* per-operator profile: "op_<kind> ticks", summed by kind */
    static uint32_t by_kind[K_COUNT];
    SYST_CSR = 7u;
    for (uint32_t k = 0; k < model.nops; k++) {
        const tfrt_op *op = &model.ops[k];
        uint32_t wa = systick_wraps, ca = SYST_CVR;
        (void)tfrt_ops[op->kind].eval(&model, op);
        uint32_t cb = SYST_CVR, wb = systick_wraps;
        by_kind[op->kind] += (wb - wa) * 0x01000000u + ca - cb;
    }
    SYST_CSR = 0;
    for (int k = 1; k < K_COUNT; k++) {
        if (!by_kind[k]) continue;
        char key[40] = "op_";
        strcat(key, tfrt_ops[k].name);
        put_u32(key, by_kind[k]);
    }
    return 0;
}

void m4_systick(void);
void m4_systick(void) { systick_wraps++; }

__attribute__((noreturn)) void m4_reset(void);
__attribute__((noreturn)) void m4_reset(void) {
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) *dst++ = *src++;
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) *dst++ = 0;
    CPACR |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    int rc = main();
    /* SYS_EXIT on AArch32 takes the reason code itself in r1 */
    uint32_t reason = rc == 0 ? 0x20026u : 0x20024u; /* ApplicationExit / InternalError */
    for (;;) (void)semihost(0x18u, (const void *)(uintptr_t)reason);
}

static void m4_hang(void) {
    put("fault\n");
    for (;;) (void)semihost(0x18u, (const void *)(uintptr_t)0x20024u); /* InternalError */
}

__attribute__((section(".vectors"), used)) static const void *const m4_vectors[16] = {
    &__stack_top, (const void *)m4_reset, (const void *)m4_hang, (const void *)m4_hang,
    (const void *)m4_hang, (const void *)m4_hang, (const void *)m4_hang, 0, 0, 0, 0,
    (const void *)m4_hang, (const void *)m4_hang, 0, (const void *)m4_hang,
    (const void *)m4_systick,
};
