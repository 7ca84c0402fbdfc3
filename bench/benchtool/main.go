// Command benchtool holds the small measuring helpers of bench/run.sh that
// are awkward or imprecise in shell: free ports, waiting for an HTTP status,
// time from exec to the first 200, memory sampling from /proc, and wall time
// with peak RSS of a command. Standard library only.
//
//	benchtool freeport [N]
//	benchtool wait-http -url U [-status 200] [-timeout 30s]
//	benchtool startup -url U [-timeout 10s] [-log FILE] -- CMD ARGS...
//	benchtool memwatch -pid P [-interval 20ms] [-for D]   (until SIGTERM, or D, or P exits)
//	benchtool mem -pid P
//	benchtool time [-o FILE] [-timeout D] -- CMD ARGS...
//	benchtool append -url U -file F [-start N] [-lines 1000] [-every 20ms] [-for 10s]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: benchtool freeport|wait-http|startup|memwatch|mem|time|append ...")
	}
	cmd, args := os.Args[1], os.Args[2:]
	switch cmd {
	case "freeport":
		freeport(args)
	case "wait-http":
		waitHTTP(args)
	case "startup":
		startup(args)
	case "memwatch":
		memwatch(args)
	case "mem":
		mem(args)
	case "time":
		timeCmd(args)
	case "append":
		appendLines(args)
	default:
		fail("unknown subcommand %q", cmd)
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "benchtool: "+format+"\n", args...)
	os.Exit(1)
}

// freeport prints N distinct free TCP ports on 127.0.0.1, one per line.
func freeport(args []string) {
	n := 1
	if len(args) > 0 {
		var err error
		if n, err = strconv.Atoi(args[0]); err != nil || n < 1 {
			fail("freeport: bad count %q", args[0])
		}
	}
	// Ports below the ephemeral range (32768 and up on Linux): a client
	// polling a port in that range before the server listens can connect to
	// itself and take the port.
	var ls []net.Listener
	for tries := 0; len(ls) < n; tries++ {
		if tries == 1000 {
			fail("freeport: no free port below 32000")
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(20000+rand.IntN(12000)))
		if err != nil {
			continue
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
}

// client never reuses connections, never follows proxies, and gives up fast.
var client = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

func status(url string) int {
	resp, err := client.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitHTTP(args []string) {
	fs := flag.NewFlagSet("wait-http", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll")
	want := fs.Int("status", 200, "status to wait for")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after")
	fs.Parse(args)
	deadline := time.Now().Add(*timeout)
	for time.Now().Before(deadline) {
		if status(*url) == *want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	fail("wait-http: %s did not answer %d within %v", *url, *want, *timeout)
}

// startup execs a server, polls url until it answers 200 and prints the
// milliseconds from just before exec to that answer, then stops the server
// with SIGTERM and prints its exit status: "MS EXIT".
func startup(args []string) {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	url := fs.String("url", "", "URL to poll")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after")
	logName := fs.String("log", "", "append the server's stdout and stderr to this file")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 || *url == "" {
		fail("startup: want -url and a command")
	}
	c := exec.Command(argv[0], argv[1:]...)
	if *logName != "" {
		f, err := os.OpenFile(*logName, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			fail("startup: %v", err)
		}
		c.Stdout, c.Stderr = f, f
	}
	start := time.Now()
	if err := c.Start(); err != nil {
		fail("startup: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	var took time.Duration
	deadline := start.Add(*timeout)
poll:
	for {
		select {
		case err := <-exited:
			fail("startup: server exited before it was ready: %v", err)
		default:
		}
		if status(*url) == 200 {
			took = time.Since(start)
			break poll
		}
		if time.Now().After(deadline) {
			c.Process.Kill()
			<-exited
			fail("startup: %s not 200 within %v", *url, *timeout)
		}
		time.Sleep(200 * time.Microsecond)
	}
	c.Process.Signal(syscall.SIGTERM)
	code := -1
	select {
	case err := <-exited:
		code = exitCode(err)
	case <-time.After(15 * time.Second):
		c.Process.Kill()
		<-exited
	}
	fmt.Printf("%.3f %d\n", float64(took.Microseconds())/1000, code)
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// procMem reads RssAnon and VmRSS (KiB) from /proc/PID/status.
func procMem(pid int) (anon, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		var dst *int64
		switch {
		case strings.HasPrefix(line, "RssAnon:"):
			dst = &anon
		case strings.HasPrefix(line, "VmRSS:"):
			dst = &rss
		default:
			continue
		}
		fields := strings.Fields(line)
		if len(fields) >= 2 {
			*dst, _ = strconv.ParseInt(fields[1], 10, 64)
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	return anon, rss, sc.Err()
}

func mem(args []string) {
	fs := flag.NewFlagSet("mem", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to read")
	fs.Parse(args)
	anon, rss, err := procMem(*pid)
	if err != nil {
		fail("mem: %v", err)
	}
	fmt.Printf("%d %d\n", anon, rss)
}

// memwatch samples a process's memory until SIGTERM/SIGINT, the -for
// duration, or the process's end, and prints "MAX_RSSANON_KB MAX_VMRSS_KB SAMPLES".
func memwatch(args []string) {
	fs := flag.NewFlagSet("memwatch", flag.ExitOnError)
	pid := fs.Int("pid", 0, "process to sample")
	interval := fs.Duration("interval", 20*time.Millisecond, "sampling interval")
	dur := fs.Duration("for", 0, "stop after this long (0: until signalled)")
	fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *dur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *dur)
		defer cancel()
	}
	var maxAnon, maxRSS int64
	samples := 0
	t := time.NewTicker(*interval)
	defer t.Stop()
	for {
		anon, rss, err := procMem(*pid)
		if err != nil {
			break
		}
		samples++
		maxAnon, maxRSS = max(maxAnon, anon), max(maxRSS, rss)
		select {
		case <-ctx.Done():
		case <-t.C:
			continue
		}
		break
	}
	fmt.Printf("%d %d %d\n", maxAnon, maxRSS, samples)
}

// timeCmd runs a command with stdout to -o and prints "WALL_SECONDS MAXRSS_KB EXIT".
func timeCmd(args []string) {
	fs := flag.NewFlagSet("time", flag.ExitOnError)
	out := fs.String("o", "/dev/null", "the command's stdout")
	timeout := fs.Duration("timeout", 5*time.Minute, "kill the command after")
	fs.Parse(args)
	argv := fs.Args()
	if len(argv) == 0 {
		fail("time: want a command")
	}
	f, err := os.OpenFile(*out, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		fail("time: %v", err)
	}
	defer f.Close()
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdout, c.Stderr = f, os.Stderr
	start := time.Now()
	if err := c.Start(); err != nil {
		fail("time: %v", err)
	}
	timer := time.AfterFunc(*timeout, func() { c.Process.Kill() })
	err = c.Wait()
	wall := time.Since(start)
	timer.Stop()
	var maxrss int64
	if ru, ok := c.ProcessState.SysUsage().(*syscall.Rusage); ok {
		maxrss = ru.Maxrss // KiB on Linux
	}
	fmt.Printf("%.6f %d %d\n", wall.Seconds(), maxrss, exitCode(err))
}

// appendLines appends -lines lines to -file every -every for -for, and asks
// the lined at -url (http://HOST:PORT) for each batch's last line until it
// answers 200 with it. It prints the batches and the median and greatest
// time from a batch's write to that answer, in milliseconds:
// "batches N median_ms M max_ms X".
func appendLines(args []string) {
	fs := flag.NewFlagSet("append", flag.ExitOnError)
	url := fs.String("url", "", "lined's base URL")
	file := fs.String("file", "", "the file lined serves")
	lines := fs.Int("lines", 1000, "lines per batch")
	every := fs.Duration("every", 20*time.Millisecond, "time between batches")
	total := fs.Duration("for", 10*time.Second, "how long")
	start := fs.Int("start", -1, "lines already in the file (default: count them)")
	fs.Parse(args)
	f, err := os.OpenFile(*file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		fail("%v", err)
	}
	defer f.Close()
	n := *start
	if n < 0 {
		if n, err = countLines(*file); err != nil {
			fail("%v", err)
		}
	}
	type batch struct {
		last    int
		line    string
		written time.Time
	}
	batches := make(chan batch, 1<<14)
	done := make(chan []time.Duration)
	go func() {
		var took []time.Duration
		client := &http.Client{Timeout: 5 * time.Second}
		for b := range batches {
			for {
				resp, err := client.Get(fmt.Sprintf("%s/lines/%d", *url, b.last))
				if err == nil {
					body, _ := io.ReadAll(io.LimitReader(resp.Body, int64(len(b.line))+1))
					resp.Body.Close()
					if resp.StatusCode == 200 && string(body) == b.line {
						break
					}
				}
				if time.Since(b.written) > 10*time.Second {
					fail("line %d not served within 10 s of its write", b.last)
				}
				time.Sleep(time.Millisecond)
			}
			took = append(took, time.Since(b.written))
		}
		done <- took
	}()
	tick := time.NewTicker(*every)
	for end := time.Now().Add(*total); time.Now().Before(end); {
		var b strings.Builder
		var last string
		for range *lines {
			n++
			last = fmt.Sprintf("appended line %d, %s\n", n, strings.Repeat("z", n%90))
			b.WriteString(last)
		}
		if _, err := f.WriteString(b.String()); err != nil {
			fail("%v", err)
		}
		batches <- batch{n, last, time.Now()}
		<-tick.C
	}
	tick.Stop()
	close(batches)
	took := <-done
	slices.Sort(took)
	fmt.Printf("batches %d median_ms %.1f max_ms %.1f\n", len(took),
		float64(took[len(took)/2])/1e6, float64(took[len(took)-1])/1e6)
}

func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<30)
	for sc.Scan() {
		n++
	}
	return n, sc.Err()
}
