//go:build !unix

package lineindex

import (
	"errors"
	"os"
)

// mmap is not available here: ReadFile reads the body into memory instead.
func mmap(*os.File, int64, int) ([]byte, error) { return nil, errors.ErrUnsupported }

func munmap([]byte) error { return nil }

// mapAnon allocates n bytes in the heap: there is no mmap here.
func mapAnon(n int) ([]byte, error) { return make([]byte, n), nil }
