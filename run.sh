#!/bin/sh
# run.sh [FILE]: build mkindex, getline and lined into ./bin, index FILE and
# serve it over HTTP on $APP_PORT (8000 unless .env or the environment says
# otherwise). Without FILE, serves $LINED_FILE if it is set, else a demo file
# generated into demo/demo.txt. Settings: .env beside this script; variables
# already set in the environment win over it. Ctrl-C stops the server cleanly.
set -eu

prog=run.sh
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

# The demo: deterministic (same seed, same size, same bytes everywhere),
# 4 MiB, about 41,000 lines of 1..200 random printable characters.
demo=demo/demo.txt
demo_size=4194304
demo_seed=1

case ${1-} in
-h | --help)
	sed -n '2,6s/^# \{0,1\}//p' "$0"
	exit 0
	;;
-*) die "unknown option $1 (usage: ./run.sh [FILE])" ;;
esac
[ $# -le 1 ] || die "one FILE at most (usage: ./run.sh [FILE])"

# check_file NAME SHOWN: refuse, with one line, a file that cannot be served;
# else set file (absolute) and shown.
check_file() {
	if [ -d "$1" ]; then
		die "$2: is a directory, not a file"
	elif [ ! -e "$1" ]; then
		die "$2: no such file"
	elif [ ! -f "$1" ]; then
		die "$2: not a regular file"
	elif [ ! -r "$1" ] || ! { : <"$1"; } 2>/dev/null; then
		die "$2: not readable (permission denied)"
	fi
	file=$1 shown=$2
	case $file in /*) ;; *) file=$PWD/$file ;; esac
}

# Check the user's file first, relative to where they are, before any work:
# the argument, or LINED_FILE from the environment.
file= shown=
if [ $# -eq 1 ]; then
	check_file "$1" "$1"
elif [ -n "${LINED_FILE:-}" ]; then
	check_file "$LINED_FILE" "LINED_FILE=$LINED_FILE"
fi

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

# .env: KEY=value lines; comments and blank lines skipped; surrounding quotes
# removed; a variable already in the environment is left alone.
load_env() {
	cr=$(printf '\r')
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line%"$cr"}
		line=${line#"${line%%[! 	]*}"} # leading blanks
		case $line in '' | '#'*) continue ;; esac
		line=${line#export }
		key=${line%%=*}
		case $key in
		"$line" | '' | [0-9]* | *[!A-Za-z0-9_]*)
			printf '%s: %s: ignoring line: %s\n' "$prog" "$1" "$line" >&2
			continue
			;;
		esac
		val=${line#*=}
		case $val in
		\"*\") val=${val#\"} val=${val%\"} ;;
		\'*\') val=${val#\'} val=${val%\'} ;;
		esac
		eval "isset=\${$key+x}"
		[ -n "$isset" ] || export "$key=$val"
	done <"$1"
}
[ ! -f .env ] || load_env .env
export APP_PORT="${APP_PORT:-8000}"
# LINED_FILE from .env: relative to this directory.
if [ -z "$file" ] && [ -n "${LINED_FILE:-}" ]; then
	check_file "$LINED_FILE" "LINED_FILE=$LINED_FILE (.env)"
fi

command -v go >/dev/null 2>&1 ||
	die "Go is needed to build lined (https://go.dev/dl/); or use docker-compose, see README.md"
echo "$prog: building bin/mkindex, bin/getline, bin/lined" >&2
go build -o bin/ ./cmd/mkindex ./cmd/getline ./cmd/lined

if [ -z "$file" ]; then
	if [ ! -f "$demo" ] || [ "$(wc -c <"$demo")" -ne "$demo_size" ]; then
		echo "$prog: generating the demo file $demo (4 MiB)" >&2
		mkdir -p "$(dirname "$demo")"
		go run ./bench/gendata -size "$demo_size" -seed "$demo_seed" >"$demo.tmp"
		mv "$demo.tmp" "$demo"
	fi
	file=$here/$demo shown=$demo
fi
export LINED_FILE="$file"

# Index now, with a progress bar on a terminal, so that lined is ready at once.
bin/mkindex "$file" || die "indexing $file failed (see above)"

if [ -n "${LINED_ADDR:-}" ]; then
	port=${LINED_ADDR##*:}
else
	port=$APP_PORT
fi
cat <<EOF

Serving $shown on port $port. Try:
  curl localhost:$port/lines/1
  curl -i localhost:$port/lines/2     (with the headers: ETag, Cache-Control)
  curl localhost:$port/               (what is served, and the API)
Ctrl-C stops the server.

EOF
exec bin/lined --file "$file"
