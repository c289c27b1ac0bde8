package pgsql

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"math/bits"

	"github.com/zeebo/xxh3"
)

// CopyMethod names the checksum of tables read as COPY text (see the
// package doc): backups compute it from the dump's COPY data as it streams
// past, drills from `COPY … TO STDOUT` on the restored database.
const CopyMethod = "copyxxh3/v1"

// sum128 is an exact signed 128-bit sum of int64 values: enough for 2^63
// rows, so it never wraps.
type sum128 struct {
	hi int64
	lo uint64
}

func (s *sum128) add(v int64) {
	lo, carry := bits.Add64(s.lo, uint64(v), 0)
	s.lo = lo
	s.hi += int64(carry)
	if v < 0 {
		s.hi-- // v sign-extended to 128 bits has all ones in its high half
	}
}

func (s sum128) String() string {
	n := new(big.Int).Lsh(big.NewInt(s.hi), 64)
	return n.Add(n, new(big.Int).SetUint64(s.lo)).String()
}

// errTrailing: a dump's COPY data went on after its end marker.
var errTrailing = errors.New(`data after the end-of-copy line (\.)`)

// copySum computes CopyMethod over COPY text lines written to it in
// pieces of any size: per line (without its newline), XXH3-128 (seed 0);
// its high and low 64 bits, read as signed integers, are summed exactly
// over the table. The sums do not depend on the rows' order. A line split
// across writes is hashed incrementally, so memory stays constant however
// long a row is.
//
// In a dump (dump true), the table's data ends with a line `\.` (pg_dump
// writes it after the rows; COPY's own text escapes every backslash, so no
// row is `\.`) followed by empty lines; `COPY … TO STDOUT` over the
// protocol has no marker.
type copySum struct {
	dump  bool
	rows  int64
	s1    sum128
	s2    sum128
	ended bool // the marker was seen (dump)

	part    *xxh3.Hasher // the unfinished line's hash so far
	partLen int64
	head    [2]byte // its first bytes (to recognise the marker)
}

func (c *copySum) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if c.ended {
			if len(bytes.Trim(p, "\n")) > 0 {
				return 0, errTrailing
			}
			return n, nil
		}
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			c.partial(p)
			return n, nil
		}
		if c.partLen == 0 {
			c.line(p[:i])
		} else {
			c.partial(p[:i])
			c.endPartial()
		}
		p = p[i+1:]
	}
	return n, nil
}

func (c *copySum) line(l []byte) {
	if c.dump && len(l) == 2 && l[0] == '\\' && l[1] == '.' {
		c.ended = true
		return
	}
	c.addSum(xxh3.Hash128(l))
}

func (c *copySum) partial(p []byte) {
	if len(p) == 0 {
		return
	}
	if c.part == nil {
		c.part = xxh3.New()
	}
	for i := 0; i < len(p) && c.partLen+int64(i) < 2; i++ {
		c.head[c.partLen+int64(i)] = p[i]
	}
	c.part.Write(p)
	c.partLen += int64(len(p))
}

func (c *copySum) endPartial() {
	if c.dump && c.partLen == 2 && c.head == [2]byte{'\\', '.'} {
		c.ended = true
	} else {
		c.addSum(c.part.Sum128())
	}
	c.part.Reset()
	c.partLen = 0
}

func (c *copySum) addSum(h xxh3.Uint128) {
	c.rows++
	c.s1.add(int64(h.Hi))
	c.s2.add(int64(h.Lo))
}

// finish checks that the data ended where it should: after a whole line
// and, in a dump, after the marker.
func (c *copySum) finish() error {
	if c.partLen > 0 {
		return errors.New("the COPY data ends inside a line")
	}
	if c.dump && !c.ended {
		return errors.New(`the COPY data has no end-of-copy line (\.)`)
	}
	return nil
}

// checksum is the method, row count and both sums: "copyxxh3/v1:<rows>:<sum1>:<sum2>".
func (c *copySum) checksum() string {
	return fmt.Sprintf("%s:%d:%s:%s", CopyMethod, c.rows, c.s1, c.s2)
}
