"""The fast Gram step (issue 18 §7) against float64 numpy: the upper block triangle products in
row chunks of any size (one that does not divide n included) and column blocks of any width,
the one-pass normalisation with its row sums, Lanczos for the top eigenvalues, and ``measure``
on a bfloat16 head, every path of ``‖W‖₂²`` taken."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.geometry import gram, raw_gram
from llmgeom.geometry.lanczos import top_eigenvalue_by_lanczos
from llmgeom.geometry.normalize import normalize_rows, normalize_rows_with_sums
from llmgeom.geometry.prepare import unit_rows


def _rows(n: int, m: int, seed: int, shared: float = 0.0, dtype=torch.float32) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((n, m)) * rng.uniform(0.5, 2.0, size=(n, 1))
    return torch.from_numpy(W + shared * rng.standard_normal(m)).to(dtype)


def _close(actual: torch.Tensor, expected: np.ndarray, rel: float = 1e-6) -> None:
    scale = np.abs(expected).max()
    np.testing.assert_allclose(actual.numpy(), expected, rtol=0, atol=rel * scale)


@pytest.mark.parametrize("chunk_rows", [1, 7, 64, 333, 1000])  # 7 and 64 do not divide 333
@pytest.mark.parametrize("block_columns", [1, 5, 16, 40])  # 5 and 16 do not divide 37
def test_gram_matrices_match_float64_numpy(chunk_rows, block_columns):
    U, norms = normalize_rows(_rows(333, 37, seed=chunk_rows + block_columns))
    X = U.double().numpy()
    s = norms.numpy()
    G = gram.gram_matrix(U, chunk_rows, block_columns=block_columns)
    G2, G_raw = gram.scaled_gram_matrices(U, norms, chunk_rows, block_columns=block_columns)
    raw_only = gram.raw_gram_matrix(U, norms, chunk_rows, block_columns=block_columns)
    plain, raw = X.T @ X, (X * s[:, None] ** 2).T @ X
    for actual, expected in ((G, plain), (G2, plain), (G_raw, raw), (raw_only, raw)):
        assert actual.dtype == torch.float64 and torch.equal(actual, actual.T)  # symmetric
        _close(actual, expected)


def test_bfloat16_rows_are_multiplied_in_float32():
    W = _rows(200, 24, seed=3, dtype=torch.bfloat16)
    X = W.double().numpy()
    _close(gram.gram_matrix(W, 64, block_columns=7), X.T @ X)


def test_one_pass_normalisation_gives_the_row_sums_of_the_stored_rows():
    W = _rows(1500, 50, seed=4, dtype=torch.bfloat16)
    U, norms, sq, total = normalize_rows_with_sums(W, chunk_rows=333)
    U_ref, norms_ref = normalize_rows(W)
    assert torch.equal(U, U_ref) and torch.equal(norms, norms_ref)
    stored = U.double().numpy()
    np.testing.assert_allclose(sq.numpy(), (stored * stored).sum(axis=1), rtol=1e-15)
    np.testing.assert_allclose(total.numpy(), stored.sum(axis=0), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("in_place", [False, True])
def test_unit_rows_squeezes_out_zero_and_nonfinite_rows(in_place):
    W = _rows(300, 12, seed=5)
    W[[0, 17, 299]] = 0.0
    W[[40, 41]] = float("nan")
    W[100, 3] = float("inf")
    kept = [i for i in range(300) if i not in (0, 17, 299, 40, 41, 100)]
    expected = W[kept].double().numpy()
    rows = unit_rows(W.clone(), True, False, in_place, torch.device("cpu"))
    assert rows.row_index.tolist() == kept and rows.n_nonfinite == 3
    unit = expected / np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(rows.U.double().numpy(), unit, rtol=0, atol=1e-7)
    np.testing.assert_allclose(rows.norms.numpy(), np.linalg.norm(expected, axis=1), rtol=1e-12)
    sq, total = rows.sums
    sq_ref, total_ref = gram.row_sums(rows.U)
    np.testing.assert_allclose(sq.numpy(), sq_ref.numpy(), rtol=1e-15)
    np.testing.assert_allclose(total.numpy(), total_ref.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shared", [0.0, 0.5])  # flat top of the spectrum, a dominant direction
def test_lanczos_finds_the_top_eigenvalue(shared):
    X = _rows(3000, 120, seed=6, shared=shared).double().numpy()
    A = X.T @ X
    expected = np.linalg.eigvalsh(A)[-1]
    steps = []
    top = top_eigenvalue_by_lanczos(lambda x: steps.append(1) or A @ x, np.ones(120))
    assert top == pytest.approx(expected, rel=1e-10)
    assert len(steps) < 120  # stopped by the bound, before the Krylov space filled R^m
    assert top_eigenvalue_by_lanczos(lambda x: A @ x, np.ones(120), max_steps=2) is None


def test_the_expected_lanczos_steps_follow_the_gap():
    flat = raw_gram.expected_lanczos_steps(np.linspace(1.0, 2.0, 100))
    dominant = raw_gram.expected_lanczos_steps(np.r_[50.0, np.linspace(1.0, 2.0, 99)])
    assert dominant < 10 < flat


def _oracle(W: np.ndarray) -> dict:
    X = W[np.linalg.norm(W, axis=1) > 0]
    n = X.shape[0]
    U = X / np.linalg.norm(X, axis=1, keepdims=True)
    C = U @ U.T
    return {
        "mean_cos2": (C[~np.eye(n, dtype=bool)] ** 2).mean(),
        "eigenvalues": np.clip(np.linalg.eigvalsh(U.T @ U)[::-1], 0, None),
        "stable_rank_raw": np.sum(X * X) / np.linalg.svd(X, compute_uv=False)[0] ** 2,
    }


def _record_routes(monkeypatch, names: tuple[str, ...]) -> list[str]:
    """The list that the Gram builders ``names`` and Lanczos on the rows append their names
    (``lanczos``) to when called (each still runs)."""
    taken: list[str] = []
    for name in names:
        real = getattr(gram, name)
        monkeypatch.setattr(
            gram, name, lambda *a, _f=real, _n=name, **k: taken.append(_n) or _f(*a, **k)
        )
    real_lanczos = raw_gram.lanczos_raw_spectral_norm
    monkeypatch.setattr(
        raw_gram,
        "lanczos_raw_spectral_norm",
        lambda *a, **k: taken.append("lanczos") or real_lanczos(*a, **k),
    )
    return taken


@pytest.mark.parametrize(
    ("width_rule", "shared", "path"),
    [
        (1024, 0.0, "same pass"),  # narrow: WᵀW beside UᵀU
        (8, 0.0, "second pass"),  # wide, flat spectrum, Lanczos dear: WᵀW in a second pass
        (8, 0.5, "lanczos"),  # wide, a dominant direction: Lanczos on the rows
    ],
)
def test_measure_of_a_bfloat16_head_matches_float64_numpy(monkeypatch, width_rule, shared, path):
    monkeypatch.setattr(gram, "EIGSH_MIN_WIDTH", width_rule)
    monkeypatch.setattr(gram, "GRAM_CHUNK_ROWS", 97)  # chunks that do not divide n
    monkeypatch.setattr(gram, "GRAM_BLOCK_COLUMNS", 7)
    monkeypatch.setattr(raw_gram, "lanczos_step_limit", lambda m: 12)  # as at m = 384
    taken = _record_routes(monkeypatch, ("raw_gram_matrix", "scaled_gram_matrices"))
    W = _rows(700, 40, seed=7, shared=shared, dtype=torch.bfloat16)
    W[5] = 0.0
    r = llmgeom.measure(W, pairs="gram", progress=False)
    expected = {"same pass": ["scaled_gram_matrices"], "second pass": ["raw_gram_matrix"]}
    assert taken == expected.get(path, ["lanczos"])
    o = _oracle(W.double().numpy())
    assert r.mean_cos2 == pytest.approx(o["mean_cos2"], rel=1e-6)
    lam = np.asarray(r.spectrum.eigenvalues)
    np.testing.assert_allclose(lam, o["eigenvalues"], rtol=0, atol=1e-6 * o["eigenvalues"][0])
    assert r.spectrum.stable_rank_raw == pytest.approx(o["stable_rank_raw"], rel=1e-6)


@pytest.mark.parametrize(
    ("width_rule", "shared", "routes"),
    [
        (1024, 0.0, ["raw_gram_matrix"]),  # narrow: WᵀW alone, chunked as measure's pass
        (8, 0.0, ["raw_gram_matrix"]),  # wide, flat top: WᵀW alone, no Lanczos first
        (8, 0.5, ["lanczos"]),  # wide, a dominant direction: Lanczos on the rows
    ],
)
def test_the_token_tables_spectrum_takes_measures_route_and_numbers(
    monkeypatch, width_rule, shared, routes
):
    """``spectrum_of_gram`` (``llmgeom tokens``, which has ``G`` already) used to run Lanczos to
    its step limit on a flat top and then build ``UᵀU`` and ``WᵀW`` again; it now gets
    ``‖W‖₂²`` as measure does, and the same stable rank (to the bit for a narrow head)."""
    from llmgeom.geometry.spectrum import gram_statistics_with_spectrum, spectrum_of_gram

    monkeypatch.setattr(gram, "EIGSH_MIN_WIDTH", width_rule)
    monkeypatch.setattr(raw_gram, "lanczos_step_limit", lambda m: 12)
    W = _rows(700, 40, seed=8, shared=shared, dtype=torch.bfloat16)
    U, norms = normalize_rows(W)
    _, measured = gram_statistics_with_spectrum(U, norms)
    taken = _record_routes(monkeypatch, ("raw_gram_matrix", "scaled_gram_matrices", "gram_matrix"))
    G = gram.gram_matrix(U)
    taken.clear()
    block = spectrum_of_gram(G, U, norms)
    assert taken == routes
    o = _oracle(W.double().numpy())
    assert block["stable_rank_raw"] == pytest.approx(o["stable_rank_raw"], rel=1e-6)
    assert block["stable_rank_raw"] == pytest.approx(measured["stable_rank_raw"], rel=1e-7)
    if width_rule == 1024:
        assert block["stable_rank_raw"] == measured["stable_rank_raw"]
    assert block["eigenvalues"] == measured["eigenvalues"]


@pytest.mark.parametrize("m", [5, 300, 5000])  # chunks of 1024, 873 and 52 rows by default
def test_the_row_passes_chunking_moves_no_unit_row_and_no_norm(m):
    """The row passes take :func:`pass_chunk_rows` rows a chunk (cache-sized) instead of 1024:
    every unit row, norm and ‖u_i‖² is the same to the bit, and the column sums agree to
    float64 round-off (only their order changed)."""
    from llmgeom.geometry.normalize import pass_chunk_rows, row_norms

    W = _rows(1500, m, seed=9, dtype=torch.bfloat16)
    assert pass_chunk_rows(m) == max(16, min(1024, 2**18 // m))
    U, norms, sq, total = normalize_rows_with_sums(W)
    U1, norms1, sq1, total1 = normalize_rows_with_sums(W, chunk_rows=1024)
    assert torch.equal(U, U1) and torch.equal(norms, norms1) and torch.equal(sq, sq1)
    torch.testing.assert_close(total, total1, rtol=1e-13, atol=1e-13)
    assert torch.equal(row_norms(W), norms)
    assert torch.equal(normalize_rows(W)[0], U)
    expected = np.linalg.norm(W.double().numpy(), axis=1)
    np.testing.assert_allclose(norms.numpy(), expected, rtol=1e-15)
