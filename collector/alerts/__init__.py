"""Alerts for supervisors: rules evaluated as presses are stored and on a timer, fired once and
cleared with hysteresis, stored, and delivered by e-mail, signed webhook and MQTT with retries.

- rules.py      what each rule watches and its thresholds per site, department and counter
- evaluate.py   the rules' state (in memory) and the hysteresis: which alerts fire and clear
- store.py      the alert and delivery rows
- mail.py, webhook.py, publish.py   one channel each
- deliver.py    due deliveries sent, failures retried with backoff
- service.py    the collector's alert thread: ties them together
"""
