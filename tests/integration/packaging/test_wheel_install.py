"""A normal (non-editable) install: only ``dvnet`` lands in site-packages, and it finds its
Dagster instance template and the reports' Jinja2 templates.

The wheel is built from this checkout and installed with ``--no-deps`` into a fresh virtual
environment that borrows the test environment's dependencies through a plain path entry (so the
checkout's own editable install is not visible there). Everything runs outside the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.slow

PROBE = """
import importlib.util, json, pathlib, sys, yaml
import dvnet.assets.definitions, dvnet.pipelines.cli
from dvnet.assets.runs import TEMPLATE_HOME, dagster_home_for
from dvnet.common.templates import _env
from dvnet.contracts.registry import all_contracts
home = dagster_home_for(pathlib.Path("net"), None, {})
print(json.dumps({
    "instance": str(home),
    "instance_telemetry": yaml.safe_load((home / "dagster.yaml").read_text())["telemetry"]["enabled"],
    "dvnet": dvnet.pipelines.cli.__file__,
    "template": str(TEMPLATE_HOME / "dagster.yaml"),
    "template_exists": (TEMPLATE_HOME / "dagster.yaml").is_file(),
    "report_templates": {p: sorted(_env(p).list_templates()) for p in ("dvnet.assets.releases.lib", "dvnet.pipelines.contributor")},
    "compiled": [c.ref for c in all_contracts() if c.source_schema.columns and c.output_schema.columns],
    "generic": [n for n in ("contracts", "anonymize", "bundle", "pipelines", "assets", "common", "kernels", "dagster_home")
                if importlib.util.find_spec(n) is not None],
}))
"""


def test_a_wheel_installs_under_one_namespace_and_finds_its_dagster_yaml(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)  # fmt: skip
    (wheel,) = wheels.glob("dvnet-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())  # fmt: skip
    (site / "borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, cwd=tmp_path)  # fmt: skip

    import json

    out = subprocess.run([str(python), "-c", PROBE], check=True, capture_output=True, text=True, cwd=tmp_path)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["dvnet"].startswith(str(site)), found
    assert found["template"].startswith(str(site)) and found["template_exists"], found
    assert found["report_templates"] == {
        "dvnet.assets.releases.lib": ["page.html.j2", "release_report.html.j2"],
        "dvnet.pipelines.contributor": ["page.html.j2", "steward_report.html.j2"],
    }, found  # the reports' Jinja2 templates ship in the wheel
    assert found["compiled"] == ["referral/v1", "research_extract/v1", "service_episode/v1"], found  # the contracts' compiled forms ship
    assert found["generic"] == [], f"generic top-level import names installed: {found['generic']}"
    # A network's instance is made in its own coordinator folder from the packaged template, not in site-packages.
    assert found["instance"] == str(tmp_path / "net" / "coordinator" / "dagster") and found["instance_telemetry"] is False, found
    help_ = subprocess.run([str(env_dir / "bin" / "dvnet"), "--help"], capture_output=True, text=True, cwd=tmp_path)
    assert help_.returncode == 0 and "contribute" in help_.stdout
