"""`make demo`: the whole loop on one machine, from training to a drift-gated rollback."""
