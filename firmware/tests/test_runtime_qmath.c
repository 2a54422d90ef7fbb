/* test_runtime_qmath.c — requantization arithmetic: SRDHM, RoundingDivideByPOT, multiplier
 * encoding edge cases, and the fixed-point exp / reciprocal / logistic helpers. */
#include <math.h>
#include <stdint.h>

#include "qmath.h"
#include "runtime_check.h"

static void srdhm_rounds_half_away_from_zero_and_saturates(void) {
    EXPECT_EQ(tfrt_srdhm(INT32_MIN, INT32_MIN), INT32_MAX); /* the one overflow case */
    EXPECT_EQ(tfrt_srdhm(INT32_MAX, INT32_MAX), INT32_MAX - 1);
    EXPECT_EQ(tfrt_srdhm(1 << 30, 1 << 30), 1 << 29);        /* 0.5 * 0.5 = 0.25 */
    EXPECT_EQ(tfrt_srdhm(-(1 << 30), 1 << 30), -(1 << 29));
    EXPECT_EQ(tfrt_srdhm(1, 1 << 30), 1);   /* 0.5 rounds up */
    EXPECT_EQ(tfrt_srdhm(-1, 1 << 30), 0);  /* -0.5: nudge 1-2^30 -> truncates to 0 */
    EXPECT_EQ(tfrt_srdhm(3, 1 << 30), 2);   /* 1.5 -> 2 */
    EXPECT_EQ(tfrt_srdhm(-3, 1 << 30), -1); /* -1.5 -> -1 (gemmlowp's nudge rule) */
    EXPECT_EQ(tfrt_srdhm(0, INT32_MIN), 0);
}

/* The spec's form of SRDHM (nudge, then a truncating division), to check the shift form. */
static int32_t srdhm_spec(int32_t a, int32_t b) {
    if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
    int64_t ab = (int64_t)a * (int64_t)b;
    int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

static void srdhm_shift_form_equals_the_spec_division_form(void) {
    static const int32_t edge[] = {0, 1, -1, 2, -2, 3, -3, 1 << 30, -(1 << 30), INT32_MAX, INT32_MIN,
                                   INT32_MAX - 1, INT32_MIN + 1, 46341, -46341, 1 << 15};
    const int n = (int)(sizeof edge / sizeof edge[0]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) EXPECT_EQ(tfrt_srdhm(edge[i], edge[j]), srdhm_spec(edge[i], edge[j]));
    uint32_t s = 88172645u;
    int bad = 0;
    for (int k = 0; k < 200000; k++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        int32_t a = (int32_t)s >> (s & 15);
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        int32_t b = (int32_t)s;
        if (tfrt_srdhm(a, b) != srdhm_spec(a, b)) bad++;
    }
    EXPECT_EQ(bad, 0);
}

static void rounding_divide_by_pot_ties_away_from_zero(void) {
    EXPECT_EQ(tfrt_rdbpot(5, 1), 3);
    EXPECT_EQ(tfrt_rdbpot(-5, 1), -3);
    EXPECT_EQ(tfrt_rdbpot(4, 1), 2);
    EXPECT_EQ(tfrt_rdbpot(-4, 1), -2);
    EXPECT_EQ(tfrt_rdbpot(6, 2), 2);   /* 1.5 -> 2 */
    EXPECT_EQ(tfrt_rdbpot(-6, 2), -2); /* -1.5 -> -2 */
    EXPECT_EQ(tfrt_rdbpot(-7, 2), -2);
    EXPECT_EQ(tfrt_rdbpot(7, 0), 7);
    EXPECT_EQ(tfrt_rdbpot(INT32_MAX, 31), 1);
    EXPECT_EQ(tfrt_rdbpot(INT32_MIN, 31), -1);
}

static void multiplier_encoding_follows_frexp_and_rounding(void) {
    int32_t q = 0;
    int sh = 0;
    EXPECT_EQ(tfrt_quantize_multiplier(0.5, &q, &sh), 0);
    EXPECT_EQ(q, 1 << 30);
    EXPECT_EQ(sh, 0);
    EXPECT_EQ(tfrt_quantize_multiplier(1.0, &q, &sh), 0);
    EXPECT_EQ(q, 1 << 30);
    EXPECT_EQ(sh, 1);
    EXPECT_EQ(tfrt_quantize_multiplier(0.75, &q, &sh), 0);
    EXPECT_EQ(q, 3 << 29);
    EXPECT_EQ(sh, 0);
    /* a mantissa that rounds to 2^31 becomes 2^30 with the exponent one higher */
    EXPECT_EQ(tfrt_quantize_multiplier(1.0 - ldexp(1.0, -40), &q, &sh), 0);
    EXPECT_EQ(q, 1 << 30);
    EXPECT_EQ(sh, 1);
    /* below 2^-31 everything shifts out: flushed to zero */
    EXPECT_EQ(tfrt_quantize_multiplier(ldexp(1.0, -40), &q, &sh), 0);
    EXPECT_EQ(q, 0);
    EXPECT_EQ(sh, 0);
    /* huge: saturated */
    EXPECT_EQ(tfrt_quantize_multiplier(ldexp(1.0, 40), &q, &sh), 0);
    EXPECT_EQ(q, INT32_MAX);
    EXPECT_EQ(sh, 30);
    EXPECT_EQ(tfrt_quantize_multiplier(0.0, &q, &sh), -1);
    EXPECT_EQ(tfrt_quantize_multiplier(-0.5, &q, &sh), -1);
    EXPECT_EQ(tfrt_quantize_multiplier(INFINITY, &q, &sh), -1);
    EXPECT_EQ(tfrt_quantize_multiplier(NAN, &q, &sh), -1);
}

static void multiply_by_quantized_multiplier_matches_real_product(void) {
    int32_t q = 0;
    int sh = 0;
    tfrt_quantize_multiplier(0.1234, &q, &sh);
    for (int32_t x = -100000; x <= 100000; x += 997) {
        double want = x * 0.1234;
        int32_t got = tfrt_mbqm(x, q, sh);
        EXPECT(fabs(got - want) < 1.0); /* two roundings: off by less than 1 */
    }
    tfrt_quantize_multiplier(3.5, &q, &sh);
    EXPECT_EQ(tfrt_mbqm(10, q, sh), 35);
    EXPECT_EQ(tfrt_mbqm(-10, q, sh), -35);
    /* double rounding: 1 * 0.75 = 0.75 -> 1, and -0.75 -> -1 */
    tfrt_quantize_multiplier(0.75, &q, &sh);
    EXPECT_EQ(tfrt_mbqm(1, q, sh), 1);
    EXPECT_EQ(tfrt_mbqm(-1, q, sh), -1);
}

static void fixed_point_exp_reciprocal_and_logistic_track_libm(void) {
    EXPECT_EQ(tfrt_exp_on_negative_values(0, 5), INT32_MAX);
    for (double v = -0.01; v > -31.0; v *= 1.37) {
        int32_t a = (int32_t)lrint(v * (double)(1 << 26));
        double got = tfrt_exp_on_negative_values(a, 5) / 2147483648.0;
        EXPECT(fabs(got - exp(v)) < 2e-6);
    }
    for (double x = 0.0; x < 1.0; x += 0.0625) {
        double got = tfrt_one_over_one_plus_x((int32_t)(x * 2147483648.0)) / 2147483648.0;
        EXPECT(fabs(got - 1.0 / (1.0 + x)) < 2e-6);
    }
    EXPECT_EQ(tfrt_logistic_q4(0), 1 << 30);
    for (double x = -7.5; x < 7.5; x += 0.25) {
        double got = tfrt_logistic_q4((int32_t)(x * (double)(1 << 27))) / 2147483648.0;
        EXPECT(fabs(got - 1.0 / (1.0 + exp(-x))) < 2e-6);
    }
    EXPECT_EQ(tfrt_clz32(0), 32);
    EXPECT_EQ(tfrt_clz32(1), 31);
    EXPECT_EQ(tfrt_clz32(0x80000000u), 0);
}

int main(void) {
    RUN(srdhm_rounds_half_away_from_zero_and_saturates);
    RUN(srdhm_shift_form_equals_the_spec_division_form);
    RUN(rounding_divide_by_pot_ties_away_from_zero);
    RUN(multiplier_encoding_follows_frexp_and_rounding);
    RUN(multiply_by_quantized_multiplier_matches_real_product);
    RUN(fixed_point_exp_reciprocal_and_logistic_track_libm);
    return rt_report("test_runtime_qmath");
}
