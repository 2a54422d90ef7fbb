"""Statistics for judging histograms from devices: pure functions on counts, no I/O.

- ``distributions``: chi-square and normal tail probabilities and quantiles (no SciPy at run time);
- ``homogeneity``: two-sample chi-square / G-test on binned counts with sparse-bin merging, and PSI
  with its null distribution at sample sizes n and m;
- ``sequential``: normal-mixture SPRT (always-valid intervals and e-values) for scalar and
  multinomial effects; alpha spending over looks;
- ``fdr``: Benjamini–Hochberg and e-BH;
- ``proportions``: Wilson interval, Newcombe interval for a difference of two proportions;
- ``quantiles``: quantile and distribution-free interval from a fixed-bin histogram;
- ``cbpe``: label-free accuracy estimate from a confidence histogram and a per-bin calibration.

The derivations and the guarantee of every default are in docs/drift.md.
"""
