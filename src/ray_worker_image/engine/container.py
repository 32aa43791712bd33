"""A container the pipeline started, behind the seam (names, dicts and strings only)."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import docker.errors

from ..errors import EngineError
from .seam import EXEC_TIMEOUT, seam

if TYPE_CHECKING:
    from .base import Engine


class RunningContainer:
    """A container this process started; ``remove()`` is idempotent.

    Holds the docker-py object privately: callers get names, dicts and strings.
    """

    def __init__(self, engine: Engine, container: Any) -> None:
        self.engine = engine
        self._container = container

    @property
    def name(self) -> str:
        return str(self._container.name)

    @property
    def testinfra_url(self) -> str:
        return f"{self.engine.testinfra_scheme}://{self.name}"

    def exec(
        self, argv: list[str], user: str | None = None, timeout: int = EXEC_TIMEOUT
    ) -> tuple[int, str]:
        """Run ``argv`` (killed after ``timeout`` seconds); (exit code, stdout+stderr).

        Raises EngineError when it times out (coreutils `timeout` exits 124/137).
        """
        wrapped = ["timeout", "--kill-after=10", str(timeout), *argv]
        with seam(self.engine.name, f"exec in {self.name}", "check that the container runs"):
            result = self._container.exec_run(wrapped, user=user or "", demux=False)
        code = int(result.exit_code)
        output = (result.output or b"").decode("utf-8", "replace")
        if code in (124, 137):
            raise EngineError(
                f"{self.engine.name}: `{' '.join(argv)[:80]}` in {self.name} did not finish "
                f"within {timeout} s; check the network (pip index) and rerun"
            )
        return code, output

    def exec_streams(self, argv: list[str], user: str | None = None) -> tuple[int, bytes, bytes]:
        """Run ``argv`` to its end: (exit code, stdout, stderr), the streams kept apart (as
        ``kubectl exec`` gives them). No timeout of its own: the caller bounds it."""
        with seam(self.engine.name, f"exec in {self.name}", "check that the container runs"):
            result = self._container.exec_run(argv, user=user or "", demux=True)
        out, err = result.output if isinstance(result.output, tuple) else (result.output, None)
        return int(result.exit_code), out or b"", err or b""

    def stop(self, timeout: int) -> None:
        """SIGTERM (the image's stop signal), then SIGKILL after ``timeout`` seconds."""
        with seam(self.engine.name, f"stop {self.name}", "check the container"):
            self._container.stop(timeout=timeout)

    def start(self) -> None:
        """Start the (stopped) container again, with its command and settings."""
        with seam(self.engine.name, f"start {self.name}", "check the container"):
            self._container.start()

    def put_archive(self, path: str, data: bytes) -> None:
        """Unpack a tar (bytes) at ``path`` inside the container."""
        with seam(self.engine.name, f"copy into {self.name}:{path}", "check the container"):
            if not self._container.put_archive(path, data):
                raise EngineError(f"{self.engine.name}: cannot copy files into {self.name}:{path}")

    def attrs(self) -> dict[str, Any]:
        """A fresh `inspect` of the container (a plain dict)."""
        with seam(self.engine.name, f"inspect {self.name}", "it may have been removed"):
            self._container.reload()
            return dict(self._container.attrs)

    def logs(self) -> str:
        with seam(self.engine.name, f"logs of {self.name}", "it may have been removed"):
            return bytes(self._container.logs()).decode("utf-8", "replace")

    def wait(self, timeout: float) -> int | None:
        """The exit code once the container stops, or None if it still runs after ``timeout`` s."""
        try:
            with seam(self.engine.name, f"wait for {self.name}", "it may have been removed"):
                result = self._container.wait(timeout=timeout)
        except EngineError as exc:
            if "Timeout" in str(exc) or "ConnectionError" in str(exc):
                return None
            raise
        return int(result.get("StatusCode", -1))

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._container.remove(force=True)
