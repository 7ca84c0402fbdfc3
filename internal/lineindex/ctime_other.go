//go:build !linux

package lineindex

import "io/fs"

// changeTime returns 0, "unknown", where the status change time is not read;
// Validate then relies on size, modification time and fingerprint.
func changeTime(fs.FileInfo) int64 { return 0 }
