"""Turn a :class:`~llmgeom.toy.training.TrainResult` into the results JSON and a text table.

Per (run, seed) the report lists, at every width: the final loss (summed over features, on fresh
data) with its standard error, φ and the counts of represented (``‖W_i‖ > 1/2``) and strongly
represented (``‖W_i‖ > 1``) features, the overlap of represented features (mean cos² among the
strongly represented rows, the paper's Fig 6d, ≈ 1/m in strong superposition) with ``m·cos²`` and
the frame bound, the same mean over all ``‖W_i‖ > 1/2`` rows, the unlearned-features prediction and
the loss/prediction ratio, and the row-norm histogram; then the model exponent α_m fitted with
:func:`llmgeom.fits.fit_power_law` on the widths of the configured fit range (recorded in the fit
block as ``m_min``, ``m_max`` and ``m_used``).

Example:
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> from llmgeom.toy.training import train
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> summary = summarize(train(cfg, progress=False))
    >>> sorted(summary["runs"][0])[:3]
    ['alpha', 'curve', 'decay']
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from typing import Any

import numpy as np

from .._atomic import read_schema_json
from ..errors import FitError
from ..fits.line import fit_power_law
from .metrics import HIST_EDGES, ideal_weak_loss, row_geometry, unlearned_loss
from .seeds import seed_summary
from .training import TrainResult

SCHEMA = "llmgeom.toy.result/2"


def versions() -> dict[str, str | None]:
    """Versions of llmgeom and of the numerical stack (recorded in every result file).

    Example:
        >>> sorted(versions())[:3]
        ['llmgeom', 'matplotlib', 'numpy']
    """
    from ..records.measurement import package_versions

    names = ("llmgeom", "numpy", "scipy", "torch", "matplotlib")
    return {**package_versions(names), "platform": platform.platform()}


def _per_m(result: TrainResult, run_index: int, seed: int) -> list[dict[str, Any]]:
    config = result.config
    run = config.runs[run_index]
    p = result.frequencies[run.data_key]
    rows = []
    for t in (t for t in result.models if t.run_index == run_index and t.seed == seed):
        geo = row_geometry(t.W)
        represented = geo.pop("represented_mask")
        unlearned = unlearned_loss(p, represented)
        two_m_over_n = 2 * t.m / config.n
        cos2_strong = geo.pop("mean_cos2_strong")
        rows.append(
            {
                "m": t.m,
                "loss": t.eval_loss,
                "loss_se": t.eval_loss_se,
                "train_loss_final": t.curve_loss[-1] if t.curve_loss else None,
                "phi": geo.pop("phi"),
                "n_represented": geo.pop("n_represented"),
                "n_strong": geo.pop("n_strong"),
                "strong_fraction": geo.pop("strong_fraction"),
                "two_m_over_n": two_m_over_n,
                "mean_cos2_strong": cos2_strong,
                "m_cos2_strong": None if cos2_strong is None else t.m * cos2_strong,
                "inverse_m": geo.pop("inverse_m"),
                "frame_bound_strong": geo.pop("frame_bound_strong"),
                "mean_cos2_norm_gt_half": geo.pop("mean_cos2_norm_gt_half"),
                "frame_bound_norm_gt_half": geo.pop("frame_bound_norm_gt_half"),
                "unlearned_prediction": unlearned,
                "loss_over_unlearned": t.eval_loss / unlearned if unlearned > 0 else None,
                "ideal_weak_loss": ideal_weak_loss(p, t.m),
                "bias_mean": float(t.b.mean()),
                **geo,
                "row_norms": row_norms(t.W),
            }
        )
    return rows


def fit_block(
    per_m: list[dict[str, Any]], m_min: int | None = None, m_max: int | None = None
) -> dict[str, Any]:
    """Fit ``loss = A m^-α_m`` on the widths in ``[m_min, m_max]``; the range is recorded.

    Example:
        >>> rows = [{"m": m, "loss": 2.0 / m} for m in (8, 16, 32, 64, 128)]
        >>> fit = fit_block(rows, m_min=32)
        >>> round(fit["exponent"], 6), fit["m_used"], fit["m_min"], fit["m_max"]
        (1.0, [32, 64, 128], 32, None)
    """
    lo = m_min if m_min is not None else 0
    hi = m_max if m_max is not None else float("inf")
    used = [r for r in per_m if lo <= r["m"] <= hi]
    block: dict[str, Any] = {"m_min": m_min, "m_max": m_max, "m_used": [r["m"] for r in used]}
    try:
        fit = fit_power_law(
            np.array([r["m"] for r in used], dtype=float), np.array([r["loss"] for r in used])
        )
    except FitError as err:
        return {"error": str(err), **block}
    return {**fit.to_dict(), **block}


def summarize(result: TrainResult) -> dict[str, Any]:
    """The JSON-ready results document (schema ``llmgeom.toy.result/2``).

    Example:
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> from llmgeom.toy.training import train
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=0.5),))
        >>> doc = summarize(train(cfg, progress=False))
        >>> doc["schema"], [r["m"] for r in doc["runs"][0]["per_m"]]
        ('llmgeom.toy.result/2', [3, 5, 8])
    """
    config = result.config
    runs = []
    for i, run in enumerate(config.runs):
        for seed in run.seeds:
            per_m = _per_m(result, i, seed)
            curves = {
                str(t.m): t.curve_loss for t in result.models if t.run_index == i and t.seed == seed
            }
            steps = next(t.curve_steps for t in result.models if t.run_index == i)
            runs.append(
                {
                    "gamma": run.gamma,
                    "alpha": run.alpha,
                    "family": run.family,
                    "density": run.density,
                    "decay": run.decay,
                    "seed": seed,
                    "regime": run.regime,
                    "fit": fit_block(per_m, config.fit_m_min, config.fit_m_max),
                    "per_m": per_m,
                    "curve": {"steps": steps, "train_loss_by_m": curves},
                }
            )
    return {
        "schema": SCHEMA,
        "name": config.name,
        "description": config.description,
        "config": config.to_dict(),
        "versions": versions(),
        "device": result.device,
        "threads": result.threads,
        "timings": result.timings,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "norm_hist_edges": list(HIST_EDGES),
        "runs": runs,
        "seed_summary": seed_summary(runs),
    }


ROW_NORM_DECIMALS: int = 3  # row_norms are rounded to 0.001 (the histograms bin at 0.05)


def row_norms(W: Any) -> list[float]:
    """The ``n`` row norms ``‖W_i‖`` of a trained ``W`` (``[n, m]``), rounded to
    :data:`ROW_NORM_DECIMALS` decimals, in feature order (most frequent first): the data of the
    paper's Fig 6a–d row-norm histograms (each width row's ``row_norms``).

    Example:
        >>> import torch
        >>> row_norms(torch.tensor([[3.0, 4.0], [0.0, 0.1234567]]))
        [5.0, 0.123]
    """
    norms = W.detach().double().norm(dim=1)
    return [round(float(v), ROW_NORM_DECIMALS) for v in norms]


def json_text(doc: Any, indent: int = 2) -> str:
    """``doc`` as indented JSON, except that a list of plain numbers stays on one line (a toy
    result holds ``n`` row norms per width: one line each instead of ``n``). ``json.loads`` of
    the text is ``doc``; NaN and infinities are refused, as in ``write_json_atomic``.

    Example:
        >>> print(json_text({"m": [8, 12], "runs": [{"row_norms": [1.0, 0.5]}]}), end="")
        {
          "m": [8, 12],
          "runs": [
            {
              "row_norms": [1.0, 0.5]
            }
          ]
        }
    """
    return _json_lines(doc, indent, 0) + "\n"


def _json_lines(value: Any, indent: int, depth: int) -> str:
    pad, inner = " " * (indent * depth), " " * (indent * (depth + 1))
    if isinstance(value, dict) and value:
        items = [
            f"{inner}{json.dumps(str(k))}: {_json_lines(v, indent, depth + 1)}"
            for k, v in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        items = [f"{inner}{_json_lines(v, indent, depth + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    return json.dumps(value, allow_nan=False)


def run_label(run: dict[str, Any]) -> str:
    """Short label of a run entry, e.g. ``γ=-1 α=1 power``.

    Example:
        >>> run_label({"gamma": -1.0, "alpha": 1.0, "family": "power", "density": 1.0, "seed": 0})
        'γ=-1 α=1 power'
    """
    label = f"γ={run['gamma']:g} "
    label += f"α={run['alpha']:g} {run['family']}" if run["family"] == "power" else run["family"]
    if run.get("density", 1.0) != 1.0:  # results written before densities: 1
        label += f" E={run['density']:g}"
    if run.get("seed", 0) != 0:
        label += f" seed={run['seed']}"
    return label


def _fmt(value: float | None, spec: str) -> str:
    width = int(spec.split(".")[0] or 0)
    return "—".rjust(width) if value is None else format(value, spec)


def format_summary(doc: dict[str, Any]) -> str:
    """Human-readable tables of a results document (what the CLI prints).

    Example:
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> from llmgeom.toy.training import train
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=-1.0),))
        >>> format_summary(summarize(train(cfg, progress=False))).splitlines()[0][:14]
        'toy experiment'
    """
    cfg = doc["config"]
    scale = cfg.get("loss_scale", 1.0)
    lines = [
        f"toy experiment {doc['name']!r}: n={cfg['n']}, steps={cfg['steps']}, batch={cfg['batch']},"
        f" lr={cfg['lr']:g}{f', loss_scale={scale:g}' if scale != 1 else ''},"
        f" device={doc['device']} ({doc['threads']} threads), {doc['timings']['wall_s']:.1f} s"
    ]
    header = (
        f"{'m':>5} {'loss':>9} {'±se':>7} {'φ':>6} {'kept':>5} {'strong':>6} {'cos²_R':>7}"
        f" {'m·cos²_R':>8} {'frame':>7} {'cos²_½':>7} {'unlearned':>9} {'ratio':>6}"
    )
    for run in doc["runs"]:
        lines += ["", f"{run_label(run)} ({run['regime']} superposition)", header]
        for r in run["per_m"]:
            lines.append(
                f"{r['m']:>5} {r['loss']:>9.4g} {r['loss_se']:>7.2g} {r['phi']:>6.3f}"
                f" {r['n_represented']:>5d} {r['n_strong']:>6d}"
                f" {_fmt(r['mean_cos2_strong'], '7.4f')} {_fmt(r['m_cos2_strong'], '8.3f')}"
                f" {r['frame_bound_strong']:>7.4f} {_fmt(r['mean_cos2_norm_gt_half'], '7.4f')}"
                f" {r['unlearned_prediction']:>9.4g} {_fmt(r['loss_over_unlearned'], '6.4g')}"
            )
        fit = run["fit"]
        where = _fit_range_text(fit, len(run["per_m"]))
        if "error" in fit:
            lines.append(f"α_m: not fitted{where} ({fit['error']})")
        else:
            lo, hi = fit["exponent_ci95"]
            lines.append(
                f"α_m = {fit['exponent']:.3f} ± {fit['exponent_se']:.3f}"
                f" (95% CI {lo:.3f} … {hi:.3f}, R² = {fit['r2']:.3f}){where}"
            )
    groups = doc.get("seed_summary") or seed_summary(doc["runs"])
    if any(len(g["seeds"]) > 1 for g in groups):
        lines += ["", "α_m over seeds: mean ± spread (sample std over seeds), mean per-run fit SE"]
        for g in groups:
            label = run_label({**g, "seed": 0})
            if g["alpha_m_mean"] is None:
                lines.append(f"  {label}: not fitted")
                continue
            spread = "—" if g["alpha_m_spread"] is None else f"{g['alpha_m_spread']:.3f}"
            lines.append(
                f"  {label}: {g['alpha_m_mean']:.3f} ± {spread} over {g['n_fitted']} seeds"
                + ("" if g["alpha_m_fit_se"] is None else f" (fit SE {g['alpha_m_fit_se']:.3f})")
            )
    return "\n".join(lines)


def _fit_range_text(fit: dict[str, Any], n_widths: int) -> str:
    lo, hi = fit.get("m_min"), fit.get("m_max")
    if lo is None and hi is None:
        return ""
    bounds = f"{lo} <= m" if hi is None else f"m <= {hi}" if lo is None else f"{lo} <= m <= {hi}"
    return f", fit on {bounds}: {len(fit.get('m_used', []))} of {n_widths} widths"


def load_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a results document written by :func:`~llmgeom.toy.experiment.run_experiment`
    (schema :data:`SCHEMA`) and check what readers use: ``config`` and ``runs``, each run with
    ``gamma``, ``alpha``, ``family``, ``regime``, ``fit`` and ``per_m`` rows holding ``m`` and
    ``loss`` (its JSON Schema: ``llmgeom/records/schemas/toy-result-2.json``). One-line
    :class:`ConfigError` naming the file otherwise.

    Example:
        >>> import json, tempfile
        >>> from pathlib import Path
        >>> p = Path(tempfile.mkdtemp()) / "toy-x.json"
        >>> run = {"gamma": -1.0, "alpha": 1.0, "family": "power", "regime": "strong",
        ...        "fit": {}, "per_m": [{"m": 3, "loss": 0.5}]}
        >>> _ = p.write_text(json.dumps({"schema": SCHEMA, "config": {}, "runs": [run]}))
        >>> load_result(p)["runs"][0]["per_m"][0]["loss"]
        0.5
    """
    from ..records.schema import check_schema

    doc = read_schema_json(path, SCHEMA, "toy result")
    check_schema(doc, SCHEMA, str(path), "toy result")
    return doc
