#!/bin/sh
# Install the Debian packages the project runs for real (never mocks): Mosquitto, PostgreSQL,
# Chromium, Pango and a Vietnamese-capable Times New Roman for the PDF reports. Installs only what
# is missing; where apt-get cannot run, says what to install and stops.
set -eu

need=""
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need="$need mosquitto mosquitto-clients"
[ -n "$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null)" ] || need="$need postgresql"
command -v chromium >/dev/null 2>&1 || need="$need chromium"
command -v openssl >/dev/null 2>&1 || need="$need openssl"  # the firmware's TLS tests make certificates
# PDF reports: WeasyPrint lays pages out with Pango; Liberation Serif is metric-compatible with
# Times New Roman (what Vietnamese documents are set in) and has every Vietnamese glyph.
[ -n "$(ls /usr/lib/*/libpangoft2-1.0.so.0 2>/dev/null)" ] || need="$need libpango-1.0-0 libpangoft2-1.0-0"
[ -f /usr/share/fonts/truetype/liberation2/LiberationSerif-Regular.ttf ] || need="$need fonts-liberation2"
# The tests read the boxes' stickers as a technician's phone would: the PDF as a picture, its QR code.
command -v pdftoppm >/dev/null 2>&1 || need="$need poppler-utils"
command -v zbarimg >/dev/null 2>&1 || need="$need zbar-tools"
# `system-packages.sh bench` (make bench): node and npm too, for bench.firmware's 32-bit MicroPython
# (the WebAssembly port, an npm package run under node).
if [ "${1:-}" = bench ]; then
    command -v node >/dev/null 2>&1 || need="$need nodejs"
    command -v npm >/dev/null 2>&1 || need="$need npm"
fi
# Debian's python3 makes virtual environments only with python3-venv installed.
${PYTHON:-python3} -c "import ensurepip, venv" >/dev/null 2>&1 || need="$need python3-venv"

[ -z "$need" ] && exit 0

if [ "$(id -u)" = 0 ]; then
    as_root=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root="sudo"
else
    echo "Missing Debian packages:$need" >&2
    echo "This user cannot run apt-get (not root, no password-less sudo). Ask an administrator to run:" >&2
    echo "    apt-get update && apt-get install -y$need" >&2
    exit 1
fi

echo "Installing Debian packages:$need"
$as_root apt-get update -qq
DEBIAN_FRONTEND=noninteractive $as_root apt-get install -y -qq --no-install-recommends $need >/dev/null
# In a container no service manager runs; on a full system stop the distribution's own broker and
# database so they do not hold the ports the project's own instances use.
for service in mosquitto postgresql; do
    if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$service" 2>/dev/null; then
        $as_root systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
done
