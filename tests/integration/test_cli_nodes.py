"""``publisher node add|list|remove`` on a fresh installation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.cap import generate_demo_identity
from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from publisher.config import load_settings
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.store.models import DistrictNode, Target, TargetDistrict

NODE_URL = "http://127.0.0.1:8813"


def _run(capsys: pytest.CaptureFixture[str], data_dir: Path, *arguments: str
         ) -> tuple[int, str, str]:
    code = main([*arguments, "--data-dir", str(data_dir)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _certificate(tmp_path: Path) -> str:
    _, certificate = generate_demo_identity(tmp_path / "district-keys")
    return str(certificate)


def _stored(data_dir: Path) -> tuple[dict[str, tuple[str, str, int, str, list[str]]],
                                      dict[str, bool]]:
    """Each node's name, URL, interval, credential digest and districts; each district
    target's URL and whether it is active."""
    engine = make_engine(load_settings({}, data_dir=data_dir).database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            nodes = {node.code: (node.name, node.target.address, node.heartbeat_interval,
                                 node.credential_sha256,
                                 sorted(session.scalars(select(TargetDistrict.district_code)
                                        .where(TargetDistrict.target_id == node.target_id))))
                     for node in session.scalars(select(DistrictNode))}
            targets = {address: active for address, active in session.execute(
                select(Target.address, Target.active).where(Target.channel == "district"))}
            return nodes, targets
    finally:
        engine.dispose()


def test_add_prints_the_credential_alone_and_list_shows_the_node(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = _run(capsys, tmp_path, "node", "add", "--code", "朝阳", "--url",
                          NODE_URL + "/", "--certificate", _certificate(tmp_path),
                          "--heartbeat-interval", "30")
    assert code == EXIT_OK, err
    credential = out.strip()
    assert credential.startswith("node_") and "\n" not in credential
    assert f"node 110105 added at {NODE_URL}" in err and "shown once" in err
    assert credential not in err
    assert _stored(tmp_path) == ({"110105": (
        "朝阳区", NODE_URL, 30, hashlib.sha256(credential.encode()).hexdigest(), ["110105"])},
        {NODE_URL: True})

    code, out, _ = _run(capsys, tmp_path, "node", "list")
    assert code == EXIT_OK
    header, row = out.splitlines()
    assert header.split() == ["CODE", "HEALTH", "LAST", "HEARD", "INTERVAL", "URL", "NAME"]
    assert row.split() == ["110105", "online", "-", "30", NODE_URL, "朝阳区"]


def test_add_names_the_option_of_a_refused_field(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    certificate = _certificate(tmp_path)
    code, out, err = _run(capsys, tmp_path, "node", "add", "--code", "110199", "--url",
                          NODE_URL, "--certificate", certificate)
    assert (code, out) == (EXIT_INVALID, "")
    assert err.startswith("publisher: --code: '110199' is not a district of the city")

    code, _, err = _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url",
                        "ftp://node.example", "--certificate", certificate)
    assert code == EXIT_INVALID and err.startswith("publisher: --url: ")

    code, _, err = _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url",
                        NODE_URL, "--certificate", certificate, "--heartbeat-interval", "1")
    assert code == EXIT_INVALID and err.startswith("publisher: --heartbeat-interval: ")

    not_pem = tmp_path / "not.pem"
    not_pem.write_text("not a certificate\n", encoding="utf-8")
    code, _, err = _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url",
                        NODE_URL, "--certificate", str(not_pem))
    assert code == EXIT_INVALID and err.startswith("publisher: --certificate: not a PEM")

    code, _, err = _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url",
                        NODE_URL, "--certificate", str(tmp_path / "missing.pem"))
    assert code == EXIT_USAGE and "missing.pem: no such file" in err
    assert _stored(tmp_path) == ({}, {})


def test_a_second_node_for_a_district_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    certificate = _certificate(tmp_path)
    assert _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url", NODE_URL,
                "--certificate", certificate)[0] == EXIT_OK
    code, _, err = _run(capsys, tmp_path, "node", "add", "--code", "110105", "--url",
                        "http://127.0.0.1:8899", "--certificate", certificate)
    assert code == EXIT_INVALID
    assert err.strip() == "publisher: --code: district 110105 has a node already"


def test_remove_keeps_the_target_inactive_and_refuses_an_unknown_code(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    certificate = _certificate(tmp_path)
    assert _run(capsys, tmp_path, "node", "add", "--code", "110108", "--url", NODE_URL,
                "--certificate", certificate, "--name", "海淀区分中心")[0] == EXIT_OK
    code, out, err = _run(capsys, tmp_path, "node", "remove", "--code", "110108")
    assert code == EXIT_OK, err
    assert out.strip() == "node 110108 removed; the deliveries made to it are kept"
    assert _stored(tmp_path) == ({}, {NODE_URL: False})
    assert _run(capsys, tmp_path, "node", "list")[1].splitlines()[1:] == []

    code, _, err = _run(capsys, tmp_path, "node", "remove", "--code", "110108")
    assert code == EXIT_INVALID
    assert err.strip() == "publisher: --code: no node for district '110108'"

    # Registered again at the same URL, the node takes its target back.
    assert _run(capsys, tmp_path, "node", "add", "--code", "110108", "--url", NODE_URL,
                "--certificate", certificate)[0] == EXIT_OK
    nodes, targets = _stored(tmp_path)
    assert (nodes["110108"][4], targets) == (["110108"], {NODE_URL: True})


def test_the_options_are_required(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["node", "add", "--code", "110105", "--data-dir", str(tmp_path)])
    assert exited.value.code == EXIT_USAGE
    assert "--url" in capsys.readouterr().err
