# Acl only lets a box publish its own topics.
# (run by tests/firmware/test_fw_mqtt.py::test_acl_only_lets_a_box_publish_its_own_topics)
import asyncio
import json

import mp_helpers
from mqtt_client import client


async def main():
    c = client()
    await c.connect()
    await c.publish("rating/box-018/press", '{"spoof": 1}', 1)
    await c.publish("rating/box-017/press", '{"own": 1}', 1)
    await mp_helpers.disconnect(c)
    return True


print(json.dumps(asyncio.run(main())))
