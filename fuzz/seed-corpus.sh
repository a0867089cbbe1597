#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ (not committed) from the committed hand seeds in
# fuzz/seeds/ and the project's fixtures: the CRS regression requests and benign
# sentences of ../shared/corpus (SHARED_CORPUS overrides the folder), the
# OpenAPI fixture's example requests, palisade.example.toml and the tests'
# configs. Each generated input is framed the way its target reads it (see the
# target's module doc). Idempotent: files are named by content hash.
#
# usage: fuzz/seed-corpus.sh            (SEED_SAMPLE=N keeps every Nth CRS request; default 4)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${SHARED_CORPUS:-$root/../shared/corpus}"
out="$here/corpus"
mkdir -p "$out"
for d in "$here"/seeds/*/; do
  t="$(basename "$d")"
  mkdir -p "$out/$t"
  cp -f "$d"* "$out/$t/"
done
python3 - "$root" "$shared" "$out" "${SEED_SAMPLE:-4}" <<'PY'
import base64, gzip, hashlib, json, os, re, sys
root, shared, out, sample = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
CTS = ["application/json", "application/x-www-form-urlencoded", "multipart/form-data",
       "text/xml", "application/vnd.api+json", "application/soap+xml", "text/plain",
       "application/octet-stream", ""]
counts = {}

def put(target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    path = os.path.join(d, name)
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)
        counts[target] = counts.get(target, 0) + 1

def split(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    target = parts[1] if len(parts) > 1 else b"/"
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(b":")
        headers[k.strip().lower()] = v.strip()
    return target, headers, body

crs = os.path.join(shared, "crs-regression.jsonl")
if os.path.exists(crs):
    with open(crs) as f:
        for n, line in enumerate(f):
            if n % sample:
                continue
            t = json.loads(line)
            for st in t["stages"]:
                raw = base64.b64decode(st["raw_b64"])
                put("sig_engine", b"\x00" + raw)
                target, headers, body = split(raw)
                path, _, query = target.partition(b"?")
                put("path_template", b"\x00" + path)
                put("sig_normalize", b"\x02" + path)
                if query:
                    put("sig_normalize", b"\x01" + query)
                    put("query_cookie", query + (b"\xff" + headers[b"cookie"] if b"cookie" in headers else b""))
                elif b"cookie" in headers:
                    put("query_cookie", b"\xff" + headers[b"cookie"])
                if body:
                    ct = headers.get(b"content-type", b"").decode("latin-1").lower()
                    if ct.startswith("multipart/form-data"):
                        m = re.search(r'boundary="?([^";]+)', ct, re.I)
                        b = (m.group(1) if m else "").encode()[:90]
                        put("body_inspect", bytes([9, len(b)]) + b + body)
                    else:
                        pick = next((i for i, c in enumerate(CTS) if c and ct.startswith(c)), 6)
                        put("body_inspect", bytes([pick]) + body)
                    put("sig_normalize", b"\x01" + body[:2048])
                    # body_decode: the body gzip-compressed as sent (mode 0,
                    # coding gzip, whole), and as the plain side of a round trip.
                    put("body_decode", bytes([6, 0x1f]) + gzip.compress(body))
                    put("body_decode", bytes([1, 0x1f, 255]) + body)
else:
    print(f"seed-corpus: {crs} not found; CRS requests not added", file=sys.stderr)

benign = os.path.join(shared, "benign-sentences.txt")
if os.path.exists(benign):
    with open(benign, "rb") as f:
        for n, line in enumerate(f):
            if n % (sample * 25) == 0:
                put("sig_normalize", b"\x00" + line.rstrip(b"\n"))
                put("body_inspect", b"\x00" + json.dumps({"comment": line.decode("utf-8", "replace").strip()}).encode())

with open(os.path.join(root, "palisade.example.toml"), "rb") as f:
    example = f.read()
put("config", example)
# The example with its commented-out sections switched on: most keys then reach validation.
put("config", re.sub(rb"(?m)^# ?(\[|[a-z_]+ = )", rb"\1", example))
for rs in ["tests/tests", "proxy/src", "models/src"]:
    for dirpath, _, files in os.walk(os.path.join(root, rs)):
        for fn in files:
            if fn.endswith(".rs"):
                with open(os.path.join(dirpath, fn), "rb") as f:
                    src = f.read()
                # Raw-string TOML snippets: a table header and a key.
                for m in re.finditer(rb'r#"(.*?)"#', src, re.S):
                    text = m.group(1)
                    if re.match(rb"\s*\[", text) and b" = " in text:
                        put("config", text)

print("seed-corpus: added " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) if counts else "seed-corpus: nothing new")
PY
