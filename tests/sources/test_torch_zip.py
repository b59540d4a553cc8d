"""Planning and reading one tensor of a zip-format torch.save file (llmgeom.sources.torch_zip)."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import pytest
import torch

from llmgeom.errors import CorruptCheckpointError, NetworkError, TensorNotFoundError
from llmgeom.sources.range_file import RangeFile
from llmgeom.sources.torch_zip import (
    ZipLayoutError,
    index_zip_checkpoint,
    plan_zip_tensor,
    read_zip_tensor,
    tensor_from_plan,
)


def _saved(obj: object, **kwargs) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return buf.getvalue()


def _state(dtype: torch.dtype) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "decoder.embed_tokens.weight": torch.randn(80, 16, generator=g).to(dtype),
        "decoder.layers.0.fc1.weight": torch.randn(64, 16, generator=g).to(dtype),
        "decoder.final_layer_norm.weight": torch.ones(16, dtype=dtype),
    }


def _tensor_bytes(t: torch.Tensor) -> bytes:
    return t.contiguous().view(torch.uint8).numpy().tobytes()


def _rewrite(
    data: bytes,
    *,
    compress: str | None = None,
    zip64: bool = False,
    replace: dict[str, bytes] | None = None,
) -> bytes:
    """Copy a torch.save archive entry by entry with Python's zipfile (other layouts)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = (replace or {}).get(info.filename, src.read(info.filename))
            kind = zipfile.ZIP_DEFLATED if info.filename == compress else zipfile.ZIP_STORED
            new = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))
            new.compress_type = kind
            with dst.open(new, "w", force_zip64=zip64) as fh:
                fh.write(body)
    return out.getvalue()


@pytest.mark.parametrize("dtype", [torch.float16, torch.float32, torch.bfloat16])
def test_plan_and_read_in_memory_and_on_disk(dtype, tmp_path):
    state = _state(dtype)
    data = _saved(state)
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(data)
    for name, tensor in state.items():
        plan = plan_zip_tensor(io.BytesIO(data), name)
        assert plan.dtype == dtype and plan.shape == tuple(tensor.shape)
        assert plan.nbytes == tensor.numel() * tensor.element_size()
        assert data[plan.start : plan.stop] == _tensor_bytes(tensor)  # the exact byte range
        assert plan.start % 64 == 0  # torch aligns storages (local-header padding) ...
        info = zipfile.ZipFile(io.BytesIO(data)).getinfo(plan.record)
        assert plan.data_start > info.header_offset + 30 + len(info.filename)  # ... so extra>0
        got = read_zip_tensor(io.BytesIO(data), plan)
        assert got.dtype == dtype and torch.equal(got, tensor)
        with path.open("rb") as fh:
            assert torch.equal(read_zip_tensor(fh, plan_zip_tensor(fh, name)), tensor)
        assert torch.equal(tensor_from_plan(data[plan.start : plan.stop], plan), tensor)


def test_range_file_few_small_requests():
    state = _state(torch.float16)
    state["big.weight"] = torch.zeros(512, 1024, dtype=torch.float16)  # 1 MiB the plan skips
    data = _saved(state)
    asked: list[tuple[int, int]] = []

    def read_range(start: int, stop: int) -> bytes:
        asked.append((start, stop))
        return data[start:stop]

    reader = RangeFile(len(data), read_range, block_bytes=4096)
    plan = plan_zip_tensor(reader, "decoder.embed_tokens.weight")
    planning = reader.bytes_fetched
    # central directory + data.pkl + a local header: a few 4 kB blocks, never the 1 MiB tensor
    assert len(asked) <= 8 and planning <= 8 * 4096 < len(data) // 30
    tensor = read_zip_tensor(reader, plan)
    assert torch.equal(tensor, state["decoder.embed_tokens.weight"])
    assert reader.bytes_fetched - planning <= plan.nbytes + 2 * 4096
    assert all(0 <= a < b <= len(data) for a, b in asked)


def test_views_sharing_a_storage_read_their_own_bytes():
    base = torch.arange(40, dtype=torch.float32).reshape(10, 4)
    data = _saved({"full": base, "tail": base[3:], "row": base[7]})
    index = index_zip_checkpoint(io.BytesIO(data))
    assert index.tensors["tail"].key == index.tensors["full"].key  # one storage, three tensors
    tail, full = index.plan("tail"), index.plan("full")
    assert tail.storage_offset == 12 and tail.start == full.start + 12 * 4
    assert torch.equal(read_zip_tensor(io.BytesIO(data), tail), base[3:])
    assert torch.equal(read_zip_tensor(io.BytesIO(data), index.plan("row")), base[7])
    # a slice saved alone keeps its whole storage and its offset
    alone = _saved({"w": base[2:5]})
    plan = plan_zip_tensor(io.BytesIO(alone), "w")
    assert plan.storage_offset == 8 and torch.equal(
        read_zip_tensor(io.BytesIO(alone), plan), base[2:5]
    )


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
        plan_zip_tensor(io.BytesIO(data), "w")
    with pytest.raises(ZipLayoutError):
        plan_zip_tensor(io.BytesIO(b"not a checkpoint at all" * 10), "w")


def test_compressed_storage_is_a_fallback_signal():
    data = _saved({"w": torch.ones(64, 8)})
    root = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    squeezed = _rewrite(data, compress=f"{root}/data/0")
    assert torch.equal(torch.load(io.BytesIO(squeezed), weights_only=True)["w"], torch.ones(64, 8))
    with pytest.raises(ZipLayoutError, match="compressed"):
        plan_zip_tensor(io.BytesIO(squeezed), "w")


def test_zip64_and_unpadded_local_headers():
    state = _state(torch.float16)
    data = _rewrite(_saved(state), zip64=True)  # zip64 extra fields in the local headers only
    for name, tensor in state.items():
        plan = plan_zip_tensor(io.BytesIO(data), name)
        assert torch.equal(read_zip_tensor(io.BytesIO(data), plan), tensor)


def test_big_endian_checkpoint_is_a_fallback_signal():
    data = _saved({"w": torch.ones(2, 2)})
    root = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    flipped = _rewrite(data, replace={f"{root}/byteorder": b"big"})
    with pytest.raises(ZipLayoutError, match="big-endian"):
        plan_zip_tensor(io.BytesIO(flipped), "w")


def test_truncated_file_is_a_fallback_signal():
    data = _saved(_state(torch.float16))
    with pytest.raises(ZipLayoutError):
        plan_zip_tensor(io.BytesIO(data[: len(data) // 2]), "decoder.embed_tokens.weight")


def test_nested_state_dict_and_missing_name():
    data = _saved({"state_dict": {"w": torch.ones(2, 3)}, "epoch": 3})
    assert torch.equal(
        read_zip_tensor(io.BytesIO(data), plan_zip_tensor(io.BytesIO(data), "w")), torch.ones(2, 3)
    )
    with pytest.raises(TensorNotFoundError, match="no_such"):
        plan_zip_tensor(io.BytesIO(data), "no_such")
    with pytest.raises(CorruptCheckpointError, match="not a state dict"):
        plan_zip_tensor(io.BytesIO(_saved([torch.ones(2)])), "w")


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_without_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    data = _saved({"w": torch.ones(2, 2)})
    root = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    evil = pickle.dumps({"w": _Evil(str(marker))}, protocol=2)
    assert b"mkdir" in evil
    bad = _rewrite(data, replace={f"{root}/data.pkl": evil})
    with pytest.raises(CorruptCheckpointError, match="refused") as err:
        plan_zip_tensor(io.BytesIO(bad), "w")
    assert not isinstance(err.value, ZipLayoutError)  # never a fallback to torch.load
    assert not marker.exists()


def test_reader_errors_are_not_fallback_signals():
    data = _saved({"w": torch.ones(2, 2)})

    def flaky(start: int, stop: int) -> bytes:
        raise NetworkError("the Hub is down")

    with pytest.raises(NetworkError, match="down"):  # zipfile would call it "not a zip file"
        plan_zip_tensor(RangeFile(len(data), flaky), "w")
    short = RangeFile(len(data), lambda a, b: data[a : b - 1])
    with pytest.raises(ZipLayoutError, match="short read"):
        plan_zip_tensor(short, "w")


# ------------------------------------------------------ torch.load(meta) first, planner fallback


def test_torch_written_files_are_planned_by_torch_load(monkeypatch):
    """torch.load(map_location="meta") describes the tensors; llmgeom's own pickle parser is
    not called, and the storage offset torch reports is the one the local header gives."""
    from llmgeom.sources import torch_zip

    def no_planner(*args, **kwargs):
        raise AssertionError("the planner must not run for a file torch wrote")

    monkeypatch.setattr(torch_zip, "_parse_pickle", no_planner)
    state = _state(torch.bfloat16)
    # a real checkpoint's many tensors: a central directory longer than miniz's 4 KiB scan
    state.update({f"decoder.layers.{i}.bias": torch.full((3,), float(i)) for i in range(100)})
    state["big.weight"] = torch.zeros(512, 1024, dtype=torch.float16)  # 1 MiB never read
    data = _saved(state)
    index = index_zip_checkpoint(io.BytesIO(data))
    for name, tensor in state.items():
        assert index.tensors[name].data_offset is not None
        plan = index.plan(name)
        assert data[plan.start : plan.stop] == _tensor_bytes(tensor)
    reader = RangeFile(len(data), lambda a, b: data[a:b], block_bytes=4096)
    plan = plan_zip_tensor(reader, "decoder.embed_tokens.weight")
    # central directory (cached for torch's scan), data.pkl, the head's local header
    assert reader.calls <= 5 and reader.bytes_fetched <= 10 * 4096 < len(data) // 20
    assert torch.equal(read_zip_tensor(reader, plan), state["decoder.embed_tokens.weight"])


def test_torch_records_storage_offsets_on_meta_loads():
    """Pins the one private name the torch.load path uses: if a torch release drops
    ``_checkpoint_offset``, this fails loudly (llmgeom itself then falls back to the planner)."""
    from llmgeom.sources.torch_zip import meta_offsets_supported

    buf = io.BytesIO(_saved({"a": torch.ones(3), "b": torch.zeros(5, dtype=torch.float16)}))
    state = torch.load(buf, map_location="meta", weights_only=True)
    offsets = [state[k].untyped_storage()._checkpoint_offset for k in ("a", "b")]
    data = buf.getvalue()
    assert data[offsets[0] : offsets[0] + 12] == _tensor_bytes(torch.ones(3))
    assert data[offsets[1] : offsets[1] + 10] == _tensor_bytes(torch.zeros(5, dtype=torch.float16))
    assert meta_offsets_supported() is True


def test_repacked_archive_is_planned_from_its_local_headers():
    """A zip re-written by another tool (no torch padding): torch's derived offsets are wrong,
    the local header disagrees, and the planner reads the right bytes."""
    state = _state(torch.float32)
    data = _rewrite(_saved(state))
    index = index_zip_checkpoint(io.BytesIO(data))
    for name, tensor in state.items():
        assert torch.equal(read_zip_tensor(io.BytesIO(data), index.plan(name)), tensor)
    assert all(info.data_offset is None for info in index.tensors.values())  # planner's infos


def test_planner_fallback_reads_a_few_small_ranges(monkeypatch):
    """With torch's offsets unavailable, the planner still costs a few small reads."""
    from llmgeom.sources import torch_zip

    monkeypatch.setattr(torch_zip, "meta_offsets_supported", lambda: False)
    state = _state(torch.float16)
    state["big.weight"] = torch.zeros(512, 1024, dtype=torch.float16)
    data = _saved(state)
    reader = RangeFile(len(data), lambda a, b: data[a:b], block_bytes=4096)
    plan = plan_zip_tensor(reader, "decoder.embed_tokens.weight")
    assert reader.calls <= 8 and reader.bytes_fetched <= 8 * 4096
    assert torch.equal(read_zip_tensor(reader, plan), state["decoder.embed_tokens.weight"])


def test_a_torch_without_the_private_names_is_a_fallback_signal(monkeypatch):
    """No _checkpoint_offset and no weights_only unpickler: ZipLayoutError (the Hub source
    then downloads the one shard whole, with a WholeFileDownloadWarning)."""
    import torch._weights_only_unpickler as wou

    from llmgeom.sources import torch_zip

    monkeypatch.setattr(torch_zip, "meta_offsets_supported", lambda: False)
    monkeypatch.delattr(wou, "Unpickler")
    with pytest.raises(ZipLayoutError, match="no weights_only unpickler"):
        plan_zip_tensor(io.BytesIO(_saved({"w": torch.ones(2, 2)})), "w")


def test_old_archives_without_format_version_use_the_planner():
    """Files from torch < 2.6 have no .format_version: torch would read every storage's local
    header (one request each on the Hub); the planner reads only the head's."""
    data = _saved(_state(torch.float32))
    root = zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split("/")[0]
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            if info.filename != f"{root}/.format_version":
                dst.writestr(info, src.read(info.filename))
    old = out.getvalue()
    index = index_zip_checkpoint(io.BytesIO(old))
    assert all(info.data_offset is None for info in index.tensors.values())
    plan = index.plan("decoder.layers.0.fc1.weight")
    expected = _state(torch.float32)["decoder.layers.0.fc1.weight"]
    assert torch.equal(read_zip_tensor(io.BytesIO(old), plan), expected)
