package s3src

import (
	"hash/fnv"
	"strings"
	"testing"
	"time"
)

func TestParseShardAndOwns(t *testing.T) {
	for _, bad := range []string{"1", "1/0", "3/3", "-1/2", "a/b", "1/2/3"} {
		if _, err := ParseShard(bad); err == nil || !strings.HasPrefix(err.Error(), "shard:") {
			t.Errorf("ParseShard(%q) = %v, want a shard error", bad, err)
		}
	}
	shards := make([]Shard, 3)
	for i := range shards {
		var err error
		if shards[i], err = ParseShard([]string{"0/3", "1/3", " 2 / 3 "}[i]); err != nil {
			t.Fatal(err)
		}
	}
	counts := make([]int, 3)
	for m := range 3000 {
		key := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(m)*time.Minute).Format("2006/01/02/15/04/") + "x.json.log.gz"
		owners := 0
		for i, s := range shards {
			if s.Owns(key) {
				owners++
				counts[i]++
			}
		}
		if owners != 1 {
			t.Fatalf("%s owned by %d shards", key, owners)
		}
	}
	for i, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("shard %d/3 owns %d of 3000 keys: badly spread", i, n)
		}
	}
	// Stable: FNV-1a 64 of the key, mod n.
	for _, key := range []string{"a", "2026/11/01/05/17/5f1c.json.log.gz"} {
		h := fnv.New64a()
		h.Write([]byte(key))
		for n := 1; n <= 7; n++ {
			if !(Shard{int(h.Sum64() % uint64(n)), n}).Owns(key) {
				t.Errorf("%q: Owns is not FNV-1a 64 mod %d", key, n)
			}
		}
	}
}

func TestObjectKeys(t *testing.T) {
	for key, want := range map[string]bool{
		"2026/11/01/05/17/5f1c.json.log.gz": true, "x/2026/11/01/a.json.gz": true, "a.json": true, "a.jsonl": true,
		"a.ndjson.gz": true, "A.JSON": true, "2026/11/01/": false, "readme.txt": false, "a.log": false, "a.gz": false,
	} {
		if isObjectKey(key) != want {
			t.Errorf("isObjectKey(%q) = %v", key, !want)
		}
	}
}

func TestLookback(t *testing.T) {
	b := &s3Backend{prefix: "gh/"}
	if got := b.lookback("gh/2026/11/01/00/10/abc.json.log.gz", time.Hour); got != "gh/2026/10/31/23/10/" {
		t.Errorf("lookback = %q", got)
	}
	if got := b.lookback("gh/other/abc.json", time.Hour); got != "gh/other/abc.json" {
		t.Errorf("lookback of a non-GitHub key = %q", got)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{Bucket: "b", Prefix: "/audit", Mode: "backfill", Since: "2026-11-01", Until: "2026-11-03"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.SourceName() != "s3:b/audit/" || c.Concurrency != 4 || c.PollInterval != 30*time.Second || c.MaxLineBytes != 1<<20 {
		t.Errorf("defaults: %+v", c)
	}
	for _, tc := range []struct {
		c     Config
		field string
	}{
		{Config{}, "s3-bucket: required with --source s3"},
		{Config{Bucket: "a/b"}, "s3-bucket"},
		{Config{Bucket: "b", Endpoint: "localhost:9000"}, "s3-endpoint"},
		{Config{Bucket: "b", Mode: "tail"}, "s3-mode"},
		{Config{Bucket: "b", Mode: "backfill", Since: "yesterday"}, "since"},
		{Config{Bucket: "b", Mode: "backfill", Until: "2026-11-01"}, "until: needs --since"},
		{Config{Bucket: "b", Mode: "backfill", Since: "2026-11-02", Until: "2026-11-01"}, "until"},
		{Config{Bucket: "b", Until: "2026-11-01"}, "until: only with --s3-mode backfill"},
		{Config{Bucket: "b", Concurrency: 65}, "s3-concurrency"},
		{Config{Bucket: "b", Shard: "2/2"}, "shard"},
	} {
		if err := tc.c.Validate(); err == nil || !strings.HasPrefix(err.Error(), tc.field) {
			t.Errorf("%+v: %v, want an error starting %q", tc.c, err, tc.field)
		}
	}
	if err := (&FileConfig{}).Validate(); err == nil || !strings.HasPrefix(err.Error(), "files: required") {
		t.Errorf("FileConfig{}: %v", err)
	}
}
