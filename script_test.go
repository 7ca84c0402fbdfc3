package lined_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/lined/lined/internal/command/tools"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as each tool, so that the scripts in
// testdata/script exercise the real commands in-process.
func TestMain(m *testing.M) {
	cmds := map[string]func(){}
	for _, name := range tools.Names {
		cmds[name] = func() {
			status, _ := tools.Main(name)
			os.Exit(status)
		}
	}
	testscript.Main(m, cmds)
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Index files at once, though the script has just written
			// them; settle.txtar sets it back to see the waiting.
			env.Setenv("LINED_SETTLE", "0")
			// Keep the cache fallback inside the script's work directory.
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/cache")
			env.Setenv("HOME", env.WorkDir+"/home")
			port, err := freePort()
			if err != nil {
				return err
			}
			env.Setenv("PORT", strconv.Itoa(port))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode":  exitcode,
			"gz":        gz,
			"zst":       zst,
			"httpget":   httpget,
			"waitready": waitready,
		},
	})
}

// gz [-members N] [-cut N] IN OUT writes the gzip of IN to OUT, in N
// members (as cat a.gz b.gz makes), or cut short by N bytes.
func gz(ts *testscript.TestScript, neg bool, args []string) {
	compress(ts, neg, args, "gz", func(out *bytes.Buffer, part []byte, _ int) {
		zw := gzip.NewWriter(out)
		_, err := zw.Write(part)
		ts.Check(err)
		ts.Check(zw.Close())
	})
}

// zst [-frames N] [-cut N] [-repeat N] IN OUT writes the zstd of IN to
// OUT, with klauspost's encoder: in N frames, each after a skippable
// frame when there are several (as pzstd writes them), or cut short by N
// bytes. With -repeat, the text is IN N times, in one frame that does not
// declare its size.
func zst(ts *testscript.TestScript, neg bool, args []string) {
	compress(ts, neg, args, "zst", func(out *bytes.Buffer, part []byte, parts int) {
		if parts > 1 {
			out.Write([]byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 0, 0, 0, 0})
		}
		zw, err := zstd.NewWriter(out, zstd.WithEncoderConcurrency(1))
		ts.Check(err)
		_, err = zw.Write(part)
		ts.Check(err)
		ts.Check(zw.Close())
	})
}

// compress is gz and zst: it has write compress each part of IN.
func compress(ts *testscript.TestScript, neg bool, args []string, name string, write func(out *bytes.Buffer, part []byte, parts int)) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	partsFlag := map[string]string{"gz": "members", "zst": "frames"}[name]
	parts := fs.Int(partsFlag, 1, "parts")
	cut := fs.Int("cut", 0, "bytes to cut from the end")
	repeat := 1
	if name == "zst" {
		fs.IntVar(&repeat, "repeat", 1, "times IN is repeated, in one frame")
	}
	if neg || fs.Parse(args) != nil || fs.NArg() != 2 || *parts < 1 || repeat < 1 || repeat > 1 && *parts > 1 {
		ts.Fatalf("usage: %s [-%s N] [-cut N] IN OUT", name, partsFlag)
	}
	data, err := os.ReadFile(ts.MkAbs(fs.Arg(0)))
	ts.Check(err)
	data = bytes.Repeat(data, repeat)
	var out bytes.Buffer
	per := (len(data) + *parts - 1) / *parts
	for i := range *parts {
		write(&out, data[min(i*per, len(data)):min((i+1)*per, len(data))], *parts)
	}
	ts.Check(os.WriteFile(ts.MkAbs(fs.Arg(1)), out.Bytes()[:out.Len()-*cut], 0o644))
}

// exitcode CODE PROG ARGS... runs PROG like exec and checks its exit status.
func exitcode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exitcode CODE PROG [ARGS...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exitcode: bad CODE %q", args[0])
	}
	got := 0
	if err := ts.Exec(args[1], args[2:]...); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("exitcode: %v", err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited with status %d, want %d", args[1], got, want)
	}
}

// scriptClient talks to lined from scripts: no proxy, no redirects, bounded.
var scriptClient = &http.Client{
	Timeout:       10 * time.Second,
	Transport:     &http.Transport{DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// httpget [-X METHOD] [-H 'Name: value']... [-o FILE] URL makes one request
// and prints "HTTP " and the status, the response headers but Date (sorted),
// a blank line and the body, to stdout; with -o the body goes to FILE
// instead, byte for byte.
func httpget(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("httpget", flag.ContinueOnError)
	method := fs.String("X", "GET", "method")
	out := fs.String("o", "", "write the body to `FILE`")
	var headers []string
	fs.Func("H", "request header `Name: value`", func(h string) error { headers = append(headers, h); return nil })
	if neg || fs.Parse(args) != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: httpget [-X METHOD] [-H 'Name: value']... [-o FILE] URL")
	}
	req, err := http.NewRequest(*method, fs.Arg(0), nil)
	ts.Check(err)
	for _, h := range headers {
		name, value, _ := strings.Cut(h, ":")
		req.Header.Add(strings.TrimSpace(name), strings.TrimSpace(value))
	}
	resp, err := scriptClient.Do(req)
	ts.Check(err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	w := ts.Stdout()
	fmt.Fprintf(w, "HTTP %s\n", resp.Status)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range resp.Header {
			if k != "Date" && !yield(k) {
				return
			}
		}
	}) {
		for _, v := range resp.Header[k] {
			fmt.Fprintf(w, "%s: %s\n", k, v)
		}
	}
	fmt.Fprintln(w)
	if *out != "" {
		ts.Check(os.WriteFile(ts.MkAbs(*out), body, 0o644))
		return
	}
	w.Write(body)
}

// waitready URL polls URL until it answers 200, for at most 10 s.
func waitready(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: waitready URL")
	}
	deadline := time.Now().Add(10 * time.Second)
	last := "no answer"
	for time.Now().Before(deadline) {
		resp, err := scriptClient.Get(args[0])
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%s %q", resp.Status, body)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("%s not ready within 10s: %s", args[0], last)
}

// freePort returns a port free on 127.0.0.1 for lined, below the ephemeral
// range (32768 and up on Linux): a client polling a port in that range before
// the server listens can connect to itself and take the port.
func freePort() (int, error) {
	for range 100 {
		port := 20000 + rand.IntN(12000)
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			ln.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free port below 32000")
}
