package ingestd

import (
	"errors"
	"strings"
	"testing"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/seatline/seatline/internal/ingest"
)

func TestMemoryLimitValues(t *testing.T) {
	for _, tc := range []struct {
		v    string
		want int64
		err  string
	}{
		{"auto", 0, ""},
		{"off", 0, ""},
		{"400MiB", 400 << 20, ""},
		{"2GiB", 2 << 30, ""},
		{"1TiB", 1 << 40, ""},
		{"67108864", 64 << 20, ""},
		{"67108864B", 64 << 20, ""},
		{"40000KiB", 40000 << 10, ""},
		{"16MiB", 0, "below 32MiB"},
		{"0", 0, "below 32MiB"},
		{"400MB", 0, "not auto, off or a size"},
		{"-1GiB", 0, "not auto, off or a size"},
		{"", 0, "not auto, off or a size"},
		{"lots", 0, "not auto, off or a size"},
		{"99999999999TiB", 0, "not auto, off or a size"},
	} {
		got, err := parseMemoryLimit(tc.v)
		switch {
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%q: got %d, %v; want %d", tc.v, got, err, tc.want)
		case tc.err != "" && (err == nil || !strings.HasPrefix(err.Error(), "memory-limit: ") || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%q: got %d, %v; want an error naming memory-limit, saying %q", tc.v, got, err, tc.err)
		}
	}
}

func TestMemoryLimitAutoTakesGOMEMLIMITThenTheCgroup(t *testing.T) {
	const bound = 203 << 20
	cgroup := func(limit uint64, err error) memlimit.Provider {
		return func() (uint64, error) { return limit, err }
	}
	for _, tc := range []struct {
		name, flag, env string
		cgroup          memlimit.Provider
		want            int64
		source          string
	}{
		{"a cgroup limit", "auto", "", cgroup(512<<20, nil), 512 << 20 * 9 / 10, "90% of the cgroup memory limit (512 MiB)"},
		{"no cgroup limit", "auto", "", cgroup(0, memlimit.ErrNoLimit), bound, "twice what the batches can hold (no GOMEMLIMIT, no cgroup memory limit)"},
		{"no cgroup", "auto", "", cgroup(0, errors.New("no cgroup mount")), bound, "twice what the batches can hold (no GOMEMLIMIT, cgroup memory limit unknown: no cgroup mount)"},
		{"GOMEMLIMIT wins over the cgroup", "auto", "300MiB", cgroup(512<<20, nil), -1, "GOMEMLIMIT"},
		{"the flag wins over both", "200MiB", "300MiB", cgroup(512<<20, nil), 200 << 20, "--memory-limit"},
		{"off wins over both", "off", "300MiB", cgroup(512<<20, nil), 0, "off"},
	} {
		got, err := resolveMemoryLimit(tc.flag, tc.env, tc.cgroup, bound)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		// GOMEMLIMIT was applied by the runtime at start: auto keeps
		// whatever limit the process has.
		if tc.want == -1 {
			if got.bytes <= 0 {
				t.Errorf("%s: %d bytes, want the runtime's limit", tc.name, got.bytes)
			}
		} else if got.bytes != tc.want {
			t.Errorf("%s: %d bytes, want %d", tc.name, got.bytes, tc.want)
		}
		if got.source != tc.source {
			t.Errorf("%s: from %q, want %q", tc.name, got.source, tc.source)
		}
	}
}

// auto's last resort grows with the batch bounds, so a worker configured
// for bigger batches is not squeezed below what they hold.
func TestBatchesBound(t *testing.T) {
	d := ingest.Defaults()
	if got, want := batchesBound(d), int64(2*3*(10000<<10+2*(8<<20))+48<<20); got != want {
		t.Fatalf("defaults: %d, want %d", got, want)
	}
	big := d
	big.BatchRows, big.BatchBytes = 100000, 64<<20
	if got := batchesBound(big); got < 3*(100000<<10+64<<20) {
		t.Fatalf("--batch-rows 100000 --batch-bytes 64MiB: %d MiB, less than three such batches hold", got>>20)
	}
}
