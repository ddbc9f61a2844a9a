"""`dvnet demo`: the README's main command — a whole simulated network, end to end."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import click
from rich.table import Table

from dvnet.common.paths import NetworkPaths
from dvnet.pipelines.cli import EXIT_OK, EXIT_REFUSED
from dvnet.anonymize.disclosure.profiles import PROFILE_NAMES
from dvnet.pipelines.commands.options import FiniteFloatRange, dagster_home_option
from dvnet.pipelines.commands.synth import MAX_SCALE
from dvnet.pipelines.console import make_console
from dvnet.pipelines.progress import progress


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), default=Path("demo-network"), show_default=True, help="Folder for the whole network: new, empty, or made by an earlier demo (then deleted and re-created).")
@click.option("--seed", type=int, default=20261125, show_default=True, help="Seed of the synthetic extracts.")
@click.option("--scale", type=FiniteFloatRange(min=0, min_open=True, max=MAX_SCALE), default=1.0, show_default=True, help="Multiply every agency's volume.")
@click.option("--profile", type=click.Choice(PROFILE_NAMES), default="dv-default", show_default=True, help="Disclosure-control profile of the release.")
@dagster_home_option()
@click.pass_context
def demo(ctx: click.Context, out: Path, seed: int, scale: float, profile: str, dagster_home: Path | None) -> int:
    """Create a demo network, generate every agency's synthetic extracts, contribute, ingest and publish.

    Everything is written under OUT (default demo-network/). Exit 0 when the release is published.
    """
    from dvnet.assets.runs import dagster_home_for
    from dvnet.kernels.arrow_memory import use_system_allocator
    from dvnet.pipelines.commands.waiting import holding_warehouse
    from dvnet.pipelines.demo import fresh_network

    use_system_allocator()  # process-wide, so here at the entry: the agencies' contributions run on it (see `dvnet contribute`)
    environ = (ctx.obj or {}).get("environ", os.environ)
    console = make_console()
    started = time.perf_counter()
    root = out.resolve()

    ceremony = fresh_network(root)  # first: a folder that is not an earlier demo network is refused before anything is printed
    home = dagster_home_for(root, dagster_home, environ)  # the new network's own instance: it starts clean
    with holding_warehouse(root, 0):  # a new network: nobody else can be using its warehouse
        return _run(ceremony, root, out, console, started, seed, scale, profile, home)


def _run(ceremony, root: Path, out: Path, console, started: float, seed: int, scale: float, profile: str, home: Path) -> int:
    from dvnet.assets.releases.lib.files import read_manifest
    from dvnet.assets.releases.lib.internal import read_record, suppression_line
    from dvnet.assets.research.lib.extract import make_extract
    from dvnet.pipelines.demo_network import DSA_ID, PERIODS, RESEARCHER, REVIEWERS, demo_geography
    from dvnet.common import agreements
    from dvnet.assets.releases.lib.review import decide
    from dvnet.assets.runs import latest_check_results, run_intake, run_release_step
    from dvnet.pipelines.commands.extract import print_made, print_opened
    from dvnet.pipelines.commands.ingest import print_cubes, print_destinations, print_outcomes
    from dvnet.pipelines.demo import deliver, plan, return_receipts, run_contributions
    from dvnet.pipelines.research import open_extract
    from dvnet.pipelines.synth import synthesize

    console.rule("[bold]1. The network: a key ceremony (every party makes its own keys in its own folder)")
    orgs = ceremony.organisations
    print_ceremony(ceremony, console)
    tiers = Counter(o.tier for o in orgs)
    console.print(f"{len(orgs)} organisations of {len({o.type for o in orgs})} types; tiers " + ", ".join(f"{t}: {tiers[t]}" for t in sorted(tiers))
                  + f"; {len(ceremony.people)} people with roles; one data-sharing agreement")  # fmt: skip

    console.rule("[bold]2. Synthetic extracts (each agency's own system)")
    with progress(console, "synthesising extracts", unit="rows") as tracker:
        summary = synthesize(orgs, root / "agencies", seed=seed, periods=list(PERIODS), scale=scale, geography=demo_geography(), progress=tracker.advance)
    console.print(f"{summary.total_rows:,} rows in {len(summary.files)} files for periods {', '.join(PERIODS)}")

    console.rule("[bold]3. Each agency contributes (validate → consent → de-identify → disclosure check → seal)")
    items = plan(orgs)
    with progress(console, "contribute", total=len(items), unit="contributions") as tracker:
        results = run_contributions(root, items, tick=tracker.advance)
    t = Table(title="What left each agency (no values: counts only)", title_justify="left")
    for h in ("agency", "contract", "period", "mode", "read", "rejected", "excluded (consent)", "withheld (k)", "sent", "status"):
        t.add_column(h, justify="right" if h in ("read", "rejected", "excluded (consent)", "withheld (k)", "sent") else "left")
    for r in results:
        t.add_row(r.agency_id, r.contract, r.period, r.mode, f"{r.records_read:,}", f"{r.rejected:,}", f"{r.excluded_consent:,}", f"{r.withheld_k:,}", f"{r.sent:,}", r.status)
    console.print(t)
    assert all(r.reconciles for r in results), "every record is accounted for"
    refused = [r for r in results if r.status == "refused"]

    console.rule("[bold]4. Bundles travel to the coordinator; the central Dagster job verifies and loads them")
    moved = deliver(root)
    ceremony.as_person(ceremony.founder, "ingest")  # as `dvnet ingest --as <coordinator>` does: granted, signed, audited
    with progress(console, "ingest", total=moved, unit="bundles") as tracker:
        run = run_intake(root, home, progress=tracker.advance)
    print_outcomes(run.outcomes, console)
    print_destinations(NetworkPaths(root), run.outcomes, console)
    console.print(f"{moved} bundles delivered with `dvnet send` (shared-folder drop); receipts fetched by the agencies: {return_receipts(root)}")
    if not print_cubes(run, console):
        return EXIT_REFUSED

    console.rule("[bold]5. A disclosure-controlled release: requested, checked by two reviewers, published")
    ceremony.as_person(ceremony.founder, "publish")  # as `dvnet publish --as <coordinator>`: a request, not yet public
    config = {"profile": profile, "periods": [PERIODS[-1]], "author": ceremony.founder}
    with progress(console, "release request") as tracker:  # Dagster runs: the request and the release show in the UI
        release_id, _ = run_release_step(root, home, "release_request", config, "dvnet publish", step=tracker.stage)
    for reviewer in REVIEWERS:  # `dvnet review approve <id> --comment … --as <reviewer>`: signed, bound to the request's hash
        state = decide(root, release_id, ceremony.as_person(reviewer, "review.approve"), "approve", "tables, suppression and audit checked")
    console.print(f"request {release_id}: approved by {', '.join(state.approvals)} (content {state.content_sha256[:16]})")
    ceremony.as_person(ceremony.founder, "release.publish")
    run_release_step(root, home, "published_release", {"request_id": release_id}, "dvnet release publish")
    release = NetworkPaths(root).releases / release_id
    manifest = read_manifest(release)
    s = read_record(NetworkPaths(root).coordinator, release_id)["stats"]  # the coordinator's figures (per reason): never in the release folder
    console.print(f"release {release_id}: {len(manifest['tables'])} tables; {suppression_line(s)}")
    console.print(manifest["audit"]["summary"])

    console.rule("[bold]6. A research extract under the data-sharing agreement, opened by its named researcher")
    made = make_extract(root, DSA_ID, ceremony.as_person(ceremony.founder, "extract"))
    print_made(made, console)
    opened = open_extract(made.files[RESEARCHER], ceremony.people[RESEARCHER].folder, ceremony.paths.coordinator_public,
                          ceremony.people[RESEARCHER].folder / "extracts")  # fmt: skip
    print_opened(opened, console)
    print_extract_contents(made, opened, agreements.require(root, DSA_ID), console)
    checks = latest_check_results(root, home)
    print_checks(checks, console)
    console.rule("[bold]Done")
    console.print(f"release:   {release}")
    console.print(f"report:    {release / 'report.html'}")
    console.print(f"stewards:  {root / 'agencies' / '<agency>' / 'reports'} (what left each agency, one HTML + JSON per contribution)")
    console.print(f"query it:  .venv/bin/dvnet query --network {out} \"SELECT * FROM referral_acceptance_rate WHERE status = 'published' LIMIT 10\"")
    console.print(f"lineage:   make ui   (Dagster UI on http://127.0.0.1:3000; this network's own instance: {home})")
    console.print(f"research:  .venv/bin/dvnet dsa show --network {out} {DSA_ID}   (the agreement; its extract: {opened.parquet})")
    console.print(f"audit:     .venv/bin/dvnet audit verify {out}/coordinator/audit.log   (chain, signatures, head and every receipt's anchor)")
    console.print(f"finished in {time.perf_counter() - started:.0f} s" + (f"; {len(refused)} contribution{'s' if len(refused) != 1 else ''} refused (see {'their reports' if len(refused) != 1 else 'its report'})" if refused else ""))
    quarantined = [o for o in run.outcomes if o["outcome"] == "quarantined"]
    failed = sorted(name for name, (passed, severity) in checks.items() if passed is not True and severity != "WARN")
    if failed:
        console.print(f"[red]asset checks not passing: {', '.join(failed)}[/]")
    return EXIT_REFUSED if quarantined or failed else EXIT_OK


def print_extract_contents(made, opened, dsa, console) -> None:
    """What the researcher's copy holds, in plain words: counts and field names, never a value."""
    from dvnet.pipelines.demo_network import TIER4_PARTIES

    tier4 = [p for p in dsa.parties if p in TIER4_PARTIES]
    console.print(f"In plain words, {opened.details['researcher']}'s extract holds {opened.table.num_rows:,} rows (one per service episode) "
                  f"of {len(opened.table.column_names)} fields: {', '.join(opened.table.column_names)}.")  # fmt: skip
    console.print(f"They are {made.people:,} people, each known only by this project's token (no name; no other project's extract "
                  f"shares a token); {made.linked_people:,} of them were seen at two or more of the {len(tier4)} Tier 4 agencies "
                  f"({', '.join(tier4)}) and are linked as one person.")  # fmt: skip
    console.print(f"{made.withheld:,} rows were withheld: their combination of quasi-identifying fields occurs fewer than {dsa.min_cell_size} times. "
                  "No value of the extract is printed here.")  # fmt: skip


def print_checks(results: dict[str, tuple[bool | None, str | None]], console) -> None:
    """Every asset check's latest result, as the UI shows it."""
    t = Table(title="Dagster asset checks (latest evaluation)", title_justify="left")
    for h in ("asset", "check", "result", "severity"):
        t.add_column(h)
    for name, (passed, severity) in sorted(results.items()):
        asset, check = name.split(":", 1)
        result = "[green]passed[/]" if passed else ("not evaluated" if passed is None else "[red]FAILED[/]")
        t.add_row(asset, check, result, severity or "—")
    console.print(t)


def print_ceremony(ceremony, console) -> None:
    """Who made which key, and where it lives (one row per kind of party); then what the
    coordinator's folder holds."""
    from dvnet.pipelines.ceremony import foreign_key_files, private_key_files

    t = Table(title="Key ceremony: who made which key, where it lives (private keys 0600, never printed)", title_justify="left")
    for h in ("who", "key", "made by", "lives in"):
        t.add_column(h)
    groups: dict[tuple[str, str], list] = {}
    for r in ceremony.records:
        groups.setdefault((r.key, r.made_by), []).append(r)
    for (key, made_by), records in groups.items():
        parties = [r.party for r in records]
        where = str(records[0].lives_in.relative_to(ceremony.root))
        plural = {"person": "people", "agency": "agencies", "Tier 4 agency": "Tier 4 agencies"}.get(records[0].kind, records[0].kind)
        who = parties[0] if len(parties) == 1 else f"{len(parties)} {plural}, each: " + ", ".join(parties[:3]) + (", …" if len(parties) > 3 else "")
        if records[0].kind == "person":
            roles = Counter(role for p in ceremony.registry.people for role in p.roles)
            who = f"{len(parties)} people, each (" + ", ".join(f"{role} {n}" for role, n in roles.items()) + ")"
        t.add_row(who, key, made_by, where.replace(parties[0], "<id>") if len(parties) > 1 else where)
    console.print(t)
    held, foreign = private_key_files(ceremony.paths.coordinator), foreign_key_files(ceremony.root)
    console.print(f"the coordinator's folder holds {len(held)} private key files: {len(held) - len(foreign)} its own "
                  f"({', '.join(sorted(p.name for p in held if p not in foreign))}), {len(foreign)} of any other party; "
                  "the linkage key it relayed is sealed to each Tier 4 agency's own key")  # fmt: skip
