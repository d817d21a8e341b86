# Payloads built by firmware/messages.py.
# (run by tests/firmware/test_fw_messages.py)
import json

import messages

B, C = "box-017", "17"
T = 1795000000000
out = {
    "press": [
        messages.press(B, C, (1, 1, 0, 0, 0), "sat2", T, "sync"),
        messages.press(
            B, C, (4294967295, 2147483647, 9007199254740991, 3, 3), "smiley4", 4102444800000, "ntp"
        ),
        messages.press(B, C, (7, 3, 5000, 1, 1), "vn3", T + 5, "sync"),
        messages.press(B, C, (8, 3, 6000, 1, 2), "vn3", T + 6, "ntp"),
        messages.press(B, C, (9, 2, 7000, 0, 0), "sat2", None, "sync"),  # t unknown: clock none
    ],
    "status": [
        messages.status(B, C, 1, 0, "power_on", None, 0, 0, 0, "none", None),
        messages.status(B, C, 12, 86400000, "watchdog", -67, 80000, 12, 340, "sync", "x" * 500),
    ],
    "presence": [
        messages.presence(B, C, 1, True),
        messages.presence(B, C, 1, False),
    ],
    "topics": [messages.topic(B, k) for k in ("press", "status", "presence", "cmd")] + [messages.CLOCK_TOPIC],
    "clock": [
        messages.parse_clock(p)
        for p in (
            '{"v": 1, "t": 1795000000000}',
            '{"v": 2, "t": 1795000000000}',
            '{"v": 1, "t": 12}',
            '{"v": 1, "t": true}',
            '{"v": 1}',
            "garbage",
            "[]",
        )
    ],
}
print(json.dumps(out))
