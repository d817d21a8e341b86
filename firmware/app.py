# The box: wires the button poll loop, the network loop, the NTP client and the watchdog.
# The poll loop never waits on the network: a press is in flash before anyone hears of it.
# One process can run many Box objects (the simulator's light mode), each with its own config,
# board and flash folder; the only module-level state is `current`, the Box that run() started.
import asyncio
import sys
import time

from micropython import const

import buttons
import feedback
import messages
import mqtt
import outbox
from clock import Clock, SRC_SYNC, utc_from_anchor

try:
    import gc
    mem_free = gc.mem_free
except (ImportError, AttributeError):  # CPython (a host-side run of the firmware)
    def mem_free():
        return 0

_WIFI_WAIT_MS = const(20000)     # give up one Wi-Fi attempt after this, then back off
_IDLE_WAKE_MS = const(1000)      # the sender re-checks the outbox at least this often
_WD_CHECK_MS = const(1000)       # the watchdog task looks at the other tasks this often
_POLL_STALL_MS = const(2000)     # poll loop silent this long: stop feeding the watchdog
_CONFIRM_WAIT_MAX_MS = const(600000)  # the wait for a confirmation doubles up to this while resending does not help
# Longer than any bounded network step (a publish: 3 x (20 + 10) s at most). A plain global:
# tests shorten it.
NET_STALL_MS = 120000

_POLL = const(0)  # the supervised tasks: indexes of Box.alive
_NET = const(1)
NTP = const(2)

current = None  # the Box run() started: `rating-tech check` reads it over the REPL after Ctrl-C


def load(name):
    """Import firmware module `name`, needed only for a while (the SNTP client until the anchor,
    TLS setup, the self-test, start-up, reading the flash back); drop(name) then gives its heap back.
    On CPython (the simulator's light mode) technician/firmware_loader.py answers the import."""
    return __import__(name)


def drop(name):
    sys.modules.pop(name, None)


class Box:
    def __init__(self, cfg, board, root, log=print):
        """cfg: a validated config (config.validate; startup.open_box() loads one); board: the
        board module or an object with the same functions; root: the flash folder, ending with
        '/'. Opens the outbox: raises OSError/ValueError if the flash cannot be used."""
        self.cfg = cfg
        self.t = cfg["timings"]
        self.box = cfg["box"]
        self.board = board
        self.root = root
        self.log = log
        board.init(cfg["pins"])
        rec = load("recover")  # reads the flash back: needed once per boot, dropped again
        self.boot = rec.next_boot(outbox, root)  # type: int
        self.ob = rec.open_outbox(outbox, root)  # type: outbox.Outbox
        self.anchors = rec.load_anchors(root)  # type: dict
        drop("recover")
        self.clock = Clock()
        self.deb = buttons.Debouncer(len(cfg["levels"]), self.t["debounce_ms"], self.t["stuck_ms"])
        self.lockout = buttons.Lockout(self.t["lockout_ms"])
        self.fb = feedback.Feedback(board)
        self.wake = asyncio.Event()  # set when the outbox or the clock changed
        self.client = None
        self.presses = 0
        self.err = None
        self.stuck = 0  # mask of buttons reported stuck and not yet released
        self.reset_cause = board.reset_cause()
        import config
        self.ntp = config.ntp_server(cfg["ntp"]) if cfg["ntp"] else None
        now = time.ticks_ms()
        self.alive = [now, now, None]  # last sign of life of _POLL, _NET, NTP (None: not running)
        self.stall_ms = (_POLL_STALL_MS, NET_STALL_MS, NET_STALL_MS)
        self.tasks = []
        self.confirm_since = now  # when the collector last confirmed, or the wait began
        self.confirm_wait = self.t["confirm_wait_s"] * 1000
        self.heard = False  # a message from the collector since boot: a new release keeps it (ota.trial)

    def error(self, text):
        self.err = text
        self.log("error:", text)

    # -- buttons ----------------------------------------------------------------------------
    async def poll_loop(self):
        poll_ms = self.t["poll_ms"]
        while True:
            self.poll_tick(time.ticks_ms())
            await asyncio.sleep_ms(poll_ms)

    def poll_tick(self, now):
        """One poll: read the contacts, handle events, advance the LEDs. Allocates nothing
        unless something happens."""
        deb = self.deb
        deb.update(self.board.read_buttons(), now)
        ev = deb.event()
        while ev != buttons.EV_NONE:
            self.on_button(ev, now)
            ev = deb.event()
        self.fb.tick(now)
        self.alive[_POLL] = now

    def on_button(self, ev, now):
        kind = ev & buttons.KIND_MASK
        i = ev & buttons.INDEX_MASK
        if kind == buttons.EV_PRESS:
            up = self.clock.up()
            counted = self.lockout.counts(up)
            level = self.cfg["levels"][i]
            seq = self.store(up, level, 0 if counted else outbox.FLAG_SUPPRESSED)
            if not seq:
                self.fb.refused(now)
            elif counted:
                self.fb.counted(now)
                self.log("press seq=%d level=%d" % (seq, level))
            else:
                self.fb.suppressed(now)
                self.log("press seq=%d level=%d suppressed" % (seq, level))
        elif kind == buttons.EV_CHORD:
            self.log("chord: two buttons at once, no rating")
        elif kind == buttons.EV_STUCK:
            self.stuck |= 1 << i
            self.error("button %d stuck" % i)
            self.show_status(now)
        elif kind == buttons.EV_RELEASE:
            self.log("release button=%d" % i)
            if self.stuck & (1 << i):
                self.stuck &= ~(1 << i)
                self.log("button %d released" % i)
                self.show_status(now)
        elif kind == buttons.EV_GESTURE:
            # The technician's self-test: a test press end to end, lights, buzzer, a status line.
            seq = self.store(self.clock.up(), self.cfg["levels"][0], outbox.FLAG_TEST)
            load("selftest").run(self, seq, now)
            drop("selftest")

    def store(self, up, level, flags):
        """Append a press to flash; its seq, or 0 if it was refused (outbox full or flash
        failure: the citizen is told 'not counted', nothing already stored is touched)."""
        self.presses += 1
        try:
            seq = self.ob.append(self.boot, up, level, flags)
        except outbox.OutboxFull:
            self.error("outbox full: press refused")
            return 0
        except OSError as e:
            self.error("flash: %r" % (e,))
            return 0
        self.wake.set()
        return seq

    def online(self):
        return self.client is not None and self.client.alive

    def show_status(self, now):
        self.fb.show_status(self.stuck, self.board.wifi_connected(), self.online(), now)

    # -- time anchor ----------------------------------------------------------------------
    def anchor(self, source, utc, up=None):
        if self.clock.set_anchor(source, utc, up):
            self.log("clock: anchored by %s" % source)
            try:
                outbox.save_anchor(self.root, self.anchors, self.boot, self.clock.anchor_up, utc, source)
            except OSError as e:
                self.error("flash: %r" % (e,))
            self.wake.set()

    async def ntp_loop(self):
        """Ask NTP until this boot has an anchor. The SNTP client is in flash only meanwhile."""
        if self.ntp is None:
            return
        try:
            await load("ntp").run(self, NTP)
        finally:
            self.alive[NTP] = None
            drop("ntp")

    def on_message(self, topic, payload):
        now = time.ticks_ms()
        if topic == messages.CLOCK_TOPIC:
            utc = messages.parse_clock(payload)
            if utc is not None:
                self.heard = True
                self.anchor(SRC_SYNC, utc)
                # The beacon says the collector is up. Presses it has not confirmed for a while were
                # lost on the way (a broker that restarted without its file, a collector that stopped
                # between its commit and its confirmation): send them again, less often each time.
                if self.ob.held and time.ticks_diff(now, self.confirm_since) > self.confirm_wait:
                    self.confirm_wait = min(2 * self.confirm_wait, _CONFIRM_WAIT_MAX_MS)
                    self.resend(now)
            return
        seqs = messages.parse_stored(payload)  # the only command topic this box subscribes to is its own
        if seqs is None:
            load("ota").command(self, payload)  # an update, or ignored; ota drops itself when done
            return
        self.heard = True
        mark = self.ob.acked
        gap = self.ob.confirm(seqs)
        if self.ob.acked != mark:
            self.confirm_since = now
            self.confirm_wait = self.t["confirm_wait_s"] * 1000
        if gap:
            # A later press is stored and an earlier one is not: it was lost after the broker's
            # PUBACK (or its confirmation was).
            self.resend(now)

    def resend(self, now):
        """Send again from the oldest press the collector has not confirmed."""
        self.log("resend from seq=%d" % (self.ob.acked + 1))
        self.ob.rewind()
        self.confirm_since = now
        self.wake.set()

    def press_time(self, rec):
        """(t, clock) for a stored press, or None to hold it until this boot has an anchor."""
        boot, up = rec[1], rec[2]
        if boot == self.boot:
            if self.clock.anchored():
                return self.clock.utc_at(up), self.clock.source
            wait = self.t["clock_wait_s"]
            if wait and self.clock.up() > wait * 1000:
                return None, "none"
            return None
        a = self.anchors.get(boot)
        if a is not None:
            return utc_from_anchor(a, up), a[2]
        return None, "none"

    # -- network --------------------------------------------------------------------------
    async def nap(self, ms, who=_NET):
        # Sleep while telling the watchdog that this task is fine.
        end = time.ticks_add(time.ticks_ms(), ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            self.alive[who] = time.ticks_ms()
            await asyncio.sleep_ms(min(1000, max(1, time.ticks_diff(end, time.ticks_ms()))))

    async def net_loop(self):
        attempt = 0
        cap = self.t["backoff_max_s"] * 1000
        while True:
            self.alive[_NET] = time.ticks_ms()
            c = await self.connect()
            if c is not None:
                attempt = 0
                await self.serve(c)
            self.show_status(time.ticks_ms())
            delay = mqtt.backoff_ms(attempt, cap)
            attempt += 1
            self.log("net: retry in %d ms" % delay)
            await self.nap(delay)

    async def connect(self):
        """Wi-Fi, broker, subscriptions, presence: the connected client, or None."""
        board = self.board
        w = self.cfg["wifi"]
        if not board.wifi_connected():
            self.log("wifi: connecting to", w["ssid"])
            board.wifi_connect(w["ssid"], w["password"])
            waited = 0
            while not board.wifi_connected() and waited < _WIFI_WAIT_MS:
                await self.nap(250)
                waited += 250
            if not board.wifi_connected():
                self.error("wifi: no connection")
                return None
            self.log("wifi: up, rssi", board.wifi_rssi())
        self.show_status(time.ticks_ms())
        b = self.cfg["broker"]
        box = self.box
        presence = messages.topic(box, "presence")
        will = (presence, messages.presence(box, self.cfg["counter"], self.boot, False), messages.QOS_PRESENCE, True)
        ssl = None
        if b["tls"]:
            ca = b.get("ca")
            ssl = load("mqtt_tls").context(self.root + ca if ca else None)
            drop("mqtt_tls")
        self.client = c = mqtt.Client(box, b["host"], b["port"], b["username"], b["password"],
                                      self.t["keepalive_s"], will, ssl, self.on_message,
                                      ack_timeout_s=self.t["ack_timeout_s"])
        try:
            await c.connect()
            await c.subscribe(messages.CLOCK_TOPIC, 0)
            await c.subscribe(messages.topic(box, "cmd"), 1)
            await c.publish(presence, messages.presence(box, self.cfg["counter"], self.boot, True),
                            messages.QOS_PRESENCE, True)
        except mqtt.MQTTError as e:
            self.error("broker: %s" % (c.error or e))
            c.close()
            return None
        self.log("broker: connected to %s:%d" % (b["host"], b["port"]))
        self.show_status(time.ticks_ms())
        return c

    async def serve(self, c):
        """Send presses oldest first and heartbeats until the connection dies. Every press not yet
        confirmed by the collector is sent again: whatever the broker held may be gone."""
        self.ob.rewind()
        last_hb = None
        try:
            while c.alive:
                self.alive[_NET] = time.ticks_ms()
                up = self.clock.up()
                if last_hb is None or up - last_hb >= self.t["heartbeat_s"] * 1000:
                    last_hb = up
                    await c.publish(messages.topic(self.box, "status"), self.status_json(), messages.QOS_STATUS)
                self.wake.clear()
                rec = self.ob.peek()
                when = self.press_time(rec) if rec else None
                if when is None:
                    try:
                        await asyncio.wait_for_ms(self.wake.wait(), _IDLE_WAKE_MS)
                    except asyncio.TimeoutError:
                        pass
                    continue
                payload = messages.press(self.box, self.cfg["counter"], rec, self.cfg["scale"], when[0], when[1])
                await c.publish(messages.topic(self.box, "press"), payload, messages.QOS_PRESS)
                self.ob.sent(rec[0])
                if self.ob.held == 1:  # the first press waiting for the collector's confirmation
                    self.confirm_since = time.ticks_ms()
                self.log("sent seq=%d" % rec[0])
        except mqtt.MQTTError:
            pass
        c.close()
        self.error("broker: connection lost (%s)" % c.error)

    def status_json(self):
        return messages.status(self.box, self.cfg["counter"], self.boot, self.clock.up(), self.reset_cause,
                               self.board.wifi_rssi(), mem_free(), self.ob.pending, self.presses,
                               self.clock.source, self.err)

    # -- supervision ----------------------------------------------------------------------
    def stalled(self, now):
        """Index of a task that has made no progress for too long, or -1."""
        for i in range(len(self.alive)):
            seen = self.alive[i]
            if seen is not None and time.ticks_diff(now, seen) >= self.stall_ms[i]:
                return i
        return -1

    def start(self):
        """Start the box's tasks on the running event loop (many boxes can share one)."""
        self.board.watchdog_start(self.t["watchdog_ms"])
        self.tasks = [asyncio.create_task(self.poll_loop()), asyncio.create_task(self.net_loop())]
        if self.ntp:
            self.alive[NTP] = time.ticks_ms()
            self.tasks.append(asyncio.create_task(self.ntp_loop()))
        self.tasks.append(asyncio.create_task(self.watchdog_loop()))

    def stop(self):
        """Cancel the tasks and drop the connection (no DISCONNECT: the broker sends the will)."""
        for t in self.tasks:
            t.cancel()
        self.tasks = []
        if self.client is not None:
            self.client.close("stopped")

    async def watchdog_loop(self):
        told = False
        while True:
            # Fed only while every task makes progress: a hung task resets the box.
            if self.stalled(time.ticks_ms()) < 0:
                self.board.watchdog_feed()
                told = False
            elif not told:
                told = True
                self.log("watchdog: a task is stuck, reset coming")
            self.clock.up()  # keep the uptime sum ahead of the 2**30 tick wrap
            await asyncio.sleep_ms(_WD_CHECK_MS)

    async def main(self, trial=False):
        """Run this box until cancelled. trial: the first boots of a new release (main.py), which
        ota.trial keeps or rolls back."""
        self.start()
        if trial:
            await load("ota").trial(self)
            drop("ota")
        await asyncio.Event().wait()


def run(trial=False):
    """What main.py calls on the box: one Box on the board module and its flash. Start-up (the
    config, or the blink code of an error, forever) is in startup.py, dropped once it is done.
    trial: this release is new and on trial (main.py)."""
    global current
    import board
    current = load("startup").boot(board)
    drop("startup")
    asyncio.run(current.main(trial))
