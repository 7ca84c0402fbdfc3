package command

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lined/lined/internal/testkit"
	"github.com/urfave/cli/v2"
)

// TestMain has the tools index files at once, though the tests have just
// written them (--settle 0), unless a test says otherwise; the waiting
// itself is tested in package lineindex and by the scripts.
func TestMain(m *testing.M) {
	os.Setenv("LINED_SETTLE", "0")
	os.Exit(m.Run())
}

// runTool runs a tool in-process as if from the shell and returns what it
// printed and its exit status.
func runTool(t *testing.T, app *cli.App, stdin string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	var out, errs bytes.Buffer
	app.Writer = &out
	app.Reader = strings.NewReader(stdin)
	status = Run(app, append([]string{app.Name}, args...), &errs)
	return out.String(), errs.String(), status
}

var writeFile = testkit.WriteFile

// makeImmutable makes dir unwritable even for root, for the rest of the test.
func makeImmutable(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("chattr", "+i", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot make a read-only directory here (chattr +i: %v: %s)", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", "-i", dir).Run() })
	if err := os.WriteFile(filepath.Join(dir, "probe"), nil, 0o644); err == nil {
		t.Fatal("chattr +i did not make the directory read-only")
	}
}
