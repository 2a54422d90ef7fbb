/*
 * startup.c — reset handler and vector table for the qemu-an386 port (Cortex-M4F, no CMSIS).
 *
 * The reset handler copies .data from flash, zeroes .bss, turns the FPU on (the build uses the
 * hard-float ABI) and calls main(). Faults print one line on the UART and reset the board, so a
 * bug shows up as a reboot the host can see instead of a silent hang. A semihosting BKPT that
 * faults because QEMU runs without semihosting is skipped with r0 = -1 (the call "failed").
 */
#include <stdint.h>

#include "port.h"
#include "regs.h"

extern uint32_t __data_load, __data_start, __data_end, __bss_start, __bss_end, __stack_top;
extern int main(void);

void Reset_Handler(void);
void HardFault_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);
void Uart0Rx_Handler(void);

__attribute__((noreturn)) void Reset_Handler(void)
{
    const uint32_t *src = &__data_load;
    for (uint32_t *dst = &__data_start; dst < &__data_end;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &__bss_start; dst < &__bss_end;) {
        *dst++ = 0;
    }
    SCB_CPACR |= 0xFu << 20; /* CP10 and CP11: full access to the FPU */
    __asm__ volatile("dsb\n\tisb" ::: "memory");
    (void)main();
    for (;;) {
        hal_reset();
    }
}

/* Called from HardFault_Handler with the stacked exception frame (r0-r3, r12, lr, pc, xpsr). */
void port_fault(uint32_t *frame);
void port_fault(uint32_t *frame)
{
    uint32_t pc = frame[6];
    const uint16_t *insn = (const uint16_t *)(uintptr_t)pc;
    if ((pc & 1u) == 0u && pc < 0x00400000u && *insn == 0xBEABu) {
        frame[0] = (uint32_t)-1; /* semihosting unavailable: the call returns -1 */
        frame[6] = pc + 2u;
        return;
    }
    port_panic("hardfault", pc);
}

__attribute__((naked)) void HardFault_Handler(void)
{
    __asm__ volatile(
        "tst lr, #4\n\t"
        "ite eq\n\t"
        "mrseq r0, msp\n\t"
        "mrsne r0, psp\n\t"
        "b port_fault\n\t");
}

void Default_Handler(void)
{
    uint32_t ipsr;
    __asm__ volatile("mrs %0, ipsr" : "=r"(ipsr));
    port_panic("unexpected exception", ipsr);
}

#define N_IRQS 32u
typedef void (*vector_t)(void);

__attribute__((section(".vectors"), used)) static const vector_t vectors[16u + N_IRQS] = {
    (vector_t)(uintptr_t)&__stack_top,
    Reset_Handler,
    Default_Handler,   /* NMI */
    HardFault_Handler, /* HardFault */
    Default_Handler,   /* MemManage */
    Default_Handler,   /* BusFault */
    Default_Handler,   /* UsageFault */
    0, 0, 0, 0,
    Default_Handler, /* SVCall */
    Default_Handler, /* DebugMonitor */
    0,
    Default_Handler, /* PendSV */
    SysTick_Handler,
    Uart0Rx_Handler, /* IRQ 0: UART0 RX; the other MPS2 peripherals stay disabled */
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler,
    Default_Handler,
};
