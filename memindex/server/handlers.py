"""What each operation of ``memindex.operations`` does on the server, as the JSON both protocols send.

``call(svc, name, collection, args)`` takes checked arguments (``memindex.server.models.validate``) and
returns the result dict of the operation's result model. Results point at keyframes by URL (relative to the
server, ``/v1/frames/{id}.jpg?collection=...``), never by a path on the server's disk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from memindex.operations import operation
from memindex.server.service import Service, check_span, time_range

__all__ = ["call", "HANDLERS", "frame_url", "answer_view", "stream_view"]

Handler = Callable[[Service, str, dict[str, Any]], Any]
HANDLERS: dict[str, Handler] = {}


def _handles(name: str) -> Callable[[Handler], Handler]:
    operation(name)  # only operations of the table have handlers

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


def call(svc: Service, name: str, collection: str, args: dict[str, Any]) -> Any:
    """Run operation ``name`` on ``collection`` with checked ``args``."""
    return HANDLERS[name](svc, collection, args)


def frame_url(frame_id: int, collection: str) -> str:
    return f"/v1/frames/{int(frame_id)}.jpg?collection={collection}"


def _keyframe(kf: dict | None, collection: str) -> dict | None:
    if not kf or kf.get("frame_id") is None:
        return kf
    out = {k: v for k, v in kf.items() if k != "path"}
    out["url"] = frame_url(kf["frame_id"], collection)
    return out


def _moment(item: dict, collection: str) -> dict:
    if "keyframe" not in item:
        return item
    return {**item, "keyframe": _keyframe(item["keyframe"], collection)}


def answer_view(data: dict, collection: str, include_trace: bool) -> dict:
    """An answer as sent: keyframe URLs, and the trace only when asked for."""
    out = dict(data)
    for key in ("evidence", "citations"):
        if isinstance(out.get(key), list):
            out[key] = [_moment(e, collection) if isinstance(e, dict) else e for e in out[key]]
    if not include_trace:
        out["trace"] = []
    return out


def stream_view(steps: Iterator[dict], collection: str, include_trace: bool) -> Iterator[dict]:
    for step in steps:
        yield answer_view(step, collection, include_trace) if step.get("type") == "answer" else step


def _where(svc: Service, collection: str, video: str) -> tuple[Any, str, str]:
    index = svc.reader(collection)
    vid = index.reader.resolve_video(video)
    return index, vid, index.reader.video(vid)["uri"]


@_handles("search")
def _search(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    hits = svc.search(
        coll,
        a["query"],
        k=a["k"],
        tiers=a["tiers"],
        levels=a["levels"],
        videos=a["videos"],
        time_range=time_range(a["start"], a["end"]),
    )
    return {"hits": [_moment(h.to_dict(), coll) for h in hits]}


_ASK_OPTIONS = ("max_steps", "max_seconds", "max_tokens", "min_confidence", "videos")


@_handles("ask")
def _ask(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    options = {k: a[k] for k in _ASK_OPTIONS}
    data = svc.ask(coll, a["question"], include_trace=a["include_trace"], **options)
    return answer_view(data, coll, a["include_trace"])


@_handles("ask_stream")
def _ask_stream(svc: Service, coll: str, a: dict[str, Any]) -> Iterator[dict]:
    options = {k: a[k] for k in _ASK_OPTIONS}
    steps = svc.ask_stream(coll, a["question"], include_trace=a["include_trace"], **options)
    return stream_view(steps, coll, a["include_trace"])


@_handles("browse")
def _browse(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    index, vid, uri = _where(svc, coll, a["video"])
    whole = index.browse(vid, a["level"], time_range(a["start"], a["end"]))
    segments = [_segment(s, coll, a["depth"]) for s in whole[: a["limit"]]]
    return {"video_id": vid, "uri": uri, "segments": segments, "total": len(whole)}


def _segment(seg: dict, collection: str, depth: int | None = None) -> dict:
    """A segment as sent: its keyframe URL, and (with ``depth``) ``n_children`` and children ``depth`` deep."""
    out = dict(seg)
    if out.get("keyframe_id") is not None:
        out["keyframe_url"] = frame_url(out["keyframe_id"], collection)
    if "children" in out:
        children = out["children"]
        if depth is not None:
            out["n_children"] = len(children)
            children = children if depth > 0 else []
        out["children"] = [_segment(c, collection, None if depth is None else depth - 1) for c in children]
    return out


@_handles("get_segment")
def _get_segment(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return _segment(dict(svc.segment(coll, a["segment_id"])), coll)


@_handles("transcript")
def _transcript(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    index, vid, uri = _where(svc, coll, a["video"])
    check_span(a["start"], a["end"])
    return {"video_id": vid, "uri": uri, "utterances": index.transcript(vid, a["start"], a["end"]).to_list()}


@_handles("screen_text")
def _screen_text(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    index, vid, uri = _where(svc, coll, a["video"])
    check_span(a["start"], a["end"])
    return {"video_id": vid, "uri": uri, "lines": index.screen_text(vid, a["start"], a["end"]).to_list()}


@_handles("frames")
def _frames(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    _index, vid, uri = _where(svc, coll, a["video"])
    found = svc.frames(coll, vid, a["start"], a["end"], a["n"])
    frames = [{**{k: v for k, v in f.items() if k != "path"}, "url": frame_url(f["frame_id"], coll)} for f in found]
    return {"video_id": vid, "uri": uri, "frames": frames}


@_handles("frame_jpeg")
def _frame_jpeg(svc: Service, coll: str, a: dict[str, Any]) -> bytes:
    return svc.frame_jpeg(coll, a["frame_id"])


@_handles("videos")
def _videos(svc: Service, coll: str, _a: dict[str, Any]) -> dict:
    return {"videos": svc.reader(coll).videos().to_list()}


@_handles("video")
def _video(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return dict(svc.reader(coll).video(a["video"]))


@_handles("stats")
def _stats(svc: Service, coll: str, _a: dict[str, Any]) -> dict:
    return svc.reader(coll).stats()


@_handles("entities")
def _entities(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return {"entities": svc.reader(coll).entities(a["kind"], a["query"])}


@_handles("entity")
def _entity(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.reader(coll).entity(a["name_or_id"])


@_handles("rename_entity")
def _rename(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.write("rename_entity", coll, a["name_or_id"], name=a["name"])


@_handles("merge_entities")
def _merge(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.write("merge_entities", coll, a["target"], sources=a["sources"])


@_handles("split_entity")
def _split(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    check_span(a["start"], a["end"])
    args = {k: a[k] for k in ("mention_ids", "video", "start", "end", "name")}
    return svc.write("split_entity", coll, a["name_or_id"], **args)


@_handles("add_video")
def _add_video(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.submit_ingest(coll, a["path"]).to_dict()


@_handles("ingest_status")
def _ingest_status(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.job(a["job_id"], coll).to_dict()


@_handles("jobs")
def _jobs(svc: Service, coll: str, _a: dict[str, Any]) -> dict:
    return {"jobs": [j.to_dict() for j in svc.jobs(coll)]}


@_handles("delete_video")
def _delete_video(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.delete_video(coll, a["video"])


@_handles("rebuild")
def _rebuild(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.submit("rebuild", coll, a["stage"], videos=a["videos"]).to_dict()


@_handles("backfill")
def _backfill(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.submit("backfill", coll, a["stage"]).to_dict()


@_handles("check")
def _check(svc: Service, coll: str, a: dict[str, Any]) -> dict:
    return svc.submit("check", coll, "store", repair=a["repair"]).to_dict()


@_handles("collections")
def _collections(svc: Service, _coll: str, _a: dict[str, Any]) -> dict:
    return {"collections": svc.collections()}


@_handles("health")
def _health(_svc: Service, _coll: str, _a: dict[str, Any]) -> dict:
    import memindex

    return {"status": "ok", "version": memindex.__version__}
