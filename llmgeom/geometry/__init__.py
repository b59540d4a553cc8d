"""The geometry of a head: unit rows, their overlaps and the baselines they are read against.

* :mod:`.measurement`: :func:`~llmgeom.geometry.measurement.measure`, matrix to statistics;
* :mod:`.overlap`: the exact engine (Gram identity, blocked pairwise pass);
* :mod:`.sampling`: the pair sampler and the exact-or-sample rule;
* :mod:`.baselines`: closed forms for random unit vectors and frames;
* :mod:`.weights`: token counts as weights (frequency-weighted interference);
* :mod:`.plot`: the figure of one measurement.

Example:
    >>> from llmgeom.geometry.baselines import reference_values
    >>> reference_values(n=1000, m=10)["random_mean_cos2"]
    0.1
"""
