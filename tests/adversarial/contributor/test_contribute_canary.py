"""No value from an extract leaves through any door of a contribution.

Every identifying text cell (names, client and episode numbers, an ignored notes column) holds a
unique marker, and the faulty variants put markers in invalid codes, malformed dates, booleans,
postal codes, over-long names and broken rows. Contributions then run through the CLI in both
modes, sealed, dry and refused. No marker (nor any part of one) may appear on stdout or stderr,
in a log record at DEBUG, in the HTML or JSON report, in the audit log, in any other file the
run writes, in an exception's message or context, or in the decrypted bundle: neither in its
bytes nor in any cell, statistic or metadata of the Parquet inside it. Only pseudonyms, tokens,
codes and counts may leave.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from parquet_text import parquet_text

from dvnet import bundle
from dvnet.contracts.errors import DvnetError
from dvnet.common import network as store
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, main
from dvnet.pipelines.contributor.read import read_extract
from dvnet.pipelines.contributor.run import ContributionOptions, contribute
from dvnet.pipelines.demo_network import demo_geography
from dvnet.pipelines.synth import synthesize

PERIOD = "2026-Q3"
MARK = "CANARY"
FIND = re.compile(rb"canary", re.IGNORECASE)  # any part of any marker, in any case


class Markers:
    def __init__(self):
        self.n = 0

    def __call__(self, kind: str) -> str:
        self.n += 1
        return f"{MARK}{kind}{self.n:06x}"


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def _write(path: Path, rows: list[dict], extra_lines: list[str] = ()) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(buf.getvalue() + "".join(extra_lines), encoding="utf-8")
    return path


def _headless(path: Path, rows: list[dict]) -> Path:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([list(r.values()) for r in rows])
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def _marked(rows: list[dict], mark: Markers) -> list[dict]:
    """Valid rows whose identifying cells are all markers (still valid for the contract)."""
    out = []
    for row in rows:
        row = dict(row)
        row["client_name"] = f"{mark('n')} {mark('n')}"
        row["client_id"] = mark("c")  # letters and digits: a valid client number
        row["episode_id"] = mark("e")
        row["Notes"] = f"{mark('x')}, called back; {mark('x')}"  # ignored by the mapping
        out.append(row)
    return out


def _broken(rows: list[dict], mark: Markers) -> list[dict]:
    """The marked rows with markers in invalid cells of every kind."""
    rows = [dict(r) for r in rows]
    spoil = [
        ("gender", lambda: mark("g")),
        ("episode_start", lambda: f"2026-07-{mark('d')}"),
        ("date_of_birth", lambda: mark("b")),
        ("risk_escalation", lambda: mark("r")),
        ("postal_code", lambda: mark("p")),
        ("client_id", lambda: f"{mark('c')}!"),
        ("client_name", lambda: mark("l") * 20),  # over 200 characters
        ("consent_expiry", lambda: f"{mark('x')}-01-01"),
        ("service_type", lambda: f"shelter {mark('s')}"),
    ]
    for i, (column, value) in enumerate(spoil):
        for j in range(3):
            rows[i * 3 + j][column] = value()
    rows[40]["episode_id"] = rows[41]["episode_id"]  # a duplicate of a marked id
    return rows


@pytest.fixture
def setup(network_dir, tmp_path):
    orgs = store.load_network(network_dir).organisations
    out = tmp_path / "synth"
    synthesize([o for o in orgs if o.id in ("shelter-north", "valley-health")], out, seed=11, periods=[PERIOD], geography=demo_geography())
    mark = Markers()
    files = {}
    for agency, contract in [("shelter-north", "service_episode"), ("valley-health", "research_extract")]:
        rows = _marked(_rows(out / agency / "extracts" / f"{contract}_{PERIOD}.csv"), mark)
        header = ",".join(rows[0])
        files[(agency, "clean")] = _write(tmp_path / f"{agency}_clean.csv", rows)
        files[(agency, "broken")] = _write(tmp_path / f"{agency}_broken.csv", _broken(rows, mark))
        ragged = [f"{mark('q')},{mark('q')}\n", f'"{mark("u")}\n']  # a short row, then an unterminated quote
        files[(agency, "ragged")] = _write(tmp_path / f"{agency}_ragged.csv", rows, ragged)
        files[(agency, "control")] = _write(tmp_path / f"{agency}_control.csv", rows, [header.replace("episode_id", f"{mark('z')}\x07") + "\n"])
        # exported without its header row: the first record (markers in it) stands where the names
        # should be, and later rows have problems that name their column
        spoilt = [{k: f"{v}\x07" for k, v in r.items()} for r in rows[1:4]]
        files[(agency, "headless")] = _headless(tmp_path / f"{agency}_headless.csv", rows[:1] + spoilt + rows[4:])
        folder = store.NetworkPaths(network_dir).agencies / agency
        (folder / "mapping" / f"{contract}.yaml").write_text(yaml.safe_dump({"ignore_columns": ["Notes"]}), encoding="utf-8")
    return network_dir, files


def _find(data: bytes | str) -> list[str]:
    data = data.encode("utf-8", "surrogateescape") if isinstance(data, str) else data
    return [data[max(0, m.start() - 20) : m.end() + 20].decode("utf-8", "replace") for m in FIND.finditer(data)]


RUNS = [
    # (agency, contract, variant, options, expected exit code)
    ("shelter-north", "service_episode", "clean", ["--mode", "aggregate"], EXIT_OK),
    ("shelter-north", "service_episode", "clean", ["--mode", "record", "--k", "2", "--max-withheld-share", "1"], EXIT_OK),
    ("shelter-north", "service_episode", "clean", ["--mode", "record", "--k", "2", "--max-withheld-share", "0.5"], EXIT_OK),
    ("shelter-north", "service_episode", "clean", ["--mode", "record", "--dry-run", "--k", "2", "--max-withheld-share", "1"], EXIT_OK),
    ("shelter-north", "service_episode", "clean", ["--mode", "record"], EXIT_REFUSED),  # k
    ("shelter-north", "service_episode", "broken", ["--mode", "aggregate"], EXIT_REFUSED),
    ("shelter-north", "service_episode", "broken", ["--mode", "record", "--k", "2", "--max-withheld-share", "1", "--max-reject-share", "0.5"], EXIT_OK),
    ("shelter-north", "service_episode", "ragged", ["--mode", "aggregate"], EXIT_REFUSED),
    ("shelter-north", "service_episode", "control", ["--mode", "record"], EXIT_REFUSED),
    ("shelter-north", "service_episode", "headless", ["--mode", "aggregate"], EXIT_REFUSED),
    ("valley-health", "research_extract", "clean", ["--project", "dsa-2026-07", "--k", "2", "--max-withheld-share", "1"], EXIT_OK),
    ("valley-health", "research_extract", "broken", ["--project", "dsa-2026-07"], EXIT_REFUSED),
    ("valley-health", "research_extract", "ragged", ["--project", "dsa-2026-07"], EXIT_REFUSED),
]


def test_no_marker_leaves_through_any_output(setup, capfd, caplog):
    network, files = setup
    caplog.set_level(logging.DEBUG)
    codes = []
    for agency, contract, variant, options, _ in RUNS:
        folder = store.NetworkPaths(network).agencies / agency
        argv = ["contribute", "--agency", str(folder), "--contract", contract, "--extract", str(files[(agency, variant)]), "--period", PERIOD, *options,
                "--resend"]  # one quarter, many times on purpose  # fmt: skip
        codes.append(main(argv))
    assert codes == [expected for *_, expected in RUNS]

    captured = capfd.readouterr()
    assert "SEALED" in captured.out and "REFUSED" in captured.out  # the summaries were printed
    assert _find(captured.out) == [] and _find(captured.err) == []
    assert caplog.records, "the run logs (so the check below means something)"
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        assert _find(text) == [], f"log record from {record.name}"

    keys = store.NetworkPaths(network).keys
    sealed = 0
    for agency in ("shelter-north", "valley-health"):
        folder = store.NetworkPaths(network).agencies / agency
        written = [p for p in folder.rglob("*") if p.is_file() and "extracts" not in p.parts and "mapping" not in p.parts]
        reports = [p for p in written if p.suffix in (".html", ".json")]
        assert reports and (folder / "audit.log") in written
        for path in written:  # reports, audit log, sequence, bundles (their plain header included)
            assert _find(path.read_bytes()) == [], path.relative_to(network)
        org = store.load_network(network).organisation(agency)
        for blob in [*(folder / "outbox").glob("*.dvb"), *(folder / "withdrawn").glob("*.dvb")]:  # withdrawn: replaced by a later --resend
            opened = bundle.open_bundle(
                blob.read_bytes(),
                signing_public_key=bundle.signing_public_key_from_text(org.signing_public_key),
                recipient_private_key=bundle.load_encryption_key(keys / "encryption.key"),
                now=dt.datetime.now(dt.UTC),
            )
            data = bytes(opened.data)
            assert _find(data) == []
            table = pq.read_table(io.BytesIO(data))
            assert table.num_rows > 0
            assert _find(parquet_text(data)) == []
            assert _find(json.dumps(opened.manifest) + json.dumps(opened.header)) == []
            sealed += 1
    assert sealed == sum(1 for *_, o, code in RUNS if code == EXIT_OK and "--dry-run" not in o)


@pytest.mark.parametrize("variant", ["ragged", "control", "broken", "headless"])
def test_no_marker_in_exceptions_or_refusals(setup, variant):
    network, files = setup
    path = files[("shelter-north", variant)]
    try:
        read_extract(path)
    except DvnetError as e:
        text = str(e) + repr(e) + json.dumps(getattr(e, "context", {}), default=str) + (e.hint or "")
        assert _find(text) == []
    agency = store.load_agency(store.NetworkPaths(network).agencies / "shelter-north")
    for mode in ("aggregate", "record"):
        r = contribute(agency, ContributionOptions(contract_id="service_episode", extract=path, period=PERIOD, mode=mode))
        assert r.status == "refused"
        assert _find(json.dumps(r.to_dict(), default=str)) == []
        assert _find(repr(r)) == []
