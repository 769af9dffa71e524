"""PromptKernelClient on a real python3 kernel: when wait_for_ready returns, IOPub is live
(a new client's first execution shows all its output) and the kernel_info traffic has been
read; a dead kernel is reported as jupyter_client reports it."""
from __future__ import annotations

import os
import signal

import pytest
from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from mitraseti_server.jobs.kernel_client import PromptKernelClient


@pytest.fixture
def kernel(tmp_path):
    km = AsyncKernelManager(kernel_name="python3", client_factory=PromptKernelClient)
    km.connection_file = str(tmp_path / "kernel.json")
    run_sync(km.start_kernel)(cwd=str(tmp_path))
    yield km
    if run_sync(km.is_alive)():
        run_sync(km.shutdown_kernel)(now=True)


def test_each_new_client_sees_all_output_of_its_first_execution(kernel):
    async def first_execution(i: int) -> tuple[list[str], list]:
        kc = kernel.client()
        assert isinstance(kc, PromptKernelClient)
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=60)
            left = []                         # nothing of kernel_info is still queued
            while await kc.iopub_channel.msg_ready():
                left.append((await kc.iopub_channel.get_msg())["msg_type"])
            seen: list[str] = []
            reply = await kc.execute_interactive(
                f"for k in range(3): print('client {i} line', k)", store_history=False,
                output_hook=lambda m: seen.append(m["content"].get("text", ""))
                if m["msg_type"] == "stream" else None)
            assert reply["content"]["status"] == "ok"
            return seen, left
        finally:
            kc.stop_channels()

    for i in range(5):
        seen, left = run_sync(first_execution)(i)
        assert "".join(seen) == "".join(f"client {i} line {k}\n" for k in range(3))
        assert left == []


def test_a_dead_kernel_is_reported(kernel):
    os.kill(kernel.provisioner.pid, signal.SIGKILL)
    run_sync(kernel.provisioner.wait)()

    async def wait():
        kc = kernel.client()
        kc.start_channels()
        try:
            await kc.wait_for_ready(timeout=30)
        finally:
            kc.stop_channels()

    with pytest.raises(RuntimeError, match="died"):
        run_sync(wait)()
