package lined_test

import (
	"errors"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/lined/lined/internal/command"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary run as each tool, so that the scripts in
// testdata/script exercise the real commands in-process.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"mkindex": func() { os.Exit(command.Main(command.Mkindex())) },
		"getline": func() { os.Exit(command.Main(command.Getline())) },
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			// Keep the cache fallback inside the script's work directory.
			env.Setenv("XDG_CACHE_HOME", env.WorkDir+"/cache")
			env.Setenv("HOME", env.WorkDir+"/home")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exitcode": exitcode,
		},
	})
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
