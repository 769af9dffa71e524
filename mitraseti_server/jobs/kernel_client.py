"""The kernel client of warm spare kernels: it knows a running kernel is ready as soon as
the kernel's IOPub reports back, not after 0.2 s of IOPub silence.

jupyter_client's ``wait_for_ready`` sends ``kernel_info`` until the shell replies, then
reads IOPub until it has been silent for 0.2 s, to be sure IOPub is connected and drained.
A job on a spare pays that twice (entering the job directory, then nbclient's own client),
0.4 s of a ~2.5 s job. :class:`PromptKernelClient` waits instead for the ``idle`` status
the kernel publishes on IOPub for its own ``kernel_info`` request: once that arrives the
IOPub subscription is live, and every message before it has been read. Used through the
kernel manager's ``client_factory``, it serves nbclient (papermill) too.
"""
from __future__ import annotations

import math
import time
from queue import Empty

from jupyter_client.asynchronous import AsyncKernelClient

SHELL_WAIT_S = 1.0    # for the kernel_info reply, before asking again
IOPUB_WAIT_S = 0.2    # for each IOPub message; silence this long: not connected yet


class PromptKernelClient(AsyncKernelClient):
    """``AsyncKernelClient`` whose ``wait_for_ready`` ends at the kernel's IOPub ``idle``
    for a ``kernel_info`` request (see the module docstring). Same errors as
    jupyter_client's: RuntimeError when the kernel dies or ``timeout`` (s) passes."""

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (math.inf if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=SHELL_WAIT_S)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                if await self._iopub_idle_after(reply["parent_header"].get("msg_id")):
                    self._handle_kernel_info_reply(reply)
                    return
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")

    async def _iopub_idle_after(self, msg_id: str | None) -> bool:
        """Read IOPub up to the kernel's ``idle`` status for request ``msg_id``: True when
        it came, False when IOPub was silent for ``IOPUB_WAIT_S`` first (the subscription
        was not live yet when the kernel published it)."""
        while True:
            try:
                msg = await self.iopub_channel.get_msg(timeout=IOPUB_WAIT_S)
            except Empty:
                return False
            if (msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"
                    and msg["parent_header"].get("msg_id") == msg_id):
                return True
