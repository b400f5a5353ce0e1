"""pixtab in a real Jupyter kernel (ipykernel, driven by jupyter_client as a notebook is).

A large image pass forks one process per core from the kernel's main thread, as it does
in a script (the kernel has threads of its own: heartbeat, IOPub, control). In the
kernel the forked pass must give the threaded pass's bytes and leave no process behind.
An interrupt (the notebook's stop button: SIGINT to the kernel's process group) must stop
it with a KeyboardInterrupt, leave no process behind either, and keep the kernel working.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

ROWS = 2_200_000  # 5 chunks of the image layout's 512 Ki rows: the pass forks

SETUP = """
import json, os, time
import numpy as np
import pixtab
from pixtab.core.io.scan import forked, measuring

forks = []
_fold = measuring.fold_forked
def counted(*args, **kwargs):
    forks.append(1)
    return _fold(*args, **kwargs)
measuring.fold_forked = counted

def no_children():
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False
"""


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh kernel of this Python; its connection file and IPython profile in tmp_path."""
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path))
    client = km.blocking_client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)
        yield km, client
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def run(client: Any, code: str, timeout: float = 120) -> tuple[str, str, dict[str, Any]]:
    """Execute ``code``; (status, stdout, error content) once the kernel is idle again."""
    msg_id = client.execute(code)
    out: list[str] = []
    error: dict[str, Any] = {}
    deadline = time.monotonic() + timeout
    while True:
        try:
            msg = client.get_iopub_msg(timeout=max(0.1, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"the kernel did not finish within {timeout} s; output so far: {''.join(out)}") from None
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        kind, content = msg["msg_type"], msg["content"]
        if kind == "stream":
            out.append(content["text"])
        elif kind == "error":
            error = content
        elif kind == "status" and content["execution_state"] == "idle":
            break
    reply = client.get_shell_msg(timeout=timeout)
    return reply["content"]["status"], "".join(out), error


def last_json(stdout: str) -> Any:
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_forked_image_in_a_kernel_is_the_threaded_one_and_leaves_no_process(kernel: Any, simulated) -> None:
    _, client = kernel
    path = simulated(rows=ROWS, ifus=[12, 13])
    status, _, error = run(client, SETUP)
    assert status == "ok", error
    status, stdout, error = run(client, f"""
with pixtab.open({str(path)!r}) as pt:
    forked_image = pt.select(lam=(5000, 9000)).image()
print(json.dumps({{"forks": len(forks), "clean": no_children()}}))
""")
    assert status == "ok", error
    assert last_json(stdout) == {"forks": 1, "clean": True}
    status, stdout, error = run(client, f"""
measuring.may_fork = lambda: False
with pixtab.open({str(path)!r}) as pt:
    threaded_image = pt.select(lam=(5000, 9000)).image()
same = all(a.data is None and b.data is None or a.data.tobytes() == b.data.tobytes()
           for a, b in zip(forked_image, threaded_image))
print(json.dumps({{"forks": len(forks), "same": same, "hdus": [h.name for h in forked_image]}}))
""")
    assert status == "ok", error
    assert last_json(stdout) == {"forks": 1, "same": True, "hdus": ["PRIMARY", "DATA", "NROWS"]}


def test_an_interrupted_forked_pass_stops_and_the_kernel_goes_on(kernel: Any, simulated) -> None:
    km, client = kernel
    path = simulated(rows=ROWS, ifus=[12, 13])
    status, _, error = run(client, SETUP + """
_advance = forked._PipeProgress.advance
def slow(self, n):  # runs in the children only: each chunk takes 2 s more
    time.sleep(2)
    _advance(self, n)
forked._PipeProgress.advance = slow
""")
    assert status == "ok", error
    msg_id = client.execute(f"""
with pixtab.open({str(path)!r}) as pt:
    pt.select().image()
""")
    time.sleep(1.5)  # the pass has forked; its children sleep in their first chunk
    asked = time.monotonic()
    km.interrupt_kernel()
    reply = client.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = client.get_shell_msg(timeout=60)
    took = time.monotonic() - asked
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "KeyboardInterrupt", reply["content"]
    assert took < 3, f"the interrupt took {took:.1f} s (the children were not stopped)"
    status, stdout, error = run(client, f"""
forked._PipeProgress.advance = _advance
clean = no_children()
with pixtab.open({str(path)!r}) as pt:
    image = pt.select(lam=(6000, 6100)).image()
print(json.dumps({{"forks": len(forks), "clean": clean, "finite": bool(np.isfinite(image[1].data).any())}}))
""")
    assert status == "ok", error
    assert last_json(stdout) == {"forks": 2, "clean": True, "finite": True}
