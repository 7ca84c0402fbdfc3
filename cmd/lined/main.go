// Command lined: see 'lined --help' and README.md.
package main

import (
	"os"

	"github.com/lined/lined/internal/command"
	"github.com/lined/lined/internal/command/lined"
)

func main() { os.Exit(command.Main(lined.App())) }
