// Moving through time: the epoch slider, play/pause, arrow keys on the heatmap, and following
// the newest step while training.

/**
 * Playback of one view. Returns {followLatest, setEpochIndex, stop}: `followLatest()` moves to
 * the newest step when following (and redraws), `setEpochIndex(i)` shows step `i`, `stop()`
 * ends playing (the view's cleanup calls it).
 */
export function createPlayback(ui, model, store, listen, redraw) {
  let timer = 0;
  const steps = () => store.state.steps;
  const epochIndex = () => steps().findIndex((s) => s.epoch === model.get("epoch"));

  function followLatest() {
    const all = steps();
    if (model.get("follow") && all.length) {
      const latest = all[all.length - 1].epoch;
      if (model.get("epoch") !== latest) model.set("epoch", latest);
    }
    redraw();
  }

  function setEpochIndex(i, { follow } = {}) {
    const all = steps();
    if (!all.length) return;
    const k = Math.max(0, Math.min(all.length - 1, i));
    // One set, so that change:epoch already sees the new `follow`. Scrubbing stops following
    // the newest step; reaching it again resumes.
    model.set({ follow: follow ?? k === all.length - 1, epoch: all[k].epoch });
    model.save_changes();
  }

  function stop() {
    clearInterval(timer);
    timer = 0;
    ui.play.textContent = "\u25b6";
    ui.play.setAttribute("aria-label", "play");
  }

  function start() {
    clearInterval(timer);
    ui.play.textContent = "\u23f8";
    ui.play.setAttribute("aria-label", "pause");
    timer = setInterval(() => {
      const i = epochIndex();
      setEpochIndex(i + 1 >= steps().length ? 0 : i + 1, { follow: false });
    }, Number(ui.speed.value));
  }

  listen(ui.epoch, "input", () => setEpochIndex(Number(ui.epoch.value)));
  listen(ui.follow, "change", () => {
    model.set("follow", ui.follow.checked);
    model.save_changes();
    if (ui.follow.checked) followLatest();
  });
  listen(ui.play, "click", () => (timer ? stop() : start()));
  listen(ui.speed, "change", () => timer && start());
  // Arrow keys scrub from the heatmap too (the slider has them natively).
  listen(ui.heatmap, "keydown", (event) => {
    const delta = { ArrowLeft: -1, ArrowRight: 1, Home: -Infinity, End: Infinity }[event.key];
    if (delta === undefined) return;
    event.preventDefault();
    const i = epochIndex();
    setEpochIndex(Number.isFinite(delta) ? i + delta : delta < 0 ? 0 : steps().length - 1);
  });

  return { followLatest, setEpochIndex, stop };
}
