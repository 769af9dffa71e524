"""The kernel pool's spare factory, with real processes: warm forks of runners and kernels,
a kernel that dies with its launcher, and spares that still start when there is no factory."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dask_cluster import parent_of  # noqa: E402
from waiting import alive, wait_for  # noqa: E402

from mitraseti_server.jobs.kernel_pool import POOL_DIR, KernelPool  # noqa: E402
from mitraseti_server.jobs.spare_factory import FACTORY_READY, FACTORY_VAR  # noqa: E402

pytestmark = pytest.mark.slow


def factory_pid(pool: KernelPool) -> int:
    return json.loads((pool.pool_dir / FACTORY_READY).read_text())["pid"]


def test_spares_and_their_kernels_are_forks_of_the_factory_and_die_cleanly(tmp_path):
    pool = KernelPool(tmp_path / "work" / POOL_DIR, 2, "python3")
    pool.start()
    try:
        wait_for(lambda: pool.ready_count() == 2, timeout=180)
        assert pool.factory_state() == "ready"
        factory = factory_pid(pool)
        first, second = pool.take(), pool.take()
        assert first.forked and second.forked
        for spare in (first, second):
            info = spare.info()
            assert parent_of(spare.pid) == factory              # the runner ...
            assert parent_of(info["kernel_pid"]) == factory     # ... and its kernel
            assert info["kernel_pid"] != info["launcher_pid"]
            assert os.getsid(spare.pid) == spare.pid            # its own session, as Popen's
        assert first.info()["kernel_pid"] != second.info()["kernel_pid"]

        # a killed launcher (how jupyter_client kills a kernel) takes its kernel along
        kernel = first.info()["kernel_pid"]
        os.kill(first.info()["launcher_pid"], signal.SIGKILL)
        wait_for(lambda: not alive(kernel), timeout=30)

        # the runner is waited on like a Popen: a SIGKILL reads as -9
        os.kill(second.pid, signal.SIGKILL)
        assert second.proc.wait(timeout=30) == -signal.SIGKILL
        with pytest.raises(subprocess.TimeoutExpired):
            first.proc.wait(timeout=0.2)                        # still waiting for a job
        first.discard()
        second.discard()
    finally:
        pool.close()
    assert not alive(factory)


def test_without_a_factory_spares_start_as_processes(tmp_path):
    pool = KernelPool(tmp_path / "work" / POOL_DIR, 1, "python3")
    pool.start()
    try:
        wait_for(lambda: pool.ready_count() == 1, timeout=180)
        forked = pool.take()
        os.kill(factory_pid(pool), signal.SIGKILL)
        wait_for(lambda: pool.factory_state() == "off", timeout=10)
        # a spare forked before the factory died is still waited on (status unknown: -1)
        forked.proc.stdin.close()                               # idle spare: exits on EOF
        assert forked.proc.wait(timeout=60) == -1
        forked.discard()

        assert pool.fill() == 1
        plain = pool.spares()[0]
        assert not plain.forked and plain.proc.args[:3] == [sys.executable, "-m",
                                                            "mitraseti_server.jobs.runner"]
        wait_for(lambda: pool.ready_count() == 1, timeout=180)
        assert "launcher_pid" not in plain.info()               # the kernel spec's own kernel
    finally:
        pool.close()


def test_the_launcher_runs_a_plain_kernel_when_there_is_no_factory(tmp_path):
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.kernel_spec.argv = [sys.executable, "-m", "mitraseti_server.jobs.kernel_launcher",
                           "-f", "{connection_file}"]
    env = {k: v for k, v in os.environ.items() if k != FACTORY_VAR}
    km.start_kernel(cwd=str(tmp_path), env=env)
    try:
        kc = km.client()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        reply = kc.execute_interactive("import os", user_expressions={"pid": "os.getpid()"},
                                       timeout=60)
        kc.stop_channels()
        assert reply["content"]["status"] == "ok"
        # exec'd in place: the kernel is the launcher process itself
        assert int(reply["content"]["user_expressions"]["pid"]["data"]["text/plain"]) \
            == km.provisioner.pid
    finally:
        km.shutdown_kernel(now=True)
