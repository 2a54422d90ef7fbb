/*
 * qmath.c — multiplier encoding and the fixed-point transcendental helpers (gemmlowp formulas:
 * exp on [-1/4, 0) by a 4th-order polynomial plus a barrel shifter of exp(-2^k) constants,
 * 1/(1+x) by three Newton-Raphson steps from 48/17 - 32/17 x).
 */
#include "qmath.h"

#include <math.h>

int tfrt_quantize_multiplier(double m, int32_t *multiplier, int *shift) {
    if (!(m > 0.0) || !isfinite(m)) return -1;
    int e = 0;
    double q = frexp(m, &e);
    int64_t qm = (int64_t)round(q * (double)(1LL << 31));
    if (qm == (1LL << 31)) {
        qm /= 2;
        e += 1;
    }
    if (e < -31) {
        qm = 0;
        e = 0;
    }
    if (e > 30) { /* saturate, as TFLM does */
        e = 30;
        qm = INT32_MAX;
    }
    *multiplier = (int32_t)qm;
    *shift = e;
    return 0;
}

int tfrt_clz32(uint32_t x) {
    int n = 0;
    if (x == 0) return 32;
    while (!(x & 0x80000000u)) {
        x <<= 1;
        n++;
    }
    return n;
}

/* Fixed-point product of a Qm and a Qn number: a Q(m+n) number. */
static inline int32_t fxmul(int32_t a, int32_t b) { return tfrt_srdhm(a, b); }

/* exp(a) for a in [-1/4, 0), Q0 in and out. */
static int32_t exp_quarter(int32_t a) {
    const int32_t constant_term = 1895147668;   /* exp(-1/8) */
    const int32_t constant_1_over_3 = 715827883;
    int32_t x = tfrt_wrap_add(a, 1 << 28);       /* a + 1/8 */
    int32_t x2 = fxmul(x, x);
    int32_t x3 = fxmul(x2, x);
    int32_t x4 = fxmul(x2, x2);
    int32_t x4_over_4 = tfrt_rdbpot(x4, 2);
    int32_t poly = tfrt_rdbpot(
        tfrt_wrap_add(fxmul(tfrt_wrap_add(x4_over_4, x3), constant_1_over_3), x2), 1);
    return tfrt_wrap_add(constant_term, fxmul(constant_term, tfrt_wrap_add(x, poly)));
}

int32_t tfrt_exp_on_negative_values(int32_t a, int integer_bits) {
    static const int32_t k_exp_pow2[7] = {
        1672461947, /* exp(-1/4) */
        1302514674, /* exp(-1/2) */
        790015084,  /* exp(-1)   */
        290630308,  /* exp(-2)   */
        39332535,   /* exp(-4)   */
        720401,     /* exp(-8)   */
        242,        /* exp(-16)  */
    };
    const int frac_bits = 31 - integer_bits;
    const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    int32_t a_mod_quarter_minus_quarter = tfrt_wrap_sub(a & mask, one_quarter);
    int32_t result = exp_quarter(tfrt_sat_shl(a_mod_quarter_minus_quarter, integer_bits));
    int32_t remainder = tfrt_wrap_sub(a_mod_quarter_minus_quarter, a);
    for (int k = -2; k <= 4; k++) {
        if (integer_bits > k) {
            int bit = frac_bits + k;
            if (remainder & (int32_t)((uint32_t)1 << bit)) result = fxmul(result, k_exp_pow2[k + 2]);
        }
    }
    if (integer_bits > 5) {
        int32_t clamp = -(int32_t)((uint32_t)1 << (frac_bits + 5));
        if (a < clamp) result = 0;
    }
    if (a == 0) result = INT32_MAX;
    return result;
}

int32_t tfrt_one_over_one_plus_x(int32_t a) {
    /* half_denominator = (a + 1) / 2 in Q0, rounded half away from zero */
    int64_t sum = (int64_t)a + INT32_MAX;
    int64_t sign = sum >= 0 ? 1 : -1;
    int32_t half_den = (int32_t)((sum + sign) / 2);
    const int32_t c48_17 = 1515870810;   /* 48/17 in Q2 */
    const int32_t cm32_17 = -1010580540; /* -32/17 in Q2 */
    const int32_t one_q2 = 1 << 29;
    int32_t x = tfrt_wrap_add(c48_17, fxmul(half_den, cm32_17));
    for (int i = 0; i < 3; i++) {
        int32_t hd_x = fxmul(half_den, x);                 /* Q2 */
        int32_t one_minus = tfrt_wrap_sub(one_q2, hd_x);   /* Q2 */
        int32_t corr = tfrt_sat_shl(fxmul(x, one_minus), 2); /* Q4 -> Q2 */
        x = tfrt_wrap_add(x, corr);
    }
    /* x/2 as Q1 (same raw), then to Q0 */
    return tfrt_sat_shl(x, 1);
}

int32_t tfrt_logistic_q4(int32_t a) {
    if (a == 0) return 1 << 30;
    int32_t abs_a = a > 0 ? a : tfrt_wrap_sub(0, a);
    int32_t pos = tfrt_one_over_one_plus_x(tfrt_exp_on_negative_values(tfrt_wrap_sub(0, abs_a), 4));
    return a > 0 ? pos : tfrt_wrap_sub(INT32_MAX, pos);
}
