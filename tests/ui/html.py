"""A small reader of the UI's HTML for assertions (stdlib only): elements with their attributes and text."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

VOID = {"img", "input", "meta", "link", "br", "hr", "source"}


@dataclass
class El:
    tag: str
    attrs: dict[str, str]
    text: list[str] = field(default_factory=list)

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    def content(self) -> str:
        return "".join(self.text)


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.all: list[El] = []
        self.open: list[El] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = El(tag, {k: v or "" for k, v in attrs})
        self.all.append(el)
        if tag not in VOID:
            self.open.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.open) - 1, -1, -1):
            if self.open[i].tag == tag:
                del self.open[i:]
                break

    def handle_data(self, data: str) -> None:
        for el in self.open:
            el.text.append(data)


def parse(html: str) -> list[El]:
    reader = _Reader()
    reader.feed(html)
    return reader.all


def find(html: str, tag: str | None = None, cls: str | None = None, **attrs: str) -> list[El]:
    """Elements by tag, class and attribute values (``data_lane="speech"`` matches ``data-lane``)."""
    want = {k.replace("_", "-"): v for k, v in attrs.items()}
    return [
        e
        for e in parse(html)
        if (tag is None or e.tag == tag)
        and (cls is None or cls in e.classes)
        and all(e.attrs.get(k) == v for k, v in want.items())
    ]
