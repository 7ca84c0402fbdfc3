package lineindex

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Locations returns where the index of the source file src is kept, in the
// order they are tried: src+".idx" beside it, then a file in the user's cache
// directory (os.UserCacheDir()/lined/) named after src's absolute path. The
// second is left out when there is no cache directory.
func Locations(src string) []string {
	paths := []string{src + ".idx"}
	cache, err := os.UserCacheDir()
	if err != nil {
		return paths
	}
	abs, err := filepath.Abs(src)
	if err != nil {
		return paths
	}
	sum := sha256.Sum256([]byte(abs))
	name := filepath.Base(abs) + "-" + hex.EncodeToString(sum[:8]) + ".idx"
	return append(paths, filepath.Join(cache, "lined", name))
}

// ErrNoIndex reports that none of the places tried holds an index.
var ErrNoIndex = errors.New("no index")

// Open returns the first index among paths that is intact and describes f
// as it is now, and the path it came from. If there is none, the error says
// why the first index found was refused (a *CorruptError, a *StaleError or
// an I/O error), or is ErrNoIndex.
func Open(f *os.File, paths []string) (*Index, string, error) {
	var refused error
	for _, p := range paths {
		ix, err := ReadFile(p)
		if err == nil {
			if err = ix.Validate(f); err == nil {
				return ix, p, nil
			}
			ix.Close()
		}
		if refused == nil && !errors.Is(err, fs.ErrNotExist) {
			refused = fmt.Errorf("%s: %w", p, err)
		}
	}
	if refused == nil {
		refused = ErrNoIndex
	}
	return nil, "", refused
}

// Save writes ix to the first of paths where it can be written, creating
// the cache directory if needed, and returns that path.
func Save(ix *Index, paths []string) (string, error) {
	var errs []error
	for i, p := range paths {
		if i > 0 {
			// Only the fallback directory is ours to create.
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				errs = append(errs, err)
				continue
			}
		}
		err := ix.WriteFile(p)
		if err == nil {
			return p, nil
		}
		errs = append(errs, err)
	}
	return "", errors.Join(errs...)
}

// LoadOptions tune [Load].
type LoadOptions struct {
	Build BuildOptions
	// OnBuild, if set, is called before the source is indexed, with the
	// reason there was no usable index (see Open).
	OnBuild func(reason error)
}

// Loaded is the result of [Load].
type Loaded struct {
	Index *Index // Close it when done
	// Path is the file the index was read from or saved to; empty if it
	// could not be saved anywhere and lives in memory only.
	Path string
	// Built tells whether the source was indexed now, and if so Reason
	// says why and SaveErr why it could not be saved, if it could not.
	Built   bool
	Reason  error
	SaveErr error
}

// Load returns an index for f that is known to describe it: the first valid
// one among paths, or else a new one, built and saved to the first of paths
// that can be written, and read back from there (see [Index.Reopen]).
// Failing to save is not an error: the index built is still returned, with
// SaveErr set.
func Load(ctx context.Context, f *os.File, paths []string, opts LoadOptions) (Loaded, error) {
	ix, path, reason := Open(f, paths)
	if reason == nil {
		return Loaded{Index: ix, Path: path}, nil
	}
	if opts.OnBuild != nil {
		opts.OnBuild(reason)
	}
	ix, err := Build(ctx, f, opts.Build)
	if err != nil {
		return Loaded{}, err
	}
	l := Loaded{Index: ix, Built: true, Reason: reason}
	l.Path, l.SaveErr = Save(ix, paths)
	if l.SaveErr == nil {
		if saved, err := ix.Reopen(l.Path); err == nil {
			l.Index = saved
		}
	}
	return l, nil
}
