"""The Source registry behind ``load_unembedding``, file formats, and HeadMetadata ownership."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch

import llmgeom
from llmgeom.errors import ConfigError, SourceNotFoundError
from llmgeom.sources import (
    Source,
    find_source,
    locate_head,
    register_source,
    registered_sources,
    unregister_source,
)
from llmgeom.sources.files import FILE_FORMATS, SUFFIX_FORMATS, FileFormat, register_file_format
from llmgeom.unembedding import HeadMetadata, Unembedding


def test_builtin_sources_in_order():
    names = [s.name for s in registered_sources()]
    assert names == ["unembedding", "array", "module", "local-dir", "local-file", "hub"]
    assert all(isinstance(s, Source) for s in registered_sources())


def test_each_kind_of_object_goes_to_its_source(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((4, 2), dtype=np.float32))
    u = Unembedding(torch.ones(3, 2), HeadMetadata("<x>", "array"))
    cases = {
        "unembedding": u,
        "array": np.ones((3, 2)),
        "module": torch.nn.Linear(2, 3),
        "local-dir": tmp_path,
        "local-file": tmp_path / "w.npy",
        "hub": "org/some-model",
    }
    for name, obj in cases.items():
        assert find_source(obj).name == name, name
    assert find_source(str(tmp_path / "w.npy")).name == "local-file"
    assert llmgeom.load_unembedding(u) is u


def test_nothing_matches():
    with pytest.raises(TypeError, match="cannot load an output embedding from dict"):
        llmgeom.load_unembedding({"a": 1})
    with pytest.raises(SourceNotFoundError, match=r"no such file or directory: \./missing\.npy"):
        llmgeom.load_unembedding("./missing.npy")


class _Csv:
    """A user source: comma-separated text files of numbers, registered before the Hub."""

    name = "csv-test"

    def can_load(self, obj):
        return isinstance(obj, str | os.PathLike) and str(obj).endswith(".csv")

    def locate(self, obj, *, tensor=None, revision=None):
        raise NotImplementedError

    def load(self, obj, *, tensor=None, revision=None):
        rows = [[float(x) for x in line.split(",")] for line in Path(obj).read_text().split()]
        return Unembedding(torch.tensor(rows), HeadMetadata(str(obj), "csv"))


@pytest.fixture
def csv_source():
    register_source(_Csv(), before="local-dir")
    yield
    unregister_source("csv-test")


def test_a_user_source_is_asked_in_its_place(tmp_path, csv_source):
    path = tmp_path / "w.csv"
    path.write_text("1,2\n3,4\n5,6\n")
    names = [s.name for s in registered_sources()]
    assert names.index("csv-test") == names.index("local-dir") - 1
    u = llmgeom.load_unembedding(path)
    assert u.meta.source_kind == "csv" and u.weight.tolist() == [[1, 2], [3, 4], [5, 6]]
    assert u.meta.n_rows == 3  # derived fields filled by Unembedding for any source


def test_registration_errors(csv_source):
    with pytest.raises(ConfigError, match="already registered"):
        register_source(_Csv())
    with pytest.raises(ConfigError, match="no source called 'nope'"):
        register_source(type("S", (_Csv,), {"name": "s2"})(), before="nope")
    with pytest.raises(TypeError, match="not a Source"):
        register_source(object())
    with pytest.raises(ConfigError, match="no source called"):
        unregister_source("never-registered")


def test_locate_head_goes_through_the_registry(tmp_path):
    np.save(tmp_path / "w.npy", np.ones((5, 3), dtype=np.float32))
    loc = locate_head(tmp_path / "w.npy")
    assert (loc.fmt, loc.shape, loc.file) == ("npy", (5, 3), str(tmp_path / "w.npy"))
    with pytest.raises(NotImplementedError):
        find_source(torch.ones(2, 2)).locate(torch.ones(2, 2))


def test_a_user_file_format(tmp_path):
    def load(path, tensor):
        return Unembedding(
            torch.from_numpy(np.loadtxt(path, ndmin=2)), HeadMetadata(str(path), "file")
        )

    fmt = FileFormat("txt-test", (".TXTW",), lambda p, t: None, load)
    register_file_format(fmt)
    try:
        (tmp_path / "w.txtw").write_text("1 2\n3 4\n")
        assert llmgeom.load_unembedding(tmp_path / "w.txtw").weight.tolist() == [[1, 2], [3, 4]]
        with pytest.raises(ConfigError, match="already registered"):
            register_file_format(fmt)
    finally:
        del FILE_FORMATS["txt-test"], SUFFIX_FORMATS[".txtw"]


def test_unembedding_leaves_the_callers_metadata_alone():
    meta = HeadMetadata("<shared>", "array", extra={"k": 1})
    a = Unembedding(torch.ones(4, 2, dtype=torch.float16), meta)
    b = Unembedding(torch.ones(6, 3), meta)
    assert dataclasses.astuple(meta) == dataclasses.astuple(
        HeadMetadata("<shared>", "array", extra={"k": 1})
    )
    assert (a.meta.n_rows, a.meta.head_width, a.meta.stored_dtype) == (4, 2, "float16")
    assert (b.meta.n_rows, b.meta.head_width, b.meta.stored_dtype) == (6, 3, "float32")
    a.meta.extra["k"] = 2
    assert meta.extra == {"k": 1} and b.meta.extra == {"k": 1}
    kept = Unembedding(torch.ones(2, 2), HeadMetadata("<x>", "array", stored_dtype="bfloat16"))
    assert kept.meta.stored_dtype == "bfloat16"  # a stated stored dtype is kept
