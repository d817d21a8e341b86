# A box (main.py) whose network task hangs (a bug: an await that never returns) while the file
# hang_net exists in its flash folder. (run by tests/firmware/test_fw_resilience.py as a VirtualBox entry)
import asyncio
import os

import app

app.NET_STALL_MS = 3000
_serve = app.Box.serve


async def serve(self, c):
    try:
        os.stat("hang_net")
    except OSError:
        return await _serve(self, c)
    self.log("net: hanging")
    await asyncio.Event().wait()


app.Box.serve = serve  # type: ignore[method-assign]

import main  # noqa: F401 (the box boots: main.py runs app.run())
