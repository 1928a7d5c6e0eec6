"""docker/compose.yaml and docker/Dockerfile hold together without an engine to run them.

Every ``publisher ...`` command of a service parses with the real command
line; the workers consume every queue between them and only known ones; the
example configuration loads every channel the compose file turns on; the
district nodes' configurations load with the files the compose file mounts;
every environment variable (compose, env files, image, and every one the
code reads) is documented; the image is multi-stage, unprivileged and has
what the speakers and boards need.
"""

from __future__ import annotations

import argparse
import ast
import re
import shlex
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from district_nodes.config import load_node_config
from publisher.cap.keys import generate_demo_identity
from publisher.celery_app import make_celery
from publisher.channels.registry import create_channel
from publisher.cli import build_parser
from publisher.config import Settings, load_paths, load_settings
from publisher.services.signer import CERTIFICATE_FILE, KEY_FILE

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
DOCS = ("docs/deploy.md", "docs/configuration.md")
CODE_PACKAGES = ("publisher", "district_nodes")
SECRETS_DIR = "/run/secrets"

COMPOSE: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]


def _documentation() -> str:
    return "\n".join((ROOT / name).read_text(encoding="utf-8") for name in DOCS)


def _undocumented(names: set[str]) -> list[str]:
    text = _documentation()
    return sorted(name for name in names if f"`{name}`" not in text)


def _command(service: Mapping[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(item) for item in command]


def _parsed(argv: list[str], where: str) -> argparse.Namespace:
    """The real ``publisher`` parser on ``argv``; a refusal fails the test, with the reason."""
    parser = build_parser()

    def refuse(message: str) -> None:
        pytest.fail(f"{where}: `publisher {' '.join(argv)}`: {message}")

    _route_errors(parser, refuse)
    return parser.parse_args(argv)


def _route_errors(parser: argparse.ArgumentParser, refuse: Any) -> None:
    """argparse exits the process on a refusal, from whichever sub-parser refused: fail instead."""
    parser.error = refuse  # type: ignore[method-assign]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                _route_errors(subparser, refuse)


def _publisher_commands() -> Iterator[tuple[str, list[str]]]:
    for name, service in SERVICES.items():
        command = _command(service)
        if command[:1] == ["publisher"]:
            yield name, command[1:]
        test = service.get("healthcheck", {}).get("test", [])
        if test[:2] == ["CMD", "publisher"]:
            yield f"{name} healthcheck", test[2:]


def _env_files(service: Mapping[str, Any]) -> list[Path]:
    entries = service.get("env_file", [])
    entries = [entries] if isinstance(entries, str | dict) else entries
    return [DOCKER / (entry["path"] if isinstance(entry, dict) else entry) for entry in entries]


def _example(env_file: Path) -> Path:
    return env_file.with_name(env_file.name + ".example")


def _read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _dockerfile_environment() -> dict[str, str]:
    """The ENV of the image's last stage (continued lines joined)."""
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    last_stage = re.split(r"^FROM ", text, flags=re.MULTILINE)[-1]
    values: dict[str, str] = {}
    for line in last_stage.splitlines():
        if line.startswith("ENV "):
            values.update(item.split("=", 1) for item in shlex.split(line[4:]))
    return values


def _service_environment(service: Mapping[str, Any]) -> dict[str, str]:
    """What a process of the service sees: the image's ENV, the env files' examples, environment."""
    environment = dict(_dockerfile_environment())
    for env_file in _env_files(service):
        environment.update(_read_env_file(_example(env_file)))
    declared = service.get("environment", {})
    if isinstance(declared, list):
        declared = dict(item.split("=", 1) for item in declared)
    environment.update({name: str(value) for name, value in declared.items()})
    return environment


def _secret_targets(service: Mapping[str, Any]) -> dict[str, Path]:
    """Each secret the service mounts: its path in the container -> its file on the host."""
    targets = {}
    for entry in service.get("secrets", []):
        source = entry if isinstance(entry, str) else entry["source"]
        target = source if isinstance(entry, str) else entry.get("target", source)
        path = target if target.startswith("/") else f"{SECRETS_DIR}/{target}"
        targets[path] = DOCKER / COMPOSE["secrets"][source]["file"]
    return targets


def _worker_settings(tmp_path: Path) -> Settings:
    """The settings of the web app and the workers, with the example configuration as the secret."""
    environment = _service_environment(SERVICES["web"])
    secrets = _secret_targets(SERVICES["web"])
    assert environment["PUBLISHER_CONFIG"] in secrets, \
        "PUBLISHER_CONFIG names a file that web does not mount as a secret"
    environment["PUBLISHER_CONFIG"] = str(DOCKER / "publisher.toml.example")
    environment["PUBLISHER_CONFIG_DIR"] = str(ROOT / "config")
    return load_settings(environment, data_dir=tmp_path)


# --- commands ---


@pytest.mark.parametrize(("where", "argv"), list(_publisher_commands()),
                         ids=[where for where, _ in _publisher_commands()])
def test_every_publisher_command_parses_with_the_real_command_line(
        where: str, argv: list[str]) -> None:
    arguments = _parsed(argv, where)
    assert callable(arguments.handler)


def test_the_parser_check_catches_an_option_that_does_not_exist() -> None:
    with pytest.raises(pytest.fail.Exception, match="--queue-group"):
        _parsed(["worker", "--queue-group", "sms"], "example")


def _worker_queues() -> dict[str, list[str]]:
    queues = {}
    for where, argv in _publisher_commands():
        if argv[:1] == ["worker"]:
            arguments = _parsed(argv, where)
            assert arguments.queues, f"{where}: a worker of every queue; name its queue group"
            queues[where] = arguments.queues.split(",")
    return queues


def test_the_workers_consume_every_queue_and_only_known_ones(tmp_path: Path) -> None:
    celery = make_celery(_worker_settings(tmp_path))
    known = {queue.name for queue in celery.conf.task_queues}
    consumed = [queue for queues in _worker_queues().values() for queue in queues]
    assert sorted(set(consumed) - known) == [], "queues no channel of PUBLISHER_CHANNELS has"
    assert sorted(known - set(consumed)) == [], "queues no worker consumes"
    assert len(consumed) == len(set(consumed)), "a queue consumed by two queue groups"


def test_every_platform_process_waits_for_the_migration() -> None:
    migrations = [name for name, argv in _publisher_commands() if argv[:2] == ["db", "upgrade"]]
    assert migrations == ["migrate"]
    for name, service in SERVICES.items():
        command = _command(service)
        if name == "migrate" or command[1:2] == ["district-node"] or command[:1] not in (
                ["publisher"], ["celery"]):
            continue
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully", \
            f"{name} may start on a schema that is not migrated yet"


@pytest.mark.parametrize("name", ["postgres", "rabbitmq"])
def test_the_broker_and_database_keep_their_data_and_report_their_health(name: str) -> None:
    service = SERVICES[name]
    assert service["healthcheck"]["test"]
    volumes = [mount.split(":")[0] for mount in service["volumes"]]
    assert volumes and all(volume in COMPOSE["volumes"] for volume in volumes)


def test_exactly_one_scheduler_runs() -> None:
    schedulers = [where for where, argv in _publisher_commands()
                  if argv[:1] == ["beat"] or (argv[:1] == ["worker"] and "--beat" in argv)]
    assert schedulers == ["beat"]


def test_the_example_configuration_loads_every_channel_turned_on(tmp_path: Path) -> None:
    settings = _worker_settings(tmp_path)
    celery = make_celery(settings)
    assert settings.database_url.startswith("postgresql://")
    assert settings.broker_url.startswith("amqp://")
    for name in settings.channels:
        create_channel(name, celery.channel_options(name)).close()


def test_flower_runs_the_platforms_celery_app_from_the_ops_extra() -> None:
    command = _command(SERVICES["flower"])
    assert command[:3] == ["celery", "--app", "publisher.celery_app"]
    assert "flower" in command
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert any(requirement.startswith("flower")
               for requirement in project["optional-dependencies"]["ops"])
    assert '".[ops]"' in DOCKERFILE.read_text(encoding="utf-8")


# --- secrets and files ---


def test_every_secret_named_in_the_environment_is_mounted() -> None:
    for name, service in SERVICES.items():
        mounted = _secret_targets(service)
        for variable, value in _service_environment(service).items():
            if value.startswith(SECRETS_DIR):
                assert value in mounted, f"{name}: {variable} names {value}, not mounted"


def test_the_center_key_is_mounted_where_the_platform_looks_for_it() -> None:
    keys_dir = load_paths(_service_environment(SERVICES["web"])).keys_dir
    mounted = _secret_targets(SERVICES["web"])
    assert str(keys_dir / KEY_FILE) in mounted
    assert str(keys_dir / CERTIFICATE_FILE) in mounted


def test_no_password_or_token_is_written_in_the_compose_file() -> None:
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            assert not re.search(r"PASS|SECRET|TOKEN|KEY|_URL$", variable), \
                f"{name}: {variable} belongs in an env file or a secret"


def test_env_files_have_committed_examples_and_are_never_committed() -> None:
    ignored = (DOCKER / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "*.env" in ignored and "secrets/*" in ignored
    for service in SERVICES.values():
        for env_file in _env_files(service):
            assert _example(env_file).is_file(), f"{_example(env_file)} is missing"


def test_every_secret_file_is_described() -> None:
    described = (DOCKER / "secrets" / "README.md").read_text(encoding="utf-8")
    for name, secret in COMPOSE["secrets"].items():
        assert f"`{Path(secret['file']).name}`" in described, name


def _node_services() -> list[str]:
    return [name for name, service in SERVICES.items()
            if _command(service)[1:2] == ["district-node"]]


@pytest.mark.parametrize("name", _node_services())
def test_each_district_node_configuration_loads_with_what_compose_mounts(
        name: str, tmp_path: Path) -> None:
    service = SERVICES[name]
    config_target = _parsed(_command(service)[1:], name).config
    sources = {entry["target"]: DOCKER / COMPOSE["configs"][entry["source"]]["file"]
               for entry in service["configs"]}
    text = sources[str(config_target)].read_text(encoding="utf-8")
    # The container's paths, made on this machine: the secrets the service
    # mounts (made here), the image's configuration, the node's volume.
    secrets_dir = tmp_path / "secrets"
    key, certificate = generate_demo_identity(tmp_path / "identity")
    made = {"center_trust": certificate, "district_certificate": certificate,
            "district_key": key}
    secrets_dir.mkdir()
    for path in _secret_targets(service):
        file_name = Path(path).name
        target = secrets_dir / file_name
        target.write_bytes(made[file_name].read_bytes() if file_name in made else b"token")
    volume = next(mount.split(":")[1] for mount in service["volumes"])
    text = (text.replace(f"{SECRETS_DIR}/", f"{secrets_dir}/")
            .replace("/etc/publisher/", f"{ROOT / 'config'}/")
            .replace(volume, str(tmp_path / "data")))
    copied = tmp_path / "node.toml"
    copied.write_text(text, encoding="utf-8")
    config = load_node_config(copied)
    assert f"district-{config.code}" == name
    assert config.listen_host == "0.0.0.0"
    assert config.center_url == "http://web:8080"


# --- documentation ---


def _compose_variables() -> set[str]:
    names = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)",
                           (DOCKER / "compose.yaml").read_text(encoding="utf-8")))
    for service in SERVICES.values():
        names |= set(service.get("environment", {}))
        for env_file in _env_files(service):
            names |= set(_read_env_file(_example(env_file)))
    # The interpreter's own variables are Python's to document.
    return names | (set(_dockerfile_environment())
                    - {"PATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE"})


def test_every_variable_of_the_compose_file_env_files_and_image_is_documented() -> None:
    assert _undocumented(_compose_variables()) == []


class _EnvironmentReads(ast.NodeVisitor):
    """Names read from the environment: ``PUBLISHER_*`` literals, ``getenv("X")``,
    ``environ.get("X")``, ``environ["X"]`` and ``"X" in environ``."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and re.fullmatch(r"PUBLISHER_[A-Z0-9_]+", node.value):
            self.names.add(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        function = node.func
        if isinstance(function, ast.Attribute) and node.args and (
                function.attr == "getenv" or (function.attr == "get"
                                              and _is_environ(function.value))):
            self._add(node.args[0])
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if _is_environ(node.value):
            self._add(node.slice)
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        if any(isinstance(op, ast.In) for op in node.ops) and any(
                _is_environ(item) for item in node.comparators):
            self._add(node.left)
        self.generic_visit(node)

    def _add(self, node: ast.expr) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            self.names.add(node.value)


def _is_environ(node: ast.expr) -> bool:
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name in ("environ", "environment")


def _code_variables() -> set[str]:
    reads = _EnvironmentReads()
    for package in CODE_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            reads.visit(ast.parse(path.read_text(encoding="utf-8")))
    return reads.names


def test_the_scan_finds_what_the_configuration_reads() -> None:
    found = _code_variables()
    assert {"PUBLISHER_DATABASE_URL", "PUBLISHER_CONFIG", "PUBLISHER_DATA_DIR"} <= found


def test_every_variable_the_code_reads_is_documented() -> None:
    assert _undocumented(_code_variables()) == []


def test_every_documented_platform_variable_is_read_somewhere() -> None:
    documented = set(re.findall(r"`(PUBLISHER_[A-Z0-9_]+)`",
                                (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")))
    assert sorted(documented - _code_variables() - _compose_variables()) == []


def test_every_setting_of_the_configuration_file_is_documented() -> None:
    names = {name for name in Settings.__dataclass_fields__ if name != "paths"}
    assert _undocumented(names) == []


# --- the image ---


def _instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1])
            for line in lines if line and not line.startswith("#") and " " in line]


def test_the_image_is_built_in_two_stages() -> None:
    assert [keyword for keyword, _ in _instructions()].count("FROM") >= 2
    runtime_from = [argument for keyword, argument in _instructions() if keyword == "FROM"][-1]
    copies_from_build = [argument for keyword, argument in _instructions()
                         if keyword == "COPY" and argument.startswith("--from=")]
    assert copies_from_build, f"the last stage ({runtime_from}) copies nothing it built"


def test_the_image_runs_as_an_unprivileged_user() -> None:
    users = [argument for keyword, argument in _instructions() if keyword == "USER"]
    assert users, "no USER: the processes would run as root"
    assert users[-1].split(":")[0] not in ("root", "0")


def test_the_image_has_speech_and_cjk_fonts() -> None:
    installs = " ".join(argument for keyword, argument in _instructions()
                        if keyword == "RUN" and "apt-get install" in argument)
    for package in ("espeak-ng", "fonts-noto-cjk"):
        assert re.search(rf"\s{re.escape(package)}(\s|$)", installs), package


def test_what_the_image_copies_exists_and_reaches_the_build_context() -> None:
    allowed = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    assert "*" in allowed, ".dockerignore is an allow-list"
    for keyword, argument in _instructions():
        if keyword != "COPY" or argument.startswith("--from="):
            continue
        *sources, _destination = shlex.split(argument)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
            assert f"!{source}" in allowed, f"COPY {source}: left out by .dockerignore"
