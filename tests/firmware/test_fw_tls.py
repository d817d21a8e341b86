"""The MQTT client over TLS (config broker.tls) against a Mosquitto TLS listener with a throwaway CA."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fwtools import BOX_PASSWORDS, mp_json

from collector.broker import mosquitto_binary, set_passwords, wait_for_port
from tests.conftest import unused_port


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def tls_broker() -> Iterator[tuple[int, Path]]:
    # make test installs it (scripts/system-packages.sh): a missing tool fails, it does not hide tests
    assert shutil.which("openssl"), "openssl is not installed (apt-get install openssl)"
    top = Path(tempfile.mkdtemp(prefix="fw-tls-"))
    os.chmod(top, 0o755)
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        cwd=top,
    )
    _openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "srv.key",
        "-out",
        "srv.csr",
        "-subj",
        "/CN=localhost",
        cwd=top,
    )
    (top / "ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _openssl(
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.pem",
        "-days",
        "2",
        "-extfile",
        "ext",
        cwd=top,
    )
    for f in top.iterdir():
        os.chmod(f, 0o644)  # mosquitto drops to its own user
    set_passwords(top, BOX_PASSWORDS)
    os.chmod(top / "passwd", 0o644)
    port = unused_port()
    conf = top / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {top}/passwd\n"
        f"cafile {top}/ca.pem\ncertfile {top}/srv.pem\nkeyfile {top}/srv.key\n"
    )
    proc = subprocess.Popen(
        [mosquitto_binary(), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, 10)
        yield port, top / "ca.pem"
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(top, ignore_errors=True)


TLS = r"""
import asyncio, json, sys, mp_helpers, mqtt, mqtt_tls
P = json.load(open(sys.argv[1]))
async def main():
    c = mqtt.Client("box-017", "localhost", P["port"], "box-017", P["password"],
                    ssl=mqtt_tls.context(P["ca"]))
    await c.connect()
    await c.publish("rating/box-017/press", "over tls", 1)
    await mp_helpers.disconnect(c)
    return "acked"
try:
    print(json.dumps(asyncio.run(main())))
except mqtt.MQTTError as e:
    print(json.dumps("error: " + str(e)))
"""


def test_qos1_over_tls_verified_by_ca(tls_broker: tuple[int, Path], tmp_path: Path) -> None:
    port, ca = tls_broker
    assert mp_json(TLS, data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": str(ca)}) == "acked"
    # unverified (no ca configured) still encrypts and works
    assert mp_json(TLS, data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": None}) == "acked"


def test_tls_rejects_a_broker_signed_by_another_ca(tls_broker: tuple[int, Path], tmp_path: Path) -> None:
    port, _ = tls_broker
    _openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "o.key",
        "-out",
        "other.pem",
        "-days",
        "2",
        "-subj",
        "/CN=other-ca",
        cwd=tmp_path,
    )
    res = mp_json(
        TLS, data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": str(tmp_path / "other.pem")}
    )
    assert res.startswith("error: ")  # the handshake fails on the first write: no CONNECT goes out
