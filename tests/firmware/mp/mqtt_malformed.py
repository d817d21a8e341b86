# Malformed bytes drop the connection cleanly.
# (run by tests/firmware/test_fw_mqtt.py::test_malformed_bytes_drop_the_connection_cleanly)
import asyncio
import json

import mqtt
from mqtt_client import client


async def main():
    c = client()
    await c.connect()
    await asyncio.wait_for_ms(c.closed.wait(), 5000)
    try:
        await c.publish("rating/box-017/press", "x", 1)
    except mqtt.MQTTError as e:
        return [c.alive, c.error is not None, str(e)]


print(json.dumps(asyncio.run(main())))
