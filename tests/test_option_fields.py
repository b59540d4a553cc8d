"""Every field of every declared options type refuses a bad value with a one-line ConfigError
that names the field by its Python name, and the command line shows that error with a flag its
parser really has.

The test walks the dataclass fields, so an option added to any of these types is covered without
a line here: it must refuse some value of :data:`PROBES` with its own name (or be listed in
:data:`ANY_VALUE` with the reason it accepts anything), and never fail with another exception.
The parser is llmgeom's own (:func:`llmgeom.cli.build_parser`), the flag is looked up in the
running subcommand's parser.
"""

from __future__ import annotations

import argparse
import math
import re
from dataclasses import dataclass, fields

import pytest

from llmgeom.cli import build_parser
from llmgeom.cli.flags import flags_of, with_flags
from llmgeom.errors import ConfigError
from llmgeom.fit_options import ChinchillaFitOptions, LossFitOptions, OverlapFitOptions
from llmgeom.options import MeasureOptions, option
from llmgeom.options.tokens import TokensOptions
from llmgeom.text.options import CorpusOptions, FreqOptions, LossOptions, ModelOptions
from llmgeom.toy.config import ToyConfig, ToyRun

#: Each options type, the command line that uses it, and what it needs besides the probed field.
OPTION_TYPES: dict[type, tuple[list[str], dict]] = {
    MeasureOptions: (["measure", "gpt2"], {}),
    TokensOptions: (["tokens", "gpt2"], {}),
    OverlapFitOptions: (["fit", "overlap", "a.json"], {}),
    LossFitOptions: (["fit", "loss", "a.json"], {}),
    ChinchillaFitOptions: (["fit", "chinchilla"], {}),
    CorpusOptions: (["freq", "gpt2", "--corpus", "a.txt"], {}),
    LossOptions: (["loss", "gpt2", "--corpus", "a.txt"], {}),
    FreqOptions: (["freq", "gpt2", "--corpus", "a.txt"], {}),
    ModelOptions: (["loss", "gpt2", "--corpus", "a.txt"], {}),
    ToyConfig: (["toy", "run"], {"n": 100, "m": (4, 8, 16)}),
    ToyRun: (["toy", "run"], {"gamma": -1.0}),
}

#: Values that are wrong for most options: wrong types, signs, NaN, empty text.
PROBES = (None, -1, 0, -0.5, 0.5, math.nan, math.inf, "", " ", "x", True, (), [-1])

#: Fields that accept any of the probes, and why.
ANY_VALUE: dict[type, dict[str, str]] = {
    MeasureOptions: {
        "center": "a switch: any value is read as true or false",
        "drop_nonfinite": "a switch",
        "fold_norm": "a switch",
        "progress": "None (automatic) or a switch",
        "weights": "a path, an array or an object with counts: read when measuring",
        "tensor": "a tensor name: the source checks it",
        "revision": "a Hub revision: the Hub checks it",
    },
    TokensOptions: {
        "counts": "a path, an array or an object with counts: read when the table is made",
        "tokenizer": "a tokenizer object or source: loaded when the table is made",
        "drop_nonfinite": "a switch",
        "fold_norm": "a switch",
        "progress": "None (automatic) or a switch",
        "tensor": "a tensor name: the source checks it",
        "revision": "a Hub revision: the Hub checks it",
    },
    ToyConfig: {
        "runs": "the nested ToyRun tables: their fields are walked as ToyRun's",
        "extra": "free-form metadata",
        "description": "free text",
        "name": "the experiment's name (not checked today)",
    },
}

CASES = [
    pytest.param(cls, f.name, id=f"{cls.__name__}.{f.name}")
    for cls in OPTION_TYPES
    for f in fields(cls)
    if f.name not in ANY_VALUE.get(cls, {})
]


def _refusals(cls: type, name: str, base: dict) -> dict[str, ConfigError]:
    """The probes that building ``cls`` with ``name=probe`` refuses, with their errors."""
    refused = {}
    for probe in PROBES:
        try:
            options = cls(**{**base, name: probe})
            options.validate()  # ToyRun is validated by its experiment; again is harmless
        except ConfigError as err:
            assert err.parameters == (name,), f"{name}={probe!r}: {err} names {err.parameters}"
            assert "\n" not in str(err)
            refused[repr(probe)] = err
    return refused


def _subparser(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.ArgumentParser:
    """The parser of the subcommand ``argv`` names (``fit loss`` -> the parser of ``fit loss``)."""
    for word in argv:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if subparsers and word in subparsers[0].choices:
            parser = subparsers[0].choices[word]
    return parser


def _names_the_parameter(message: str, name: str) -> bool:
    """Whether ``message`` spells the parameter as the CLI must translate it."""
    return (
        message.startswith(name + " ")
        or re.search(rf"(?<![\w./-]){re.escape(name)}=", message) is not None
        or ("_" in name and name in message)
    )


@pytest.mark.parametrize(("cls", "name"), CASES)
def test_a_bad_value_names_the_parameter_and_the_cli_its_flag(cls, name):
    refused = _refusals(cls, name, OPTION_TYPES[cls][1])
    assert refused, f"{cls.__name__}.{name} accepts {PROBES}: check it or list it in ANY_VALUE"

    argv = OPTION_TYPES[cls][0]
    parser = build_parser()
    command = _subparser(parser, argv)
    actions = {s: a for s, a in command._option_string_actions.items() if s.startswith("--")}
    meta = next(f for f in fields(cls) if f.name == name).metadata
    if meta.get("flag"):  # the declared flag is the running command's, storing into this field
        per_choice = [meta["flag"].format(choice=c) for c in meta["choices"] or ()]
        for flag in per_choice if "{choice}" in meta["flag"] else [meta["flag"]]:
            assert flag in actions and actions[flag].dest == name, f"{flag} not in llmgeom {argv}"

    flags = flags_of(parser, parser.parse_args(argv))
    for err in refused.values():
        message = str(err)
        shown = with_flags(message, err.parameters, flags)
        if name in flags and _names_the_parameter(message, name):
            used = re.findall(r"--[\w-]+", shown)
            assert used, f"{message!r} became {shown!r}: no flag"
            for flag in used:
                assert flag in actions and actions[flag].dest == name, (flag, shown)
            assert not _names_the_parameter(shown, name), shown


def test_the_walk_covers_every_field():
    walked = {(cls, f.name) for cls in OPTION_TYPES for f in fields(cls)}
    assert (MeasureOptions, "exact_max_flops") in walked and (ToyRun, "decay") in walked
    exempt = {(cls, name) for cls, names in ANY_VALUE.items() for name in names}
    assert exempt <= walked  # no stale exemption
    assert len(CASES) + len(exempt) == len(walked)


@dataclass(frozen=True)
class _Forgetful:
    """An options type whose check forgets to name its parameter."""

    steps: int = option(1, "training steps", flag="--steps", kind=int)

    def validate(self) -> None:
        if not isinstance(self.steps, int):
            raise ConfigError(f"steps must be a whole number, got {self.steps!r}")


def test_the_walk_catches_a_check_that_forgets_the_name():
    with pytest.raises(AssertionError, match=r"steps=None: .* names \(\)"):
        _refusals(_Forgetful, "steps", {})
