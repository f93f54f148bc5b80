package s3src_test

import (
	"errors"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatline/seatline/internal/cli"
	"github.com/seatline/seatline/internal/objsrc"
	"github.com/seatline/seatline/internal/objsrc/objsrctest"
	"github.com/seatline/seatline/internal/s3src"
)

// recorder counts the ListObjectsV2 requests and their prefixes.
type recorder struct {
	mu       sync.Mutex
	prefixes []string
	gets     int
	next     http.RoundTripper
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.Query()
	r.mu.Lock()
	if req.Method == http.MethodGet && q.Get("list-type") == "2" {
		r.prefixes = append(r.prefixes, q.Get("prefix"))
	} else if req.Method == http.MethodGet {
		r.gets++
	}
	r.mu.Unlock()
	return r.next.RoundTrip(req)
}

// TestBackfillListsOnlyTheDateRange: --since/--until become day prefixes,
// and no other day of the bucket is ever listed or read.
func TestBackfillListsOnlyTheDateRange(t *testing.T) {
	b := newBed(t)
	b.WithKeys(t)
	all := objsrctest.NewExpect()
	want := objsrctest.NewExpect()
	var inRange []objsrctest.Object
	for day := 1; day <= 5; day++ {
		e := all
		if day == 2 || day == 3 {
			e = want
		}
		objs := objsrctest.GenObjects("github/", 3, 200, int64(day), time.Date(2026, 10, day, 12, 0, 0, 0, time.UTC), 0.3, e)
		if day == 2 || day == 3 {
			inRange = append(inRange, objs...)
		}
		b.Upload(t, objs)
	}
	// Other things in the bucket: another prefix, a folder marker, a non-log file.
	b.Upload(t, []objsrctest.Object{
		{Key: "other/2026/10/02/12/00/x.json.log.gz", Body: objsrctest.GzipLines(nil)},
		{Key: "github/2026/10/02/", Body: nil},
		{Key: "github/2026/10/02/12/00/readme.txt", Body: []byte("not a log")},
	})

	rec := &recorder{next: &http.Transport{Proxy: nil}}
	// --s3-prefix without the slash: treated as a directory
	cfg := b.Config(t, "--s3-prefix", "github", "--since", "2026-10-02", "--until", "2026-10-03")
	cfg.Sources.Config("s3").(*s3src.Config).HTTPClient = &http.Client{Transport: rec}
	logs, err := b.Run(t, cfg, 2*time.Minute)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, logs)
	}
	got := slices.Compact(slices.Sorted(slices.Values(rec.prefixes)))
	if !slices.Equal(got, []string{"github/2026/10/02/", "github/2026/10/03/"}) {
		t.Fatalf("listed prefixes %q, want only the two days'", got)
	}
	// One listing to count (progress) and one to read, per day.
	if len(rec.prefixes) != 4 {
		t.Errorf("%d ListObjectsV2 calls %q, want 4", len(rec.prefixes), rec.prefixes)
	}
	if rec.gets != len(inRange) {
		t.Errorf("%d GetObject calls, want %d (the objects of those days)", rec.gets, len(inRange))
	}
	b.CheckExact(t, want)
	cps := b.Checkpoints(t, b.Source("github/"))
	var keys []string
	for k := range cps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var wantKeys []string
	for _, o := range inRange {
		wantKeys = append(wantKeys, o.Key)
	}
	sort.Strings(wantKeys)
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("checkpointed keys %q, want %q", keys, wantKeys)
	}
}

// TestMissingBucket: a bucket the store does not have stops the worker at
// once, naming the flag and the bucket, as a configuration error (exit 2):
// nothing was read.
func TestMissingBucket(t *testing.T) {
	b := newBed(t)
	b.WithKeys(t)
	logs, err := b.Run(t, b.Config(t, "--s3-bucket", "no-such-bucket"), time.Minute)
	var fe *objsrc.FatalError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Error(), `s3-bucket: bucket "no-such-bucket" does not exist`) {
		t.Fatalf("run: %v, want a FatalError naming s3-bucket\n%s", err, logs)
	}
	if code := cli.ExitCode(err); code != cli.ExitConfig {
		t.Errorf("exit code %d, want %d", code, cli.ExitConfig)
	}
}
