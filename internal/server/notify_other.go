//go:build !linux

package server

import "context"

// notify has no file notifications to use here: the watcher's periodic
// check is all there is.
func (s *Server) notify(context.Context) {}
