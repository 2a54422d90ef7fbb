/*
 * tf_status.h — status codes: the first payload byte of every reply frame
 * (docs/serial-protocol.md, "Status codes"). Values are part of the wire contract.
 */
#ifndef TF_STATUS_H
#define TF_STATUS_H

typedef enum {
    TF_OK = 0x00,
    TF_E_UNKNOWN_TYPE = 0x01,  /* request type not known */
    TF_E_BAD_LENGTH = 0x02,    /* payload too short/long for its message */
    TF_E_NO_MODEL = 0x03,      /* no model is loaded */
    TF_E_STATE = 0x04,         /* not now: no OTA session, a trial awaits CONFIRM, ... */
    TF_E_MANIFEST = 0x05,      /* device.bin malformed (magic, format, sizes, golden header) */
    TF_E_OFFSET = 0x06,        /* chunk offset is not the next expected one / transfer incomplete */
    TF_E_FLASH = 0x07,         /* flash erase/write/read-back failed */
    TF_E_HASH = 0x08,          /* model or golden sha256 differs from device.bin */
    TF_E_SIGNATURE = 0x09,     /* Ed25519 signature of device.bin invalid */
    TF_E_ROLLBACK = 0x0A,      /* security_counter lower than the stored one */
    TF_E_NO_KEY = 0x0B,        /* the board has no public key: OTA refused */
    TF_E_MODEL = 0x0C,         /* the runtime refused the model (parse, ops, arena) */
    TF_E_SELFTEST = 0x0D,      /* golden self-test failed */
    TF_E_NOT_TRIAL = 0x0E,     /* CONFIRM with no model on trial */
    TF_E_TOO_LARGE = 0x0F,     /* payload larger than a slot, output larger than a frame */
    TF_E_INFER = 0x10,         /* inference failed */
} tf_status_t;

#endif /* TF_STATUS_H */
