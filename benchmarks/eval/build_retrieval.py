"""Build ``retrieval.jsonl`` and ``unanswerable.jsonl``: hand-written retrieval questions about the speech in
../shared/media/video/bbb_narrated.mp4, each tied to the spoken line it targets; the interval comes from the
ground truth (bbb_narrated.groundtruth.json, the sonnet's line timings, the phone call's sample.stm).

Types: ``paraphrase`` (says what a line means without its key words: written by hand before any tuning),
``near_dup`` (a line re-worded slightly: a word swapped, dropped or reordered) and ``exact`` (a verbatim span).
Every item has ``split``: ``tune`` (fusion weights and the confidence map are fit on it) or ``test`` (never
looked at while tuning; the numbers reported). ``unanswerable.jsonl`` holds questions whose answer is not in
the store (some about the sibling recordings of the same packages that were NOT mixed into the video), for
the confidence calibration. Run: python benchmarks/eval/build_retrieval.py [MEDIA_DIR]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

MEDIA = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parents[3] / "shared" / "media")
OUT = Path(__file__).with_name("retrieval.jsonl")
OUT_NONE = Path(__file__).with_name("unanswerable.jsonl")
NARRATED = "bbb_narrated.mp4"

# (split, key of the spoken line, question). Keys: clip names, sonnet line numbers s1..s14, phone turns by their
# first words, and the Asterisk clips (whole-clip intervals: the prompts have no per-sentence timing).
PARAPHRASE = [
    (
        "test",
        "jfk",
        "When does a president urge citizens to think about serving the nation instead of expecting favours from it?",
    ),
    (
        "tune",
        "jfk",
        "Where is the audience told to consider their duty to the homeland rather than what the state gives them?",
    ),
    ("test", "jfk", "When does a speaker address his compatriots about civic duty?"),
    (
        "test",
        "sense1",
        "When does a man finally have free time to reflect on how much help he could sensibly give his relatives?",
    ),
    ("tune", "sense1", "Where does someone weigh up how generous he can reasonably afford to be toward family?"),
    ("test", "sense2", "When is it suggested that lacking warmth and thinking only of oneself means bad character?"),
    ("tune", "sense2", "Where does the narrator equate being unfeeling and self-centred with a poor temperament?"),
    ("test", "s1", "Where does the poem say we want the most beautiful beings to have offspring?"),
    ("tune", "s1", "When is the wish for lovely creatures to multiply expressed?"),
    ("test", "s2", "When does the reader hope that loveliness will live forever?"),
    ("tune", "s2", "Where is it hoped that the flower of attractiveness stays immortal?"),
    ("test", "s3", "When is it said that the older, more mature one will pass away with the years?"),
    ("tune", "s4", "Where does the poem mention a young successor who keeps someone's remembrance alive?"),
    ("test", "s4", "When is a gentle descendant said to carry on the recollection of his parent?"),
    ("test", "s5", "When is the listener accused of being engaged only to his own shining gaze?"),
    ("tune", "s6", "Where does the poem describe burning yourself up to keep your own fire going?"),
    ("test", "s6", "When is someone said to nourish their candle using their own substance?"),
    ("test", "s7", "When is starvation created in the middle of plenty?"),
    ("tune", "s7", "Where does the speaker talk about hunger amid wealth?"),
    ("test", "s8", "When is the listener called his own enemy, too harsh on himself?"),
    ("tune", "s8", "Where is someone described as being unkind to their own dear person?"),
    ("test", "s9", "When is the young man called the new jewel of the earth?"),
    ("tune", "s10", "When is he called the lone announcer of the flashy blossoming season?"),
    ("test", "s10", "Which line calls someone the single harbinger of a bright, flowery time of year?"),
    ("test", "s11", "When is someone said to entomb their own worth inside a closed blossom?"),
    ("tune", "s12", "Where is a young miser said to squander by hoarding?"),
    ("test", "s12", "When does the poem call someone a gentle boor who wastes things through stinginess?"),
    ("test", "s13", "When is the listener asked to have mercy on humanity or be a greedy eater?"),
    ("tune", "s14", "Where does the poem warn about consuming what the earth is owed, between you and the tomb?"),
    ("test", "didn't know", "When does a woman say she was unaware the other person was on the line?"),
    ("tune", "neither", "When does the other caller reply that she had not realised either?"),
    ("test", "okay", "When does someone mention hearing a tone on the phone?"),
    ("tune", "okay", "Where does a caller say a short electronic sound made her think someone had joined?"),
    (
        "tune",
        "this is diane",
        "When does the first caller introduce herself and name the East Coast state she lives in?",
    ),
    ("test", "sheila", "When does a woman say she lives in the Lone Star State but grew up in the Windy City?"),
    ("test", "chicago also", "When does a caller say she was born in that same Illinois city too?"),
    ("tune", "new jersey now", "When does someone say they currently live in the Garden State?"),
    ("test", "difference", "When does a caller claim the two places are pretty much alike?"),
    ("test", "yankee", "When does a woman complain that locals in the South label her a northerner?"),
    ("tune", "yankee", "Where does someone say people nearby nickname her as somebody from the North?"),
    ("test", "don't hear", "When does a caller say nobody uses that nickname for her where she lives?"),
    ("test", "congrats", "When is the listener praised for getting the free phone exchange software running?"),
    ("tune", "congrats", "Where does the voice say example audio and setup files came with it to help beginners?"),
    ("test", "congrats", "When is the user told to move through the demo by pressing numbers on the keypad?"),
    (
        "test",
        "congrats",
        "When does the recording explain how to imitate an ordinary handset from a terminal "
        "without actual phone hardware?",
    ),
    ("tune", "congrats", "Where are commands for pretending to place and end calls described?"),
    ("test", "vm", "When is the caller told which button to push to check their recordings?"),
    ("tune", "vm", "Where does the voice explain how to leave the mailbox system using the hash symbol?"),
]

NEAR_DUP = [
    ("test", "jfk", "ask not what your nation can do for you"),
    ("tune", "sense1", "mister john dashwood had leisure to think how much might be in his power"),
    ("test", "sense2", "rather cold-hearted and rather selfish is ill disposed"),
    ("test", "s1", "from the fairest creatures we desire an increase"),
    ("tune", "s2", "that beauty's rose may never die"),
    ("test", "s7", "making famine where the abundance lies"),
    ("test", "s10", "the only herald of the gaudy spring"),
    ("tune", "s13", "pity the world or else be this glutton"),
    ("test", "sheila", "I'm Sheila from Texas, originally Chicago"),
    ("tune", "yankee", "they call me a yankee down there"),
    ("test", "congrats", "you have successfully installed the asterisk PBX"),
    ("tune", "congrats", "navigate this demo by dialling digits"),
    ("test", "vm", "quit the voicemail any time by pressing pound"),
    ("test", "okay", "I thought I heard a beep"),
    ("test", "s5", "but you contracted to your own bright eyes"),
    ("tune", "s11", "within your own bud you bury your content"),
]

EXACT = [
    ("test", "jfk", "my fellow Americans"),
    ("tune", "sense1", "had then leisure to consider"),
    ("test", "sense2", "ill disposed"),
    ("test", "s2", "beauty's rose might never die"),
    ("test", "s4", "His tender heir might bear his memory"),
    ("tune", "s6", "Feed'st thy light's flame with self-substantial fuel"),
    ("test", "s8", "Thy self thy foe"),
    ("test", "s11", "Within thine own bud buriest thy content"),
    ("tune", "s12", "And tender churl mak'st waste in niggarding"),
    ("test", "s14", "To eat the world's due, by the grave and thee"),
    ("test", "chicago also", "originally from Chicago also"),
    ("tune", "congrats", "a set of sample sounds and configuration files"),
    ("test", "congrats", "console channel driver"),
    ("test", "congrats", "simulate the actions of a standard telephone"),
    ("test", "vm", "press 1 now"),
    ("test", "didn't know", "I didn't know you were there"),
    ("tune", "neither", "Neither did I"),
]

# Nothing in the store answers these. Some are about sibling prompts of the same packages that were not mixed
# into the video (the echo test, conference menu, directory, voicemail greeting, Sense and Sensibility 0920).
UNANSWERABLE = [
    ("tune", NARRATED, "When does someone give the recipe for a chocolate cake?"),
    ("test", NARRATED, "Where is the stock market crash discussed?"),
    ("tune", NARRATED, "When does the speaker read out the football scores?"),
    ("test", NARRATED, "When is tomorrow's weather forecast announced?"),
    ("tune", NARRATED, "Where does someone explain how to change a car tyre?"),
    ("test", NARRATED, "When is quantum computing mentioned?"),
    ("tune", NARRATED, "When does a doctor describe the symptoms of the flu?"),
    ("test", NARRATED, "Where is the price of bitcoin mentioned?"),
    ("tune", NARRATED, "When does a crowd sing happy birthday?"),
    ("test", NARRATED, "When does the narrator describe a trip to Paris?"),
    ("tune", NARRATED, "Where are the rules of chess explained?"),
    ("test", NARRATED, "When does anyone talk about walking their dog?"),
    ("tune", NARRATED, "When is the echo test explained, where everything you say is repeated back?"),
    ("test", NARRATED, "When are the options to mute yourself in a conference call read out?"),
    ("tune", NARRATED, "Where is the caller asked to enter the first three letters of a last name?"),
    ("test", NARRATED, "When is the caller asked to leave a message after the tone?"),
    ("tune", NARRATED, "When is it said that marrying a more amiable woman would have made him respectable?"),
    ("test", NARRATED, "Where are the telemarketers said to be busy with other calls?"),
    ("tune", "bbb.mp4", "When does someone say 'ask not what your country can do for you'?"),
    ("test", "bbb.mp4", "When is the line about the world's fresh ornament read?"),
]


def spans(media: Path) -> dict[str, tuple[float, float]]:
    """The ground-truth interval of every line key used above (seconds in bbb_narrated.mp4)."""
    gt = json.loads((media / "video" / "bbb_narrated.groundtruth.json").read_text())
    clips = {c["audio"].split("/")[-1].rsplit(".", 1)[0]: c for c in gt["speech"]}
    out = {
        "jfk": clips["jfk"],
        "sense1": clips["sense_and_sensibility_01_austen_64kb-0870"],
        "sense2": clips["sense_and_sensibility_01_austen_64kb-0890"],
        "congrats": clips["demo-congrats"],
        "vm": clips["vm-instructions"],
    }
    result = {k: (c["start"], c["end"]) for k, c in out.items()}
    sonnet = clips["sonnet1"]
    result.update({f"s{i}": (a, b) for i, (a, b, _) in enumerate(sonnet["lines"], 1)})
    call = clips["sample"]["start"]
    turns = [
        ln.split(maxsplit=5)
        for ln in (media / "speech" / "pyannote_sample" / "sample.stm").read_text().splitlines()
        if ln.strip()
    ]
    for key in (
        "didn't know",
        "neither",
        "okay",
        "this is diane",
        "sheila",
        "chicago also",
        "new jersey now",
        "difference",
        "yankee",
        "don't hear",
    ):
        first = next(t for t in turns if key in t[5].lower())  # "new jersey now": the earlier turn
        a, b = float(first[3]) + call, float(first[4]) + call
        result[key] = (a, b)
    return result


def main() -> None:
    span = spans(MEDIA)
    items = []
    for kind, table in (("paraphrase", PARAPHRASE), ("near_dup", NEAR_DUP), ("exact", EXACT)):
        for split, key, question in table:
            a, b = span[key]
            items.append(
                {
                    "type": kind,
                    "split": split,
                    "question": question,
                    "video": NARRATED,
                    "start": round(a, 3),
                    "end": round(b, 3),
                    "line": key,
                }
            )
    OUT.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    none = [{"type": "none", "split": s, "question": q, "video": v} for s, v, q in UNANSWERABLE]
    OUT_NONE.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in none))
    print(f"wrote {len(items)} questions to {OUT} and {len(none)} to {OUT_NONE}")


if __name__ == "__main__":
    main()
