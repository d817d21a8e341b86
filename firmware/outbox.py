# The durable queue of presses in flash. A press is appended (and committed) before the citizen
# sees any feedback, and leaves only once the collector has confirmed storing it (its "stored"
# message on the box's command topic), which comes after the broker's PUBACK: a broker that loses
# its persistence file loses nothing a box still holds. Two positions walk the records, oldest first:
# the send cursor (the next press to publish; rewound to the confirmed mark at every new connection)
# and the confirmed mark. Layout under <root>ob/:
#   s0000000123   segment: fixed-size records, first seq 123, at most SEG_RECORDS of them
#   acked         confirmed mark: every seq <= it was confirmed stored (renamed into place atomically)
#   boot          boot counter;  anchors: time anchors of recent boots (both renamed atomically)
# LittleFS commits a file's data on close and makes rename/remove atomic, so a power cut at any
# write leaves either the old or the new state. seq = max(mark, highest stored seq) + 1, so a
# seq once stored (hence maybe published) is never handed out again. Reading all this back at boot
# is recover.py's job, loaded only then (recover.open_outbox() makes the Outbox).
import json
import os
import struct

from micropython import const

# seq, boot, up (48 bits as low 32 + high 16), level | flags << 2, check byte = 16 bytes:
# 10,000 presses take 160 KB, 40 segments of one 4 KB LittleFS block each.
_REC = const("<IIIHBB")
REC_SIZE = const(16)
SEG_RECORDS = 256
MAX_SEGMENTS = 48       # 12,288 presses; beyond that new presses are refused (see README)
MARK_EVERY = 16         # persist the mark at least every N confirmations (a lost mark only means resends)
_CONFIRMS_KEPT = const(64)  # confirmations held ahead of the mark; beyond, forgotten (the press is resent)
_ANCHORS_KEPT = const(8)
_READ_BATCH = const(32)         # records read per flash access while draining a backlog (512 B of RAM)

FLAG_SUPPRESSED = const(1)
FLAG_TEST = const(2)


class OutboxFull(OSError):
    """No room for another press: it is refused, nothing already stored is dropped."""


def _check(b):
    s = 0x5A  # an all-zero record must not look valid
    for i in range(REC_SIZE - 1):
        s = (s + b[i]) & 0xFF
    return s


def pack(seq, boot, up, level, flags):
    b = bytearray(REC_SIZE)
    struct.pack_into(_REC, b, 0, seq, boot, up & 0xFFFFFFFF, (up >> 32) & 0xFFFF, level | (flags << 2), 0)
    b[REC_SIZE - 1] = _check(b)
    return b


def unpack(b):
    """(seq, boot, up, level, flags), or None if the record is damaged."""
    if len(b) != REC_SIZE or _check(b) != b[REC_SIZE - 1]:
        return None
    seq, boot, lo, hi, lf, _ = struct.unpack(_REC, b)
    if seq == 0:
        return None
    return (seq, boot, lo | (hi << 32), lf & 3, lf >> 2)


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def write_atomic(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


class Outbox:
    def __init__(self, root, acked, segs, pending, next_seq):
        """The queue in root's flash (root ends with '/') as recover.open_outbox() read it back at
        boot: the confirmed mark, the segments ([first seq, record count, appendable], oldest
        first), the presses stored and not confirmed, the next seq."""
        self.dir = root + "ob/"
        self.acked = acked
        self._saved_mark = acked
        self.refused = 0  # presses refused because the outbox or the flash was full, since boot
        self._segs = segs
        self.pending = pending
        self.next_seq = next_seq
        self._seg_i = 0    # send cursor: segment index, record index
        self._rec_i = 0
        self._head = None  # cached record at the send cursor
        self._cseg_i = 0   # mark cursor: the oldest record not confirmed yet
        self._crec_i = 0
        self.held = 0      # sent (PUBACKed) and not confirmed yet; pending counts them too
        self._confirmed = set()  # seqs confirmed ahead of the mark
        self._cache = None  # (segment first seq, first record index, bytes): records never change
        self._unsaved = 0

    # -- writing --------------------------------------------------------------------------
    def _seg_path(self, first):
        return self.dir + "s%010d" % first

    def append(self, boot, up, level, flags):
        """Store a press durably; return its seq. Raises OutboxFull when MAX_SEGMENTS are in use
        or the flash has no room, OSError if the flash fails: the press is then not stored and
        everything stored before stays (nothing accepted is ever dropped to make room)."""
        seq = self.next_seq
        rec = pack(seq, boot, up, level, flags)
        new = not self._segs or self._segs[-1][1] >= SEG_RECORDS or not self._segs[-1][2]
        if new and len(self._segs) >= MAX_SEGMENTS:
            self.refused += 1
            raise OutboxFull(28)  # ENOSPC
        seg = [seq, 0, True] if new else self._segs[-1]
        path = self._seg_path(seg[0])
        try:
            with open(path, "ab") as f:
                f.write(rec)
        except OSError as e:
            size = _size(path)
            if size < (seg[1] + 1) * REC_SIZE:  # not stored
                if new:
                    remove(path)  # a segment file created without its record
                elif size < 0 or size % REC_SIZE:
                    seg[2] = False  # unsure what is in it: append to a new segment
                if e.args and e.args[0] == 28:
                    self.refused += 1
                    raise OutboxFull(28)
                raise
            # the error came after the data was committed: the press is stored
        if new:
            self._segs.append(seg)
        seg[1] += 1
        self.next_seq = seq + 1
        self.pending += 1
        return seq

    # -- reading --------------------------------------------------------------------------
    def peek(self):
        """The press to send next (seq, boot, up, level, flags), or None when all are sent."""
        if self._head is None:
            self._head = self._next(True)
        return self._head

    def _next(self, send):
        """The record at the send cursor (send=True) or the mark cursor, skipping what cannot be
        sent (damaged, or at or below the mark); None at the writer, or for the mark cursor at the
        send cursor (only a sent press can be confirmed)."""
        segs = self._segs
        seg_i, rec_i = (self._seg_i, self._rec_i) if send else (self._cseg_i, self._crec_i)
        r = None
        while seg_i < len(segs):
            if not send and (seg_i > self._seg_i or (seg_i == self._seg_i and rec_i >= self._rec_i)):
                break
            first, count, _ = segs[seg_i]
            if rec_i >= count:
                if seg_i == len(segs) - 1:
                    break  # caught up with the writer
                seg_i += 1
                rec_i = 0
                continue
            r = self._record(first, rec_i)
            if r is not None and r[0] > self.acked:
                break
            if r is None and not send:
                self.pending -= 1  # damaged: can be neither sent nor confirmed, skip it for good
            r = None
            rec_i += 1
        if send:
            self._seg_i, self._rec_i = seg_i, rec_i
        else:
            self._cseg_i, self._crec_i = seg_i, rec_i
        return r

    def _record(self, first, i):
        c = self._cache
        if c is None or c[0] != first or not c[1] <= i < c[1] + len(c[2]) // REC_SIZE:
            with open(self._seg_path(first), "rb") as f:
                f.seek(i * REC_SIZE)
                c = self._cache = (first, i, f.read(_READ_BATCH * REC_SIZE))
        off = (i - c[1]) * REC_SIZE
        return unpack(c[2][off:off + REC_SIZE])

    def sent(self, seq):
        """The broker acknowledged seq (the record peek() returned): move on to the next one."""
        head = self.peek()
        if head is None or head[0] != seq:
            return
        self._head = None
        self._rec_i += 1
        self.held += 1
        self._advance()

    def confirm(self, seqs):
        """The collector has stored these seqs. Moves the mark over every confirmed press, oldest
        first. Returns True when a later press is confirmed while an earlier sent one is not (the
        earlier one was lost on the way, or its confirmation was): the caller then rewinds."""
        mine = self._confirmed
        for seq in seqs:
            if self.acked < seq < self.next_seq:
                mine.add(seq)
        self._advance()
        if not mine:
            return False
        oldest = self._next(False)
        gap = oldest is not None and max(mine) > oldest[0]
        if len(mine) > _CONFIRMS_KEPT:
            mine.clear()  # bounded RAM: those presses are sent again and confirmed again
        return gap

    def rewind(self):
        """Send again from the oldest press not confirmed (a new connection: what the broker held
        may be gone)."""
        self._seg_i, self._rec_i = self._cseg_i, self._crec_i
        self._head = None
        self.held = 0
        self._confirmed = set()

    def _advance(self):
        mine = self._confirmed
        if not mine:
            return
        moved = False
        while True:
            r = self._next(False)
            if r is None or r[0] not in mine:
                break
            mine.discard(r[0])
            self._crec_i += 1
            self.acked = r[0]
            self.pending -= 1
            self.held -= 1
            self._unsaved += 1
            moved = True
        if moved and (self._unsaved >= MARK_EVERY or self.pending == 0 or self._crec_i >= SEG_RECORDS):
            self._save_mark()

    def _save_mark(self):
        if self.acked != self._saved_mark:
            write_atomic(self.dir + "acked", str(self.acked))
            self._saved_mark = self.acked
        self._unsaved = 0
        # Delete segments only now that the saved mark covers them.
        while self._segs:
            first, count, _ = self._segs[0]
            nxt = self._segs[1][0] if len(self._segs) > 1 else self.next_seq
            # Keep the segment being appended to until it is full: fewer files created.
            if nxt - 1 > self.acked or (len(self._segs) == 1 and count < SEG_RECORDS and self._segs[0][2]):
                break
            os.remove(self._seg_path(first))
            self._segs.pop(0)
            # Both cursors are at or past the mark: shift them with the list.
            if self._seg_i > 0:
                self._seg_i -= 1
            else:
                self._rec_i = 0
            if self._cseg_i > 0:
                self._cseg_i -= 1
            else:
                self._crec_i = 0


# -- time anchors: a tiny file, replaced atomically (recover.load_anchors() reads it at boot) --
def save_anchor(root, anchors, boot, up, utc, source):
    anchors[boot] = (up, utc, source)
    for old in sorted(anchors)[:-_ANCHORS_KEPT]:
        del anchors[old]
    saved = {}
    for k, v in anchors.items():
        saved[str(k)] = list(v)
    write_atomic(root + "ob/anchors", json.dumps(saved))
