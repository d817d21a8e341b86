# Wrong password is refused.
# (run by tests/firmware/test_fw_mqtt.py::test_wrong_password_is_refused)
import asyncio
import json

import mqtt
from mqtt_client import client


async def main():
    try:
        await client().connect()
    except mqtt.MQTTError as e:
        return str(e)


print(json.dumps({"error": asyncio.run(main())}))
