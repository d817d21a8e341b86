# What the MQTT client scripts share: their parameters (P, from the JSON file sys.argv[1]: the
# broker's port, the password, optionally the client id and user) and a firmware Client made on
# them, whose messages land in `got`.
import json
import sys

import mqtt

with open(sys.argv[1]) as f:
    P = json.load(f)
got = []  # type: list


def client(**kw):
    args = dict(keepalive_s=30, will=None, on_message=lambda t, p: got.append([t, p.decode()]))  # noqa: C408
    args.update(kw)
    return mqtt.Client(
        P.get("id", "box-017"), "127.0.0.1", P["port"], P.get("user", "box-017"), P["password"], **args
    )
