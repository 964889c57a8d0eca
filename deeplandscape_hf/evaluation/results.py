"""What every evaluation returns: a table with its protocol and caveats (``EvaluationResult``), and the input error."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .metrics import FrechetResult, format_markdown_table, write_csv


class EvaluationInputError(ValueError):
    """The files given to an evaluation do not fit together; the message names every offending file."""


@dataclass
class EvaluationResult:
    """One evaluation's table, the protocol that produced it and the caveats, ready to print or save.

    Attributes:
        command: ``animation``, ``synthetic``, ``inversion`` or ``balance``.
        columns: the table's columns, in order (the same for markdown and CSV).
        rows: one dict per table row; missing values are None and print as ``n/a``.
        notes: caveats the numbers depend on (estimator fallbacks, missing weights, heuristic masks, ...).
        protocol: counts, resolutions, frame counts, estimators: everything needed to reproduce the numbers.
        details: full per-item reports (per-frame curves etc.), kept for ``--json``.
        reference: optional rows of published numbers in the same layout (the supplement's Table 2).
    """

    command: str
    columns: tuple[str, ...]
    rows: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    protocol: dict[str, Any] = field(default_factory=dict)
    details: list[dict[str, Any]] = field(default_factory=list)
    reference: list[dict[str, Any]] | None = None

    def add_note(self, note: str | None) -> None:
        """Add a caveat once (the same fallback hit per video must not repeat a hundred times)."""
        if note and note not in self.notes:
            self.notes.append(note)

    def to_markdown(self, float_format: str = "{:.3f}") -> str:
        """The table, then the protocol and notes as bullet lines (numbers never travel without their caveats)."""
        parts = [format_markdown_table(self.rows, self.columns, float_format)]
        if self.reference:
            parts.append("\nPublished (supplement; other estimators and LPIPS input range, compare trends):\n\n")
            parts.append(format_markdown_table(self.reference, self.columns, "{:.2f}"))
        if self.protocol:
            parts.append("\nProtocol:\n")
            parts.extend(f"- {key}: {_protocol_text(value)}\n" for key, value in self.protocol.items())
        if self.notes:
            parts.append("\nNotes:\n")
            parts.extend(f"- {note}\n" for note in self.notes)
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; NaN becomes null and infinities the strings "inf" / "-inf" (strict JSON has neither)."""
        return _json_safe(
            {
                "command": self.command,
                "columns": list(self.columns),
                "rows": self.rows,
                "protocol": self.protocol,
                "notes": self.notes,
                "details": self.details,
                "reference": self.reference,
            }
        )

    def write_json(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")
        return path

    def write_csv(self, path: str | os.PathLike) -> Path:
        return write_csv(self.rows, path, self.columns)


def _protocol_text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _json_safe(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, FrechetResult):
        return _json_safe(value.__dict__)
    return value


def finite_mean(values: Iterable[Any]) -> float | None:
    """Mean of the finite numbers; None when there are none (e.g. LPIPS unavailable everywhere)."""
    kept = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(float(v))]
    return sum(kept) / len(kept) if kept else None


def progress_bar(items: Sequence[Any], enabled: bool, desc: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=desc)
