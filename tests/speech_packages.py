"""Real speech in several languages from Debian's Asterisk prompt packages (studio recordings of one voice per
language, with the exact text of every prompt), for language tests and benchmarks. The packages are fetched
with ``apt-get download`` once into ``~/.cache/memindex-test-media`` (``$MEMINDEX_TEST_MEDIA_CACHE``) and
unpacked with ``dpkg-deb -x`` where the caller says; nothing large is committed.

English comes from the shared media (the same prompts: ``speech/asterisk_en_allison``)."""

from __future__ import annotations

import gzip
import os
import re
import shutil
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.helpers import SHARED

__all__ = ["Unavailable", "Prompt", "prompts", "clip", "CACHE", "SR"]

SR = 16000
CACHE = Path(os.environ.get("MEMINDEX_TEST_MEDIA_CACHE") or Path.home() / ".cache" / "memindex-test-media")


class Unavailable(Exception):
    """The package cannot be fetched or unpacked here (no apt, no network): the caller skips."""


@dataclass(frozen=True)
class Prompt:
    name: str
    language: str
    text: str
    samples: np.ndarray  # mono float32 at 16 kHz

    @property
    def seconds(self) -> float:
        return len(self.samples) / SR


def prompts(language: str, workdir: Path) -> dict[str, Prompt]:
    """Every prompt of a language that has a transcript, by file name (``vm-intro``)."""
    if language == "en":
        folder = SHARED / "speech" / "asterisk_en_allison"
        return _read(folder, (folder / "core-sounds-en.txt").read_text(encoding="utf-8"), "en")
    root = workdir / f"asterisk-{language}"
    if not root.is_dir():
        for pkg in (f"asterisk-core-sounds-{language}-wav", f"asterisk-core-sounds-{language}"):
            _unpack(_download(pkg), root)
    docs = root / "usr" / "share" / "doc" / f"asterisk-core-sounds-{language}" / f"core-sounds-{language}.txt.gz"
    voice = next((root / "usr" / "share" / "asterisk" / "sounds").glob(f"{language}_*"), None)
    if voice is None or not docs.is_file():
        raise Unavailable(f"asterisk-core-sounds-{language} has no prompts or transcripts where expected")
    return _read(voice, gzip.decompress(docs.read_bytes()).decode("utf-8"), language)


def clip(parts: list[Prompt], gap: float = 2.5) -> tuple[np.ndarray, list[tuple[float, float, Prompt]]]:
    """The prompts one after another with ``gap`` seconds of silence around each: (samples, spans)."""
    pad = np.zeros(int(gap * SR), np.float32)
    pieces, spans, t = [pad], [], gap
    for p in parts:
        pieces += [p.samples, pad]
        spans.append((t, t + p.seconds, p))
        t += p.seconds + gap
    return np.concatenate(pieces), spans


def _download(package: str) -> Path:
    debs = CACHE / "deb"
    found = sorted(debs.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    if shutil.which("apt-get") is None:
        raise Unavailable(f"{package}: apt-get is not available on this machine")
    debs.mkdir(parents=True, exist_ok=True)
    run = _apt(["download", package], debs)
    if run.returncode != 0 and "Unable to locate" in run.stderr and os.geteuid() == 0:
        _apt(["update", "-qq"], debs)  # a fresh machine's package lists may be empty or stale
        run = _apt(["download", package], debs)
    found = sorted(debs.glob(f"{package}_*.deb"))
    if run.returncode != 0 or not found:
        raise Unavailable(f"apt-get download {package} failed: {(run.stderr or run.stdout).strip()[-300:]}")
    return found[-1]


def _apt(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["apt-get", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Unavailable(f"apt-get {' '.join(args)} failed: {exc}") from exc


def _unpack(deb: Path, dest: Path) -> None:
    if shutil.which("dpkg-deb") is None:
        raise Unavailable("dpkg-deb is not available on this machine")
    dest.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], capture_output=True, text=True, timeout=600)
    if run.returncode != 0:
        raise Unavailable(f"dpkg-deb -x {deb.name} failed: {run.stderr.strip()[-300:]}")


def _read(folder: Path, transcripts: str, language: str) -> dict[str, Prompt]:
    out = {}
    for line in transcripts.splitlines():
        m = re.match(r"^([\w-]+):\s*(.+)$", line.strip())
        wav = folder / f"{m.group(1)}.wav" if m else None
        if m and wav is not None and wav.is_file() and not m.group(2).startswith("["):
            out[m.group(1)] = Prompt(m.group(1), language, m.group(2).strip(' "“”'), _load_wav(wav))
    return out


def _load_wav(path: Path) -> np.ndarray:
    """16-bit PCM (8 kHz telephone prompts) as float32 at 16 kHz, by linear interpolation."""
    with wave.open(str(path)) as w:
        sr, raw = w.getframerate(), w.readframes(w.getnframes())
    a = np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0
    n = int(len(a) * SR / sr)
    return np.interp(np.arange(n) * sr / SR, np.arange(len(a)), a).astype(np.float32)
