//go:build !linux

package lineindex

import "errors"

func renameNoReplace(old, new string) error { return errors.ErrUnsupported }

func exchange(old, new string) error { return errors.ErrUnsupported }
