# bench.firmware's heap of heap.py's box by part (run on the WebAssembly port, offline): the same
# steps one at a time: the baseline (interpreter, asyncio, the script, the stand-ins); the flash;
# main.py; asyncio.funcs; each module of P["modules"] imported in turn (with the names it
# interns); open_box() (the box's objects, and the names the dropped startup and config modules
# leave interned); settle() (the tasks). Each part is the heap's growth over its step, collected
# on both sides. Prints one JSON line.
import asyncio
import json
import sys

import micropython
from bench_box import P, collected, log, main_py, open_box, prepare, settle, stand_ins

wifi_asked = stand_ins()

sizes = [0] * (len(P["modules"]) + 5)  # the parts' sizes, in bytes: made before the baseline


async def grown(i, m0, flash_ram):
    m1 = await collected() - flash_ram
    sizes[i] = m1 - m0
    return m1


async def main():
    base = await collected()
    micropython.qstr_info()
    flash_ram, _ = prepare()
    m = await grown(0, base, flash_ram)
    main_code = main_py()  # noqa: F841 (held, as the box holds it)
    m = await grown(1, m, flash_ram)
    asyncio.wait_for_ms  # noqa: B018 (loads asyncio.funcs)
    m = await grown(2, m, flash_ram)
    i = 3
    for name in P["modules"]:
        __import__(name)
        m = await grown(i, m, flash_ram)
        i += 1
    box = open_box(sys.modules["board"], log)
    m = await grown(i, m, flash_ram)
    heap_used = await settle(box, wifi_asked) - flash_ram
    sizes[i + 1] = heap_used - m
    box.stop()
    names = ["flash", "main.py", "asyncio.funcs"] + ["import " + n for n in P["modules"]]
    names += ["open_box()", "start, settle"]
    print(json.dumps({"baseline": base, "heap_used": heap_used, "parts": list(zip(names, sizes))}))


asyncio.run(main())
