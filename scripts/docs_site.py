"""What the documentation site (mkdocs.yml) loads besides its plugins.

- ``on_config``, an MkDocs hook: puts docs/javascript.md (the browser package's guide) in
  the navigation once that page exists, so the site builds with or without it.
- ``OptionFields``, a griffe extension for mkdocstrings: the fields of rfb.StreamOptions
  and rfb.ServerOptions keep their one-line doc inside ``option(...)`` (rfb/options.py),
  where static analysis cannot read it; this gives each field that doc, its flag and
  environment variable, and its real default, from the same Spec the options table uses.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import griffe

JAVASCRIPT_PAGE = "javascript.md"
OPTION_CLASSES = {"rfb.options.StreamOptions", "rfb.options.ServerOptions"}


def on_config(config: Any) -> Any:
    """MkDocs hook: the JavaScript guide joins the navigation, after the guides."""
    if not (Path(config["docs_dir"]) / JAVASCRIPT_PAGE).exists():
        return config
    nav = config["nav"]
    if any(JAVASCRIPT_PAGE in entry.values() for entry in nav if isinstance(entry, dict)):
        return config
    titles = [next(iter(entry)) if isinstance(entry, dict) else None for entry in nav]
    at = titles.index("Guides") + 1 if "Guides" in titles else len(nav)
    nav.insert(at, {"JavaScript": JAVASCRIPT_PAGE})
    return config


class OptionFields(griffe.Extension):
    """Docstrings and defaults for the option dataclasses' fields (see the module's note)."""

    def on_class_members(self, *, cls: griffe.Class, **kwargs: Any) -> None:
        if cls.path not in OPTION_CLASSES:
            return
        from rfb import options

        model = getattr(options, cls.name)
        for f in dataclasses.fields(model):
            member = cls.members.get(f.name)
            if not isinstance(member, griffe.Attribute):
                continue
            spec = options.spec_of(f)
            where = (
                f"Flag `{options.flag_name(f)}`, environment `{options.env_name(f)}`."
                if spec.cli
                else "From code only (no flag)."
            )
            member.docstring = griffe.Docstring(f"{spec.doc}.\n\n{where}", parent=member)
            member.value = None if f.default is dataclasses.MISSING else repr(f.default)
