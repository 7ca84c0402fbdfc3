// Command lined: see 'lined --help' and README.md.
package main

import (
	"os"

	"github.com/lined/lined/internal/command"
)

func main() { os.Exit(command.Main(command.Lined())) }
