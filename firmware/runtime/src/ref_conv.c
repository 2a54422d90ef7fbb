/* ref_conv.c — int8 convolution, depthwise convolution and fully-connected (see ref_conv.h).
 *
 * CONV_2D and FULLY_CONNECTED first expand the input taps of one output position into an int16
 * "patch" (x - input_zp; 0 for taps in the padding, which is the same as skipping them), then
 * take one inner product per output channel, two channels at a time so each patch word is
 * loaded once for both. On a DSP core the patch stores each group of four elements as the pairs
 * (0, 2), (1, 3), the order SXTB16 unpacks int8 weights in, so one SMLAD does two MACs.
 * DEPTHWISE_CONV_2D with depth multiplier 1 and channels in multiples of four keeps four
 * channels' accumulators in registers across the window (SMLABB/SMLATT on a DSP core).
 */
#include "ref_conv.h"

#include <string.h>

#include "qmath.h"
#include "simd.h"

/* Requantize one accumulator: TFLM's double rounding, the output offset, the activation clamp. */
static inline int8_t requant(int32_t acc, int32_t mult, int32_t shift, const int32_t off,
                             int32_t lo, int32_t hi) {
    int32_t v = tfrt_wrap_add(tfrt_mbqm(acc, mult, shift), off);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* Patch index of element k (k < full, a multiple of four: packed; the tail: natural). */
static inline int32_t patch_pos(int32_t k, int32_t full) {
#if TFRT_DSP
    static const uint8_t perm[4] = {0, 2, 1, 3};
    if (k < full) return (k & ~3) + perm[k & 3];
#else
    (void)full;
#endif
    return k;
}

/* patch[k0 .. k0+len) = x[0 .. len) + off */
static void patch_run(int16_t *patch, int32_t k0, const int8_t *x, int32_t len, int32_t off,
                      int32_t full) {
#if TFRT_DSP
    if ((k0 & 3) == 0) {
        const uint32_t off2 = tfrt_dup16(off);
        for (; len >= 4 && k0 + 4 <= full; len -= 4, k0 += 4, x += 4) {
            uint32_t v = tfrt_ld32(x);
            tfrt_st32(patch + k0, tfrt_sadd16(tfrt_sxtb16(v), off2));
            tfrt_st32(patch + k0 + 2, tfrt_sadd16(tfrt_sxtb16_ror8(v), off2));
        }
    }
#endif
    for (; len > 0; len--, k0++, x++) patch[patch_pos(k0, full)] = (int16_t)(*x + off);
}

static void patch_zero(int16_t *patch, int32_t k0, int32_t len, int32_t full) {
    for (; len > 0; len--, k0++) patch[patch_pos(k0, full)] = 0;
}

/* Inner products of two weight rows with one patch of n elements. */
static inline void dot2(const int8_t *w0, const int8_t *w1, const int16_t *patch, int32_t n,
                        int32_t full, int32_t *a0, int32_t *a1) {
    int32_t acc0 = 0, acc1 = 0, k = 0;
#if TFRT_DSP
    for (; k < full; k += 4) {
        const uint32_t pa = tfrt_ld32(patch + k), pb = tfrt_ld32(patch + k + 2);
        const uint32_t v0 = tfrt_ld32(w0 + k), v1 = tfrt_ld32(w1 + k);
        acc0 = tfrt_smlad(tfrt_sxtb16(v0), pa, acc0);
        acc0 = tfrt_smlad(tfrt_sxtb16_ror8(v0), pb, acc0);
        acc1 = tfrt_smlad(tfrt_sxtb16(v1), pa, acc1);
        acc1 = tfrt_smlad(tfrt_sxtb16_ror8(v1), pb, acc1);
    }
#else
    (void)full;
#endif
    for (; k < n; k++) {
        acc0 += (int32_t)w0[k] * patch[k];
        acc1 += (int32_t)w1[k] * patch[k];
    }
    *a0 = acc0;
    *a1 = acc1;
}

int32_t tfrt_dot_offset(const int8_t *a, const int8_t *b, int32_t b_offset, int32_t n) {
    int32_t acc = 0, i = 0;
#if TFRT_DSP
    const uint32_t off2 = tfrt_dup16(b_offset);
    for (; i + 4 <= n; i += 4) {
        uint32_t va = tfrt_ld32(a + i), vb = tfrt_ld32(b + i);
        acc = tfrt_smlad(tfrt_sxtb16(va), tfrt_sadd16(tfrt_sxtb16(vb), off2), acc);
        acc = tfrt_smlad(tfrt_sxtb16_ror8(va), tfrt_sadd16(tfrt_sxtb16_ror8(vb), off2), acc);
    }
#endif
    for (; i < n; i++) acc += (int32_t)a[i] * ((int32_t)b[i] + b_offset);
    return acc;
}

/* Range [lo, hi) of filter taps f with 0 <= origin + dil * f < size. */
static inline void tap_range(int32_t origin, int32_t dil, int32_t size, int32_t taps, int32_t *lo,
                             int32_t *hi) {
    int32_t a = origin < 0 ? (-origin + dil - 1) / dil : 0;
    int32_t b = origin >= size ? 0 : (size - origin + dil - 1) / dil;
    *lo = a;
    *hi = b < taps ? b : taps;
}

static inline int32_t bias_at(const uint8_t *bias, int32_t c) {
    return bias ? tfrt_ld_i32(bias + 4 * c) : 0;
}

TFRT_HOT void tfrt_ref_conv(const tfrt_conv_params *pp, const int8_t *in, const int8_t *filter, int8_t *out) {
    /* a local copy: int8 stores may alias anything, which would force reloads of *pp */
    const tfrt_conv_params prm = *pp, *p = &prm;
    const int32_t fsize = p->f_h * p->f_w * p->in_c, full = fsize & ~3;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *const mult = p->mult;
    const int8_t *const shift = p->shift;
    int16_t *patch = p->scratch;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t k = 0;
                for (int32_t fy = 0; fy < p->f_h; fy++) {
                    const int32_t iy = iy0 + p->dil_h * fy;
                    for (int32_t fx = 0; fx < p->f_w; fx++, k += p->in_c) {
                        const int32_t ix = ix0 + p->dil_w * fx;
                        if (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w) {
                            patch_zero(patch, k, p->in_c, full);
                        } else {
                            const int8_t *x =
                                in + ((b * p->in_h + iy) * p->in_w + ix) * p->in_c;
                            patch_run(patch, k, x, p->in_c, p->in_offset, full);
                        }
                    }
                }
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t oc = 0; oc < p->out_c; oc += 2) {
                    const int32_t oc1 = oc + 1 < p->out_c ? oc + 1 : oc;
                    int32_t a0, a1;
                    dot2(filter + oc * fsize, filter + oc1 * fsize, patch, fsize,
                         full, &a0, &a1);
                    a0 = tfrt_wrap_add(a0, bias_at(p->bias, oc));
                    a1 = tfrt_wrap_add(a1, bias_at(p->bias, oc1));
                    const int8_t r0 = requant(a0, mult[oc], shift[oc], out_off, lo, hi);
                    const int8_t r1 = requant(a1, mult[oc1], shift[oc1], out_off, lo, hi);
                    o[oc] = r0;
                    o[oc1] = r1; /* oc1 == oc on an odd last channel: same value */
                }
            }
        }
    }
}

/* Depth multiplier 1, channels a multiple of four: four accumulators per pass over the window. */
TFRT_HOT static void dwconv_x4(const tfrt_conv_params *pp, const int8_t *in, const int8_t *filter,
                      int8_t *out) {
    const tfrt_conv_params prm = *pp, *p = &prm;
    const int32_t C = p->in_c, in_w = p->in_w, f_w = p->f_w, dil_w = p->dil_w;
    const int32_t out_off = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int32_t *const mult = p->mult;
    const int8_t *const shift = p->shift;
    const int32_t in_offset = p->in_offset;
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            tap_range(iy0, p->dil_h, p->in_h, p->f_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                tap_range(ix0, p->dil_w, p->in_w, p->f_w, &fx0, &fx1);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * C;
                const int8_t *xbase =
                    in + ((b * p->in_h + iy0 + p->dil_h * fy0) * in_w + ix0 + dil_w * fx0) * C;
                const int8_t *wbase = filter + (fy0 * f_w + fx0) * C;
                const int32_t nfy = fy1 - fy0, nfx = fx1 - fx0;
                const int32_t xrow = p->dil_h * in_w * C, xcol = dil_w * C, wrow = f_w * C;
                for (int32_t c = 0; c < C; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
#if TFRT_DSP
                    const uint32_t off2 = tfrt_dup16(in_offset);
                    int32_t a0 = 0, a1 = 0, a2 = 0, a3 = 0;
#endif
                    const int8_t *xr = xbase + c, *wr = wbase + c;
                    for (int32_t fy = 0; fy < nfy; fy++, xr += xrow, wr += wrow) {
                        const int8_t *x = xr, *w = wr;
                        for (int32_t fx = 0; fx < nfx; fx++, x += xcol, w += C) {
#if TFRT_DSP
                            const uint32_t xv = tfrt_ld32(x), wv = tfrt_ld32(w);
                            const uint32_t xe = tfrt_sadd16(tfrt_sxtb16(xv), off2);
                            const uint32_t xo = tfrt_sadd16(tfrt_sxtb16_ror8(xv), off2);
                            const uint32_t we = tfrt_sxtb16(wv), wo = tfrt_sxtb16_ror8(wv);
                            a0 = tfrt_smlabb(we, xe, a0);
                            a2 = tfrt_smlatt(we, xe, a2);
                            a1 = tfrt_smlabb(wo, xo, a1);
                            a3 = tfrt_smlatt(wo, xo, a3);
#else
                            for (int j = 0; j < 4; j++)
                                acc[j] += (int32_t)w[j] * ((int32_t)x[j] + in_offset);
#endif
                        }
                    }
#if TFRT_DSP
                    acc[0] = a0;
                    acc[1] = a1;
                    acc[2] = a2;
                    acc[3] = a3;
#endif
                    int8_t r[4];
                    for (int j = 0; j < 4; j++) {
                        const int32_t oc = c + j;
                        int32_t v = tfrt_wrap_add(acc[j], bias_at(p->bias, oc));
                        r[j] = requant(v, mult[oc], shift[oc], out_off, lo, hi);
                    }
                    memcpy(o + c, r, 4);
                }
            }
        }
    }
}

TFRT_HOT void tfrt_ref_dwconv(const tfrt_conv_params *p, const int8_t *in, const int8_t *filter,
                     int8_t *out) {
    if (p->depth_mult == 1 && (p->in_c & 3) == 0) {
        dwconv_x4(p, in, filter, out);
        return;
    }
    for (int32_t b = 0; b < p->batches; b++) {
        for (int32_t oy = 0; oy < p->out_h; oy++) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t fy0, fy1;
            tap_range(iy0, p->dil_h, p->in_h, p->f_h, &fy0, &fy1);
            for (int32_t ox = 0; ox < p->out_w; ox++) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t fx0, fx1;
                tap_range(ix0, p->dil_w, p->in_w, p->f_w, &fx0, &fx1);
                int8_t *o = out + ((b * p->out_h + oy) * p->out_w + ox) * p->out_c;
                for (int32_t ic = 0; ic < p->in_c; ic++) {
                    for (int32_t mm = 0; mm < p->depth_mult; mm++) {
                        const int32_t oc = ic * p->depth_mult + mm;
                        int32_t acc = 0;
                        for (int32_t fy = fy0; fy < fy1; fy++) {
                            const int32_t iy = iy0 + p->dil_h * fy;
                            for (int32_t fx = fx0; fx < fx1; fx++) {
                                const int32_t ix = ix0 + p->dil_w * fx;
                                int32_t xv = in[((b * p->in_h + iy) * p->in_w + ix) *
                                                    p->in_c + ic];
                                int32_t wv = filter[(fy * p->f_w + fx) * p->out_c + oc];
                                acc += wv * (xv + p->in_offset);
                            }
                        }
                        acc = tfrt_wrap_add(acc, bias_at(p->bias, oc));
                        o[oc] = requant(acc, p->mult[oc], p->shift[oc], p->out_offset,
                                        p->act_min, p->act_max);
                    }
                }
            }
        }
    }
}

TFRT_HOT void tfrt_ref_fc(const tfrt_fc_params *p, const int8_t *in, const int8_t *w, int8_t *out) {
    const int32_t full = p->depth & ~3;
    for (int32_t b = 0; b < p->batches; b++) {
        const int8_t *x = in + b * p->depth;
        int8_t *o = out + b * p->units;
        if (p->w_offset == 0) {
            patch_run(p->scratch, 0, x, p->depth, p->in_offset, full);
        }
        for (int32_t u = 0; u < p->units; u += 2) {
            const int32_t u1 = u + 1 < p->units ? u + 1 : u;
            int32_t acc[2];
            if (p->w_offset == 0) {
                dot2(w + u * p->depth, w + u1 * p->depth, p->scratch, p->depth,
                     full, &acc[0], &acc[1]);
            } else {
                for (int j = 0; j < 2; j++) {
                    const int8_t *wr = w + (j ? u1 : u) * p->depth;
                    acc[j] = 0;
                    for (int32_t d = 0; d < p->depth; d++)
                        acc[j] += ((int32_t)wr[d] + p->w_offset) * ((int32_t)x[d] + p->in_offset);
                }
            }
            for (int j = 0; j < (u1 != u ? 2 : 1); j++) {
                const int32_t uu = j ? u1 : u;
                const int32_t mu = p->mult_pc ? p->mult_pc[uu] : p->mult;
                const int32_t sh = p->shift_pc ? p->shift_pc[uu] : p->shift;
                o[uu] = requant(tfrt_wrap_add(acc[j], bias_at(p->bias, uu)), mu, sh, p->out_offset,
                                p->act_min, p->act_max);
            }
        }
    }
}
