# app.run() as on the box, interrupted once online (the technician's Ctrl-C); then the technician
# tool's own read-only script (`rating-tech check`, P["state"]) runs in the same interpreter, as
# over the REPL.
# (run by tests/firmware/test_fw_app.py)
import asyncio
import json
import sys
import time

import app

with open(sys.argv[1]) as f:
    P = json.load(f)
real_run = asyncio.run


def run(main):
    async def until_online():
        asyncio.create_task(main)
        t = time.ticks_ms()
        while not (app.current and app.current.online()) and time.ticks_diff(time.ticks_ms(), t) < 10000:
            await asyncio.sleep_ms(10)

    real_run(until_online())
    raise KeyboardInterrupt


asyncio.run = run  # type: ignore[assignment]
try:
    app.run()
except KeyboardInterrupt:
    pass
print(
    json.dumps(
        {"dropped": [m for m in ("startup", "config", "ntp", "selftest", "mqtt_tls") if m not in sys.modules]}
    )
)
exec(P["state"])  # noqa: S102 (the technician's state script, as rating-tech runs it)
