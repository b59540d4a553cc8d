"""Fuzz tests of the configs and records llmgeom reads (issue 19): the sweep and toy TOML
configs and the JSON result records read by ``fit`` and ``report``, each mutated structurally
(values of other types, extreme numbers, odd strings, keys dropped, renamed or written twice,
deep nesting: ``tests/fuzz_struct.py``) and byte by byte, through the property of
``tests/fuzz_harness.py`` (the reference reader's result or a typed error, never another
exception, hang, memory growth or side effect). The long campaign is ``benchmarks/fuzz.py``;
every input that once broke a target is replayed from ``tests/fuzz_regressions/``.
"""

from __future__ import annotations

import os
import random
import tempfile
from pathlib import Path

import fuzz_targets_config as targets
import pytest
from fuzz_harness import apply_mutations, mutation_ops, regressions
from fuzz_struct import random_struct_ops, variant_name
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

BY_NAME = {t.name: t for t in targets.TARGETS}
#: examples per target: the TOML targets take ~2 ms an input, the records ~30-100 ms
EXAMPLES = {
    "sweep-toml": 80,
    "toy-toml": 80,
    "record-json": 30,
    "report-folder": 12,
    "fit-overlap": 15,
    "tokens-json": 20,
}
#: LLMGEOM_FUZZ_SCALE=100 multiplies the examples: a long structural campaign through these tests
#: (half the examples without byte mutations, which the byte-level campaign of
#: ``benchmarks/fuzz.py`` rarely leaves parseable)
SCALE = int(os.environ.get("LLMGEOM_FUZZ_SCALE", "1"))
FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _parsed(target: str, seed: str):
    import json
    import tomllib

    text = targets.replay_seed(target, seed).decode("utf-8")
    return json.loads(text) if seed.endswith(".json") else tomllib.loads(text)


def _bases(target: str) -> list[str]:
    bases = targets._bases(target)
    if target == "fit-overlap":
        return sorted(k for k in bases if ".raw." in k)
    return sorted(bases)


def _run(target: str, seed: str, ops) -> None:
    data = apply_mutations(targets.replay_seed(target, seed), ops)
    with tempfile.TemporaryDirectory(prefix="llmgeom-fuzz-") as folder:
        BY_NAME[target].run(Path(folder), data)


@pytest.mark.parametrize("target", sorted(EXAMPLES))
def test_structural_and_byte_mutations_keep_the_property(target):
    targets.warm_up(target)
    names = _bases(target)

    @settings(FUZZ, max_examples=EXAMPLES[target] * SCALE)
    @given(
        base=st.sampled_from(names),
        rnd=st.randoms(use_true_random=False),
        byte_ops=st.one_of(st.just([]), mutation_ops()),
    )
    def fuzz(base, rnd, byte_ops):
        ops = random_struct_ops(rnd, _parsed(target, base), json_doc=base.endswith(".json"))
        _run(target, variant_name(base, ops), byte_ops)

    fuzz()


@pytest.mark.parametrize("target", sorted(EXAMPLES))
def test_kept_inputs_replay(target):
    kept = regressions(target)
    assert kept, f"no regression inputs kept for {target}"
    for seed, ops in kept:
        _run(target, seed, ops)


def test_the_seeds_themselves_are_read_as_their_files_say():
    """The unmutated seeds pass with their reference's result (not only typed errors): the
    comparisons of the targets are not vacuous."""
    for target in EXAMPLES:
        with tempfile.TemporaryDirectory() as folder:
            for k, (name, data) in enumerate(sorted(targets._bases(target).items())[:6]):
                companion = name.split(".")[0] in targets.FIT_COMPANIONS  # a model twice
                if target == "fit-overlap" and (".raw." not in name or companion):
                    continue
                sub = Path(folder) / str(k)
                sub.mkdir()
                outcome = BY_NAME[target].run(sub, data)
                assert outcome.kind == "same", (target, name, outcome)


def test_a_toml_variant_replays_from_its_name():
    rng = random.Random(1)
    ops = random_struct_ops(rng, _parsed("toy-toml", "toy-quick.toml"))
    name = variant_name("toy-quick.toml", ops)
    assert targets.replay_seed("toy-toml", name) == targets.replay_seed("toy-toml", name)
    assert targets.replay_seed("toy-toml", name) != targets.replay_seed(
        "toy-toml", "toy-quick.toml"
    )


def test_a_toy_name_and_description_must_be_strings():
    """Found by the fuzzing: a TOML table or nested arrays were taken as the experiment's name
    (its file names) and description."""
    from llmgeom.errors import ConfigError
    from llmgeom.toy.config import config_from_dict

    with pytest.raises(ConfigError, match="name must be a non-empty string"):
        config_from_dict({"n": 20, "m": [2, 3, 4], "name": {"value": "x"}})
    with pytest.raises(ConfigError, match="description must be a string"):
        config_from_dict({"n": 20, "m": [2, 3, 4], "description": [[1]]})


def test_a_token_summary_reads_only_the_table_beside_it(tmp_path):
    """A summary naming a table elsewhere (``../x``, an absolute path) is refused: the table is
    written beside its summary, and a stranger's summary must not make llmgeom read any file."""
    import json

    from llmgeom.errors import ConfigError
    from llmgeom.records.token_table import TokenTable

    summary = json.loads(targets._token_table_files()["parquet.json"])
    for name in ("../head.tokens.parquet", "/etc/hostname", ".."):
        summary["files"]["table"] = name
        path = tmp_path / "head.tokens.json"
        path.write_text(json.dumps(summary))
        with pytest.raises(ConfigError, match="is not a file name"):
            TokenTable.load(path)
