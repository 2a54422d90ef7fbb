"""Capture from the fleet: requests, device uploads within byte budgets, dataset versions."""
