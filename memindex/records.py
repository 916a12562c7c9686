"""Typed result records and result lists for the Python API.

Each record is a ``dict`` (so JSON, the servers and ``record["id"]`` keep working) with attribute access and
a one-line repr; a ``Results`` list adds ``to_list()``, ``to_pandas()`` and ``to_arrow()``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

from memindex.errors import MissingDependencyError

__all__ = ["Record", "Video", "Segment", "Utterance", "Frame", "ScreenText", "Results"]


class Record(dict):  # type: ignore[type-arg]
    """A result row: ``rec.start`` and ``rec["start"]`` alike."""

    __slots__ = ()
    _shown: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"{type(self).__name__} has no field {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return dict(self)

    def __repr__(self) -> str:
        parts = []
        for key in self._shown:
            value = self.get(key)
            if isinstance(value, float):
                value = round(value, 2)
            elif isinstance(value, str) and len(value) > 48:
                value = value[:45] + "..."
            parts.append(f"{key}={value!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class Video(Record):
    __slots__ = ()
    _shown = ("id", "name", "duration", "status")

    def __getattr__(self, name: str) -> Any:
        if name == "name":
            return Path(str(self.get("uri", ""))).name
        return super().__getattr__(name)

    def __repr__(self) -> str:
        return (
            f"Video(id={self.get('id')!r}, name={Path(str(self.get('uri', ''))).name!r}, "
            f"duration={round(float(self.get('duration') or 0), 2)}, status={self.get('status')!r})"
        )


class Segment(Record):
    __slots__ = ()
    _shown = ("id", "level", "start", "end", "summary")


class Utterance(Record):
    __slots__ = ()
    _shown = ("start", "end", "speaker", "text")


class Frame(Record):
    __slots__ = ()
    _shown = ("frame_id", "t", "width", "height")


class ScreenText(Record):
    __slots__ = ()
    _shown = ("start", "end", "text")


R = TypeVar("R")


class Results(list, Generic[R]):  # type: ignore[type-arg]
    """A list of records with tabular exports."""

    @classmethod
    def of(cls, kind: type[Record], rows: Iterable[dict[str, Any]]) -> Results[Any]:
        return cls(kind(r) for r in rows)

    def to_list(self) -> list[dict[str, Any]]:
        """Plain dicts (what JSON carries)."""
        return [r.to_dict() if hasattr(r, "to_dict") else dict(r) for r in self]

    def _flat(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in row.items() if not isinstance(v, (list, dict))} for row in self.to_list()]

    def to_pandas(self) -> Any:
        """A ``pandas.DataFrame``, one row per record (nested lists such as words are left out)."""
        try:
            import pandas as pd
        except ImportError as exc:
            raise MissingDependencyError("pandas", "analytics", "to_pandas()") from exc
        return pd.DataFrame(self._flat())

    def to_arrow(self) -> Any:
        """A ``pyarrow.Table``, one row per record (nested lists such as words are left out)."""
        try:
            import pyarrow as pa
        except ImportError as exc:
            raise MissingDependencyError("pyarrow", "analytics", "to_arrow()") from exc
        return pa.Table.from_pylist(self._flat())

    def __repr__(self) -> str:
        head = ", ".join(repr(r) for r in self[:3])
        more = f", ... {len(self) - 3} more" if len(self) > 3 else ""
        return f"Results([{head}{more}])"
