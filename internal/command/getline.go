package command

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lined/lined/internal/lineindex"
	"github.com/urfave/cli/v2"
)

// Getline is the getline command line.
func Getline() *cli.App {
	return &cli.App{
		Name:      "getline",
		Usage:     "print lines of FILE by number, like sed -n Np, or by range, like sed -n N,Mp",
		UsageText: "getline [--index PATH] FILE N|N-M|-...   (- reads N and N-M from stdin, one per line)",
		Description: "Prints the bytes of each line N (numbered from 1), or of lines N to M, exactly as\n" +
			"stored, terminators included, in the order asked; a range that runs past the end\n" +
			"stops at the last line. Builds and caches FILE's index first if needed.\n" +
			"Exit status: 0 all lines printed; 1 some N beyond the end of FILE; 2 usage or I/O error.",
		Flags:  []cli.Flag{IndexFlag(), SettleFlag()},
		Action: getlineAction,
	}
}

// request is what one argument asks for: lines first to last, or (stdin)
// the requests read from standard input.
type request struct {
	first, last int64
	stdin       bool
}

func getlineAction(c *cli.Context) error {
	args := c.Args().Slice()
	if len(args) < 2 {
		return UsageError("want FILE and at least one line number N, range N-M, or - to read them from stdin")
	}
	name := args[0]
	var requests []request
	for _, s := range args[1:] {
		if s == "-" {
			requests = append(requests, request{stdin: true})
			continue
		}
		first, last, err := lineindex.ParseLines(s)
		if err != nil {
			return UsageError("invalid line number %q: %v", s, err)
		}
		requests = append(requests, request{first: first, last: last})
	}

	f, err := OpenSource(name)
	if err != nil {
		return &exitError{code: exitUsage, msg: err.Error()}
	}
	defer f.Close()
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	l, err := loadIndex(ctx, c, name, f)
	if err != nil {
		return err
	}

	defer l.Index.Close()
	p := &printer{
		name: name, src: l.Index.Source(f, lineindex.SourceOptions{}), ix: l.Index, stderr: c.App.ErrWriter,
		out: bufio.NewWriterSize(c.App.Writer, 64<<10),
		buf: make([]byte, 64<<10),
	}
	if f, ok := c.App.Writer.(*os.File); ok {
		p.file = &outputFile{f: f}
	}
	for _, r := range requests {
		if r.stdin {
			err = p.printFrom(c.App.Reader)
		} else {
			err = p.print(r.first, r.last)
		}
		if err != nil {
			break
		}
	}
	if ferr := p.out.Flush(); err == nil && ferr != nil {
		err = fmt.Errorf("writing output: %w", ferr)
	}
	if err != nil {
		var e *exitError
		if !errors.As(err, &e) {
			err = &exitError{code: exitUsage, msg: err.Error()}
		}
		return err
	}
	return exitStatus(p.status)
}

// loadIndex returns a valid index for f, building it if needed and saying
// why on stderr when an index was there but could not be used.
func loadIndex(ctx context.Context, c *cli.Context, name string, f *os.File) (lineindex.Loaded, error) {
	l, err := lineindex.Load(ctx, f, lineindex.LoadOptions{
		Paths: IndexPaths(c, name),
		Build: lineindex.BuildOptions{Settle: Settle(c)},
		OnBuild: func(reason error) {
			if !errors.Is(reason, lineindex.ErrNoIndex) {
				fmt.Fprintf(c.App.ErrWriter, "getline: %s: rebuilding index: %v\n", name, reason)
			}
		},
	})
	if err != nil {
		return l, &exitError{code: exitUsage, msg: fmt.Sprintf("%s: cannot index: %v", name, buildError(err))}
	}
	if l.SaveErr != nil {
		fmt.Fprintf(c.App.ErrWriter, "getline: %s: warning: index not saved, it will be built again next time: %s\n", name, OneLine(l.SaveErr))
	}
	return l, nil
}

// printer writes requested lines of one file to out.
type printer struct {
	name   string
	src    *lineindex.Source // every read checked: one version of the file
	ix     *lineindex.Index
	out    *bufio.Writer
	file   *outputFile // out's writer, if it is a file: long runs of lines are written to it directly
	buf    []byte
	stderr io.Writer
	status int // 1 once a line was beyond the end
}

// print writes lines first to last (up to the last line, as sed does). A
// first line beyond the end is reported and remembered in the exit status;
// any other failure is returned.
func (p *printer) print(first, last int64) error {
	line, err := p.ix.FindRange(p.src, first, last, p.buf)
	if err == nil {
		err = p.write(line)
	}
	var re *lineindex.RangeError
	switch {
	case err == nil:
		return nil
	case p.file != nil && p.file.err != nil:
		return fmt.Errorf("writing output: %w", p.file.err)
	case errors.As(err, &re):
		fmt.Fprintf(p.stderr, "getline: %s: %v\n", p.name, err)
		p.status = exitFailure
		return nil
	case errors.Is(err, lineindex.ErrIndexChanged):
		return fmt.Errorf("%s: its index file changed while it was being read; run again", p.name)
	case errors.Is(err, lineindex.ErrMismatch):
		return fmt.Errorf("%s: the file changed while it was being read; run again", p.name)
	}
	return fmt.Errorf("%s: %v", p.name, err)
}

// write writes line, which may be a run of lines, through out, or to the
// file out writes to when it is longer than out's buffer: then the kernel
// may copy most of it from file to file, unread (see Line.WriteTo).
func (p *printer) write(line lineindex.Line) error {
	if p.file == nil || line.Length <= int64(p.out.Available()) {
		_, err := line.WriteTo(p.out, p.src)
		return err
	}
	if err := p.out.Flush(); err != nil {
		return err
	}
	_, err := line.WriteTo(p.file, p.src)
	return err
}

// outputFile is the file getline writes to, remembering the first error a
// write to it met, to report it as an output error.
type outputFile struct {
	f   *os.File
	err error
}

func (o *outputFile) Write(b []byte) (int, error) {
	n, err := o.f.Write(b)
	if err != nil && o.err == nil {
		o.err = err
	}
	return n, err
}

// SyscallConn lets the kernel copy to the file (see Line.WriteTo).
func (o *outputFile) SyscallConn() (syscall.RawConn, error) { return o.f.SyscallConn() }

// printFrom prints the lines whose numbers or ranges r holds, one per line;
// blank lines are skipped and surrounding white space ignored. Output is flushed
// whenever no more input is buffered, so that interactive use answers at once.
func (p *printer) printFrom(r io.Reader) error {
	in := bufio.NewReader(r)
	for lineNo := 1; ; lineNo++ {
		text, err := in.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return UsageError("stdin:%d: line too long for a line number", lineNo)
		}
		if s := string(bytes.TrimSpace(text)); s != "" {
			first, last, perr := lineindex.ParseLines(s)
			if perr != nil {
				return UsageError("stdin:%d: invalid line number %q: %v", lineNo, s, perr)
			}
			if perr := p.print(first, last); perr != nil {
				return perr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
		if in.Buffered() == 0 {
			if err := p.out.Flush(); err != nil {
				return fmt.Errorf("writing output: %w", err)
			}
		}
	}
}
