// Command floor is the benchmark's floor: the least a net/http server can
// do per request on this machine. Every request, whatever its path, gets
// the same fixed 100-byte body (99 bytes and a newline) with Content-Type
// and Content-Length set, so net/http neither sniffs nor chunks.
package main

import (
	"flag"
	"log"
	"net/http"
	"strings"
)

var body = []byte(strings.Repeat("x", 99) + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen on `ADDR`")
	flag.Parse()
	contentType := []string{"text/plain; charset=utf-8"}
	contentLength := []string{"100"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = contentType
		hd["Content-Length"] = contentLength
		w.Write(body)
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
