/* memindex web UI: the timeline (zoom, seek, playhead), transcript sync, and entity edits through the UI's
   API. No dependencies, no network but this server (works offline and inside a static export). */
"use strict";
(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const body = document.body;
  const base = body.dataset.base || "/ui";
  const collection = body.dataset.collection || "default";

  function hms(t) {
    t = Math.max(0, Math.round(t));
    const h = Math.floor(t / 3600), m = Math.floor(t / 60) % 60, s = t % 60;
    const ss = String(s).padStart(2, "0");
    return h ? h + ":" + String(m).padStart(2, "0") + ":" + ss : m + ":" + ss;
  }

  function flash(text, bad) {
    const el = document.createElement("div");
    el.className = "flash" + (bad ? " bad" : "");
    el.textContent = text;
    body.appendChild(el);
    setTimeout(() => el.remove(), 4000);
  }

  $$("select[data-autosubmit]").forEach((s) => s.addEventListener("change", () => s.form.submit()));

  const search = $("#search");
  if (search) {
    search.addEventListener("submit", (ev) => {
      const b = ev.submitter;
      if (b && b.dataset.busy) { setTimeout(() => { b.disabled = true; b.textContent = b.dataset.busy; }, 0); }
    });
  }

  /* -- the video page ---------------------------------------------------------------------------------- */
  const tl = $("#timeline");
  if (tl) { timeline(tl); }

  function timeline(root) {
    const duration = parseFloat(root.dataset.duration) || 1;
    const scroller = $("#tl-scroll"), inner = $("#tl-inner"), axis = $("#axis"), head = $("#playhead");
    const now = $("#now"), player = $("#player"), still = $("#still");
    const frames = $$(".kf").map((img) => ({ t: parseFloat(img.dataset.t), img: img }));
    const utts = $$("#transcript li");
    let zoom = 1, current = 0;

    function ticks() {
      const px = inner.clientWidth || 1, perPx = duration / px;
      const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
      const step = steps.find((s) => s / perPx >= 80) || 7200;
      const out = [];
      for (let t = 0; t <= duration; t += step) {
        out.push('<span style="left:' + (100 * t / duration) + '%">' + hms(t) + "</span>");
      }
      axis.innerHTML = out.join("");
    }

    function setZoom(z, keep) {
      const anchor = keep === undefined ? current : keep;
      zoom = Math.min(Math.max(z, 1), Math.max(1, duration / 2));
      inner.style.width = (100 * zoom) + "%";
      ticks();
      scroller.scrollLeft = Math.max(0, anchor / duration * inner.clientWidth - scroller.clientWidth / 2);
    }

    function frameAt(t) {
      let best = frames[0];
      for (const f of frames) { if (f.t <= t + 0.01) { best = f; } else { break; } }
      return best;
    }

    function show(t, fromPlayer) {
      current = Math.max(0, Math.min(duration, t));
      head.style.left = (100 * current / duration) + "%";
      now.textContent = hms(current);
      now.dataset.t = current.toFixed(3);
      root.dataset.t = current.toFixed(3);
      let on = null;
      for (const li of utts) {
        const hit = parseFloat(li.dataset.start) <= current + 0.05 && current <= parseFloat(li.dataset.end);
        li.classList.toggle("on", hit);
        if (hit && !on) { on = li; }
      }
      if (on && !fromPlayer) { on.scrollIntoView({ block: "nearest" }); }
      if (still && frames.length) { const f = frameAt(current); if (still.src !== f.img.src) { still.src = f.img.src; } }
      const x = current / duration * inner.clientWidth;
      if (x < scroller.scrollLeft || x > scroller.scrollLeft + scroller.clientWidth) {
        scroller.scrollLeft = Math.max(0, x - scroller.clientWidth / 2);
      }
    }

    function seek(t) {
      show(t, false);
      if (player) {
        if (player.readyState > 0) { player.currentTime = current; }
        else { player.addEventListener("loadedmetadata", () => { player.currentTime = current; }, { once: true }); }
      }
      try {
        const url = new URL(location.href);
        url.searchParams.set("t", current.toFixed(1));
        history.replaceState(null, "", url);
      } catch (e) { /* a file:// export may refuse; the page still works */ }
    }

    inner.addEventListener("click", (ev) => {
      const item = ev.target.closest("[data-start], [data-t]");
      if (item && item !== inner) {
        seek(parseFloat(item.dataset.start !== undefined ? item.dataset.start : item.dataset.t));
        return;
      }
      const rect = inner.getBoundingClientRect();
      seek((ev.clientX - rect.left) / rect.width * duration);
    });
    scroller.addEventListener("wheel", (ev) => {
      if (!ev.ctrlKey) { return; }
      ev.preventDefault();
      const rect = inner.getBoundingClientRect();
      setZoom(zoom * (ev.deltaY < 0 ? 1.25 : 0.8), (ev.clientX - rect.left) / rect.width * duration);
    }, { passive: false });
    $$("[data-zoom]", root).forEach((b) => b.addEventListener("click", () => {
      const z = b.dataset.zoom;
      setZoom(z === "in" ? zoom * 2 : z === "out" ? zoom / 2 : 1);
    }));
    utts.forEach((li) => li.addEventListener("click", () => seek(parseFloat(li.dataset.start))));
    if (player) { player.addEventListener("timeupdate", () => show(player.currentTime, true)); }
    window.addEventListener("resize", ticks);

    window.memindexTimeline = { seek: seek, zoom: setZoom, time: () => current };
    ticks();
    seek(parseFloat(root.dataset.t) || 0);
    if (current > 0) { setZoom(Math.min(8, duration / 60), current); }
  }

  /* -- entities: the same operations as `memindex entities`, through the UI's API ---------------------- */
  async function post(path, data) {
    const url = base + path + (collection !== "default" ? "?collection=" + encodeURIComponent(collection) : "");
    const r = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-memindex-ui": "1" }, body: JSON.stringify(data),
    });
    const out = await r.json().catch(() => ({ message: r.statusText }));
    if (!r.ok) { throw new Error((out.code ? "[" + out.code + "] " : "") + (out.message || r.status)); }
    return out;
  }

  async function act(path, data, done) {
    try { const out = await post(path, data); flash(done(out)); setTimeout(() => location.reload(), 600); }
    catch (e) { flash(e.message, true); }
  }

  $$("form.rename").forEach((f) => f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = f.elements.name.value.trim();
    if (!name) { flash("a name is needed", true); return; }
    act("/api/entities/" + f.dataset.entity + "/rename", { name: name }, (e) => "renamed to " + e.name);
  }));

  const merge = $("#merge"), target = $("#merge-target");
  if (merge && target) {
    const fill = () => {
      const picked = $$("#entities tr[data-entity]").filter((tr) => $(".pick", tr).checked);
      target.innerHTML = picked.map((tr) => '<option value="' + tr.dataset.entity + '"></option>').join("");
      $$("option", target).forEach((o, i) => { o.textContent = picked[i].dataset.name + " (" + o.value + ")"; });
      merge.disabled = picked.length < 2;
      return picked;
    };
    $$("#entities .pick").forEach((c) => c.addEventListener("change", fill));
    fill();
    merge.addEventListener("click", () => {
      const picked = fill().map((tr) => tr.dataset.entity).filter((id) => id !== target.value);
      if (!picked.length) { return; }
      const name = $('option[value="' + target.value + '"]', target).textContent;
      if (!confirm("Merge " + picked.length + " entities into " + name + "? Their mentions move for good.")) { return; }
      act("/api/entities/" + target.value + "/merge", { sources: picked }, (e) => "merged into " + e.name);
    });
  }

  $$("form.split").forEach((f) => f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const ids = $$("tr[data-mention]").filter((tr) => $(".pick", tr).checked).map((tr) => parseInt(tr.dataset.mention, 10));
    if (!ids.length) { flash("tick the mentions to split off", true); return; }
    if (!confirm("Move " + ids.length + " mentions to a new entity?")) { return; }
    const name = f.elements.name.value.trim() || null;
    act("/api/entities/" + f.dataset.entity + "/split", { mention_ids: ids, name: name },
      (e) => "split off as " + e.new.name);
  }));
})();
