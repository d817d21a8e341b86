# Backoff is exponential, jittered and capped.
# (run by tests/firmware/test_fw_mqtt.py::test_backoff_is_exponential_jittered_and_capped)
import json

import mqtt

print(json.dumps([[mqtt.backoff_ms(a) for _ in range(50)] for a in range(12)]))
