/* Drift telemetry: counters and fixed-bin histograms of one period (layout in tf_telemetry.h). */
#include "tf_telemetry.h"

#include <string.h>

#include "tf_proto.h"

static uint32_t clamp_groups(uint32_t g)
{
    if (g < 1u) return 1u;
    return g > TF_TM_MAX_GROUPS ? TF_TM_MAX_GROUPS : g;
}

void tf_tm_init(tf_tm_t *tm, uint32_t groups, uint32_t now)
{
    memset(tm, 0, sizeof *tm);
    tm->groups = (uint8_t)clamp_groups(groups);
    tm->start_ticks = now;
}

void tf_tm_set_classes(tf_tm_t *tm, uint32_t output_bytes)
{
    uint8_t c = output_bytes <= TF_TM_MAX_CLASSES ? (uint8_t)output_bytes : 0u;
    if (c != tm->classes) memset(tm->class_counts, 0, sizeof tm->class_counts);
    tm->classes = c;
}

void tf_tm_next_period(tf_tm_t *tm, uint32_t groups, uint32_t now)
{
    uint8_t g = groups ? (uint8_t)clamp_groups(groups) : tm->groups;
    uint8_t c = tm->classes;
    uint32_t period = tm->period + 1u;
    tf_tm_init(tm, g, now);
    tm->classes = c;
    tm->period = period;
}

static uint32_t bin_of(int8_t q) { return (uint32_t)((int32_t)q + 128) >> 4; }

void tf_tm_record(tf_tm_t *tm, const int8_t *in, size_t n_in, const int8_t *out, size_t n_out, uint32_t ticks)
{
    uint32_t g = 0;
    for (size_t i = 0; i < n_in; i++) {
        tm->input_hist[g][bin_of(in[i])]++;
        if (++g == tm->groups) g = 0;
    }
    if (n_out > 0) {
        size_t top = 0;
        for (size_t j = 1; j < n_out; j++) {
            if (out[j] > out[top]) top = j; /* first maximum, like numpy.argmax */
        }
        if (tm->classes != 0 && top < tm->classes) tm->class_counts[top]++;
        tm->confidence[bin_of(out[top])]++;
    }
    if (tm->inferences == 0 || ticks < tm->lat_min) tm->lat_min = ticks;
    if (ticks > tm->lat_max) tm->lat_max = ticks;
    tm->lat_sum += ticks;
    tm->inferences++;
}

void tf_tm_error(tf_tm_t *tm) { tm->errors++; }

void tf_tm_frame_error(tf_tm_t *tm) { tm->frame_errors++; }

static uint8_t *put_all(uint8_t *p, const uint32_t *v, size_t n)
{
    for (size_t i = 0; i < n; i++, p += 4) tf_put_u32(p, v[i]);
    return p;
}

size_t tf_tm_encode(const tf_tm_t *tm, uint32_t now, uint32_t tick_hz, uint8_t *out, size_t cap)
{
    size_t need = TF_TM_HEADER + 4u * TF_TM_BINS * (tm->groups + 1u) + 4u * tm->classes;
    if (cap < need) return 0;
    out[0] = 1;
    out[1] = tm->groups;
    out[2] = tm->classes;
    out[3] = 0;
    const uint32_t head[9] = {
        tm->period, now - tm->start_ticks, tm->inferences, tm->errors, tm->frame_errors,
        tm->lat_min, tm->lat_max, tm->lat_sum, tick_hz,
    };
    uint8_t *p = put_all(out + 4, head, 9);
    for (uint32_t g = 0; g < tm->groups; g++) p = put_all(p, tm->input_hist[g], TF_TM_BINS);
    p = put_all(p, tm->class_counts, tm->classes);
    p = put_all(p, tm->confidence, TF_TM_BINS);
    return (size_t)(p - out);
}
