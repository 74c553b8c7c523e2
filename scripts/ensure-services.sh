#!/usr/bin/env bash
# Makes sure the database servers the integration tests use are installed, running and reachable:
#
#   PostgreSQL  127.0.0.1:5432  trust auth for 127.0.0.1 and ::1, roles `postgres` and `root`
#                               (superusers), databases `postgres`, `root` and `test`
#   MariaDB     127.0.0.1:3306  user `root` with an empty password over TCP, database `test`
#   RabbitMQ    127.0.0.1:5672  user `guest`/`guest` (the firehose tests; one restarts the app)
#   ZooKeeper   the Debian package only (tests start their own servers on free ports)
#   Python      `pydruid` for the client test, `python3 -m pip` into the system interpreter
#
# Idempotent: whatever is already in place is left alone. Runs as root on Debian 12 without
# systemd (services are started directly, never through systemctl). Fails loudly, with the
# server's log, when a server does not come up.
set -euo pipefail

readonly WAIT_SECS=60

log() { echo "ensure-services: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (it installs packages and starts servers)"

apt_updated=0
# Installs Debian packages without letting their maintainer scripts start any service.
apt_install() {
    local made_policy=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    local status=0
    if [[ $apt_updated -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq || status=$?
        apt_updated=1
    fi
    if [[ $status -eq 0 ]]; then
        log "installing $*"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || status=$?
    fi
    if [[ $made_policy -eq 1 ]]; then rm -f /usr/sbin/policy-rc.d; fi
    [[ $status -eq 0 ]] || die "apt-get failed to install $* (exit $status)"
}

# Creates a directory with an owner, group and mode, leaving an existing one as it is.
make_dir() {
    local owner=$1 group=$2 mode=$3 dir=$4
    [[ -d $dir ]] || install -d -o "$owner" -g "$group" -m "$mode" "$dir"
}

# Runs "$@" every half second until it succeeds or WAIT_SECS pass.
wait_until() {
    local tries=$((WAIT_SECS * 2))
    while ((tries-- > 0)); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    return 1
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_ready() { pg_isready -q -h 127.0.0.1 -p 5432; }

pg_psql() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p 5432 -U postgres "$@"; }

# Prints the newest installed PostgreSQL version that has a `main` cluster, creating it if needed.
pg_cluster_version() {
    local version
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
    if [[ -z $version ]]; then
        version=$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -n 1 || true)
        [[ -n $version ]] || die "postgresql is installed but no server version is in /usr/lib/postgresql"
    fi
    if [[ ! -d /etc/postgresql/$version/main ]]; then
        log "creating postgresql cluster $version/main"
        pg_createcluster --port 5432 "$version" main >/dev/null
    fi
    echo "$version"
}

# Prepends trust rules for loopback TCP to pg_hba.conf (first match wins); prints 1 if changed.
pg_trust_loopback() {
    local hba=$1
    if grep -Eq '^[[:space:]]*host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        echo 0
        return
    fi
    log "allowing trust authentication from 127.0.0.1 and ::1 in $hba"
    {
        echo '# rtnode tests: trust loopback TCP connections'
        echo 'host    all             all             127.0.0.1/32            trust'
        echo 'host    all             all             ::1/128                 trust'
        cat "$hba"
    } >"$hba.rtnode-tmp"
    chown --reference="$hba" "$hba.rtnode-tmp"
    chmod --reference="$hba" "$hba.rtnode-tmp"
    mv "$hba.rtnode-tmp" "$hba"
    echo 1
}

ensure_postgres() {
    if ! command -v pg_ctlcluster >/dev/null || ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        apt_install postgresql
    fi
    local version hba changed
    version=$(pg_cluster_version)
    hba=/etc/postgresql/$version/main/pg_hba.conf
    changed=$(pg_trust_loopback "$hba")
    make_dir postgres postgres 2775 /var/run/postgresql
    if pg_ready; then
        if [[ $changed -eq 1 ]]; then
            pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        fi
    else
        log "starting postgresql $version/main"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
            log "pg_ctlcluster start failed; waiting in case the server is coming up anyway"
    fi
    if ! wait_until pg_ready || ! wait_until pg_psql -d postgres -c 'SELECT 1'; then
        tail -n 30 "/var/log/postgresql/postgresql-$version-main.log" >&2 || true
        die "postgresql $version/main is not accepting connections on 127.0.0.1:5432"
    fi
    if [[ -z $(pg_psql -d postgres -Atc "SELECT 1 FROM pg_roles WHERE rolname = 'root'") ]]; then
        pg_psql -d postgres -c 'CREATE ROLE root SUPERUSER LOGIN'
    fi
    local database
    for database in root test; do
        if [[ -z $(pg_psql -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$database'") ]]; then
            pg_psql -d postgres -c "CREATE DATABASE $database OWNER root"
        fi
    done
    psql -X -q -h 127.0.0.1 -U root -d test -c 'SELECT 1' >/dev/null ||
        die "postgresql: user root cannot connect to database test over 127.0.0.1"
    log "postgresql $version/main ready on 127.0.0.1:5432"
}

# ---------------------------------------------------------------------------------------------
# MariaDB

maria_ready() { mariadb-admin --connect-timeout=2 -h 127.0.0.1 -P 3306 ping; }

maria_tcp_root() { mariadb --connect-timeout=2 -h 127.0.0.1 -P 3306 -u root "$@"; }

maria_datadir() {
    local datadir
    datadir=$(my_print_defaults mysqld mariadbd 2>/dev/null | sed -n 's/^--datadir=//p' | tail -n 1 || true)
    echo "${datadir:-/var/lib/mysql}"
}

# Lets root in over TCP with an empty password (through the unix socket, where the OS user root
# is MariaDB's root), and creates the `test` database.
maria_grant_root() {
    if ! maria_tcp_root -e 'SELECT 1' >/dev/null 2>&1; then
        log "allowing root with an empty password from 127.0.0.1 and ::1"
        mariadb --protocol=socket -u root <<'SQL' || die "mariadb: cannot set up root over the unix socket"
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
CREATE USER IF NOT EXISTS 'root'@'::1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'::1' WITH GRANT OPTION;
ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('');
FLUSH PRIVILEGES;
SQL
    fi
    maria_tcp_root -e 'CREATE DATABASE IF NOT EXISTS test CHARACTER SET utf8mb4' ||
        die "mariadb: root cannot connect over 127.0.0.1:3306"
}

ensure_mariadb() {
    if [[ ! -x /usr/sbin/mariadbd ]] || ! command -v mariadb-admin >/dev/null; then
        apt_install mariadb-server
    fi
    local datadir
    datadir=$(maria_datadir)
    if [[ ! -d $datadir/mysql ]]; then
        log "initialising the mariadb data directory $datadir"
        make_dir mysql mysql 755 "$datadir"
        mariadb-install-db --user=mysql --datadir="$datadir" >/dev/null
    fi
    make_dir mysql mysql 755 /run/mysqld
    make_dir mysql adm 2750 /var/log/mysql
    if ! maria_ready >/dev/null 2>&1; then
        log "starting mariadb"
        start-stop-daemon --start --oknodo --background --output /var/log/mysql/mariadbd.out \
            --exec /usr/sbin/mariadbd -- --user=mysql
    fi
    if ! wait_until maria_ready; then
        tail -n 30 /var/log/mysql/mariadbd.out /var/log/mysql/error.log "$datadir/$(hostname).err" 2>/dev/null >&2 || true
        die "mariadb is not accepting connections on 127.0.0.1:3306"
    fi
    maria_grant_root
    log "mariadb ready on 127.0.0.1:3306"
}

# ---------------------------------------------------------------------------------------------
# RabbitMQ

rabbit_ready() { rabbitmqctl -q await_startup --timeout 5; }

ensure_rabbitmq() {
    if ! command -v rabbitmq-server >/dev/null || ! command -v rabbitmqctl >/dev/null; then
        apt_install rabbitmq-server
    fi
    if ! rabbit_ready >/dev/null 2>&1; then
        log "starting rabbitmq"
        make_dir rabbitmq rabbitmq 755 /var/lib/rabbitmq
        make_dir rabbitmq rabbitmq 755 /var/log/rabbitmq
        RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=5672 rabbitmq-server -detached ||
            log "rabbitmq-server -detached failed; waiting in case the server is coming up anyway"
    fi
    if ! wait_until rabbit_ready; then
        tail -n 30 /var/log/rabbitmq/*.log 2>/dev/null >&2 || true
        die "rabbitmq is not accepting connections on 127.0.0.1:5672"
    fi
    log "rabbitmq ready on 127.0.0.1:5672"
}

# The ZooKeeper package: tests start throwaway servers with its zkServer.sh / jar.
ensure_zookeeper() {
    if [[ ! -x /usr/share/zookeeper/bin/zkServer.sh ]]; then
        apt_install zookeeper
    fi
    command -v java >/dev/null || apt_install default-jre-headless
    log "zookeeper package present"
}

ensure_pydruid() {
    if ! python3 -c 'import pydruid' >/dev/null 2>&1; then
        log "installing pydruid"
        python3 -m pip install --quiet --disable-pip-version-check pydruid >/dev/null ||
            die "pip could not install pydruid"
    fi
    log "pydruid present"
}

ensure_postgres
ensure_mariadb
ensure_rabbitmq
ensure_zookeeper
ensure_pydruid
