"""The JSON result format of ``llmgeom measure`` (versioned), its machine check and atomic writing.

This module owns the schema ``llmgeom.measurement/2`` (its JSON Schema:
``llmgeom/records/schemas/measurement-2.json``): it writes records (:func:`build_record`), checks
them (:func:`validate_record`), reads them (:func:`load_record`) and brings records of the
former version ``llmgeom.measurement/1`` to it (:func:`migrate_record`); nothing else parses it.
The code is in :mod:`.measurement_format` (building, labelling, checking, reading, migrating)
and :mod:`.measurement_saving` (merging, saving); this module gives their names.
A record has:

* ``schema``: ``"llmgeom.measurement/2"``;
* ``model``: provenance (source, repo, revision and commit, family, tensor name, tied, shapes
  ``n_rows``/``head_width``/``d_model``, dtype, checksum);
* ``variant``: which rows (``rows``), centring (``center``), the pair mode that ran
  (``pairs``: exact, sample or gram) with its predicted time, rows used and excluded;
* ``options``: the analysis options as given (:class:`llmgeom.options.MeasureOptions`,
  ``weights`` as the counts file's path);
* ``stats`` (``n_rows_used``, ``m``, ``mean_cos2``, ``m_times_mean_cos2``, ``mean_cos``,
  ``participation_ratio``, ``top_eigen_fraction``; with a pair pass
  ``mean_abs_cos``, ``std_abs_cos``, ``abs_cos_method``; the exact pass adds ``n_pairs``,
  ``max_abs_cos``, ``mean_max_abs_cos``, ``median_max_abs_cos``, ``top_pairs``, ``histogram``);
  ``diagnostics`` (the exact pass's internals: ``mean_cos2_blocked``, ``block_rows``,
  ``matmul_flops``; empty otherwise); ``reference`` (baselines), ``row_norms``, ``timings``,
  ``environment`` (versions, device), ``created``;
* ``spectrum`` (every pass; absent from records written before it,
  :mod:`llmgeom.geometry.spectrum`): ``eigenvalues`` of ŴᵀŴ (largest first),
  ``entropy_effective_rank``, ``stable_rank_raw``, ``marchenko_pastur_upper_edge``,
  ``n_above_marchenko_pastur_edge``, ``packing_efficiency`` (None when n ≤ m) and
  ``interference_top_k`` (``"1"``, ``"2"``, ``"5"``, ``"10"``: the share of mean cos² in the top
  k directions); the participation ratio is ``stats.participation_ratio`` (every record has it,
  the spectrum only those written since);
* ``weighted`` (only with ``--weights``; its own ``version``, now 1): frequency-weighted
  interference, :mod:`llmgeom.geometry.weights`. ``counts_path``, ``counts_sha256`` (provenance);
  ``counts_length``, ``counts_total`` (Σc), ``rows_padded`` (head rows beyond the counts),
  ``rows_used``, ``rows_with_count``, ``rows_without_count`` (rows used whose count is 0),
  ``count_mass_excluded`` (fraction of Σc on rows not used); ``effective_tokens`` (1/Σp²),
  ``weighted_mean_cos2`` (exact), ``m_times_weighted_mean_cos2``, ``weighted_mean_cos``
  (exact), ``weighted_mean_abs_cos`` with ``abs_cos_method`` (``exact``; ``sample`` with
  ``weighted_mean_abs_cos_se``, ``weighted_mean_abs_cos_interval`` (95 %),
  ``pairs_drawn_by_weight`` and ``stopped_by``; records written before the pair design have
  ``rows_drawn_by_weight`` instead; None after a Gram-only run), and ``definition``.

``stats.sampled`` (sampled runs, :mod:`llmgeom.geometry.sampling`): ``design``, ``pairs_sampled``,
``stopped_by`` (``precision`` or ``time_budget``), ``precision``, ``relative_half_width``,
``rows_sampled`` (whole rows, for the per-token maxima), ``seed``, ``confidence``,
``std_from``, the estimates ``mean_abs_cos``, ``std_abs_cos``, ``mean_cos2``,
``mean_max_abs_cos`` with ``standard_error`` and ``interval``, ``max_abs_cos_lower_bound``,
``matmul_flops``, ``pair_flops`` and, with bins, ``histogram`` (of the sampled pairs). Records
of the former row design have ``pairs_covered`` instead of ``pairs_sampled``.

Example:
    >>> import torch
    >>> from llmgeom.geometry.measurement import measure
    >>> record = measure(torch.eye(6, 3), pairs="gram").to_dict()
    >>> record["schema"], record["model"]["n_rows"], record["stats"]["mean_cos2"]
    ('llmgeom.measurement/2', 6, 0.0)
    >>> validate_record(record) is record
    True
"""

from __future__ import annotations

from .measurement_format import (
    ANALYSIS_SETTINGS,
    PASS_DIAGNOSTICS,
    SCHEMA,
    SCHEMA_V1,
    abs_cos_method,
    analysis_settings,
    build_record,
    load_record,
    migrate_record,
    model_label,
    package_versions,
    result_stem,
    validate_record,
)
from .measurement_saving import (
    EXACT_PASS_STATS,
    SavedRecord,
    merge_records,
    save_record,
    write_record,
)

__all__ = [
    "ANALYSIS_SETTINGS",
    "EXACT_PASS_STATS",
    "PASS_DIAGNOSTICS",
    "SCHEMA",
    "SCHEMA_V1",
    "SavedRecord",
    "abs_cos_method",
    "analysis_settings",
    "build_record",
    "load_record",
    "merge_records",
    "migrate_record",
    "model_label",
    "package_versions",
    "result_stem",
    "save_record",
    "validate_record",
    "write_record",
]
