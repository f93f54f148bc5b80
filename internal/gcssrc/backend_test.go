package gcssrc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/testenv"
)

// TestBackendOnFakeGCS: the listing on a real GCS protocol server: only
// audit keys, in key order, page by page (a page of 2 here), after
// startAfter (GCS's StartOffset is inclusive: the key itself is not listed
// again), within day prefixes; Open reports the generation and size of
// what it reads, and a deleted object is ErrVanished.
func TestBackendOnFakeGCS(t *testing.T) {
	g := testenv.NewGCSBucket(t, "audit-stream")
	for _, kv := range g.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	keys := []string{
		"audit/2026/11/02/23/59/a.json.log.gz", "audit/2026/11/03/00/00/b.json.log.gz", "audit/2026/11/03/00/01/c.json.gz",
		"audit/2026/11/03/12/00/d.json", "audit/2026/11/04/00/00/e.json.log.gz",
	}
	gens := map[string]string{}
	for i, k := range append(slices.Clone(keys), "audit/README.txt", "other/2026/11/03/00/00/x.json.log.gz") {
		gen, err := g.Put(ctx, k, []byte(strings.Repeat("x", i+1)))
		if err != nil {
			t.Fatal(err)
		}
		gens[k] = gen
	}
	c := Defaults()
	c.Bucket, c.Endpoint, c.Anonymous, c.Prefix = g.Name, g.Endpoint, true, "audit"
	client, err := NewClient(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	be := newBackend(client, c, nil, slog.Default())
	be.page = 2

	list := func(be *backend, startAfter string) []string {
		t.Helper()
		var got []string
		err := be.Pages(ctx, startAfter, func(objs []objsrc.Object) error {
			if len(objs) > 2 {
				t.Errorf("a page of %d objects, want at most 2", len(objs))
			}
			for _, o := range objs {
				if o.ETag != gens[o.Key] || o.Size <= 0 {
					t.Errorf("listed %+v, want generation %s and a size", o, gens[o.Key])
				}
				got = append(got, o.Key)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := list(be, ""); !slices.Equal(got, keys) {
		t.Errorf("listing: %q\nwant %q", got, keys)
	}
	if got := list(be, keys[1]); !slices.Equal(got, keys[2:]) {
		t.Errorf("listing after %s: %q", keys[1], got)
	}
	days := *be
	days.days = []string{"audit/2026/11/03/"}
	if got := list(&days, ""); !slices.Equal(got, keys[1:4]) {
		t.Errorf("listing 2026/11/03: %q", got)
	}

	r, o, err := be.Open(ctx, objsrc.Object{Key: keys[2]})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(body) != "xxx" || o.ETag != gens[keys[2]] || o.Size != 3 {
		t.Errorf("Open: %q, %+v, %v; want xxx, generation %s, size 3", body, o, err, gens[keys[2]])
	}
	// A name with bytes a URL path reserves is read, not another object.
	odd := "audit/2026/11/03/12/00/a+b c%20d?e#f&g=h.json"
	oddGen, err := g.Put(ctx, odd, []byte("odd"))
	if err != nil {
		t.Fatal(err)
	}
	r, o, err = be.Open(ctx, objsrc.Object{Key: odd})
	if err != nil {
		t.Fatal(err)
	}
	body, err = io.ReadAll(r)
	r.Close()
	if err != nil || string(body) != "odd" || o.ETag != oddGen {
		t.Errorf("Open %q: %q, %+v, %v; want odd, generation %s", odd, body, o, err, oddGen)
	}
	if err := g.Delete(ctx, keys[2]); err != nil {
		t.Fatal(err)
	}
	if _, _, err := be.Open(ctx, objsrc.Object{Key: keys[2]}); !errors.Is(err, objsrc.ErrVanished) {
		t.Errorf("Open of a deleted object: %v, want ErrVanished", err)
	}
}
