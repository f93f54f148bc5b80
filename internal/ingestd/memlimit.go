package ingestd

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/KimMachineGun/automemlimit/memlimit"

	"github.com/seatline/seatline/internal/ingest"
)

// --memory-limit is a soft limit on the worker's Go memory
// (runtime/debug.SetMemoryLimit, GOMEMLIMIT's setting). Without one the
// collector lets the heap grow to twice what was live at the last
// collection; near the limit it collects more often instead, so a burst
// stays inside a container's memory limit rather than being OOM-killed.
// It is soft: the worker's own bounds (--batch-rows, --batch-bytes) decide
// what is live, and a limit below that costs CPU, never correctness.

const (
	memoryLimitAuto = "auto"
	memoryLimitOff  = "off"
	// cgroupShare of a container's limit is the heap's: the rest is the
	// runtime's own, stacks and what the kernel counts besides.
	cgroupShare = 0.9
	// minMemoryLimit: below this the collector would run without pause.
	minMemoryLimit = 32 << 20
)

// memoryLimitUsage is --memory-limit's help text.
func memoryLimitUsage() string {
	return fmt.Sprintf("soft limit on the worker's Go memory: a size as GOMEMLIMIT takes it (e.g. 400MiB; B, KiB, MiB, GiB, TiB; at least 32MiB), "+
		"auto (GOMEMLIMIT if set, else 90%% of the container's cgroup memory limit, else twice what the batches can hold: %dMiB at the batch defaults) or off",
		batchesBound(ingest.Defaults())>>20)
}

// batchesBound is what auto falls back to: twice what the pipeline's
// batches can hold (Writers in flight and the reader's next; a row's
// struct and strings about 1 KiB, its raw bytes and their decoded copies
// twice its size) plus 48 MiB for the rest (Kafka's fetch and LZ4
// buffers, the identity check, the inserts' blocks). The seat run holds
// about 100 MiB live at the defaults, and this bound 203 MiB: the limit
// keeps a spike from doubling the heap, never squeezes what must be live.
func batchesBound(p ingest.Config) int64 {
	perBatch := int64(p.BatchRows)<<10 + 2*int64(p.BatchBytes)
	return 2*int64(p.Writers+1)*perBatch + 48<<20
}

// memoryLimit is what --memory-limit resolves to: bytes (0: none) and
// where they come from, for the start-up log.
type memoryLimit struct {
	bytes  int64
	source string
}

// parseMemoryLimit checks a --memory-limit value; auto and off are 0.
func parseMemoryLimit(v string) (int64, error) {
	switch v {
	case memoryLimitAuto, memoryLimitOff:
		return 0, nil
	}
	num, mult := v, int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			num, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("memory-limit: %q is not auto, off or a size such as 400MiB (B, KiB, MiB, GiB, TiB)", v)
	}
	if n*mult < minMemoryLimit {
		return 0, fmt.Errorf("memory-limit: %s is below 32MiB; the collector would run without pause (off: no limit)", v)
	}
	return n * mult, nil
}

// resolveMemoryLimit turns a valid --memory-limit into the limit to set.
// goMemLimit is the GOMEMLIMIT environment variable (the runtime applied
// it at start); cgroup reports the container's limit; bound is auto's
// last resort (batchesBound).
func resolveMemoryLimit(v, goMemLimit string, cgroup memlimit.Provider, bound int64) (memoryLimit, error) {
	switch v {
	case memoryLimitOff:
		return memoryLimit{0, "off"}, nil
	case memoryLimitAuto:
		if goMemLimit != "" {
			return memoryLimit{debug.SetMemoryLimit(-1), "GOMEMLIMIT"}, nil
		}
		limit, err := cgroup()
		switch {
		case errors.Is(err, memlimit.ErrNoLimit) || (err == nil && limit == 0):
			return memoryLimit{bound, "twice what the batches can hold (no GOMEMLIMIT, no cgroup memory limit)"}, nil
		case err != nil:
			// Not in a container, or its limit cannot be read.
			return memoryLimit{bound, "twice what the batches can hold (no GOMEMLIMIT, cgroup memory limit unknown: " + err.Error() + ")"}, nil
		}
		return memoryLimit{int64(float64(limit) * cgroupShare), fmt.Sprintf("90%% of the cgroup memory limit (%d MiB)", limit>>20)}, nil
	}
	n, err := parseMemoryLimit(v)
	return memoryLimit{n, "--memory-limit"}, err
}

// applyMemoryLimit sets the worker's limit from --memory-limit.
func applyMemoryLimit(v string, p ingest.Config) (memoryLimit, error) {
	m, err := resolveMemoryLimit(v, os.Getenv("GOMEMLIMIT"), memlimit.FromCgroup, batchesBound(p))
	if err != nil {
		return m, err
	}
	if m.bytes > 0 {
		debug.SetMemoryLimit(m.bytes)
	} else {
		debug.SetMemoryLimit(math.MaxInt64)
	}
	return m, nil
}

// String is the limit for the start-up log.
func (m memoryLimit) String() string {
	if m.bytes <= 0 || m.bytes == math.MaxInt64 {
		return "none"
	}
	return strconv.FormatInt(m.bytes>>20, 10) + "MiB"
}
