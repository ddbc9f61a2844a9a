"""The steward's report accounts for every record on every surface (terminal and HTML), withheld
records included; and a de-identified output that breaks the output model is refused before
sealing (OUTPUT_MODEL_VIOLATION), on either half of the output (unkeyed columns and pseudonyms),
with a report and no sequence number taken."""

from __future__ import annotations

import re

import pyarrow.compute as pc
import pytest
from rich.console import Console

from dvnet.anonymize import deidentify as deid
from dvnet.anonymize import generalise
from dvnet.pipelines.contributor import sequence
from dvnet.pipelines.contributor.report import print_summary, write_report

AGENCY = "shelter-north"


def _html_accounting(html: str) -> dict[str, int]:
    section = html.split("Every record accounted for", 1)[1].split("</table>", 1)[0]
    return {label: int(n.replace(",", "")) for label, n in re.findall(r"<tr><td>([^<]*)</td><td class=\"num\">([\d,]+)</td></tr>", section)}


def _terminal_accounting(r) -> dict[str, int]:
    console = Console(record=True, width=200)
    print_summary(r, console)
    text = console.export_text()
    return {label.strip(): int(n.replace(",", "")) for label, n in re.findall(r"^(\w[^\d\n]*?)\s+([\d,]+)\s*$", text, re.MULTILINE)}


def test_every_surface_of_the_report_accounts_for_withheld_records(net, tmp_path):
    r = net.contribute(AGENCY, "service_episode", mode="record", k=2, max_withheld_share=0.5)
    assert r.status == "sealed" and r.withheld_k > 0
    html = write_report(r, tmp_path, "20261001T000000Z").read_text()
    for surface in (_html_accounting(html), _terminal_accounting(r)):
        assert surface["withheld (k-anonymity)"] == r.withheld_k, surface
        parts = {k: v for k, v in surface.items() if k != "records read"}
        assert sum(parts.values()) == surface["records read"] == r.records_read, surface


def _check_refused(net, r, column: str) -> None:
    agency = net.agency(AGENCY)
    assert (r.status, r.refusal["reason"]) == ("refused", "OUTPUT_MODEL_VIOLATION")
    assert column in r.refusal["message"]
    assert r.sent == 0 and r.held_back > 0
    assert not list((agency.folder / "outbox").iterdir()) and sequence.current(agency.sequence_path) == 0


@pytest.mark.parametrize("mode", ["aggregate", "record"])
def test_an_unkeyed_column_outside_the_output_model_is_refused(net, monkeypatch, mode):
    monkeypatch.setattr(generalise, "quarter", lambda dates: generalise.month(dates))  # a bug: months where quarters belong
    r = net.contribute(AGENCY, "service_episode", mode=mode, k=2, max_withheld_share=1.0)
    _check_refused(net, r, "episode_quarter")


def test_a_pseudonym_outside_the_output_model_is_refused(net, monkeypatch, tmp_path):
    real = deid.pseudonyms.pending_pseudonyms

    class Shouting:  # a bug: upper-case hex where the model says lower-case
        def __init__(self, pending):
            self.pending = pending

        def rows(self, low, high):
            return pc.utf8_upper(self.pending.rows(low, high))

        def __getattr__(self, name):  # add, close, cancel: as the real one
            return getattr(self.pending, name)

    monkeypatch.setattr(deid.pseudonyms, "pending_pseudonyms", lambda *a, **k: Shouting(real(*a, **k)))
    r = net.contribute(AGENCY, "service_episode", mode="record", k=2, max_withheld_share=1.0)
    _check_refused(net, r, "pseudonym")
    assert "OUTPUT_MODEL_VIOLATION" in write_report(r, tmp_path, "20261001T000000Z").read_text()
