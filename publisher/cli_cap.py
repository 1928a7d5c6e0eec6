"""``publisher cap``: validate, sign, verify, convert and make keys for CAP messages."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from cryptography import x509

from publisher.cap.authorities import AuthorityRegistry, RegistryError, load_authorities
from publisher.cap.districts import load_districts
from publisher.cap.document import DocumentReport, check_document
from publisher.cap.keys import generate_demo_identity
from publisher.cap.problems import CapError, Problem, format_problem
from publisher.cap.profiles import Profile, available_profiles, get_profile
from publisher.cap.reader import read_alert
from publisher.cap.signing import (
    SignatureOutcome,
    load_certificates,
    sign_alert_xml,
    verify_alert_xml,
)
from publisher.cap.views import alert_to_json, areas_to_geojson
from publisher.cap.xmlsafe import DEFAULT_MAX_BYTES, XmlLimits
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.config import load_paths

__all__ = ["add_cap_commands"]

def _read(name: str) -> bytes:
    try:
        return Path(name).read_bytes()
    except OSError as error:
        raise UsageError(f"{name}: cannot read: {error.strerror}") from None


def _read_all(names: list[str]) -> list[tuple[str, bytes]]:
    return [(name, _read(name)) for name in names]


def _profile(name: str) -> Profile:
    districts: tuple[str, ...] = ()
    if name == "municipal":
        districts_file = load_paths().districts_file
        try:
            districts = tuple(load_districts(districts_file).codes())
        except (OSError, ValueError) as error:
            raise UsageError(f"{districts_file}: {error}") from None
    try:
        return get_profile(name, districts=districts)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _authorities(path: str | None) -> AuthorityRegistry:
    chosen = Path(path) if path else load_paths().authorities_file
    if path is None and not chosen.exists():
        return AuthorityRegistry()
    try:
        return load_authorities(chosen)
    except RegistryError as error:
        raise UsageError(str(error)) from None


def _problem_json(problem: Problem) -> dict[str, Any]:
    return {"path": problem.path, "reason": problem.reason, "clause": problem.clause}


def _report_json(name: str, report: DocumentReport) -> dict[str, Any]:
    return {
        "file": name,
        "ok": report.ok,
        "kind": report.kind,
        "errors": [_problem_json(problem) for problem in report.errors],
        "warnings": [_problem_json(problem) for problem in report.warnings],
    }


def _report_lines(name: str, report: DocumentReport) -> list[str]:
    errors = report.errors
    head = f"{name}: ok" if not errors else f"{name}: invalid: {format_problem(errors[0])}"
    return (
        [head]
        + [f"  error: {format_problem(problem)}" for problem in errors[1:]]
        + [f"  warning: {format_problem(problem)}" for problem in report.warnings]
    )


def _validate(arguments: argparse.Namespace) -> int:
    profile = _profile(arguments.profile)
    registry = _authorities(arguments.authorities)
    limits = XmlLimits(max_bytes=arguments.max_bytes)
    all_ok = True
    as_json: list[dict[str, Any]] = []
    for name, data in _read_all(arguments.files):
        report = check_document(data, profile=profile, strict=arguments.strict, limits=limits,
                                authorities=registry)
        all_ok = all_ok and report.ok
        if arguments.json:
            as_json.append(_report_json(name, report))
        else:
            print("\n".join(_report_lines(name, report)))
    if arguments.json:
        print(json.dumps(as_json, ensure_ascii=False, indent=2))
    return EXIT_OK if all_ok else EXIT_INVALID


def _write_output(data: bytes, output: str | None) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)


def _sign(arguments: argparse.Namespace) -> int:
    document = _read(arguments.file)
    report = check_document(document)
    if report.kind != "alert":
        raise UsageError(f"{arguments.file}: only a single CAP alert can be signed")
    if not report.ok:
        print("\n".join(_report_lines(arguments.file, report)), file=sys.stderr)
        return EXIT_INVALID
    if report.alerts[0].signed:
        raise UsageError(f"{arguments.file}: already signed; sign the unsigned message")
    signed = sign_alert_xml(document, _read(arguments.key), _read(arguments.cert))
    _write_output(signed, arguments.output)
    return EXIT_OK


def _trusted(paths: list[str]) -> list[x509.Certificate]:
    if paths:
        try:
            return load_certificates(Path(path) for path in paths)
        except (OSError, ValueError) as error:
            raise UsageError(f"--trust: {error}") from None
    registry_file = load_paths().authorities_file
    center_cert = load_paths().keys_dir / "cert.pem"
    trusted = load_certificates([center_cert]) if center_cert.exists() else []
    if registry_file.exists():
        registry = _authorities(str(registry_file))
        trusted.extend(registry.certificates())
    return trusted


def _verify(arguments: argparse.Namespace) -> int:
    trusted = _trusted(arguments.trust)
    all_valid = True
    for name, data in _read_all(arguments.files):
        try:
            verification = verify_alert_xml(data, trusted)
        except CapError as error:
            print(f"{name}: invalid: document: {error}")
            all_valid = False
            continue
        if verification.outcome is SignatureOutcome.VALID:
            signer = verification.certificate.subject.rfc4514_string() \
                if verification.certificate is not None else "unknown signer"
            print(f"{name}: valid: signed by {signer}")
        else:
            all_valid = False
            print(f"{name}: invalid: {verification.outcome}: {verification.reason}")
    return EXIT_OK if all_valid else EXIT_INVALID


def _convert(arguments: argparse.Namespace) -> int:
    try:
        result = read_alert(_read(arguments.file), limits=XmlLimits(max_bytes=arguments.max_bytes))
    except CapError as error:
        print(f"{arguments.file}: invalid: document: {error}", file=sys.stderr)
        return EXIT_INVALID
    for problem in result.problems:
        print(f"{arguments.file}: {problem.level}: {format_problem(problem)}", file=sys.stderr)
    if result.alert is None:
        return EXIT_INVALID
    view = alert_to_json(result.alert) if arguments.to == "json" else areas_to_geojson(result.alert)
    print(json.dumps(view, ensure_ascii=False, indent=2))
    return EXIT_OK


def _keygen(arguments: argparse.Namespace) -> int:
    try:
        key, cert = generate_demo_identity(Path(arguments.directory))
    except FileExistsError as error:
        raise UsageError(f"refusing to overwrite {error.filename}") from None
    print(f"private key: {key}\ncertificate: {cert}")
    return EXIT_OK


def _add_max_bytes(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                        help=f"refuse documents larger than this (default {DEFAULT_MAX_BYTES})")


def add_cap_commands(commands: Any) -> None:
    cap = commands.add_parser("cap", help="validate, sign, verify and convert CAP messages")
    actions = cap.add_subparsers(dest="cap_command", metavar="ACTION", required=True)

    validate = actions.add_parser("validate", help="check CAP files (and feeds of CAP)")
    validate.add_argument("--profile", default="cap12",
                          help=f"rule set: {', '.join(available_profiles())} (default cap12)")
    validate.add_argument("--strict", action="store_true", help="count warnings as errors")
    validate.add_argument("--json", action="store_true", help="print the results as JSON")
    validate.add_argument("--authorities", metavar="TOML",
                          help="register of signing authorities (default config/authorities.toml)")
    _add_max_bytes(validate)
    validate.add_argument("files", nargs="+", metavar="FILE")
    validate.set_defaults(handler=_validate)

    sign = actions.add_parser("sign", help="sign a CAP alert (XML-DSig, RSA-SHA256, exc-c14n)")
    sign.add_argument("--key", required=True, help="PEM private key")
    sign.add_argument("--cert", required=True, help="PEM certificate")
    sign.add_argument("-o", "--output", help="write here instead of standard output")
    sign.add_argument("file", metavar="FILE")
    sign.set_defaults(handler=_sign)

    verify = actions.add_parser("verify", help="verify the signature of CAP alerts")
    verify.add_argument("--trust", action="append", default=[], metavar="CERT",
                        help="trusted certificate (PEM); repeatable")
    verify.add_argument("files", nargs="+", metavar="FILE")
    verify.set_defaults(handler=_verify)

    convert = actions.add_parser("convert", help="print a CAP alert as JSON or GeoJSON")
    convert.add_argument("--to", choices=("json", "geojson"), required=True)
    _add_max_bytes(convert)
    convert.add_argument("file", metavar="FILE")
    convert.set_defaults(handler=_convert)

    keygen = actions.add_parser("keygen", help="make a demo key and self-signed certificate")
    keygen.add_argument("directory", metavar="DIR")
    keygen.set_defaults(handler=_keygen)
