"""The README's "Research project" walk-through, run as written: its shell block, parsed from the
README, in an empty folder (HOME there too, so every `~/dvnet/<person>` folder is the test's own),
with `dvnet` of this checkout first on PATH. The README cannot drift from what works.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[3]
HEADING = "## Research project"


def _audit(path: Path) -> list[dict]:
    from dvnet.common import audit

    return audit.read(path)


def walkthrough_block(readme: str) -> str:
    """The first ```sh block under the walk-through's heading."""
    section = readme.split(f"\n{HEADING}", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```sh\n(.*?)^```$", section, re.S | re.M)
    assert match, "the walk-through has a ```sh block"
    return match.group(1)


def test_the_readmes_research_walkthrough_runs_as_written(tmp_path):
    block = walkthrough_block((ROOT / "README.md").read_text(encoding="utf-8"))
    shutil.copy(ROOT / "pipelines" / "demo_geography.yaml", tmp_path / "regions.yaml")  # as the README says
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DVNET_", "DAGSTER_"))}
    env.update(HOME=str(tmp_path), PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}", COLUMNS="200")
    proc = subprocess.run(["bash", "-e", "-u", "-o", "pipefail", "-c", block], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, ascii(proc.stdout[-3000:] + proc.stderr[-3000:])

    fields = [f for line in block.splitlines() for f in re.findall(r"--field (\S+)", line)]
    dsa = re.search(r"--id (dsa-\S+)", block).group(1)
    opened = tmp_path / dsa / f"{dsa}.parquet"  # the researcher's --out ~/<dsa>
    table = pq.read_table(opened)
    assert table.column_names == fields and table.num_rows > 0
    assert (opened.stat().st_mode & 0o777, opened.with_suffix(".csv").stat().st_mode & 0o777) == (0o600, 0o600)
    flat = " ".join(proc.stdout.split())
    linked = re.search(r"(\d+) people by linkage token, (\d+) of them seen at two or more agencies", flat)
    assert linked and int(linked.group(2)) > 0, "the three agencies' people are linked"
    assert int(linked.group(1)) == len(set(table.column("linkage_token").to_pylist()))
    assert "audit log intact" in flat
    # the review: the first request rejected and never public, the second approved twice and published
    root = tmp_path / "my-network" / "coordinator"
    requests = sorted(p.name for p in (root / "release-requests").iterdir())
    published = sorted(p.name for p in (root / "releases").iterdir() if not p.name.startswith("."))
    assert len(requests) == 2 and len(published) == 1 and published[0] in requests, (requests, published)
    decided = [(e["actor"], e["details"].get("verdict"), e["objects"].get("request")) for e in _audit(root / "audit.log") if e["action"] == "release_review"]
    rejected = [r for _, v, r in decided if v == "reject"]
    assert rejected and rejected[0] != published[0] and sorted(a for a, v, r in decided if v == "approve" and r == published[0]) == ["ben-reviewer", "chen-reviewer"], decided
