/*
 * qmath.h — integer requantization arithmetic of the TFLite quantization spec, as TFLM computes it
 * ("double rounding"), and the gemmlowp-style fixed-point helpers SOFTMAX and LOGISTIC need.
 *
 * All functions are pure and inline. Signed overflow is avoided on purpose: wrap-around sums go
 * through uint32_t, products through int64_t.
 */
#ifndef TFRT_QMATH_H
#define TFRT_QMATH_H

#include <stdint.h>
#include <string.h>

/* Little-endian loads from possibly unaligned memory (model data). */
static inline int32_t tfrt_ld_i32(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    int32_t v; /* one (unaligned-capable) load on little-endian cores */
    memcpy(&v, p, sizeof v);
    return v;
#else
    return (int32_t)((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
                     ((uint32_t)p[3] << 24));
#endif
}
static inline int64_t tfrt_ld_i64(const uint8_t *p) {
    uint64_t lo = (uint32_t)tfrt_ld_i32(p), hi = (uint32_t)tfrt_ld_i32(p + 4);
    return (int64_t)(lo | (hi << 32));
}
static inline float tfrt_ld_f32(const uint8_t *p) {
    uint32_t u = (uint32_t)tfrt_ld_i32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline int32_t tfrt_wrap_add(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a + (uint32_t)b);
}
static inline int32_t tfrt_wrap_sub(int32_t a, int32_t b) {
    return (int32_t)((uint32_t)a - (uint32_t)b);
}

/* SaturatingRoundingDoublingHighMul: (a*b + nudge) / 2^31 truncated, nudge = 2^30 when a*b >= 0
 * and 1 - 2^30 otherwise; saturates the single overflow case INT32_MIN * INT32_MIN.
 * For a*b < 0 the truncation is a ceiling, ceil((ab + 1 - 2^30) / 2^31) = floor((ab + 2^30) / 2^31),
 * so both signs reduce to one arithmetic shift (test_runtime_qmath.c checks the identity). */
static inline int32_t tfrt_srdhm(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    return (int32_t)((ab + ((int64_t)1 << 30)) >> 31);
}

/* RoundingDivideByPOT: x / 2^exponent rounded to nearest, ties away from zero (0 <= exp <= 31). */
static inline int32_t tfrt_rdbpot(int32_t x, int exponent) {
    int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    int32_t remainder = x & mask;
    int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* MultiplyByQuantizedMultiplier (TFLM's double-rounding form): shift > 0 shifts left first. */
static inline int32_t tfrt_mbqm(int32_t x, int32_t multiplier, int shift) {
    int left = shift > 0 ? shift : 0;
    int right = shift > 0 ? 0 : -shift;
    int32_t shifted = (int32_t)((uint32_t)x << left);
    return tfrt_rdbpot(tfrt_srdhm(shifted, multiplier), right);
}

/* SaturatingRoundingMultiplyByPOT with a positive exponent (saturating left shift). */
static inline int32_t tfrt_sat_shl(int32_t x, int exponent) {
    int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) return INT32_MAX;
    if (x < -threshold) return INT32_MIN;
    return (int32_t)((uint32_t)x << exponent);
}

/* Encode a positive real multiplier as (q31 multiplier, power-of-two shift), TFLM's rules.
 * Returns 0 on success, -1 when the multiplier is not finite or not positive. */
int tfrt_quantize_multiplier(double m, int32_t *multiplier, int *shift);

/* Fixed-point exp(x) for x <= 0 given with `integer_bits` integer bits (Q(integer_bits)), result Q0. */
int32_t tfrt_exp_on_negative_values(int32_t a, int integer_bits);
/* 1 / (1 + x) for x in [0, 1) as Q0, result Q0 (gemmlowp's Newton-Raphson form). */
int32_t tfrt_one_over_one_plus_x(int32_t a);
/* Logistic of a Q4 value, result Q0. */
int32_t tfrt_logistic_q4(int32_t a);
/* Number of leading zero bits of a 32-bit value (32 for 0). */
int tfrt_clz32(uint32_t x);

#endif /* TFRT_QMATH_H */
