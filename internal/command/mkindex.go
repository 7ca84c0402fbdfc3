package command

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lined/lined/internal/lineindex"
	"github.com/urfave/cli/v2"
)

// Mkindex is the mkindex command line.
func Mkindex() *cli.App {
	return &cli.App{
		Name:      "mkindex",
		Usage:     "write the sparse line index of each FILE",
		UsageText: "mkindex [--index PATH] [--force] [--check] [FILE...]",
		Description: "Writes FILE.idx (or the cached index, or --index PATH) so that getline and lined\n" +
			"find any line at once. An index that is up to date is left alone unless --force.\n" +
			"Without FILE, the files LINED_FILE names (comma-separated), as lined serves them.\n" +
			"One summary line per file goes to stderr. Exit status: 0 success, 1 failure, 2 usage.",
		Flags: []cli.Flag{
			IndexFlag(),
			SettleFlag(),
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "rebuild even if the index is up to date"},
			&cli.BoolFlag{Name: "check", Usage: "verify the existing index against every byte of FILE, write nothing; exit 1 if it is missing, stale or corrupt"},
		},
		Action: mkindexAction,
	}
}

func mkindexAction(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		files = EnvFiles()
	}
	if len(files) == 0 {
		return UsageError("no FILE given (nor LINED_FILE)")
	}
	if c.String("index") != "" && len(files) > 1 {
		return UsageError("--index names one index, but %d files were given", len(files))
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	status := 0
	for _, name := range files {
		opts := lineindex.LoadOptions{
			Paths: IndexPaths(c, name),
			Build: lineindex.BuildOptions{
				Settle: Settle(c),
				Settling: func(wait time.Duration) {
					fmt.Fprintf(c.App.ErrWriter, "mkindex: %s: changed moments ago; waiting %v for writes to it to finish\n", name, wait.Round(time.Millisecond))
				},
			},
			OnBuild: func(reason error) {
				if !errors.Is(reason, lineindex.ErrNoIndex) && reason != errForced {
					fmt.Fprintf(c.App.ErrWriter, "mkindex: %s: rebuilding index: %v\n", name, reason)
				}
			},
		}
		if c.Bool("force") {
			opts.Rebuild = errForced
		}
		summary, err := indexFile(ctx, name, opts, c.Bool("check"))
		if err != nil {
			fmt.Fprintf(c.App.ErrWriter, "mkindex: %v\n", err)
			status = exitFailure
			if ctx.Err() != nil {
				break
			}
			continue
		}
		fmt.Fprintf(c.App.ErrWriter, "mkindex: %s\n", summary)
	}
	return exitStatus(status)
}

// IndexPaths returns where the index of file is looked for: --index if
// given, else lineindex.Locations.
func IndexPaths(c *cli.Context, file string) []string {
	if p := c.String("index"); p != "" {
		return []string{p}
	}
	return lineindex.Locations(file)
}

// errForced is the reason to rebuild an index that --force gives.
var errForced = errors.New("rebuilt as asked (--force)")

// indexFile indexes the file name unless a valid index exists (or
// opts.Rebuild says not to use it), or with check verifies its index
// against every byte of it, and returns its summary line.
func indexFile(ctx context.Context, name string, opts lineindex.LoadOptions, check bool) (string, error) {
	f, err := OpenSource(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	bar := newProgress(name)
	opts.Build.Progress = bar.update
	var l lineindex.Loaded
	if check {
		l.Index, l.Path, err = lineindex.Check(ctx, f, opts.Paths, opts.Build)
	} else {
		l, err = lineindex.Load(ctx, f, opts)
	}
	bar.finish()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, buildError(err))
	}
	defer l.Index.Close()
	switch {
	case check:
		return fmt.Sprintf("%s: index OK: %s", name, describeIndex(l.Index, l.Path)), nil
	case l.Restamped:
		return fmt.Sprintf("%s: index up to date, only the file's status changed (fingerprint checked): %s", name, describeIndex(l.Index, l.Path)), nil
	case !l.Built:
		return fmt.Sprintf("%s: index up to date: %s", name, describeIndex(l.Index, l.Path)), nil
	case l.SaveErr != nil:
		return "", fmt.Errorf("%s: cannot write the index: %s", name, OneLine(l.SaveErr))
	}
	summary := fmt.Sprintf("%s: indexed %s in %.2fs (%s/s)", name, describeIndex(l.Index, l.Path),
		l.Took.Seconds(), lineindex.SizeString(int64(float64(l.Index.Size())/max(l.Took.Seconds(), 1e-9))))
	if l.Extended {
		summary = fmt.Sprintf("%s: extended by %d lines in %.3fs: %s", name, l.Index.Lines()-l.ExtendedFrom, l.Took.Seconds(), describeIndex(l.Index, l.Path))
	}
	if l.Passed != nil {
		summary += " (not at " + OneLine(l.Passed) + ")"
	}
	return summary, nil
}

func buildError(err error) error {
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted")
	}
	return err
}

// describeIndex says what an index holds and where: lines, text size (and
// the file's, if compressed), index size and its share of the file.
func describeIndex(ix *lineindex.Index, path string) string {
	format, size := ix.Compressed()
	share := 0.0
	if size > 0 {
		share = 100 * float64(ix.EncodedLen()) / float64(size)
	}
	text := lineindex.SizeString(ix.Size())
	if format != "" {
		text += fmt.Sprintf(" of text in a %s %s file", lineindex.SizeString(size), format)
	}
	return fmt.Sprintf("%d lines, %s, index %s (%.3f%%) at %s",
		ix.Lines(), text, lineindex.SizeString(ix.EncodedLen()), share, path)
}
