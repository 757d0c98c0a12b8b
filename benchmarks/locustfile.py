"""The locust users of ``benchmarks.load_locust`` (run by the locust command, headless).

The plan (project id, credentials, the files each body uploads) comes from the JSON file
named by ``KAKEHASHI_LOAD_PLAN``, written by ``benchmarks.load_locust`` before it starts
locust. The test ends when every body has made its uploads (or at locust's ``-t`` bound).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path
from typing import Any, ClassVar

from locust import HttpUser, between, events, task
from locust.exception import StopUser

N_BODIES = 10


class _Plan:
    """What the users share: the server's project, credentials and prepared files."""

    pid = ""
    coordinator = ""
    bodies: ClassVar[list[tuple[str, str, list[bytes]]]] = []  # (name, credential, files)
    bodies_left = N_BODIES
    run_every = 10.0
    max_uploads = 10
    next_body = itertools.count()
    runs_started = 0
    runs_busy = 0


class BodyUser(HttpUser):
    """A department: uploads its encodings again and again, and reads the project summary."""

    fixed_count = N_BODIES
    wait_time = between(0.2, 0.6)

    def on_start(self) -> None:
        name, cred, files = _Plan.bodies[next(_Plan.next_body) % len(_Plan.bodies)]
        self.body, self.files, self.uploads = name, files, 0
        self.client.headers["Authorization"] = f"Bearer {cred}"

    @task(3)
    def upload(self) -> None:
        if self.uploads >= _Plan.max_uploads:
            _Plan.bodies_left -= 1
            if _Plan.bodies_left == 0 and self.environment.runner is not None:
                self.environment.runner.quit()  # every body is done: the test is over
            raise StopUser
        data = self.files[self.uploads % 2]
        self.client.post(
            f"/api/v1/projects/{_Plan.pid}/uploads?mode=replace",
            data=data,
            headers={"Content-Type": "application/octet-stream"},
            name="upload",
        )
        self.uploads += 1

    @task(1)
    def summary(self) -> None:
        self.client.get(f"/api/v1/projects/{_Plan.pid}", name="project (body)")


class CoordinatorUser(HttpUser):
    """The coordinator: polls the project, its runs and the token table; starts runs."""

    fixed_count = 1
    wait_time = between(0.3, 0.7)

    def on_start(self) -> None:
        self.client.headers["Authorization"] = f"Bearer {_Plan.coordinator}"
        self.last_run = time.monotonic() - _Plan.run_every / 2

    @task
    def poll(self) -> None:
        pid = _Plan.pid
        self.client.get(f"/api/v1/projects/{pid}", name="project (coordinator)")
        self.client.get(f"/api/v1/projects/{pid}/runs", name="runs")
        with self.client.get(
            f"/api/v1/projects/{pid}/results/tokens",
            name="token table",
            catch_response=True,
        ) as r:
            if r.status_code == 404:  # no run has finished yet: expected early on
                r.success()
        if time.monotonic() - self.last_run >= _Plan.run_every:
            self.last_run = time.monotonic()
            with self.client.post(
                f"/api/v1/projects/{pid}/runs", name="start run", catch_response=True
            ) as r:
                if r.status_code == 202:
                    _Plan.runs_started += 1
                elif r.status_code == 409:  # the previous run is still going: expected
                    _Plan.runs_busy += 1
                    r.success()


@events.init.add_listener
def _load_plan(environment: Any, **_: Any) -> None:
    plan = json.loads(Path(os.environ["KAKEHASHI_LOAD_PLAN"]).read_text())
    _Plan.pid, _Plan.coordinator = plan["pid"], plan["coordinator"]
    _Plan.run_every, _Plan.max_uploads = plan["run_every"], plan["max_uploads"]
    _Plan.bodies = [
        (b["name"], b["credential"], [Path(f).read_bytes() for f in b["files"]])
        for b in plan["bodies"]
    ]
    _Plan.bodies_left = len(_Plan.bodies)


@events.quitting.add_listener
def _report_runs(environment: Any, **_: Any) -> None:
    out = os.environ.get("KAKEHASHI_LOAD_RUNS")
    if out:
        Path(out).write_text(
            json.dumps({"runs_started": _Plan.runs_started, "runs_busy": _Plan.runs_busy})
        )
