// Command floor is the benchmark's floor: the least a net/http server can
// do per request on this machine. Every request, whatever its path, gets
// the same fixed 100-byte body (99 bytes and a newline) with Content-Type
// and Content-Length set, so net/http neither sniffs nor chunks.
//
// With -read FILE, each body is instead 100 bytes read with one pread(2)
// from a pseudo-random offset of FILE: the floor of any server that reads
// its answer from a file, which is what lined must do per line.
package main

import (
	"flag"
	"log"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
)

const bodyLen = 100

var body = []byte(strings.Repeat("x", bodyLen-1) + "\n")

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen on `ADDR`")
	read := flag.String("read", "", "read each body from `FILE` (pread at a pseudo-random offset)")
	flag.Parse()
	contentType := []string{"text/plain; charset=utf-8"}
	contentLength := []string{"100"}
	var f *os.File
	var span int64
	if *read != "" {
		var err error
		if f, err = os.Open(*read); err != nil {
			log.Fatal(err)
		}
		fi, err := f.Stat()
		if err != nil {
			log.Fatal(err)
		}
		if span = fi.Size() - bodyLen; span <= 0 {
			log.Fatalf("%s: shorter than %d bytes", *read, bodyLen)
		}
	}
	var seq atomic.Uint64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd["Content-Type"] = contentType
		hd["Content-Length"] = contentLength
		if f == nil {
			w.Write(body)
			return
		}
		// A 64-bit mix of a counter (splitmix64's finaliser): offsets
		// spread over the whole file, as uniform line numbers do.
		x := seq.Add(0x9e3779b97f4a7c15)
		x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
		x = (x ^ x>>27) * 0x94d049bb133111eb
		x ^= x >> 31
		var buf [bodyLen]byte
		if _, err := f.ReadAt(buf[:], int64(x%uint64(span))); err != nil {
			http.Error(w, "read failed", http.StatusInternalServerError)
			return
		}
		w.Write(buf[:])
	})
	log.Fatal(http.ListenAndServe(*addr, h))
}
