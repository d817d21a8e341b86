# A non-blocking SNTP client (RFC 4330) polled from asyncio, and the box's NTP task. ntptime
# blocks the whole box for up to its timeout; here the poll loop keeps running while the answer
# is awaited. The app imports this module only until the boot's first anchor, then drops it.
import asyncio
import socket
import struct
import time

from micropython import const

_NTP_TO_UNIX_S = const(2208988800)  # 1900-01-01 to 1970-01-01
_POLL_MS = const(10)                # how often the socket is checked while waiting
_TIMEOUT_MS = const(1500)           # one query
_RETRY_MS = const(2000)             # first retry after a failed query; doubles up to _RETRY_MAX_MS
_RETRY_MAX_MS = const(600000)


def request(nonce):
    """48-byte client request; the nonce goes in the transmit timestamp, which the server must
    echo as 'originate': a stale or stray datagram is recognised and ignored."""
    pkt = bytearray(48)
    pkt[0] = 0x23  # LI 0, version 4, mode 3 (client)
    struct.pack_into("!II", pkt, 40, nonce[0], nonce[1])
    return pkt


def parse_reply(data, nonce):
    """(receive_ms, transmit_ms) of a valid server reply to our request, else None. Times are
    Unix UTC milliseconds."""
    if len(data) < 48:
        return None
    mode = data[0] & 7
    li = data[0] >> 6
    stratum = data[1]
    if mode != 4 or li == 3 or not 1 <= stratum <= 15:
        return None  # not a server answer, unsynchronised, or a kiss-o'-death
    o_s, o_f, r_s, r_f, t_s, t_f = struct.unpack_from("!IIIIII", data, 24)
    if o_s != nonce[0] or o_f != nonce[1]:
        return None
    return _ms(r_s, r_f), _ms(t_s, t_f)


def _ms(seconds, fraction):
    return (seconds - _NTP_TO_UNIX_S) * 1000 + ((fraction * 1000) >> 32)


def resolve(host, port):
    """The server's socket address. Blocks for the DNS lookup when host is a name (the only
    blocking step: an IP address in config.json avoids it). Raises OSError."""
    return socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]


async def query(addr, up, timeout_ms=1500):
    """Ask one SNTP server at addr (from resolve()). up: the caller's uptime function (ms).
    Returns (up_ms, utc_ms), an anchor pairing the box's uptime with UTC, or None on timeout or
    a bad answer. Never blocks the event loop. Raises OSError if the datagram cannot be sent."""
    import random
    nonce = (random.getrandbits(32), random.getrandbits(32))
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # IPv4, as the ESP32's Wi-Fi
    try:
        s.setblocking(False)
        sent_up = up()
        s.sendto(request(nonce), addr)
        start = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), start) < timeout_ms:
            try:
                data = s.recv(64)
            except OSError:  # EAGAIN: nothing yet
                await asyncio.sleep_ms(_POLL_MS)
                continue
            got_up = up()
            times = parse_reply(data, nonce)
            if times is None:
                continue
            # Network delay each way is taken as half the round trip less the server's own time.
            rtt = (got_up - sent_up) - max(0, times[1] - times[0])
            return got_up, times[1] + max(0, rtt) // 2
        return None
    finally:
        s.close()


async def run(box, task):
    """The box's NTP task: query box.ntp (host, port) until the boot has an anchor (from NTP or
    the collector's beacon), backing off; shows progress in box.alive[task] for the watchdog."""
    host, port = box.ntp
    addr = None
    delay = _RETRY_MS
    while not box.clock.anchored():
        box.alive[task] = time.ticks_ms()
        if not box.board.wifi_connected():
            await box.nap(1000, task)
            continue
        got = None
        try:
            if addr is None:
                addr = resolve(host, port)
            got = await query(addr, box.clock.up, _TIMEOUT_MS)
        except OSError as e:
            box.log("ntp: %r" % (e,))
        if got is not None:
            box.anchor("ntp", got[1], got[0])  # clock.SRC_NTP (not imported: see app.load)
            return
        box.log("ntp: no answer, retry in %d ms" % delay)
        await box.nap(delay, task)
        delay = min(delay * 2, _RETRY_MAX_MS)
