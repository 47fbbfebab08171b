"""The one line where sources are listed. Everything else that enumerates sources derives from SOURCES."""

from __future__ import annotations

import importlib

from connectors.sources import Source

# each module `connectors/<name>.py` declares its DECLARATION; this order is ENGAGEMENT_SOURCES' default order
SOURCES: tuple[Source, ...] = tuple(
    importlib.import_module(f"connectors.{name}").DECLARATION
    for name in ("ga4", "mailchimp", "x", "facebook", "linkedin", "hubspot")
)


def source(name: str) -> Source:
    for declared in SOURCES:
        if declared.name == name:
            return declared
    raise KeyError(f"unknown source {name!r}; known: {', '.join(s.name for s in SOURCES)}")


def render_env_example() -> str:
    """The per-source part of .env.example, as the declarations say it."""
    lines: list[str] = []
    for declared in SOURCES:
        lines += ["", f"# --- {declared.title} ".ljust(95, "-")]
        for s in declared.settings:
            # a required variable shows no value (an example is not a default); its example goes in the note
            entry = f"{s.variable}=" if s.required else f"{s.variable}={s.example}"
            note = s.help or ("" if s.required else "optional: the real service's URL by default")
            if s.required:
                note = "required" + (f": {note}" if note else "") + (f", e.g. {s.example}" if s.example else "")
            lines.append(f"{entry:<50} # {note}" if note else entry)
    return "\n".join(lines).lstrip("\n") + "\n"
