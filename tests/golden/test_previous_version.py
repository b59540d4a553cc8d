"""Every number the previous version (llmgeom 0.1, before the 1.0 refactor of issue 16) wrote is
written again: the same inputs (rebuilt by ``make_golden.py``), the same CLI commands, the JSON
compared with the committed ``v0_1/`` files; and every one of those files still loads.

What may differ is listed once, in :data:`IGNORED`, with the reason; floats are compared with
a relative tolerance of 1e-9 (equality is expected, but BLAS thread counts can move the last
bits), everything else exactly. A deliberate change of the file formats goes through
:func:`migrate`, never through a looser comparison.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from golden.make_golden import json_outputs, read_output, run_commands, write_inputs

from llmgeom.fits.io import load_fit
from llmgeom.fits.migration import migrate_fit
from llmgeom.records.measurement import load_record, migrate_record
from llmgeom.text.freq import load_freq_record
from llmgeom.text.loss import load_loss_record
from llmgeom.toy.report import load_result
from llmgeom.toy.seeds import seed_summary

GOLDEN = Path(__file__).resolve().parent / "v0_1"
GOLDEN_FILES = json_outputs(GOLDEN)

pytestmark = pytest.mark.slow  # ~10 s: builds a tiny model zoo and runs 16 commands

RTOL = 1e-9

#: Toy fields computed on rows the previous version normalised as w / (‖w‖ + 1e-9); issue 16 §4
#: put the toy's mean cos² on the engine's exact w / ‖w‖. Over rows with ‖w‖ > 0.5 (all these
#: fields use) that moves each cos² by a relative 2·1e-9/‖w‖ ≤ 4e-9, so they are compared at
#: 1e-8 (measured: at most 5.4e-9); every other toy number stays at RTOL.
TOY_EPSILON_FIELDS = frozenset({"mean_cos2_strong", "mean_cos2_norm_gt_half", "m_cos2_strong"})
TOY_EPSILON_RTOL = 1e-8

#: The toy trainer's step sums in another order since issue 17 §4 (single-feature samples share
#: one product per distinct feature, stacks are stepped in chunks): float32 rounding moves the toy
#: numbers by up to 5.2e-7 relative (measured), so toy results are compared at 1e-5.
TOY_TRAINING_RTOL = 1e-5

#: Keys this version writes that the previous version's documents cannot hold (nothing to
#: compare them with): the toy's row_norms (every row norm of a trained W, Fig 6a-d).
NEW_KEYS = frozenset({"row_norms"})

#: Fields that differ from run to run or machine to machine, never a result, as key paths from
#: the document's top level. They are skipped on both sides; nothing else is.
IGNORED: dict[tuple[str, ...], str] = {
    ("created",): "when the file was written",
    ("timings",): "durations and rates: measure, loss, freq and toy (wall_s, ms_per_step, ...)",
    ("environment",): "package versions, python, platform, device name: measure, loss, freq",
    ("versions",): "package versions and platform: the toy result",
    ("variant", "matmul_gflops"): "measure: this machine's live matmul benchmark",
    ("variant", "exact_pass_estimate_s"): "measure: time predicted from that benchmark",
}

#: Blocks this version writes and the previous one did not, as key paths from the document's top
#: level: new results that no old number can be mapped to (a rename or a move goes through
#: :func:`migrate`). Each is skipped only where the previous document lacks it, so whatever the
#: previous version did write is still compared; its numbers are checked by their own tests.
ADDED: dict[tuple[str, ...], str] = {
    ("spectrum",): "measure: the spectrum of the Gram matrix, issue 18 §2 (tests/test_spectrum.py)",
}


def migrate(relative: Path, previous: dict[str, Any]) -> dict[str, Any]:
    """The previous version's document ``previous`` (the golden file ``relative``) in today's
    format: the measurement records gained the settings of the pair rule (below) and went to
    schema ``llmgeom.measurement/2`` (one name per quantity: the library's own migration,
    :func:`llmgeom.records.measurement.migrate_record`), the fit results to ``/2`` (one name
    per quantity: :func:`llmgeom.fits.migration.migrate_fit`); nothing else has changed.

    The one place to absorb a deliberate format change (a schema bump, a renamed or moved key):
    map the old document to the new layout here, with the same numbers (e.g. through the
    library's own tested migration of old records), and say why in a comment. Never drop a
    number here that the new version still reports.
    """
    if previous.get("schema") == "llmgeom.measurement/1":
        previous = migrate_record(_with_pair_rule_settings(previous))
    if previous.get("schema") == "llmgeom.toy.result/2" and "seed_summary" not in previous:
        # α_m over seeds (issue 17 §4): the library's summary of the previous version's runs
        previous = {**previous, "seed_summary": seed_summary(previous["runs"])}
    if str(previous.get("schema")).startswith("llmgeom.fit."):
        # the fit results went to /2 (one name per quantity: the overlap points'
        # ratio_to_random is m_times_mean_cos2, the Chinchilla alpha_N is alpha_n): the
        # library's own migration, llmgeom.fits.migration.migrate_fit
        previous = migrate_fit(previous)
    return previous


def _with_pair_rule_settings(record: dict[str, Any]) -> dict[str, Any]:
    """Issue 16 §7 made ``pairs="auto"`` a fixed rule on the exact pass's FLOP count, with the
    pair sampler's relative ``precision``: every record now states both settings (their
    defaults in these runs, which give no option for them) and, whenever a pass was considered
    (any mode but ``gram``), its FLOP count n(n−1)·m, computed here from the old record's own
    n and m. Only settings are added; no number of the old record changes."""
    new = json.loads(json.dumps(record))
    new["options"] |= {"exact_max_flops": 2e12, "precision": 1e-3}
    # issue 17 §1b: a record carries the user's labels (none in these runs, which give none)
    new["options"] |= {"name": None, "family": None}
    # issue 18 §1: a record says whether the final norm was folded in (these runs never did)
    new["options"] |= {"fold_norm": False}
    new["model"].setdefault("name", None)
    variant = new["variant"]
    if variant["pairs"] != "gram":
        n, m = variant["n_rows_used"], new["stats"]["m"]
        variant["exact_pass_flops"] = float(n * (n - 1) * m)
    return new


def differences(
    previous: Any, current: Any, path: tuple[str, ...] = (), rtol: float = RTOL
) -> list[str]:
    """Where ``current`` differs from ``previous``: one line per difference, as a key path
    (floats compared at ``rtol``)."""
    where = ".".join(path) or "(top)"
    if isinstance(previous, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(previous) | set(current)):
            sub = (*path, key)
            if sub in IGNORED or (sub in ADDED and key not in previous):
                continue
            if key not in current:
                out.append(f"{'.'.join(sub)}: missing now (was {previous[key]!r:.80})")
            elif key not in previous:
                if key in NEW_KEYS:
                    continue
                out.append(f"{'.'.join(sub)}: new key ({current[key]!r:.80})")
            else:
                out += differences(previous[key], current[key], sub, rtol)
        return out
    if isinstance(previous, list) and isinstance(current, list):
        if len(previous) != len(current):
            return [f"{where}: {len(current)} items, was {len(previous)}"]
        return [
            line
            for i, (a, b) in enumerate(zip(previous, current, strict=True))
            for line in differences(a, b, (*path, str(i)), rtol)
        ]
    if type(previous) is float and type(current) is float:
        if path and path[-1] in TOY_EPSILON_FIELDS:
            rtol = max(rtol, TOY_EPSILON_RTOL)
        same = (math.isnan(previous) and math.isnan(current)) or math.isclose(
            previous, current, rel_tol=rtol, abs_tol=0.0
        )
    else:  # exact, type included: 1 is not 1.0, True is not 1
        same = type(previous) is type(current) and previous == current
    return [] if same else [f"{where}: {current!r:.80} (was {previous!r:.80})"]


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[Path, dict[str, Any]]:
    """The golden inputs rebuilt and the golden commands run with this version: its JSON
    outputs by path relative to the output folder, absolute paths replaced as in the fixtures."""
    root = tmp_path_factory.mktemp("previous-version") / "golden"
    with pytest.MonkeyPatch.context() as mp:  # before any command: offline, no user cache
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        write_inputs(root)
        out = run_commands(root)
    return {rel: json.loads(read_output(out / rel, root)) for rel in json_outputs(out)}


def test_the_fixtures_cover_every_analysis() -> None:
    schemas = {json.loads((GOLDEN / rel).read_text())["schema"] for rel in GOLDEN_FILES}
    assert {s.rsplit("/", 1)[0] for s in schemas} == {
        "llmgeom.measurement", "llmgeom.loss", "llmgeom.freq", "llmgeom.fit.overlap",
        "llmgeom.fit.width_loss", "llmgeom.fit.chinchilla", "llmgeom.toy.result",
    }  # fmt: skip


def test_every_file_of_the_previous_version_is_written(written: dict) -> None:
    assert sorted(set(GOLDEN_FILES) - set(written)) == []


@pytest.mark.parametrize("relative", GOLDEN_FILES, ids=str)
def test_same_numbers_as_the_previous_version(written: dict, relative: Path) -> None:
    previous = migrate(relative, json.loads((GOLDEN / relative).read_text()))
    rtol = TOY_TRAINING_RTOL if relative.parts[0] == "toy" else RTOL
    found = differences(previous, written[relative], rtol=rtol)
    assert not found, f"{relative} differs from the previous version:\n" + "\n".join(found)


def _load(path: Path) -> dict[str, Any]:
    """``path`` read by the reader of its kind of document."""
    schema = json.loads(path.read_text())["schema"]
    readers = {
        "llmgeom.measurement": load_record,
        "llmgeom.loss": load_loss_record,
        "llmgeom.freq": load_freq_record,
        "llmgeom.toy.result": load_result,
    }
    return readers.get(schema.rsplit("/", 1)[0], load_fit)(path)


@pytest.mark.parametrize("relative", GOLDEN_FILES, ids=str)
def test_a_file_written_by_the_previous_version_loads(relative: Path) -> None:
    """Each reader returns the file as written, a measurement record or a fit result of the
    former version in today's format (the library's migrations)."""
    document = _load(GOLDEN / relative)
    assert document == migrate_fit(migrate_record(json.loads((GOLDEN / relative).read_text())))


def test_the_comparison_sees_a_change_in_the_last_digits() -> None:
    previous = {"stats": {"mean_cos2": 0.041537092312371744, "pairs": 44850}, "created": "a"}
    assert differences(previous, {**previous, "created": "b"}) == []
    drifted = {"stats": {"mean_cos2": 0.041537092312371744 * (1 + 1e-8), "pairs": 44850}}
    assert differences(previous, {**drifted, "created": "a"}) == [
        f"stats.mean_cos2: {drifted['stats']['mean_cos2']!r} (was 0.041537092312371744)"
    ]
    as_float = {"stats": {"mean_cos2": 0.041537092312371744, "pairs": 44850.0}, "created": "a"}
    assert differences(previous, as_float) == ["stats.pairs: 44850.0 (was 44850)"]


def test_an_added_block_is_skipped_only_where_the_previous_version_lacks_it() -> None:
    previous = {"stats": {"mean_cos2": 0.25}}
    added = {"stats": {"mean_cos2": 0.25}, "spectrum": {"eigenvalues": [1.0]}}
    assert differences(previous, added) == []
    assert differences({**previous, "spectrum": {"eigenvalues": [2.0]}}, added) == [
        "spectrum.eigenvalues.0: 1.0 (was 2.0)"
    ]
    assert differences(previous, {"stats": {"mean_cos2": 0.25}, "extra": 1}) == [
        "extra: new key (1)"
    ]
