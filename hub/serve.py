"""``python -m hub.serve``: what ``make run`` serves with, the web server and a background worker in one
command.

It starts ``gunicorn -c platform/gunicorn.conf.py hub.wsgi`` and ``manage.py run_worker``, each in a
process group of its own (so a Ctrl-C reaches them once, through here, not twice), and then:

* SIGINT or SIGTERM is passed on to both; each stops gracefully (gunicorn finishes its requests, the
  worker its jobs), and the launcher exits 0 once both have;
* when either one exits by itself, the other is stopped (SIGTERM) and the launcher exits with status 1
  (naming which one died): a web server without its worker, or the reverse, is not left running;
* one that does not stop within ``STOP_TIMEOUT_SECONDS`` of the signal is killed.

Extra arguments go to gunicorn (``python -m hub.serve --workers 2``). In production run the two as
separate services instead (``docker-compose.yml``: ``app`` and ``worker``), each restarted on its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT_SECONDS = 40.0  # past the worker's graceful shutdown (30 s) and gunicorn's (30 s)
_POLL_SECONDS = 0.2


def commands(gunicorn_args: list[str]) -> dict[str, list[str]]:
    """The two processes, named: the web server and the worker, from this interpreter's environment."""
    return {
        "web": [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "platform/gunicorn.conf.py",
            *gunicorn_args,
            "hub.wsgi",
        ],
        "worker": [sys.executable, str(ROOT / "manage.py"), "run_worker"],
    }


class Launcher:
    """Runs the named commands together until a signal or until one of them exits."""

    def __init__(self, named: dict[str, list[str]]) -> None:
        self.named = named
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        for name, command in self.named.items():
            self.processes[name] = subprocess.Popen(command, cwd=ROOT, process_group=0)  # noqa: S603
            print(f"==> {name} started (pid {self.processes[name].pid}): {' '.join(command)}", flush=True)
        died = self._wait_first_exit()
        self._stop_all()
        if died is None:
            return 0 if all(process.returncode == 0 for process in self.processes.values()) else 1
        print(f"==> {died} exited (status {self.processes[died].returncode}): stopped the rest", flush=True)
        return 1

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True

    def _wait_first_exit(self) -> str | None:
        """The name of the first process that exited by itself, or None when a signal came first."""
        while not self.stopping:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    return name
            time.sleep(_POLL_SECONDS)
        return None

    def _stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for name, process in self.processes.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"==> {name} did not stop in {STOP_TIMEOUT_SECONDS:g} s: killed", flush=True)
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def main(argv: list[str]) -> int:
    return Launcher(commands(argv)).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
