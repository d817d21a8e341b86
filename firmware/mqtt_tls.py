# TLS for the broker connection. Imported by the app only while it connects with broker.tls
# set, then dropped: most boxes never use it.
import ssl


def _der(path):
    # MicroPython's mbedtls wants DER; technicians get PEM files. Accept both (first cert of a PEM).
    with open(path, "rb") as f:
        data = f.read()
    if not data.startswith(b"-----BEGIN"):
        return data
    import binascii
    lines = data.split(b"\n")
    body = b""
    for line in lines[1:]:
        if line.startswith(b"-----END"):
            break
        body += line.strip()
    return binascii.a2b_base64(body)


def context(ca_path):
    """TLS for the broker connection; verifies the broker against ca_path when given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if ca_path:
        ctx.load_verify_locations(cadata=_der(ca_path))
        ctx.verify_mode = ssl.CERT_REQUIRED  # type: ignore[attr-defined]  # missing from the stubs
    else:
        ctx.verify_mode = ssl.CERT_NONE  # type: ignore[attr-defined]
    return ctx
