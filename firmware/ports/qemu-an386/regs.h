/*
 * regs.h — the few memory-mapped registers the qemu-an386 port touches (no CMSIS here).
 *
 * Addresses: ARMv7-M Architecture Reference Manual (System Control Space) and the MPS2 AN386
 * application note (CMSDK APB UART0 at 0x40004000, its RX interrupt on IRQ 0).
 */
#ifndef TF_QEMU_AN386_REGS_H
#define TF_QEMU_AN386_REGS_H

#include <stdint.h>

#define REG32(addr) (*(volatile uint32_t *)(addr))

/* System Control Space */
#define SCB_ICSR REG32(0xE000ED04u)
#define SCB_VTOR REG32(0xE000ED08u)
#define SCB_AIRCR REG32(0xE000ED0Cu)
#define SCB_CPACR REG32(0xE000ED88u)
#define NVIC_ISER0 REG32(0xE000E100u)
#define NVIC_IPR_BYTE(n) (*(volatile uint8_t *)(0xE000E400u + (n)))

#define SCB_AIRCR_VECTKEY (0x05FAu << 16)
#define SCB_AIRCR_SYSRESETREQ (1u << 2)
#define SCB_ICSR_PENDSTSET (1u << 26)

/* SysTick: counts down from RELOAD at the processor clock when CLKSOURCE = 1. */
#define SYST_CSR REG32(0xE000E010u)
#define SYST_RVR REG32(0xE000E014u)
#define SYST_CVR REG32(0xE000E018u)
#define SYST_CSR_ENABLE (1u << 0)
#define SYST_CSR_TICKINT (1u << 1)
#define SYST_CSR_CLKSOURCE (1u << 2)
#define SYST_RELOAD_MAX 0x00FFFFFFu
#define BOARD_CPU_HZ 25000000u /* MPS2 FPGA images run the processor at 25 MHz */

/* CMSDK APB UART0 */
#define UART0_BASE 0x40004000u
#define UART_DATA REG32(UART0_BASE + 0x00u)
#define UART_STATE REG32(UART0_BASE + 0x04u)
#define UART_CTRL REG32(UART0_BASE + 0x08u)
#define UART_INTSTATUS REG32(UART0_BASE + 0x0Cu) /* write 1 to clear */
#define UART_BAUDDIV REG32(UART0_BASE + 0x10u)
#define UART_STATE_TXFULL (1u << 0)
#define UART_STATE_RXFULL (1u << 1)
#define UART_STATE_RXOVERRUN (1u << 3)
#define UART_CTRL_TXEN (1u << 0)
#define UART_CTRL_RXEN (1u << 1)
#define UART_CTRL_RXINT (1u << 3)
#define UART_INT_RX (1u << 1)
#define UART0_RX_IRQ 0u

#endif /* TF_QEMU_AN386_REGS_H */
