"""``llmgeom measure --fold-norm``: the folded head's record, its logit offsets beside it, a
result of its own (never merged with the unfolded one), the sweep key, one-line refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from llmgeom.cli import main
from llmgeom.sweep.config import parse_config
from llmgeom.sweep.plan import expand_units
from tests import tiny_models


@pytest.fixture(scope="module")
def gpt2_dir(tmp_path_factory):
    """A saved tiny GPT-2 whose ln_f has a random weight and bias."""
    torch.manual_seed(0)
    model = tiny_models.gpt2()
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        model.transformer.ln_f.weight.copy_(torch.rand(16, generator=gen) + 0.5)
        model.transformer.ln_f.bias.copy_(torch.randn(16, generator=gen))
    directory = tmp_path_factory.mktemp("gpt2")
    model.save_pretrained(directory)
    head = model.transformer.wte.weight.detach().double().numpy()
    ln_f = model.transformer.ln_f
    return directory, head, ln_f.weight.detach().double().numpy(), ln_f.bias.detach().double()


def _mean_cos2(W: np.ndarray) -> float:
    U = W / np.linalg.norm(W, axis=1, keepdims=True)
    C = U @ U.T
    n = len(W)
    return float((np.sum(C**2) - n) / (n * (n - 1)))


def test_fold_norm_writes_the_folded_record_and_the_offsets(tmp_path, capsys, gpt2_dir):
    directory, head, gamma, bias = gpt2_dir
    out = tmp_path / "out"
    args = ["measure", str(directory), "--out", str(out), "--pairs", "gram", "--no-progress"]
    assert main([*args, "--fold-norm"]) == 0
    assert main(args) == 0  # the unfolded matrix: a result of its own
    capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    stem = directory.name
    assert names == [
        f"{stem}.raw+folded.json",
        f"{stem}.raw+folded.logit_offset.npy",
        f"{stem}.raw.json",
    ]
    folded = json.loads((out / f"{stem}.raw+folded.json").read_text())
    raw = json.loads((out / f"{stem}.raw.json").read_text())
    assert folded["options"]["fold_norm"] is True and raw["options"]["fold_norm"] is False
    assert folded["variant"]["final_norm"]["weight"] == "transformer.ln_f.weight"
    assert folded["stats"]["mean_cos2"] == pytest.approx(_mean_cos2(head * gamma), rel=1e-6)
    assert raw["stats"]["mean_cos2"] == pytest.approx(_mean_cos2(head), rel=1e-6)
    offset = np.load(out / f"{stem}.raw+folded.logit_offset.npy")
    np.testing.assert_allclose(offset, head @ bias.numpy(), rtol=1e-10, atol=1e-12)


def test_fold_norm_on_an_npy_file_is_a_one_line_error(tmp_path, capsys):
    np.save(tmp_path / "w.npy", np.ones((4, 2), dtype=np.float32))
    code = main(["measure", str(tmp_path / "w.npy"), "--fold-norm", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code != 0 and len(err.strip().splitlines()) == 1
    assert "--fold-norm does not apply" in err and "fold_norm=True" not in err


def test_sweep_key_fold_norm_names_the_folded_result():
    cfg = parse_config('models = ["gpt2"]\n[measure]\nfold_norm = true\n')
    (unit,) = expand_units(cfg)
    assert unit.outputs[0] == "openai-community--gpt2.main.raw+folded.json"
