#!/usr/bin/env bash
# Installs the Java runtime the Spark engine (`campaign-analytics build --engine spark`) and its
# tests need: Debian's openjdk-17-jre-headless. pyspark itself comes from PyPI (the spark extra).
# Does nothing when a `java` is already on PATH. Needs root, or sudo.
set -euo pipefail

if command -v java >/dev/null 2>&1; then
  echo "install-java: $(java -version 2>&1 | head -n 1)"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-java: no apt-get here; install a Java 17 runtime yourself (the Spark tests skip without it)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
$sudo apt-get update
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y openjdk-17-jre-headless
java -version
