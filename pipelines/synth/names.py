"""Invented names for synthetic clients.

The lists are small on purpose: realistic collisions (two people with one name) happen, as they
do in real registers, and the linkage accuracy checks must cope with them. Accented spellings
are included so that an agency dropping accents produces the variation real systems show. None
of these names may contain a comma, a quote or a line break: the CSV writer does not quote.
"""

from __future__ import annotations

import unicodedata

WOMEN = (
    "Aberly", "Aurelle", "Bélise", "Brenna", "Calithe", "Corisande", "Dalyne", "Dorette",
    "Élowen", "Émeline", "Faylin", "Gessamy", "Hélisse", "Ilsabet", "Isaura", "Jovelle",
    "Kestra", "Liora", "Lunette", "Maëlle", "Marisol", "Nerissa", "Noëlie", "Odalie",
    "Orlaith", "Pernelle", "Quilla", "Rosamel", "Renée", "Saffira", "Séverine", "Tamsine",
    "Thaïs", "Ulrika", "Valmire", "Wrenna", "Xanthe", "Yselde", "Zoëlla", "Anouké",
    "Brielle", "Cézanne", "Delphyne", "Estrel", "Fiorra", "Gwennol", "Halcy", "Inès",
)
MEN = (
    "Alaric", "Bastien", "Cormac", "Dovran", "Émeric", "Fenwick", "Gaspard", "Henrik",
    "Ivo", "Jérôme", "Kaspian", "Lorcan", "Matthias", "Noël", "Orrin", "Pascoe",
)
NEUTRAL = ("Ashby", "Briar", "Corin", "Darcy", "Eshe", "Jules", "Marlow", "Rowan", "Sasha", "Teagan")

FAMILY = (
    "Aldermoor", "Ashcombe", "Bellweather", "Bélanvert", "Brisvaine", "Caddoway", "Côtelac",
    "Dufresnoy", "Duvalette", "Élouard", "Fenwhistle", "Garrowby", "Gauthéry", "Hallowmere",
    "Hardcastle", "Ironvale", "Jessamond", "Kettleby", "Kinsward", "Lachanée", "Larkspur",
    "Mérival", "Morrowind", "Nettlefold", "Noëlton", "Ockhampton", "Ostrander", "Pérouge",
    "Pemberthy", "Quennell", "Ravensholt", "Rochefaye", "Saint-Amoury", "Selwood", "Sévigny",
    "Thornquist", "Tremaine", "Underhay", "Valcourt", "Vasquéline", "Wexcombe", "Whitlow",
    "Yarrowby", "Zeller", "Van Ostrande", "Mac Taggert", "O'Brannagh", "Ferreiras",
    "Nakamori", "Okonkwé", "Petrosyan", "Lindqvist", "Abernathé", "Castellane", "Delacroy",
    "Everhart", "Foxcroft", "Greyholm", "Harrowgate", "Kavanaugh",
)


def strip_accents(name: str) -> str:
    """The name as a system without accents stores it (``Élowen`` -> ``Elowen``)."""
    return "".join(c for c in unicodedata.normalize("NFKD", name) if not unicodedata.combining(c))
