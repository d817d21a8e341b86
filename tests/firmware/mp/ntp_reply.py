# A reply to another request than ours is ignored.
# (run by tests/firmware/test_fw_ntp.py::test_reply_to_another_request_is_ignored)
import json

import ntp

reply = bytearray(48)
reply[0] = 0x24
reply[1] = 2
reply[24:32] = bytes(range(8))
ours = ntp.request((1, 2))
print(
    json.dumps(
        [
            ntp.parse_reply(reply, (1, 2)),
            ntp.parse_reply(reply, (0x00010203, 0x04050607)) is not None,
            list(ours[40:48]),
            ours[0],
        ]
    )
)
