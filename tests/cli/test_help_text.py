"""Every command's --help, found by walking the parser (a new command is checked too), has a
description, an examples section and help for each positional argument."""

from __future__ import annotations

import argparse

import pytest

from gpay_envelope.cli import _parser, main


def _commands(p: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [path] if path else []
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                found += _commands(child, (*path, name))
    return found


def _leaf(path: tuple[str, ...]) -> argparse.ArgumentParser:
    p = _parser()
    for name in path:
        sub = next(a for a in p._actions if isinstance(a, argparse._SubParsersAction))
        p = sub.choices[name]
    return p


COMMANDS = _commands(_parser())


def test_the_walk_finds_the_commands() -> None:
    assert {("seal",), ("open",), ("keys", "init"), ("keys", "rotate", "add")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_description_and_examples(
    path: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    # "keys rotate MANIFEST STEP": the step comes after the manifest
    argv = [*path[:2], "M", *path[2:]] if path[:2] == ("keys", "rotate") and path[2:] else path
    assert main([*argv, "--help"]) == 0
    text = capsys.readouterr().out
    assert _leaf(path).description, path
    assert "\nexamples:\n  gpay-envelope " in text, (path, text)
    for action in _leaf(path)._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            assert action.help, (path, action.dest)


def test_seal_profile_lists_the_pgp_profiles(capsys: pytest.CaptureFixture[str]) -> None:
    from gpay_envelope.codecs.pgp import PROFILES

    assert main(["seal", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert f"pgp: {', '.join(PROFILES)} " in text
    assert "jwe: signed, legacy" in text
