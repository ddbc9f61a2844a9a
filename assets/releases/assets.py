"""Releases group: release requests, and the releases two reviewers let out for evaluators.

``release_request`` (``dvnet publish``) builds a request for review; ``published_release``
(``dvnet release publish <id>``) publishes an approved one (``lib/review.py``). The request step
enforces the disclosure gate in its own code (``build_request`` refuses with ``AUDIT_FAILED``
before writing anything); the checks here re-verify the newest release from its published files,
as an evaluator could.
"""

# No `from __future__ import annotations`: Dagster reads config and resource types from the signatures.


from collections.abc import Callable
from typing import Optional

from dagster import AssetCheckResult, AssetCheckSeverity, Config, MaterializeResult, ResourceParam, asset, asset_check
from pydantic import Field

# The release machinery (suppression, the LP audit, the report's charts) is imported in the steps
# that use it: every process that loads these definitions (`dvnet ingest`, each sensor run) would
# otherwise pay a second of imports for steps it never runs.
from dvnet.anonymize.disclosure.limits import TIME_LIMIT_MAX_MINUTES, TIME_LIMIT_MINUTES
from dvnet.assets.resources import NetworkResource, WarehouseResource
from dvnet.assets.runs import RELEASE_POOL

WAREHOUSE_DEPS = ["service_indicator_cubes", "equity_cubes", "referral_flow_cubes", "unduplicated_people"]


class ReleaseConfig(Config):
    author: str = Field(description="The person requesting the release (their id).")
    profile: str = Field(default="dv-default", description="Disclosure-control profile: dv-default, cms-11, opensafely, datashield-3.")
    periods: list[str] = Field(default_factory=list, description="Quarters to publish (default: the latest loaded).")
    method: str = Field(default="auto", description="Complementary suppression: auto, milp or heuristic.")
    threshold: Optional[int] = Field(default=None, description="custom profile: smallest count published.")
    rounding_base: Optional[int] = Field(default=None, description="custom profile: round published counts to this base.")
    dominance_share: Optional[float] = Field(default=None, description="custom profile: one agency's largest share of a cell.")
    time_limit_minutes: float = Field(default=TIME_LIMIT_MINUTES, gt=0, le=TIME_LIMIT_MAX_MINUTES, description="What suppression, and each audit, may take; a release not proven safe by then is refused (AUDIT_INCOMPLETE).")


@asset(group_name="releases", deps=WAREHOUSE_DEPS, pool=RELEASE_POOL)
def release_request(config: ReleaseConfig, network: NetworkResource, warehouse: WarehouseResource,
                    release_steps: ResourceParam[Callable[[str], None]]) -> MaterializeResult:  # fmt: skip
    """A release request awaiting review: tidy tables with Total margins, suppressed cells marked, audit passed."""
    from dvnet.assets.releases.lib.release import build_request, latest_periods

    overrides = {k: v for k in ("threshold", "rounding_base", "dominance_share") if (v := getattr(config, k)) is not None}
    with warehouse.locked():  # build_request opens the warehouse itself
        periods = config.periods or latest_periods(network.root_path)
        result = build_request(network.root_path, config.profile, periods, config.author, method=config.method, overrides=overrides,
                               step=release_steps, time_limit=60.0 * config.time_limit_minutes)  # fmt: skip
    s = result.internal  # the coordinator's figures (per reason): never in the release folder
    return MaterializeResult(
        metadata={
            "release_id": result.release_id,
            "profile": config.profile,
            "periods": ", ".join(periods),
            "tables": len(result.manifest["tables"]),
            "cells": s["cells"],
            "suppressed_primary": s["primary"],
            "suppressed_dominance": s["dominance"],
            "suppressed_complementary": s["complementary"],
            "suppressed_earlier": s["earlier"],
            "audit": result.summary,
            "contributing_agencies": result.manifest["contributing_agencies"],
            "author": config.author,
        }
    )


class PublishConfig(Config):
    request_id: str = Field(description="The approved release request to publish.")


@asset(group_name="releases", deps=[release_request], pool=RELEASE_POOL)
def published_release(config: PublishConfig, network: NetworkResource, warehouse: WarehouseResource) -> MaterializeResult:
    """A published release: a request two reviewers other than its author approved, served by `dvnet query`."""
    from dvnet.assets.releases.lib.files import read_manifest
    from dvnet.assets.releases.lib.review import publish_request, review_state

    with warehouse.locked():
        state = review_state(network.root_path, config.request_id)
        folder = publish_request(network.root_path, config.request_id)
    manifest = read_manifest(folder)
    return MaterializeResult(metadata={"release_id": config.request_id, "approved_by": ", ".join(state.approvals),
                                       "content_sha256": state.content_sha256, "audit": manifest["audit"]["summary"]})  # fmt: skip


@asset_check(asset=published_release, name="no_exact_or_narrow_ranges", description="Re-run the LP audit over the newest release's published files: every suppressed cell stays protected.")
def no_exact_or_narrow_ranges(network: NetworkResource) -> AssetCheckResult:
    from dvnet.anonymize.disclosure.errors import DisclosureError
    from dvnet.assets.releases.lib.files import newest_release
    from dvnet.assets.releases.lib.internal import read_reasons
    from dvnet.assets.releases.lib.verify import reaudit_release

    folder = newest_release(network.paths.releases)
    try:
        report = reaudit_release(folder, read_reasons(network.paths.coordinator, folder.name))  # the coordinator knows why
    except DisclosureError as e:  # published numbers that contradict each other: fail, never crash
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.ERROR, metadata={"reason": e.reason})
    return AssetCheckResult(passed=report.passed, severity=AssetCheckSeverity.ERROR, metadata={"audit": report.summary})


@asset_check(asset=published_release, name="no_cell_below_threshold", description="No published count lies between 1 and the profile's threshold.")
def no_cell_below_threshold(network: NetworkResource) -> AssetCheckResult:
    from dvnet.assets.releases.lib.files import newest_release, read_manifest
    from dvnet.assets.releases.lib.verify import small_published_cells

    folder = newest_release(network.paths.releases)

    small = small_published_cells(folder)
    profile = read_manifest(folder)["profile"]["name"]
    return AssetCheckResult(passed=small == 0, severity=AssetCheckSeverity.ERROR, metadata={"small_published_cells": small, "profile": profile})


ASSETS = [release_request, published_release]
CHECKS = [no_exact_or_narrow_ranges, no_cell_below_threshold]
