package lineindex

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"time"
)

// StaleError reports an index that does not describe its source as it is now.
type StaleError struct {
	Reason string
}

func (e *StaleError) Error() string { return "index is stale: " + e.Reason }

func stale(format string, args ...any) error {
	return &StaleError{Reason: fmt.Sprintf(format, args...)}
}

// Validate checks that the index describes f as it is now: same size, same
// modification time, same fingerprint. It reads a few sampled blocks of f,
// never the whole file, so it takes about the same time for any size.
func (ix *Index) Validate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.Size() != ix.size {
		return stale("file is %d bytes, index is for %d", fi.Size(), ix.size)
	}
	if fi.ModTime().UnixNano() != ix.modTime {
		return stale("file modified at %v, index is for %v", fi.ModTime().UTC(), ix.ModTime().UTC())
	}
	if ct := changeTime(fi); ix.changeTime != 0 && ct != ix.changeTime {
		return stale("file status changed at %v, index is for %v", time.Unix(0, ct).UTC(), time.Unix(0, ix.changeTime).UTC())
	}
	fp, err := fingerprint(f, ix.size)
	if err != nil {
		return err
	}
	if fp != ix.fingerprint {
		return stale("file content differs (fingerprint)")
	}
	return nil
}

// Verify checks the index against every byte of f: it validates it, then
// indexes f again and compares the two, content checksum included.
func (ix *Index) Verify(ctx context.Context, f *os.File, opts BuildOptions) error {
	if err := ix.Validate(f); err != nil {
		return err
	}
	opts.Spacing = ix.spacing
	fresh, err := Build(ctx, f, opts)
	if err != nil {
		return err
	}
	cps := make([]byte, len(ix.cps))
	if err := ix.copyBody(cps); err != nil {
		return err
	}
	switch {
	case fresh.content != ix.content:
		return stale("file content differs (checksum)")
	case fresh.lines != ix.lines || !bytes.Equal(fresh.cps, cps):
		return stale("checkpoints differ from the file's lines")
	}
	return nil
}
