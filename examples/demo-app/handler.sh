# shipit demo app: serves one connection (keep-alive). busybox nc -ll forks
# this script per connection with the socket as stdin/stdout.
#   /, /version   200 "version=$APP_VERSION host=<hostname>" (500 for ~FAIL_PERCENT% of them)
#   /healthz      200 "ok", or 500 when UNHEALTHY=1
#   /slow?N       sleeps N seconds (default 1; integer or decimal), then 200
#   /status?CODE  answers with status CODE (200..599)
#   /log?msg=TEXT[&stream=stderr][&level=N]
#                 writes TEXT as one line to the container's stdout (or stderr); with
#                 level=N as a pino-style JSON line {"level":N,"time":<ms>,"msg":"TEXT"}
#   anything else 404
CR=$'\r'
VERSION="${APP_VERSION:-unknown}"

# respond CODE BODY: writes a complete response (BODY gets a trailing newline).
respond() {
  code=$1
  body=$2
  case $code in
    200) reason=OK ;; 201) reason=Created ;; 202) reason=Accepted ;;
    204) reason='No Content' ;; 301) reason='Moved Permanently' ;; 302) reason=Found ;;
    304) reason='Not Modified' ;; 400) reason='Bad Request' ;; 401) reason=Unauthorized ;;
    403) reason=Forbidden ;; 404) reason='Not Found' ;; 405) reason='Method Not Allowed' ;;
    408) reason='Request Timeout' ;; 409) reason=Conflict ;; 413) reason='Payload Too Large' ;;
    429) reason='Too Many Requests' ;; 500) reason='Internal Server Error' ;;
    501) reason='Not Implemented' ;; 502) reason='Bad Gateway' ;;
    503) reason='Service Unavailable' ;; 504) reason='Gateway Timeout' ;;
    *) reason=Status ;;
  esac
  case $code in
    204 | 304) body= ;; # these statuses never carry a body
    *) body="$body
" ;;
  esac
  # ${#body} counts characters; every body here is ASCII, so that is bytes.
  len=${#body}
  [ "$method" = HEAD ] && body=
  if [ "$keep" = 1 ]; then conn="Keep-Alive: timeout=$IDLE_S"; else conn='Connection: close'; fi
  printf 'HTTP/1.1 %s %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %s\r\nX-App-Version: %s\r\n%s\r\n\r\n%s' \
    "$code" "$reason" "$len" "$VERSION" "$conn" "$body"
  # ends request(): 0 reads the next request on this connection, 1 closes it
  [ "$keep" = 1 ] && exit 0
  exit 1
}

# An idle keep-alive connection is closed after this many seconds (said in the
# Keep-Alive header, so that clients such as node's agent drop it a second sooner).
IDLE_S=5

# request WAIT: reads one request (waiting up to WAIT seconds for it) and answers
# it. Run in a subshell, so that respond's exit ends the request: status 0 keeps
# the connection, anything else closes it.
request() {
  # Request line. A connection that closes or stays silent (e.g. a TCP probe)
  # gets nothing back.
  keep=0
  method=
  IFS=' ' read -r -t "$1" method target proto || [ -n "$method" ] || exit 1
  target="${target%"$CR"}"
  proto="${proto%"$CR"}"
  [ -n "$method" ] && [ -n "$target" ] || respond 400 "bad request line"

  # Headers, up to the blank line. HTTP/1.1 keeps the connection unless told not to.
  [ "$proto" = HTTP/1.1 ] && keep=1
  clen=0
  expect=
  ended=0
  while IFS= read -r -t 30 line; do
    line="${line%"$CR"}"
    [ -z "$line" ] && ended=1 && break
    value="${line#*:}"
    value="${value#"${value%%[! ]*}"}" # trim leading blanks
    case $line in
      [Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]:*) clen="$value" ;;
      [Ee][Xx][Pp][Ee][Cc][Tt]:*) expect="$value" ;;
      [Cc][Oo][Nn][Nn][Ee][Cc][Tt][Ii][Oo][Nn]:*[Cc][Ll][Oo][Ss][Ee]*) keep=0 ;;
      # a chunked body is not read: the connection cannot carry another request
      [Tt][Rr][Aa][Nn][Ss][Ff][Ee][Rr]-[Ee][Nn][Cc][Oo][Dd][Ii][Nn][Gg]:*) keep=0 ;;
    esac
  done

  # The head ended without its blank line (silence, or the client left): not
  # one more request on this connection.
  [ "$ended" = 1 ] || keep=0
  # Drain the body so that the next request starts where it ends, and closing
  # the socket does not reset the connection (ash's `read -n` is not portable).
  # head -c reads N bytes through stdio and may take bytes after them that are
  # already there: a client that pipelines a request behind a body would lose it
  # (shipit's proxy never pipelines to an upstream).
  case $clen in
    '' | *[!0-9]*)
      keep=0
      respond 400 "bad Content-Length: $clen"
      ;;
  esac
  if [ "$clen" -gt 0 ]; then
    case $expect in
      100-[Cc]ontinue) printf 'HTTP/1.1 100 Continue\r\n\r\n' ;;
    esac
    head -c "$clen" >/dev/null
  fi

  path="${target%%\?*}"
  query=
  case $target in *\?*) query="${target#*\?}" ;; esac

  case $path in
    / | /version)
      # FAIL_PERCENT=N: about N% of these answers are 500 (a bad release for canary analysis tests).
      if [ -n "$FAIL_PERCENT" ] && [ $((RANDOM % 100)) -lt "$FAIL_PERCENT" ]; then
        respond 500 "version=$VERSION failing on purpose (FAIL_PERCENT=$FAIL_PERCENT)"
      fi
      respond 200 "version=$VERSION host=${APP_HOST:-$(hostname)}"
      ;;
    /healthz)
      if [ "$UNHEALTHY" = 1 ]; then
        respond 500 "unhealthy: UNHEALTHY=1 is set"
      fi
      respond 200 ok
      ;;
    /slow)
      n="${query:-1}"
      case $n in
        '' | *[!0-9.]* | *.*.* | .) respond 400 "slow: expected seconds like 2 or 0.5, got $n" ;;
      esac
      sleep "$n"
      respond 200 "slow $n version=$VERSION"
      ;;
    /status)
      case $query in
        [2-5][0-9][0-9]) respond "$query" "status $query version=$VERSION" ;;
      esac
      respond 400 "status: expected a code 200..599, got $query"
      ;;
    /log)
      msg=
      stream=stdout
      level=
      IFS='&'
      for kv in $query; do
        case $kv in
          msg=*) msg="$(httpd -d "${kv#msg=}")" ;;
          stream=stdout | stream=stderr) stream="${kv#stream=}" ;;
          level=*) level="${kv#level=}" ;;
          *) respond 400 "log: unknown parameter $kv" ;;
        esac
      done
      unset IFS
      case $level in *[!0-9]*) respond 400 "log: level must be a number, got $level" ;; esac
      if [ -n "$level" ]; then
        esc="${msg//\\/\\\\}"
        esc="${esc//\"/\\\"}"
        line="{\"level\":$level,\"time\":$(date +%s)000,\"msg\":\"$esc\",\"app\":\"demo-web\"}"
      else
        line="$msg"
      fi
      # fd 3 is the container's stdout (start.sh); fd 2 is still the container's stderr (nc -e keeps it).
      if [ "$stream" = stderr ]; then
        printf '%s\n' "$line" >&2
      else
        printf '%s\n' "$line" >&3
      fi
      respond 200 "logged to $stream"
      ;;
  esac
  respond 404 "not found: $path"
}

wait_s=30 # the first request: as long as a slow client may take
while (request "$wait_s"); do
  wait_s=$IDLE_S
done
exit 0
