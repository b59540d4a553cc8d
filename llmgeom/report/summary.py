"""``summary.csv``: every gathered value at full precision, one row per model × variant × corpus.

Rows by ``record``: ``measure`` (one per model, revision and analysis variant: rows rule, centring
and, for a weighted run, the counts file, whose corpus fills ``corpus``; the spectral numbers are
``participation_ratio`` and the ``spectrum`` block's
:data:`~llmgeom.geometry.result.SPECTRUM_COLUMNS`, empty for a record written before it), ``loss``
(one per model and corpus; ``loss_table`` for rows of a ``losses.csv`` no loss record covers),
``freq`` (one per tokenizer and corpus), ``toy`` (one per run and width: ``model`` is the toy
experiment, ``variant`` the run) and ``fit:overlap`` / ``fit:width_loss`` / ``fit:chinchilla`` (one
per fitted ``quantity``, with ``value``, ``se``, ``ci_low``, ``ci_high`` and what kind of
``interval``) and ``paper`` (one per published number: ``published`` with its interval
``published_ci_low``/``published_ci_high`` and ``published_interval``, ours in ``value``,
``ci_low``, ``ci_high``, ``interval``, whether they ``agrees`` and the ``paper_source``:
:mod:`llmgeom.report.paper_table`). Columns a record does not have are empty. Floats are written as
Python's ``repr`` (shortest text that reads back to the same float), so ``float(cell)`` equals the
value in the source file exactly. The provenance of every row: ``model_sha256`` (the head tensor's
checksum for a measurement, the weight or tokenizer files' checksums otherwise), ``commit``,
``corpus_sha256``, ``counts_sha256``, package versions, ``created`` and the source ``file``.

Example:
    >>> cell(0.1 + 0.2), cell(None), cell(True), cell(3)
    ('0.30000000000000004', '', 'True', '3')
"""

from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._atomic import atomic_path
from ..geometry.result_parts import SPECTRUM_COLUMNS, spectrum_columns
from .figures import toy_run_label
from .gather import Gathered, Item, loss_model, measure_model
from .laws import Law, loss_family

COLUMNS: tuple[str, ...] = (
    "record", "model", "revision", "family", "variant", "rows", "center", "weights", "corpus",
    "m", "d_model", "n_rows", "n_rows_used",
    "mean_cos2", "m_times_mean_cos2", "random_mean_cos2", "mean_abs_cos", "std_abs_cos",
    "abs_cos_method", "max_abs_cos", "mean_max_abs_cos", "mean_cos", "participation_ratio",
    "top_eigen_fraction", *SPECTRUM_COLUMNS,
    "row_norm_mean", "row_norm_std", "row_norm_min", "row_norm_max",
    "weighted_mean_cos2", "weighted_mean_abs_cos", "effective_tokens",
    "loss", "loss_se", "loss_authors_weighting", "bits_per_byte", "perplexity",
    "predicted_tokens", "documents", "dtype", "quantization",
    "tokens_counted", "distinct_tokens", "zipf_alpha_loglog", "zipf_s_mle", "zipf_s_mle_ci_low",
    "zipf_s_mle_ci_high",
    "gamma", "alpha", "regime", "phi", "mean_cos2_strong", "alpha_m", "alpha_m_se",
    "quantity", "value", "se", "ci_low", "ci_high", "interval",
    "published", "published_ci_low", "published_ci_high", "published_interval", "agrees",
    "paper_source",
    "model_sha256", "commit", "corpus_sha256", "counts_sha256",
    "llmgeom", "torch", "transformers", "created", "file",
)  # fmt: skip

MEASURE_STATS = (
    "mean_cos2", "m_times_mean_cos2", "mean_abs_cos", "std_abs_cos", "abs_cos_method",
    "max_abs_cos", "mean_max_abs_cos", "mean_cos", "participation_ratio", "top_eigen_fraction",
)  # fmt: skip
LOSS_STATS = (
    "loss", "loss_authors_weighting", "bits_per_byte", "perplexity", "predicted_tokens",
    "documents",
)  # fmt: skip


def cell(value: Any) -> str:
    """The CSV text of a value: floats by ``repr`` (exact round trip), None as empty."""
    if value is None:
        return ""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _versions(versions: dict[str, Any] | None) -> dict[str, Any]:
    """The three version columns, and every recorded version under ``all_versions`` (shown on
    the page, not written to the CSV)."""
    versions = versions or {}
    every = ", ".join(f"{k} {v}" for k, v in versions.items() if v is not None)
    return {k: versions.get(k) for k in ("llmgeom", "torch", "transformers")} | {
        "all_versions": every
    }


def _base(name: str) -> tuple[str, str | None]:
    base, _, revision = name.partition("@")
    return base, revision or None


def measure_row(item: Item, found: Gathered) -> dict[str, Any]:
    """The row of a measurement record."""
    r = item.data
    model, variant, stats = r["model"], r["variant"], r["stats"]
    norms, weighted = r.get("row_norms") or {}, r.get("weighted") or {}
    freq = found.freq_for_counts(weighted.get("counts_sha256"))
    counts_path = weighted.get("counts_path")
    return {
        "record": "measure",
        "model": _base(measure_model(r))[0],
        "revision": model.get("revision"),
        "family": model.get("family"),
        "variant": variant.get("name"),
        "rows": variant.get("rows"),
        "center": variant.get("center"),
        "weights": Path(str(counts_path)).name if counts_path else ("array" if weighted else None),
        "corpus": freq.data["corpus"].get("name") if freq else None,
        "m": model.get("head_width"),
        "d_model": model.get("d_model"),
        "n_rows": model.get("n_rows"),
        "n_rows_used": stats.get("n_rows_used"),
        **{k: stats.get(k) for k in MEASURE_STATS},
        **spectrum_columns(r.get("spectrum")),
        "random_mean_cos2": (r.get("reference") or {}).get("random_mean_cos2"),
        **{f"row_norm_{k}": norms.get(k) for k in ("mean", "std", "min", "max")},
        "weighted_mean_cos2": weighted.get("weighted_mean_cos2"),
        "weighted_mean_abs_cos": weighted.get("weighted_mean_abs_cos"),
        "effective_tokens": weighted.get("effective_tokens"),
        "model_sha256": model.get("sha256"),
        "commit": model.get("commit_sha"),
        "counts_sha256": weighted.get("counts_sha256"),
        **_versions((r.get("environment") or {}).get("versions")),
        "created": r.get("created"),
        "file": item.rel,
    }


def loss_row(item: Item) -> dict[str, Any]:
    """The row of a loss record."""
    r = item.data
    model, loss = r["model"], r["loss"]
    files = [f.get("sha256") for f in model.get("files") or [] if isinstance(f, dict)]
    return {
        "record": "loss",
        "model": _base(loss_model(r))[0],
        "revision": model.get("revision"),
        "family": loss_family(r),
        "corpus": r["corpus"].get("name"),
        "m": model.get("head_width"),
        "d_model": model.get("d_model"),
        **{k: loss.get(k) for k in LOSS_STATS},
        "dtype": r.get("dtype"),
        "quantization": r.get("quantization"),
        "model_sha256": ";".join(str(f) for f in files if f) or None,
        "commit": model.get("commit"),
        "corpus_sha256": r["corpus"].get("sha256"),
        **_versions((r.get("environment") or {}).get("versions")),
        "created": r.get("created"),
        "file": item.rel,
    }


def freq_row(item: Item) -> dict[str, Any]:
    """The row of a token-frequency record."""
    r = item.data
    tok, stats, fits = r["tokenizer"], r["stats"], r["rank_frequency"]
    mle = fits.get("mle") or {}
    ci = mle.get("ci95") or [None, None]
    counts = item.extra.get("counts")
    files = tok.get("files") if isinstance(tok.get("files"), dict) else {}
    return {
        "record": "freq",
        "model": tok.get("name"),
        "revision": tok.get("revision"),
        "corpus": r["corpus"].get("name"),
        "tokens_counted": stats.get("tokens_counted"),
        "distinct_tokens": stats.get("distinct_tokens"),
        "zipf_alpha_loglog": (fits.get("loglog") or {}).get("alpha"),
        "zipf_s_mle": mle.get("s"),
        "zipf_s_mle_ci_low": ci[0],
        "zipf_s_mle_ci_high": ci[1],
        "model_sha256": ";".join(str(v) for v in files.values()) or None,
        "commit": tok.get("commit"),
        "corpus_sha256": r["corpus"].get("sha256"),
        "counts_sha256": counts.sha256 if counts is not None else None,
        **_versions((r.get("environment") or {}).get("versions")),
        "created": r.get("created"),
        "file": item.rel,
    }


def toy_rows(item: Item) -> list[dict[str, Any]]:
    """One row per run and width of a toy results document."""
    doc = item.data
    rows = []
    for run in doc["runs"]:
        fit = run["fit"]
        for per_m in run["per_m"]:
            rows.append(
                {
                    "record": "toy",
                    "model": f"toy-{doc.get('name')}",
                    "family": run["family"],
                    "variant": toy_run_label(run),
                    "m": per_m["m"],
                    "loss": per_m["loss"],
                    "loss_se": per_m.get("loss_se"),
                    "gamma": run["gamma"],
                    "alpha": run["alpha"],
                    "regime": run["regime"],
                    "phi": per_m.get("phi"),
                    "mean_cos2_strong": per_m.get("mean_cos2_strong"),
                    "alpha_m": fit.get("exponent"),
                    "alpha_m_se": fit.get("exponent_se"),
                    **_versions(doc.get("versions")),
                    "created": doc.get("created"),
                    "file": item.rel,
                }
            )
    return rows


def _pair(values: Any) -> tuple[Any, Any]:
    if isinstance(values, list | tuple) and len(values) == 2:
        return values[0], values[1]
    return None, None


def fit_rows(data: dict[str, Any], origin: str) -> list[dict[str, Any]]:
    """One row per fitted quantity of a fit result (``origin``: its file, or how it was fitted).

    Example:
        >>> rows = fit_rows({"schema": "llmgeom.fit.chinchilla/1", "k": 2.5, "k_se": 0.03,
        ...                  "alpha_m": 0.88, "alpha_m_err": 0.06}, "c.json")
        >>> [(r["quantity"], r["value"], r["se"]) for r in rows][:2]
        [('k', 2.5, 0.03), ('alpha_m', 0.88, 0.06)]
    """
    schema = str(data.get("schema"))
    kind = "fit:" + schema.removeprefix("llmgeom.fit.").split("/")[0]
    out: list[dict[str, Any]] = []

    def add(quantity: str, value: Any, se: Any = None, ci: Any = None, how: str = "") -> None:
        low, high = _pair(ci)
        out.append(
            {
                "record": kind,
                "quantity": quantity,
                "value": value,
                "se": se,
                "ci_low": low,
                "ci_high": high,
                "interval": how or None,
                "file": origin,
            }
        )

    if kind == "fit:overlap":
        add("slope", data["slope"], data.get("slope_se"), data.get("slope_ci_t"), "95% t")
        if data.get("slope_ci_bootstrap"):
            add("slope", data["slope"], None, data["slope_ci_bootstrap"], "95% bootstrap")
        for g, a in (data.get("intercepts") or {}).items():
            add(f"intercept[{g}]", a)
        for g, d in (data.get("per_family") or {}).items():
            if "slope" in d:
                add(f"slope[{g}]", d["slope"], d.get("slope_se"), d.get("slope_ci95"), "95% t")
        add("r2", data.get("r2"))
    elif kind == "fit:width_loss":
        add(
            "alpha",
            data["alpha"],
            data.get("alpha_se_authors"),
            data.get("alpha_ci_authors"),
            "95% authors' SE",
        )
        if data.get("alpha_ci_bootstrap") and None not in data["alpha_ci_bootstrap"]:
            add("alpha", data["alpha"], None, data["alpha_ci_bootstrap"], "95% bootstrap")
        if data.get("alpha_se_asymptotic") is not None:
            add(
                "alpha",
                data["alpha"],
                data["alpha_se_asymptotic"],
                data.get("alpha_ci_asymptotic"),
                "95% asymptotic",
            )
        add(
            "C", data["C"], data.get("C_se_asymptotic"), data.get("C_ci_bootstrap"), "95% bootstrap"
        )
        for g, by_corpus in (data.get("offsets_L0") or {}).items():
            for c, v in by_corpus.items():
                add(f"L0[{g},{c}]", v)
        add("rms_residual", data.get("rms_residual"))
    else:
        add("k", data["k"], data.get("k_se"), data.get("k_ci95_t"), "95% t")
        add(
            "alpha_m",
            data["alpha_m"],
            data.get("alpha_m_err"),
            None,
            f"error: {data.get('propagation', '')} propagation",
        )
        if "alpha_n" in data:
            add("alpha_n", data["alpha_n"], data.get("alpha_n_se"))
    return out


def summary_rows(
    found: Gathered, laws: Sequence[Law] = (), paper: Sequence[dict[str, Any]] = ()
) -> list[dict[str, Any]]:
    """Every row of ``summary.csv``, in a stable order; ``laws``: fits made by the report;
    ``paper``: the side-by-side rows of :func:`llmgeom.report.paper_table.paper_rows`."""
    rows = [measure_row(i, found) for i in found.measurements]
    rows += [loss_row(i) for i in found.losses]
    covered = {(loss_model(i.data), str(i.data["corpus"].get("name"))) for i in found.losses}
    for item in found.loss_tables:
        for k, row in enumerate(item.data.to_rows(), start=1):
            if (row["model"], row["corpus"]) in covered:
                continue
            covered.add((row["model"], row["corpus"]))
            base, revision = _base(row["model"])
            rows.append(
                {
                    "record": "loss_table",
                    "model": base,
                    "revision": revision,
                    "family": row["family"],
                    "corpus": row["corpus"],
                    "d_model": row["m"],
                    "loss": row["loss"],
                    "file": f"{item.rel}:{k}",
                }
            )
    rows += [freq_row(i) for i in found.freqs]
    for item in found.toys:
        rows += toy_rows(item)
    for item in found.fits:
        rows += fit_rows(item.data, item.rel)
    for law in laws:
        if law.data is not None and law.origin.startswith("fitted by"):
            rows += fit_rows(law.data, law.origin)
    return rows + list(paper)


def write_summary(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """Write ``rows`` as ``summary.csv`` (columns :data:`COLUMNS`) atomically.

    Example:
        >>> p = write_summary("summary.csv", [{"record": "fit:x", "value": 1 / 3}])
        >>> p.read_text().splitlines()[1].split(",")[:1], p.read_text().count("0.3333333333333333")
        (['fit:x'], 1)
    """
    with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([cell(row.get(c)) for c in COLUMNS])
    return Path(path)
