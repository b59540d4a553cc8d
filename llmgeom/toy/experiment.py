"""One call from a configuration to results on disk: train, summarise, write JSON and figures.

Files written to ``out_dir`` (atomically): ``<stem>.json``, ``<stem>_loss.png``,
``<stem>_phi.png``, and with ``save_models`` the trained parameters ``<stem>_models.pt`` (plain
tensors, readable with :func:`load_trained`); ``stem`` defaults to ``toy-<config name>``.

Example:
    >>> import tempfile
    >>> from llmgeom.toy.config import ToyConfig, ToyRun
    >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
    ...                 runs=(ToyRun(gamma=-1.0),), name="demo")
    >>> doc, paths = run_experiment(cfg, tempfile.mkdtemp(), progress=False)
    >>> [p.name for p in paths]
    ['toy-demo.json', 'toy-demo_loss.png', 'toy-demo_phi.png']
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from .._atomic import atomic_path, write_json_atomic
from .config import ToyConfig, config_from_dict
from .report import summarize
from .train import TrainedModel, TrainResult, train


def run_experiment(
    config: ToyConfig,
    out_dir: str | Path | None = None,
    progress: bool = True,
    stem: str | None = None,
    plots: bool = True,
    save_models: bool = False,
) -> tuple[dict[str, Any], list[Path]]:
    """Train ``config``, return ``(results document, written paths)``; nothing written without
    ``out_dir``.

    Example:
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=0.5, alpha=2.0),))
        >>> doc, paths = run_experiment(cfg, progress=False)
        >>> len(doc["runs"][0]["per_m"]), paths
        (3, [])
    """
    result = train(config, progress=progress)
    paths: list[Path] = []
    stem = stem or f"toy-{config.name}"
    if out_dir is not None and save_models:
        paths.append(save_trained(result, Path(out_dir) / f"{stem}_models.pt"))
    doc = summarize(result)
    if out_dir is not None:
        out = Path(out_dir)
        paths.append(write_json_atomic(out / f"{stem}.json", doc))
        if plots:
            from .plots import plot_loss, plot_phi

            paths.append(plot_loss(doc, out / f"{stem}_loss.png"))
            paths.append(plot_phi(doc, out / f"{stem}_phi.png"))
    return doc, paths


def save_trained(result: TrainResult, path: str | Path) -> Path:
    """Save the trained parameters and losses of ``result`` as plain tensors (atomically).

    Example:
        >>> import tempfile, pathlib
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=-1.0),))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "models.pt"
        >>> _ = save_trained(train(cfg, progress=False), path)
        >>> [t.m for t in load_trained(path).models]
        [3, 5, 8]
    """
    payload = {
        "config": result.config.to_dict(),
        "device": result.device,
        "threads": result.threads,
        "timings_json": _json_text(result.timings),
        "models": [
            {
                "run_index": t.run_index,
                "seed": t.seed,
                "m": t.m,
                "W": t.W,
                "b": t.b,
                "eval_loss": t.eval_loss,
                "eval_loss_se": t.eval_loss_se,
                "curve_steps": list(t.curve_steps),
                "curve_loss": list(t.curve_loss),
            }
            for t in result.models
        ],
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return Path(path)


def load_trained(path: str | Path) -> TrainResult:
    """Load a file written by :func:`save_trained` (``weights_only``: no code is executed)."""
    import json

    from .data import frequencies

    payload = torch.load(path, map_location="cpu", weights_only=True)
    data = dict(payload["config"])
    data.pop("warmup_steps", None)
    data.pop("extra", None)
    config = config_from_dict(data, source=str(path))
    models = [TrainedModel(**entry) for entry in payload["models"]]
    freqs = {
        run.data_key: frequencies(config.n, run.family, run.alpha, run.density, run.decay)
        for run in config.runs
    }
    timings = json.loads(payload["timings_json"])
    return TrainResult(config, payload["device"], payload["threads"], models, freqs, timings)


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value)
