"""``publisher`` imports one command group's module by the command's name: the names it
looks them up by are the ones each group adds."""

from __future__ import annotations

import argparse
import importlib

import pytest

from publisher.cli import _COMMAND_GROUPS, build_parser


@pytest.mark.parametrize(("names", "group"), sorted(_COMMAND_GROUPS.items()))
def test_each_group_adds_the_commands_it_is_found_by(names: tuple[str, ...],
                                                     group: tuple[str, str]) -> None:
    module, adder = group
    commands = argparse.ArgumentParser().add_subparsers()
    getattr(importlib.import_module(module), adder)(commands)
    assert tuple(commands.choices) == names


def test_a_command_builds_its_own_group_alone_and_no_command_builds_every_one() -> None:
    def choices(parser: argparse.ArgumentParser) -> list[str]:
        [subparsers] = [action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction)]
        return list(subparsers.choices)

    assert choices(build_parser("worker")) == ["serve", "web", "worker"]
    assert sorted(choices(build_parser(None))) == sorted(
        name for names in _COMMAND_GROUPS for name in names)
    assert choices(build_parser("no-such-command")) == choices(build_parser(None))
