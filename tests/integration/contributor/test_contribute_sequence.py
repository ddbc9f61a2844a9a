"""A sequence number is taken only by a bundle that seals: no refusal, usage error or unreadable
key uses one up, and a steward always learns why (a one-line error, or a report)."""

from __future__ import annotations

import errno
import json
import os
import tempfile

import pytest
import yaml
from contribution_constants import PERIOD

from dvnet import bundle
from dvnet.common import audit
from dvnet.anonymize import counts
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED, EXIT_USAGE, main
from dvnet.pipelines.contributor import run, sequence

AGENCY = "shelter-north"


def _contribute(net, capsys, *extra: str) -> tuple[int, str]:
    agency = net.agency(AGENCY)
    argv = ["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract",
            str(net.extract(AGENCY, "service_episode")), "--period", PERIOD, *extra]  # fmt: skip
    code = main(argv, {})
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    return code, out.err


def _unchanged(net, before_audit: int) -> None:
    agency = net.agency(AGENCY)
    assert sequence.current(agency.sequence_path) == 0
    assert not list((agency.folder / "outbox").iterdir()) and not list((agency.folder / "reports").iterdir())
    assert len(audit.read(agency.audit_log)) == before_audit  # refused before anything was read


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda p: os.chmod(p, 0o644), "KEY_FILE_INSECURE"),
        (lambda p: p.write_bytes(b"-----BEGIN " + b"PRIVATE KEY-----\nnot a key\n"), "KEY_INVALID"),
        (lambda p: p.unlink(), "KEY_INVALID"),
    ],
    ids=["readable-by-others", "corrupt", "missing"],
)
def test_an_unusable_signing_key_is_a_usage_error_before_anything_is_read(net, capsys, damage, reason):
    agency = net.agency(AGENCY)
    before = len(audit.read(agency.audit_log))
    key = agency.signing_key_path
    os.chmod(key, 0o600)
    damage(key)
    code, err = _contribute(net, capsys, "--mode", "aggregate")
    assert code == EXIT_USAGE and err.startswith(f"error: {reason}: "), err
    _unchanged(net, before)


def test_an_unusable_pseudonym_key_is_refused_in_record_mode(net, capsys):
    agency = net.agency(AGENCY)
    before = len(audit.read(agency.audit_log))
    os.chmod(agency.pseudonym_key_path, 0o640)
    code, err = _contribute(net, capsys, "--mode", "record")
    assert code == EXIT_USAGE and err.startswith("error: KEY_FILE_INSECURE: "), err
    _unchanged(net, before)


def test_a_bad_supersedes_is_refused_before_a_number_is_taken(net, capsys):
    before = len(audit.read(net.agency(AGENCY).audit_log))
    code, err = _contribute(net, capsys, "--mode", "aggregate", "--supersedes", "not-a-bundle-id")
    assert code == EXIT_USAGE and err.startswith("error: USAGE_SUPERSEDES_INVALID: "), err
    _unchanged(net, before)


@pytest.mark.parametrize(("policy", "field"), [({"k": 0}, "k"), ({"k": -4}, "k"), ({"max_reject_share": 7}, "max_reject_share"), ({"max_withheld_share": "all"}, "max_withheld_share")])
def test_an_unsafe_policy_in_agency_yaml_is_a_configuration_error(net, capsys, policy, field):
    agency = net.agency(AGENCY)
    path = agency.folder / "agency.yaml"
    config = yaml.safe_load(path.read_text())
    config["policy"].update(policy)
    path.write_text(yaml.safe_dump(config))
    code, err = _contribute(net, capsys, "--mode", "record")
    assert code == EXIT_USAGE and err.startswith(f"error: AGENCY_CONFIG_INVALID: agency.yaml: policy.{field}: "), err


def test_a_seal_that_fails_takes_no_number_and_the_next_one_takes_1(net, capsys, monkeypatch):
    def too_large(*args, **kwargs):
        raise bundle.BundleError("TOO_LARGE", "bundle would be 300 MB; the cap is 256 MB")

    monkeypatch.setattr(run.bundle.BundleWriter, "seal", too_large)
    code, _ = _contribute(net, capsys, "--mode", "aggregate")
    agency = net.agency(AGENCY)
    assert code == EXIT_REFUSED
    assert sequence.current(agency.sequence_path) == 0 and not list((agency.folder / "outbox").iterdir())
    (report,) = (agency.folder / "reports").glob("*.json")  # the steward is told why
    assert '"TOO_LARGE"' in report.read_text()
    assert audit.read(agency.audit_log)[-1]["reason"] == "TOO_LARGE"
    monkeypatch.undo()
    code, _ = _contribute(net, capsys, "--mode", "aggregate")
    assert code == EXIT_OK and sequence.current(agency.sequence_path) == 1


class _TemporaryFilesOn:
    """``run``'s view of the ``tempfile`` module with ``TemporaryFile`` replaced (only ``run``'s)."""

    def __init__(self, make) -> None:
        self.TemporaryFile = make

    def __getattr__(self, name):
        return getattr(tempfile, name)


class _FillingFile:
    """A real temporary file on a disk with ``room`` bytes left: a write that does not fit fails
    with ENOSPC, as a full disk's does."""

    def __init__(self, room: int, **kwargs) -> None:
        self._file, self.room = tempfile.TemporaryFile(**kwargs), room  # noqa: SIM115 (closed with the run)

    def write(self, data) -> int:
        n = memoryview(data).nbytes
        if n > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= n
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_a_disk_that_fills_up_while_the_payload_is_encrypted_refuses_and_takes_no_number(net, capsys, monkeypatch, mode):
    agency = net.agency(AGENCY)
    monkeypatch.setattr(run, "tempfile", _TemporaryFilesOn(lambda **kw: _FillingFile(4096, **kw)))
    code, err = _contribute(net, capsys, "--mode", mode, "--max-withheld-share", "1.0")
    assert code == EXIT_REFUSED, err
    assert sequence.current(agency.sequence_path) == 0 and not list((agency.folder / "outbox").iterdir())
    (report,) = (agency.folder / "reports").glob("*.json")
    assert '"DISK_FULL"' in report.read_text()
    assert audit.read(agency.audit_log)[-1]["reason"] == "DISK_FULL"
    monkeypatch.undo()
    code, err = _contribute(net, capsys, "--mode", mode, "--max-withheld-share", "1.0")
    assert code == EXIT_OK and sequence.current(agency.sequence_path) == 1, err


def test_a_disk_that_fills_up_while_the_bundle_is_written_leaves_no_file_and_skips_its_number(net, capsys, monkeypatch):
    agency = net.agency(AGENCY)
    real = bundle.SealedStream.write_to

    def fills_up(self, out):
        out.write(b"\x89DVB half a bundle")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(bundle.SealedStream, "write_to", fills_up)
    code, err = _contribute(net, capsys, "--mode", "aggregate")
    assert code == EXIT_REFUSED, err
    (report,) = (agency.folder / "reports").glob("*.json")
    refusal = json.loads(report.read_text())["refusal"]
    assert refusal["reason"] == "DISK_FULL" and "sequence number 1 is skipped" in refusal["message"], refusal
    assert not list((agency.folder / "outbox").iterdir())  # no half file, no temporary file
    assert sequence.current(agency.sequence_path) == 1  # a gap, never a repeat
    monkeypatch.setattr(bundle.SealedStream, "write_to", real)
    code, err = _contribute(net, capsys, "--mode", "aggregate")
    assert code == EXIT_OK and sequence.current(agency.sequence_path) == 2, err
    (sealed,) = (agency.folder / "outbox").iterdir()
    assert sealed.name.endswith("_000002.dvb")


def test_another_error_while_sealing_is_not_taken_for_a_full_disk(net, capsys, monkeypatch):
    monkeypatch.setattr(run, "tempfile", _TemporaryFilesOn(lambda **kw: (_ for _ in ()).throw(PermissionError(errno.EACCES, "denied"))))
    with pytest.raises(PermissionError):
        main(["contribute", "--agency", str(net.agency(AGENCY).folder), "--contract", "service_episode", "--extract",
              str(net.extract(AGENCY, "service_episode")), "--period", PERIOD, "--mode", "aggregate"], {})  # fmt: skip


def test_running_out_of_memory_is_a_typed_refusal_that_keeps_nothing(net, capsys, monkeypatch):
    """A real DuckDB out-of-memory (its standard counts held to 1 MB by the owner's limit) ends as
    one OUT_OF_MEMORY line, exit 1: no traceback, no bundle, no report, no sequence number."""
    agency = net.agency(AGENCY)
    monkeypatch.setattr(counts, "coded", lambda contract: None)  # counted in DuckDB, as a contract deriving a dimension is
    monkeypatch.setenv("DVNET_MEMORY_LIMIT", "1MB")
    argv = ["contribute", "--agency", str(agency.folder), "--contract", "service_episode", "--extract",
            str(net.extract(AGENCY, "service_episode")), "--period", PERIOD, "--mode", "aggregate"]  # fmt: skip
    code = main(argv, os.environ)
    out = capsys.readouterr()
    assert code == EXIT_REFUSED and out.err.startswith("error: OUT_OF_MEMORY: "), out.err[-2000:]
    assert "Traceback" not in out.out + out.err
    assert sequence.current(agency.sequence_path) == 0
    assert not list((agency.folder / "outbox").iterdir()) and not list((agency.folder / "reports").iterdir())

    monkeypatch.setenv("DVNET_MEMORY_LIMIT", "lots")
    assert main(argv, os.environ) == EXIT_USAGE
    assert capsys.readouterr().err.startswith("error: USAGE_MEMORY_LIMIT_INVALID: ")

    monkeypatch.setenv("DVNET_MEMORY_LIMIT", "2GB")  # a limit the work fits in changes nothing
    assert main(argv, os.environ) == EXIT_OK, capsys.readouterr().err[-2000:]
    assert sequence.current(agency.sequence_path) == 1
