/* Internal to firmware/core/src/ota_*.c. */
#ifndef TF_OTA_PRIV_H
#define TF_OTA_PRIV_H

#include "tf_ota.h"

/* Read both record copies; keep the valid one with the higher sequence number. */
tf_status_t tf_record_load(tf_ota_t *o);

/* Write `next` with sequence o->rec.seq + 1 into the copy that does not hold the current record
 * (erase, write, read back); on success it becomes o->rec. On failure o->rec is unchanged. */
tf_status_t tf_record_store(tf_ota_t *o, const tf_ota_record_t *next);

/* Change one slot's state and persist it. */
tf_status_t tf_record_set(tf_ota_t *o, int slot, tf_slot_state_t state);

#endif /* TF_OTA_PRIV_H */
