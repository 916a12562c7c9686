"""Build ``retrieval.jsonl`` and ``retrieval_none.jsonl``: hand-written retrieval questions about the speech in
../shared/media/video/bbb_narrated.mp4, each tied to the spoken line it targets; the interval comes from the
ground truth (bbb_narrated.groundtruth.json, the sonnet's line timings, the phone call's sample.stm).

Types: ``paraphrase`` (says what a line means without its key words: written by hand before any tuning),
``near_dup`` (a line re-worded slightly: a word swapped, dropped or reordered) and ``exact`` (a verbatim span).
Every item has ``split``: ``tune`` (fusion weights and the confidence map are fit on it) or ``test`` (never
looked at while tuning; the numbers reported). ``retrieval_none.jsonl`` holds questions whose answer is not in
the store (some about the sibling recordings of the same packages that were NOT mixed into the video), for
the confidence calibration. Run: python benchmarks/eval/build_retrieval.py [MEDIA_DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import wave
from pathlib import Path

MEDIA = Path(__file__).resolve().parents[3] / "shared" / "media"
OUT = Path(__file__).with_name("retrieval.jsonl")
OUT_NONE = Path(__file__).with_name("retrieval_none.jsonl")
NARRATED = "bbb_narrated.mp4"
PROMPTS_VIDEO = "prompts_narrated.mp4"
# The second archive video (``--render DIR`` builds it with shared/media/make_narrated.py): every recording of
# the speech packages that bbb_narrated.mp4 leaves out, laid over bbb.mp4 in this order with 5-s gaps. Most
# are near-duplicate telephone prompts ("press 1 to ..."), so a query must pick one prompt among look-alikes.
PROMPT_CLIPS = [
    "asterisk_en_allison/agent-alreadyon",
    "asterisk_en_allison/conf-adminmenu-162",
    "librivox_sense_and_sensibility/sense_and_sensibility_01_austen_64kb-0880",
    "asterisk_en_allison/vm-intro",
    "asterisk_en_allison/demo-echotest",
    "asterisk_en_allison/conf-adminmenu-menu8",
    "asterisk_en_allison/dir-instr",
    "asterisk_en_allison/confbridge-mute-extended",
    "asterisk_en_allison/vm-review",
    "librivox_sense_and_sensibility/sense_and_sensibility_01_austen_64kb-0920",
    "asterisk_en_allison/demo-instruct",
    "asterisk_en_allison/confbridge-lock-extended",
    "asterisk_en_allison/vm-forwardoptions",
    "asterisk_en_allison/dir-intro",
    "pocketsphinx_misc/goforward",
    "asterisk_en_allison/demo-moreinfo",
    "asterisk_en_allison/tt-allbusy",
    "librivox_sense_and_sensibility/sense_and_sensibility_01_austen_64kb-0930",
    "asterisk_en_allison/vm-newuser",
    "asterisk_en_allison/conf-usermenu-162",
]

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

# Questions about prompts_narrated.mp4, keyed by prompt name (librivox lines by number: 0880, 0920, 0930).
PROMPT_PARAPHRASE = [
    ("test", "agent-alreadyon", "When is the caller told that this operator has signed in already?"),
    ("test", "conf-adminmenu-162", "When does the moderator menu offer to throw out the most recent participant?"),
    ("tune", "conf-adminmenu-menu8", "When can the host remove every participant who is not an admin?"),
    ("test", "conf-adminmenu-menu8", "Where is the option to capture a recording of the whole meeting offered?"),
    ("test", "confbridge-lock-extended", "When is it said that only moderators may enter a closed meeting?"),
    (
        "tune",
        "confbridge-mute-extended",
        "When is it explained that while silenced you can still listen to the others?",
    ),
    ("test", "demo-echotest", "When is a check explained in which your own voice is played back to measure delay?"),
    ("test", "demo-instruct", "When is a number given for trying an internet phone call to a remote demo server?"),
    ("tune", "demo-instruct", "When are the sample user's extension and passcode given?"),
    (
        "test",
        "demo-moreinfo",
        "When is the software described as a complete telephone switch and voice response system for Linux?",
    ),
    ("tune", "demo-moreinfo", "Where is a website given for further details?"),
    ("test", "dir-instr", "When can the caller confirm that they found the right person?"),
    ("test", "dir-intro", "When is the caller asked to spell the beginning of someone's surname on the keypad?"),
    ("test", "tt-allbusy", "When does a joke message say everyone at home is busy with other salespeople?"),
    ("tune", "vm-forwardoptions", "When is the caller offered to add an introduction before passing a message on?"),
    ("test", "vm-intro", "When is the caller asked to speak after the beep and to hang up once finished?"),
    (
        "test",
        "vm-newuser",
        "When does the mail system greet a first-time user and offer a short configuration walkthrough?",
    ),
    ("test", "vm-review", "When can the caller approve, replay or redo what they just recorded?"),
    (
        "tune",
        "conf-usermenu-162",
        "When can an ordinary participant make the meeting louder or quieter, or leave the options?",
    ),
    ("test", "0880", "When is a young man said not to be badly intentioned?"),
    ("test", "0920", "When is it said that a kinder spouse would have made him more esteemed?"),
    ("tune", "0930", "When is it suggested that he could even have become likeable himself?"),
    ("test", "goforward", "When is an instruction given to move ahead by a short distance?"),
]

PROMPT_NEAR_DUP = [
    ("test", "conf-adminmenu-162", "press 1 to mute yourself, 2 to lock the conference, 3 to eject the last user"),
    ("test", "conf-adminmenu-menu8", "press 1 to list the users in the conference"),
    ("tune", "confbridge-mute-extended", "when you are muted you cannot send audio to others"),
    ("test", "confbridge-lock-extended", "when the conference is locked only administrators can join"),
    ("test", "vm-intro", "leave your message after the tone, when done hang up"),
    ("test", "vm-review", "press 1 to accept the recording, press 2 to listen to it"),
    ("tune", "vm-forwardoptions", "press 1 to prepend the message or 2 to forward it"),
    ("test", "dir-instr", "if this is the person you're looking for press 1"),
    ("test", "dir-intro", "enter the first three letters of the party's last name"),
    ("tune", "agent-alreadyon", "that agent is already logged in, enter your agent number"),
    ("test", "demo-echotest", "everything you say will be repeated back to you"),
    ("test", "demo-instruct", "to check voicemail dial extension 8500"),
    ("test", "demo-moreinfo", "Asterisk is an open source full featured PBX and IVR platform"),
    ("tune", "vm-newuser", "welcome to comedian mail"),
    ("test", "tt-allbusy", "all representatives of the household are assisting other telemarketers"),
    ("test", "conf-usermenu-162", "5 to extend the conference, 7 or 9 to change your volume, or 8 to exit this menu"),
]

PROMPT_EXACT = [
    ("test", "conf-adminmenu-162", "3 to eject the last user"),
    ("test", "conf-adminmenu-menu8", "kick all non-administrator users"),
    ("test", "demo-echotest", "the latency between you and the machine"),
    ("tune", "demo-instruct", "extension 1234 and password 4242"),
    ("test", "dir-intro", "Use the 7 key for Q and the 9 key for Z"),
    ("test", "tt-allbusy", "your call will be answered in the order it was received"),
    ("test", "0880", "he was not an ill disposed young man"),
    ("tune", "goforward", "go forward ten meters"),
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


def prompt_schedule(media: Path) -> list[dict]:
    """Where each clip of PROMPT_CLIPS sits in prompts_narrated.mp4 (known by construction) and what it says."""
    sounds = media / "speech" / "asterisk_en_allison" / "core-sounds-en.txt"
    texts = dict(ln.split(": ", 1) for ln in sounds.read_text().splitlines() if ": " in ln)
    at, out = 10.0, []
    for clip in PROMPT_CLIPS:
        path = media / "speech" / f"{clip}.wav"
        with wave.open(str(path)) as w:
            seconds = w.getnframes() / w.getframerate()
        stem = path.stem
        if stem in texts:
            said = texts[stem].strip()
        elif stem == "goforward":
            said = "go forward ten meters"
        else:
            said = path.with_suffix(".txt").read_text().strip()
        out.append(
            {
                "key": stem.rsplit("-", 1)[-1] if "austen" in stem else stem,
                "at": at,
                "audio": f"speech/{clip}.wav",
                "text": said,
                "end": round(at + seconds, 3),
            }
        )
        at = round(at + seconds + 5.0, 3)
    return out


def render(media: Path, folder: Path) -> Path:
    """Build prompts_narrated.mp4 in ``folder`` with shared/media/make_narrated.py (needs ffmpeg)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("video", "speech"):
        link = folder / name
        if not link.exists():
            link.symlink_to(media / name)
    spec = {
        "video": "video/bbb.mp4",
        "bed_volume": 0.25,
        "clips": [{"at": c["at"], "audio": c["audio"], "text": c["text"]} for c in prompt_schedule(media)],
    }
    (folder / "prompts_narrated.spec.json").write_text(json.dumps(spec, indent=1) + "\n")
    out = folder / PROMPTS_VIDEO
    subprocess.run(
        ["python3", str(media / "make_narrated.py"), str(folder / "prompts_narrated.spec.json"), str(out)], check=True
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description="Write retrieval.jsonl and retrieval_none.jsonl.")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--render", type=Path, metavar="DIR", help="also build prompts_narrated.mp4 in DIR")
    args = ap.parse_args()
    span = spans(args.media)
    prompts = {c["key"]: (c["at"], c["end"]) for c in prompt_schedule(args.media)}
    items = []
    for kind, table, video, where in (
        ("paraphrase", PARAPHRASE, NARRATED, span),
        ("near_dup", NEAR_DUP, NARRATED, span),
        ("exact", EXACT, NARRATED, span),
        ("paraphrase", PROMPT_PARAPHRASE, PROMPTS_VIDEO, prompts),
        ("near_dup", PROMPT_NEAR_DUP, PROMPTS_VIDEO, prompts),
        ("exact", PROMPT_EXACT, PROMPTS_VIDEO, prompts),
    ):
        for split, key, question in table:
            a, b = where[key]
            items.append(
                {
                    "type": kind,
                    "split": split,
                    "question": question,
                    "video": video,
                    "start": round(a, 3),
                    "end": round(b, 3),
                    "line": key,
                }
            )
    OUT.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    none = [{"type": "none", "split": s, "question": q, "video": v} for s, v, q in UNANSWERABLE]
    OUT_NONE.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in none))
    print(f"wrote {len(items)} questions to {OUT} and {len(none)} to {OUT_NONE}")
    if args.render:
        print(f"rendered {render(args.media, args.render)}")


if __name__ == "__main__":
    main()
