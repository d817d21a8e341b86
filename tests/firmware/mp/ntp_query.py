# One SNTP query against the test's server.
# (run by tests/firmware/test_fw_ntp.py)
import asyncio
import json
import sys
import time

import ntp

with open(sys.argv[1]) as f:
    P = json.load(f)


def up():
    return time.ticks_ms()


async def main():
    addr = ntp.resolve("127.0.0.1", P["port"])
    t = time.ticks_ms()
    got = await ntp.query(addr, up, P.get("timeout", 1500))
    took = time.ticks_diff(time.ticks_ms(), t)
    if got is None:
        return [None, took]
    # UTC now according to the answer, vs the host clock now
    return [got[1] + time.ticks_diff(time.ticks_ms(), got[0]) - time.time_ns() // 1000000, took]


print(json.dumps(asyncio.run(main())))
