"""Putting measured numbers on the page: tables, and values glued into prose.

:func:`glue` hands a value to the site builder (myst-nb) so the text can cite
``{glue:text}`name``` instead of a number typed by hand. Where myst-nb is not
installed (Colab) it only prints, and the chapter still runs.
"""

from __future__ import annotations

from utils.config import Settings
from utils.experiments import environment


def glue(name: str, value, display: bool = False):
    """Register ``value`` under ``name`` for the page; return it unchanged."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return value
    myst_glue(name, value, display=display)
    return value


def run_banner(settings: Settings) -> str:
    """Return one line saying in which mode and on what machine a chapter ran."""
    env = environment(settings)
    return (f"Run mode: {env['mode']} | hardware: {env['hardware']} | "
            f"torch {env['torch']} | {env['date']}")


def results_table(records: list[dict], columns=("accuracy", "nll", "ece")) -> str:
    """Return records as an aligned text table, one row per record ``label``."""
    width = max(len(record["label"]) for record in records) + 2
    header = "run".ljust(width) + "".join(column.rjust(10) for column in columns)
    lines = [header, "-" * len(header)]
    for record in records:
        cells = "".join(f"{record[column]:10.4f}" for column in columns)
        lines.append(record["label"].ljust(width) + cells)
    return "\n".join(lines)
