#!/bin/sh
# Start the hello app: write the page, then serve /app/www with busybox httpd on $PORT (8080).
# The page is written at start because it shows values only the container's environment has:
# GREETING (required config) and PLAT_INSTANCE (the instance id plat gives each container).
set -u

port="${PORT:-8080}"
version="${HELLO_VERSION:-v1}"
root=/app/www

escape() { printf '%s' "$1" | sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g'; }
greeting="$(escape "${GREETING:-hello (GREETING is not set)}")"
instance="$(escape "${PLAT_INSTANCE:-unknown}")"
case "$version" in
v1) colour="#e8eefc" ;;
*) colour="#e3f6e8" ;;
esac

cat >"$root/index.html" <<PAGE
<!doctype html>
<html><head><meta charset="utf-8"><title>hello $version</title></head>
<body style="background:$colour;font-family:sans-serif;margin:3em">
<h1>$greeting</h1>
<p>hello <b>$version</b> from instance <code>$instance</code></p>
<p><a href="/cgi-bin/secret-check">is the db secret delivered?</a></p>
</body></html>
PAGE

echo "hello $version: serving on :$port as instance ${PLAT_INSTANCE:-unknown}"
# As PID 1 without an init, httpd would ignore SIGTERM; this shell forwards it so a stop is quick.
trap 'echo "hello $version: stopping"; kill "$pid" 2>/dev/null; exit 0' TERM INT
httpd -f -v -p "$port" -h "$root" &
pid=$!
wait "$pid"
status=$?
echo "hello $version: httpd exited with status $status"
exit "$status"
