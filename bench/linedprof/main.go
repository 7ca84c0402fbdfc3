// Command linedprof is lined with net/http/pprof on a second, separate
// address, for profiling under load (bench/run.sh --pprof). The address is
// LINED_PPROF_ADDR (default 127.0.0.1:6060). Everything else is lined's own
// command line, unchanged; the handlers lined serves are not affected.
package main

import (
	"log"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"

	"github.com/lined/lined/internal/command"
	"github.com/lined/lined/internal/command/lined"
)

func main() {
	addr := os.Getenv("LINED_PPROF_ADDR")
	if addr == "" {
		addr = "127.0.0.1:6060"
	}
	go func() { log.Println(http.ListenAndServe(addr, nil)) }()
	os.Exit(command.Main(lined.App()))
}
