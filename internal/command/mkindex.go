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
		UsageText: "mkindex [--index PATH] [--force] [--check] FILE...",
		Description: "Writes FILE.idx (or the cached index, or --index PATH) so that getline and lined\n" +
			"find any line at once. An index that is up to date is left alone unless --force.\n" +
			"One summary line per file goes to stderr. Exit status: 0 success, 1 failure, 2 usage.",
		Flags: []cli.Flag{
			IndexFlag(),
			&cli.BoolFlag{Name: "force", Aliases: []string{"f"}, Usage: "rebuild even if the index is up to date"},
			&cli.BoolFlag{Name: "check", Usage: "verify the existing index against every byte of FILE, write nothing; exit 1 if it is missing, stale or corrupt"},
		},
		Action: mkindexAction,
	}
}

func mkindexAction(c *cli.Context) error {
	files := c.Args().Slice()
	if len(files) == 0 {
		return UsageError("no FILE given")
	}
	if c.IsSet("index") && len(files) > 1 {
		return UsageError("--index names one index, but %d files were given", len(files))
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()

	status := 0
	for _, name := range files {
		var summary string
		var err error
		if c.Bool("check") {
			summary, err = checkIndex(ctx, name, IndexPaths(c, name))
		} else {
			summary, err = writeIndex(ctx, name, IndexPaths(c, name), c.Bool("force"))
		}
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

// writeIndex indexes the file name unless a valid index exists (or force),
// and returns its summary line.
func writeIndex(ctx context.Context, name string, paths []string, force bool) (string, error) {
	f, err := OpenSource(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if !force {
		if ix, path, err := lineindex.Open(f, paths); err == nil {
			return fmt.Sprintf("%s: index up to date: %s", name, describeIndex(ix, path)), nil
		}
	}
	start := time.Now()
	bar := newProgress(name)
	ix, err := lineindex.Build(ctx, f, lineindex.BuildOptions{Progress: bar.update})
	bar.finish()
	if err != nil {
		return "", fmt.Errorf("%s: %w", name, buildError(err))
	}
	elapsed := time.Since(start)
	path, err := lineindex.Save(ix, paths)
	if err != nil {
		return "", fmt.Errorf("%s: cannot write the index: %s", name, OneLine(err))
	}
	return fmt.Sprintf("%s: indexed %s in %.2fs (%s/s)", name, describeIndex(ix, path),
		elapsed.Seconds(), sizeString(int64(float64(ix.Size())/max(elapsed.Seconds(), 1e-9)))), nil
}

// checkIndex verifies the index of name against every byte of it.
func checkIndex(ctx context.Context, name string, paths []string) (string, error) {
	f, err := OpenSource(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	ix, path, err := lineindex.Open(f, paths)
	if err != nil {
		return "", fmt.Errorf("%s: %v", name, err)
	}
	bar := newProgress(name)
	err = ix.Verify(ctx, f, lineindex.BuildOptions{Progress: bar.update})
	bar.finish()
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", name, path, buildError(err))
	}
	return fmt.Sprintf("%s: index OK: %s", name, describeIndex(ix, path)), nil
}

func buildError(err error) error {
	if errors.Is(err, context.Canceled) {
		return errors.New("interrupted")
	}
	return err
}

// describeIndex says what an index holds and where: lines, source size,
// index size and its share of the source.
func describeIndex(ix *lineindex.Index, path string) string {
	share := 0.0
	if ix.Size() > 0 {
		share = 100 * float64(ix.EncodedLen()) / float64(ix.Size())
	}
	return fmt.Sprintf("%d lines, %s, index %s (%.3f%%) at %s",
		ix.Lines(), sizeString(ix.Size()), sizeString(ix.EncodedLen()), share, path)
}

// sizeString formats a byte count with binary units.
func sizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
