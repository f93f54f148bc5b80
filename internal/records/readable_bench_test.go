package records

import (
	"testing"
	"unicode/utf8"

	"github.com/seatline/seatline/internal/auditgen"
)

func BenchmarkUnreadable(b *testing.B) {
	g := auditgen.New(auditgen.Config{Seed: 1})
	recs := make([][]byte, 1024)
	n := 0
	for i := range recs {
		recs[i] = g.Next().Line
		n += len(recs[i])
	}
	b.SetBytes(int64(n / len(recs)))
	b.Run("unreadable", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if unreadable(recs[i%1024]) != nil {
				b.Fatal("unreadable")
			}
		}
	})
	b.Run("utf8.Valid", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			if !utf8.Valid(recs[i%1024]) {
				b.Fatal("invalid")
			}
		}
	})
}
