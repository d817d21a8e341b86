# Once per boot, then dropped: what the flash holds, read back. The boot counter (incremented),
# the time anchors of earlier boots, and the outbox's queue recovered from its segment files.
# app.Box() loads this module with app.load() and drops it again, so its bytecode does not stay
# in the heap. The outbox module is passed in: on CPython (the simulator's light mode) a module
# that app.load() reads cannot import the firmware's modules.
import json
import os


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def next_boot(outbox, root):
    """Increment and return the boot counter (1 on the first boot)."""
    d = root + "ob"
    if not _exists(d):
        os.mkdir(d)
    outbox.remove(d + "/boot.tmp")
    text = _read_text(d + "/boot")
    boot = (int(text) if text and text.strip().isdigit() else 0) + 1
    outbox.write_atomic(d + "/boot", str(boot))
    return boot


def load_anchors(root):
    """{boot: (up, utc, source)} for the last few boots that had an anchor."""
    text = _read_text(root + "ob/anchors")
    anchors = {}
    try:
        for k, v in (json.loads(text) if text else {}).items():
            anchors[int(k)] = tuple(v)
    except (ValueError, TypeError, AttributeError):
        return {}
    return anchors


def open_outbox(outbox, root):
    """root's outbox (root: the flash folder, ending with '/'), its queue recovered from flash."""
    d = root + "ob/"
    if not _exists(d[:-1]):
        os.mkdir(d[:-1])
    outbox.remove(d + "acked.tmp")
    mark = _read_text(d + "acked")
    acked = int(mark) if mark and mark.strip().isdigit() else 0
    segs = []  # [first_seq, record count, appendable] per segment, oldest first
    highest = 0
    pending = 0  # stored and not confirmed
    names = []  # loops, not comprehensions, here: each of those is a function held in RAM
    for name in os.listdir(d[:-1]):
        if name[0] == "s" and name[1:].isdigit():
            names.append(name)
    names.sort()
    size_rec = outbox.REC_SIZE
    for name in names:
        path = d + name
        size = os.stat(path)[6]
        count = size // size_rec
        last = 0
        with open(path, "rb") as f:
            for _ in range(count):
                r = outbox.unpack(f.read(size_rec))
                if r:
                    last = max(last, r[0])
                    if r[0] > acked:
                        pending += 1
        if last <= acked:
            os.remove(path)  # empty, or fully acknowledged
            continue
        highest = max(highest, last)
        # A torn tail (not possible on LittleFS, but cheap to survive): never append after it.
        segs.append([int(name[1:]), count, size % size_rec == 0])
    return outbox.Outbox(root, acked, segs, pending, max(acked, highest) + 1)
