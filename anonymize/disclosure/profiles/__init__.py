"""Disclosure-control profiles, one tiny module per policy; ``get_profile`` picks one by name."""

from __future__ import annotations

from dvnet.anonymize.disclosure.errors import UNKNOWN_PROFILE, DisclosureError
from dvnet.anonymize.disclosure.profiles import cms11, custom, datashield3, dv_default, opensafely
from dvnet.anonymize.disclosure.profiles.base import Profile

BUILT_IN = {m.NAME: m.PROFILE for m in (dv_default, cms11, opensafely, datashield3)}
PROFILE_NAMES = (*BUILT_IN, custom.NAME)


def get_profile(name: str | Profile, **overrides: object) -> Profile:
    """The profile called ``name`` with ``overrides`` applied (``custom`` takes every setting)."""
    if isinstance(name, Profile):
        return name.replace(**overrides) if overrides else name
    if name == custom.NAME:
        return custom.custom(**overrides)
    if name not in BUILT_IN:
        raise DisclosureError(
            UNKNOWN_PROFILE,
            "unknown disclosure-control profile",
            hint=f"choose one of: {', '.join(PROFILE_NAMES)}",
            profile=str(name),
        )
    profile = BUILT_IN[name]
    return profile.replace(**overrides) if overrides else profile


__all__ = ["PROFILE_NAMES", "Profile", "get_profile"]
