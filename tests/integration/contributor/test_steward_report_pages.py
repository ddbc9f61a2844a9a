"""The steward's HTML report as a browser shows it, in both modes: the accounting, the exact count
tables that leave in aggregate mode (they are the steward's own data), and for a refusal a policy
option can lift, the option named, on the page and in the terminal."""

from __future__ import annotations

import html
import json
import re

import pytest
from chromium_page import needs_chromium, open_page
from rich.console import Console

from dvnet.pipelines.contributor.report import print_summary, write_report
from dvnet.pipelines.contributor.run import ContributionResult
from dvnet.pipelines.contributor.wording import LIFTED_BY

AGENCY = "shelter-north"


def _terminal(r: ContributionResult) -> str:
    console = Console(record=True, width=400)
    print_summary(r, console)
    return console.export_text()


def test_the_aggregate_report_shows_every_count_that_leaves(net, tmp_path):
    r = net.contribute(AGENCY, "service_episode", mode="aggregate", dry_run=True)
    assert r.status == "dry-run" and r.cube_cells > 0
    text = write_report(r, tmp_path, "20261001T000000Z").read_text(encoding="utf-8")
    counts = r.counts.to_pandas()
    sections = re.findall(r'<section class="count-table" id="c-([^"]+)">(.*?)</section>', text, re.S)
    assert {name for name, _ in sections} == set(counts["table_name"])
    for name, body in sections:
        shown = [int(n.replace(",", "")) for n in re.findall(r'<td class="num">([\d,]+)</td></tr>', body)]
        assert shown == counts.loc[counts["table_name"] == name, "n"].tolist(), name
    assert "counts" not in r.to_dict()  # the JSON report stays as it was: the bundle holds the counts
    assert "every count that leaves is shown, table by table, in the HTML report" in _terminal(r)


@pytest.mark.parametrize("reason", sorted(LIFTED_BY))
def test_a_refusal_a_policy_value_lifts_names_the_option(tmp_path, reason):
    r = ContributionResult(AGENCY, "service_episode/v1", "record", "2026-Q3", status="refused", refusal={"reason": reason, "message": "refused"})
    option = {"REJECTED_ROWS_OVER_LIMIT": "max_reject_share", "K_ANONYMITY_NOT_MET": "max_withheld_share"}[reason]
    page = html.unescape(write_report(r, tmp_path, "20261001T000000Z").read_text(encoding="utf-8"))
    terminal = _terminal(r)
    for surface in (page, terminal):
        assert f"--{option.replace('_', '-')}" in surface and f"policy.{option}" in surface and "agency.yaml" in surface
    assert "What was sent" in page and "Exact columns that leave" not in page


def test_a_refusal_no_option_lifts_names_none(tmp_path):
    r = ContributionResult(AGENCY, "service_episode/v1", "record", "2026-Q3", status="refused", refusal={"reason": "OUTPUT_MODEL_VIOLATION", "message": "refused"})
    page = write_report(r, tmp_path, "20261001T000000Z").read_text(encoding="utf-8")
    assert 'id="lift"' not in page and "agency.yaml" not in _terminal(r)


@needs_chromium
@pytest.mark.parametrize("mode", ["record", "aggregate"])
def test_the_steward_report_in_headless_chromium(net, tmp_path, mode):
    options = {"k": 2, "max_withheld_share": 0.5} if mode == "record" else {}
    r = net.contribute(AGENCY, "service_episode", mode=mode, dry_run=True, **options)
    dom = open_page(write_report(r, tmp_path, "20261001T000000Z"), tmp_path / f"steward_{mode}.png", tmp_path / "chromium")
    assert "Every record accounted for" in dom and "Exact columns that leave" in dom
    if mode == "aggregate":
        assert '<h2 id="counts">The count tables that leave</h2>' in dom
        assert dom.count('class="count-table"') == r.counts.to_pandas()["table_name"].nunique()
    else:
        assert 'id="counts"' not in dom and "Withheld" in dom


def test_the_report_cites_the_agencys_current_decisions_never_who_or_why(net, capsys):
    """`dvnet contribute` reads the agency's decision log (its own copies, `dvnet decision add
    --agency-folder`) and its HTML and JSON report cite the current decisions: a superseded one
    and who decided and why stay in the signed log only."""
    from dvnet.common import network as store
    from dvnet.common.authority import authorise
    from dvnet.common.people import init_person, read_person_file
    from dvnet.pipelines.ceremony import FOUNDER
    from dvnet.pipelines.cli import EXIT_OK, main

    root, folder = net.root, net.agency(AGENCY).folder
    person = init_person(root / "people" / "sam-steward", "sam-steward", "Sam (fictional)", AGENCY)
    store.add_person(root, read_person_file(person.public_file), ["steward"],
                     authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", "network.add-person"))  # fmt: skip
    for subject, change, on in [("Risk tool A", "adopted", "2026-01-10"), ("Census data feed", "adopted", "2026-02-01"), ("Risk tool A", "stopped", "2026-05-01")]:
        assert main(["decision", "add", "--network", str(root), "--org", AGENCY, "--change", change, "--kind", "tool", "--subject", subject,
                     "--decided-by", "Board of directors", "--why", "Quietly-Secret-Reason", "--review-date", "2099-06-30", "--decided-on", on,
                     "--agency-folder", str(folder), "--as", "sam-steward", "--key", str(person.key)], {}) == EXIT_OK  # fmt: skip
    capsys.readouterr()
    assert main(["contribute", "--agency", str(folder), "--contract", "service_episode", "--extract", str(net.extract(AGENCY, "service_episode")),
                 "--period", "2026-Q3", "--dry-run"], {}) == EXIT_OK  # fmt: skip
    page = sorted((folder / "reports").glob("*.html"))[-1]
    text = html.unescape(page.read_text(encoding="utf-8"))
    cited = text.split('id="decisions"', 1)[1]
    rows = re.findall(r"<tr><td>(\S+-\d{3})</td><td>(\w+)</td><td>tool</td><td>([^<]+)</td>", cited)
    assert rows == [("shelter-north-002", "adopted", "Census data feed"), ("shelter-north-003", "stopped", "Risk tool A")], ascii(rows)
    assert "Board of directors" not in text and "Quietly-Secret-Reason" not in text and "sam-steward" not in text
    report = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    assert [(d["decision"], d["change"], d["subject"], d["review_date"]) for d in report["decisions"]] == [
        ("shelter-north-002", "adopted", "Census data feed", "2099-06-30"), ("shelter-north-003", "stopped", "Risk tool A", "2099-06-30")]
