package reliability

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Both tools refuse a file they may not read: getline with status 2,
// mkindex with status 1, naming the file. Run as another user, since root
// may read anything.
func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run as another user")
	}
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("no setpriv")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	path := writeFile(t, dir, "secret.txt", []byte("a\n"))
	os.Chmod(path, 0o600)
	bin := filepath.Join(dir, "tool") // the test binary, where the user can run it
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		tool   string
		args   []string
		status int
	}{
		{"getline", []string{path, "1"}, 2},
		{"mkindex", []string{path}, 1},
	} {
		cmd := exec.Command("setpriv", append([]string{"--reuid", "65534", "--regid", "65534", "--clear-groups", bin}, tc.args...)...)
		cmd.Env = env(t, tc.tool, filepath.Join(dir, "cache"))
		out, err := cmd.CombinedOutput()
		ee, ok := err.(*exec.ExitError)
		want := tc.tool + ": " + path + ": permission denied (reading as uid 65534)"
		if !ok || ee.ExitCode() != tc.status || !strings.Contains(string(out), want) {
			t.Errorf("%s of an unreadable file: %v, %q; want status %d and %q", tc.tool, err, out, tc.status, want)
		}
	}
}

// SIGINT and SIGTERM stop mkindex promptly, whatever it is doing (waiting
// for the file to settle, or reading it), with status 1 and no index or
// temporary file left.
func TestMkindexStopsOnSignal(t *testing.T) {
	skipShort(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fresh := writeFile(t, dir, "fresh.txt", []byte("just written\n"))
	sparse := filepath.Join(dir, "sparse.txt")
	if err := os.WriteFile(sparse, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(sparse, 8<<30); err != nil {
		t.Skipf("no sparse file here: %v", err)
	}
	for _, tc := range []struct {
		name, file, settle string
		sig                syscall.Signal
	}{
		{"waiting to settle", fresh, "1h", syscall.SIGTERM},
		{"waiting to settle", fresh, "1h", syscall.SIGINT},
		{"reading", sparse, "0", syscall.SIGTERM},
		{"reading", sparse, "0", syscall.SIGINT},
	} {
		cmd := exec.Command(exe, "--settle", tc.settle, tc.file)
		cmd.Env = env(t, "mkindex", filepath.Join(dir, "cache"))
		var errs bytes.Buffer
		cmd.Stderr = &errs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		cmd.Process.Signal(tc.sig)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err = <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Fatalf("%s, %v: mkindex still running 5 s after the signal", tc.name, tc.sig)
		}
		took := time.Since(start)
		ee, ok := err.(*exec.ExitError)
		if !ok || ee.ExitCode() != 1 || !strings.Contains(errs.String(), ": interrupted") {
			t.Errorf("%s, %v: %v, stderr %q; want status 1, interrupted", tc.name, tc.sig, err, errs.String())
		}
		if took > time.Second {
			t.Errorf("%s, %v: mkindex took %v to stop", tc.name, tc.sig, took)
		}
		left, _ := filepath.Glob(filepath.Join(dir, ".*"))
		if idx, _ := filepath.Glob(filepath.Join(dir, "*.idx")); len(left)+len(idx) > 0 {
			t.Errorf("%s, %v: left behind %q %q", tc.name, tc.sig, left, idx)
		}
	}
}

// A lined started in the background by a shell script inherits SIGINT
// ignored. The first SIGINT still starts a graceful stop, and a second
// ends the process at once, rather than after the drain.
func TestSecondSignalStopsAtOnce(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := writeFile(t, dir, "f.txt", []byte("a\nb\n"))
	logs := &syncBuffer{}
	// trap '' INT: what a non-interactive shell does for a job run with &.
	cmd := exec.Command("sh", "-c", `trap '' INT; exec "$0" "$@"`, exe,
		"--addr", "127.0.0.1:0", "--file", file, "--drain", "30s", "--shutdown-timeout", "60s")
	cmd.Env = env(t, "lined", filepath.Join(dir, "cache"))
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer cmd.Process.Kill()
	var addr string
	waitFor(t, 10*time.Second, "lined listening", func() bool {
		m := listeningRE.FindStringSubmatch(logs.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	// A keep-alive connection that stays open keeps the drain waiting.
	k, err := dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	waitFor(t, 10*time.Second, "ready", func() bool {
		r, err := k.get("/readyz", 5*time.Second)
		return err == nil && r.code == 200
	})
	cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, 5*time.Second, "the graceful stop begun", func() bool { return strings.Contains(logs.String(), "msg=stopping") })
	select {
	case err := <-done:
		t.Fatalf("lined exited (%v) before the drain ended, with a connection open", err)
	case <-time.After(300 * time.Millisecond):
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("lined still running 5 s after a second SIGINT:\n%s", logs.String())
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("a second SIGINT took %v to stop lined", took)
	}
	if !strings.Contains(logs.String(), "second signal: stopping at once") {
		t.Errorf("no log line for the second signal:\n%s", logs.String())
	}
}
