/* blobs.S — the model and one input, embedded from the files the Makefile names. */
    .section .rodata.m4blobs, "a"
    .balign 16
    .global m4_model
m4_model:
    .incbin M4_MODEL
    .global m4_model_end
m4_model_end:
    .balign 16
    .global m4_input
m4_input:
    .incbin M4_INPUT
    .global m4_input_end
m4_input_end:
