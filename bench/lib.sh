# Shared by bench/instructions.sh and bench/idle.sh (sourced, not run): a free
# port, and an nginx upstream that answers 200 "ok\n".

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
