package command

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

// TestMkindexStopsOnSignal: SIGINT and SIGTERM stop mkindex promptly,
// whatever it is doing (waiting for the file to settle, or reading it),
// with status 1 and no index or temporary file left.
func TestMkindexStopsOnSignal(t *testing.T) {
	if testing.Short() {
		t.Skip("an 8 GiB sparse file")
	}
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
		cmd := exec.Command(exe, "-test.run=TestHelperTool", "--", "--settle", tc.settle, tc.file)
		cmd.Env = append(os.Environ(), "LINED_HELPER=mkindex")
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
