"""Read and validate every real CAP alert of the corpus, ours beside its peers.

Every contender gets the same documents, loaded into memory before any clock
starts, and all of them run in one process, one after another. A contender's
rate is the median of several runs; each run reads the whole folder a few
times. Only the call into the library is timed: decoding bytes to text for a
peer that takes text happens beforehand.

Run it as ``python -m bench.cap_bench [--corpus DIR] [--runs N] [--repeat K]``
(``make bench`` installs the peers first).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

__all__ = ["Contender", "Outcome", "main"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GOAL_SPEED_RATIO = 5.0

CAP_SCHEMAS = {
    "urn:oasis:names:tc:emergency:cap:1.2": "oasis_CAP-v1.2.xsd",
    "urn:oasis:names:tc:emergency:cap:1.1": "oasis_CAP-v1.1.xsd",
    "http://www.incident.com/cap/1.0": "gcap_cap10.xsd",
}

# A schema-validating parser crashes this lxml on a declared entity, and a
# crash would end the whole run: such documents are not handed to a peer that
# parses that way.
_ENTITY_MARKERS = ("<!DOCTYPE", "<!ENTITY")


@dataclass(frozen=True, slots=True)
class Contender:
    """One library under test.

    ``role`` is "ours", "floor" (what a C validator costs) or "peer";
    ``prepare`` turns the file's bytes into what the library takes (untimed);
    ``read`` is the timed call and says whether the library read the document.
    """

    name: str
    role: str
    work: str
    read: Callable[[object], bool]
    prepare: Callable[[bytes], object] = bytes


@dataclass(frozen=True, slots=True)
class Outcome:
    contender: Contender
    files_per_second: float
    files_read: int


def default_corpus() -> Path:
    configured = os.environ.get("CAP_CORPUS")
    if configured:
        return Path(configured)
    return PROJECT_ROOT.parent / "shared" / "corpus" / "cap"


def ours(largest_file: int) -> Contender:
    from publisher.cap.document import check_document
    from publisher.cap.xmlsafe import DEFAULT_MAX_BYTES, XmlLimits

    # The size limit is a deployment setting; here it must not refuse a real alert.
    limits = XmlLimits(max_bytes=max(DEFAULT_MAX_BYTES, largest_file))

    def read(data: object) -> bool:
        assert isinstance(data, bytes)
        return check_document(data, profile="cap12", limits=limits).alert is not None

    return Contender(
        name="ours (check_document, profile cap12)",
        role="ours",
        work="read + structure + CAP 1.2 rules + signature integrity",
        read=read,
    )


def lxml_with_xsd(schema_folder: Path) -> Contender:
    schemas = {
        namespace: etree.XMLSchema(etree.parse(str(schema_folder / file_name)))
        for namespace, file_name in CAP_SCHEMAS.items()
    }
    # A plain parser, never a schema-validating one: the schema is applied to the tree.
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )

    def read(data: object) -> bool:
        assert isinstance(data, bytes)
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            return False
        schema = schemas.get(etree.QName(root).namespace or "")
        return schema is not None and schema.validate(root)

    return Contender(
        name="lxml + official XSD",
        role="floor",
        work="well-formed + XSD of its namespace",
        read=read,
    )


def capparselib() -> Contender:
    from capparselib.parsers import CAPParser

    def read(text: object) -> bool:
        assert isinstance(text, str)
        if any(marker in text for marker in _ENTITY_MARKERS):
            return False
        try:
            return bool(CAPParser(text).as_dict())
        except Exception:
            return False

    return Contender(
        name="capparselib",
        role="peer",
        work="XSD-validating objectify parse, dict of each alert",
        read=read,
        prepare=lambda data: data.decode("utf-8", errors="replace"),
    )


def cap_tools() -> Contender:
    from cap_tools.models import Alert
    from xsdata.formats.dataclass.parsers import XmlParser

    parser = XmlParser()

    def read(data: object) -> bool:
        assert isinstance(data, bytes)
        try:
            return isinstance(parser.from_bytes(data, Alert), Alert)
        except Exception:
            return False

    return Contender(
        name="cap-tools",
        role="peer",
        work="xsdata binding to CAP 1.2 dataclasses",
        read=read,
    )


def _time_pass(read: Callable[[object], bool], documents: Sequence[object]) -> float:
    elapsed = 0.0
    for document in documents:
        started = time.perf_counter()
        read(document)
        elapsed += time.perf_counter() - started
    return elapsed


def measure(contender: Contender, files: Sequence[bytes], runs: int, repeat: int) -> Outcome:
    documents = [contender.prepare(data) for data in files]
    # The counting pass doubles as a warm-up: lazy imports and caches fill here.
    files_read = sum(contender.read(document) for document in documents)
    rates = []
    for _ in range(runs):
        elapsed = sum(_time_pass(contender.read, documents) for _ in range(repeat))
        rates.append(len(documents) * repeat / elapsed)
    return Outcome(contender, statistics.median(rates), files_read)


def _load_contenders(corpus: Path, largest_file: int) -> list[Contender]:
    factories: list[tuple[Callable[[], Contender], str]] = [
        (lambda: ours(largest_file), "ours not measured: publisher.cap.document is not available"),
        (lambda: lxml_with_xsd(corpus / "schema"), "lxml + XSD not measured: schemas not loaded"),
        (capparselib, "peer capparselib not installed (make bench installs it)"),
        (cap_tools, "peer cap-tools not installed (make bench installs it)"),
    ]
    contenders = []
    for factory, missing in factories:
        try:
            contenders.append(factory())
        except (ImportError, OSError, etree.XMLSchemaParseError) as error:
            print(f"{missing}: {error}")
    return contenders


def _ours(outcomes: Sequence[Outcome]) -> Outcome | None:
    return next((o for o in outcomes if o.contender.role == "ours"), None)


def _ratio(ours_outcome: Outcome | None, other: Outcome) -> str:
    if ours_outcome is None:
        return "-"
    return f"{ours_outcome.files_per_second / other.files_per_second:.1f}x"


def markdown_table(outcomes: Sequence[Outcome], total: int, runs: int) -> str:
    ours_outcome = _ours(outcomes)
    lines = [
        f"| contender | work per file | files/s (median of {runs}) | read of {total} "
        "| ours / contender |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    lines.extend(
        f"| {o.contender.name} | {o.contender.work} | {o.files_per_second:,.0f} "
        f"| {o.files_read} | {_ratio(ours_outcome, o)} |"
        for o in outcomes
    )
    return "\n".join(lines)


def verdicts(outcomes: Sequence[Outcome]) -> list[str]:
    ours_outcome = _ours(outcomes)
    peers = [o for o in outcomes if o.contender.role == "peer"]
    if ours_outcome is None or not peers:
        return ["goals: not judged (ours or every peer is missing)"]
    fastest = max(peers, key=lambda o: o.files_per_second)
    most_read = max(peers, key=lambda o: o.files_read)
    speed = ours_outcome.files_per_second / fastest.files_per_second
    return [
        f"goal: ours >= {GOAL_SPEED_RATIO:.0f}x the fastest peer ({fastest.contender.name}): "
        f"{speed:.1f}x, {'met' if speed >= GOAL_SPEED_RATIO else 'NOT met'}",
        f"goal: ours reads more of real/ than any peer: {ours_outcome.files_read} vs "
        f"{most_read.files_read} ({most_read.contender.name}), "
        f"{'met' if ours_outcome.files_read > most_read.files_read else 'NOT met'}",
    ]


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.cap_bench", description=__doc__)
    parser.add_argument(
        "--corpus",
        type=Path,
        default=default_corpus(),
        help="corpus root holding real/ and schema/ (default: %(default)s)",
    )
    parser.add_argument("--runs", type=int, default=5, help="timed runs; the median is reported")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the folder per run")
    arguments = parser.parse_args(argv)
    if arguments.runs < 1 or arguments.repeat < 1:
        parser.error("--runs and --repeat must be at least 1")
    if not (arguments.corpus / "real").is_dir():
        parser.error(f"no real/ folder in {arguments.corpus} (set --corpus or CAP_CORPUS)")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    real = sorted(path for path in (arguments.corpus / "real").iterdir() if path.is_file())
    files = [path.read_bytes() for path in real]
    largest = max(len(data) for data in files)
    print(
        f"CAP read + validate: {len(files)} files of {arguments.corpus / 'real'}, "
        f"{arguments.runs} runs x {arguments.repeat} passes, one process"
    )
    print(
        f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"lxml {etree.__version__} (libxml2 {'.'.join(map(str, etree.LIBXML_VERSION))})"
    )
    outcomes = []
    for contender in _load_contenders(arguments.corpus, largest):
        print(f"measuring {contender.name} ...", file=sys.stderr, flush=True)
        outcomes.append(measure(contender, files, arguments.runs, arguments.repeat))
    print()
    print(markdown_table(outcomes, len(files), arguments.runs))
    print()
    for line in verdicts(outcomes):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
