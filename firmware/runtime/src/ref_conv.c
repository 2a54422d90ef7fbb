/* ref_conv.c — int8 convolution, depthwise convolution and fully-connected (see ref_conv.h). */
#include "ref_conv.h"

#include "qmath.h"

static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, const int32_t off,
                             int32_t lo, int32_t hi) {
    int32_t v = tfrt_wrap_add(tfrt_mbqm(acc, mult, shift), off);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

#if defined(__ARM_FEATURE_DSP) && __ARM_FEATURE_DSP
/* Cortex-M4: two 16-bit multiply-accumulates per SMLAD. Four int8 of a are sign-extended to
 * two pairs of int16 with SXTB16 (even bytes) and SXTB16 ROR #8 (odd bytes); b gets its offset
 * added with SADD16 after the same extension. Every product and partial sum is exact. */
static inline uint32_t ld32(const int8_t *p) {
    uint32_t v;
    __builtin_memcpy(&v, p, 4);
    return v;
}
static inline uint32_t sxtb16(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t sxtb16_ror8(uint32_t x) {
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t sadd16(uint32_t a, uint32_t b) {
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t smlad(uint32_t a, uint32_t b, int32_t acc) {
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

int32_t tfrt_dot_offset(const int8_t *a, const int8_t *b, int32_t b_offset, int32_t n) {
    int32_t acc = 0;
    uint32_t off2 = ((uint32_t)(uint16_t)b_offset << 16) | (uint16_t)b_offset;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t va = ld32(a + i), vb = ld32(b + i);
        uint32_t a_even = sxtb16(va), a_odd = sxtb16_ror8(va);
        uint32_t b_even = sadd16(sxtb16(vb), off2), b_odd = sadd16(sxtb16_ror8(vb), off2);
        acc = smlad(a_even, b_even, acc);
        acc = smlad(a_odd, b_odd, acc);
    }
    for (; i < n; i++) acc += (int32_t)a[i] * ((int32_t)b[i] + b_offset);
    return acc;
}
#else
int32_t tfrt_dot_offset(const int8_t *a, const int8_t *b, int32_t b_offset, int32_t n) {
    int32_t acc = 0;
    for (int32_t i = 0; i < n; i++) acc += (int32_t)a[i] * ((int32_t)b[i] + b_offset);
    return acc;
}
#endif

void tfrt_ref_conv(const tfrt_conv_params *p, const int8_t *in, const int8_t *filter, int8_t *out) {
    const int32_t fsize = p->f_h * p->f_w * p->in_c;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *o = out + (((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t oc = 0; oc < p->out_c; oc++) {
                    const int8_t *f = filter + (int64_t)oc * fsize;
                    int32_t acc = 0;
                    for (int32_t fy = 0; fy < p->f_h; fy++) {
                        const int32_t iy = iy0 + p->dil_h * fy;
                        if (iy < 0 || iy >= p->in_h) continue;
                        for (int32_t fx = 0; fx < p->f_w; fx++) {
                            const int32_t ix = ix0 + p->dil_w * fx;
                            if (ix < 0 || ix >= p->in_w) continue;
                            const int8_t *x =
                                in + (((int64_t)b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            acc += tfrt_dot_offset(f + (fy * p->f_w + fx) * p->in_c, x,
                                                   p->in_offset, p->in_c);
                        }
                    }
                    if (p->bias) acc = tfrt_wrap_add(acc, tfrt_ld_i32(p->bias + 4 * oc));
                    o[oc] = requant(acc, p->mult[oc], p->shift[oc], p->out_offset, p->act_min,
                                    p->act_max);
                }
            }
        }
    }
}

void tfrt_ref_dwconv(const tfrt_conv_params *p, const int8_t *in, const int8_t *filter,
                     int8_t *out) {
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int8_t *o = out + (((int64_t)b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t ic = 0; ic < p->in_c; ic++) {
                    for (int32_t mm = 0; mm < p->depth_mult; mm++) {
                        const int32_t oc = ic * p->depth_mult + mm;
                        int32_t acc = 0;
                        for (int32_t fy = 0; fy < p->f_h; fy++) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            if (iy < 0 || iy >= p->in_h) continue;
                            for (int32_t fx = 0; fx < p->f_w; fx++) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                if (ix < 0 || ix >= p->in_w) continue;
                                int32_t xv = in[(((int64_t)b * p->in_h + iy) * p->in_w + ix) *
                                                    p->in_c + ic];
                                int32_t wv = filter[(fy * p->f_w + fx) * p->out_c + oc];
                                acc += wv * (xv + p->in_offset);
                            }
                        }
                        if (p->bias) acc = tfrt_wrap_add(acc, tfrt_ld_i32(p->bias + 4 * oc));
                        o[oc] = requant(acc, p->mult[oc], p->shift[oc], p->out_offset,
                                        p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

void tfrt_ref_fc(const tfrt_fc_params *p, const int8_t *in, const int8_t *w, int8_t *out) {
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + (int64_t)b * p->depth;
        for (int32_t u = 0; u < p->units; u++) {
            const int8_t *wr = w + (int64_t)u * p->depth;
            int32_t acc;
            if (p->w_offset == 0) {
                acc = tfrt_dot_offset(wr, x, p->in_offset, p->depth);
            } else {
                acc = 0;
                for (int32_t d = 0; d < p->depth; d++)
                    acc += ((int32_t)wr[d] + p->w_offset) * ((int32_t)x[d] + p->in_offset);
            }
            if (p->bias) acc = tfrt_wrap_add(acc, tfrt_ld_i32(p->bias + 4 * u));
            const int32_t mu = p->mult_pc ? p->mult_pc[u] : p->mult;
            const int32_t sh = p->shift_pc ? p->shift_pc[u] : p->shift;
            out[(int64_t)b * p->units + u] =
                requant(acc, mu, sh, p->out_offset, p->act_min, p->act_max);
        }
    }
}
