"""The same extract exported as Excel (.xlsx) or Parquet, with real dates and booleans rather
than text, contributes exactly what the CSV does."""

from __future__ import annotations

import datetime as dt

import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from dvnet.contracts.registry import get_contract


def _typed(csv_path, contract_id: str) -> pa.Table:
    """The CSV as a typed table, as a case system's own export would hold it."""
    schema = get_contract(contract_id).source.to_schema()
    names = list(schema.columns)
    text = pacsv.read_csv(
        csv_path, convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True)
    )
    columns = []
    for name in names:
        col, kind = text.column(name), str(schema.columns[name].dtype)
        if kind.startswith("datetime64"):
            col = pa.compute.strptime(col, format="%Y-%m-%d", unit="s").cast(pa.date32())
        elif kind == "boolean":
            col = pa.compute.equal(col, "true")
        columns.append(col)
    return pa.table(columns, names=names)


def _write_xlsx(table: pa.Table, path):
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("episodes")
    sheet.append(table.column_names)
    for row in table.to_pylist():
        sheet.append([v for v in row.values()])
    workbook.save(path)


@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_excel_and_parquet_extracts_contribute_the_same_as_csv(net, tmp_path, fmt, mode):
    src = net.extract("shelter-north", "service_episode")
    table = _typed(src, "service_episode")
    assert table.column("episode_start").type == pa.date32()
    path = tmp_path / f"episodes.{fmt}"
    if fmt == "parquet":
        pq.write_table(table, path)
    else:
        _write_xlsx(table, path)
        assert isinstance(openpyxl.load_workbook(path).active["G2"].value, dt.datetime)  # a real Excel date

    reference = net.contribute("shelter-north", "service_episode", extract=src, mode=mode, k=2, max_withheld_share=1.0)
    other = net.contribute("shelter-north", "service_episode", extract=path, mode=mode, k=2, max_withheld_share=1.0)
    assert other.status == reference.status == "sealed"
    assert other.issues == []
    assert (other.records_read, other.sent, other.excluded_consent) == (reference.records_read, reference.sent, reference.excluded_consent)
    a, b = net.open("shelter-north", reference).table, net.open("shelter-north", other).table
    keys = [(c, "ascending") for c in a.column_names]
    assert b.sort_by(keys).equals(a.sort_by(keys))


@pytest.mark.parametrize("layout", ["semicolons", "title_row"])
def test_a_header_of_one_column_says_what_it_usually_means(net, tmp_path, layout):
    """A semicolon-separated export, or one with a title row above the column names, reads as a
    header of one column: the refusal says so instead of listing every field as missing."""
    lines = net.extract("shelter-north", "service_episode").read_text(encoding="utf-8").splitlines()
    odd = tmp_path / "export.csv"
    if layout == "semicolons":  # no comma anywhere: one column, every record one field
        odd.write_text("\n".join(line.replace(",", ";") for line in lines) + "\n", encoding="utf-8")
    else:
        odd.write_text("\n".join(["Episodes report Q3"] + lines) + "\n", encoding="utf-8")
    r = net.contribute("shelter-north", "service_episode", extract=odd, mode="aggregate")
    assert r.status == "refused"
    said = " ".join([r.refusal["message"], r.refusal.get("hint") or "", *(p["detail"] for p in r.read_problems)])
    assert "the header holds a single column: the file may be separated by semicolons" in said, r.refusal
    assert "Episodes report" not in str(r.to_dict())  # the title row is a header name nobody declared
