# bench.firmware's heap script: the heap after start-up, what the box's main.py does (app.run())
# and no more. Before the baseline: this script, the stand-ins (bench_box.stand_ins()) and what it shares
# with the others (bench_box). Then, in the order the box does it (the box mounts its flash before
# main.py runs): the flash; main.py's bytecode; asyncio.funcs (asyncio.wait_for_ms: the box loads
# it at its first connection, the WebAssembly port's asyncio at its own start-up); the real
# board.py (.mpy) on the stand-ins; the box, started and settled. micropython.qstr_info() prints
# the names interned so far, which the bench reads back (bench.firmware._box_heap). Prints one
# JSON line of figures.
import asyncio
import gc
import json
import time

import micropython
from bench_box import P, collected, log, main_py, open_box, prepare, settle, stand_ins

wifi_asked = stand_ins()


async def main():
    baseline = await collected()
    micropython.qstr_info()
    flash_ram, lfs_heap = prepare()
    main_code = main_py()  # noqa: F841 (held, as the box holds it)
    asyncio.wait_for_ms  # noqa: B018 (loads asyncio.funcs)
    import board

    box = open_box(board, log)
    out = {"heap_used": await settle(box, wifi_asked) - flash_ram, "baseline": baseline, "lfs_heap": lfs_heap,
           "ticks_period": time.ticks_add(0, -1) + 1,  # type: ignore[type-var]
           "uptime_ms": box.clock.up()}
    if P["online"]:
        # Ints the MQTT client holds that are heap objects on a 32-bit port (>= 2**30 there; its
        # _waiting and _done hold packet ids, at most 65535). The network task's own ints are
        # uptimes (uptime_ms above: below 2**30 for 12.4 days) and ticks_ms values (always below).
        out["client_big_ints"] = [k for k, v in box.client.__dict__.items()
                                  if isinstance(v, int) and not -(1 << 30) <= v < (1 << 30)]
    else:
        # What only the offline state holds: the network task's suspended connect() and nap()
        # coroutines (both allocate their whole frame when created, before they first run).
        gc.collect()
        m0 = gc.mem_alloc()
        g1 = box.connect()  # noqa: F841
        g2 = box.nap(250)  # noqa: F841
        out["offline_only"] = gc.mem_alloc() - m0
    box.stop()
    # printed here, not after asyncio.run(): on the WebAssembly port asyncio.run() returns at once
    print(json.dumps(out))


asyncio.run(main())
