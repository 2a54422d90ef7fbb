/*
 * tf_telemetry.h — per-period counters and histograms for drift monitoring (pure logic).
 *
 * Bins are the contract of docs/architecture.md ("Drift bins"), the same ones the compiler uses
 * for the package's baseline: 16 input bins per feature group, bin(q) = (q + 128) >> 4, element
 * i in group i % G; class counts of the arg-max; 16 confidence bins of the top output.
 *
 * Encoded period (TELEMETRY reply after the status byte; little-endian):
 *
 *     0  u8  format version (1)          20 u32 frame errors (bad CRC/COBS frames received)
 *     1  u8  groups G                    24 u32 latency min (ticks)
 *     2  u8  classes C (0: not counted)  28 u32 latency max (ticks)
 *     3  u8  reserved (0)                32 u32 latency sum (ticks; mean = sum / inferences)
 *     4  u32 period number (from 0)      36 u32 tick rate (Hz)
 *     8  u32 period length (ticks)       40 u32 input_hist[G][16]
 *     12 u32 inferences                  .. u32 class_counts[C]
 *     16 u32 inference errors            .. u32 confidence_hist[16]
 *
 * 40 + 64 G + 4 C + 64 bytes: 178 bytes for one group and ten classes.
 */
#ifndef TF_TELEMETRY_H
#define TF_TELEMETRY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TF_TM_BINS 16u
#define TF_TM_MAX_GROUPS 8u
#define TF_TM_MAX_CLASSES 32u /* outputs with more elements are not counted as classes */
#define TF_TM_HEADER 40u
#define TF_TM_MAX_ENCODED (TF_TM_HEADER + 4u * TF_TM_BINS * (TF_TM_MAX_GROUPS + 1u) + 4u * TF_TM_MAX_CLASSES)

typedef struct {
    uint8_t groups;
    uint8_t classes;
    uint32_t period;
    uint32_t start_ticks;
    uint32_t inferences;
    uint32_t errors;
    uint32_t frame_errors;
    uint32_t lat_min, lat_max, lat_sum;
    uint32_t input_hist[TF_TM_MAX_GROUPS][TF_TM_BINS];
    uint32_t class_counts[TF_TM_MAX_CLASSES];
    uint32_t confidence[TF_TM_BINS];
} tf_tm_t;

/* Start period 0 at `now` with G groups (clamped to 1..TF_TM_MAX_GROUPS). */
void tf_tm_init(tf_tm_t *tm, uint32_t groups, uint32_t now);

/* Set the class count from the model's output size (0 when above TF_TM_MAX_CLASSES). */
void tf_tm_set_classes(tf_tm_t *tm, uint32_t output_bytes);

/* Start the next period: counters cleared, groups and classes kept (groups > 0 changes G). */
void tf_tm_next_period(tf_tm_t *tm, uint32_t groups, uint32_t now);

/* One inference: its int8 input, int8 output and latency in ticks. */
void tf_tm_record(tf_tm_t *tm, const int8_t *in, size_t n_in, const int8_t *out, size_t n_out, uint32_t ticks);
void tf_tm_error(tf_tm_t *tm);
void tf_tm_frame_error(tf_tm_t *tm);

/* Encode the current period (layout above); returns the length, 0 if `cap` is too small. */
size_t tf_tm_encode(const tf_tm_t *tm, uint32_t now, uint32_t tick_hz, uint8_t *out, size_t cap);

#ifdef __cplusplus
}
#endif

#endif /* TF_TELEMETRY_H */
