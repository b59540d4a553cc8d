"""Bad input at the command line: one line on stderr, exit 1, no traceback; quiet broken pipes."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import gguf
import numpy as np
import pytest
import torch

from llmgeom.cli import SIGPIPE_EXIT, main
from llmgeom.errors import CorruptCheckpointError


def cli_error(capsys, *argv) -> str:
    """Run the CLI expecting a failure; return its single stderr line."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert code == 1, (code, out, err)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def _gguf(path, cut: int | None = None):
    writer = gguf.GGUFWriter(str(path), "gpt2")
    writer.add_embedding_length(8)
    writer.add_tensor("token_embd.weight", np.ones((64, 8), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    if cut is not None:
        path.write_bytes(path.read_bytes()[:cut])
    return path


def _bad_file(tmp_path, kind: str):
    """(path, expected message after 'PATH: ') for a broken single file."""
    if kind == "empty.npy":
        path = tmp_path / "e.npy"
        path.write_bytes(b"")
        return path, "empty file (0 bytes), not a .npy array"
    if kind == "garbage.npy":
        path = tmp_path / "g.npy"
        path.write_bytes(b"\x00garbage" * 20)
        return path, "not a .npy file (no .npy magic string at the start)"
    if kind == "object.npy":
        path = tmp_path / "o.npy"
        np.save(path, np.array([[object()]], dtype=object), allow_pickle=True)
        return path, (
            "the array holds Python objects (dtype object); only numeric arrays are "
            "read, pickled data never is"
        )
    if kind == "truncated.gguf":
        path = _gguf(tmp_path / "t.gguf", cut=2000)
        return path, (
            "truncated or corrupt GGUF file (2000 bytes; the metadata, tensor table "
            "or tensor data end early or are malformed)"
        )
    if kind == "header-cut.gguf":
        path = _gguf(tmp_path / "h.gguf", cut=30)
        return path, (
            "truncated or corrupt GGUF file (30 bytes; the metadata, tensor table "
            "or tensor data end early or are malformed)"
        )
    if kind == "empty.bin":
        path = tmp_path / "e.bin"
        path.write_bytes(b"")
        return path, "empty file (0 bytes), not a PyTorch checkpoint"
    if kind == "list.pt":
        path = tmp_path / "l.pt"
        torch.save([1, 2], path)
        return path, "neither a state dict nor a tensor (got list)"
    if kind == "bare-1d.pt":
        path = tmp_path / "v.pt"
        torch.save(torch.ones(4), path)
        return path, (
            "the file holds one tensor of shape [4]; an output embedding must be 2-D [n_rows, m]"
        )
    raise AssertionError(kind)


BAD_FILES = [
    "empty.npy",
    "garbage.npy",
    "object.npy",
    "truncated.gguf",
    "header-cut.gguf",
    "empty.bin",
    "list.pt",
    "bare-1d.pt",
]


@pytest.mark.parametrize("command", ["measure", "inspect"])
@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_file_is_one_line_naming_the_path_once(tmp_path, capsys, command, kind):
    path, message = _bad_file(tmp_path, kind)
    extra = ["--out", tmp_path / "out"] if command == "measure" else []
    line = cli_error(capsys, command, path, *extra)
    assert line == f"llmgeom {command}: error: {path}: {message}"
    assert line.count(path.name) == 1
    for leak in ("allow_pickle", "pickle.load", "larger dtype", "np.float64(", "EOFError"):
        assert leak not in line
    if command == "measure":
        assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_filesystem_error_prints_the_path_once(tmp_path, capsys, monkeypatch):
    path = tmp_path / "w.bin"
    torch.save({"lm_head.weight": torch.ones(5, 2)}, path)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(torch, "load", denied)
    line = cli_error(capsys, "inspect", path)
    assert line == f"llmgeom inspect: error: [Errno 13] Permission denied: '{path}'"


def test_bare_tensor_is_accepted_by_measure_and_inspect(tmp_path, capsys):
    weight = torch.randn(50, 8, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "head.pt"
    torch.save(weight, path)
    assert main(["inspect", str(path), "--json"]) == 0
    loc = json.loads(capsys.readouterr().out)["location"]
    assert (loc["key"], loc["fmt"], loc["shape"], loc["dtype"]) == (
        "tensor",
        "bin",
        [50, 8],
        "float32",
    )
    assert loc["choice"]["rule"] == "bare-tensor"
    out_dir = tmp_path / "out"
    assert main(["measure", str(path), "--pairs", "gram", "--out", str(out_dir)]) == 0
    capsys.readouterr()
    record = json.loads(next(out_dir.glob("*.json")).read_text())
    assert record["model"]["tensor_name"] == "tensor" and record["model"]["n_rows"] == 50
    W = weight.double().numpy()
    U = W / (np.linalg.norm(W, axis=1, keepdims=True) + 1e-9)
    C = U @ U.T
    iu = np.triu_indices(50, 1)
    assert record["stats"]["mean_cos2"] == pytest.approx(np.mean(C[iu] ** 2), rel=1e-5)


def test_inspect_gguf_reports_family_and_tying_like_measure(tmp_path, capsys):
    path = _gguf(tmp_path / "m.gguf")
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "family       gpt2" in out
    assert "tied         yes (the head is the input embedding)" in out
    assert "d_model      8" in out


def test_inspect_of_a_missing_path_is_not_sent_to_the_hub(tmp_path, capsys):
    missing = tmp_path / "nope"
    line = cli_error(capsys, "inspect", missing)
    assert line == f"llmgeom inspect: error: no such file or directory: {missing}"


def test_multi_line_error_text_is_printed_on_one_line(capsys, monkeypatch):
    import llmgeom.cli.models as models

    def broken(args):
        raise CorruptCheckpointError("first part\n  second part\n")

    monkeypatch.setattr(models, "run", broken)
    assert cli_error(capsys, "models") == "llmgeom models: error: first part second part"


# --------------------------------------------------------------------------- closed stdout


class _ClosedPipe(io.StringIO):
    def write(self, text):
        raise BrokenPipeError(32, "Broken pipe")

    def flush(self):
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_exits_quietly_in_process(monkeypatch, capsys):
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["models", "--json"]) == SIGPIPE_EXIT == 141
    monkeypatch.undo()
    assert capsys.readouterr().err == ""


def test_models_json_into_a_pipe_closed_before_writing_is_quiet():
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmgeom", "models", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # the reader is gone before the command writes anything
    err = proc.stderr.read()
    proc.wait(timeout=60)
    proc.stderr.close()
    assert err == b"" and proc.returncode == SIGPIPE_EXIT


def test_models_json_piped_into_head_is_quiet():
    cmd = f"'{sys.executable}' -m llmgeom models --json | head -1"
    proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert proc.stdout == "[\n" and proc.stderr == "" and proc.returncode == 0


def test_models_json_still_prints_everything(capsys):
    assert main(["models", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err == "" and len(json.loads(captured.out)) == 27


# ------------------------------------------------------------------------ fit option checks


@pytest.fixture
def tables(tmp_path):
    overlap = tmp_path / "o.csv"
    overlap.write_text("model,family,m,mean_cos2\na,g,2,0.4\nb,g,4,0.2\nc,g,8,0.11\n")
    loss = tmp_path / "l.csv"
    loss.write_text("model,family,corpus,m,loss\na,g,c,1,3\nb,g,c,2,2\nc,g,c,4,1.5\nd,g,c,8,1.2\n")
    return {"overlap": overlap, "loss": loss}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["chinchilla", "--alpha-n", "-1"], "--alpha-n must be a finite number > 0, got -1"),
        (["chinchilla", "--alpha-n", "0"], "--alpha-n must be a finite number > 0, got 0"),
        (["chinchilla", "--alpha-n", "nan"], "--alpha-n must be a finite number > 0, got nan"),
        (["chinchilla", "--alpha-n", "inf"], "--alpha-n must be a finite number > 0, got inf"),
        (
            ["chinchilla", "--alpha-n-se", "-0.02"],
            "--alpha-n-se must be a finite number >= 0, got -0.02",
        ),
        (["overlap", "{overlap}", "--seed", "-1"], "--seed must be a finite number >= 0, got -1"),
        (
            ["overlap", "{overlap}", "--bootstrap", "-5"],
            "--bootstrap must be a finite number >= 0, got -5",
        ),
        (
            ["loss", "{loss}", "--huber-delta", "0"],
            "--huber-delta must be a finite number > 0, got 0",
        ),
        (
            ["loss", "{loss}", "--huber-delta=-1e-3"],
            "--huber-delta must be a finite number > 0, got -0.001",
        ),
        (
            ["loss", "{loss}", "--bootstrap", "-1"],
            "--bootstrap must be a finite number >= 0, got -1",
        ),
        (["loss", "{loss}", "--seed", "-2"], "--seed must be a finite number >= 0, got -2"),
    ],
)
def test_nonsense_fit_options_are_one_line_config_errors(tmp_path, capsys, tables, argv, message):
    out = tmp_path / "fits"
    argv = [a.format(**tables) for a in argv]
    line = cli_error(capsys, "fit", *argv, "--out", out)
    assert line == f"llmgeom fit: error: {message}"
    assert not out.exists()


def test_sensible_fit_options_still_run(tmp_path, capsys):
    out = tmp_path / "fits"
    assert (
        main(["fit", "chinchilla", "--alpha-n", "0.3478", "--alpha-n-se", "0", "--out", str(out)])
        == 0
    )
    payload = json.loads((out / "chinchilla_fit.json").read_text())
    assert (payload["alpha_n"], payload["alpha_n_se"]) == (0.3478, 0.0)
    assert payload["alpha_m"] == pytest.approx(payload["k"] * 0.3478, rel=1e-12)
