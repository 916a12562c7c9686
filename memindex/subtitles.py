"""Transcripts as subtitle files: SubRip (``.srt``) and WebVTT (``.vtt``), one cue per utterance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["to_srt", "to_vtt"]


def _stamp(t: float, sep: str) -> str:
    ms = max(0, int(round(t * 1000)))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def _cue_text(u: dict[str, Any]) -> str:
    text = " ".join(str(u.get("text", "")).split())  # one line: a blank line would end the cue
    return f"[{u['speaker']}] {text}" if u.get("speaker") else text


def to_srt(utterances: Sequence[dict[str, Any]]) -> str:
    cues = [
        f"{i}\n{_stamp(u['start'], ',')} --> {_stamp(u['end'], ',')}\n{_cue_text(u)}\n"
        for i, u in enumerate(utterances, 1)
    ]
    return "\n".join(cues)


def to_vtt(utterances: Sequence[dict[str, Any]]) -> str:
    cues = [f"{_stamp(u['start'], '.')} --> {_stamp(u['end'], '.')}\n{_cue_text(u)}\n" for u in utterances]
    return "WEBVTT\n\n" + "\n".join(cues)
