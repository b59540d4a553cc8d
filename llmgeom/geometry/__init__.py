"""The geometry of a head: unit rows, their overlaps and the baselines they are read against.

* :mod:`.measurement`: :func:`~llmgeom.geometry.measurement.measure`, matrix to statistics;
  :mod:`.prepare` (rows, norms, unit rows) and :mod:`.pair_passes` (which pass runs) are its steps;
* :mod:`.overlap`: the exact engine (blocked pairwise pass), over :mod:`.gram` (the Gram
  identity), :mod:`.normalize` (exact unit rows) and :mod:`.blocked` (chunks, full precision);
* :mod:`.sampling`: the pair sampler, on :mod:`.fixed_point` (machine-independent cosines);
  :mod:`.pass_cost`: the exact-or-sample rule and the exact pass's predicted time;
* :mod:`.spectrum`: the eigenvalues of ŴᵀŴ and the measures read from them, against
  :mod:`.marchenko_pastur` (the law of random unit rows), :mod:`.raw_gram` (the raw rows'
  ``‖W‖₂²``); :mod:`.spectrum_plot`: their figure;
* :mod:`.baselines`: closed forms for random unit vectors and frames;
* :mod:`.weights`: token counts as weights (frequency-weighted interference);
* :mod:`.plot`: the figure of one measurement.

Example:
    >>> from llmgeom.geometry.baselines import reference_values
    >>> reference_values(n=1000, m=10)["random_mean_cos2"]
    0.1
"""
