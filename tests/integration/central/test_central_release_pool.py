"""Release runs staff launch from the UI go one at a time (issue 17): both release assets are in the
pool ``dvnet_release`` of one slot (``dagster.yaml``: ``concurrency: pools``, granularity ``run``).
The real ``dagster dev`` (webserver, daemon, code server) through ``dvnet ui``, its instance in a
throw-away PostgreSQL (where runs may overlap: four at a time), two ``release_request`` runs
launched over GraphQL as the UI's launchpad does. Without the pool both start at once and the
second waits on the warehouse lock inside its run (the overlap assertion turns red)."""

from __future__ import annotations

import json
import time

import pytest
from dagster_dev import free_port, get, start, stop, wait_until_up

from dvnet.assets.runs import PG_URL_ENV

WAIT_SECONDS = 600  # a bound on waiting for the daemon, not an assertion about speed
DONE = ("SUCCESS", "FAILURE", "CANCELED")
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
  }
}
"""
REPOSITORIES = "{ repositoriesOrError { ... on RepositoryConnection { nodes { name location { name } } } } }"


def _graphql(port: int, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    return json.loads(get(f"http://127.0.0.1:{port}/graphql", body))["data"]


def _launch_release_request(port: int, author: str) -> str:
    (repo,) = _graphql(port, REPOSITORIES)["repositoriesOrError"]["nodes"]
    params = {
        "selector": {"repositoryLocationName": repo["location"]["name"], "repositoryName": repo["name"], "jobName": "__ASSET_JOB",
                     "assetSelection": [{"path": ["release_request"]}]},
        "runConfigData": {"ops": {"release_request": {"config": {"author": author, "profile": "dv-default"}}}},
        "mode": "default",
    }  # fmt: skip
    launched = _graphql(port, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    return launched["run"]["runId"]


@pytest.mark.slow
def test_release_runs_launched_from_the_ui_never_overlap(loaded_network, postgres, tmp_path):
    from dvnet.pipelines.ceremony import FOUNDER

    url = postgres.create_database("dagster")
    home, port, log = tmp_path / "pg_home", free_port(), tmp_path / "dvnet-ui.log"
    proc = start(loaded_network, home, port, log, env={PG_URL_ENV: url})
    try:
        wait_until_up(port, proc, log)
        launched = [_launch_release_request(port, FOUNDER[0]) for _ in range(2)]
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()[-3000:]
            statuses = postgres.query("SELECT status FROM runs WHERE run_id = ANY(%s)", db="dagster", params=(launched,))
            if len(statuses) == 2 and all(s in DONE for (s,) in statuses):
                break
            time.sleep(2)
    finally:
        stop(proc, log)
    runs = postgres.query("SELECT run_id, status, start_time, end_time FROM runs WHERE run_id = ANY(%s) ORDER BY start_time", db="dagster",
                          params=(launched,))  # fmt: skip
    assert [r[1] for r in runs] == ["SUCCESS", "SUCCESS"], f"{runs}\n{log.read_text()[-3000:]}"
    (_, _, start_a, end_a), (_, _, start_b, _) = runs
    assert end_a <= start_b, f"the two release runs were in progress at the same time: {[(r[2], r[3]) for r in runs]}"
    requests = [p for p in (loaded_network / "coordinator" / "release-requests").iterdir() if p.is_dir()]
    assert len(requests) == 2  # both made their request, one after the other
