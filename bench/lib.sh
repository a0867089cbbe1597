# Shared by bench/instructions.sh and bench/idle.sh (sourced, not run): a free
# port, an nginx upstream that answers 200 "ok\n", and waiting for Palisade.

# port: a TCP port free on 127.0.0.1 now.
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_upstream DIR PORT: nginx with one worker on 127.0.0.1:PORT, in the
# background, its config and files under DIR; appends its pid to PIDS.
start_upstream() {
    local d=$1 p=$2
    mkdir -p "$d"
    cat >"$d.conf" <<CONF
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/cb; proxy_temp_path $d/p; fastcgi_temp_path $d/f;
    uwsgi_temp_path $d/u; scgi_temp_path $d/s;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$p; location / { default_type text/plain; return 200 "ok\n"; } }
}
CONF
    nginx -p "$d" -c "$d.conf" -g 'daemon off;' &
    PIDS+=($!)
}

# wait_answers URL TRIES PAUSE LOG WHAT [curl options...]: polls URL until it
# answers 2xx; after TRIES tries PAUSE seconds apart, prints WHAT and the tail of
# LOG and exits 1.
wait_answers() {
    local url=$1 tries=$2 pause=$3 log=$4 what=$5
    shift 5
    for _ in $(seq "$tries"); do
        curl -fs -o /dev/null "$@" "$url" && return 0
        sleep "$pause"
    done
    echo "$what; its log:" >&2
    tail -n 20 "$log" >&2
    exit 1
}
