# Last will is delivered when the connection dies.
# (run by tests/firmware/test_fw_mqtt.py::test_last_will_is_delivered_when_the_connection_dies)
import asyncio
import json

from mqtt_client import client


async def main():
    will = ("rating/box-017/presence", '{"state": "offline"}', 1, True)
    c = client(will=will)
    await c.connect()
    await c.publish("rating/box-017/presence", '{"state": "online"}', 1, True)
    c.close()  # the socket just dies: no DISCONNECT
    return c.alive


print(json.dumps({"alive": asyncio.run(main())}))
