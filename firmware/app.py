# The box: wires the button poll loop, the network loop, the NTP client and the watchdog.
# The poll loop never waits on the network: a press is in flash before anyone hears of it.
# No module-level state: one process can run many Box objects (the simulator's light mode), each
# with its own config, board and flash folder.
import asyncio
import time

import buttons
import feedback
import messages
import mqtt
import ntp
import outbox
from clock import Clock, SRC_NTP, SRC_SYNC, utc_from_anchor

try:
    import gc
    mem_free = gc.mem_free
except (ImportError, AttributeError):  # CPython (a host-side run of the firmware)
    def mem_free():
        return 0

E_FLASH = 9           # blink code: the flash (outbox) cannot be opened
WIFI_WAIT_MS = 20000  # give up one Wi-Fi attempt after this, then back off
IDLE_WAKE_MS = 1000   # the sender re-checks the outbox at least this often
WD_CHECK_MS = 1000    # the watchdog task looks at the other tasks this often
POLL_STALL_MS = 2000  # poll loop silent this long: stop feeding the watchdog
NET_STALL_MS = 120000  # longer than any bounded network step (a publish: 3 x (20 + 10) s at most)
NTP_TIMEOUT_MS = 1500
NTP_RETRY_MS = 2000   # first retry after a failed query; doubles up to NTP_RETRY_MAX_MS
NTP_RETRY_MAX_MS = 600000

WATCHDOG_ERROR_MS = 10000  # watchdog of a box blinking an error code (no config to ask)
POLL, NET, NTP = 0, 1, 2  # the supervised tasks


class Box:
    def __init__(self, cfg, board, root, log=print):
        """cfg: a validated config (config.validate; open_box() loads one from flash); board: the
        board module or an object with the same functions; root: the flash folder, ending with
        '/'. Opens the outbox: raises OSError/ValueError if the flash cannot be used."""
        self.cfg = cfg
        self.t = cfg["timings"]
        self.box = cfg["box"]
        self.board = board
        self.root = root
        self.log = log
        board.init(cfg["pins"])
        self.boot = outbox.next_boot(root)
        self.ob = outbox.Outbox(root)
        self.anchors = outbox.load_anchors(root)
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
        self.alive = [now, now, None]  # last sign of life of POLL, NET, NTP (None: not running)
        self.stall_ms = (POLL_STALL_MS, NET_STALL_MS, NET_STALL_MS)
        self.tasks = []

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
        self.alive[POLL] = now

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
            self.self_test(now)

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

    def self_test(self, now):
        # Technician gesture: LEDs and buzzer, a status line, and a test press end to end.
        self.fb.test(now)
        seq = self.store(self.clock.up(), self.cfg["levels"][0], outbox.FLAG_TEST)
        self.log("self-test: seq=%d wifi=%s broker=%s outbox=%d clock=%s err=%s" % (
            seq, self.board.wifi_connected(), self.online(), self.ob.pending, self.clock.source, self.err))

    def online(self):
        return self.client is not None and self.client.alive

    def show_status(self, now):
        p = feedback.ST_ONLINE  # type: tuple
        if self.stuck:
            p = feedback.ST_STUCK
        elif not self.board.wifi_connected():
            p = feedback.ST_NO_WIFI
        elif not self.online():
            p = feedback.ST_NO_BROKER
        self.fb.show_status(p, now)

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
        """Query NTP until this boot has an anchor (from NTP or the beacon), backing off."""
        server = self.ntp
        if server is None:
            return
        host, port = server
        addr = None
        delay = NTP_RETRY_MS
        try:
            while not self.clock.anchored():
                self.alive[NTP] = time.ticks_ms()
                if not self.board.wifi_connected():
                    await self.nap(1000, NTP)
                    continue
                got = None
                try:
                    if addr is None:
                        addr = ntp.resolve(host, port)
                    got = await ntp.query(addr, self.clock.up, NTP_TIMEOUT_MS)
                except OSError as e:
                    self.log("ntp: %r" % (e,))
                if got is not None:
                    self.anchor(SRC_NTP, got[1], got[0])
                    return
                self.log("ntp: no answer, retry in %d ms" % delay)
                await self.nap(delay, NTP)
                delay = min(delay * 2, NTP_RETRY_MAX_MS)
        finally:
            self.alive[NTP] = None

    def on_message(self, topic, payload):
        if topic == messages.CLOCK_TOPIC:
            utc = messages.parse_clock(payload)
            if utc is not None:
                self.anchor(SRC_SYNC, utc)
        else:
            self.log("cmd ignored:", topic)  # rating/{box}/cmd is reserved by the contract

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
    async def nap(self, ms, who=NET):
        # Sleep while telling the watchdog that this task is fine.
        end = time.ticks_add(time.ticks_ms(), ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            self.alive[who] = time.ticks_ms()
            await asyncio.sleep_ms(min(1000, max(1, time.ticks_diff(end, time.ticks_ms()))))

    async def net_loop(self):
        attempt = 0
        cap = self.t["backoff_max_s"] * 1000
        while True:
            self.alive[NET] = time.ticks_ms()
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
            while not board.wifi_connected() and waited < WIFI_WAIT_MS:
                await self.nap(250)
                waited += 250
            if not board.wifi_connected():
                self.error("wifi: no connection")
                return None
            self.log("wifi: up, rssi", board.wifi_rssi())
        self.show_status(time.ticks_ms())
        b = self.cfg["broker"]
        box = self.box
        will = (messages.topic(box, "presence"), messages.presence(box, self.cfg["counter"], self.boot, False),
                messages.QOS_PRESENCE, True)
        ssl = None
        if b["tls"]:
            ca = b.get("ca")
            ssl = mqtt.tls_context(self.root + ca if ca else None)
        self.client = c = mqtt.Client(box, b["host"], b["port"], b["username"], b["password"],
                                      self.t["keepalive_s"], will, ssl, self.on_message,
                                      ack_timeout_s=self.t["ack_timeout_s"])
        try:
            await c.connect()
            await c.subscribe(messages.CLOCK_TOPIC, 0)
            await c.subscribe(messages.topic(box, "cmd"), 1)
            await c.publish(messages.topic(box, "presence"),
                            messages.presence(box, self.cfg["counter"], self.boot, True), messages.QOS_PRESENCE, True)
        except mqtt.MQTTError as e:
            self.error("broker: %s" % (c.error or e))
            c.close()
            return None
        self.log("broker: connected to %s:%d" % (b["host"], b["port"]))
        self.show_status(time.ticks_ms())
        return c

    async def serve(self, c):
        """Send presses oldest first and heartbeats until the connection dies."""
        last_hb = None
        try:
            while c.alive:
                self.alive[NET] = time.ticks_ms()
                up = self.clock.up()
                if last_hb is None or up - last_hb >= self.t["heartbeat_s"] * 1000:
                    last_hb = up
                    await c.publish(messages.topic(self.box, "status"), self.status_json(), messages.QOS_STATUS)
                self.wake.clear()
                rec = self.ob.peek()
                when = self.press_time(rec) if rec else None
                if when is None:
                    try:
                        await asyncio.wait_for_ms(self.wake.wait(), IDLE_WAKE_MS)
                    except asyncio.TimeoutError:
                        pass
                    continue
                payload = messages.press(self.box, self.cfg["counter"], rec, self.cfg["scale"], when[0], when[1])
                await c.publish(messages.topic(self.box, "press"), payload, messages.QOS_PRESS)
                self.ob.ack(rec[0])
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
            await asyncio.sleep_ms(WD_CHECK_MS)

    async def main(self):
        """Run this box until cancelled."""
        self.start()
        await asyncio.Event().wait()


class BootError(Exception):
    def __init__(self, code, reason, pins):
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.pins = pins


def open_box(board, root, log=print):
    """Load and validate root/config.json and open the box on `board`: a Box ready to start(),
    or BootError(blink code, reason, pins to blink with)."""
    import config
    path = root + "config.json"
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        raise BootError(e.code, e.reason, config.pins_for_errors(path))
    try:
        box = Box(cfg, board, root, log)
    except (OSError, ValueError) as e:
        raise BootError(E_FLASH, "flash: %r" % (e,), cfg["pins"])
    # Validation is done: give the config module's heap back (~5 KB on the ESP32).
    import sys
    sys.modules.pop("config", None)
    return box


def blink_forever(code, pins, board):
    """A box that cannot work says why on its status LED, forever, without boot-looping."""
    try:
        board.init(pins)
    except Exception as e:
        print("board init failed:", repr(e))
    board.watchdog_start(WATCHDOG_ERROR_MS)
    led = feedback.Blinker(lambda on: board.set_led(1, on))
    led.play(feedback.error_code_pattern(code), time.ticks_ms(), repeat=True)
    while True:
        led.tick(time.ticks_ms())
        board.watchdog_feed()
        time.sleep_ms(20)


def run():
    """What main.py calls on the box: one Box on the board module and its flash."""
    import board
    print("rating box fw %s, board %s" % (messages.FW_VERSION, board.unique_id()))
    try:
        box = open_box(board, board.FLASH_ROOT)
    except BootError as e:
        print("%s error %d: %s" % ("flash" if e.code == E_FLASH else "config", e.code, e.reason))
        blink_forever(e.code, e.pins, board)
        return
    print("boot %d box %s counter %s reset %s outbox %d next seq %d" % (
        box.boot, box.box, box.cfg["counter"], box.reset_cause, box.ob.pending, box.ob.next_seq))
    asyncio.run(box.main())
