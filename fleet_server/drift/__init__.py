"""Drift on the fleet server: telemetry windows, cohort scores against package baselines, alerts, charts.

Pure logic, no I/O: the math is ``tinyfleet.drift``; this package merges what devices report
(``window``), scores devices and cohorts against the package baseline (``cohort``), raises and clears
alerts with hysteresis (``alerts``) and downsamples time series for charts (``series``).
"""
