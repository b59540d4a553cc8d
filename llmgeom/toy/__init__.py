"""The toy model of superposition with its weight-decay dial (paper §5).

``y = ReLU(W Wᵀ x + b)`` trained on sparse features with power-law, exponential or linear
frequencies; the dial γ switches between weak (γ > 0, decoupled weight decay) and strong (γ < 0,
rows pulled to unit norm) superposition. Many (γ, width, seed) configurations train together on
shared data batches.

Example:
    >>> from llmgeom.toy import ToyConfig, ToyRun, run_experiment
    >>> cfg = ToyConfig(n=60, m=(4, 8, 16), steps=30, batch=64, warmup=3, eval_samples=256,
    ...                 runs=(ToyRun(gamma=-1.0, alpha=1.0),))
    >>> doc, _ = run_experiment(cfg, progress=False)
    >>> [row["m"] for row in doc["runs"][0]["per_m"]], doc["runs"][0]["per_m"][-1]["phi"]
    ([4, 8, 16], 1.0)
"""

from __future__ import annotations

from typing import Any

from .._lazy import lazy_attribute

# Names -> submodule. Loaded on first use, so that importing llmgeom.toy.config (the CLI's help
# reads ToyConfig's defaults) does not import torch: `llmgeom --help` stays fast.
_LAZY = {
    "ToyConfig": "config",
    "ToyRun": "config",
    "config_from_dict": "config",
    "list_presets": "config",
    "load_config": "config",
    "FeatureSampler": "data",
    "SparseBatch": "data",
    "frequencies": "data",
    "load_trained": "experiment",
    "run_experiment": "experiment",
    "save_trained": "experiment",
    "frame_bound": "metrics",
    "ideal_weak_loss": "metrics",
    "mean_cos2": "metrics",
    "row_geometry": "metrics",
    "unlearned_loss": "metrics",
    "batch_loss": "model",
    "forward_dense": "model",
    "loss_and_grads": "model",
    "Adam": "optim",
    "apply_dial": "optim",
    "dial_factor": "optim",
    "lr_factor": "optim",
    "format_summary": "report",
    "summarize": "report",
    "TrainedModel": "training",
    "TrainResult": "training",
    "init_params": "training",
    "train": "training",
    "ToyResult": "result",
    "ToyRunResult": "result",
    "WidthResult": "result",
    "SeedGroup": "result",
    "seed_summary": "seeds",
    "run_toy": "experiment",
}


def __getattr__(name: str) -> Any:
    return lazy_attribute(__name__, _LAZY, name)


__all__ = [
    "Adam",
    "FeatureSampler",
    "SeedGroup",
    "SparseBatch",
    "ToyConfig",
    "ToyRun",
    "TrainResult",
    "TrainedModel",
    "apply_dial",
    "batch_loss",
    "config_from_dict",
    "dial_factor",
    "format_summary",
    "forward_dense",
    "frame_bound",
    "frequencies",
    "ideal_weak_loss",
    "init_params",
    "list_presets",
    "load_config",
    "load_trained",
    "loss_and_grads",
    "lr_factor",
    "mean_cos2",
    "row_geometry",
    "run_experiment",
    "save_trained",
    "seed_summary",
    "summarize",
    "train",
    "unlearned_loss",
]
