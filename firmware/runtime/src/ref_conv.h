/*
 * ref_conv.h — pure int8 convolution / fully-connected functions over shapes and raw pointers.
 * No model, no arena: what the kernels call and what the unit tests exercise directly.
 * Layouts: input NHWC, conv filter [out_c][f_h][f_w][in_c], depthwise filter [1][f_h][f_w][out_c]
 * (out_c = in_c * depth_mult, channel oc = ic * depth_mult + m), fully-connected [units][depth].
 * bias: int32 little-endian, possibly unaligned, NULL when absent.
 */
#ifndef TFRT_REF_CONV_H
#define TFRT_REF_CONV_H

#include <stdint.h>

typedef struct {
    int32_t batches, in_h, in_w, in_c, out_h, out_w, out_c, f_h, f_w;
    int32_t stride_h, stride_w, dil_h, dil_w, pad_h, pad_w, depth_mult;
    int32_t in_offset, out_offset, act_min, act_max;
    const int32_t *mult;         /* per output channel */
    const int8_t *shift;         /* per output channel */
    const uint8_t *bias;
    int16_t *scratch;            /* conv: f_h * f_w * in_c int16, 4-byte aligned */
} tfrt_conv_params;

typedef struct {
    int32_t batches, units, depth;
    int32_t in_offset, w_offset, out_offset, act_min, act_max;
    int32_t mult, shift;                 /* per-tensor weights */
    const int32_t *mult_pc;              /* per-channel weights (per unit), else NULL */
    const int8_t *shift_pc;
    const uint8_t *bias;
    int16_t *scratch;                    /* depth int16, 4-byte aligned */
} tfrt_fc_params;

void tfrt_ref_conv(const tfrt_conv_params *p, const int8_t *in, const int8_t *filter, int8_t *out);
void tfrt_ref_dwconv(const tfrt_conv_params *p, const int8_t *in, const int8_t *filter,
                     int8_t *out);
void tfrt_ref_fc(const tfrt_fc_params *p, const int8_t *in, const int8_t *w, int8_t *out);

/* sum_{i<n} a[i] * (b[i] + b_offset) (Cortex-M4 DSP SIMD when available, plain C otherwise;
 * both exact). */
int32_t tfrt_dot_offset(const int8_t *a, const int8_t *b, int32_t b_offset, int32_t n);

#endif /* TFRT_REF_CONV_H */
