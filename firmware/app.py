# The box: wires the button poll loop, the network loop and the watchdog together.
# The poll loop never waits on the network: a press is in flash before anyone hears of it.
import asyncio
import gc
import time

import board
import buttons
import config
import feedback
import messages
import mqtt
import outbox
from clock import Clock, SRC_NTP, SRC_SYNC, utc_from_anchor

E_FLASH = 9           # blink code: the flash (outbox) cannot be opened
WIFI_WAIT_MS = 20000  # give up one Wi-Fi attempt after this, then back off
IDLE_WAKE_MS = 1000   # the sender re-checks the outbox at least this often
WD_CHECK_MS = 1000    # the watchdog task looks at the other tasks this often
POLL_STALL_MS = 2000  # poll loop silent this long: stop feeding the watchdog
NET_STALL_MS = 120000  # longer than any bounded network step (publish retries: 45 s)


def log(*args):
    print(*args)


class App:
    def __init__(self, cfg, boot, ob, anchors):
        self.cfg = cfg
        self.t = cfg["timings"]
        self.box = cfg["box"]
        self.boot = boot
        self.ob = ob
        self.anchors = anchors
        self.root = board.FLASH_ROOT
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
        now = time.ticks_ms()
        self._alive_poll = now
        self._alive_net = now
        self._next_ntp = 0  # uptime of the next NTP attempt

    def error(self, text):
        self.err = text
        log("error:", text)

    # -- buttons ----------------------------------------------------------------------------
    async def poll_loop(self):
        deb = self.deb
        poll_ms = self.t["poll_ms"]
        while True:
            now = time.ticks_ms()
            deb.update(board.read_buttons(), now)
            ev = deb.event()
            while ev != buttons.EV_NONE:
                self.on_button(ev, now)
                ev = deb.event()
            self.fb.tick(now)
            self._alive_poll = now
            await asyncio.sleep_ms(poll_ms)

    def on_button(self, ev, now):
        kind = ev & buttons.KIND_MASK
        i = ev & buttons.INDEX_MASK
        if kind == buttons.EV_PRESS:
            up = self.clock.up()
            counted = self.lockout.counts(up)
            level = self.cfg["levels"][i]
            seq = self.store(up, level, 0 if counted else outbox.FLAG_SUPPRESSED)
            if seq and counted:
                self.fb.counted(now)
                log("press seq=%d level=%d" % (seq, level))
            else:
                self.fb.suppressed(now)
                if seq:
                    log("press seq=%d level=%d suppressed" % (seq, level))
        elif kind == buttons.EV_CHORD:
            log("chord: two buttons at once, no rating")
        elif kind == buttons.EV_STUCK:
            self.stuck |= 1 << i
            self.error("button %d stuck" % i)
            self.show_status(now)
        elif kind == buttons.EV_RELEASE:
            log("release button=%d" % i)
            if self.stuck & (1 << i):
                self.stuck &= ~(1 << i)
                log("button %d released" % i)
                self.show_status(now)
        elif kind == buttons.EV_GESTURE:
            self.self_test(now)

    def store(self, up, level, flags):
        """Append a press to flash; its seq, or 0 if flash failed (no 'counted' feedback then)."""
        try:
            seq = self.ob.append(self.boot, up, level, flags)
        except OSError as e:
            self.error("flash: %r" % (e,))
            return 0
        self.presses += 1
        self.wake.set()
        return seq

    def self_test(self, now):
        # Technician gesture: LEDs and buzzer, a status line, and a test press end to end.
        self.fb.test(now)
        seq = self.store(self.clock.up(), self.cfg["levels"][0], outbox.FLAG_TEST)
        log("self-test: seq=%d wifi=%s broker=%s outbox=%d clock=%s err=%s" % (
            seq, board.wifi_connected(), self.online(), self.ob.pending, self.clock.source, self.err))

    def online(self):
        return self.client is not None and self.client.alive

    def show_status(self, now):
        p = feedback.ST_ONLINE  # type: tuple
        if self.stuck:
            p = feedback.ST_STUCK
        elif not board.wifi_connected():
            p = feedback.ST_NO_WIFI
        elif not self.online():
            p = feedback.ST_NO_BROKER
        self.fb.show_status(p, now)

    # -- time anchor ----------------------------------------------------------------------
    def anchor(self, source, utc, up=None):
        if self.clock.set_anchor(source, utc, up):
            log("clock: anchored by %s" % source)
            try:
                outbox.save_anchor(self.root, self.anchors, self.boot, self.clock.anchor_up, utc, source)
            except OSError as e:
                self.error("flash: %r" % (e,))
            self.wake.set()

    def try_ntp(self):
        host = self.cfg["ntp"]
        if not host or self.clock.anchored() or self.clock.up() < self._next_ntp:
            return
        # Blocks up to ~1 s (ntptime is synchronous): only until the first success.
        before = self.clock.up()
        utc = board.ntp_utc_ms(host)
        after = self.clock.up()
        if utc is None:
            self._next_ntp = after + 60000
            return
        self.anchor(SRC_NTP, utc, (before + after) // 2)

    def on_message(self, topic, payload):
        if topic == messages.CLOCK_TOPIC:
            utc = messages.parse_clock(payload)
            if utc is not None:
                self.anchor(SRC_SYNC, utc)
        else:
            log("cmd ignored:", topic)  # rating/{box}/cmd is reserved by the contract

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
    async def nap(self, ms):
        # Sleep while telling the watchdog that this task is fine.
        end = time.ticks_add(time.ticks_ms(), ms)
        while time.ticks_diff(end, time.ticks_ms()) > 0:
            self._alive_net = time.ticks_ms()
            await asyncio.sleep_ms(min(1000, max(1, time.ticks_diff(end, time.ticks_ms()))))

    async def net_loop(self):
        attempt = 0
        while True:
            self._alive_net = time.ticks_ms()
            c = await self.connect()
            if c is not None:
                attempt = 0
                await self.serve(c)
            self.show_status(time.ticks_ms())
            delay = mqtt.backoff_ms(attempt)
            attempt += 1
            log("net: retry in %d ms" % delay)
            await self.nap(delay)

    async def connect(self):
        """Wi-Fi, NTP, broker, subscriptions, presence: the connected client, or None."""
        w = self.cfg["wifi"]
        if not board.wifi_connected():
            log("wifi: connecting to", w["ssid"])
            board.wifi_connect(w["ssid"], w["password"])
            waited = 0
            while not board.wifi_connected() and waited < WIFI_WAIT_MS:
                await self.nap(250)
                waited += 250
            if not board.wifi_connected():
                self.error("wifi: no connection")
                return None
            log("wifi: up, rssi", board.wifi_rssi())
        self.show_status(time.ticks_ms())
        self.try_ntp()
        b = self.cfg["broker"]
        box = self.box
        will = (messages.topic(box, "presence"), messages.presence(box, self.cfg["counter"], self.boot, False),
                messages.QOS_PRESENCE, True)
        ssl = None
        if b["tls"]:
            ca = b.get("ca")
            ssl = mqtt.tls_context(self.root + ca if ca else None)
        self.client = c = mqtt.Client(box, b["host"], b["port"], b["username"], b["password"],
                                      self.t["keepalive_s"], will, ssl, self.on_message)
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
        log("broker: connected to %s:%d" % (b["host"], b["port"]))
        self.show_status(time.ticks_ms())
        return c

    async def serve(self, c):
        """Send presses oldest first and heartbeats until the connection dies."""
        last_hb = None
        try:
            while c.alive:
                self._alive_net = time.ticks_ms()
                up = self.clock.up()
                if last_hb is None or up - last_hb >= self.t["heartbeat_s"] * 1000:
                    last_hb = up
                    await c.publish(messages.topic(self.box, "status"), self.status_json(), messages.QOS_STATUS)
                self.try_ntp()
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
                log("sent seq=%d" % rec[0])
        except mqtt.MQTTError:
            pass
        c.close()
        self.error("broker: connection lost (%s)" % c.error)

    def status_json(self):
        return messages.status(self.box, self.cfg["counter"], self.boot, self.clock.up(), self.reset_cause,
                               board.wifi_rssi(), gc.mem_free(), self.ob.pending, self.presses,
                               self.clock.source, self.err)

    # -- supervision ----------------------------------------------------------------------
    async def main(self):
        board.watchdog_start(self.t["watchdog_ms"])
        asyncio.create_task(self.poll_loop())
        asyncio.create_task(self.net_loop())
        told = False
        while True:
            now = time.ticks_ms()
            # Fed only while every task makes progress: a hung task resets the box.
            if time.ticks_diff(now, self._alive_poll) < POLL_STALL_MS and \
                    time.ticks_diff(now, self._alive_net) < NET_STALL_MS:
                board.watchdog_feed()
                told = False
            elif not told:
                told = True
                log("watchdog: a task is stuck, reset coming")
            self.clock.up()  # keep the uptime sum ahead of the 2**30 tick wrap
            await asyncio.sleep_ms(WD_CHECK_MS)


def blink_forever(code, pins):
    """A box that cannot work says why on its status LED, forever, without boot-looping."""
    try:
        board.init(pins)
    except Exception as e:
        log("board init failed:", repr(e))
    board.watchdog_start(config.TIMING_DEFAULTS["watchdog_ms"])
    led = feedback.Blinker(lambda on: board.set_led(1, on))
    led.play(feedback.error_code_pattern(code), time.ticks_ms(), repeat=True)
    while True:
        led.tick(time.ticks_ms())
        board.watchdog_feed()
        time.sleep_ms(20)


def run():
    log("rating box fw %s, board %s" % (messages.FW_VERSION, board.unique_id()))
    path = board.FLASH_ROOT + "config.json"
    try:
        cfg = config.load(path)
    except config.ConfigError as e:
        log("config error %d: %s" % (e.code, e.reason))
        blink_forever(e.code, config.pins_for_errors(path))
        return
    board.init(cfg["pins"])
    try:
        boot = outbox.next_boot(board.FLASH_ROOT)
        ob = outbox.Outbox(board.FLASH_ROOT)
        anchors = outbox.load_anchors(board.FLASH_ROOT)
    except (OSError, ValueError) as e:
        log("flash error %d: %r" % (E_FLASH, e))
        blink_forever(E_FLASH, cfg["pins"])
        return
    log("boot %d box %s counter %s reset %s outbox %d next seq %d" % (
        boot, cfg["box"], cfg["counter"], board.reset_cause(), ob.pending, ob.next_seq))
    asyncio.run(App(cfg, boot, ob, anchors).main())
