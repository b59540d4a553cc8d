"""Frequencies and the sparse Bernoulli × U(0, 2) generator."""

from __future__ import annotations

import pytest
import torch

from llmgeom.errors import ConfigError
from llmgeom.toy.data import V2_MEAN, FeatureSampler, SparseBatch, frequencies


@pytest.mark.parametrize("family", ["power", "exp", "linear"])
def test_frequencies_normalised_and_descending(family: str) -> None:
    p = frequencies(1000, family, alpha=1.5, density=2.0)
    assert p.dtype == torch.float64
    assert float(p.sum()) == pytest.approx(2.0, rel=1e-12)
    assert bool((p[:-1] >= p[1:]).all())


def test_frequency_shapes_match_formulas() -> None:
    p = frequencies(1000, "power", alpha=1.0)
    assert float(p[0] / p[9]) == pytest.approx(10.0)
    p = frequencies(1000, "exp", decay=400.0)
    assert float(p[0] / p[400]) == pytest.approx(torch.e)
    p = frequencies(4, "linear")
    assert p.tolist() == pytest.approx([0.4, 0.3, 0.2, 0.1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": -5}, "positive integer"),
        ({"n": 0}, "positive integer"),
        ({"n": 100, "family": "zipf"}, "unknown frequency family 'zipf'"),
        ({"n": 100, "alpha": -0.5}, "alpha"),
        ({"n": 100, "density": 0.0}, "density"),
        ({"n": 10, "family": "power", "alpha": 3.0, "density": 5.0}, "> 1"),
    ],
)
def test_bad_frequency_settings_are_config_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        frequencies(**kwargs)


@pytest.mark.parametrize(("family", "alpha", "density"), [("power", 1.0, 1.0), ("exp", 0.0, 3.0)])
def test_generator_frequencies_match_p_within_sampling_error(
    family: str, alpha: float, density: float
) -> None:
    n, batch, draws = 400, 1024, 60
    p = frequencies(n, family, alpha, density)
    sampler = FeatureSampler(p, batch, torch.Generator().manual_seed(3))
    counts = torch.zeros(n, dtype=torch.float64)
    for _ in range(draws):
        counts += torch.bincount(sampler.sample().cols, minlength=n)
    total = batch * draws
    z = (counts / total - p) / torch.sqrt(p * (1 - p) / total)
    # z-scores of 400 binomial proportions: mean square 1, none beyond ~4.5 sigma
    assert float((z**2).mean()) == pytest.approx(1.0, abs=0.25)
    assert float(z.abs().max()) < 4.8
    assert float(counts.sum() / total) == pytest.approx(density, rel=0.02)


def test_values_are_uniform_on_0_2_and_positions_unique() -> None:
    p = frequencies(300, "power", 1.0, density=2.0)
    sampler = FeatureSampler(p, 2048, torch.Generator().manual_seed(0))
    vals, total_nnz = [], 0
    for _ in range(10):
        b = sampler.sample()
        dense = b.to_dense()
        assert int((dense > 0).sum()) == b.vals.numel()  # no duplicate (row, feature) pairs
        assert int((dense[: b.n_rows] > 0).any(1).sum()) == b.n_rows  # compressed rows non-empty
        assert int((dense[b.n_rows :] > 0).sum()) == 0
        vals.append(b.vals)
        total_nnz += b.vals.numel()
    v = torch.cat(vals).double()
    assert float(v.min()) >= 0.0 and float(v.max()) < 2.0
    se = 1 / (3**0.5 * total_nnz**0.5)  # sd of U(0, 2) is 1/sqrt(3)
    assert float(v.mean()) == pytest.approx(1.0, abs=5 * se)
    assert float((v**2).mean()) == pytest.approx(V2_MEAN, abs=0.03)


def test_empty_sample_fraction_matches_product_of_misses() -> None:
    p = frequencies(500, "power", 1.0)
    sampler = FeatureSampler(p, 4096, torch.Generator().manual_seed(1))
    empties = sum(sampler.sample().n_empty for _ in range(20)) / (20 * 4096)
    expected = float(torch.prod(1 - p))
    assert empties == pytest.approx(expected, abs=5 * (expected * (1 - expected) / 81920) ** 0.5)


def test_same_seed_same_batches() -> None:
    p = frequencies(200)
    a = FeatureSampler(p, 256, torch.Generator().manual_seed(7))
    b = FeatureSampler(p, 256, torch.Generator().manual_seed(7))
    for _ in range(3):
        x, y = a.sample(), b.sample()
        assert torch.equal(x.to_dense(), y.to_dense())


def test_sparse_batch_to_dense_by_hand() -> None:
    b = SparseBatch(
        3, 4, torch.tensor([0, 0, 1]), torch.tensor([1, 3, 0]), torch.tensor([0.5, 1.5, 1.0]), 2
    )
    assert b.n_empty == 1
    assert b.to_dense().tolist() == [[0, 0.5, 0, 1.5], [1.0, 0, 0, 0], [0, 0, 0, 0]]
