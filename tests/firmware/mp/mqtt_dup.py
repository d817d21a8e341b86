# Qos1 is resent with dup when no puback.
# (run by tests/firmware/test_fw_mqtt.py::test_qos1_is_resent_with_dup_when_no_puback)
import asyncio
import json

import mp_helpers
from mqtt_client import client


async def main():
    c = client(ack_timeout_s=1)
    await c.connect()
    await c.publish("rating/box-017/press", "hello", 1)
    await mp_helpers.disconnect(c)
    return "acked"


print(json.dumps(asyncio.run(main())))
