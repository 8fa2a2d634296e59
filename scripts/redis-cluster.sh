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
# With N >= 3 `redis-cli --cluster create` builds the cluster; with 1 or 2
# masters (which it refuses) the script assigns the slots itself, joins the
# nodes and attaches the replicas. A single master cannot fail over (no
# majority of masters is left to elect its replica): use it to measure, not
# for availability.
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
            local role
            role="$(redis-cli -p "$port" role | tr -d '\r')"
            case "$(echo "$role" | head -1)" in
                slave) role="replica of $(echo "$role" | sed -n 2p):$(echo "$role" | sed -n 3p) ($(echo "$role" | sed -n 4p))" ;;
                *) role="$(echo "$role" | head -1)" ;;
            esac
            echo "$port up $role keys=$(redis-cli -p "$port" dbsize)"
        else
            echo "$port down"
        fi
    done
    [ "$any" = 1 ] || { echo "no cluster in $dir"; return 1; }
    first="$(ports_of | head -1)"
    redis-cli -p "$first" cluster info 2>/dev/null | grep -E 'cluster_state|cluster_known_nodes' | tr -d '\r' || true
}

redis_has() {
    # redis_has PORT 'COMMAND' TEXT: the node's answer to COMMAND contains TEXT.
    # shellcheck disable=SC2086 # COMMAND is split into its words on purpose
    redis-cli -p "$1" $2 | grep -q "$3"
}

await() {
    # await WHAT CHECK...: runs CHECK every 0.1 s until it succeeds; after
    # 30 s says "WHAT after 30 s", stops the cluster and exits.
    local what="$1" t
    shift
    for t in $(seq 300); do
        "$@" && return 0
        sleep 0.1
    done
    echo "$what after 30 s" >&2
    stop
    exit 1
}

launch() {
    local port="$1"
    # The announced address is the bound one: a lone master never learns
    # its own address from a peer, and CLUSTER NODES would show it empty.
    redis-server --port "$port" --bind 127.0.0.1 --dir "$dir/$port" \
        --daemonize yes --pidfile "$dir/$port/redis.pid" --logfile "$dir/$port/redis.log" \
        --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 2000 \
        --cluster-announce-ip 127.0.0.1 \
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

node_id() {
    redis-cli -p "$1" cluster myid | tr -d '\r'
}

create_small() {
    # What `redis-cli --cluster create` does, for 1 or 2 masters: masters
    # 0..n-1 split the 16384 slots, every node meets the first, replica j of
    # master i is node n + i*replicas + j.
    local i j port lo hi master known
    for ((i = 0; i < n; i++)); do
        port=$((base + i))
        lo=$((16384 * i / n))
        hi=$((16384 * (i + 1) / n - 1))
        redis-cli -p "$port" cluster set-config-epoch $((i + 1)) >/dev/null
        [ "$(redis-cli -p "$port" cluster addslotsrange "$lo" "$hi" | tr -d '\r')" = OK ] ||
            { echo "node $port: CLUSTER ADDSLOTSRANGE $lo $hi failed"; return 1; }
    done
    for ((i = 1; i < total; i++)); do
        redis-cli -p "$((base + i))" cluster meet 127.0.0.1 "$base" >/dev/null
    done
    for ((i = 0; i < n; i++)); do
        master="$(node_id $((base + i)))"
        for ((j = 0; j < replicas; j++)); do
            port=$((base + n + i * replicas + j))
            # A replica can follow a master only once it knows it.
            for t in $(seq 100); do
                known="$(redis-cli -p "$port" cluster nodes | grep -c "^$master " || true)"
                [ "$known" = 1 ] && redis-cli -p "$port" cluster replicate "$master" | grep -q OK && break
                [ "$t" = 100 ] && { echo "node $port could not follow $master"; return 1; }
                sleep 0.1
            done
        done
    done
}

start() {
    [[ "$n" =~ ^[0-9]+$ ]] && [ "$n" -ge 1 ] || usage
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
    if [ "$n" -ge 3 ]; then
        redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes >"$dir/create.log" 2>&1 ||
            { cat "$dir/create.log" >&2; stop; exit 1; }
    else
        create_small >"$dir/create.log" 2>&1 || { cat "$dir/create.log" >&2; stop; exit 1; }
    fi
    # Every node must agree the cluster is up and know every slot's owner.
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        await "node $port: cluster not ok" redis_has "$port" 'cluster info' 'cluster_state:ok'
    done
    # Replicas count only once they hold their master's data.
    for ((i = 0; i < total; i++)); do
        port=$((base + i))
        redis_has "$port" 'info replication' 'role:slave' || continue
        await "replica $port: not in sync" redis_has "$port" 'info replication' 'master_link_status:up'
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
