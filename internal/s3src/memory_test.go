package s3src_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/testenv"
)

// TestMemoryBounded: objects are streamed and only a bounded number of
// lines is read ahead. Four objects of 120 MiB of seat events in all
// (every line is delivered, none pre-filtered) are opened, nobody consumes
// for a while, and the heap grows by far less than the objects; then every
// line arrives, in order per object.
func TestMemoryBounded(t *testing.T) {
	srv := testenv.NewS3(t)
	ctx := context.Background()
	if err := srv.CreateBucket(ctx, "big"); err != nil {
		t.Fatal(err)
	}
	const nObjects, perObject = 4, 40000
	var raw int
	func() {
		objs := objsrctest.GenObjects("", nObjects, perObject, 3, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), 1, objsrctest.NewExpect())
		for _, o := range objs {
			for _, l := range o.Lines {
				raw += len(l) + 1
			}
			if _, err := srv.Put(ctx, "big", o.Key, o.Body); err != nil {
				t.Fatal(err)
			}
		}
	}()
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	src := openSource(t, srv, "big")
	defer src.Close()
	first, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the readers fill what they may, then wait
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	grown := int64(held.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("objects: %d MiB of lines; heap grew by %.1f MiB while nobody consumed (%d KiB of the objects read so far)",
		raw>>20, float64(grown)/(1<<20), src.Progress().BytesRead>>10)
	if grown > 40<<20 {
		t.Errorf("heap grew by %d MiB with nobody consuming: read-ahead is not bounded", grown>>20)
	}

	last := map[string]int64{first.Stream: first.Offset}
	n := 1
	for {
		m, err := src.Next(ctx)
		if err != nil {
			break
		}
		if m.Offset != last[m.Stream]+1 {
			t.Fatalf("%s: line %d after %d", m.Stream, m.Offset, last[m.Stream])
		}
		last[m.Stream] = m.Offset
		n++
	}
	if n != nObjects*perObject {
		t.Fatalf("%d messages, want %d", n, nObjects*perObject)
	}
}
