# The forms of config.json's "ntp".
# (run by tests/firmware/test_fw_config.py::test_ntp_server_forms)
import json

import config

print(json.dumps([list(config.ntp_server(s)) for s in ("pool.ntp.org", "10.0.0.1:1123", "127.0.0.1:123")]))
