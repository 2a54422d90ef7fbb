/* Internal to firmware/core/src/app_*.c: the application singleton. */
#ifndef TF_APP_PRIV_H
#define TF_APP_PRIV_H

#include "tf_app.h"
#include "tf_proto.h"

typedef struct {
    tf_app_env_t env;
    tf_ota_t ota;
    tf_tm_t tm;
    tf_rx_t rx;
    /* the staged model input (INFER frames and EEMBC `db` commands fill it): the arena bytes the
     * loaded model leaves free (tf_runner_t.staging), so the input lives in the arena; NULL and 0
     * without a model */
    int8_t *input;
    uint32_t input_cap;
    uint32_t db_expected; /* EEMBC `db load N`: bytes announced */
    uint32_t db_loaded;   /* bytes received so far */
    uint8_t scratch[TF_FRAME_MAX_BODY];
    uint8_t wire[TF_FRAME_MAX_WIRE];
    uint8_t reply[TF_FRAME_MAX_PAYLOAD];
} tf_app_t;

extern tf_app_t tf_app;

/* true when a model runs */
bool tf_app_has_model(void);

/* Copy `src` (the model's input bytes) into the runtime, run one inference, feed telemetry.
 * On TF_OK, *ticks is the latency. */
tf_status_t tf_app_infer_once(const int8_t *src, uint32_t *ticks);

/* One EEMBC text command (without its '%'): answer it, then "m-ready". */
void tf_app_text_command(const char *line);

#endif /* TF_APP_PRIV_H */
