"""The web UI's HTML, rendered on the server from plain dicts (ui_data.py, the service's results): the page
frame, the library, search and ask, entities and errors. The video page and its timeline are in
ui_timeline.py. Every value goes through ``esc``; nothing here touches the store."""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from pathlib import Path
from string import Template
from urllib.parse import urlencode

__all__ = [
    "Links",
    "esc",
    "hms",
    "page",
    "library_page",
    "search_page",
    "entities_page",
    "entity_page",
    "error_page",
    "login_page",
    "asset",
    "hit_card",
    "speaker_colour",
]


def esc(value: object) -> str:
    return escape("" if value is None else str(value), quote=True)


def hms(seconds: float | None) -> str:
    """``m:ss`` under an hour, ``h:mm:ss`` above."""
    t = max(0, int(round(seconds or 0.0)))
    h, m, s = t // 3600, t // 60 % 60, t % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def asset(name: str) -> str:
    """A file of ``templates/`` or ``static/`` (packaged with memindex.server)."""
    folder, _, leaf = name.partition("/")
    return resources.files("memindex.server").joinpath(folder, leaf).read_text(encoding="utf-8")


def speaker_colour(label: str | None) -> str:
    """A stable hue per speaker label, so one voice has one colour on every page."""
    if not label:
        return "hsl(220 10% 60%)"
    return f"hsl({zlib.crc32(label.encode()) % 360} 62% 52%)"


@dataclass(frozen=True)
class Links:
    """URLs of the pages and keyframes; ``frame`` overrides keyframe URLs (data URIs in a static export)."""

    collection: str = "default"
    base: str = "/ui"
    frame_url: Callable[[int, int | None], str] | None = None
    static: bool = False  # a self-contained export: no links to other pages, assets inlined

    def page(self, path: str = "/", **params: object) -> str:
        query = {k: v for k, v in params.items() if v not in (None, "")}
        if self.collection != "default":
            query["collection"] = self.collection
        return f"{self.base}{path}" + (f"?{urlencode(query)}" if query else "")

    def frame(self, frame_id: int | None, width: int | None = None) -> str:
        if frame_id is None:
            return ""
        if self.frame_url is not None:
            return self.frame_url(frame_id, width)
        return self.page(f"/frames/{frame_id}.jpg", w=width)


@dataclass(frozen=True)
class Nav:
    collections: list[str] = field(default_factory=list)
    query: str = ""


def page(links: Links, name: str, title: str, body: str, nav: Nav | None = None) -> str:
    """The frame every page shares: the header with its links and quick search, then ``body``."""
    if links.static:
        style, script = f"<style>{asset('static/ui.css')}</style>", f"<script>{asset('static/ui.js')}</script>"
        navs, quick, brand = "", "", '<span class="brand">memindex</span>'
    else:
        style = f'<link rel="stylesheet" href="{esc(links.base)}/static/ui.css">'
        script = f'<script src="{esc(links.base)}/static/ui.js" defer></script>'
        navs, quick = _nav(links, name, nav or Nav()), _quick(links, (nav or Nav()).query)
        brand = f'<a class="brand" href="{esc(links.page("/"))}">memindex</a>'
    return Template(asset("templates/page.html")).substitute(
        title=esc(title),
        style=style,
        script=script,
        page=esc(name),
        base=esc(links.base),
        collection=esc(links.collection),
        brand=brand,
        nav=navs,
        quick=quick,
        body=body,
    )


def _nav(links: Links, current: str, nav: Nav) -> str:
    items = [("library", "Library", "/"), ("search", "Search", "/search"), ("entities", "Entities", "/entities")]
    out = [
        f'<a href="{esc(links.page(path))}"{" class=on" if key == current else ""}>{label}</a>'
        for key, label, path in items
    ]
    if len(nav.collections) > 1:
        opts = "".join(
            f"<option{' selected' if c == links.collection else ''}>{esc(c)}</option>" for c in nav.collections
        )
        out.append(
            f'<form class="coll" method="get" action="{esc(links.base)}/"><select name="collection" '
            f"data-autosubmit>{opts}</select></form>"
        )
    return "".join(out)


def _quick(links: Links, query: str) -> str:
    hidden = _hidden(links)
    return (
        f'<form class="quick" method="get" action="{esc(links.base)}/search">{hidden}'
        f'<input name="q" type="search" placeholder="Search the memory" value="{esc(query)}"></form>'
    )


def _hidden(links: Links) -> str:
    if links.collection == "default":
        return ""
    return f'<input type="hidden" name="collection" value="{esc(links.collection)}">'


def _select(name: str, options: Iterable[str], chosen: str, blank: str) -> str:
    opts = [f'<option value="">{esc(blank)}</option>']
    opts += [f"<option{' selected' if o == chosen else ''}>{esc(o)}</option>" for o in options]
    return f'<select name="{name}" data-autosubmit>{"".join(opts)}</select>'


# -- library ---------------------------------------------------------------------------------------------
def library_page(links: Links, data: dict, flt: object, nav: Nav) -> str:
    t = data["totals"]
    counts = " · ".join(f"{n} {esc(s)}" for s, n in sorted(t["by_status"].items()))
    filters = (
        f'<form class="filters" method="get" action="{esc(links.base)}/">{_hidden(links)}'
        f'<input name="q" type="search" placeholder="file name or id" value="{esc(getattr(flt, "q", ""))}">'
        f"{_select('state', data['states'], getattr(flt, 'state', ''), 'any state')}"
        f"{_select('language', data['languages'], getattr(flt, 'language', ''), 'any language')}"
        f"<button>Filter</button></form>"
    )
    totals = (
        f'<p class="totals" id="totals" data-videos="{t["videos"]}"><b>{t["videos"]}</b> videos · '
        f"<b>{hms(t['duration'])}</b> in all{' · ' + counts if counts else ''}</p>"
    )
    cards = "".join(_video_card(links, v) for v in data["videos"]) or '<p class="empty">No videos match.</p>'
    body = f'<h1>Library</h1>{filters}{totals}<div class="videos" id="videos">{cards}</div>{_pager(links, data, flt)}'
    return page(links, "library", "Library", body, nav)


def _video_card(links: Links, v: dict) -> str:
    href = esc(links.page(f"/videos/{v['id']}"))
    thumb = (
        f'<img loading="lazy" alt="" src="{esc(links.frame(v["thumb"], 320))}">'
        if v["thumb"] is not None
        else '<div class="nothumb">no keyframes</div>'
    )
    langs = ", ".join(esc(x) for x in sorted(v["languages"])) or ("speech" if v.get("speech") else "no speech")
    error = f'<p class="error">{esc(v["error"])}</p>' if v.get("error") else ""
    return (
        f'<article class="video status-{esc(v["status"])}" data-video="{esc(v["id"])}">'
        f'<a class="thumb" href="{href}">{thumb}<span class="dur">{hms(v["duration"])}</span></a>'
        f'<div class="meta"><a class="name" href="{href}">{esc(v["name"])}</a>'
        f'<div class="sub"><span class="status">{esc(v["status"])}</span> · {langs} · '
        f'<code>{esc(v["id"])}</code></div>{error}<div class="stages">{_stages(v["stages"])}</div>'
        f"</div></article>"
    )


def _stages(stages: dict) -> str:
    """Every stage as a chip; pending and failed ones say so in words, with what the store recorded."""
    out = []
    for name, run in stages.items():
        status = run["status"]
        word = {"done": "", "pending": " pending", "failed": " FAILED", "skipped": " skipped"}.get(status, f" {status}")
        tip = run.get("detail") or run.get("model") or status
        out.append(f'<span class="stage {esc(status)}" title="{esc(tip)}">{esc(name)}{esc(word)}</span>')
    return "".join(out)


def _pager(links: Links, data: dict, flt: object) -> str:
    if data["pages"] <= 1:
        return ""
    params = {k: getattr(flt, k, "") for k in ("q", "state", "language")}
    prev = (
        f'<a href="{esc(links.page("/", **params, page=data["page"] - 1))}">← previous</a>' if data["page"] > 1 else ""
    )
    nxt = (
        f'<a href="{esc(links.page("/", **params, page=data["page"] + 1))}">next →</a>'
        if data["page"] < data["pages"]
        else ""
    )
    return f'<nav class="pager">{prev}<span>page {data["page"]} of {data["pages"]}</span>{nxt}</nav>'


# -- search and ask --------------------------------------------------------------------------------------
_WORD = re.compile(r"\w+", re.UNICODE)
_STOP = frozenset(
    "a an and are as at be but by can do for from has have i in is it its me my no not of on or so that the this "
    "to was we what when where which who why will with you your".split()
)


def _marks(query: str) -> re.Pattern[str] | None:
    """The whole query as a phrase (any punctuation between its words), else its content words."""
    said = _WORD.findall(query)
    words = sorted({w.lower() for w in said if len(w) > 1}, key=len, reverse=True)
    content = [w for w in words if w not in _STOP] or words
    if not content:
        return None
    alts = [r"\W+".join(re.escape(w) for w in said)] if len(said) > 1 else []
    alts += [re.escape(w) for w in content]
    return re.compile(r"\b(" + "|".join(alts) + r")\b", re.IGNORECASE)


def highlight(text: str, query: str) -> str:
    """``text`` escaped, with the query in ``<mark>``: as a phrase where it occurs whole, else its words
    (2+ characters, any case, small words like "the" only when the query has nothing else)."""
    pattern = _marks(query)
    if pattern is None:
        return esc(text)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [esc(text[last : m.start()]), f"<mark>{esc(m.group(0))}</mark>"]
        last = m.end()
    return "".join(out) + esc(text[last:])


def hit_card(links: Links, hit: dict, query: str) -> str:
    """A hit or a piece of evidence: keyframe, video, span, tier and modality, text, score; opens the
    video page at its start."""
    kf = (hit.get("keyframe") or {}).get("frame_id")
    start, end = float(hit["start"]), float(hit["end"])
    href = esc(links.page(f"/videos/{hit['video_id']}", t=f"{start:.2f}"))
    img = f'<img loading="lazy" alt="" src="{esc(links.frame(kf, 320))}">' if kf is not None else ""
    score = hit.get("confidence", hit.get("score", 0.0))
    return (
        f'<a class="card hit" href="{href}" data-video="{esc(hit["video_id"])}" data-start="{start:.3f}">'
        f'<div class="thumb">{img}</div><div class="meta"><div class="where"><b>{esc(Path(hit["uri"]).name)}'
        f'</b> {hms(start)}–{hms(end)}</div><div class="kind"><span>{esc(hit.get("tier"))}</span>'
        f"<span>{esc(hit.get('modality'))}</span><span>{esc(hit.get('level'))}</span>"
        f'<span class="score" title="score">{float(score):.2f}</span></div>'
        f'<p class="text">{highlight(str(hit.get("text") or ""), query)}</p></div></a>'
    )


def search_page(links: Links, query: str, hits: list[dict] | None, answer: dict | None, nav: Nav) -> str:
    form = (
        f'<form class="search" id="search" method="get" action="{esc(links.base)}/search">{_hidden(links)}'
        f'<input name="q" type="search" value="{esc(query)}" placeholder="a phrase, a name, a question" '
        f'autofocus><button name="mode" value="search">Search</button>'
        f'<button name="mode" value="ask" data-busy="asking…">Ask</button></form>'
    )
    parts = [f"<h1>Search</h1>{form}"]
    if answer is not None:
        parts.append(_answer(links, query, answer))
    if hits is not None:
        cards = "".join(hit_card(links, h, query) for h in hits) or '<p class="empty">Nothing found.</p>'
        parts.append(f'<section class="hits" id="hits"><h2>{len(hits)} moments</h2>{cards}</section>')
    return page(links, "search", f"Search: {query}" if query else "Search", "".join(parts), Nav(nav.collections, query))


def _answer(links: Links, query: str, answer: dict) -> str:
    ev = answer.get("citations") or answer.get("evidence") or []
    cards = "".join(hit_card(links, e, query) for e in ev[:8])
    steps = "".join(_step(s) for s in answer.get("trace") or [])
    note = ' <span class="abstained">(not sure: nearest moments below)</span>' if answer.get("abstained") else ""
    return (
        f'<section class="answer" id="answer"><h2>Answer</h2><p class="text">{esc(answer.get("answer"))}'
        f'{note}</p><p class="conf">confidence {float(answer.get("confidence") or 0):.2f}</p>'
        f'<div class="cards">{cards}</div><details class="steps" open><summary>{len(answer.get("trace") or [])} '
        f"steps</summary><ol>{steps}</ol></details></section>"
    )


def _step(step: dict) -> str:
    args = ", ".join(f"{k}={v!r}" for k, v in (step.get("arguments") or {}).items())
    extra = f' <span class="error">{esc(step["error"])}</span>' if step.get("error") else ""
    return (
        f"<li><code>{esc(step.get('tool') or step.get('type'))}({esc(args)})</code> → "
        f"{esc(step.get('count', ''))} results, {float(step.get('seconds') or 0):.2f} s{extra}</li>"
    )


# -- entities --------------------------------------------------------------------------------------------
KINDS = ("speaker", "face", "name", "term", "topic")


def entities_page(links: Links, entities: list[dict], kind: str, query: str, nav: Nav) -> str:
    filters = (
        f'<form class="filters" method="get" action="{esc(links.base)}/entities">{_hidden(links)}'
        f'<input name="q" type="search" placeholder="name or alias" value="{esc(query)}">'
        f"{_select('kind', KINDS, kind, 'every kind')}<button>Filter</button></form>"
    )
    rows = "".join(_entity_row(links, e) for e in entities)
    merge = (
        '<div class="bulk"><button id="merge" data-confirm>Merge the ticked ones into…</button>'
        '<select id="merge-target"></select></div>'
    )
    table = (
        f'<table class="entities" id="entities"><thead><tr><th></th><th>id</th><th>kind</th><th>name</th>'
        f"<th>mentions</th><th>videos</th><th>rename</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    body = f'<h1>Entities</h1>{filters}<p class="totals">{len(entities)} entities</p>{merge}{table}'
    return page(links, "entities", "Entities", body, nav)


def _entity_row(links: Links, e: dict) -> str:
    label = f" <code>{esc(e['label'])}</code>" if e.get("label") else ""
    dot = f'<i class="dot" style="--c:{speaker_colour(e["label"])}"></i>' if e.get("label") else ""
    href = links.page(f"/entities/{e['id']}")
    return (
        f'<tr data-entity="{e["id"]}" data-name="{esc(e["name"])}"><td><input type="checkbox" class="pick">'
        f'</td><td>{e["id"]}</td><td>{esc(e["kind"])}</td><td><a href="{esc(href)}"'
        f' class="ename">{dot}{esc(e["name"])}</a>{label}</td><td>{e["mentions"]}</td><td>{e["videos"]}</td>'
        f'<td><form class="rename" data-entity="{e["id"]}"><input name="name" value="{esc(e["name"])}" '
        f'aria-label="new name"><button>Rename</button></form></td></tr>'
    )


def _mention_row(links: Links, m: dict) -> str:
    href = links.page(f"/videos/{m['video_id']}", t=m["start"])
    return (
        f'<tr data-mention="{m["id"]}"><td><input type="checkbox" class="pick"></td><td><a href="{esc(href)}">'
        f"{esc(Path(m['uri']).name)}</a></td><td>{hms(m['start'])}–{hms(m['end'])}</td>"
        f"<td>{esc(m['source'])}</td><td>{esc(m['text'])}</td></tr>"
    )


def entity_page(links: Links, e: dict, nav: Nav) -> str:
    rows = "".join(_mention_row(links, m) for m in e.get("mention_list", []))
    aliases = ", ".join(esc(a) for a in e.get("aliases", [])) or "none"
    body = (
        f'<h1 data-entity="{e["id"]}">{esc(e["name"])} <small>{esc(e["kind"])} {e["id"]}</small></h1>'
        f'<p>aliases: {aliases}</p><form class="rename" data-entity="{e["id"]}"><input name="name" '
        f'value="{esc(e["name"])}" aria-label="new name"><button>Rename</button></form>'
        f'<form class="split" data-entity="{e["id"]}"><input name="name" placeholder="name of the new entity">'
        f"<button data-confirm>Split the ticked mentions off</button></form>"
        f'<table class="mentions"><thead><tr><th></th><th>video</th><th>when</th><th>source</th><th>text</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )
    return page(links, "entity", e["name"], body, nav)


# -- errors and login ------------------------------------------------------------------------------------
def error_page(links: Links, code: str, message: str, nav: Nav) -> str:
    body = f'<h1>Sorry</h1><p class="error" data-code="{esc(code)}">{esc(message)}</p>'
    return page(links, "error", "Error", body, nav)


def login_page(base: str = "/ui") -> str:
    return Template(asset("templates/login.html")).substitute(base=esc(base))
