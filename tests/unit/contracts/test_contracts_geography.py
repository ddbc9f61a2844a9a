"""A network declares its own geography in its registry: checked with field-path errors, shown in
the data dictionary; the demo network declares the eight made-up regions it always had."""

from __future__ import annotations

import copy

import pytest

from dvnet.contracts.dictionary import html_page, markdown
from dvnet.contracts.errors import RegistryError
from dvnet.contracts.network import Network, parse_geography
from dvnet.pipelines.demo_network import demo_geography

GEOGRAPHY = {
    "regions": [
        {"id": "harbour-ward", "name": "Harbour Ward", "parent_area": "east-county", "postal_prefixes": ["E1A", "E1B"]},
        {"id": "moor-ward", "parent_area": "west-county", "postal_prefixes": ["W1A"]},
    ]
}


def test_a_geography_gives_regions_parent_areas_and_prefixes():
    g = parse_geography(GEOGRAPHY)
    assert g.region_ids == ("harbour-ward", "moor-ward")
    assert g.parent_areas == ("east-county", "west-county")
    assert g.parent_of == {"harbour-ward": "east-county", "moor-ward": "west-county"}
    assert g.region_of_prefix == {"E1A": "harbour-ward", "E1B": "harbour-ward", "W1A": "moor-ward"}
    assert parse_geography(g.to_dict()) == g  # what is written reads back the same


def _broken(edit) -> dict:
    data = copy.deepcopy(GEOGRAPHY)
    edit(data)
    return data


@pytest.mark.parametrize(
    "edit, path, words",
    [
        (lambda d: d.update(regions=[]), "geography.regions", "non-empty"),
        (lambda d: d["regions"][1].update(id="harbour-ward"), "geography.regions[1].id", "another region"),
        (lambda d: d["regions"][1].update(id="unknown"), "geography.regions[1].id", "not known"),
        (lambda d: d["regions"][0].update(id="Harbour Ward"), "geography.regions[0].id", "pattern"),
        (lambda d: d["regions"][0].pop("parent_area"), "geography.regions[0].parent_area", "required"),
        (lambda d: d["regions"][1]["postal_prefixes"].append("E1B"), "geography.regions[1].postal_prefixes[1]", "region harbour-ward"),
        (lambda d: d["regions"][0]["postal_prefixes"].append("12345"), "geography.regions[0].postal_prefixes[2]", "letter, digit, letter"),
        (lambda d: d["regions"][0].update(colour="blue"), "geography.regions[0].colour", "not a known field"),
    ],
)
def test_a_wrong_geography_is_named_by_its_field_path(edit, path, words):
    with pytest.raises(RegistryError) as e:
        parse_geography(_broken(edit))
    assert e.value.context["field"] == path and words in e.value.message


def test_a_registry_without_a_geography_or_with_an_undeclared_region_is_refused(valid_registry):
    data = copy.deepcopy(valid_registry)
    data.pop("geography")
    with pytest.raises(RegistryError) as e:
        Network.from_dict(data)
    assert e.value.context["field"] == "geography"
    data = copy.deepcopy(valid_registry)
    data["geography"] = GEOGRAPHY  # the organisations still name the demo's regions
    with pytest.raises(RegistryError) as e:
        Network.from_dict(data)
    assert e.value.context["field"] == "organisations[0].region" and "harbour-ward" in e.value.message


def test_the_data_dictionary_shows_the_network_geography():
    g = parse_geography(GEOGRAPHY)
    md = markdown(g)
    assert "## The network's geography" in md
    assert "| harbour-ward | Harbour Ward | east-county | E1A E1B |" in md and "| moor-ward |  | west-county | W1A |" in md
    assert "<td>harbour-ward</td><td>Harbour Ward</td><td>east-county</td><td>E1A E1B</td>" in html_page(g)
    assert "## The network's geography" not in markdown()  # without a network: the contracts only


def test_the_demo_network_declares_the_eight_regions_it_always_had():
    # The values contracts/geography.py hard-coded before networks declared their own.
    g = demo_geography()
    assert g.parent_of == {
        "north-coast": "northland", "north-lakes": "northland", "north-islands": "northland", "north-tundra": "northland",
        "south-metro": "southland", "south-valley": "southland", "south-plains": "southland", "south-hills": "southland",
    }  # fmt: skip
    assert {r.id: r.postal_prefixes for r in g.regions} == {
        "north-coast": ("N1A", "N1B", "N1C", "N1E"), "north-lakes": ("N2A", "N2B", "N2C"), "north-islands": ("N3A",),
        "north-tundra": ("N4A",), "south-metro": ("S1A", "S1B", "S1C", "S1E", "S1G", "S1H"), "south-valley": ("S2A", "S2B", "S2C"),
        "south-plains": ("S3A", "S3B"), "south-hills": ("S4A",),
    }  # fmt: skip
