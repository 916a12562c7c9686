#!/usr/bin/env bash
# Set up memindex on a fresh Debian/Ubuntu machine: system packages (when root), a virtual environment in
# .venv, and the package with its default (offline-capable) models. Safe to run again: it only adds what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  missing=""
  for pkg in ffmpeg tesseract-ocr tesseract-ocr-eng postgresql opencv-doc chromium chromium-driver; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
  done
  command -v npx >/dev/null 2>&1 || missing="$missing nodejs npm"  # the MCP inspector test runs npx
  if [ -n "$missing" ]; then
    echo "installing system packages:$missing"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
# torch and torchvision are pinned in the same command as open_clip (pip backtracks otherwise).
.venv/bin/python -m pip install -q "torch==2.14.1" "torchvision==0.29.1" -e ".[default,speakers,faces,tesseract,postgres,analytics,milvus,ray,dev]"
echo "memindex is set up in .venv ($(.venv/bin/memindex --help >/dev/null && echo ok))"
