// Package command holds the command lines of mkindex and getline, and what
// all three tools share (lined's is in command/lined), so that their thin
// main packages and the end-to-end tests run the same code.
package command

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/lined/lined/internal/lineindex"
	"github.com/urfave/cli/v2"
)

// Version is the release the binaries report; set at link time with
// -ldflags "-X github.com/lined/lined/internal/command.Version=v1.2.3".
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// Exit statuses shared by the tools.
const (
	exitFailure = 1
	exitUsage   = 2
)

// exitError carries a process exit status and an optional message.
type exitError struct {
	code  int
	msg   string // printed as "NAME: msg" unless empty
	usage bool   // followed by a pointer to --help
}

func (e *exitError) Error() string { return e.msg }

// UsageError is an error that exits 2 and points to --help.
func UsageError(format string, args ...any) error {
	return &exitError{code: exitUsage, msg: fmt.Sprintf(format, args...), usage: true}
}

// exitStatus ends the run with code, its messages having been printed.
func exitStatus(code int) error {
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// Main runs app with the process's arguments and returns the exit status.
// Errors are printed as "NAME: message"; usage errors exit 2 with a pointer
// to --help, other errors with their exit status (1 by default).
func Main(app *cli.App) int {
	return Run(app, os.Args, os.Stderr)
}

// Run runs app with args, printing errors to stderr, and returns the exit
// status (see Main).
func Run(app *cli.App, args []string, stderr io.Writer) int {
	app.Version = version()
	app.HideHelpCommand = true
	app.ErrWriter = stderr
	app.ExitErrHandler = func(*cli.Context, error) {} // statuses are ours
	app.OnUsageError = func(_ *cli.Context, err error, _ bool) error {
		return UsageError("%s", flagValueError(app, err))
	}
	err := app.Run(args)
	if err == nil {
		return 0
	}
	if msg := flagValueError(app, err); msg != err.Error() {
		err = UsageError("%s", msg)
	}
	var e *exitError
	if !errors.As(err, &e) {
		e = &exitError{code: exitFailure, msg: err.Error()}
	}
	if e.msg != "" {
		fmt.Fprintf(stderr, "%s: %s\n", app.Name, e.msg)
		if e.usage {
			fmt.Fprintf(stderr, "Run '%s --help' for usage.\n", app.Name)
		}
	}
	return e.code
}

var (
	badFlagValue = regexp.MustCompile(`^invalid value "(.*)" for flag -(\S+): parse error$`)
	badEnvValue  = regexp.MustCompile(`^could not parse "(.*)" as \S+ value from environment variable "(\S+)" for flag (\S+): `)
)

// flagValueError is the message of err, said better when it is a value the
// flag package could not parse: which flag or variable, and what it wants,
// rather than "parse error".
func flagValueError(app *cli.App, err error) string {
	var value, name, where string
	if m := badFlagValue.FindStringSubmatch(err.Error()); m != nil {
		value, name, where = m[1], m[2], "--"+m[2]
	} else if m := badEnvValue.FindStringSubmatch(err.Error()); m != nil {
		value, name, where = m[1], m[3], m[2]
	} else {
		return err.Error()
	}
	for _, f := range app.Flags {
		if !slices.Contains(f.Names(), name) {
			continue
		}
		switch f.(type) {
		case *cli.DurationFlag:
			return fmt.Sprintf("%s: %q is not a duration: give a unit, as in 5s, 500ms or 1m", where, value)
		case *cli.IntFlag:
			return fmt.Sprintf("%s: %q is not a whole number", where, value)
		case *cli.BoolFlag:
			return fmt.Sprintf("%s: %q is not true or false", where, value)
		}
	}
	return err.Error()
}

// describe turns an error from opening or reading a file into words that
// name the file once, without Go's "open NAME:" prefix.
func describe(name string, err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return name + ": no such file"
	case errors.Is(err, fs.ErrPermission):
		// In a container the tools often run as a user the file's
		// owner did not expect: say which.
		return fmt.Sprintf("%s: permission denied (reading as uid %d)", name, os.Geteuid())
	case errors.Is(err, syscall.EISDIR):
		return name + ": is a directory"
	}
	return fmt.Sprintf("%s: %v", name, err)
}

// IndexFlag is the --index flag every tool shares.
func IndexFlag() *cli.StringFlag {
	return &cli.StringFlag{
		Name:    "index",
		Usage:   "index file `PATH` (default: FILE.idx, or the user cache directory if FILE's directory is not writable)",
		EnvVars: []string{"LINED_INDEX"},
	}
}

// SettleFlag is the --settle flag every tool shares.
func SettleFlag() *cli.DurationFlag {
	return &cli.DurationFlag{
		Name:    "settle",
		Value:   lineindex.DefaultSettle,
		Usage:   "index a file only once it has been left alone for `DURATION` (0: at once), so that no write is still running while it is read",
		EnvVars: []string{"LINED_SETTLE"},
	}
}

// Settle is the value of --settle as BuildOptions.Settle takes it: 0
// there means the default, here no wait.
func Settle(c *cli.Context) time.Duration {
	if d := c.Duration("settle"); d > 0 {
		return d
	}
	return -1
}

// OneLine is err's message on one line: the reasons of an error that joins
// several (one per place an index was tried) separated by "; ".
func OneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}

// EnvFiles returns the files LINED_FILE names, comma-separated: those lined
// serves without --file, and mkindex indexes without FILE, so that one
// setting serves both (a container's index job and its server).
func EnvFiles() []string {
	return slices.DeleteFunc(strings.Split(os.Getenv("LINED_FILE"), ","), func(n string) bool { return n == "" })
}
