package zframe

import "testing"

func TestSmoke(t *testing.T) {
	data := textLines(1, 50000)
	z := chunked(data, 100000)
	checkFile(t, "smoke", z, data, 100)
}
