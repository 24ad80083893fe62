#!/usr/bin/env bash
# Idempotently install what Starling's test suites need:
#   - Debian: mosquitto, mosquitto-clients (mosquitto_pub / mosquitto_sub)
#   - PyPI:   paho-mqtt 2.x
# A second run only checks and exits quickly (no network).
#
# The mosquitto package ships a service that would listen on port 1883. We never
# use that port in tests, and we do not want a system broker started by the
# install: while installing, a temporary /usr/sbin/policy-rc.d that denies
# service starts is put in place (unless one already exists).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi

PYTHON="${PYTHON:-python3}"

need_apt=()
command -v mosquitto_pub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
    need_apt+=(mosquitto)
fi

if [ "${#need_apt[@]}" -gt 0 ]; then
    # de-duplicate
    mapfile -t need_apt < <(printf '%s\n' "${need_apt[@]}" | sort -u)
    echo "install-test-deps: installing Debian packages: ${need_apt[*]}"

    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# temporary: installed by scripts/install-test-deps.sh\nexit 101\n' \
            | $SUDO tee "$policy" >/dev/null
        $SUDO chmod 755 "$policy"
        made_policy=1
    fi
    cleanup() {
        if [ "$made_policy" -eq 1 ]; then
            $SUDO rm -f "$policy"
        fi
    }
    trap cleanup EXIT

    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"

    cleanup
    made_policy=0
    trap - EXIT
else
    echo "install-test-deps: mosquitto and mosquitto-clients already present"
fi

if "$PYTHON" -c 'import paho.mqtt, sys; sys.exit(0 if paho.mqtt.__version__.split(".")[0] == "2" else 1)' >/dev/null 2>&1; then
    echo "install-test-deps: paho-mqtt 2.x already present"
else
    echo "install-test-deps: installing paho-mqtt 2.x"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'paho-mqtt>=2,<3'
fi

echo "install-test-deps: $(mosquitto_pub --help 2>/dev/null | grep -m1 'version' || true)"
echo "install-test-deps: paho-mqtt $("$PYTHON" -c 'import paho.mqtt; print(paho.mqtt.__version__)')"
