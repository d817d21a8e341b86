# A client connects once and lets its connect packet go.
# (run by tests/firmware/test_fw_mqtt.py::test_a_client_connects_once_and_lets_its_connect_packet_go)
import asyncio
import json

import mp_helpers
import mqtt
from mqtt_client import client


async def main():
    c = client()
    await c.connect()
    kept = c._hello
    await mp_helpers.disconnect(c)
    try:
        await c.connect()
    except mqtt.MQTTError as e:
        return [kept is None, str(e)]
    return [kept is None, None]


print(json.dumps({"got": asyncio.run(main())}))
