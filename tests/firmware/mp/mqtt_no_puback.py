# No puback at all drops the connection.
# (run by tests/firmware/test_fw_mqtt.py::test_no_puback_at_all_drops_the_connection)
import asyncio
import json

import mqtt
from mqtt_client import client


async def main():
    c = client(ack_timeout_s=1, retries=1)
    await c.connect()
    try:
        await c.publish("rating/box-017/press", "hello", 1)
    except mqtt.MQTTError as e:
        return [str(e), c.alive, c.closed.is_set()]


print(json.dumps(asyncio.run(main())))
