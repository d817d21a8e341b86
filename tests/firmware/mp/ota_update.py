# Updates a box's flash (LittleFS on a RAM block device) from a release served over HTTP, with
# ota.update as the box runs it, then boots as main.py does (releases.pick). With "cut", repeats
# the whole cycle with a power cut after 0, 1, 2, ... block writes, until one runs to its end.
# (run by tests/firmware/test_fw_ota.py)
import asyncio
import binascii
import hashlib
import json
import os
import sys

import mp_helpers
import ota
import outbox
import recover
import releases

with open(sys.argv[1]) as _f:
    P = json.loads(_f.read())


class Rebooted(BaseException):
    pass


class Board:
    def reset(self):
        raise Rebooted()


class StandIn:
    """What ota.py uses of an app.Box."""

    def __init__(self, root):
        self.root = root
        self.board = Board()
        self.errors = []  # type: list[str]

    def log(self, *args):
        print(*args)

    def error(self, text):
        self.errors.append(text)


def sha(path):
    with open(path, "rb") as f:
        return binascii.hexlify(hashlib.sha256(f.read()).digest()).decode()


def tree(path):
    """name -> SHA-256 of every file in the folder (not its subfolders)."""
    return {entry[0]: sha(path + "/" + entry[0]) for entry in os.ilistdir(path) if entry[1] == 0x8000}


def fresh_flash():
    """A provisioned box: the old release at the root, the fleet key, presses not yet sent."""
    bd = mp_helpers.RAMBlockDev(blocks=P.get("blocks", 96))
    root = mp_helpers.mount(bd, fresh=True)
    for name in os.listdir(P["old"]):
        with open(P["old"] + "/" + name, "rb") as src, open(root + name, "wb") as dst:
            dst.write(src.read())
    with open(root + "fleet.key", "w") as f:
        f.write(P["key"] + "\n")
    recover.next_boot(outbox, root)
    ob = recover.open_outbox(outbox, root)
    for k in range(5):
        ob.append(1, 100 * k, k % 2, 0)
    return bd, root


async def update(box, cmd):
    try:
        await ota.update(box, cmd["version"], cmd["url"], cmd["manifest_sha256"])
    except ota.UpdateError as e:
        return str(e)
    return "no reboot"


def attempt(box, cmd):
    asyncio.new_event_loop()
    try:
        return asyncio.run(update(box, cmd))
    except Rebooted:
        return "rebooted"


def boot(root):
    slot, trial = releases.pick(root)
    return {"slot": slot, "trial": trial, "files": tree(releases.folder(root, slot)[:-1])}


def which(files):
    """'old' or 'new': the release these files hold (of P["known"]), or None."""
    for name, manifest in P["known"].items():
        if all(files.get(f) == h for f, h in manifest.items()):
            return name
    return None


def cycle(bd, root, log):
    """Update, reboot into the new release, hear the collector: the release is kept."""
    box = StandIn(root)
    log["update"] = attempt(box, P["commands"][0])
    log["first_boot"] = boot(root)
    cur = releases.read_state(root)["cur"]
    releases.save_state(root, cur, cur)  # ota.trial, once the collector is heard


if "cut" not in P:
    bd, root = fresh_flash()
    ob_before = tree(root + "ob")
    results = []
    box = StandIn(root)
    for cmd in P["commands"]:
        results.append(attempt(box, cmd))
    boots = [boot(root) for _ in range(P.get("boots", 0))]  # reboots, the collector never heard
    loaded = None
    if P.get("load"):  # boot as main.py does: the release picked is imported
        app, trial = releases.load_app(root)
        loaded = {"file": app.__file__, "trial": trial}
    print(json.dumps({
        "loaded": loaded, "boots": boots, "results": results, "errors": box.errors, "state": releases.read_state(root),
        "boot": boot(root), "ob_kept": tree(root + "ob") == ob_before,
        "slots": {s: tree(root + "rel/" + s) for s in ("a", "b") if s in os.listdir(root + "rel")}
        if "rel" in os.listdir(root[:-1]) else {},
    }))
else:
    bd, root = fresh_flash()
    image = bytes(bd.data)
    ob_before = tree(root + "ob")
    runs = []
    n = 0
    while True:
        bd = mp_helpers.RAMBlockDev(data=bytearray(image))
        root = mp_helpers.mount(bd)
        bd.writes_left = n
        log = {}  # type: dict
        try:
            cycle(bd, root, log)
            cut = False
        except (mp_helpers.PowerCut, OSError):
            cut = True
        root = mp_helpers.mount(mp_helpers.RAMBlockDev(data=bd.data))  # power back
        after = boot(root)
        runs.append({"n": n, "cut": cut, "slot": after["slot"], "release": which(after["files"]),
                     "ob_kept": tree(root + "ob") == ob_before, "update": log.get("update")})
        if not cut:
            break
        n += 1
    print(json.dumps(runs))
