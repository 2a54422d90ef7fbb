/*
 * simd.h — the few Cortex-M4 DSP instructions the kernels use, as inline functions.
 *
 * With __ARM_FEATURE_DSP (Cortex-M4/M7/M33 with DSP) they are the real instructions
 * (inline asm); TFRT_DSP is then 1 and the kernels take their packed paths. Elsewhere TFRT_DSP
 * is 0 and the kernels use plain C loops. Both paths compute exact integer sums in the same
 * order-independent way, so results are identical bit for bit.
 *
 *   sxtb16(x)      bytes 0 and 2 of x, sign-extended into the two halfwords
 *   sxtb16_ror8(x) bytes 1 and 3 of x, likewise
 *   sadd16(a, b)   halfword-wise add
 *   smlad(a, b, c) c + a.lo * b.lo + a.hi * b.hi
 *   smlabb / smlatt  c + a.lo * b.lo,  c + a.hi * b.hi
 */
#ifndef TFRT_SIMD_H
#define TFRT_SIMD_H

#include <stdint.h>
#include <string.h>

/* Hot kernels are compiled for speed even in a size-optimised (-Os) firmware build (GCC). */
#if defined(__GNUC__) && !defined(__clang__)
#define TFRT_HOT __attribute__((optimize("O2")))
#else
#define TFRT_HOT
#endif

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
#define TFRT_DSP 1

static inline uint32_t tfrt_ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void tfrt_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }
static inline uint32_t tfrt_sxtb16(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t tfrt_sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t tfrt_sadd16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t tfrt_smlad(uint32_t a, uint32_t b, int32_t c) {
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
static inline int32_t tfrt_smlabb(uint32_t a, uint32_t b, int32_t c) {
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
static inline int32_t tfrt_smlatt(uint32_t a, uint32_t b, int32_t c) {
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(c));
    return r;
}
/* Two copies of a 16-bit value, one per halfword. */
static inline uint32_t tfrt_dup16(int32_t v) {
    return ((uint32_t)(uint16_t)v << 16) | (uint16_t)v;
}
#else
#define TFRT_DSP 0
#endif

#endif /* TFRT_SIMD_H */
