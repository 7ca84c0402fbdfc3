#!/bin/sh
# run.sh [FILE...]: build mkindex, getline and lined into ./bin, index each
# FILE and serve it over HTTP on $APP_PORT (8000 unless .env or the
# environment says otherwise). Without FILE, serves $LINED_FILE if it is set
# (commas separate several), else a demo file generated into demo/demo.txt.
# Settings: .env beside this script; variables already set in the environment
# win over it. Ctrl-C stops the server cleanly.
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
	sed -n '2,7s/^# \{0,1\}//p' "$0"
	exit 0
	;;
-*) die "unknown option $1 (usage: ./run.sh [FILE...])" ;;
esac

# check_file NAME SHOWN: refuse, with one line, a file that cannot be served;
# else set file (absolute).
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
	file=$1
	case $file in /*) ;; *) file=$PWD/$file ;; esac
}

# check_files FROM FILE...: check each FILE; files becomes lined's --file
# flags for their absolute paths, quoted for eval; shown lists them as given.
check_files() {
	from=$1
	shift
	files= shown=
	for a do
		check_file "$a" "$from$a"
		files="$files --file '$(printf '%s' "$file" | sed "s/'/'\\\\''/g")'"
		shown="$shown${shown:+, }$a"
	done
}

# Check the user's files first, relative to where they are, before any work:
# the arguments, or LINED_FILE from the environment (comma-separated).
files= shown=
if [ $# -ge 1 ]; then
	check_files "" "$@"
elif [ -n "${LINED_FILE:-}" ]; then
	set -f
	IFS=,
	# shellcheck disable=SC2086 # split on commas
	set -- $LINED_FILE
	unset IFS
	set +f
	check_files "LINED_FILE=" "$@"
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
if [ -z "$files" ] && [ -n "${LINED_FILE:-}" ]; then
	set -f
	IFS=,
	# shellcheck disable=SC2086 # split on commas
	set -- $LINED_FILE
	unset IFS
	set +f
	check_files "(.env) LINED_FILE=" "$@"
fi

command -v go >/dev/null 2>&1 ||
	die "Go is needed to build lined (https://go.dev/dl/); or use docker-compose, see README.md"
echo "$prog: building bin/mkindex, bin/getline, bin/lined" >&2
go build -o bin/ ./cmd/mkindex ./cmd/getline ./cmd/lined

if [ -z "$files" ]; then
	if [ ! -f "$demo" ] || [ "$(wc -c <"$demo")" -ne "$demo_size" ]; then
		echo "$prog: generating the demo file $demo (4 MiB)" >&2
		mkdir -p "$(dirname "$demo")"
		go run ./bench/gendata -size "$demo_size" -seed "$demo_seed" >"$demo.tmp"
		mv "$demo.tmp" "$demo"
	fi
	check_files "" "$demo"
fi
unset LINED_FILE # lined is given the files as flags

# Index now, with a progress bar on a terminal, so that lined is ready at once.
eval "set -- $files"
count=$(($# / 2))
n=0
for a do
	n=$((n + 1))
	[ $((n % 2)) -eq 0 ] || continue
	bin/mkindex "$a" || die "indexing $a failed (see above)"
	last=$a
done

if [ -n "${LINED_ADDR:-}" ]; then
	port=${LINED_ADDR##*:}
else
	port=$APP_PORT
fi
if [ "$count" -eq 1 ]; then
	cat <<EOF

Serving $shown on port $port. Try:
  curl localhost:$port/lines/1
  curl localhost:$port/lines/1-5      (lines 1 to 5)
  curl -i localhost:$port/lines/2     (with the headers: ETag, Cache-Control)
  curl localhost:$port/               (what is served, and the API)
Ctrl-C stops the server.

EOF
else
	cat <<EOF

Serving $count files ($shown) on port $port. Try:
  curl localhost:$port/files/         (the files, by name)
  curl localhost:$port/files/$(basename "$last")/lines/1
  curl localhost:$port/               (the API)
Ctrl-C stops the server.

EOF
fi
exec bin/lined "$@"
