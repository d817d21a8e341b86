# Silent broker is detected by keepalive.
# (run by tests/firmware/test_fw_mqtt.py::test_silent_broker_is_detected_by_keepalive)
import asyncio
import json
import time

from mqtt_client import client


async def main():
    c = client(keepalive_s=1)
    await c.connect()
    t = time.ticks_ms()
    await asyncio.wait_for_ms(c.closed.wait(), 5000)
    return [c.error, time.ticks_diff(time.ticks_ms(), t)]


print(json.dumps(asyncio.run(main())))
