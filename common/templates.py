"""Reports people read, rendered from Jinja2 templates shipped as package data.

Autoescape is on for every template: a value inserted into a page is escaped unless a template
marks a piece of already-safe HTML (a rendered table, a chart) with ``|safe``. The page frame
(``common/templates/page.html.j2``) carries the house CSS from ``common/htmlpage.py``.
"""

from __future__ import annotations

from functools import cache

import jinja2

from dvnet.common.htmlpage import CSS


@cache
def _env(package: str) -> jinja2.Environment:
    loader = jinja2.ChoiceLoader([jinja2.PackageLoader(package, "templates"), jinja2.PackageLoader("dvnet.common", "templates")])
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals["css"] = CSS
    env.filters["n"] = lambda v: f"{v:,}" if isinstance(v, int) else v
    return env


def render(package: str, name: str, **context: object) -> str:
    """Template ``name`` from ``<package>/templates/`` (or the shared ``common/templates/``)."""
    return _env(package).get_template(name).render(**context)
