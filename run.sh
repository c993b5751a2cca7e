#!/usr/bin/env bash
# The project's two commands, from a fresh clone:
#   ./run.sh app    install what is needed and open the dashboard (offline default, shipped model) on this
#                   computer only; `./run.sh app --lan` serves it to the network (a classroom)
#   ./run.sh test   install what is needed and run the whole test suite
# Extra arguments go to streamlit (app) or pytest (test). The virtual environment lives in .venv.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${UNSIR_VENV:-.venv}

venv() {
  local reqs=$1 stamp="$VENV/.installed-$(basename "$1")"
  if [ ! -x "$VENV/bin/python" ]; then python3 -m venv "$VENV"; fi
  # Reinstall only when the requirements changed since the last install.
  if [ ! -f "$stamp" ] || ! cmp -s "$reqs" "$stamp" || [ requirements.txt -nt "$stamp" ]; then
    "$VENV/bin/python" -m pip install --quiet --upgrade pip
    "$VENV/bin/python" -m pip install --quiet -r "$reqs"
    cp "$reqs" "$stamp"
  fi
}

browser() {
  # The end-to-end test drives Debian's chromium through Playwright (Playwright's own download cannot work offline).
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    elif command -v sudo >/dev/null 2>&1; then
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "chromium is not installed and cannot be installed without root: the browser test will be skipped" >&2
    fi
  fi
}

fashion_mnist() {
  # Fashion-MNIST, the second ready data set, from Debian's package (read in /usr/share/datasets/fashion-mnist,
  # never copied). Without it the dashboard still works: Fashion-MNIST then downloads when online.
  if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null; }; then
      echo "dataset-fashion-mnist could not be installed: Fashion-MNIST will download when online" >&2
    fi
  fi
}

case "${1:-}" in
  app)
    shift
    venv requirements.txt
    fashion_mnist
    # Localhost only, unless --lan: then every device that can reach this computer may use the dashboard.
    address=127.0.0.1 args=()
    for arg in "$@"; do
      if [ "$arg" = --lan ]; then address=0.0.0.0; else args+=("$arg"); fi
    done
    if [ "$address" = 0.0.0.0 ]; then
      echo "Serving UNSIR Studio to the network: anyone who can reach this computer can use it (README: Security)." >&2
    fi
    exec "$VENV/bin/python" -m streamlit run app.py --server.headless=true --server.address="$address" ${args[@]+"${args[@]}"}
    ;;
  test)
    shift
    venv requirements-test.txt
    browser
    fashion_mnist
    exec "$VENV/bin/python" -m pytest "$@"
    ;;
  *)
    echo "usage: ./run.sh app | test [extra arguments]" >&2
    exit 2
    ;;
esac
