package objsrc

import (
	"fmt"
	"strconv"
	"strings"
)

// Shard is one worker's share of the keys.
type Shard struct{ Index, Count int }

// ParseShard reads "i/n" (0 ≤ i < n); "" is 0/1 (every key).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{0, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return Shard{}, fmt.Errorf("shard: must be i/n with 0 ≤ i < n (e.g. 0/3), got %q", s)
	}
	return Shard{i, n}, nil
}

// Owns reports whether key belongs to this shard: FNV-1a 64 of the key
// modulo Count. Stable across processes and versions, so n workers with
// shards 0/n … n-1/n read every key exactly once.
func (s Shard) Owns(key string) bool {
	if s.Count <= 1 {
		return true
	}
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime64
	}
	return h%uint64(s.Count) == uint64(s.Index)
}

func (s Shard) String() string { return strconv.Itoa(s.Index) + "/" + strconv.Itoa(s.Count) }
