/*
 * planner.h — static tensor-arena planning at load time.
 *
 * Lifetimes: a tensor lives from the operator that writes it (graph input: operator 0) to the
 * last operator that reads it (graph outputs: past the last operator). Reshape-family outputs
 * share their input's buffer (no copy) and extend its lifetime.
 *
 * Placement is greedy by size: buffers are taken largest first (ties: earliest first) and each
 * goes at the lowest 4-byte-aligned offset where it overlaps no already placed buffer whose
 * lifetime intersects its own. Two buffers alive at the same operator never share bytes;
 * an operator's output never shares bytes with its inputs (its inputs die at that operator,
 * which the output is alive at), so kernels need not support in-place operation.
 */
#ifndef TFRT_PLANNER_H
#define TFRT_PLANNER_H

#include <stddef.h>

#include "tfrt.h"

/* Compute lifetimes, aliases and arena offsets of every activation tensor of a parsed model;
 * `*bytes` receives the activation area size (a multiple of 4). */
tfrt_status tfrt_plan(tfrt_model *m, size_t *bytes);

#endif /* TFRT_PLANNER_H */
