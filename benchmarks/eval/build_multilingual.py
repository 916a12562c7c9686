"""Build ``multilingual.jsonl``: retrieval questions about one video per language (en, fr, es, it, ru), each
the Asterisk telephone prompts of that language laid over bbb.mp4 (English from ../shared/media, the others
from Debian's ``asterisk-core-sounds-*`` packages, fetched by tests/speech_packages.py with apt-get).

Prompts: sorted by file name, at least 2 s, a text not already selected (some prompts repeat one text),
the first ``--prompts`` of them, 3-s gaps, from 5 s on; where each lies is known by construction. Questions,
written by rule from the transcripts before any tuning:
    exact     a verbatim span: the first 4-word window (the whole text when it has at most 5 words; longer
              windows when needed) that no other selected prompt of the language contains
    near_dup  the prompt (or its first unique 10-word window) slightly re-worded in its language: a
              politeness word dropped and one word swapped for a synonym from a hand-written table below
Every prompt whose index is 1 modulo 3 is ``split: tune``; the rest are ``test`` (never looked at while tuning).

    python benchmarks/eval/build_multilingual.py [--prompts 48] [--languages en fr es it ru] [--render DIR]

``--render DIR`` also builds multilingual_<lang>.mp4 in DIR with shared/media/make_narrated.py (needs ffmpeg).
``--asr DIR`` measures the default routed ASR on each video's soundtrack there (prompts over the music bed),
as the ingest runs it (300-s chunks, models loaded and audio decoded before the clock starts): x real time
by wall and by CPU time (audio seconds / (process CPU seconds / 2), what 2 free cores give, as
benchmarks/asr_languages.py), the share of utterance seconds in the video's language, utterances as ``en``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.speech_packages import CACHE, Prompt, prompts  # noqa: E402

MEDIA = ROOT.parent / "shared" / "media"
OUT = Path(__file__).with_name("multilingual.jsonl")
LANGUAGES = ("en", "fr", "es", "it", "ru")
FIRST, GAP, TAIL = 5.0, 3.0, 5.0  # seconds before the first prompt, between prompts, after the last

# Words a near-duplicate drops (politeness) and swaps (one synonym, the first found), per language.
POLITE = {
    "en": ("please",),
    "fr": ("veuillez", "svp"),
    "es": ("por favor",),
    "it": ("prego", "perpiacere"),
    "ru": ("пожалуйста",),
}
SYNONYMS = {
    "en": {
        "press": "push",
        "enter": "type",
        "conference": "meeting",
        "users": "participants",
        "message": "recording",
        "exit": "leave",
        "currently": "now",
        "welcome": "hello",
    },
    "fr": {
        "appuyez": "tapez",
        "appuyer": "taper",
        "composez": "entrez",
        "composer": "entrer",
        "conférence": "réunion",
        "numéro": "code",
        "maintenant": "désormais",
        "participants": "membres",
        "participant": "membre",
        "quitter": "sortir",
        "usagers": "utilisateurs",
        "lignes": "lignes téléphoniques",
    },
    "es": {
        "ingrese": "introduzca",
        "presione": "pulse",
        "marque": "pulse",
        "conferencia": "reunión",
        "usuarios": "participantes",
        "usuario": "participante",
        "ahora": "en este momento",
        "salir": "terminar",
        "tecla": "botón",
        "clave": "contraseña",
        "ha": "fue",
    },
    "it": {
        "digitare": "inserire",
        "premere": "selezionare",
        "conferenza": "riunione",
        "utenti": "partecipanti",
        "utente": "partecipante",
        "tasto": "pulsante",
        "ora": "adesso",
        "uscire": "terminare",
        "numero": "codice",
        "attualmente": "adesso",
    },
    "ru": {
        "нажмите": "выберите",
        "введите": "наберите",
        "конференция": "встреча",
        "конференцию": "встречу",
        "конференции": "встречи",
        "номер": "код",
        "оператора": "агента",
        "участников": "абонентов",
        "сейчас": "теперь",
        "теперь": "сейчас",
    },
}


@dataclass(frozen=True)
class Placed:
    """One prompt in its language's video: [start, end] seconds and the words it says (cleaned)."""

    prompt: Prompt
    start: float
    end: float
    text: str


def fold(text: str) -> str:
    """Lower case without accents (as the keyword index compares)."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def clean(text: str) -> str:
    """What the voice says: no leading ``name:`` label, no bracketed stage notes, no dangling ellipses."""
    text = re.sub(r"^[\w-]+:\s+", "", text)
    text = re.sub(r"\([^)]*\)|\[[^]]*\]", " ", text)
    text = text.replace("…", " ").replace("...", " ")
    return " ".join(text.split()).strip(" .")


def _key(words: list[str]) -> str:
    return " " + " ".join(w for w in (re.sub(r"[^\w]", "", fold(x)) for x in words) if w) + " "


def _stems(words: list[str]) -> str:
    """``_key`` with every word cut to 5 letters: ASR writes 'composer' and 'composez' alike, so a window
    unique only by such an ending is not unique."""
    return " " + " ".join(w[:5] for w in _key(words).split()) + " "


def select(found: dict[str, Prompt], count: int) -> list[Prompt]:
    """The first ``count`` prompts of at least 2 s by file name, skipping a text already selected."""
    out, seen = [], set()
    for name in sorted(found):
        p = found[name]
        key = _key(clean(p.text).split())
        if p.seconds >= 2.0 and len(key.split()) >= 2 and key not in seen:
            seen.add(key)
            out.append(p)
        if len(out) == count:
            break
    return out


def place(parts: list[Prompt]) -> list[Placed]:
    """Where each prompt lies in its video: FIRST s of lead-in, then GAP s between prompts."""
    at, out = FIRST, []
    for p in parts:
        end = round(at + p.seconds, 3)
        out.append(Placed(p, round(at, 3), end, clean(p.text)))
        at = round(end + GAP, 3)
    return out


def unique_window(words: list[str], others: list[str], size: int, whole: int) -> list[str] | None:
    """The first window of ``size`` words (the whole text when it has at most ``whole`` words; longer windows
    when none is unique) whose folded words occur in no other prompt; None when there is none."""
    if len(words) <= whole:
        return words if not any(_stems(words) in o for o in others) else None
    for n in range(size, len(words) + 1):
        for i in range(len(words) - n + 1):
            window = words[i : i + n]
            if _garbled(window) or window[0][-1] in ".,;:":
                continue
            if not any(_stems(window) in o for o in others):
                return window
    return None


def _garbled(words: list[str]) -> bool:
    """A word whose letters were lost in the package's transcript (``sar?`` for ``sarà``)."""
    return any(re.search(r"\w\?|\?\w", w) for w in words)


def reword(words: list[str], language: str) -> list[str] | None:
    """A near-duplicate: the politeness word dropped and the first word with a synonym swapped; None when
    neither applies (the prompt then has no near_dup question)."""
    text = " ".join(words)
    changed = False
    for polite in POLITE[language]:
        pattern = re.compile(rf"(?<!\w){re.escape(polite)}(?!\w)[,.]?\s*", re.IGNORECASE)
        if pattern.search(text):
            text, changed = pattern.sub("", text, count=1), True
            break
    out = text.split()
    for i, w in enumerate(out):
        bare = w.strip(",.;:!?¿¡").lower()
        if bare in SYNONYMS[language]:
            out[i] = w.lower().replace(bare, SYNONYMS[language][bare])
            changed = True
            break
    return out if changed and len(out) >= 2 else None


def questions(language: str, video: str, placed: list[Placed]) -> list[dict]:
    """Exact and near_dup questions for every prompt of one language's video."""
    keys = [_stems(p.text.split()) for p in placed]
    rows = []
    for i, p in enumerate(placed):
        others = keys[:i] + keys[i + 1 :]
        words = p.text.split()
        split = "tune" if i % 3 == 1 else "test"
        exact = unique_window(words, others, 4, 5)
        source = unique_window(words, others, 10, 12)
        near = reword(source, language) if source else None
        for category, span in (("exact", exact), ("near_dup", near)):
            if span and len(span) >= 2:
                question = " ".join(span).strip(" ,.;:")
                rows.append(
                    {
                        "language": language,
                        "category": category,
                        "split": split,
                        "question": question,
                        "video": video,
                        "start": p.start,
                        "end": p.end,
                        "prompt": p.prompt.name,
                    }
                )
    return rows


def video_name(language: str) -> str:
    return f"multilingual_{language}.mp4"


def sound_folder(language: str, workdir: Path) -> Path:
    """Where the prompts' .wav files of a language are (as tests/speech_packages.py unpacks them)."""
    if language == "en":
        return MEDIA / "speech" / "asterisk_en_allison"
    return next((workdir / f"asterisk-{language}" / "usr" / "share" / "asterisk" / "sounds").glob(f"{language}_*"))


def render(media: Path, folder: Path, language: str, placed: list[Placed], workdir: Path) -> Path:
    """multilingual_<language>.mp4 in ``folder``: bbb.mp4 cut to the narration's length, the prompts over its
    soundtrack (at 0.25) with shared/media/make_narrated.py."""
    folder.mkdir(parents=True, exist_ok=True)
    sounds = folder / f"sounds_{language}"
    if not sounds.exists():
        sounds.symlink_to(sound_folder(language, workdir))
    background = folder / f"background_{language}.mp4"
    length = f"{placed[-1].end + TAIL:.3f}"
    cut = ["ffmpeg", "-y", "-v", "error", "-i", str(media / "video" / "bbb.mp4"), "-t", length, "-c", "copy"]
    subprocess.run([*cut, str(background)], check=True)
    spec = {
        "video": background.name,
        "bed_volume": 0.25,
        "clips": [{"at": p.start, "audio": f"{sounds.name}/{p.prompt.name}.wav", "text": p.text} for p in placed],
    }
    spec_path = folder / f"multilingual_{language}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    out = folder / video_name(language)
    subprocess.run([sys.executable, str(media / "make_narrated.py"), str(spec_path), str(out)], check=True)
    background.unlink()
    return out


def build(
    languages: list[str], count: int, workdir: Path, media: Path = MEDIA, folder: Path | None = None
) -> tuple[list[dict], list[Path]]:
    """The questions for ``languages`` (``count`` prompts each) and, with ``folder``, the rendered videos."""
    rows, videos = [], []
    for language in languages:
        placed = place(select(prompts(language, workdir), count))
        rows += questions(language, video_name(language), placed)
        if folder is not None:
            videos.append(render(media, folder, language, placed, workdir))
    return rows, videos


def measure_asr(folder: Path, languages: list[str]) -> list[dict]:
    """The default routed transcriber on each rendered video's audio: speed, languages stored."""
    from memindex.ingest.asr import transcriber_for
    from memindex.ingest.audio import audio_chunks
    from memindex.ingest.config import AsrConfig

    cfg = AsrConfig()
    transcriber = transcriber_for(cfg)
    rows = []
    for language in languages:
        chunks = list(audio_chunks(folder / video_name(language), chunk_seconds=cfg.chunk_seconds))
        transcriber.reset()  # type: ignore[attr-defined]
        t0, c0 = time.perf_counter(), time.process_time()
        utts = [u for c in chunks for u in transcriber.transcribe(c)]
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        audio = sum(len(c.samples) / c.sample_rate for c in chunks)
        said = sum(u.end - u.start for u in utts) or 1.0
        rows.append(
            {
                "language": language,
                "audio_seconds": round(audio, 1),
                "x_real_time_wall": round(audio / wall, 1),
                "x_real_time_cpu": round(audio / (cpu / 2), 1),
                "utterances": len(utts),
                "right_language_seconds": round(sum(u.end - u.start for u in utts if u.language == language) / said, 3),
                "stored_as_en": sum(1 for u in utts if language != "en" and u.language == "en"),
                "low_quality": sum(1 for u in utts if u.quality != "ok"),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prompts", type=int, default=48)
    ap.add_argument("--languages", nargs="+", default=list(LANGUAGES))
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--work", type=Path, default=CACHE / "unpacked", help="where the packages are unpacked")
    ap.add_argument("--render", type=Path, metavar="DIR", help="also build multilingual_<lang>.mp4 in DIR")
    ap.add_argument("--asr", type=Path, metavar="DIR", help="only measure ASR on the videos rendered in DIR")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    if args.asr:
        measure_asr(args.asr, args.languages)
        return
    args.work.mkdir(parents=True, exist_ok=True)
    rows, videos = build(args.languages, args.prompts, args.work, args.media, args.render)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"wrote {len(rows)} questions to {args.out}")
    for v in videos:
        print(f"rendered {v}")


if __name__ == "__main__":
    main()
