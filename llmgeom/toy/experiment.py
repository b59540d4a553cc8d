"""One call from a configuration to results on disk: train, summarise, write JSON and figures.

Files written to ``out_dir`` (atomically): ``<stem>.json``, ``<stem>_loss.png``,
``<stem>_phi.png``, and with ``save_models`` the trained parameters
``<stem>_models.safetensors`` (readable with :func:`load_trained` or any safetensors reader, no
pickle); ``stem`` defaults to ``toy-<config name>``.

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

from .._atomic import atomic_path
from ..errors import CorruptCheckpointError, SourceNotFoundError
from .config import ToyConfig, config_from_dict
from .report import summarize
from .result import ToyResult
from .training import TrainedModel, TrainResult, torch_cpu_settings, train


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
    paths: list[Path] = []
    stem = stem or f"toy-{config.name}"
    with torch_cpu_settings(config.threads, flush_denormal=False):  # the summary's threads too
        result = train(config, progress=progress)
        if out_dir is not None and save_models:
            paths.append(save_trained(result, Path(out_dir) / f"{stem}{MODELS_SUFFIX}"))
        doc = summarize(result)
    if out_dir is not None:
        paths += ToyResult.from_dict(doc).save(out_dir, stem=stem, plots=plots)
    return doc, paths


MODELS_SUFFIX: str = "_models.safetensors"
MODELS_FORMAT: str = "llmgeom.toy.models/1"


def tensor_name(run_index: int, seed: int, m: int, param: str) -> str:
    """Name of a trained parameter in the models file, e.g. ``run0.seed0.m10.W``.

    Example:
        >>> tensor_name(1, 0, 25, "b")
        'run1.seed0.m25.b'
    """
    return f"run{run_index}.seed{seed}.m{m}.{param}"


def save_trained(result: TrainResult, path: str | Path) -> Path:
    """Save the trained ``W``, ``b`` of ``result`` as safetensors (atomically).

    Tensors are named by :func:`tensor_name`; the configuration, device, timings and every
    model's losses and training curve are JSON strings in the file's metadata, so the file is
    read without unpickling anything (:func:`load_trained`, or any safetensors reader).

    Example:
        >>> import tempfile, pathlib
        >>> from llmgeom.toy.config import ToyConfig, ToyRun
        >>> cfg = ToyConfig(n=40, m=(3, 5, 8), steps=5, batch=32, warmup=1, eval_samples=64,
        ...                 runs=(ToyRun(gamma=-1.0),))
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "models.safetensors"
        >>> _ = save_trained(train(cfg, progress=False), path)
        >>> [t.m for t in load_trained(path).models]
        [3, 5, 8]
    """
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    entries = []
    for t in result.models:
        tensors[tensor_name(t.run_index, t.seed, t.m, "W")] = t.W.detach().cpu().contiguous()
        tensors[tensor_name(t.run_index, t.seed, t.m, "b")] = t.b.detach().cpu().contiguous()
        entries.append(
            {
                "run_index": t.run_index,
                "seed": t.seed,
                "m": t.m,
                "eval_loss": t.eval_loss,
                "eval_loss_se": t.eval_loss_se,
                "curve_steps": list(t.curve_steps),
                "curve_loss": list(t.curve_loss),
            }
        )
    metadata = {
        "format": MODELS_FORMAT,
        "config": _json_text(result.config.to_dict()),
        "device": result.device,
        "threads": str(result.threads),
        "timings": _json_text(result.timings),
        "models": _json_text(entries),
    }
    with atomic_path(path) as tmp:  # bytes into the prepared file: it keeps its permissions
        tmp.write_bytes(save(tensors, metadata=metadata))
    return Path(path)


def load_trained(path: str | Path) -> TrainResult:
    """Load a file written by :func:`save_trained` (safetensors: no code is executed).

    Raises :class:`~llmgeom.errors.CorruptCheckpointError` for a file that is not such a file.
    """
    import json

    from safetensors import SafetensorError, safe_open

    from .data import frequencies

    path = Path(path)
    if not path.exists():
        raise SourceNotFoundError(f"no such file: {path}")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            if meta.get("format") != MODELS_FORMAT:
                raise CorruptCheckpointError(
                    f"{path}: not a toy-model file (metadata format {meta.get('format')!r},"
                    f" expected {MODELS_FORMAT!r})"
                )
            entries = json.loads(meta["models"])
            models = [
                TrainedModel(
                    W=f.get_tensor(tensor_name(e["run_index"], e["seed"], e["m"], "W")),
                    b=f.get_tensor(tensor_name(e["run_index"], e["seed"], e["m"], "b")),
                    **e,
                )
                for e in entries
            ]
    except (SafetensorError, OSError, KeyError, ValueError) as err:
        if isinstance(err, CorruptCheckpointError):
            raise
        raise CorruptCheckpointError(f"{path}: unreadable toy-model file ({err})") from None
    data = json.loads(meta["config"])
    data.pop("warmup_steps", None)
    data.pop("extra", None)
    config = config_from_dict(data, source=str(path))
    freqs = {
        run.data_key: frequencies(config.n, run.family, run.alpha, run.density, run.decay)
        for run in config.runs
    }
    timings = json.loads(meta["timings"])
    return TrainResult(config, meta["device"], int(meta["threads"]), models, freqs, timings)


def _json_text(value: Any) -> str:
    import json

    return json.dumps(value)


def run_toy(config: ToyConfig, *, progress: bool = False) -> ToyResult:
    """Train every run of ``config`` and return the typed result (nothing is written; call
    :meth:`ToyResult.save`). Torch's CPU settings of the config apply only inside the call."""
    doc, _ = run_experiment(config, None, progress=progress)
    return ToyResult.from_dict(doc)
