"""The researcher's side of a research extract: check and decrypt the copy sealed to them.

Needs only their own person folder (``encryption.key``) and the coordinator's public file, whose
signing key the extract must verify under; the copy expires with the DSA (the bundle's
``not_after`` is the DSA's end), so an old copy cannot be opened after the project ends.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from pathlib import Path

import pyarrow as arrow
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from dvnet import bundle
from dvnet.common.agency import read_coordinator_public
from dvnet.common.files import atomic_write, private_folder
from dvnet.common.people import PersonFolder


@dataclass(frozen=True)
class OpenedExtract:
    table: arrow.Table
    details: dict  # project, dsa_version, researcher, periods, fields
    usable_until: str
    parquet: Path
    csv: Path


def open_extract(extract_file: Path, person_folder: Path, coordinator_file: Path, out: Path, *, now: dt.datetime | None = None) -> OpenedExtract:
    """Verify the coordinator's signature, decrypt with the person's own key, and write the rows
    as Parquet and CSV (0600) into ``out`` (0700)."""
    coordinator = read_coordinator_public(coordinator_file)
    opened = bundle.open_bundle(
        Path(extract_file).read_bytes(),
        signing_public_key=bundle.signing_public_key_from_text(coordinator["signing_public_key"]),
        recipient_private_key=bundle.load_encryption_key(PersonFolder(Path(person_folder)).encryption_key),
        now=now or dt.datetime.now(dt.UTC),
    )
    details = opened.manifest["details"]
    private_folder(Path(out))
    parquet = Path(out) / f"{details['project']}.parquet"
    atomic_write(parquet, opened.data, mode=0o600)
    table = pq.read_table(parquet)
    csv = io.BytesIO()
    pacsv.write_csv(table, csv)
    atomic_write(parquet.with_suffix(".csv"), csv.getvalue(), mode=0o600)
    return OpenedExtract(table, details, opened.header["not_after"], parquet, parquet.with_suffix(".csv"))
