# A small asyncio MQTT 3.1.1 client. The frozen umqtt blocks forever on a lost PUBACK and never
# pings; here every network step has a timeout, a silent broker is detected by keepalive, and
# anything malformed from the broker drops the connection (the app reconnects with backoff).
# It never sends DISCONNECT: a box does not leave on purpose, and when it goes the broker must
# publish its last will ("offline").
import asyncio
import random
import struct
import time

from micropython import const

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DUP = const(0x08)

_MAX_INCOMING = const(4096)     # clock beacons and commands are tiny; anything larger is an error
_BACKOFF_FIRST_MS = const(1000)
_BACKOFF_CAP_MS = const(60000)


class MQTTError(Exception):
    pass


def backoff_ms(attempt, cap_ms=_BACKOFF_CAP_MS):
    """Delay before reconnect attempt `attempt` (0 = first retry): exponential, capped (60 s by
    default), with jitter so that 60 boxes coming back after an outage do not hit the broker
    together."""
    d = cap_ms if attempt >= 16 else min(cap_ms, _BACKOFF_FIRST_MS << attempt)
    half = d // 2
    return half + random.getrandbits(16) % (half + 1)


def _varlen(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | 0x80 if n else b)
        if not n:
            return out


def _str(s):
    if isinstance(s, str):
        s = s.encode()
    return struct.pack("!H", len(s)) + s


def _packet(first, body):
    return bytearray([first]) + _varlen(len(body)) + body


class Client:
    def __init__(self, client_id, host, port, user, password, keepalive_s=30, will=None,
                 ssl=None, on_message=None, timeout_s=10, ack_timeout_s=5, retries=2):
        """will: (topic, payload, qos, retain) or None. on_message(topic, payload) gets str, bytes."""
        self.host = host
        self.port = port
        self.keepalive_s = keepalive_s
        self.ssl = ssl
        self.on_message = on_message
        self.timeout_ms = timeout_s * 1000
        self.ack_timeout_ms = ack_timeout_s * 1000
        self.retries = retries  # resends (with DUP) of an unacknowledged QoS 1 publish
        # CONNECT: clean session, user name, password, the will if any. Sent once: a Client makes one
        # connection (the box makes a new Client for each), so its ~100 bytes are let go once sent.
        flags = 0x02 | 0x80 | 0x40
        payload = _str(client_id)
        if will:
            topic, msg, qos, retain = will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _str(topic) + _str(msg)
        payload += _str(user) + _str(password)
        self._hello = _packet(_CONNECT, _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive_s) + payload)
        self.alive = False
        self.error = None       # why the last connection ended
        self.closed = asyncio.Event()
        self._reader = None
        self._writer = None
        self._sending = None    # the Event of the packet being written, if any
        self._tasks = []
        self._waiting = {}      # packet id -> Event, for PUBACK/SUBACK
        self._done = set()      # packet ids acknowledged
        self._pid = 0
        self._last_rx = time.ticks_ms()

    # -- connection -----------------------------------------------------------------------
    async def connect(self):
        hello, self._hello = self._hello, None
        if hello is None:
            raise MQTTError("a Client connects once")
        kind, body = 0, b""
        try:
            if self.ssl is not None:
                coro = asyncio.open_connection(self.host, self.port, ssl=self.ssl, server_hostname=self.host)
            else:
                coro = asyncio.open_connection(self.host, self.port)
            self._reader, self._writer = await asyncio.wait_for_ms(coro, self.timeout_ms)
            self.alive = True
            await self._send(hello)
            kind, body = await asyncio.wait_for_ms(self._read_packet(), self.timeout_ms)
        except MQTTError:
            self.close("connect failed")
            raise
        except Exception as e:
            self.close("connect: %r" % (e,))
            raise MQTTError("connect: %r" % (e,))
        if kind != _CONNACK or len(body) != 2:
            self.close("no CONNACK")
            raise MQTTError("expected CONNACK")
        if body[1]:
            # 4 = bad user name or password, 5 = not authorised
            self.close("refused rc=%d" % body[1])
            raise MQTTError("connection refused, rc=%d" % body[1])
        self._last_rx = time.ticks_ms()
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._ping_loop())]

    def close(self, reason=None):
        """Drop the connection now (idempotent). Waiting publishers wake up and fail."""
        if reason and self.error is None:
            self.error = reason
        if not self.alive and self._writer is None:
            return
        self.alive = False
        me = asyncio.current_task()
        for t in self._tasks:
            if t is not me:
                t.cancel()
        self._tasks = []
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        self._writer = None
        self._reader = None
        for ev in self._waiting.values():
            ev.set()
        self.closed.set()

    # -- sending --------------------------------------------------------------------------
    async def _send(self, pkt):
        # One packet at a time: publish, the read loop's PUBACK and the ping loop share the stream,
        # and a MicroPython stream takes one writer; bytes written while another task drains are
        # lost or sent twice. The packet being written holds an Event that the next waits for: an
        # asyncio.Lock would do the same, but importing it takes 0.7 KB of the heap budget.
        while self._sending is not None:
            await self._sending.wait()
        self._sending = sent = asyncio.Event()
        try:
            if not self.alive or self._writer is None:
                raise MQTTError("not connected")
            w = self._writer
            try:
                w.write(pkt)
                await asyncio.wait_for_ms(w.drain(), self.timeout_ms)
            except Exception as e:
                self.close("send: %r" % (e,))
                raise MQTTError("send failed")
        finally:
            self._sending = None
            sent.set()

    def _next_pid(self):
        while True:
            self._pid = self._pid % 65535 + 1
            if self._pid not in self._waiting:
                return self._pid

    async def publish(self, topic, payload, qos=0, retain=False):
        """QoS 0: returns once written. QoS 1: returns once PUBACKed; resends with DUP after
        ack_timeout, and raises MQTTError (dropping the connection) if no PUBACK ever comes."""
        first = _PUBLISH | (qos << 1) | (1 if retain else 0)
        if isinstance(payload, str):
            payload = payload.encode()
        if not qos:
            await self._send(_packet(first, _str(topic) + payload))
            return
        pid = self._next_pid()
        pkt = _packet(first, _str(topic) + struct.pack("!H", pid) + payload)
        await self._await_ack(pid, pkt, self.retries)

    async def subscribe(self, topic, qos=0):
        pid = self._next_pid()
        body = struct.pack("!H", pid) + _str(topic) + bytes([qos])
        await self._await_ack(pid, _packet(_SUBSCRIBE, body), 0)

    async def _await_ack(self, pid, pkt, resends):
        ev = asyncio.Event()
        self._waiting[pid] = ev
        try:
            for attempt in range(resends + 1):
                if attempt:
                    pkt[0] |= _DUP
                await self._send(pkt)
                try:
                    await asyncio.wait_for_ms(ev.wait(), self.ack_timeout_ms)
                except asyncio.TimeoutError:
                    continue
                if pid in self._done:
                    return
                raise MQTTError("connection lost")
            self.close("no ack for packet %d" % pid)
            raise MQTTError("no ack")
        finally:
            self._waiting.pop(pid, None)
            self._done.discard(pid)

    # -- receiving ------------------------------------------------------------------------
    async def _read_packet(self):
        r = self._reader
        if r is None:
            raise MQTTError("not connected")
        head = await r.readexactly(1)
        n = 0
        for shift in (0, 7, 14, 21):
            b = (await r.readexactly(1))[0]
            n |= (b & 0x7F) << shift
            if not b & 0x80:
                break
        else:
            raise MQTTError("bad remaining length")
        if n > _MAX_INCOMING:
            raise MQTTError("packet too large")
        body = await r.readexactly(n) if n else b""
        return head[0], body

    async def _read_loop(self):
        try:
            while True:
                first, body = await self._read_packet()
                self._last_rx = time.ticks_ms()
                await self._dispatch(first, body)
        except asyncio.CancelledError:
            raise
        except Exception as e:
            self.close("read: %r" % (e,))

    async def _dispatch(self, first, body):
        kind = first & 0xF0
        if kind in (_PUBACK, _SUBACK) and len(body) >= 2:
            if kind == _PUBACK and (first != _PUBACK or len(body) != 2):
                raise MQTTError("bad PUBACK")
            pid = (body[0] << 8) | body[1]
            ev = self._waiting.get(pid)
            if ev is not None:
                if kind == _SUBACK and (len(body) != 3 or body[2] & 0x80):
                    raise MQTTError("subscription refused")
                self._done.add(pid)
                ev.set()
        elif first == _PINGRESP and not body:
            pass
        elif kind == _PUBLISH:
            qos = (first >> 1) & 3
            if qos > 1 or len(body) < 2:
                raise MQTTError("bad PUBLISH")
            tlen = (body[0] << 8) | body[1]
            pos = 2 + tlen
            if pos + (2 if qos else 0) > len(body):
                raise MQTTError("bad PUBLISH topic")
            topic = str(body[2:pos], "utf-8")
            if qos:
                await self._send(bytearray([_PUBACK, 2]) + body[pos:pos + 2])
                pos += 2
            if self.on_message is not None:
                try:
                    self.on_message(topic, body[pos:])
                except Exception as e:  # a handler's bug must not look like a broker error
                    print("mqtt: handler error", repr(e))
        else:
            raise MQTTError("unexpected packet 0x%02x" % first)

    async def _ping_loop(self):
        # Ping every half keepalive; a broker silent for 1.5 keepalives is gone.
        half = self.keepalive_s * 500
        while self.alive:
            await asyncio.sleep_ms(half)
            if time.ticks_diff(time.ticks_ms(), self._last_rx) > 3 * half:
                self.close("keepalive timeout")
                return
            try:
                await self._send(bytearray([_PINGREQ, 0]))
            except MQTTError:
                return
