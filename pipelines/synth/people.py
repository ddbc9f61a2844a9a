"""One shared synthetic population, and each agency's clients drawn from it.

A *person* is a synthetic human being; a *client* is that person as one agency knows them: the
agency's own client number, the name as the agency spelled it, the postal code it recorded.
The same person is a client at several agencies (about a third of people at two or more), which
is what linkage tokens must recover; the ground truth of who is who is kept apart from the
agency folders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dvnet.contracts import codes
from dvnet.contracts.geography import Geography
from dvnet.contracts.network import Organisation
from dvnet.pipelines.synth import names, rates
from dvnet.pipelines.synth.common import choice, fixed_width_strings, format_ids, region_relation

GIVEN = (*names.WOMEN, *names.MEN, *names.NEUTRAL)
_W, _M, _N = len(names.WOMEN), len(names.MEN), len(names.NEUTRAL)

# How each organisation type numbers its clients (prefix, digits): systems differ by sector.
CLIENT_ID_STYLE = {
    "direct_service": ("C", 6),
    "justice_legal": ("LA-", 6),
    "health_social_care": ("MRN", 8),
    "housing_homelessness": ("H", 6),
    "government_funder": ("G-", 7),
    "research_evaluation": ("P", 5),
}


@dataclass
class Population:
    """Attributes of every synthetic person (arrays indexed by person number)."""

    region: np.ndarray  # index into geography.region_ids
    postal: np.ndarray  # (n, 7) ASCII matrix: "S1A 2B3"
    given: np.ndarray  # index into GIVEN
    family: np.ndarray  # index into names.FAMILY
    dob: np.ndarray  # datetime64[D]
    gender: np.ndarray  # index into codes.GENDERS (never not_stated: that is per record)
    indigenous: np.ndarray  # bool
    disability: np.ndarray  # bool
    language: np.ndarray  # index into codes.LANGUAGES
    geography: Geography  # the network's: where people live and what their postal codes look like

    def __len__(self) -> int:
        return len(self.region)


@dataclass
class Roster:
    """One agency's clients: which person each is, and how the agency recorded them."""

    person: np.ndarray  # person number per client
    client_id: pa.Array  # the agency's client number per client
    name: pa.Array  # the name as this agency spells it
    postal: pa.Array  # the postal code as this agency stores it

    def __len__(self) -> int:
        return len(self.person)


def _postal_suffix(rng: np.random.Generator, n: int) -> np.ndarray:
    letters = np.frombuffer(rates.POSTAL_LETTERS.encode("ascii"), dtype=np.uint8)
    out = np.empty((n, 4), dtype=np.uint8)
    out[:, 0] = ord(" ")
    out[:, 1] = 48 + rng.integers(0, 10, n)
    out[:, 2] = letters[rng.integers(0, len(letters), n)]
    out[:, 3] = 48 + rng.integers(0, 10, n)
    return out


def _postal_prefix(rng: np.random.Generator, region: np.ndarray, geography: Geography) -> np.ndarray:
    out = np.empty((len(region), 3), dtype=np.uint8)
    for r, declared in enumerate(geography.regions):
        rows = np.flatnonzero(region == r)
        if not len(rows):
            continue
        if not declared.postal_prefixes:
            raise ValueError(f"region {declared.id} has no postal prefixes, so nobody can be placed there")
        prefixes = np.array([list(p.encode("ascii")) for p in declared.postal_prefixes], dtype=np.uint8)
        out[rows] = prefixes[rng.integers(0, len(prefixes), len(rows))]
    return out


def make_population(rng: np.random.Generator, region: np.ndarray, ref_date: np.datetime64, geography: Geography) -> Population:
    """Persons living in ``region`` (one entry per person), aged as of ``ref_date``."""
    n = len(region)
    gender = choice(rng, n, list(rates.GENDER_MIX.values()))  # woman, man, non_binary, another_gender
    given = np.empty(n, dtype=np.int16)
    for g, (w, m, x) in enumerate(((0.95, 0.0, 0.05), (0.0, 0.9, 0.1), (0.2, 0.2, 0.6), (0.2, 0.2, 0.6))):
        rows = np.flatnonzero(gender == g)
        pool = choice(rng, len(rows), (w, m, x))
        offset = np.array([0, _W, _W + _M])[pool]
        size = np.array([_W, _M, _N])[pool]
        given[rows] = offset + (rng.random(len(rows)) * size).astype(np.int16)
    family = rng.integers(0, len(names.FAMILY), n).astype(np.int16)

    age = rates.ADULT_AGE_MIN + rng.gamma(*rates.AGE_GAMMA, size=n)
    youth = rng.random(n) < rates.YOUTH_SHARE
    age[youth] = rng.uniform(15, 18, youth.sum())
    age = np.minimum(age, rates.AGE_MAX)
    dob = ref_date - (age * 365.25).astype(np.int64).astype("timedelta64[D]")

    indigenous = rng.random(n) < np.array([rates.indigenous_share(r) for r in geography.region_ids])[region]
    disability = rng.random(n) < rates.DISABILITY_SHARE
    lang_names = list(rates.LANGUAGE_MIX)
    language = np.array([codes.LANGUAGES.index(x) for x in lang_names])[choice(rng, n, list(rates.LANGUAGE_MIX.values()))]
    indigenous_lang = indigenous & (rng.random(n) < rates.INDIGENOUS_LANGUAGE_SHARE)
    language[indigenous_lang] = codes.LANGUAGES.index("indigenous_language")

    postal = np.concatenate([_postal_prefix(rng, region, geography), _postal_suffix(rng, n)], axis=1)
    return Population(region, postal, given, family, dob, gender.astype(np.int8), indigenous, disability, language.astype(np.int8), geography)


def _agencies_per_person(n_agencies: int) -> tuple[np.ndarray, np.ndarray]:
    ks = np.array(list(rates.AGENCIES_PER_PERSON))
    p = np.array(list(rates.AGENCIES_PER_PERSON.values()), dtype=float)
    capped = np.minimum(ks, n_agencies)
    return capped, p / p.sum()


def _draw_agency(rng: np.random.Generator, person_region: np.ndarray, agency_region: np.ndarray, capacity: np.ndarray,
                 geography: Geography) -> np.ndarray:
    """An agency for each person, favouring big agencies near where the person lives."""
    out = np.empty(len(person_region), dtype=np.int64)
    affinity = np.array(rates.REGION_AFFINITY)
    for r in np.unique(person_region):
        rows = np.flatnonzero(person_region == r)
        w = capacity * affinity[region_relation(np.full(len(agency_region), r), agency_region, geography)]
        out[rows] = rng.choice(len(w), size=len(rows), p=w / w.sum())
    return out


def assign_people(
    rng: np.random.Generator, agencies: list[Organisation], records: np.ndarray, ref_date: np.datetime64, geography: Geography
) -> tuple[Population, list[np.ndarray]]:
    """The shared population, and for each agency the persons who are its clients.

    ``records[a]`` is how many rows agency ``a`` will write (referrals and episodes); an agency
    never has more clients than rows, so every client appears in at least one file.
    """
    n_ag = len(agencies)
    agency_region = np.array([geography.region_ids.index(o.region) for o in agencies])
    target = np.maximum(1, np.round(records / rates.RECORDS_PER_CLIENT)).astype(np.int64)
    ks, kp = _agencies_per_person(n_ag)
    n_people = max(n_ag, int(round(target.sum() / float((ks * kp).sum()))))

    first = rng.choice(n_ag, size=n_people, p=target / target.sum())
    first[:n_ag] = np.arange(n_ag)  # every agency has at least one client, however small
    region = agency_region[first].copy()
    travels = rng.random(n_people) >= rates.HOME_REGION_SHARE
    size = np.array([rates.region_size(r) for r in geography.region_ids])
    region[travels] = rng.choice(len(size), size=int(travels.sum()), p=size / size.sum())
    population = make_population(rng, region, ref_date, geography)

    k = ks[rng.choice(len(ks), size=n_people, p=kp)]
    extra_person = np.repeat(np.arange(n_people), k - 1)
    person = np.concatenate([np.arange(n_people), extra_person])
    agency = np.concatenate([first, _draw_agency(rng, region[extra_person], agency_region, target.astype(float), geography)])
    # A person is at most one client of an agency: redraw clashing extra agencies a few times,
    # then drop what still clashes (a person the draw keeps sending back to the only local agency).
    for _ in range(4):
        dup = np.ones(len(person), dtype=bool)
        dup[np.unique(person * n_ag + agency, return_index=True)[1]] = False
        if not dup.any():
            break
        agency[dup] = _draw_agency(rng, region[person[dup]], agency_region, target.astype(float), geography)
    keep = np.zeros(len(person), dtype=bool)
    keep[np.unique(person * n_ag + agency, return_index=True)[1]] = True
    person, agency = person[keep], agency[keep]

    order = np.argsort(agency, kind="stable")
    person, agency = person[order], agency[order]
    bounds = np.searchsorted(agency, np.arange(n_ag + 1))
    clients = []
    for a in range(n_ag):
        mine = rng.permutation(person[bounds[a] : bounds[a + 1]])
        if len(mine) > records[a]:
            mine = mine[: records[a]]
        clients.append(mine)
    return population, clients


def make_roster(rng: np.random.Generator, org: Organisation, population: Population, persons: np.ndarray) -> Roster:
    """How ``org`` records each of its clients: its own client numbers and name spellings."""
    n = len(persons)
    prefix, width = CLIENT_ID_STYLE[org.type]
    start = int(rng.integers(1_000, 60_000))
    numbers = rng.permutation(start + np.cumsum(rng.integers(1, 4, n)))
    client_id = format_ids(prefix, numbers, width)

    given = population.given[persons]
    family = population.family[persons]
    variant = choice(rng, n, rates.NAME_VARIANTS)
    if rng.random() < rates.UPPER_CASE_SYSTEM_SHARE:
        variant[:] = 1
    plain_given = pa.array(list(GIVEN))
    plain_family = pa.array(list(names.FAMILY))
    ascii_given = pa.array([names.strip_accents(x) for x in GIVEN])
    ascii_family = pa.array([names.strip_accents(x) for x in names.FAMILY])
    no_accents = pa.array(variant == 3)
    g = pc.if_else(no_accents, pc.take(ascii_given, pa.array(given)), pc.take(plain_given, pa.array(given)))
    f = pc.if_else(no_accents, pc.take(ascii_family, pa.array(family)), pc.take(plain_family, pa.array(family)))
    sep = pc.if_else(pa.array(variant == 4), pa.scalar("  "), pa.scalar(" "))
    name = pc.binary_join_element_wise(g, f, sep)
    name = pc.if_else(pa.array(variant == 1), pc.utf8_upper(name), name)
    name = pc.if_else(pa.array(variant == 2), pc.utf8_lower(name), name)
    lead = rng.random(n) < 0.5
    name = pc.if_else(pa.array((variant == 5) & lead), pc.binary_join_element_wise(" ", name, ""), name)
    name = pc.if_else(pa.array((variant == 5) & ~lead), pc.binary_join_element_wise(name, " ", ""), name)

    postal = population.postal[persons].copy()
    moved = rng.random(n) < rates.MOVED_SHARE
    postal[moved, 3:] = _postal_suffix(rng, int(moved.sum()))
    if rng.random() < rates.POSTAL_NO_SPACE_SHARE:
        postal_arr = fixed_width_strings([postal[:, :3], postal[:, 4:]])
    else:
        postal_arr = fixed_width_strings([postal])
    return Roster(persons, client_id, name, postal_arr)

