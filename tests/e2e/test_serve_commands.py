"""The administrator's commands: `user add`, `token create`, `demo --prepare-only`, `worker`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.cli import main
from publisher.cli_demo import DEMO_TARGETS, DEMO_USERS
from publisher.cli_users import run_in_session
from publisher.config import load_settings
from publisher.services.users import actor_for_token, authenticate_password, revoke_token
from publisher.store.models import Role, Target

PASSWORD = "a long enough passphrase"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _settings(data_dir: Path):
    return load_settings({}, data_dir=data_dir)


def test_user_add_reads_one_line_when_piped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\nignored\n"))
    assert main(["user", "add", "wang", "--role", "author", "--role", "viewer",
                 "--data-dir", str(tmp_path)]) == 0
    assert "user wang added with roles author, viewer" in capsys.readouterr().out
    actor = run_in_session(_settings(tmp_path),
                           lambda session: authenticate_password(session, "wang", PASSWORD))
    assert actor.roles == frozenset({Role.AUTHOR, Role.VIEWER})


def test_user_add_asks_twice_at_a_terminal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", Terminal())
    answers = iter([PASSWORD, PASSWORD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["user", "add", "li", "--role", "approver", "--data-dir", str(tmp_path)]) == 2
    assert "the two passwords differ" in capsys.readouterr().err
    answers = iter([PASSWORD, PASSWORD])
    assert main(["user", "add", "li", "--role", "approver", "--data-dir", str(tmp_path)]) == 0


def test_user_add_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PUBLISHER_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    assert main(["user", "add", "zhao", "--role", "author"]) == 2
    assert "no password on standard input" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "zhao", "--role", "author"]) == 1
    assert "password: must be at least" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    assert main(["user", "add", "zhao", "--role", "author"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    assert main(["user", "add", "zhao", "--role", "author"]) == 1
    assert "exists already" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:
        main(["user", "add", "zhao", "--role", "emperor"])
    assert usage.value.code == 2
    # PUBLISHER_DATA_DIR placed the database.
    assert (tmp_path / "publisher.db").exists()


def test_token_create_prints_only_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD))
    main(["user", "add", "wang", "--role", "author", "--data-dir", str(tmp_path)])
    capsys.readouterr()
    assert main(["token", "create", "wang", "--label", "ci", "--data-dir", str(tmp_path)]) == 0
    token = capsys.readouterr().out.strip()
    assert token.startswith("pat_")
    actor = run_in_session(_settings(tmp_path), lambda session: actor_for_token(session, token))
    assert actor.name == "wang"
    assert main(["token", "create", "nobody", "--data-dir", str(tmp_path)]) == 1
    assert "no user named 'nobody'" in capsys.readouterr().err


def test_demo_preparation_is_idempotent(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--prepare-only", "--data-dir", str(tmp_path)]) == 0
    first = capsys.readouterr().out
    assert main(["demo", "--prepare-only", "--data-dir", str(tmp_path)]) == 0
    second = capsys.readouterr().out
    # The same users, passwords and tokens, printed again; no second set of targets.
    assert first == second
    assert "export URL=http://127.0.0.1:8080" in first
    credentials = tmp_path / "demo" / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600
    saved = json.loads(credentials.read_text())
    for user in DEMO_USERS:
        assert f"export {user.variable}={saved[user.username]['token']}" in first
        assert saved[user.username]["password"] in first

    def targets(session):
        return session.execute(select(Target.district_code, Target.is_test)).all()

    rows = run_in_session(_settings(tmp_path), targets)
    expected = sorted((code, is_test) for code, tests, public in DEMO_TARGETS
                      for is_test in [True] * tests + [False] * public)
    assert sorted(rows) == expected


def test_demo_makes_a_new_token_when_the_old_one_was_revoked(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    main(["demo", "--prepare-only", "--data-dir", str(tmp_path)])
    before = json.loads((tmp_path / "demo" / "credentials.json").read_text())
    run_in_session(_settings(tmp_path),
                   lambda session: revoke_token(session, "demo-author", "demo"))
    main(["demo", "--prepare-only", "--data-dir", str(tmp_path)])
    after = json.loads((tmp_path / "demo" / "credentials.json").read_text())
    assert after["demo-author"]["token"] != before["demo-author"]["token"]
    assert after["demo-author"]["password"] == before["demo-author"]["password"]
    assert after["demo-approver"] == before["demo-approver"]


def test_worker_refuses_an_unknown_queue(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "--queues", "fanout,channel.memroy",
                 "--data-dir", str(tmp_path)]) == 2
    assert "unknown queue 'channel.memroy'" in capsys.readouterr().err
