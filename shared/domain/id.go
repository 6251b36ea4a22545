package domain

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"sync"
	"time"
)

// NewID returns a new UUID version 7 in canonical lowercase form. Version 7
// ids sort by creation time, which keeps btree indexes compact and makes
// keyset pagination by id follow creation order; within one process they
// sort in the order they were made, even within one millisecond.
func NewID() string {
	return ids.next(time.Now())
}

// ids is the process's generator: its only state is the last timestamp it
// used, so the order of ids made by concurrent requests of one container
// is the order they were made.
var ids idGen

// idGen makes monotonic version 7 UUIDs (RFC 9562 section 6.2, method 3):
// rand_a holds the sub-millisecond fraction of the clock in 1/4096 ms
// steps; an id whose (ms, fraction) does not move past the last one, from
// a fast caller or a clock stepped back, takes the last one plus a step.
type idGen struct {
	mu   sync.Mutex
	ms   uint64
	frac uint16 // 12 bits
}

func (g *idGen) next(t time.Time) string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics itself).
		panic(err)
	}
	ms, frac := uint64(t.UnixMilli()), uint16(int64(t.Nanosecond()%1e6)*4096/1e6)
	g.mu.Lock()
	if ms < g.ms || ms == g.ms && frac <= g.frac {
		ms, frac = g.ms, g.frac+1
		if frac > 0xfff {
			ms, frac = ms+1, 0
		}
	}
	g.ms, g.frac = ms, frac
	g.mu.Unlock()
	b[0] = byte(ms >> 40)
	b[1] = byte(ms >> 32)
	b[2] = byte(ms >> 24)
	b[3] = byte(ms >> 16)
	b[4] = byte(ms >> 8)
	b[5] = byte(ms)
	b[6] = 0x70 | byte(frac>>8) // version 7, then the fraction's high 4 bits
	b[7] = byte(frac)
	b[8] = (b[8] & 0x3f) | 0x80 // RFC 9562 variant
	return formatID(b)
}

func formatID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

var errBadID = errors.New("must be a UUID")

// ParseID checks that s is a UUID in the 8-4-4-4-12 hex form and returns it
// in canonical lowercase. Braces, URNs and other spellings are refused so
// that one id has exactly one spelling everywhere (keys, logs, URIs).
func ParseID(s string) (string, error) {
	if len(s) != 36 {
		return "", errBadID
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return "", errBadID
			}
		default:
			if !isHex(c) {
				return "", errBadID
			}
		}
	}
	return strings.ToLower(s), nil
}

// IsID reports whether s is a canonical UUID.
func IsID(s string) bool {
	_, err := ParseID(s)
	return err == nil
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// IsCanonicalID reports whether s is a UUID in the canonical lowercase
// spelling the server itself writes.
func IsCanonicalID(s string) bool {
	id, err := ParseID(s)
	return err == nil && id == s
}
