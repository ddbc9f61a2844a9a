"""People and roles: every command that changes the network's state runs as a person, with their
own key, checked against the one policy table, and audited whether granted or refused.

The matrix (every role × every action of ``POLICY``, plus the ways a person can fail to be who
they say) prints its headline: ``A attempts, 0 unauthorised grants, 0 unaudited``.
"""

from __future__ import annotations

import os
import shutil

import pytest

from dvnet.common import audit
from dvnet.common import network as store
from dvnet.common.authority import authorise, person_key_path
from dvnet.common.people import init_person, read_person_file
from dvnet.contracts.errors import AccessError, RegistryError
from dvnet.contracts.policy import POLICY, ROLES
from dvnet.pipelines.ceremony import FOUNDER
from dvnet.pipelines.cli import EXIT_OK, EXIT_USAGE, main


def _founder(root):
    return authorise(root, FOUNDER[0], root / "people" / FOUNDER[0] / "signing.key", "network.add-person")


@pytest.fixture
def staffed(network_dir):
    """``network_dir`` with one person per role (the founder is the coordinator; a steward of
    shelter-north), each with their own key in ``people/<id>/``."""
    for role in ROLES:
        if role == "coordinator":
            continue
        person_id = f"p-{role}"
        folder = init_person(network_dir / "people" / person_id, person_id, f"{role.title()} (fictional)", "shelter-north" if role == "steward" else "somewhere")
        store.add_person(network_dir, read_person_file(folder.public_file), [role], _founder(network_dir))
    return network_dir


def _person(root, role: str) -> tuple[str, object]:
    person_id = FOUNDER[0] if role == "coordinator" else f"p-{role}"
    return person_id, root / "people" / person_id / "signing.key"


def _entries(root) -> list[dict]:
    return audit.read(store.NetworkPaths(root).audit_log)


def _attempt(root, person_id, key, action, **kw) -> tuple[bool, list[dict]]:
    before = len(_entries(root))
    try:
        authorise(root, person_id, key, action, **kw)
        granted = True
    except AccessError:
        granted = False
    return granted, _entries(root)[before:]


def test_every_role_times_every_action_is_granted_exactly_by_the_policy_table(staffed, headline):
    attempts = unauthorised = unaudited = 0
    cases = [(role, *_person(staffed, role)) for role in ROLES]
    stranger = staffed / "people" / "p-auditor" / "signing.key"
    cases += [("unknown person", "nobody", stranger), ("someone else's key", "p-reviewer", stranger), ("no key", "p-reviewer", None)]
    for action, allowed in POLICY.items():
        for role, person_id, key in cases:
            granted, new = _attempt(staffed, person_id, key, action)
            attempts += 1
            should = role in allowed
            unauthorised += granted and not should
            assert granted == should, (role, action)
            audited = len(new) == 1 and new[0]["action"] == action and new[0]["outcome"] == ("granted" if granted else "refused")
            unaudited += not audited
            assert audited, (role, action, new)
            if granted:
                assert new[0]["actor"] == person_id and new[0]["sig"], "a grant is signed by its person"
    assert unauthorised == unaudited == 0
    headline("roles × actions", f"{attempts} attempts, {unauthorised} unauthorised grants, {unaudited} unaudited")


def test_refusals_say_why_with_a_reason_code(staffed):
    reviewer, key = _person(staffed, "reviewer")
    cases = [
        ("ROLE_NOT_ALLOWED", dict(person_id=reviewer, key_path=key)),
        ("PERSON_UNKNOWN", dict(person_id="nobody", key_path=key)),
        ("KEY_MISMATCH", dict(person_id=reviewer, key_path=staffed / "people" / FOUNDER[0] / "signing.key")),
        ("KEY_MISSING", dict(person_id=reviewer, key_path=None)),
    ]
    for reason, kw in cases:
        with pytest.raises(AccessError) as exc:
            authorise(staffed, action="publish", **kw)
        assert exc.value.reason == reason
        assert _entries(staffed)[-1]["reason"] == reason
    os.chmod(key, 0o644)
    with pytest.raises(AccessError) as exc:
        authorise(staffed, reviewer, key, "network.add-person")
    assert exc.value.reason == "KEY_UNUSABLE"


@pytest.mark.parametrize(
    "spoil, why, hint",
    [
        (lambda key: key.unlink(), "key file not found", "names the signing.key `dvnet person init` made for p-reviewer"),
        (lambda key: key.write_bytes(b"not a key\n"), "is not an unencrypted PKCS#8 PEM Ed25519 key", "names the signing.key"),
        (lambda key: os.chmod(key, 0o644), "key file has mode 0644", "chmod 600"),
    ],
    ids=["missing", "not a key", "readable by others"],
)
def test_an_unusable_key_file_is_named_with_why_and_a_hint(staffed, capsys, spoil, why, hint):
    reviewer, key = _person(staffed, "reviewer")
    spoil(key)
    code, _, err = _run(capsys, ["review", "list", "--network", str(staffed), "--as", reviewer, "--key", str(key)])
    assert code == EXIT_USAGE
    first, second = err.splitlines()[:2]
    assert first.startswith(f"error: KEY_UNUSABLE: {reviewer}'s key file {key} cannot be used: ") and why in first, err
    assert second.startswith("hint: ") and hint in second, err


def test_a_refusal_with_the_persons_own_key_is_signed_by_them(staffed):
    reviewer, key = _person(staffed, "reviewer")
    with pytest.raises(AccessError):
        authorise(staffed, reviewer, key, "ingest")
    entry = _entries(staffed)[-1]
    assert (entry["actor"], entry["outcome"], entry["reason"]) == (reviewer, "refused", "ROLE_NOT_ALLOWED") and entry["sig"]


def test_a_suspended_person_is_refused_and_the_last_coordinator_cannot_be_suspended(staffed):
    store.set_status(staffed, "p-auditor", "suspended", authorise(staffed, *_person(staffed, "coordinator"), "network.suspend"))
    granted, new = _attempt(staffed, *_person(staffed, "auditor"), "publish")
    assert not granted and new[0]["reason"] == "PERSON_SUSPENDED"
    with pytest.raises(RegistryError) as exc:
        store.set_status(staffed, FOUNDER[0], "suspended", authorise(staffed, *_person(staffed, "coordinator"), "network.suspend"))
    assert exc.value.reason == "LAST_COORDINATOR"


def test_a_steward_acts_for_their_own_agency_only(staffed, monkeypatch):
    monkeypatch.setitem(POLICY, "test.steward-action", frozenset({"steward"}))
    steward, key = _person(staffed, "steward")
    authorise(staffed, steward, key, "test.steward-action", agency="shelter-north")
    with pytest.raises(AccessError) as exc:
        authorise(staffed, steward, key, "test.steward-action", agency="valley-health")
    assert exc.value.reason == "ROLE_NOT_ALLOWED"


def test_the_custodian_is_never_the_coordinator(staffed):
    folder = staffed / "people" / FOUNDER[0]
    with pytest.raises(RegistryError) as exc:
        store.add_person(staffed, read_person_file(folder / "person.yaml"), ["custodian"], _founder(staffed))
    assert exc.value.reason == "REGISTRY_INVALID" and "coordinator and custodian" in exc.value.message
    assert "custodian" not in store.load_network(staffed).person(FOUNDER[0]).roles


def _same_key_under(root, source_id: str, new_id: str) -> dict:
    """The person file an insider would make: ``source_id``'s own keys, signed by them, under ``new_id``."""
    from dvnet.bundle import keys
    from dvnet.common.people import PERSON_FORMAT
    from dvnet.common.public_files import write_public

    source = root / "people" / source_id
    body = {k: v for k, v in read_person_file(source / "person.yaml").items() if k != "signature"}
    twin = root / "people" / new_id
    twin.mkdir(mode=0o700)
    write_public(twin / "person.yaml", {**body, "format": PERSON_FORMAT, "id": new_id}, keys.load_signing_key(source / "signing.key"))
    return read_person_file(twin / "person.yaml")


@pytest.mark.parametrize(("source", "role"), [("p-reviewer", "reviewer"), (FOUNDER[0], "custodian")])
def test_one_key_is_never_registered_under_two_names(staffed, source, role):
    """Two reviewers' approvals from one key, or the coordinator's key as the custodian under another
    id, would make a two-person rule or an exclusive pair of roles one person's."""
    twin = _same_key_under(staffed, source, "twin-person")
    with pytest.raises(RegistryError) as exc:
        store.add_person(staffed, twin, [role], _founder(staffed))
    assert exc.value.reason == "REGISTRY_INVALID" and "one key belongs to one person" in exc.value.message
    assert store.load_network(staffed).person("twin-person") is None


def test_the_custodian_is_never_a_researcher(staffed):
    """A researcher holding the linkage key could hash candidate people to their project's tokens."""
    folder = staffed / "people" / "p-custodian"
    with pytest.raises(RegistryError) as exc:
        store.add_person(staffed, read_person_file(folder / "person.yaml"), ["researcher"], _founder(staffed))
    assert exc.value.reason == "REGISTRY_INVALID" and "custodian and researcher" in exc.value.message
    assert "researcher" not in store.load_network(staffed).person("p-custodian").roles


def test_a_steward_must_belong_to_a_registered_agency(staffed):
    folder = init_person(staffed / "people" / "p-x", "p-x", "X", "no-such-agency")
    with pytest.raises(RegistryError) as exc:
        store.add_person(staffed, read_person_file(folder.public_file), ["steward"], _founder(staffed))
    assert "people[" in exc.value.message and ".org" in exc.value.message


# from the command line -----------------------------------------------------------------------------


def _run(capsys, argv, environ=None) -> tuple[int, str, str]:
    code = main(argv, environ or {})
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    return code, out.out, out.err


def test_a_person_is_made_on_their_machine_and_registered_by_a_coordinator(network_dir, as_coordinator, capsys, tmp_path):
    folder = tmp_path / "laptop" / "ben"
    code, out, _ = _run(capsys, ["person", "init", str(folder), "--id", "ben-reviewer", "--name", "Ben", "--org", "coalition office"])
    assert code == EXIT_OK and "signing key id" in out
    assert oct(os.stat(folder).st_mode & 0o777) == "0o700" and oct(os.stat(folder / "signing.key").st_mode & 0o777) == "0o600"
    code, out, err = _run(capsys, ["network", "add-person", "--network", str(network_dir), str(folder / "person.yaml"), "--role", "reviewer", *as_coordinator])
    assert code == EXIT_OK, err
    assert "ben-reviewer" in out and "reviewer" in out
    # The reviewer may not register agencies: refused, exit 2, one clear line, audited and signed.
    registration = network_dir / "agencies" / "shelter-north" / "registration.yaml"
    code, _, err = _run(capsys, ["network", "register-agency", "--network", str(network_dir), str(registration), "--as", "ben-reviewer", "--key", str(folder / "signing.key")])
    assert code == EXIT_USAGE and err.startswith("error: ROLE_NOT_ALLOWED: ben-reviewer (reviewer) may not network.register-agency")
    entry = _entries(network_dir)[-1]
    assert (entry["actor"], entry["action"], entry["outcome"]) == ("ben-reviewer", "network.register-agency", "refused")


@pytest.mark.parametrize("argv", [["ingest", "--network", "{net}"], ["publish", "--network", "{net}"], ["network", "suspend", "--network", "{net}", "shelter-north"]])
def test_state_changing_commands_need_a_granted_person(network_dir, capsys, tmp_path, argv):
    argv = [a.format(net=network_dir) for a in argv]
    code, _, err = _run(capsys, argv)
    assert code == EXIT_USAGE and "--as" in err  # who is acting is not optional
    folder = tmp_path / "eve"
    _run(capsys, ["person", "init", str(folder), "--id", "eve", "--name", "Eve", "--org", "x"])
    code, _, err = _run(capsys, [*argv, "--as", "eve", "--key", str(folder / "signing.key")])
    assert code == EXIT_USAGE and "PERSON_UNKNOWN" in err
    assert _entries(network_dir)[-1]["outcome"] == "refused"
    assert store.load_network(network_dir).organisation("shelter-north").active


def test_a_granted_command_that_then_fails_is_audited_as_failed(network_dir, as_coordinator, capsys):
    code, _, err = _run(capsys, ["publish", "--network", str(network_dir), *as_coordinator])  # nothing loaded yet
    assert code != EXIT_OK and "NOTHING_TO_PUBLISH" in err
    last_two = _entries(network_dir)[-2:]
    assert [(e["action"], e["outcome"], e["reason"]) for e in last_two] == [("publish", "granted", None), ("publish", "failed", "NOTHING_TO_PUBLISH")]


def test_the_key_is_found_by_option_then_per_user_config_then_environment(network_dir, tmp_path, capsys):
    key = network_dir / "people" / FOUNDER[0] / "signing.key"
    assert person_key_path(FOUNDER[0], key, {}) == key
    assert person_key_path(FOUNDER[0], None, {"DVNET_KEY": str(key)}) == key
    config = tmp_path / "config"
    (config / "dvnet" / "people" / FOUNDER[0]).mkdir(parents=True)
    shutil.copy2(key, config / "dvnet" / "people" / FOUNDER[0] / "signing.key")
    found = person_key_path(FOUNDER[0], None, {"XDG_CONFIG_HOME": str(config), "DVNET_KEY": "/elsewhere"})
    assert found == config / "dvnet" / "people" / FOUNDER[0] / "signing.key"
    assert person_key_path(FOUNDER[0], None, {"HOME": str(tmp_path / "empty-home")}) is None
    code, out, err = _run(capsys, ["network", "suspend", "--network", str(network_dir), "shelter-north", "--as", FOUNDER[0]], {"XDG_CONFIG_HOME": str(config)})
    assert code == EXIT_OK, err
    assert not store.load_network(network_dir).organisation("shelter-north").active
