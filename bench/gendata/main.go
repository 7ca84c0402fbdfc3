// Command gendata writes the benchmarks' reference data: a deterministic text
// file of lines of random printable bytes, lengths 1..200, until it reaches
// the requested size. The same seed and size always give the same bytes.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes to write (the last line may be cut short, ending with a newline)")
	seed := flag.Uint64("seed", 1, "random seed")
	longLine := flag.Int64("long-line", 0, "if > 0, write only one line of this many bytes (plus newline)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: gendata [-size N] [-seed S] [-long-line N] > file.txt")
		flag.PrintDefaults()
	}
	flag.Parse()
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	var err error
	if *longLine > 0 {
		err = writeLongLine(w, *longLine)
	} else {
		err = writeLines(w, *size, *seed)
	}
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendata:", err)
		os.Exit(1)
	}
}

func writeLines(w *bufio.Writer, size int64, seed uint64) error {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	line := make([]byte, 0, 201)
	for written := int64(0); written < size; {
		n := 1 + r.IntN(200)
		line = line[:0]
		for range n {
			line = append(line, byte(' '+r.IntN(95)))
		}
		line = append(line, '\n')
		if rest := size - written; int64(len(line)) > rest {
			line = append(line[:rest-1], '\n')
		}
		if _, err := w.Write(line); err != nil {
			return err
		}
		written += int64(len(line))
	}
	return nil
}

func writeLongLine(w *bufio.Writer, n int64) error {
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 'a' + byte(i%26)
	}
	for n > 0 {
		c := chunk[:min(n, int64(len(chunk)))]
		if _, err := w.Write(c); err != nil {
			return err
		}
		n -= int64(len(c))
	}
	return w.WriteByte('\n')
}
