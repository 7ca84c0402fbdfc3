package lineindex

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// blockSize is the most text a block of a BlockCache holds. A compressed
// text is cut in blocks from each access point on, every blockSize bytes;
// a point's last block ends at the next point. Any block is thus decoded
// from its point alone.
const blockSize = 64 << 10

// A BlockCache keeps blocks of the text of compressed sources, most
// recently used first, for the Sources that share it (see SourceOptions):
// a read near an earlier one (a neighbouring line, the next range, a line
// before the one last read) copies them from memory instead of
// decompressing again from the access point before it, which may lie
// megabytes back. A read whose block is missing while the next block is
// held seems to go backwards: the blocks it decompresses on the way to its
// own, up to half the cache's worth before it, are kept too, to be found
// by the reads before.
//
// Its memory is one anonymous mapping, outside Go's heap: the garbage
// collector neither scans it nor lets the heap grow in proportion to it,
// so a cache of S bytes costs the process S bytes at most, and only once
// blocks fill them.
//
// A nil *BlockCache keeps nothing.
type BlockCache struct {
	block int    // the size of a block: blockSize but in tests
	mem   []byte // slot i is mem[i*block:][:block]
	mu    sync.Mutex
	slots []slot // and a last one, the head of the list by use
	byKey map[blockKey]int32
	free  []int32 // slots neither held nor being filled
	held  int64   // bytes of text in the slots that hold blocks
}

// blockKey names a block: the text's, from start.
type blockKey struct {
	text  uint64 // compressedText.id
	start int64
}

// slot is a slot's block, and its place in the list of the slots that
// hold blocks, by use: head.next is the most recently used.
type slot struct {
	key        blockKey
	len        int32 // of the block; the slot holds none while being filled
	prev, next int32
}

// NewBlockCache returns a cache of size bytes of text, in whole blocks, or
// nil, which keeps nothing, if size is under one block.
func NewBlockCache(size int64) (*BlockCache, error) { return newBlockCache(size, blockSize) }

func newBlockCache(size int64, block int) (*BlockCache, error) {
	n := size / int64(block)
	if n < 1 {
		return nil, nil
	}
	mem, err := mapAnon(int(n) * block)
	if err != nil {
		return nil, err
	}
	c := &BlockCache{block: block, mem: mem, slots: make([]slot, n+1), byKey: make(map[blockKey]int32, n)}
	head := int32(n)
	c.slots[head].prev, c.slots[head].next = head, head
	for i := int32(n) - 1; i >= 0; i-- {
		c.free = append(c.free, i)
	}
	// The mapping goes when the cache does: no Source reads it then.
	runtime.AddCleanup(c, func(mem []byte) { munmap(mem) }, mem)
	return c, nil
}

// Size is the bytes of text the cache can hold; 0 for nil.
func (c *BlockCache) Size() int64 {
	if c == nil {
		return 0
	}
	return int64(len(c.mem))
}

// Held is the bytes of text the cache holds now.
func (c *BlockCache) Held() int64 {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.held
}

// blockLen is the size of c's blocks.
func (c *BlockCache) blockLen() int64 {
	if c == nil {
		return blockSize
	}
	return int64(c.block)
}

// get copies into p the bytes of block k from its offset off on, and
// returns how many; 0 if the cache does not hold them.
func (c *BlockCache) get(k blockKey, off int, p []byte) int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.byKey[k]
	if !ok || off >= int(c.slots[i].len) {
		return 0
	}
	c.unlink(i)
	c.pushFront(i)
	return copy(p, c.mem[int(i)*c.block+off:int(i)*c.block+int(c.slots[i].len)])
}

// holds tells whether the cache holds block k.
func (c *BlockCache) holds(k blockKey) bool {
	if c == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.byKey[k]
	return ok
}

// reserve returns a slot to fill, and its memory: a free one, or else the
// least recently used, its block dropped. The slot is the caller's until it
// publishes or releases it. -1 if there is none: every slot is being
// filled.
func (c *BlockCache) reserve() (int32, []byte) {
	if c == nil {
		return -1, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var i int32
	head := int32(len(c.slots) - 1)
	switch {
	case len(c.free) > 0:
		i = c.free[len(c.free)-1]
		c.free = c.free[:len(c.free)-1]
	case c.slots[head].prev != head:
		i = c.slots[head].prev
		c.unlink(i)
		delete(c.byKey, c.slots[i].key)
		c.held -= int64(c.slots[i].len)
		c.slots[i].len = 0
	default:
		return -1, nil
	}
	return i, c.mem[int(i)*c.block:][:c.block:c.block]
}

// publish makes slot i, filled with n bytes, block k, the most recently
// used. If another read published k meanwhile, i is freed instead.
func (c *BlockCache) publish(i int32, k blockKey, n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.byKey[k]; ok {
		c.free = append(c.free, i)
		return
	}
	c.slots[i].key, c.slots[i].len = k, int32(n)
	c.byKey[k] = i
	c.held += int64(n)
	c.pushFront(i)
}

// release gives back slot i, reserved and not published; -1 is none.
func (c *BlockCache) release(i int32) {
	if i < 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.free = append(c.free, i)
}

func (c *BlockCache) unlink(i int32) {
	s := &c.slots[i]
	c.slots[s.prev].next, c.slots[s.next].prev = s.next, s.prev
}

func (c *BlockCache) pushFront(i int32) {
	head := int32(len(c.slots) - 1)
	first := c.slots[head].next
	c.slots[i].prev, c.slots[i].next = head, first
	c.slots[first].prev, c.slots[head].next = i, i
}

// DecompressStats count the reads of compressed text by the Sources that
// share them (see SourceOptions).
type DecompressStats struct {
	// Hits and Misses count the blocks reads looked for in a BlockCache,
	// found and not (none without a cache).
	Hits, Misses atomic.Int64
	// Bytes counts the text decompressed: read, or passed on the way from
	// an access point.
	Bytes atomic.Int64
}

// SourceOptions are what the Sources of compressed files may share.
type SourceOptions struct {
	Cache *BlockCache      // nil: none
	Stats *DecompressStats // nil: not counted
}
