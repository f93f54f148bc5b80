package objsrc

import (
	"hash/fnv"
	"slices"
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
		if IsAuditKey(key) != want {
			t.Errorf("IsAuditKey(%q) = %v", key, !want)
		}
	}
}

func TestMinuteLookback(t *testing.T) {
	if got := MinuteLookback("gh/", "gh/2026/11/01/00/10/abc.json.log.gz", time.Hour); got != "gh/2026/10/31/23/10/" {
		t.Errorf("lookback = %q", got)
	}
	if got := MinuteLookback("gh/", "gh/other/abc.json", time.Hour); got != "gh/other/abc.json" {
		t.Errorf("lookback of a non-GitHub key = %q", got)
	}
}

func TestDays(t *testing.T) {
	now := time.Date(2026, 12, 1, 15, 0, 0, 0, time.UTC)
	d, ok, err := ParseDays("2026-02-27", "2026-03-02", now)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	want := []string{"p/2026/02/27/", "p/2026/02/28/", "p/2026/03/01/", "p/2026/03/02/"}
	if got := d.Prefixes("p/"); !slices.Equal(got, want) {
		t.Fatalf("got %q", got)
	}
	if d, _, _ := ParseDays("2026-11-30", "", now); d.Until != time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) {
		t.Errorf("until defaults to today: %v", d.Until)
	}
	if _, ok, err := ParseDays("", "", now); ok || err != nil {
		t.Errorf("no range: %v %v", ok, err)
	}
	for _, bad := range []struct{ since, until, field string }{
		{"yesterday", "", "since"}, {"", "2026-11-01", "until: needs --since"}, {"2026-11-02", "2026-11-01", "until"},
		{"1990-01-01", "2026-01-01", "since"},
	} {
		if _, _, err := ParseDays(bad.since, bad.until, now); err == nil || !strings.HasPrefix(err.Error(), bad.field) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	if _, _, err := ParseDays("", "2026-11-02", now); err == nil || !strings.HasPrefix(err.Error(), "until: needs --since") {
		t.Errorf("until without since: %v", err)
	}
}
