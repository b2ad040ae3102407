"""Putting measured numbers on the page: tables, and values glued into prose.

:func:`glue` hands a value to the site builder (myst-nb) so the text can cite
``{glue:text}`name``` instead of a number typed by hand. Where myst-nb is not
installed (Colab) it only prints, and the chapter still runs.
"""

from __future__ import annotations

import torch

from utils.config import Settings
from utils.experiments import environment


def glue(name: str, value, display: bool = False) -> None:
    """Register ``value`` under ``name`` for the page (shown only if ``display``)."""
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        if display:
            print(f"{name} = {value}")
        return
    myst_glue(name, value, display=display)


def run_banner(settings: Settings) -> str:
    """Return one line saying in which mode and on what machine a chapter ran."""
    env = environment(settings)
    return (f"Run mode: {env['mode']} | hardware: {env['hardware']} | "
            f"torch {env['torch']} | {env['date']}")


def results_table(rows: list[dict], columns=("accuracy", "nll", "ece")) -> str:
    """Return rows as an aligned text table, one line per row ``label``.

    A row with ``<metric>_std`` and more than one run shows ``mean +- std``.
    """
    width = max(len(row["label"]) for row in rows) + 2
    header = "run".ljust(width) + "".join(column.rjust(18) for column in columns)
    lines = [header, "-" * len(header)]
    for row in rows:
        cells = ""
        for column in columns:
            text = f"{row[column]:.4f}"
            if row.get("runs", 1) > 1 and f"{column}_std" in row:
                text += f" +- {row[column + '_std']:.4f}"
            cells += text.rjust(18)
        lines.append(row["label"].ljust(width) + cells)
    return "\n".join(lines)


def mean_over_seeds(records: list[dict], group: str,
                    metrics=("accuracy", "nll", "ece")) -> list[dict]:
    """Average ``metrics`` over the records that share ``record[group]``.

    Returns:
        One row per group, in first-seen order, with ``label``, ``runs``, each
        metric's mean and its standard deviation (``<metric>_std``, 0 for one run).
    """
    groups: dict[str, list[dict]] = {}
    for record in records:
        groups.setdefault(record[group], []).append(record)
    rows = []
    for name, members in groups.items():
        row = {"label": name, "runs": len(members)}
        for metric in metrics:
            values = torch.tensor([member[metric] for member in members])
            row[metric] = values.mean().item()
            row[f"{metric}_std"] = values.std().item() if len(values) > 1 else 0.0
        rows.append(row)
    return rows
