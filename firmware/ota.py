# Over-the-air update (firmware/README.md, Over-the-air update). Imported only when a command
# arrives on the box's cmd topic, or on the first boots of a new release until the collector is
# heard: the rest of the time it costs no heap.
#
# A release is fetched file by file over HTTP into the staging slot (rel/a or rel/b beside the
# running release), each file checked by its SHA-256, the manifest by the command's SHA-256 and its
# HMAC-SHA256 signature with the fleet key. The switch is one rename of rel/boot.json (atomic on
# LittleFS, even on power loss; releases.py); main.py picks the release by it at boot. The outbox is never touched.
import asyncio
import binascii
import hashlib
import json
import os
import sys
import time

from micropython import const

import messages
from releases import folder, read_state, save_state

# The fields of an update command: tests/firmware/test_fw_ota.py compares them with
# schemas/cmd.schema.json, the wire contract.
CMD = "update"
CMD_FIELDS = ("v", "cmd", "version", "url", "manifest_sha256")
MANIFEST = "manifest.json"  # names as technician/build.py writes them
SIGNATURE = "manifest.sig"
FLEET_KEY = "fleet.key"
SLOTS = ("a", "b")  # releases.py: "" is the release provision put at the flash root
BOARD = "esp32" if sys.platform == "esp32" else "virtual"  # as in a manifest's "board"

STEP_MS = 10000  # every network step (connect, send, each line, each chunk) within this
TRIAL_MS = 600000  # a new release must hear the collector within this, or it is rolled back
_CHUNK = const(512)  # bytes read and written at a time: a file is never whole in RAM
_SMALL_MAX = const(8192)  # the manifest and its signature are read whole, up to this
_SIG_HEX = const(64)

_task = None  # the update running, if any: one at a time


class UpdateError(Exception):
    pass


# -- the command --------------------------------------------------------------------------------
def command(box, payload):
    """A message on the box's cmd topic that is not a "stored" confirmation (app.on_message)."""
    global _task
    cmd = parse_update(payload)
    if cmd is None:
        box.log("cmd ignored")
    elif _task is not None:
        box.log("update: one is running already")
        return
    else:
        _task = asyncio.create_task(_run(box, cmd[0], cmd[1], cmd[2]))
        return
    sys.modules.pop("ota", None)


def parse_update(payload):
    """(version, url, manifest_sha256) of an update command, or None if it is not one."""
    try:
        msg = json.loads(payload)
        if msg["v"] != 1 or msg["cmd"] != CMD or len(msg) != len(CMD_FIELDS):
            return None
        version, url, digest = msg["version"], msg["url"], msg["manifest_sha256"]
        version_tuple(version)
        if not (url.startswith("http://") and url.endswith("/") and len(digest) == 64):
            return None
        return version, url, digest
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def version_tuple(text):
    """'0.2.0' -> (0, 2, 0); ValueError for anything else."""
    parts = text.split(".")
    if len(parts) != 3:
        raise ValueError(text)
    return tuple(int(p) for p in parts)


async def _run(box, version, url, digest):
    global _task
    try:
        await update(box, version, url, digest)
    except (UpdateError, OSError, ValueError, KeyError, TypeError, asyncio.TimeoutError) as e:
        box.error("update %s: %s" % (version, str(e) or repr(e)))
    finally:
        _task = None
        sys.modules.pop("ota", None)


# -- the signature ------------------------------------------------------------------------------
def hmac_sha256(key, msg):
    """HMAC-SHA256 (RFC 2104): MicroPython has hashlib.sha256 but no hmac module."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    key = key + bytes(64 - len(key))
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    inner.update(msg)
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    outer.update(inner.digest())
    return outer.digest()


def _same(a, b):
    # Every byte compared, whatever the first difference: the time says nothing about the key.
    if len(a) != len(b):
        return False
    diff = 0
    for i in range(len(a)):
        diff |= a[i] ^ b[i]
    return diff == 0


def _hex(digest):
    return binascii.hexlify(digest).decode()


# -- the release slots ----------------------------------------------------------------------------
def _mkdir(path):
    try:
        os.mkdir(path)
    except OSError:
        pass  # there already


def file_sha256(path):
    """Hex SHA-256 of a file, read in chunks; None if it cannot be read."""
    h = hashlib.sha256()
    buf = bytearray(_CHUNK)
    try:
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                h.update(memoryview(buf)[:n])
    except OSError:
        return None
    return _hex(h.digest())


# -- HTTP ---------------------------------------------------------------------------------------
def split_url(url):
    """'http://host:port/path/' -> (host, port, '/path/')."""
    rest = url[len("http://"):]
    i = rest.find("/")
    hostport, path = rest[:i], rest[i:]
    host, port = hostport, 80
    j = hostport.rfind(":")
    if j >= 0:
        host, port = hostport[:j], int(hostport[j + 1:])
    return host, port, path


async def _get(host, port, path):
    """An open response to GET path, its headers read: (reader at the body, writer)."""
    r = w = None  # declared, as mqtt.py declares its streams, for the type checker
    r, w = await asyncio.wait_for_ms(asyncio.open_connection(host, port), STEP_MS)
    try:
        w.write(("GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
        await asyncio.wait_for_ms(w.drain(), STEP_MS)
        status = bytes(await asyncio.wait_for_ms(r.readline(), STEP_MS)).split()
        if len(status) < 2 or status[1] != b"200":
            raise UpdateError("GET %s: %s" % (path, b" ".join(status[1:]).decode()))
        while (await asyncio.wait_for_ms(r.readline(), STEP_MS)) not in (b"\r\n", b"\n", b""):
            pass
    except BaseException:
        w.close()
        raise
    return r, w


async def _read(r):
    return await asyncio.wait_for_ms(r.read(_CHUNK), STEP_MS)


async def get_small(host, port, path):
    r, w = await _get(host, port, path)
    body = b""
    try:
        while True:
            chunk = await _read(r)
            if not chunk:
                return body
            body += chunk
            if len(body) > _SMALL_MAX:
                raise UpdateError("%s: too large" % path)
    finally:
        w.close()


async def fetch(host, port, path, dest, digest):
    """Stream path into dest (through dest + '.part'), checking its SHA-256 before it is kept."""
    r, w = await _get(host, port, path)
    h = hashlib.sha256()
    part = dest + ".part"
    try:
        with open(part, "wb") as f:
            while True:
                chunk = await _read(r)
                if not chunk:
                    break
                h.update(chunk)
                f.write(chunk)
    finally:
        w.close()
    if _hex(h.digest()) != digest:
        os.remove(part)
        raise UpdateError("%s: SHA-256 mismatch" % path)
    os.rename(part, dest)


# -- the update ---------------------------------------------------------------------------------
def staging_slot(state):
    """The slot neither running nor kept as the release to go back to."""
    for slot in SLOTS:
        if slot != state["cur"] and slot != state["good"]:
            return slot
    raise UpdateError("no free slot")


async def stage(box, version, url, digest):
    """Fetch and check the release into the staging slot; its slot name. Files already there with
    the right SHA-256 (an earlier, interrupted attempt) are not fetched again."""
    root = box.root
    if version_tuple(version) <= version_tuple(messages.FW_VERSION):
        raise UpdateError("refused: not newer than %s" % messages.FW_VERSION)
    state = read_state(root)
    if state["cur"] != state["good"]:
        raise UpdateError("refused: this release is on trial")
    try:
        with open(root + FLEET_KEY) as f:
            key = binascii.unhexlify(f.read().strip())
    except (OSError, ValueError):
        raise UpdateError("refused: no fleet key")
    host, port, path = split_url(url)
    manifest_bytes = await get_small(host, port, path + MANIFEST)
    if _hex(hashlib.sha256(manifest_bytes).digest()) != digest:
        raise UpdateError("refused: manifest SHA-256 is not the command's")
    sig = (await get_small(host, port, path + SIGNATURE)).strip()
    if len(sig) != _SIG_HEX or not _same(_hex(hmac_sha256(key, manifest_bytes)).encode(), sig):
        raise UpdateError("refused: bad signature")
    manifest = json.loads(manifest_bytes)
    if manifest["version"] != version or manifest["board"] != BOARD:
        raise UpdateError("refused: manifest is %s for %s" % (manifest["version"], manifest["board"]))
    files = manifest["files"]
    slot = staging_slot(state)
    where = folder(root, slot)
    _mkdir(root + "rel")
    _mkdir(where[:-1])
    for name in os.listdir(where[:-1]):  # what an older release left here
        if name not in files:
            os.remove(where + name)
    for name, want in files.items():
        if "/" in name or name.startswith("."):
            raise UpdateError("refused: file name %s" % name)
        if file_sha256(where + name) == want:
            continue
        await fetch(host, port, path + name, where + name, want)
    box.log("update: %s staged in %s" % (version, where))
    return slot


def switch(root, slot):
    """From the next boot on, run `slot` on trial; the running release stays as the way back."""
    save_state(root, slot, read_state(root)["cur"])


async def update(box, version, url, digest):
    slot = await stage(box, version, url, digest)
    switch(box.root, slot)
    box.log("update: rebooting into %s" % version)
    box.board.reset()


# -- the first boots of a new release -------------------------------------------------------------
async def trial(box):
    """On a release on trial (main.py says): keep it once the box is online and has heard the
    collector (a clock beacon or a confirmation), else go back to the previous one and reboot."""
    start = time.ticks_ms()
    while not (box.heard and box.online()):
        if time.ticks_diff(time.ticks_ms(), start) >= TRIAL_MS:
            good = read_state(box.root)["good"]
            save_state(box.root, good, good)
            box.error("update: %s never heard the collector, back to the previous release" % messages.FW_VERSION)
            box.board.reset()
            return
        await asyncio.sleep_ms(1000)
    cur = read_state(box.root)["cur"]
    save_state(box.root, cur, cur)
    box.log("update: release %s confirmed" % messages.FW_VERSION)
