# collected(): gc.mem_alloc() after collections, for bench.firmware's scripts (MicroPython, unix
# and WebAssembly ports). Measured in a task, never at the top level of a script: on the
# WebAssembly port a collection there does not free what the script just dropped.
#
# Run as a script, this is bench.firmware's empty script: the heap of the interpreter with asyncio
# imported and (next to) no script, and the names it interned (micropython.qstr_info(), read back
# by the bench): what the heap after start-up holds that is not the firmware's. Same on both ports.
# (Here, not in a script of its own that imports collected(): the module would be in that heap.)
import asyncio
import gc

import micropython

try:
    # The WebAssembly port under node --expose-gc: V8's collector.
    from js import gc as js_gc  # type: ignore[import-not-found]
except ImportError:
    js_gc = None


async def collected():
    for _ in range(2):
        # On the WebAssembly port JS holds Python objects (the scheduler's timer callbacks) until
        # V8 finalizes the JS objects that refer to them, which refer back only while their
        # Python proxies live: collect on both sides and let the finalizers run. Without this the
        # figure there varies by several KB with V8's timing. Same steps and waits on both ports.
        gc.collect()
        if js_gc is not None:
            js_gc()
        await asyncio.sleep_ms(20)
    gc.collect()
    return gc.mem_alloc()


async def main():
    heap = await collected()
    micropython.qstr_info()
    print('{"heap": %d}' % heap)  # noqa: UP031 (MicroPython)


if __name__ == "__main__":
    asyncio.run(main())
