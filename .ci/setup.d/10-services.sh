#!/usr/bin/env bash
# PostgreSQL and MariaDB: the machines running CI have them; start them when they are down,
# install them when they are missing.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
apt_install() {
  if [ -z "${APT_UPDATED:-}" ]; then apt-get update -qq >/dev/null; export APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have pg_ctlcluster; then apt_install postgresql; fi
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432

if ! have mariadbd && ! have mysqld; then apt_install mariadb-server; fi
if ! mariadb-admin -uroot --protocol=tcp -h127.0.0.1 ping >/dev/null 2>&1; then
  start-stop-daemon --start --oknodo --background --exec "$(command -v mariadbd || command -v mysqld)" || true
  for _ in $(seq 1 30); do mariadb-admin -uroot --protocol=tcp -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
fi
mariadb-admin -uroot --protocol=tcp -h127.0.0.1 ping
