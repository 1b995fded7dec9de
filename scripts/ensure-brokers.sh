#!/usr/bin/env bash
# Makes sure the brokers the transport tests talk to are up on 127.0.0.1 (NATS with JetStream
# 4222, RabbitMQ 5672, Redis 6379), starting any that stopped with the machine's own commands.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 name=$2
  for _ in $(seq 1 60); do
    if up "$port"; then echo "== $name up on $port"; return 0; fi
    sleep 1
  done
  echo "== $name did not come up on $port" >&2
  return 1
}

if ! up 4222 && command -v nats-server >/dev/null; then
  mkdir -p /var/lib/nats-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
    -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi
if ! up 6379 && command -v redis-server >/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! up 5672 && command -v rabbitmq-server >/dev/null; then
  rabbitmq-server -detached
fi

status=0
wait_for 4222 nats || status=1
wait_for 6379 redis || status=1
wait_for 5672 rabbitmq || status=1
exit $status
