"""`StaticOutput`: the viewer's static `text/html` picture, a notebook output of its own.

nbconvert, nbviewer and GitHub draw a widget output only from saved widget state, which holds no
snapshot (they travel as custom messages), so there the live viewer is an empty box. Beside the
widget output, a viewer therefore publishes a second output: the static picture of
`io.static_view` (no script), under a `display_id` of its own, updated at the end of each `fit`
and after each cell when what it shows changed. The live front-end hides it (a `<style>` keyed by
the viewer id) as soon as it has drawn a snapshot, so a running notebook shows the viewer once.

Only a kernel with a front-end (IPython's `ZMQInteractiveShell`) gets the picture: a terminal
would print the object's repr, and marimo shows the widget alone.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from ..core import health as _health
from ..core.history import History
from ..core.reduce import default_channel
from ..core.step import label
from ..io import static_view
from ..io.protocol import VIEW_TRAITS
from .canvas import Canvas


def _kernel_shell() -> Any:
    """The running IPython kernel's shell, or `None` outside a kernel."""
    with contextlib.suppress(Exception):
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            return shell
    return None


class StaticOutput:
    """The static picture of one viewer, shown and refreshed as a notebook output.

    Args:
        viewer_id: The viewer's id (its display id is derived from it).
        render: Returns the picture's HTML for the viewer's current state.
        key: Returns a value that changes whenever the picture would (steps, view traits).
    """

    def __init__(
        self, viewer_id: str, render: Callable[[], str], key: Callable[[], Hashable]
    ) -> None:
        self.display_id = f"kerasviz-static-{viewer_id}"
        self._render = render
        self._key = key
        self._shown: Hashable = None
        self._hook: Callable[..., None] | None = None

    def show(self) -> None:
        """Publish the picture as a new output (one per display of the viewer); never raises."""
        shell = _kernel_shell()
        if shell is None:
            return
        with contextlib.suppress(Exception):
            from IPython.display import HTML, display

            self._shown = self._key()
            display(HTML(self._render()), display_id=self.display_id)
            self._watch(shell)

    def refresh(self) -> None:
        """Update every output of the picture if what it shows changed; never raises."""
        if self._hook is None:
            return
        with contextlib.suppress(Exception):
            key = self._key()
            if key == self._shown:
                return
            from IPython.display import HTML, update_display

            self._shown = key
            update_display(HTML(self._render()), display_id=self.display_id)

    def close(self) -> None:
        """Stop refreshing after each cell."""
        shell = _kernel_shell()
        if shell is not None and self._hook is not None:
            with contextlib.suppress(ValueError):
                shell.events.unregister("post_run_cell", self._hook)
        self._hook = None

    def _watch(self, shell: Any) -> None:
        """Refresh after each cell (a weak reference: the hook does not keep the viewer alive)."""
        if self._hook is not None:
            return
        ref = weakref.ref(self)

        def after_cell(*_args: Any) -> None:
            me = ref()
            if me is None:
                with contextlib.suppress(ValueError):
                    shell.events.unregister("post_run_cell", after_cell)
            else:
                me.refresh()

        self._hook = after_cell
        shell.events.register("post_run_cell", after_cell)


def picture_key(history: History, canvas: Canvas) -> tuple[Any, ...]:
    """A value that changes whenever the picture would: the steps and the view traits."""
    last = history.epochs[-1] if len(history) else None
    return (len(history), last, *(getattr(canvas, name) for name in VIEW_TRAITS))


def picture(history: History, canvas: Canvas, catalog: list[dict[str, Any]]) -> str:
    """The static picture of what the viewer shows now (`io.static_view`)."""
    h = history
    viewer_id = canvas._viewer_id
    if not len(h):
        return static_view.render(None, [], viewer_id=viewer_id)
    c = canvas
    layer = c.layer if c.layer in h.layers(-1) else h.layers(-1)[0]
    try:
        # Following, the front-end shows the newest step (Python does not push `epoch`).
        epoch = h.resolve(-1 if c.follow else c.epoch)
    except KeyError:
        epoch = h.resolve(-1)
    snap = h.snapshot(layer, epoch)
    if not snap.display.size:  # thinned away: show the latest step
        epoch = h.resolve(-1)
        snap = h.snapshot(layer, epoch)
    state = static_view.ViewState(
        sample=c.sample,
        channel=_channel(h, c, layer),
        slice=c.slice,
        montage=c.montage,
        colormap=c.colormap,
        range_mode=c.range_mode,
        range_lo=c.range_lo,
        range_hi=c.range_hi,
        log_y=c.log_y,
    )
    lows = [h.stats(layer, e)["min"] for e in h.epochs]
    highs = [h.stats(layer, e)["max"] for e in h.epochs]
    lows = [v for v in lows if v is not None]
    highs = [v for v in highs if v is not None]
    return static_view.render(
        snap,
        [(lid, h.stats(lid, epoch)) for lid in h.layers(epoch)],
        state=state,
        layer_range=(min(lows), max(highs)) if lows and highs else None,
        epochs=h.epochs,
        logs=h.logs().get(label(epoch)),
        findings=_health.findings(h, catalog, epoch=epoch),
        viewer_id=viewer_id,
    )


def _channel(history: History, canvas: Canvas, layer: str) -> int:
    """The channel on display: the user's, else the default at the latest step (as the
    front-end decides it)."""
    if canvas.channel is not None:
        return int(canvas.channel)
    snap = history.snapshot(layer, -1)
    return default_channel(snap.display, snap.layout)
