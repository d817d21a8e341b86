"""Prometheus metrics of the collector (served on /metrics, behind a token)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RECEIVED = Counter("rating_messages_received_total", "MQTT messages received", ["kind"])
STORED = Counter("rating_presses_stored_total", "Presses stored (first time their key was seen)")
DUPLICATES = Counter("rating_presses_duplicate_total", "Presses whose (box, seq) was already stored")
REJECTED = Counter("rating_messages_rejected_total", "Messages rejected, by reason", ["reason"])
BATCH_SIZE = Histogram(
    "rating_batch_size", "Messages per committed batch", buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
)
COMMIT_SECONDS = Histogram(
    "rating_commit_seconds",
    "Time to write and commit one batch",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
DB_RETRIES = Counter("rating_db_retries_total", "Batches retried because the database failed")
QUEUE_DEPTH = Gauge("rating_queue_depth", "Messages received and not yet committed")
MQTT_CONNECTED = Gauge("rating_mqtt_connected", "1 when connected to the broker")
DEVICES_ONLINE = Gauge("rating_devices_online", "Boxes whose last presence/status says online")
REJECTIONS_RECORDED = Gauge(
    "rating_rejections_recorded", "Rejected messages ever recorded in the database, per box and reason", ["box", "reason"]
)
INGEST_STALLED_SECONDS = Gauge(
    "rating_ingest_stalled_seconds", "How long messages have waited with nothing committed (0: ingest flows)"
)
