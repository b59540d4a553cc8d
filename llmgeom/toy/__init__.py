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

from .config import ToyConfig, ToyRun, config_from_dict, list_presets, load_config
from .data import FeatureSampler, SparseBatch, frequencies
from .experiment import load_trained, run_experiment, save_trained
from .metrics import frame_bound, ideal_weak_loss, mean_cos2, row_geometry, unlearned_loss
from .model import batch_loss, forward_dense, loss_and_grads
from .optim import Adam, apply_dial, dial_factor, lr_factor
from .report import format_summary, summarize
from .train import TrainedModel, TrainResult, init_params, train

__all__ = [
    "Adam",
    "FeatureSampler",
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
    "summarize",
    "train",
    "unlearned_loss",
]
