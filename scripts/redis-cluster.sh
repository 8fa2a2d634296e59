#!/usr/bin/env bash
# A local Redis Cluster for sseek's redis-cluster store, built from the
# installed redis-server and redis-cli (nothing else is installed).
#
#   scripts/redis-cluster.sh start N [--replicas R] [--base-port P] [--dir D] [--fsync always|everysec]
#   scripts/redis-cluster.sh stop   [--dir D]
#   scripts/redis-cluster.sh status [--dir D]
#   scripts/redis-cluster.sh kill PORT    [--dir D]   (SIGKILL, for crash tests)
#   scripts/redis-cluster.sh restart PORT [--dir D]   (same settings, same data)
#
# start launches N masters (and N*R replicas) on ports P, P+1, ... (default
# 7000), each in D/<port> (default ./target/redis-cluster), creates the
# cluster and waits for cluster_state:ok. It prints the store spec to use:
#   redis-cluster:redis://127.0.0.1:P,redis://127.0.0.1:P+1,...
#
# Every node runs with the append-only file on and `appendfsync always`:
# a node answers a write only after it is fsynced to its AOF, which is what
# lets the store acknowledge a batch as durable (see the module docs of
# src/store/redis_cluster). `everysec` is faster and may lose the last
# second of acknowledged writes when a machine (not just the process) dies.
#
# stop shuts down every node whose pid file is in D, then removes nothing
# (the data stays for a restart); it is safe to run twice.
set -euo pipefail

cmd="${1:-}"
[ -n "$cmd" ] && shift
n=""
replicas=0
base=7000
dir="${REDIS_CLUSTER_DIR:-target/redis-cluster}"
fsync=always
if [ "$cmd" = start ] || [ "$cmd" = kill ] || [ "$cmd" = restart ]; then
    n="${1:-}"
    [ -n "$n" ] && shift
fi
while [ $# -gt 0 ]; do
    case "$1" in
        --replicas) replicas="$2"; shift 2 ;;
        --base-port) base="$2"; shift 2 ;;
        --dir) dir="$2"; shift 2 ;;
        --fsync) fsync="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

usage() {
    sed -n '5,9p' "$0" | sed 's/^# //' >&2
    exit 2
}

ports_of() {
    # The ports of the nodes recorded in $dir, one per line.
    [ -d "$dir" ] || return 0
    for f in "$dir"/*/port; do
        [ -f "$f" ] && cat "$f"
    done
    return 0
}

stop() {
    local port pidfile pid
    for port in $(ports_of); do
        pidfile="$dir/$port/redis.pid"
        [ -f "$pidfile" ] || continue
        pid="$(cat "$pidfile")"
        if kill -0 "$pid" 2>/dev/null; then
            # SHUTDOWN NOSAVE: the AOF already holds every acknowledged write.
            redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do
                kill -0 "$pid" 2>/dev/null || break
                sleep 0.1
            done
            kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
        fi
        rm -f "$pidfile"
    done
}

status() {
    local port any=0
    for port in $(ports_of); do
        any=1
        if redis-cli -p "$port" ping >/dev/null 2>&1; then
            echo "$port up $(redis-cli -p "$port" role | head -1) keys=$(redis-cli -p "$port" dbsize)"
        else
            echo "$port down"
        fi
    done
    [ "$any" = 1 ] || { echo "no cluster in $dir"; return 1; }
    first="$(ports_of | head -1)"
    redis-cli -p "$first" cluster info 2>/dev/null | grep -E 'cluster_state|cluster_known_nodes' | tr -d '\r' || true
}

launch() {
    local port="$1"
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" \
        --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
        --appendonly yes --appendfsync "$(cat "$dir/$port/fsync")" --save '' \
        --protected-mode no >/dev/null
}

kill_node() {
    [ -f "$dir/$n/redis.pid" ] || { echo "no running node $n in $dir" >&2; exit 1; }
    kill -9 "$(cat "$dir/$n/redis.pid")" 2>/dev/null || true
    rm -f "$dir/$n/redis.pid"
}

restart_node() {
    [ -f "$dir/$n/port" ] || { echo "no node $n in $dir" >&2; exit 1; }
    # The node reloads its AOF and nodes.conf: same data, same place in the cluster.
    launch "$n"
    for _ in $(seq 300); do
        redis-cli -p "$n" ping >/dev/null 2>&1 && break
        sleep 0.1
    done
}

start() {
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || usage
    [ "$n" -ge 3 ] || { echo "Redis Cluster needs at least 3 masters" >&2; exit 2; }
    case "$fsync" in always|everysec) ;; *) echo "--fsync must be always or everysec" >&2; exit 2 ;; esac
    local total=$((n * (1 + replicas))) port i addrs=() spec=()
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        if redis-cli -p "$port" ping >/dev/null 2>&1; then
            echo "port $port is in use" >&2
            exit 1
        fi
    done
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        mkdir -p "$dir/$port"
        rm -f "$dir/$port/nodes.conf" "$dir/$port/dump.rdb"
        rm -rf "$dir/$port/appendonlydir"
        echo "$port" >"$dir/$port/port"
        echo "$fsync" >"$dir/$port/fsync"
        launch "$port"
        addrs+=("127.0.0.1:$port")
    done
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        for _ in $(seq 100); do
            redis-cli -p "$port" ping >/dev/null 2>&1 && break
            sleep 0.05
        done
    done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 ||
        { cat "$dir/create.log" >&2; stop; exit 1; }
    # Every node must agree the cluster is up and know every slot's owner.
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        for t in $(seq 300); do
            if redis-cli -p "$port" cluster info | grep -q 'cluster_state:ok'; then break; fi
            [ "$t" = 300 ] && { echo "node $port: cluster not ok after 30 s" >&2; stop; exit 1; }
            sleep 0.1
        done
    done
    for ((i = 0; i < n; i++)); do
        spec+=("redis://127.0.0.1:$((base + i))")
    done
    (IFS=,; echo "redis-cluster:${spec[*]}")
}

case "$cmd" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    kill) kill_node ;;
    restart) restart_node ;;
    *) usage ;;
esac
