"""The video page: a zoomable timeline (lanes for chapters, events, shots with keyframes, speech by speaker,
screen text, entities), the transcript beside it, and the original file playing where it is still reachable
(keyframes where it is not). ``export_html`` writes the same page as one self-contained file."""

from __future__ import annotations

import base64
import io
from typing import Any

from memindex.server.ui_pages import Links, Nav, esc, hms, page, speaker_colour

__all__ = ["video_page", "export_html", "thumbnail"]

LANES = ("chapters", "events", "shots", "keyframes", "speech", "screen", "entities")


def _pct(t: float, duration: float) -> str:
    return f"{max(0.0, min(100.0, 100.0 * t / duration)):.4f}%"


def _item(cls: str, start: float, end: float, duration: float, label: str, tip: str = "", extra: str = "") -> str:
    width = max(end - start, 0.0)
    return (
        f'<div class="item {cls}" style="left:{_pct(start, duration)};width:{_pct(width, duration)}{extra}" '
        f'data-start="{start:.3f}" data-end="{end:.3f}" title="{esc(tip or label)} ({hms(start)}–{hms(end)})">'
        f"{esc(label)}</div>"
    )


def _lane(name: str, items: str, count: int) -> str:
    return f'<div class="lane" data-lane="{name}" data-count="{count}"><div class="lane-items">{items}</div></div>'


def _lanes(tl: dict, links: Links) -> dict[str, str]:
    d = tl["duration"]
    out = {
        "chapters": "".join(
            _item("chapter", c["start"], c["end"], d, c["text"] or f"chapter {c['index'] + 1}") for c in tl["chapters"]
        ),
        "events": "".join(
            _item("event", e["start"], e["end"], d, e["text"] or f"event {e['index'] + 1}") for e in tl["events"]
        ),
        "shots": "".join(
            _item("shot", s["start"], s["end"], d, "", s["text"] or f"shot {s['index'] + 1}") for s in tl["shots"]
        ),
        "keyframes": "".join(
            f'<img class="kf" loading="lazy" alt="" data-frame="{f["id"]}" data-t="{f["t"]:.3f}" '
            f'style="left:{_pct(f["t"], d)}" src="{esc(links.frame(f["id"], 160))}" title="{hms(f["t"])}">'
            for f in tl["frames"]
        ),
        "speech": "".join(
            _item(
                "utt",
                u["start"],
                u["end"],
                d,
                u["speaker_name"] or "",
                u["text"],
                f";--c:{speaker_colour(u['speaker'])}",
            )
            for u in tl["speech"]
        ),
        "screen": "".join(_item("ocr", o["start"], o["end"], d, o["text"]) for o in tl["screen"]),
        "entities": "".join(
            _item(f"ent kind-{esc(m['kind'])}", m["start"], m["end"], d, m["name"], f"{m['kind']}: {m['name']}")
            for m in tl["entities"]
        ),
    }
    return out


def timeline_html(tl: dict, links: Links, t: float = 0.0) -> str:
    """The timeline: lane names in a fixed column, the lanes in a horizontally zoomable scroller."""
    lanes = _lanes(tl, links)
    counts = {
        "chapters": len(tl["chapters"]),
        "events": len(tl["events"]),
        "shots": len(tl["shots"]),
        "keyframes": len(tl["frames"]),
        "speech": len(tl["speech"]),
        "screen": len(tl["screen"]),
        "entities": len(tl["entities"]),
    }
    names = "".join(f'<div class="lane-name">{n} <small>{counts[n]}</small></div>' for n in LANES)
    rows = "".join(_lane(n, lanes[n], counts[n]) for n in LANES)
    tools = (
        '<div class="tl-tools"><button type="button" data-zoom="in" title="zoom in">+</button>'
        '<button type="button" data-zoom="out" title="zoom out">−</button>'
        '<button type="button" data-zoom="fit">fit</button>'
        f'<span class="now" id="now" data-t="{t:.3f}">{hms(t)}</span>'
        f'<span class="hint">ctrl + wheel zooms · click seeks</span></div>'
    )
    return (
        f'<section class="timeline" id="timeline" data-duration="{tl["duration"]:.3f}" data-t="{t:.3f}">'
        f'{tools}<div class="tl-body"><div class="lane-names"><div class="lane-name axis-name"></div>{names}'
        f'</div><div class="tl-scroll" id="tl-scroll"><div class="tl-inner" id="tl-inner">'
        f'<div class="axis" id="axis"></div>{rows}<div class="playhead" id="playhead" '
        f'style="left:{_pct(t, tl["duration"])}"></div></div></div></div></section>'
    )


def _transcript(tl: dict) -> str:
    if not tl["speech"]:
        return '<aside class="transcript" id="transcript"><h2>Transcript</h2><p class="empty">No speech.</p></aside>'
    items = "".join(
        f'<li data-start="{u["start"]:.3f}" data-end="{u["end"]:.3f}"><button type="button" class="ts">'
        f'{hms(u["start"])}</button> <b class="spk" style="--c:{speaker_colour(u["speaker"])}">'
        f'{esc(u["speaker_name"] or "")}</b> <span class="said">{esc(u["text"])}</span></li>'
        for u in tl["speech"]
    )
    return f'<aside class="transcript" id="transcript"><h2>Transcript</h2><ol>{items}</ol></aside>'


def _player(tl: dict, links: Links, playable: bool) -> str:
    if playable and not links.static:
        src = esc(links.page(f"/videos/{tl['video']['id']}/file"))
        return f'<div class="player"><video id="player" src="{src}" controls preload="metadata"></video></div>'
    note = "keyframes (the original file is not reachable)" if not links.static else "keyframes"
    return f'<div class="player still"><img id="still" alt=""><p class="note">{note}</p></div>'


def _summary(tl: dict) -> str:
    v = tl["video"]
    stages = ", ".join(
        f'{esc(k)}: <span class="stage {esc(r["status"])}">{esc(r["status"])}</span>'
        for k, r in (v.get("stages") or {}).items()
    )
    error = f'<p class="error">{esc(v["error"])}</p>' if v.get("error") else ""
    return (
        f'<p class="sub">{hms(v["duration"])} · {v.get("width")}×{v.get("height")} · {esc(v["status"])} · '
        f'<code>{esc(v["id"])}</code></p>{error}<p class="stages-line">{stages}</p>'
    )


def video_page(tl: dict, links: Links, t: float = 0.0, playable: bool = False, nav: Nav | None = None) -> str:
    body = (
        f'<h1>{esc(tl["name"])}</h1>{_summary(tl)}<div class="video-top">{_player(tl, links, playable)}'
        f"{_transcript(tl)}</div>{timeline_html(tl, links, t)}"
    )
    if links.static:
        body += (
            '<p class="foot">Exported by memindex. Big Buck Bunny media, where shown: (c) 2008 Blender '
            "Foundation, CC BY 3.0.</p>"
            if "bbb" in tl["name"].lower()
            else '<p class="foot">Exported by memindex.</p>'
        )
    return page(links, "video", tl["name"], body, nav)


def thumbnail(jpeg: bytes, width: int) -> bytes:
    """The JPEG scaled down to ``width`` pixels (kept as is when it is narrower already)."""
    from PIL import Image

    with Image.open(io.BytesIO(jpeg)) as im:
        if im.width <= width:
            return jpeg
        im = im.convert("RGB")
        im.thumbnail((width, max(1, round(im.height * width / im.width))))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=72, optimize=True)
        return out.getvalue()


def export_html(index: Any, ref: str, *, width: int = 240) -> str:
    """One video's page as a self-contained HTML file: CSS, JS and keyframes (as data URIs) inside."""
    from memindex.server.ui_data import timeline

    tl = timeline(index, ref)
    uris: dict[int, str] = {}
    for f in tl["frames"]:
        data = thumbnail(index.reader.frame_jpeg(f["id"]), width)
        uris[f["id"]] = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
    links = Links(frame_url=lambda frame_id, _w: uris.get(frame_id, ""), static=True)
    return video_page(tl, links)
