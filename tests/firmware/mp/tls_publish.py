# A QoS 1 publish over TLS.
# (run by tests/firmware/test_fw_tls.py)
import asyncio
import json
import sys

import mp_helpers
import mqtt
import mqtt_tls

with open(sys.argv[1]) as f:
    P = json.load(f)


async def main():
    c = mqtt.Client(
        "box-017", "localhost", P["port"], "box-017", P["password"], ssl=mqtt_tls.context(P["ca"])
    )
    await c.connect()
    await c.publish("rating/box-017/press", "over tls", 1)
    await mp_helpers.disconnect(c)
    return "acked"


try:
    print(json.dumps(asyncio.run(main())))
except mqtt.MQTTError as e:
    print(json.dumps("error: " + str(e)))
