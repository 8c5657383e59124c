"""What the window says about the engine: the banner's cause and fix while Docker does not answer
(diagnosed off the Qt thread: it looks at the socket file), and the status bar's engine line."""

from __future__ import annotations

import asyncio

from shiboken6 import isValid

from desktop.services import Services
from desktop.ui.engine_banner import EngineBanner
from desktop.ui.engine_diagnosis import diagnose
from desktop.ui.tasks import TaskRunner
from desktop.ui.window_status import WindowStatus


class EngineWatch:
    def __init__(self, services: Services, runner: TaskRunner, banner: EngineBanner, status: WindowStatus) -> None:
        self.services = services
        self.runner = runner
        self.banner = banner
        self.status = status
        self.describing = False  # set once the window starts: the engine line is asked for from then on

    def describe(self) -> None:
        self.describing = True

        async def run() -> None:
            line = await self.services.engine_description()
            if isValid(self.status.engine):
                self.status.set_engine(line)

        self.runner.run("describe-engine", run())

    def problem_changed(self, problem: str | None) -> None:
        if self.describing:
            self.describe()  # answering again, or not: the engine line says which
        if problem is None:
            self.banner.set_problem(None)
            return

        async def explain() -> None:
            diagnosis = await asyncio.to_thread(diagnose, problem)
            if self.services.manager.engine_problem == problem and isValid(self.banner):
                self.banner.set_problem(problem, diagnosis)

        self.runner.run("diagnose", explain())
