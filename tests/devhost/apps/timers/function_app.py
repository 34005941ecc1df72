"""Timer functions: one runs on start-up, one every second; both record what they got."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp()

FIRED: list[tuple[str, func.TimerRequest]] = []


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=True)
def on_startup(timer: func.TimerRequest) -> None:
    FIRED.append(("on_startup", timer))


@app.timer_trigger(schedule="* * * * * *", arg_name="tick")
async def every_second(tick: func.TimerRequest) -> None:
    FIRED.append(("every_second", tick))
