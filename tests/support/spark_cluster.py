"""What the Spark tests need: whether Spark can run here, and a real standalone cluster.

`missing()` says why the Spark engine cannot run (no spark extra, no Java), or None.
`standalone_cluster()` starts a master and one worker from pyspark's own distribution
(`bin/spark-class org.apache.spark.deploy.master.Master` / `...worker.Worker`) on 127.0.0.1,
on free ports, waits until the worker has registered, and stops both afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.live_server import free_port
from tests.support.waits import wait_for

START_SECONDS = 90


def missing() -> str | None:
    try:
        import pyspark  # noqa: F401
        import sqlglot  # noqa: F401
    except ImportError as exc:
        return f"the spark extra is not installed ({exc.name}): pip install -e '.[spark]'"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime: scripts/install-java.sh installs openjdk-17-jre-headless"
    return None


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@contextlib.contextmanager
def standalone_cluster(workdir: Path, cores: int = 1, memory: str = "1g") -> Iterator[str]:
    """A master and one worker on 127.0.0.1; yields the master's URL (spark://127.0.0.1:PORT)."""
    spark_class = str(spark_home() / "bin" / "spark-class")
    master_port, worker_port = free_port(), free_port()
    env = {
        **os.environ,
        "SPARK_HOME": str(spark_home()),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_WORKER_DIR": str(workdir / "work"),
        "SPARK_LOG_DIR": str(workdir / "logs"),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    logs = {name: (workdir / f"{name}.log").open("w") for name in ("master", "worker")}
    url = f"spark://127.0.0.1:{master_port}"
    ui = ["--webui-port", str(free_port())]
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(master_port), *ui],
        env=env,
        stdout=logs["master"],
        stderr=subprocess.STDOUT,
    )
    worker = None
    try:
        _wait_for(workdir / "master.log", "I have been elected leader", master)
        worker = subprocess.Popen(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                "--host",
                "127.0.0.1",
                "--port",
                str(worker_port),
                "--cores",
                str(cores),
                "--memory",
                memory,
                "--webui-port",
                str(free_port()),
                url,
            ],
            env=env,
            stdout=logs["worker"],
            stderr=subprocess.STDOUT,
        )
        _wait_for(workdir / "worker.log", "Successfully registered with master", worker)
        yield url
    finally:
        for process in (worker, master):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for handle in logs.values():
            handle.close()


def _wait_for(log: Path, line: str, process: subprocess.Popen[bytes]) -> None:
    def logged() -> bool:
        if process.poll() is not None:
            raise RuntimeError(
                f"{log.name}: exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}"
            )
        return line in log.read_text(errors="replace")

    wait_for(
        logged,
        timeout=START_SECONDS,
        interval=0.2,
        message=lambda: f"{log.name}: no {line!r}:\n{log.read_text(errors='replace')[-3000:]}",
    )
