package lineindex

import (
	"runtime/debug"
	"unsafe"
)

// guardFaults runs read, which reads the memory mapping mem, and returns its
// error, or failed if a page of mem could not be read. Touching a page that
// lies wholly past the end of the mapped file, as it is once someone has
// truncated it, raises SIGBUS, which would end the process; with the
// goroutine's panic-on-fault setting on it becomes a panic, recovered here.
// A fault outside mem is a bug, not the file, and panics on.
func guardFaults(mem []byte, failed error, read func() error) (err error) {
	defer func() {
		if e := recover(); e != nil {
			if !inside(e, mem) {
				panic(e)
			}
			err = failed
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	return read()
}

// inside reports whether the panic value e is a memory fault in mem.
func inside(e any, mem []byte) bool {
	fault, ok := e.(interface{ Addr() uintptr })
	if !ok {
		return false
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	return start <= fault.Addr() && fault.Addr()-start < uintptr(len(mem))
}
