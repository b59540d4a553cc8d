"""Turn a :class:`~llmgeom.toy.train.TrainResult` into the results JSON and a text table.

Per (run, seed) the report lists, at every width: the final loss (summed over features, on fresh
data) with its standard error, φ, the strong fraction, mean cos² among represented rows next to
``1/m`` and the frame bound, the unlearned-features prediction and the loss/prediction ratio, and
the row-norm histogram; then the model exponent α_m fitted with :func:`llmgeom.fits.fit_power_law`.

Example:
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> from llmgeom.toy.train import train
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),))
    >>> summary = summarize(train(cfg, progress=False))
    >>> sorted(summary["runs"][0])[:3]
    ['alpha', 'curve', 'decay']
"""

from __future__ import annotations

import platform
from datetime import UTC, datetime
from typing import Any

import numpy as np

from ..errors import FitError
from ..fits.line import fit_power_law
from .metrics import HIST_EDGES, ideal_weak_loss, row_geometry, unlearned_loss
from .train import TrainResult

SCHEMA = "llmgeom.toy.result/1"


def versions() -> dict[str, str | None]:
    """Versions of llmgeom and of the numerical stack (recorded in every result file).

    Example:
        >>> sorted(versions())[:3]
        ['llmgeom', 'matplotlib', 'numpy']
    """
    from ..results import package_versions

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
        rows.append(
            {
                "m": t.m,
                "loss": t.eval_loss,
                "loss_se": t.eval_loss_se,
                "train_loss_final": t.curve_loss[-1] if t.curve_loss else None,
                "phi": geo.pop("phi"),
                "n_represented": geo.pop("n_represented"),
                "strong_fraction": geo.pop("strong_fraction"),
                "two_m_over_n": two_m_over_n,
                "mean_cos2_represented": geo.pop("mean_cos2_represented"),
                "inverse_m": geo.pop("inverse_m"),
                "frame_bound_represented": geo.pop("frame_bound_represented"),
                "unlearned_prediction": unlearned,
                "loss_over_unlearned": t.eval_loss / unlearned if unlearned > 0 else None,
                "ideal_weak_loss": ideal_weak_loss(p, t.m),
                "bias_mean": float(t.b.mean()),
                **geo,
            }
        )
    return rows


def _fit(per_m: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        fit = fit_power_law(
            np.array([r["m"] for r in per_m], dtype=float), np.array([r["loss"] for r in per_m])
        )
    except FitError as err:
        return {"error": str(err)}
    return fit.to_dict()


def summarize(result: TrainResult) -> dict[str, Any]:
    """The JSON-ready results document (schema ``llmgeom.toy.result/1``).

    Example:
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> from llmgeom.toy.train import train
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=0.5),))
        >>> doc = summarize(train(cfg, progress=False))
        >>> doc["schema"], [r["m"] for r in doc["runs"][0]["per_m"]]
        ('llmgeom.toy.result/1', [3, 5, 8])
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
                    "fit": _fit(per_m),
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
    }


def run_label(run: dict[str, Any]) -> str:
    """Short label of a run entry, e.g. ``γ=-1 α=1 power``.

    Example:
        >>> run_label({"gamma": -1.0, "alpha": 1.0, "family": "power", "density": 1.0, "seed": 0})
        'γ=-1 α=1 power'
    """
    label = f"γ={run['gamma']:g} "
    label += f"α={run['alpha']:g} {run['family']}" if run["family"] == "power" else run["family"]
    if run["density"] != 1.0:
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
        >>> from llmgeom.toy.train import train
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=-1.0),))
        >>> format_summary(summarize(train(cfg, progress=False))).splitlines()[0][:14]
        'toy experiment'
    """
    cfg = doc["config"]
    lines = [
        f"toy experiment {doc['name']!r}: n={cfg['n']}, steps={cfg['steps']}, batch={cfg['batch']},"
        f" lr={cfg['lr']:g}, device={doc['device']} ({doc['threads']} threads),"
        f" {doc['timings']['wall_s']:.1f} s"
    ]
    header = (
        f"{'m':>5} {'loss':>9} {'±se':>7} {'φ':>6} {'2m/n':>6} {'‖W‖>1':>6} {'cos²_R':>8}"
        f" {'1/m':>7} {'frame':>7} {'unlearned':>9} {'ratio':>6}"
    )
    for run in doc["runs"]:
        lines += ["", f"{run_label(run)} ({run['regime']} superposition)", header]
        for r in run["per_m"]:
            lines.append(
                f"{r['m']:>5} {r['loss']:>9.4g} {r['loss_se']:>7.2g} {r['phi']:>6.3f}"
                f" {r['two_m_over_n']:>6.3f} {r['strong_fraction']:>6.3f}"
                f" {_fmt(r['mean_cos2_represented'], '8.4f')} {r['inverse_m']:>7.4f}"
                f" {r['frame_bound_represented']:>7.4f} {r['unlearned_prediction']:>9.4g}"
                f" {_fmt(r['loss_over_unlearned'], '6.3f')}"
            )
        fit = run["fit"]
        if "error" in fit:
            lines.append(f"α_m: not fitted ({fit['error']})")
        else:
            lo, hi = fit["exponent_ci95"]
            lines.append(
                f"α_m = {fit['exponent']:.3f} ± {fit['exponent_se']:.3f}"
                f" (95% CI {lo:.3f} … {hi:.3f}, R² = {fit['r2']:.3f})"
            )
    return "\n".join(lines)
