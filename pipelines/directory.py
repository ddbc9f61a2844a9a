"""The Tier 1 directory: what every participating organisation publishes for professionals.

Only the published fields leave: name, type, region, services, eligibility and contact channels
of active organisations, and the external data, frameworks and tools each currently uses or has
stopped using by its own recorded decision (`dvnet decision add`). Never keys, key ids, tiers'
internal status or agreements.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from dvnet.contracts.codes import ORG_TYPE_LABELS
from dvnet.contracts.network import Network
from dvnet.common.decisions import Decision
from dvnet.common.files import atomic_write
from dvnet.common.htmlpage import page, table

PUBLISHED_FIELDS = ("name", "type", "region", "services", "eligibility", "phone", "email", "website", "intake_hours", "decisions")


def directory_entries(network: Network, decisions: list[Decision] = ()) -> list[dict[str, str]]:
    """``decisions``: the organisations' current decisions (``common.decisions.current``), cited by subject."""
    cited: dict[str, list[str]] = {}
    for d in decisions:
        cited.setdefault(d.org, []).append(f"{d.change} {d.subject} ({d.kind}, {d.decided_on})")
    entries = []
    for o in sorted(network.organisations, key=lambda o: (o.region, o.name)):
        if not o.active:
            continue
        entries.append(
            {
                "name": o.name,
                "type": ORG_TYPE_LABELS[o.type],
                "region": o.region,
                "services": "; ".join(o.services),
                "eligibility": o.eligibility,
                "phone": o.contact.phone,
                "email": o.contact.email,
                "website": o.contact.website,
                "intake_hours": o.contact.intake_hours,
                "decisions": "; ".join(cited.get(o.id, [])),
            }
        )
    return entries


def export_directory(network: Network, folder: Path, decisions: list[Decision] = ()) -> list[Path]:
    entries = directory_entries(network, decisions)
    folder = Path(folder)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=PUBLISHED_FIELDS)
    writer.writeheader()
    writer.writerows(entries)
    paths = [folder / "directory.csv", folder / "directory.json", folder / "directory.html"]
    atomic_write(paths[0], buf.getvalue().encode("utf-8"))
    atomic_write(paths[1], json.dumps({"network": network.name, "organisations": entries}, indent=2).encode("utf-8"))
    body = table([f.replace("_", " ") for f in PUBLISHED_FIELDS], [[e[f] for f in PUBLISHED_FIELDS] for e in entries])
    atomic_write(paths[2], page(f"{network.name}: professional directory", body, f"{len(entries)} organisations").encode("utf-8"))
    return paths
