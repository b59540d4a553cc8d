"""Planning and reading one tensor of a zip-format torch.save file
(llmgeom.sources.formats.torch_zip).

The oracle is ``torch.load(..., weights_only=True)``: the planned bytes must give its tensors bit
for bit, on archives written by torch, without ``.format_version`` (torch < 2.6) and re-packed.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import zipfile

import pytest
import torch

from llmgeom.errors import CorruptCheckpointError, NetworkError, TensorNotFoundError
from llmgeom.sources.formats.range_file import RangeFile
from llmgeom.sources.formats.torch_zip import ZipLayoutError, index_zip_checkpoint, tensor_from_plan


def _saved(obj: object, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def _state(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "decoder.embed_tokens.weight": (torch.randn(80, 16, generator=g) * 50).to(dtype),
        "decoder.layers.0.fc1.weight": (torch.randn(64, 16, generator=g) * 50).to(dtype),
        "decoder.final_layer_norm.weight": torch.ones(16, dtype=dtype),
    }


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes()


def _root(data: bytes) -> str:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]


def _rewrite(
    data: bytes,
    *,
    compress: str | None = None,
    zip64: bool = False,
    replace: dict[str, bytes] | None = None,
    drop: str | None = None,
) -> bytes:
    """Copy a torch.save archive entry by entry with Python's zipfile (other layouts)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename == drop:
                continue
            body = (replace or {}).get(info.filename, src.read(info.filename))
            kind = zipfile.ZIP_DEFLATED if info.filename == compress else zipfile.ZIP_STORED
            new = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            new.compress_type = kind
            with dst.open(new, "w", force_zip64=zip64) as fh:
                fh.write(body)
    return out.getvalue()


def _without_format_version(data: bytes) -> bytes:
    """The layout torch < 2.6 wrote (every OPT checkpoint on the Hub): no .format_version."""
    return _rewrite(data, drop=f"{_root(data)}/.format_version")


def _plan(data: bytes, name: str):
    return index_zip_checkpoint(io.BytesIO(data)).plan(name)


def _read(data: bytes, plan) -> torch.Tensor:
    return tensor_from_plan(data[plan.start : plan.stop], plan)


DTYPES = [
    torch.float32,
    torch.float16,
    torch.bfloat16,
    torch.float64,
    torch.int64,
    torch.int8,
    torch.uint8,
    torch.bool,
    torch.uint16,  # saved with _rebuild_tensor_v3 and an UntypedStorage
    torch.float8_e4m3fn,
    torch.complex64,
]


@pytest.mark.parametrize("layout", ["torch", "no-format-version", "repacked"])
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_planned_bytes_are_torch_load_bit_for_bit(dtype, layout, tmp_path):
    state = _state(dtype)
    grad = dtype.is_floating_point or dtype.is_complex  # a Parameter: _rebuild_parameter
    state["decoder.layers.0.fc1.bias"] = torch.nn.Parameter(
        state["decoder.final_layer_norm.weight"], grad
    )
    data = _saved(state)
    if layout == "no-format-version":
        data = _without_format_version(data)
    elif layout == "repacked":  # Python's zipfile: no alignment padding in the local headers
        data = _rewrite(data)
    oracle = torch.load(io.BytesIO(data), weights_only=True)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(data)
    index = index_zip_checkpoint(io.BytesIO(data))
    assert index.shapes == {k: tuple(v.shape) for k, v in oracle.items()}
    for name, expected in oracle.items():
        plan = index.plan(name)
        got = _read(data, plan)
        assert got.dtype == expected.dtype == dtype and got.shape == expected.shape
        assert _tensor_bytes(got) == _tensor_bytes(expected)  # bit for bit (NaNs included)
        with path.open("rb") as fh:
            assert index_zip_checkpoint(fh).plan(name) == plan
        if layout == "torch":  # torch aligns storages: its local headers carry padding
            info = zipfile.ZipFile(io.BytesIO(data)).getinfo(f"{_root(data)}/data/{plan.key}")
            assert plan.start % 64 == 0 and plan.start > info.header_offset + 30 + len(
                info.filename
            )


@pytest.mark.parametrize("layout", ["torch", "no-format-version"])
def test_requests_do_not_grow_with_the_number_of_storages(layout):
    """200 storages of 64 KiB: planning costs the same few range requests as for one.

    ``torch.load(map_location="meta")`` on the archive without ``.format_version`` reads every
    storage's local header: one request per storage (201 here)."""
    state = {f"layers.{i}.weight": torch.full((16384,), float(i)) for i in range(200)}
    data = _saved(state)
    data = _without_format_version(data) if layout != "torch" else data
    reader = RangeFile(len(data), lambda a, b: data[a:b])
    plan = index_zip_checkpoint(reader).plan("layers.117.weight")
    assert reader.calls <= 4 and reader.bytes_fetched <= 4 * 64 * 1024 < len(data) / 50
    planning = reader.calls
    got = tensor_from_plan(reader.pread(plan.start, plan.nbytes), plan)
    assert reader.calls == planning + 1 and torch.equal(got, state["layers.117.weight"])
    meta = RangeFile(len(data), lambda a, b: data[a:b])
    torch.load(meta, map_location="meta", weights_only=True)
    if layout != "torch":
        assert meta.calls > 200 > 50 * planning


def test_range_file_few_small_requests():
    state = _state(torch.float16)
    state["big.weight"] = torch.zeros(512, 1024, dtype=torch.float16)  # 1 MiB the plan skips
    data = _saved(state)
    asked: list[tuple[int, int]] = []

    def read_range(start: int, stop: int) -> bytes:
        asked.append((start, stop))
        return data[start:stop]

    reader = RangeFile(len(data), read_range, block_bytes=4096)
    plan = index_zip_checkpoint(reader).plan("decoder.embed_tokens.weight")
    planning = reader.bytes_fetched
    # central directory + data.pkl + a local header: a few 4 kB blocks, never the 1 MiB tensor
    assert len(asked) <= 8 and planning <= 8 * 4096 < len(data) // 30
    tensor = tensor_from_plan(reader.pread(plan.start, plan.nbytes), plan)
    assert torch.equal(tensor, state["decoder.embed_tokens.weight"])
    assert reader.bytes_fetched - planning <= plan.nbytes + 2 * 4096
    assert all(0 <= a < b <= len(data) for a, b in asked)


def test_views_sharing_a_storage_read_their_own_bytes():
    base = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    data = _saved({"full": base, "tail": base[3:], "row": base[7]})
    index = index_zip_checkpoint(io.BytesIO(data))
    assert index.tensors["tail"].storage == index.tensors["full"].storage  # one storage
    tail, full = index.plan("tail"), index.plan("full")
    assert tail.key == full.key and tail.start == full.start + 12 * 4
    assert torch.equal(_read(data, tail), base[3:])
    assert torch.equal(_read(data, index.plan("row")), base[7])
    # a slice saved alone keeps its whole storage and its offset
    alone = _saved({"w": base[2:5]})
    plan = _plan(alone, "w")
    assert plan.nbytes == 48 and torch.equal(_read(alone, plan), base[2:5])
    assert torch.equal(torch.load(io.BytesIO(alone), weights_only=True)["w"], base[2:5])


def test_non_contiguous_is_a_fallback_signal():
    data = _saved({"t": torch.randn(4, 6).t(), "cols": torch.randn(6, 6)[:, :3]})
    index = index_zip_checkpoint(io.BytesIO(data))
    assert index.shapes == {"t": (6, 4), "cols": (6, 3)}
    for name in ("t", "cols"):
        with pytest.raises(ZipLayoutError, match="not contiguous"):
            index.plan(name)


def test_legacy_format_is_a_fallback_signal(tmp_path):
    data = _saved({"w": torch.ones(3, 2)}, _use_new_zipfile_serialization=False)
    with pytest.raises(ZipLayoutError, match="legacy"):
        _plan(data, "w")
    with pytest.raises(ZipLayoutError):
        _plan(b"not a checkpoint at all" * 10, "w")


def test_compressed_storage_is_a_fallback_signal():
    data = _saved({"w": torch.ones(64, 8)})
    squeezed = _rewrite(data, compress=f"{_root(data)}/data/0")
    assert torch.equal(torch.load(io.BytesIO(squeezed), weights_only=True)["w"], torch.ones(64, 8))
    with pytest.raises(ZipLayoutError, match="compressed"):
        _plan(squeezed, "w")


def test_zip64_and_unpadded_local_headers():
    state = _state(torch.float16)
    data = _rewrite(_saved(state), zip64=True)  # zip64 extra fields in the local headers only
    for name, tensor in state.items():
        assert torch.equal(_read(data, _plan(data, name)), tensor)


def test_big_endian_checkpoint_is_a_fallback_signal():
    data = _saved({"w": torch.ones(2, 2)})
    flipped = _rewrite(data, replace={f"{_root(data)}/byteorder": b"big"})
    with pytest.raises(ZipLayoutError, match="big-endian"):
        _plan(flipped, "w")


def test_truncated_file_is_a_fallback_signal():
    data = _saved(_state(torch.float16))
    with pytest.raises(ZipLayoutError):
        _plan(data[: len(data) // 2], "decoder.embed_tokens.weight")


def test_nested_state_dict_and_missing_name():
    data = _saved({"state_dict": {"w": torch.ones(2, 3)}, "epoch": 3})
    assert torch.equal(_read(data, _plan(data, "w")), torch.ones(2, 3))
    with pytest.raises(TensorNotFoundError, match="no_such"):
        _plan(data, "no_such")
    with pytest.raises(CorruptCheckpointError, match="not a state dict"):
        _plan(_saved([torch.ones(2)]), "w")


@pytest.mark.parametrize(
    "extra",
    [
        torch.Size([2, 3]),
        torch.device("cpu"),
        {1, 2},
        torch.ones(4, 4).to_sparse(),
        torch.ones(2, dtype=torch.complex64).conj(),  # its bytes are not its values
    ],
    ids=["size", "device", "set", "sparse", "conj"],
)
def test_safe_but_unplanned_globals_are_a_fallback_signal(extra):
    """What torch.load(weights_only=True) reads but the planner does not: ZipLayoutError (the
    caller then reads the whole file with torch.load), never a refusal."""
    data = _saved({"w": torch.ones(2, 2), "extra": extra})
    loaded = torch.load(io.BytesIO(data), weights_only=True)
    assert torch.equal(loaded["w"], torch.ones(2, 2))
    with pytest.raises(ZipLayoutError):
        _plan(data, "w")


def test_dtypes_and_plain_values_in_the_state_dict_are_skipped():
    data = _saved({"w": torch.ones(2, 2), "dtype": torch.float16, "epoch": 3, "name": "opt"})
    index = index_zip_checkpoint(io.BytesIO(data))
    assert index.shapes == {"w": (2, 2)}
    assert torch.equal(_read(data, index.plan("w")), torch.ones(2, 2))


class _Evil:
    def __init__(self, func, *args) -> None:
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


@pytest.mark.parametrize("how", ["os.mkdir", "builtins.eval", "nested"])
def test_malicious_pickle_is_refused_without_side_effect(tmp_path, how):
    marker = tmp_path / "pwned"
    evil = {
        "os.mkdir": _Evil(os.mkdir, str(marker)),
        "builtins.eval": _Evil(builtins.eval, f"__import__('os').mkdir({str(marker)!r})"),
        "nested": {"inner": [_Evil(os.mkdir, str(marker))]},
    }[how]
    data = _saved({"w": torch.ones(2, 2)})
    bad = _rewrite(data, replace={f"{_root(data)}/data.pkl": pickle.dumps({"w": evil}, 2)})
    with pytest.raises(pickle.UnpicklingError):  # the oracle refuses it too
        torch.load(io.BytesIO(bad), weights_only=True)
    with pytest.raises(CorruptCheckpointError, match="refused") as err:
        _plan(bad, "w")
    assert not isinstance(err.value, ZipLayoutError)  # never a fallback to torch.load
    assert not marker.exists()


def test_reader_errors_are_not_fallback_signals():
    data = _saved({"w": torch.ones(2, 2)})

    def flaky(start: int, stop: int) -> bytes:
        raise NetworkError("the Hub is down")

    with pytest.raises(NetworkError, match="down"):  # zipfile would call it "not a zip file"
        index_zip_checkpoint(RangeFile(len(data), flaky))
    short = RangeFile(len(data), lambda a, b: data[a : b - 1])
    with pytest.raises(ZipLayoutError, match="short read"):
        index_zip_checkpoint(short).plan("w")
