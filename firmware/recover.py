# Once per boot, then dropped: what the flash holds, read back. The boot counter (incremented),
# the time anchors of earlier boots, and the outbox's queue recovered from its segment files.
# app.Box() loads this module with app.load() and drops it again, so its bytecode does not stay
# in the heap. The outbox module is passed in: on CPython (the simulator's light mode) a module
# that app.load() reads cannot import the firmware's modules.
import json
import os


def _folder(root):
    """root's outbox folder (made if missing), ending with '/'."""
    d = root + "ob"
    try:
        os.stat(d)
    except OSError:
        os.mkdir(d)
    return d + "/"


def _read_text(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def next_boot(outbox, root):
    """Increment and return the boot counter (1 on the first boot)."""
    d = _folder(root)
    outbox.remove(d + "boot.tmp")
    text = _read_text(d + "boot")
    boot = (int(text) if text and text.strip().isdigit() else 0) + 1
    outbox.write_atomic(d + "boot", str(boot))
    return boot


def load_anchors(root):
    """{boot: (up, utc, source)} for the last few boots that had an anchor."""
    text = _read_text(root + "ob/anchors")
    try:
        return {int(k): tuple(v) for k, v in json.loads(text).items()} if text else {}
    except (ValueError, TypeError, AttributeError):
        return {}


def open_outbox(outbox, root):
    """root's outbox (root: the flash folder, ending with '/'), its queue recovered from flash."""
    d = _folder(root)
    outbox.remove(d + "acked.tmp")
    mark = _read_text(d + "acked")
    acked = int(mark) if mark and mark.strip().isdigit() else 0
    segs = []  # [first_seq, record count, appendable] per segment, oldest first
    highest = 0
    pending = 0  # stored and not confirmed
    size_rec = outbox.REC_SIZE
    # (comprehensions here cost no resident heap: this module is dropped after start-up)
    for name in sorted(n for n in os.listdir(d[:-1]) if n[0] == "s" and n[1:].isdigit()):
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
