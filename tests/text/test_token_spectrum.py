"""The ``spectrum`` block of a token summary (``llmgeom tokens``): the eigenvalues of ŴᵀŴ
against ``numpy.linalg.svd`` of the unit rows in float64, the stable rank against the raw rows'
singular values (both to float32 precision: the rows are float32), and every other number
equal to ``measure``'s on the same head (the same formulas,
:func:`llmgeom.geometry.spectrum.spectrum_block`, from one Gram matrix)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.records.schema import check_schema
from llmgeom.records.token_table import SCHEMA


def heads():
    g = torch.Generator().manual_seed(3)
    random = torch.randn(400, 30, generator=g)
    shared = torch.randn(400, 30, generator=g) * 0.3 + torch.randn(30, generator=g)  # one mean
    shared[[5, 17]] = 0.0  # zero rows take no part
    scaled = random * torch.linspace(0.1, 5.0, 400)[:, None]  # row norms over a wide range
    return {"random": random, "shared": shared, "scaled": scaled}


@pytest.mark.parametrize("name", ["random", "shared", "scaled"])
def test_token_spectrum_is_the_svd_and_measures(name):
    W = heads()[name]
    block = llmgeom.token_table(W, progress=False).to_dict()["spectrum"]
    rows = W.double().numpy()
    rows = rows[np.linalg.norm(rows, axis=1) > 0]
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    singular = np.linalg.svd(unit, compute_uv=False)
    top = singular[0] ** 2  # float32 unit rows: agreement to 1e-6 of the top, as measure's
    np.testing.assert_allclose(block["eigenvalues"], singular**2, rtol=0, atol=1e-6 * top)
    raw = np.linalg.svd(rows, compute_uv=False)
    assert block["stable_rank_raw"] == pytest.approx((raw**2).sum() / raw[0] ** 2, rel=1e-6)
    measured = llmgeom.measure(W, pairs="gram", progress=False).to_dict()["spectrum"]
    assert set(block) == set(measured)
    for key in ("entropy_effective_rank", "packing_efficiency"):
        assert block[key] == pytest.approx(measured[key], rel=1e-12), key
    assert block["n_above_marchenko_pastur_edge"] == measured["n_above_marchenko_pastur_edge"]
    assert block["marchenko_pastur_upper_edge"] == measured["marchenko_pastur_upper_edge"]
    for k, value in measured["interference_top_k"].items():
        assert block["interference_top_k"][k] == pytest.approx(value, rel=1e-12), k


def test_the_summary_with_a_spectrum_meets_its_schema():
    record = llmgeom.token_table(heads()["shared"], progress=False).to_dict()
    assert check_schema(record, SCHEMA, "here", "token table summary") is record
    assert record["spectrum"]["n_above_marchenko_pastur_edge"] >= 1  # the shared mean
