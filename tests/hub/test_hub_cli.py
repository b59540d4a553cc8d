"""``llmgeom models``, ``llmgeom inspect`` and ``llmgeom measure <alias>`` against the fake Hub."""

from __future__ import annotations

import json

import safetensors.torch
import torch
from hub_server import head_files
from huggingface_hub import constants

from llmgeom.cli import main


def test_models_table(capsys):
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split()[:3] == ["alias", "hub", "id"]
    assert len(lines) == 1 + 27
    opt350 = next(line for line in lines if line.startswith("opt-350m "))
    assert opt350.split()[:7] == [
        "opt-350m",
        "facebook/opt-350m",
        "opt",
        "1024",
        "50272",
        "x",
        "512",
    ]
    qwen = next(line for line in lines if line.startswith("qwen2.5-72b "))
    assert "152064 x 8192" in qwen and " no " in qwen and "sharded safetensors" in qwen


def test_models_json_and_family(capsys):
    assert main(["models", "--family", "pythia", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["alias"] for m in data] == [
        "pythia-70m",
        "pythia-160m",
        "pythia-410m",
        "pythia-1b",
        "pythia-1.4b",
        "pythia-2.8b",
        "pythia-6.9b",
        "pythia-12b",
    ]
    assert data[0]["head_shape"] == [50304, 512] and data[0]["tied"] is False
    assert main(["models", "--family", "llama"]) == 1
    assert "no family 'llama'" in capsys.readouterr().err


def test_inspect_alias_reads_no_tensor_data(fake_hub, tiny, capsys, tmp_path):
    repo = tiny["gpt2"]
    assert main(["inspect", "gpt2"]) == 0
    out = capsys.readouterr().out
    assert "openai-community/gpt2 @ main" in out and repo.shas["main"] in out
    assert "wte.weight  [96 x 16]  F32" in out and "tied" in out and "yes" in out
    data = repo.files["main"]["model.safetensors"]
    n = int.from_bytes(data[:8], "little")
    begin, end = json.loads(data[8 : 8 + n])["wte.weight"]["data_offsets"]
    assert f"byte range   [{8 + n + begin}, {8 + n + end})  = 6.1 kB" in out
    assert "model.safetensors  (77.4 kB)" in out
    # only the header of the weight file was read, and nothing was cached
    assert fake_hub.bytes_for("model.safetensors") == repo.header_bytes("model.safetensors")
    assert head_files(tmp_path) == []


def test_inspect_sharded_and_bin(fake_hub, tiny, capsys):
    assert main(["inspect", "qwen2.5-7b", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    loc = report["location"]
    assert loc["file"] == "model-00002-of-00002.safetensors" and loc["key"] == "lm_head.weight"
    assert loc["shape"] == [100, 16] and loc["dtype"] == "BF16" and loc["nbytes"] == 3200
    assert report["commit_sha"] == tiny["qwen_sharded"].shas["main"]
    assert loc["choice"]["tied"] is False and loc["choice"]["family"] == "qwen2.5"
    assert not any("model-00001" in r.path for r in fake_hub.records)  # other shard untouched
    fake_hub.reset()
    assert main(["inspect", "opt-125m"]) == 0
    out = capsys.readouterr().out
    # a zip-format .bin is planned from its central directory and data.pkl: head bytes only
    assert "decoder.embed_tokens.weight  [80 x 16]  float16" in out
    assert "byte range" in out and "not the whole file" in out and "refs/pr/N" not in out
    served = fake_hub.bytes_for("pytorch_model.bin")
    assert 0 < served <= len(tiny["opt"].files["main"]["pytorch_model.bin"])


def test_inspect_revision(fake_hub, tiny, capsys):
    assert main(["inspect", "EleutherAI/pythia-70m", "--revision", "step143000"]) == 0
    out = capsys.readouterr().out
    assert tiny["pythia"].shas["step143000"] in out and "embed_out.weight" in out


def test_inspect_errors_are_one_line(fake_hub, capsys):
    assert main(["inspect", "test-org/nothing-here"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("llmgeom inspect: error:") and "no such repository" in err
    assert len(err.splitlines()) == 1
    assert main(["inspect", "gpt-2"]) == 1
    assert "Did you mean gpt2" in capsys.readouterr().err


def test_inspect_offline_uses_the_cache(fake_hub, tiny, capsys, monkeypatch):
    from llmgeom.sources.hub import load_hub_unembedding

    load_hub_unembedding("qwen2.5-0.5b")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 at import
    fake_hub.reset()
    assert main(["inspect", "qwen2.5-0.5b"]) == 0
    out = capsys.readouterr().out
    assert "described from the llmgeom cache" in out and "model.embed_tokens.weight" in out
    assert main(["inspect", "qwen2.5-7b"]) == 1
    assert "HF_HUB_OFFLINE=1" in capsys.readouterr().err
    assert fake_hub.requests == 0


def test_inspect_local_directory_and_file(tmp_path, capsys):
    d = tmp_path / "ckpt"
    d.mkdir()
    (d / "config.json").write_text(
        json.dumps({"model_type": "gpt2", "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 40})
    )
    safetensors.torch.save_file(
        {"wte.weight": torch.zeros(40, 8), "wpe.weight": torch.zeros(4, 8)}, d / "model.safetensors"
    )
    assert main(["inspect", str(d)]) == 0
    out = capsys.readouterr().out
    assert "wte.weight  [40 x 8]  F32" in out and "(local)" in out
    assert main(["inspect", str(d / "model.safetensors"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["location"]["key"] == "wte.weight"


def test_measure_alias_through_the_hub(fake_hub, tiny, tmp_path, capsys):
    out_dir = tmp_path / "results"
    argv = ["measure", "pythia-70m", "--revision", "step143000", "--out", str(out_dir)]
    assert main([*argv, "--no-progress"]) == 0, capsys.readouterr().err
    [result] = list(out_dir.glob("*.json"))
    text = result.read_text()
    assert tiny["pythia"].shas["step143000"] in text  # the commit sha is recorded
    fake_hub.reset()
    assert main([*argv, "--no-progress"]) == 0
    assert fake_hub.requests == 0
