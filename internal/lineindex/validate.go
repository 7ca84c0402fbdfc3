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
// whole file, so it takes about the same time for any size. If only the
// status change time moved (see stamp.statusOnly), the fingerprint decides:
// if it matches, ix takes the new time, and validate says so (restamped).
// What the fingerprint does not sample is not seen: a rewrite that keeps
// the size, changes only bytes between the samples and puts the
// modification time back (rsync --inplace --times can) passes for a chmod.
func (ix *Index) validate(f *os.File) (restamped bool, err error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	now := stampOf(fi)
	why := ix.stamp.differs(now)
	if why != "" && !ix.stamp.statusOnly(now) {
		return false, stale("%s", why)
	}
	fp, err := fingerprint(f, ix.size)
	if err != nil {
		return false, err
	}
	switch {
	case fp != ix.fingerprint && why != "":
		return false, stale("%s, and its content differs (fingerprint)", why)
	case fp != ix.fingerprint:
		return false, stale("file content differs (fingerprint)")
	case why != "":
		ix.changeTime = now.changeTime
		return true, nil
	}
	return false, nil
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
	if _, err := ix.validate(f); err != nil {
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
