"""A self-contained HTML page of a viewer's history, for `viewer.save_html`.

The page inlines the front-end bundle (`static/widget.js` and `static/widget.css`) and the messages
a new front-end receives from the kernel (`catalog`, every `step`, every kept `snapshot`). Their
binary buffers (display arrays as float16, histogram counts) go in one zlib stream, in base64,
which the page inflates with the browser's `DecompressionStream`: the display arrays of the
quickstart's run shrink by about half. An inline module script loads the bundle from a `Blob` URL, builds a
small stand-in for the anywidget model (`get`, `set`, `on`, `off`, `save_changes`, `send`, firing
`change:<name>` then `change` on `set`), calls the bundle's `initialize` and `render`, then feeds
the messages to the `msg:custom` listeners, as the kernel does on a `replay` request (which it also
answers). The model's `_standalone` trait tells the front-end to leave out what needs a kernel
("follow live"). No network, no kernel: it opens from disk.

Everything inlined goes in one JSON document inside `<script type="application/json">`, with every
`<` escaped, so no text from the model (layer names) can close the script or become HTML.
"""

from __future__ import annotations

import base64
import html
import json
import os
import pathlib
import zlib
from collections.abc import Iterable, Mapping
from typing import Any

from .files import atomic_write
from .protocol import VIEW_TRAITS

STATIC = pathlib.Path(__file__).parent.parent / "static"

_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; }}
{css}
</style>
</head>
<body>
<div id="kerasviz-root"></div>
<script type="application/json" id="kerasviz-data">{data}</script>
<script type="module">
const data = JSON.parse(document.getElementById("kerasviz-data").textContent);

async function inflate(b64) {{
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
  return await new Response(stream).arrayBuffer();
}}
const raw = await inflate(data.blob);

function createModel(traits) {{
  const listeners = new Map();
  const emit = (event, ...args) => {{
    for (const cb of [...(listeners.get(event) || [])]) cb(...args);
  }};
  let rendered = false;
  const model = {{
    get: (name) => traits[name],
    // Like Backbone's: `set(name, value)` or `set({{name: value, ...}})`; every attribute is
    // set before any change event fires.
    set(name, value) {{
      const attrs = typeof name === "object" ? name : {{ [name]: value }};
      const changed = Object.keys(attrs).filter((k) => traits[k] !== attrs[k]);
      for (const k of changed) traits[k] = attrs[k];
      for (const k of changed) emit(`change:${{k}}`, model, traits[k]);
      if (changed.length) emit("change", model);
    }},
    on(event, cb) {{
      if (!listeners.has(event)) listeners.set(event, new Set());
      listeners.get(event).add(cb);
    }},
    off(event, cb) {{
      if (!event) listeners.clear();
      else if (!cb) listeners.delete(event);
      else if (listeners.has(event)) listeners.get(event).delete(cb);
    }},
    save_changes() {{}},
    send(msg) {{
      // The kernel answers a replay request with everything it keeps; so does this page.
      if (msg && msg.kind === "replay" && rendered) setTimeout(feed, 0);
    }},
    markRendered() {{
      rendered = true;
    }},
  }};
  function feed() {{
    for (const {{ content, buffers }} of data.messages) {{
      emit("msg:custom", content, buffers.map(([at, n]) => new DataView(raw, at, n)));
    }}
  }}
  model.feed = feed;
  return model;
}}

const url = URL.createObjectURL(new Blob([data.bundle], {{ type: "text/javascript" }}));
const widget = (await import(url)).default;
URL.revokeObjectURL(url);
const model = createModel({{
  _viewer_id: "kerasviz-standalone",
  _view_traits: data.view_traits,
  layer: "",
  epoch: 0,
  sample: 0,
  channel: null,
  follow: true,
  ...data.state,
  _standalone: true,
}});
await widget.initialize?.({{ model }});
await widget.render({{ model, el: document.getElementById("kerasviz-root") }});
model.markRendered();
model.feed();
document.body.dataset.ready = "true";
</script>
</body>
</html>
"""


def _json_for_html(value: Any) -> str:
    """JSON safe inside a `<script>` element: every `<`, `>` and `&` escaped."""
    text = json.dumps(value, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _pack(
    messages: Iterable[tuple[Mapping[str, Any], Iterable[Any]]],
) -> tuple[list[dict[str, Any]], str]:
    """Messages with their buffers as `[offset, length]` into one stream, and that stream
    zlib-compressed in base64."""
    out, chunks, at = [], [], 0
    for content, buffers in messages:
        spans = []
        for b in buffers:
            data = bytes(memoryview(b))
            chunks.append(data)
            spans.append([at, len(data)])
            at += len(data)
        out.append({"content": dict(content), "buffers": spans})
    blob = zlib.compress(b"".join(chunks), 9)
    return out, base64.b64encode(blob).decode("ascii")


def page(
    messages: Iterable[tuple[Mapping[str, Any], Iterable[Any]]],
    *,
    state: Mapping[str, Any] | None = None,
    title: str = "kerasviz_widget",
) -> str:
    """The HTML text of a standalone page.

    Args:
        messages: `(content, buffers)` pairs as `protocol.encode_*` make them, in the order the
            front-end should receive them.
        state: Initial values of the front-end traits (`layer`, `epoch`, `sample`, `channel`,
            `colormap`, `range_mode`, `log_y`, ...: the canvas's view traits). Defaults to
            `None`.
        title: Page title. Defaults to `"kerasviz_widget"`.

    Returns:
        The page, one self-contained HTML document.

    Raises:
        FileNotFoundError: If the front-end bundle is missing (build it with `npm run build` in
            `js/`).
    """
    bundle_path = STATIC / "widget.js"
    if not bundle_path.exists():
        raise FileNotFoundError(
            f"The front-end bundle {bundle_path.name} is missing from the package, so the page "
            "cannot be written. Reinstall kerasviz_widget, or build it with `npm run build` "
            "in `js/`."
        )
    css_path = STATIC / "widget.css"
    css = css_path.read_text(encoding="utf-8") if css_path.exists() else ""
    packed, blob = _pack(messages)
    data = {
        "bundle": bundle_path.read_text(encoding="utf-8"),
        "state": dict(state or {}),
        "view_traits": list(VIEW_TRAITS),
        "messages": packed,
        "blob": blob,
    }
    return _PAGE.format(
        title=html.escape(title),
        css=css.replace("</", "<\\/"),
        data=_json_for_html(data),
    )


def write_html(
    path: str | os.PathLike[str],
    messages: Iterable[tuple[Mapping[str, Any], Iterable[Any]]],
    *,
    state: Mapping[str, Any] | None = None,
    title: str = "kerasviz_widget",
) -> None:
    """Write `page(...)` to `path`, atomically (a temporary file, then a rename)."""
    atomic_write(path, page(messages, state=state, title=title).encode("utf-8"))
