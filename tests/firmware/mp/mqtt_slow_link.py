# Writes from three tasks on a slow link arrive whole and in order.
# Run by tests/firmware/test_fw_mqtt.py::
#   test_writes_from_three_tasks_on_a_slow_link_arrive_whole_and_in_order
import asyncio
import json
import select
import socket
import time

import mp_helpers
from mqtt_client import P, client, got

BIG = bytes(range(256)) * 256  # 64 KB: more than the link takes while the broker stalls
SO_SNDBUF = 7  # Linux's; the unix port does not name it


async def main():
    c = client(keepalive_s=2)  # a ping after 1 s
    await c.connect()
    # A send buffer the size of the ESP32's (lwIP: 4 segments), not loopback's megabytes.
    c._writer.s.setsockopt(socket.SOL_SOCKET, SO_SNDBUF, 4096)
    start = time.ticks_ms()
    press = asyncio.create_task(c.publish("rating/box-017/press", BIG, 1))
    await asyncio.sleep_ms(0)
    stuck = bool(c._writer.out_buf)  # the socket took only part of the press
    # The command was already in the socket when connect() returned; once it is read, the read
    # loop has tried to write its PUBACK.
    p = select.poll()
    p.register(c._reader.s, select.POLLIN)
    while p.poll(0) or time.ticks_diff(time.ticks_ms(), start) < 1300:
        await asyncio.sleep_ms(10)
    go = socket.socket()
    go.connect(socket.getaddrinfo("127.0.0.1", P["port"])[0][-1])
    go.close()
    try:
        await asyncio.wait_for_ms(press, 20000)
        await c.publish("rating/box-017/press", "after", 1)
    except Exception as e:  # noqa: BLE001 (reported to the test)
        return {"stuck": stuck, "error": repr(e), "why": c.error}
    alive = c.alive
    await mp_helpers.disconnect(c)
    return {"stuck": stuck, "alive": alive, "got": got}


print(json.dumps(asyncio.run(main())))
