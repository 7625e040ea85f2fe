"""When each server's pod became Ready, and when its last pod was gone, seen by a watch.

A thread of the benchmark watches the pods of its namespace (one long-lived
API watch, re-opened when the API server ends it) and stamps each change
with ``time.monotonic()``, the clock devctl's own trace uses
(``DEVSERVERS_TRACE_FILE``), so "devctl exited 0.2 s after the pod was
Ready" compares two instants of one clock.
"""

from __future__ import annotations

import threading
import time
from typing import Any

SERVER_LABEL = "devservers.dev/server"


class PodWatch:
    """Watches the pods of ``namespace`` until :meth:`stop`.

    Args:
        namespace: The benchmark's namespace.
        kubeconfig: The kubeconfig file.
    """

    def __init__(self, namespace: str, kubeconfig: str | None = None) -> None:
        from kubernetes import client, config

        self.namespace = namespace
        self._core = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        self._ready: dict[str, list[float]] = {}  # server → instants a pod turned Ready
        self._gone: dict[str, list[float]] = {}  # server → instants a pod was deleted
        self._changed = threading.Condition()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="podwatch", daemon=True)
        self._thread.start()

    def ready_after(self, server: str, since: float, timeout: float = 5.0) -> float | None:
        """The first instant after ``since`` a pod of ``server`` turned Ready."""
        return self._first(self._ready, server, since, timeout)

    def gone_after(self, server: str, since: float, timeout: float = 5.0) -> float | None:
        """The first instant after ``since`` a pod of ``server`` was deleted."""
        return self._first(self._gone, server, since, timeout)

    def stop(self) -> None:
        """Ends the watch (at its next event or timeout)."""
        self._stopped.set()

    def _first(
        self, seen: dict[str, list[float]], server: str, since: float, timeout: float
    ) -> float | None:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                later = [t for t in seen.get(server, []) if t >= since]
                if later or time.monotonic() >= deadline:
                    return min(later) if later else None
                self._changed.wait(max(0.0, deadline - time.monotonic()))

    def _run(self) -> None:
        from kubernetes import watch

        was_ready: dict[str, bool] = {}
        version = self._core.list_namespaced_pod(self.namespace).metadata.resource_version
        while not self._stopped.is_set():
            stream = watch.Watch().stream(
                self._core.list_namespaced_pod,
                self.namespace,
                resource_version=version,
                timeout_seconds=30,
                allow_watch_bookmarks=False,
            )
            try:
                for event in stream:
                    now = time.monotonic()
                    pod = event["object"]
                    version = pod.metadata.resource_version
                    self._note(event["type"], pod, now, was_ready)
                    if self._stopped.is_set():
                        return
            except Exception:  # an expired version: start again from now
                version = self._core.list_namespaced_pod(self.namespace).metadata.resource_version

    def _note(self, kind: str, pod: Any, now: float, was_ready: dict[str, bool]) -> None:
        server = (pod.metadata.labels or {}).get(SERVER_LABEL)
        if server is None:
            return
        ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
        with self._changed:
            if kind == "DELETED":
                self._gone.setdefault(server, []).append(now)
            elif ready and not was_ready.get(pod.metadata.uid):
                self._ready.setdefault(server, []).append(now)
            was_ready[pod.metadata.uid] = ready and kind != "DELETED"
            self._changed.notify_all()
