"""`dvnet synth` on a real network folder: exit codes, files, and a summary without personal values."""

from __future__ import annotations

import pandas as pd
import pytest

from dvnet.pipelines.cli import main
from dvnet.pipelines.ceremony import Ceremony


@pytest.fixture(scope="module")
def network_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("net") / "network"
    ceremony = Ceremony.found(root, "Test network")
    for id, type, tier, region in (
        ("harbour-house", "direct_service", 4, "south-metro"),
        ("coast-health", "health_social_care", 3, "north-coast"),
        ("hills-legal-aid", "justice_legal", 2, "south-hills"),
        ("northland-lab", "research_evaluation", 1, "north-coast"),
    ):
        ceremony.add_agency(id, id.replace("-", " ").title(), type, tier, region)
    return root


def test_synth_writes_into_each_agencys_extracts_folder(network_dir, capsys):
    code = main(["synth", "--network", str(network_dir), "--scale", "0.05", "--period", "2026-Q3", "--faults", "ragged_rows,bad_dates"], {})
    out = capsys.readouterr().out
    assert code == 0
    agencies = network_dir / "agencies"
    assert (agencies / "harbour-house" / "extracts" / "research_extract_2026-Q3.csv").exists()
    assert (agencies / "coast-health" / "extracts" / "service_episode_2026-Q3.faulty.csv").exists()
    assert (agencies / "hills-legal-aid" / "extracts" / "referral_2026-Q3.csv").exists()
    assert not (agencies / "hills-legal-aid" / "extracts" / "service_episode_2026-Q3.csv").exists()
    assert not list((agencies / "northland-lab" / "extracts").iterdir())
    assert (agencies / "_ground_truth" / "persons.parquet").exists()
    assert "rows in" in out and "faults planted" in out

    # no value from the extracts reaches the terminal
    for path in agencies.glob("*/extracts/*_2026-Q3.csv"):
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
        for column in ("client_id", "client_name", "postal_code", "date_of_birth"):
            for value in set(df[column]) - {""}:
                assert value not in out


def test_synth_help_and_user_errors(network_dir, capsys):
    assert main(["synth", "--help"], {}) == 0
    assert "--faults" in capsys.readouterr().out
    assert main(["synth", "--network", str(network_dir), "--period", "2026Q3"], {}) == 2
    assert main(["synth", "--network", str(network_dir), "--faults", "typos"], {}) == 2
    assert main(["synth", "--network", str(network_dir), "--scale", "0"], {}) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "--period" in err
