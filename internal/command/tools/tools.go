// Package tools runs each of the three tools by name, as its main package
// does, so that the end-to-end and reliability tests can re-execute their
// test binary as mkindex, getline or lined.
package tools

import (
	"github.com/lined/lined/internal/command"
	"github.com/lined/lined/internal/command/lined"
	"github.com/urfave/cli/v2"
)

var apps = map[string]func() *cli.App{
	"mkindex": command.Mkindex,
	"getline": command.Getline,
	"lined":   lined.App,
}

// Names are the tools' names.
var Names = []string{"mkindex", "getline", "lined"}

// Main runs the tool called name with the process's arguments and returns
// its exit status; ok is false if there is no such tool.
func Main(name string) (status int, ok bool) {
	app, ok := apps[name]
	if !ok {
		return 0, false
	}
	return command.Main(app()), true
}
