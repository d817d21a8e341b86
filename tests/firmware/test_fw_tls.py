"""The MQTT client over TLS (config broker.tls) against a Mosquitto TLS listener with a throwaway CA."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.broker import BrokerError, mosquitto_binary, refuse_busy_port, set_passwords
from tests.helpers.firmware import BOX_PASSWORDS, mp_json
from tests.helpers.ports import PortTaken, on_a_free_port, port_taken


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
    log = top / "mosquitto.log"

    def start(port: int) -> subprocess.Popen[bytes]:
        """Mosquitto cannot bind port 0 and say which it got: on a port taken before it bound it,
        PortTaken, and on_a_free_port tries another."""
        conf = top / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {top}/passwd\n"
            f"cafile {top}/ca.pem\ncertfile {top}/srv.pem\nkeyfile {top}/srv.key\n"
        )
        try:
            refuse_busy_port("127.0.0.1", port, "MQTT over TLS")
        except BrokerError as error:
            raise PortTaken(str(error)) from None
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [mosquitto_binary(), "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 10
        while proc.poll() is None and time.monotonic() < deadline:
            # Logged once every listener is bound (a lost bind logs "Address already in use" and exits).
            if re.search(r"mosquitto version \S+ running", log.read_text(errors="replace")):
                return proc
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        said = log.read_text(errors="replace")
        if port_taken(port, said):
            raise PortTaken(said)
        pytest.fail(f"mosquitto (TLS) did not start on port {port}:\n{said}")

    proc = None
    try:
        port, proc = on_a_free_port(lambda p: (p, start(p)))
        yield port, top / "ca.pem"
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(top, ignore_errors=True)


def test_qos1_over_tls_verified_by_ca(tls_broker: tuple[int, Path], tmp_path: Path) -> None:
    port, ca = tls_broker
    assert mp_json("tls_publish.py", data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": str(ca)}) == "acked"
    # unverified (no ca configured) still encrypts and works
    assert mp_json("tls_publish.py", data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": None}) == "acked"


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
        "tls_publish.py", data={"port": port, "password": BOX_PASSWORDS["box-017"], "ca": str(tmp_path / "other.pem")}
    )
    assert res.startswith("error: ")  # the handshake fails on the first write: no CONNECT goes out
