# Qos1 publish gets puback from mosquitto and subscription works.
# (run by tests/firmware/test_fw_mqtt.py::test_qos1_publish_gets_puback_from_mosquitto_and_subscription_works)
import asyncio
import json

import mp_helpers
from mqtt_client import client, got


async def main():
    c = client()
    await c.connect()
    await c.subscribe("rating/clock", 0)
    await c.publish("rating/box-017/press", '{"n": 1}', 1)  # returns only after PUBACK
    await c.publish("rating/box-017/status", '{"n": 2}', 0)
    for _ in range(200):
        if got:
            break
        await asyncio.sleep_ms(50)
    await mp_helpers.disconnect(c)
    return got


print(json.dumps({"got": asyncio.run(main())}))
