"""Per-step cost of recording inside a Jupyter kernel, where every comm message is a real message.

In a plain script a widget's comm has no kernel behind it, so a message to the front-end costs
next to nothing; in a notebook each one is a Jupyter message (serialized, signed, sent over
ZeroMQ). This script starts a kernel (`jupyter_client`), builds the digits CNN and a
`TensorViewer` in it, and times `record` (synchronous: evaluate the probe, reduce, keep, send)
per step two ways, interleaved round by round in the same kernel:

- **batched**: the viewer's way, a step's `step`, `snapshot` and `findings` messages as one
  `batch` comm message (protocol 3);
- **one message each**: the same messages sent one by one (the protocol before 3), the baseline.

It prints the median per step of each, their ratio, the cost of one comm message, and the model's
forward pass on the probe (`predict_on_batch`) for scale.

Run: `python bench/kernel_messages.py [--rounds 7] [--steps 40]`, on the backend `KERAS_BACKEND`
names (the kernel inherits the environment).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

from jupyter_client.manager import start_new_kernel

BENCH = pathlib.Path(__file__).resolve().parent

KERNEL_CODE = r"""
import json, os, statistics, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, {bench!r})
from common import digits, digits_cnn
import keras
from kerasviz_widget import TensorViewer
from kerasviz_widget.widget import frontend

x, y = digits()
model = digits_cnn()
viewer = TensorViewer(model, x[:16])
session = viewer._source.session
front_end = viewer._front_end
batched = type(front_end).write

def one_message_each(self, step):
    for message in frontend._step_messages(step):
        self.send(message)
    self.send(self._findings(step))

epoch = [1]
def per_step(write, steps):
    type(front_end).write = write
    start = time.perf_counter()
    for _ in range(steps):
        session.record(epoch=epoch[0])
        epoch[0] += 1
    return (time.perf_counter() - start) / steps

for write in (batched, one_message_each):  # warm-up
    per_step(write, 5)
times = {{"batched": [], "one message each": []}}
for r in range({rounds}):
    order = list(times) if r % 2 == 0 else list(times)[::-1]
    for name in order:
        times[name].append(per_step(batched if name == "batched" else one_message_each, {steps}))
type(front_end).write = batched
step = viewer._history.step(-1)
messages = list(frontend._step_messages(step))
start = time.perf_counter()
for _ in range(20):
    for message in messages:
        front_end.send(message)
send = (time.perf_counter() - start) / (20 * len(messages))
forward = []
for _ in range(50):
    start = time.perf_counter()
    model.predict_on_batch(x[:16])
    forward.append(time.perf_counter() - start)
print("RESULT " + json.dumps({{
    "backend": keras.backend.backend(),
    "keras": keras.__version__,
    "layers": len(viewer.layers),
    "messages": len(messages) + 1,
    "batched": statistics.median(times["batched"]),
    "each": statistics.median(times["one message each"]),
    "send": send,
    "forward": statistics.median(forward),
}}))
"""


def run(code: str, timeout: float) -> dict:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute(code)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = client.get_iopub_msg(timeout=timeout)
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and content["text"].startswith("RESULT "):
                return json.loads(content["text"][len("RESULT ") :])
            if kind == "error":
                raise RuntimeError("\n".join(content["traceback"]))
        raise TimeoutError(f"the kernel gave no result in {timeout:.0f} s")
    finally:
        manager.shutdown_kernel(now=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--steps", type=int, default=40, help="steps per round (default 40)")
    args = parser.parse_args()
    code = KERNEL_CODE.format(bench=str(BENCH), rounds=args.rounds, steps=args.steps)
    r = run(code, timeout=600)
    print(
        f"Keras {r['keras']} ({r['backend']}) in a Jupyter kernel; digits CNN, {r['layers']} "
        f"layers, probe 16: {r['messages']} messages per step; median of {args.rounds} rounds "
        f"of {args.steps} steps"
    )
    print(f"{'record, per step':<34} {'ms':>7} {'ratio':>7}")
    print(f"{'one message each (baseline)':<34} {1e3 * r['each']:7.3f} {1.0:6.2f}x")
    print(
        f"{'batched (one message per step)':<34} {1e3 * r['batched']:7.3f} {r['batched'] / r['each']:6.2f}x"
    )
    print(
        f"one comm message: {1e6 * r['send']:.0f} us; forward pass on the probe: {1e3 * r['forward']:.3f} ms"
    )


if __name__ == "__main__":
    main()
