package lineindex

import (
	"bytes"
	"context"
	"fmt"
	"os"
)

// staleError reports an index that does not describe its source as it is now.
type staleError struct {
	Reason string
}

func (e *staleError) Error() string { return "index is stale: " + e.Reason }

func stale(format string, args ...any) error {
	return &staleError{Reason: fmt.Sprintf(format, args...)}
}

// validate checks that the index describes f as it is now: the same file
// (device and inode), the same size, modification time and status change
// time, the same fingerprint. It reads a few sampled blocks of f, never the
// whole file, so it takes about the same time for any size.
func (ix *Index) validate(f *os.File) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if why := ix.stamp.differs(stampOf(fi)); why != "" {
		return stale("%s", why)
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

// Check finds the index of f among paths, as Load does, and checks it
// against every byte of f (mkindex --check): it validates it, indexes f
// again with opts and the index's own spacing, and compares the two. It
// returns the index and its path, or why there is none that holds.
func Check(ctx context.Context, f *os.File, paths []string, opts BuildOptions) (*Index, string, error) {
	ix, path, err := open(f, paths)
	if err != nil {
		return nil, "", err
	}
	if err := ix.verify(ctx, f, opts); err != nil {
		ix.Close()
		return nil, "", fmt.Errorf("%s: %w", path, err)
	}
	return ix, path, nil
}

// verify checks the index against every byte of f: it validates it, then
// indexes f again and compares the two, content checksum included.
func (ix *Index) verify(ctx context.Context, f *os.File, opts BuildOptions) error {
	if err := ix.validate(f); err != nil {
		return err
	}
	opts.Spacing = ix.spacing
	fresh, err := build(ctx, f, opts)
	if err != nil {
		return err
	}
	cps := make([]byte, ix.bodyLen())
	if err := ix.copyBody(cps); err != nil {
		return err
	}
	switch {
	case fresh.content() != ix.content():
		return stale("file content differs (checksum)")
	case fresh.lines != ix.lines || !bytes.Equal(fresh.cps, cps):
		return stale("checkpoints differ from the file's lines")
	}
	return nil
}
