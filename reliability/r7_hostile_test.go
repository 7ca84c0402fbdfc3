package reliability

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lined/lined/internal/testkit"
)

// hostileFile is one file of R7, and how many of its lines lined is asked
// for (0: all).
type hostileFile struct {
	name   string
	data   []byte
	sample int
}

func hostileFiles() []hostileFile {
	var files []hostileFile
	for _, f := range testkit.HostileFiles(pick(8<<20, 32<<20, 100<<20), pick(100_000, 1_000_000, 10_000_000)) {
		sample := 0 // every line
		if lines := bytes.Count(f.Data, []byte{'\n'}); lines > 20_000 {
			sample = pick(20_000, 50_000, 100_000)
		}
		files = append(files, hostileFile{f.Name, f.Data, sample})
	}
	return files
}

// R7: hostile files are served byte-exact against the naive reference
// (splitLines), through getline (every line, in order and shuffled, read
// from stdin, and one past the end; a sample also against GNU sed -n Np)
// and through lined (every line, or a sample of the larger files that
// always has the first and last thousand; long lines compared by SHA-256).
func TestR7HostileFiles(t *testing.T) {
	skipShort(t)
	// Correctness only, no timing: it may share the machine.
	t.Parallel()
	dir := t.TempDir()
	_, sedErr := exec.LookPath("sed")
	var report []string
	for _, hf := range hostileFiles() {
		start := time.Now()
		file := writeFile(t, dir, hf.name, hf.data)
		want := splitLines(hf.data)
		if !bytes.Equal(bytes.Join(want, nil), hf.data) {
			t.Fatalf("%s: the reference does not reproduce the file", hf.name)
		}

		// getline: every line, in order, from stdin.
		var in strings.Builder
		for n := 1; n <= len(want); n++ {
			in.WriteString(strconv.Itoa(n))
			in.WriteByte('\n')
		}
		r := runTool(t, dir, "getline", []byte(in.String()), file, "-")
		if r.code != 0 || !bytes.Equal(r.stdout, hf.data) {
			t.Errorf("%s: getline of every line: exit %d, %d bytes (want %d), stderr %.200q", hf.name, r.code, len(r.stdout), len(hf.data), r.stderr)
			continue
		}
		// Shuffled, as arguments when they are few.
		if args, expect := testkit.Shuffled(want, uint64(len(want)), 1000); len(args) > 0 {
			r = runTool(t, dir, "getline", nil, append([]string{file}, args...)...)
			if r.code != 0 || !bytes.Equal(r.stdout, expect) {
				t.Errorf("%s: getline of %d shuffled lines: exit %d, output differs", hf.name, len(args), r.code)
			}
		}
		// One past the end.
		r = runTool(t, dir, "getline", nil, file, strconv.Itoa(len(want)+1))
		msg := fmt.Sprintf("getline: %s: line %d is beyond the end of the file (%d lines)\n", file, len(want)+1, len(want))
		if r.code != 1 || len(r.stdout) != 0 || string(r.stderr) != msg {
			t.Errorf("%s: one past the end: exit %d, stderr %q; want 1, %q", hf.name, r.code, r.stderr, msg)
		}
		// GNU sed, on a few lines.
		if sedErr == nil {
			for _, n := range sedSample(len(want)) {
				out, err := exec.Command("sed", "-n", strconv.Itoa(n)+"p", file).Output()
				if err != nil || !bytes.Equal(out, want[n-1]) {
					t.Errorf("%s: sed -n %dp differs from the reference: %v", hf.name, n, err)
				}
			}
		}

		// lined.
		asked := linedCheck(t, dir, file, hf, want)
		report = append(report, fmt.Sprintf("%s (%d lines, %d via lined) %v", hf.name, len(want), asked, time.Since(start).Round(time.Millisecond)))
	}
	figure(t, "R7", "byte-exact through getline (every line) and lined against the naive reference, and sed -n Np on samples: %s", strings.Join(report, "; "))
}

// sedSample returns a few line numbers of a file of m lines to compare with sed.
func sedSample(m int) []int {
	var ns []int
	for _, n := range []int{1, 2, m / 2, m - 1, m} {
		if n >= 1 && n <= m && !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

// linedCheck serves file with lined and compares the lines it serves with
// want, over 8 keep-alive connections; it returns how many it asked for.
func linedCheck(t *testing.T, dir, file string, hf hostileFile, want [][]byte) int {
	t.Helper()
	p := startLined(t, dir, "--file", file)
	p.waitReady(30 * time.Second)
	ns := make([]int, 0, len(want))
	if hf.sample == 0 || hf.sample >= len(want) {
		for n := 1; n <= len(want); n++ {
			ns = append(ns, n)
		}
	} else {
		r := rand.New(rand.NewPCG(uint64(len(want)), 77))
		for n := 1; n <= 1000; n++ {
			ns = append(ns, n, len(want)+1-n)
		}
		for len(ns) < hf.sample {
			ns = append(ns, 1+r.IntN(len(want)))
		}
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			k, err := dial(p.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer k.Close()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ns) {
					return
				}
				n := ns[i]
				if err := getExact(k, n, want[n-1]); err != nil {
					t.Errorf("%s: lined line %d: %v", hf.name, n, err)
					next.Store(int64(len(ns)))
					return
				}
			}
		})
	}
	wg.Wait()
	// One past the end, and the whole file's count.
	code, body, err := p.get("/lines/" + strconv.Itoa(len(want)+1))
	if msg := fmt.Sprintf("line %d is beyond the end of the file (%d lines)\n", len(want)+1, len(want)); err != nil || code != 413 || string(body) != msg {
		t.Errorf("%s: lined one past the end: %d %q %v", hf.name, code, body, err)
	}
	if c, _ := p.signal(syscall.SIGTERM, 15*time.Second); c != 0 {
		t.Errorf("%s: lined exit %d", hf.name, c)
	}
	return len(ns)
}

// getExact requests line n on k and compares it with want, streaming long
// lines through SHA-256.
func getExact(k *conn, n int, want []byte) error {
	k.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := io.WriteString(k.c, "GET /lines/"+strconv.Itoa(n)+" HTTP/1.1\r\nHost: lined\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(k.br, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ContentLength != int64(len(want)) {
		return fmt.Errorf("%s, Content-Length %d, want 200 and %d", resp.Status, resp.ContentLength, len(want))
	}
	if len(want) < 1<<20 {
		got, err := io.ReadAll(resp.Body)
		if err != nil || !bytes.Equal(got, want) {
			return fmt.Errorf("body %.80q (%v), want %.80q", got, err, want)
		}
		return nil
	}
	h := sha256.New()
	got, err := io.Copy(h, resp.Body)
	if err != nil || got != int64(len(want)) || !bytes.Equal(h.Sum(nil), sha256Of(want)) {
		return fmt.Errorf("%d bytes streamed (%v), want %d; or content differs", got, err, len(want))
	}
	return nil
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}
